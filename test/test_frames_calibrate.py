"""Frame readers (bags, 16-bit images, .npy, FLIR) and `thermal-perception calibrate nuc`
and `calibrate drift`."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import FLIR_DATA, REPO

from thermal_perception.io.frames import read_frames
from thermal_perception.sim.record import SimulationOptions, simulate_to_bag


def test_npy_png_and_errors(tmp_path):
    stack = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    np.save(tmp_path / "stack.npy", stack)
    got = [f.counts for f in read_frames(tmp_path / "stack.npy")]
    assert len(got) == 3 and np.array_equal(got[2], stack[2])
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, frame in enumerate(stack):
        cv2.imwrite(str(folder / f"f{i:03d}.png"), frame)
    assert np.array_equal(next(read_frames(folder)).counts, stack[0])
    assert len(list(read_frames(folder, limit=2))) == 2
    np.save(tmp_path / "float.npy", stack.astype(np.float32))
    with pytest.raises(ValueError, match="16-bit"):
        list(read_frames(tmp_path / "float.npy"))
    with pytest.raises(FileNotFoundError):
        list(read_frames(tmp_path / "nothing"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="unknown frame format"):
        list(read_frames(tmp_path / "notes.txt"))


def test_bag_frames_carry_stamps_and_fpa(tmp_path):
    out = tmp_path / "bag"
    simulate_to_bag(SimulationOptions(out=out, frames=4, width=32, height=24, truth=True),
                    progress=False)
    frames = list(read_frames(out))  # the raw topic is found among the truth images
    assert len(frames) == 4 and frames[0].counts.shape == (24, 32)
    assert all(np.isfinite(f.fpa_temperature_c) for f in frames)
    assert frames[1].stamp_ns > frames[0].stamp_ns
    with pytest.raises(ValueError, match="no sensor_msgs/Image topic"):
        list(read_frames(out, topic="/nope"))


@pytest.mark.skipif(not (FLIR_DATA / "test.seq").exists(),
                    reason=f"real FLIR data not present at {FLIR_DATA}")
def test_flir_seq_frames():
    frames = list(read_frames(FLIR_DATA / "test.seq"))
    assert len(frames) == 7 and frames[0].counts.shape == (512, 640)


def test_calibrate_nuc_command_reaches_netd(tmp_path):
    """Simulated raw blackbody sequences at 10 and 60 C calibrate a table whose residual
    fixed-pattern noise at 35 C is below the camera's NETD."""
    for name, t_c in (("low", 10.0), ("high", 60.0), ("check", 35.0)):
        simulate_to_bag(SimulationOptions(
            out=tmp_path / name, frames=24, width=96, height=80, scene="blackbody",
            blackbody_temperature_c=t_c, defects=True, speed_mps=0.0, altitude_m=0.5,
            truth=False, seed=5), progress=False)
    result = subprocess.run(
        [sys.executable, "-m", "thermal_perception", "calibrate", "nuc", "--low",
         str(tmp_path / "low"), "--low-temperature", "10", "--high", str(tmp_path / "high"),
         "--high-temperature", "60", "--check", str(tmp_path / "check"),
         "--check-temperature", "35", "--out", str(tmp_path / "nuc")],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    residual_mk = float(result.stdout.split("residual fixed-pattern noise ")[1].split()[0])
    assert residual_mk < 40.0, result.stdout
    assert (tmp_path / "nuc.npz").exists() and (tmp_path / "nuc.yaml").exists()
    swapped = subprocess.run(
        [sys.executable, "-m", "thermal_perception", "calibrate", "nuc", "--low",
         str(tmp_path / "low"), "--low-temperature", "60", "--high", str(tmp_path / "high"),
         "--high-temperature", "10"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert swapped.returncode == 1 and "warmer" in swapped.stderr


def _blackbody(path, temperature_c: float, air_c: float) -> None:
    """24 raw 96x80 frames of a blackbody filling the view, FPA at the air temperature (the
    simulated camera has just been switched on), fixed pattern and drift of seed 5."""
    simulate_to_bag(SimulationOptions(
        out=path, frames=24, width=96, height=80, scene="blackbody",
        blackbody_temperature_c=temperature_c, defects=True, speed_mps=0.0, altitude_m=0.5,
        truth=False, seed=5, air_temperature_c=air_c), progress=False)


def test_calibrate_drift_holds_the_reading_at_another_fpa_temperature(tmp_path, capsys):
    """A table calibrated at FPA 15 C reads a 35 C blackbody wrong when the FPA is at 5, 20
    or 30 C (the simulated offsets drift with it, per pixel); its drift map fitted from the
    5 and 30 C recordings brings the held-out 20 C recording to 35 C within 0.05 K and its
    fixed-pattern noise below the NETD (50 mK)."""
    from thermal_perception.calibrate import DriftCalibrationInputs, calibrate_drift
    from thermal_perception.cli import main

    for name, t_c, air_c in (("low", 10.0, 15.0), ("high", 60.0, 15.0), ("cool", 35.0, 5.0),
                             ("warm", 35.0, 30.0), ("mid", 35.0, 20.0)):
        _blackbody(tmp_path / name, t_c, air_c)
    assert main(["calibrate", "nuc", "--low", str(tmp_path / "low"), "--low-temperature", "10",
                 "--high", str(tmp_path / "high"), "--high-temperature", "60",
                 "--out", str(tmp_path / "nuc")]) == 0
    assert main(["calibrate", "drift", "--table", str(tmp_path / "nuc"), "--first",
                 str(tmp_path / "cool"), "--second", str(tmp_path / "warm"), "--check",
                 str(tmp_path / "mid"), "--out", str(tmp_path / "drift")]) == 0
    out = capsys.readouterr().out
    assert "check  FPA  20.0" in out and (tmp_path / "drift.npz").exists()
    report = calibrate_drift(DriftCalibrationInputs(
        table=tmp_path / "nuc", first=tmp_path / "cool", second=tmp_path / "warm",
        check=tmp_path / "mid", out=tmp_path / "again"))
    check = report["readings"]["check"]
    assert abs(check["fpa_temperature_c"] - 20.0) < 0.1
    assert abs(check["mean_c_before"] - 35.0) > 0.5  # the drift this corrects
    assert abs(check["mean_c_after"] - 35.0) < 0.05
    assert check["fpn_k_before"] > 0.05 > check["fpn_k_after"]
    for name in ("first", "second"):  # the fitted pair itself: both read the same
        assert abs(report["readings"][name]["mean_c_after"] - 35.0) < 0.05


def test_calibrate_drift_refuses_what_it_cannot_fit(tmp_path):
    """Frames without an FPA temperature (a .npy stack), or two recordings at the same FPA
    temperature: a clear error, no table written."""
    from thermal_perception.calibrate import DriftCalibrationInputs, calibrate_drift
    from thermal_perception.core.correction.nuc import NucTable

    NucTable.identity((80, 96)).save(tmp_path / "nuc")
    np.save(tmp_path / "stack.npy", np.full((3, 80, 96), 3000, np.uint16))
    _blackbody(tmp_path / "a", 35.0, 15.0)
    _blackbody(tmp_path / "b", 30.0, 15.0)
    with pytest.raises(ValueError, match="no FPA temperature"):
        calibrate_drift(DriftCalibrationInputs(table=tmp_path / "nuc", first=tmp_path / "a",
                                               second=tmp_path / "stack.npy",
                                               out=tmp_path / "out"))
    with pytest.raises(ValueError, match="closer than"):
        calibrate_drift(DriftCalibrationInputs(table=tmp_path / "nuc", first=tmp_path / "a",
                                               second=tmp_path / "b", out=tmp_path / "out"))
    assert not (tmp_path / "out.npz").exists()


def test_emissivity_map_files(tmp_path):
    from thermal_perception.io.frames import load_emissivity_map

    eps = np.full((4, 5), 0.95, np.float32)
    np.save(tmp_path / "eps.npy", eps)
    assert np.allclose(load_emissivity_map(tmp_path / "eps.npy"), 0.95)
    cv2.imwrite(str(tmp_path / "eps.png"), np.full((4, 5), 65535 // 2, np.uint16))
    assert np.allclose(load_emissivity_map(tmp_path / "eps.png"), 0.5, atol=1e-4)
    np.save(tmp_path / "bad.npy", eps * 2)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        load_emissivity_map(tmp_path / "bad.npy")
    with pytest.raises(ValueError, match="does not exist"):
        load_emissivity_map(tmp_path / "none.npy")


def test_emissivity_map_that_is_not_a_regular_file(tmp_path):
    """Issue 19 item 6: a device or a folder is refused as such, not as missing."""
    from thermal_perception.io.frames import load_emissivity_map

    with pytest.raises(ValueError, match="not a regular file"):
        load_emissivity_map("/dev/zero")
    with pytest.raises(ValueError, match="not a regular file"):
        load_emissivity_map(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_emissivity_map(tmp_path / "absent.npy")
