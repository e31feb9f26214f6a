"""Non-uniformity correction against the simulated microbolometer (defects on)."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.constants import zero_Celsius

from thermal_perception.core.correction.badpixels import BadPixelReplacer
from thermal_perception.core.correction.nuc import (
    FfcScheduler,
    NucTable,
    SceneBasedNuc,
    drift_from_two_fpa_temperatures,
    ffc_offset_update,
    two_point_nuc,
)
from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.calibration import (
    NETD_REFERENCE_K,
    CountsToTemperature,
    LinearCalibration,
)
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.core.physics.sensor import MicrobolometerModel
from thermal_perception.sim.simulator import ThermalSimulator

FRAMES = 64                     # frames per blackbody stack
COLD_C, WARM_C = 10.0, 60.0     # two-point blackbodies, deg C
RATE_HZ = 30.0


@pytest.fixture(scope="module")
def camera():
    profile = get_profile("boson640").with_size(96, 80)
    table = BandRadianceTable(profile.band_m)
    cal = LinearCalibration.from_profile(profile, table)
    return profile, table, cal, CountsToTemperature(cal, table)


def ideal_counts(cal, table, t_c):
    return float(cal.counts_from_radiance(table.radiance(t_c + zero_Celsius)))


def blackbody(sensor, table, t_c, fpa_c, n=FRAMES):
    """(n, H, W) raw frames of a uniform blackbody (detector settled on it)."""
    radiance = np.full(sensor.defects.gain.shape, float(table.radiance(t_c + zero_Celsius)),
                       np.float32)
    sensor.reset()
    return np.stack([sensor.expose(radiance, 1 / RATE_HZ, fpa_c).copy() for _ in range(n)])


def mean_temperature(table_nuc, frames, convert, fpa_c):
    """Temporal mean of the corrected temperature images, deg C (H, W)."""
    return np.mean([convert(table_nuc.apply(f, fpa_c)) for f in frames], axis=0)


def calibrated(camera, seed=11):
    profile, table, cal, _ = camera
    sensor = MicrobolometerModel(profile, cal, table, seed=seed, defects=True)
    ref = profile.fpa_reference_c
    cold, warm = blackbody(sensor, table, COLD_C, ref), blackbody(sensor, table, WARM_C, ref)
    nuc = two_point_nuc(cold, warm, ideal_counts(cal, table, COLD_C),
                        ideal_counts(cal, table, WARM_C), fpa_c=ref,
                        full_scale_counts=cal.full_scale_counts, camera=profile.name,
                        blackbody_temperatures_c=(COLD_C, WARM_C))
    return sensor, nuc


@pytest.mark.parametrize("third_c", [35.0, -10.0, 90.0], ids=["between", "below", "above"])
def test_two_point_residual_fpn_is_below_netd(camera, third_c):
    """Acceptance: residual FPN after two-point NUC <= the simulated NETD."""
    profile, table, _, convert = camera
    sensor, nuc = calibrated(camera)
    ref = profile.fpa_reference_c
    frames = blackbody(sensor, table, third_c, ref)
    good = ~nuc.bad_pixels
    corrected = mean_temperature(nuc, frames, convert, ref)[good]
    raw = np.mean([convert(f) for f in frames], axis=0)[good]
    residual_k, raw_k = float(corrected.std()), float(np.nanstd(raw))
    bias_k = float(corrected.mean()) - third_c
    message = (f"blackbody {third_c} C: residual FPN {residual_k * 1e3:.1f} mK (raw "
               f"{raw_k:.2f} K), mean error {bias_k * 1e3:+.1f} mK, NETD "
               f"{profile.netd_k * 1e3:.0f} mK")
    print(message)
    assert residual_k <= profile.netd_k, message
    assert raw_k > 20 * profile.netd_k, message  # the uncorrected pattern was there
    assert abs(bias_k) < 0.01, message
    assert np.array_equal(nuc.bad_pixels, nuc.bad_pixels | sensor.defects.bad)
    assert nuc.metadata["blackbody_temperatures_c"] == [COLD_C, WARM_C]


def test_ffc_restores_absolute_temperature_after_an_fpa_change(camera):
    profile, table, cal, convert = camera
    sensor, nuc = calibrated(camera)
    good = ~nuc.bad_pixels
    fpa = profile.fpa_reference_c + 5.0        # the core warmed by 5 K, no drift model
    scene = blackbody(sensor, table, 50.0, fpa)
    before = float(mean_temperature(nuc, scene, convert, fpa)[good].mean()) - 50.0
    shutter_c = 25.0
    ffc = ffc_offset_update(nuc, blackbody(sensor, table, shutter_c, fpa, n=16),
                            ideal_counts(cal, table, shutter_c), fpa)
    after_map = mean_temperature(ffc, scene, convert, fpa)[good]
    after = float(after_map.mean()) - 50.0
    message = (f"FPA +5 K: error {before:+.3f} K before FFC, {after * 1e3:+.1f} mK after "
               f"(residual FPN {after_map.std() * 1e3:.1f} mK)")
    print(message)
    assert abs(before) > 0.5, message
    assert abs(after) < 0.1, message
    assert after_map.std() <= profile.netd_k, message
    assert ffc.fpa_reference_c == fpa and np.array_equal(ffc.gain, nuc.gain)
    assert ffc.metadata["last_ffc"]["fpa_temperature_c"] == fpa


def test_drift_compensation_between_ffcs(camera):
    """Per-pixel drift from two FPA temperatures keeps a 50 C blackbody right when the FPA
    moves by 3 K after the last FFC."""
    profile, table, cal, convert = camera
    sensor, nuc = calibrated(camera)
    ref = profile.fpa_reference_c
    nuc = drift_from_two_fpa_temperatures(nuc, blackbody(sensor, table, 30.0, ref - 3.0),
                                          ref - 3.0, blackbody(sensor, table, 30.0, ref + 3.0),
                                          ref + 3.0)
    good = ~nuc.bad_pixels
    truth_drift = (sensor.defects.drift_counts_per_k / sensor.defects.gain)[good]
    assert np.abs(nuc.drift_counts_per_k[good] - truth_drift).max() < 0.5  # counts/K
    fpa_ffc = ref + 1.0
    nuc = ffc_offset_update(nuc, blackbody(sensor, table, 25.0, fpa_ffc, n=16),
                            ideal_counts(cal, table, 25.0), fpa_ffc)
    fpa = fpa_ffc + 3.0
    scene = blackbody(sensor, table, 50.0, fpa)
    off = mean_temperature(nuc, scene, convert, None)[good]  # drift ignored
    on = mean_temperature(nuc, scene, convert, fpa)[good]
    message = (f"FPA +3 K after FFC: error {off.mean() - 50:+.3f} K (FPN {off.std() * 1e3:.0f}"
               f" mK) uncompensated, {(on.mean() - 50) * 1e3:+.1f} mK (FPN "
               f"{on.std() * 1e3:.1f} mK) with drift compensation")
    print(message)
    assert abs(off.mean() - 50.0) > 0.4, message
    assert abs(on.mean() - 50.0) < 0.02, message
    assert on.std() <= profile.netd_k, message
    with pytest.raises(ValueError, match="closer than"):
        drift_from_two_fpa_temperatures(nuc, scene, 30.0, scene, 30.1)


def test_apply_known_answers():
    shape = (2, 3)
    nuc = NucTable(np.full(shape, 2.0), np.full(shape, -100.0), np.full(shape, 3.0), 30.0,
                   np.zeros(shape, bool), full_scale_counts=16383)
    nuc.bad_pixels[1, 2] = True
    raw = np.array([[1000, 0, 16383], [40, 9000, 1234]], np.uint16)
    out = nuc.apply(raw, fpa_c=32.0)
    # 2 * 1000 - 100 - 3 * 2 = 1894; 0 and full scale pass; 2*40-106 < 0 -> 0;
    # 2 * 9000 - 106 > full scale -> 16383; the bad pixel passes through.
    np.testing.assert_array_equal(out, [[1894, 0, 16383], [0, 16383, 1234]])
    assert nuc.apply(raw, fpa_c=None)[0, 0] == 1900
    assert nuc.apply(raw) is out  # one internal buffer per table
    mine = np.empty(shape, np.uint16)
    assert nuc.apply(raw, 30.0, out=mine) is mine and mine[0, 0] == 1900
    np.testing.assert_array_equal(NucTable.identity(shape).apply(raw), raw)
    with pytest.raises(TypeError):
        nuc.apply(raw.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        nuc.apply(np.zeros((3, 3), np.uint16))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.5, 2.0), st.floats(-2000.0, 2000.0))
def test_two_point_maps_any_linear_pixel_onto_the_ideal_response(seed, gain, offset):
    """Noise-free linear pixels: two-point NUC makes every pixel read the ideal counts."""
    rng = np.random.default_rng(seed)
    # Enough pixels for the robust (median/MAD) outlier statistics: on 6x7 pixels the MAD of
    # 42 normal samples comes out small often enough that 1 seed in 1000 flagged a pixel.
    shape = (32, 32)
    g = gain * (1.0 + 0.05 * rng.standard_normal(shape))
    o = offset + 100.0 * rng.standard_normal(shape) + 3000.0
    low, high, probe = 2000.0, 9000.0, 5555.0

    def frames(level):
        return np.repeat((g * level + o)[None], 2, axis=0)

    nuc = two_point_nuc(frames(low), frames(high), low, high, fpa_c=30.0)
    assert not nuc.bad_pixels.any()
    np.testing.assert_allclose(nuc.gain * (g * probe + o) + nuc.offset, probe, atol=1e-2)
    raw = np.rint(g * probe + o).astype(np.uint16)
    corrected = nuc.apply(raw).astype(np.float64)
    assert np.abs(corrected - probe).max() <= 0.5 * nuc.gain.max() + 0.5 + 1e-3


def test_save_load_round_trip(tmp_path, camera):
    _, nuc = calibrated(camera)
    npz, yml = nuc.save(tmp_path / "boson" / "nuc")
    assert (npz.name, yml.name) == ("nuc.npz", "nuc.yaml")
    assert sorted(p.name for p in npz.parent.iterdir()) == ["nuc.npz", "nuc.yaml"]  # no temps
    loaded = NucTable.load(tmp_path / "boson" / "nuc.npz")
    for key in ("gain", "offset", "drift_counts_per_k", "bad_pixels"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(nuc, key))
    assert loaded.fpa_reference_c == nuc.fpa_reference_c
    assert loaded.full_scale_counts == nuc.full_scale_counts
    assert loaded.metadata == nuc.metadata
    assert loaded.metadata["camera"] == "boson640"
    assert set(loaded.metadata) >= {"date", "fpa_temperature_c", "source",
                                    "blackbody_temperatures_c", "bad_pixel_report"}


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.floats(-40, 80), st.integers(0, 2**31))
def test_save_load_round_trip_any_table(h, w, fpa_c, seed):
    rng = np.random.default_rng(seed)
    nuc = NucTable(rng.random((h, w)) + 0.5, rng.normal(0, 100, (h, w)),
                   rng.normal(-15, 1, (h, w)), fpa_c, rng.random((h, w)) < 0.2,
                   {"camera": "x", "tuple": (1, 2), "nested": {"n": np.int64(3)}})
    with tempfile.TemporaryDirectory() as tmp:
        nuc.save(Path(tmp) / "t")
        loaded = NucTable.load(Path(tmp) / "t")
    np.testing.assert_array_equal(loaded.offset, nuc.offset)
    np.testing.assert_array_equal(loaded.bad_pixels, nuc.bad_pixels)
    assert loaded.fpa_reference_c == pytest.approx(fpa_c)
    assert loaded.metadata == {"camera": "x", "tuple": [1, 2], "nested": {"n": 3}}


def test_load_reports_missing_corrupt_and_mismatching_files(tmp_path):
    base = tmp_path / "nuc"
    with pytest.raises(ValueError, match=r"nuc\.yaml and .*nuc\.npz are missing"):
        NucTable.load(base)
    NucTable.identity((4, 5)).save(base)
    npz, yml = Path(f"{base}.npz"), Path(f"{base}.yaml")
    good_npz, good_yaml = npz.read_bytes(), yml.read_text()

    npz.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"nuc\.npz are corrupt"):
        NucTable.load(base)
    npz.write_bytes(good_npz[: len(good_npz) // 2])  # truncated
    with pytest.raises(ValueError, match="corrupt"):
        NucTable.load(base)
    with npz.open("wb") as f:  # a plain .npy array, not an archive
        np.save(f, np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"not an \.npz archive"):
        NucTable.load(base)

    np.savez(npz, gain=np.ones((4, 5)), offset=np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"lack \['drift_counts_per_k', 'bad_pixels'\]"):
        NucTable.load(base)

    np.savez(npz, gain=np.ones((4, 6)), offset=np.zeros((4, 6)),
             drift_counts_per_k=np.zeros((4, 6)), bad_pixels=np.zeros((4, 6), bool))
    with pytest.raises(ValueError, match=r"gain has shape \(4, 6\), the header .* says \[4, 5\]"):
        NucTable.load(base)

    npz.write_bytes(good_npz)
    yml.write_text("format: [unclosed")
    with pytest.raises(ValueError, match=r"nuc\.yaml is corrupt"):
        NucTable.load(base)
    header = yaml.safe_load(good_yaml)
    del header["shape"]
    yml.write_text(yaml.safe_dump(header))
    with pytest.raises(ValueError, match=r"lacks the keys \['shape'\]"):
        NucTable.load(base)
    npz.unlink()
    with pytest.raises(ValueError, match=r"nuc\.npz is missing"):
        NucTable.load(base)


def test_table_validation():
    with pytest.raises(ValueError, match="one \\(H, W\\) shape"):
        NucTable(np.ones((2, 2)), np.zeros((2, 3)), np.zeros((2, 2)), 30.0,
                 np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="gain has non-finite"):
        NucTable(np.full((2, 2), np.nan), np.zeros((2, 2)), np.zeros((2, 2)), 30.0,
                 np.zeros((2, 2), bool))


def test_ffc_scheduler():
    scheduler = FfcScheduler(max_fpa_change_k=1.0, max_interval_s=180.0, min_interval_s=10.0)
    assert scheduler.due(0.0, 30.0) == (True, "no flat-field correction yet")
    scheduler.record(0.0, 30.0)
    assert scheduler.due(60.0, 30.9) == (False, "")
    assert scheduler.due(5.0, 35.0) == (False, "")  # too soon after the last one
    due, reason = scheduler.due(60.0, 31.2)
    assert due and "FPA temperature changed by 1.20 K" in reason
    due, reason = scheduler.due(180.0, 30.0)
    assert due and "180.0 s since the last" in reason
    scheduler.record(180.0, 31.2)
    assert scheduler.due(200.0, 31.5) == (False, "")
    with pytest.raises(ValueError):
        FfcScheduler(max_fpa_change_k=0.0)


def residual_fpn_k(pattern, offset, good, counts_per_k):
    """Spatial std of the remaining offset pattern, K."""
    return float(np.std((pattern + offset)[good])) / counts_per_k


def test_scene_based_nuc_learns_offsets_and_does_not_burn_in_a_static_scene():
    """Shutterless camera, factory gains known: offsets learned from a moving scene; when the
    camera stops the offsets stay put (ghosting protection)."""
    profile = get_profile("boson640").with_size(96, 80)
    sim = ThermalSimulator(profile, speed_mps=20.0, seed=3, defects=True)
    truth = sim.sensor.defects
    cal = sim.calibration
    counts_per_k = cal.gain * float(sim.table.derivative(NETD_REFERENCE_K))
    # Known gains (factory two-point table without its offsets): corrected = raw / g + c.
    known_gains = NucTable(1.0 / truth.gain, cal.offset_counts * (1.0 - 1.0 / truth.gain),
                           np.zeros(truth.gain.shape), profile.fpa_reference_c, truth.bad,
                           full_scale_counts=cal.full_scale_counts)
    replacer = BadPixelReplacer(truth.bad)
    good = ~truth.bad
    sbnuc = SceneBasedNuc(truth.gain.shape, sim.sensor.noise_sigma_counts, bad_pixels=truth.bad)

    def pattern(time_s):  # the offset pattern left after the gain correction, counts
        drift = truth.drift_counts_per_k * (sim.fpa_temperature_c(time_s)
                                            - profile.fpa_reference_c)
        return (truth.offset_counts + drift) / truth.gain

    def feed(raw, time_s):
        frame = replacer.apply(known_gains.apply(raw, sim.fpa_temperature_c(time_s)))
        sbnuc.update(frame)
        return sbnuc.correct(frame)

    before = residual_fpn_k(pattern(0.0), sbnuc.offset, good, counts_per_k)
    moving_frames = 300
    for k in range(moving_frames):
        feed(sim.counts(k / RATE_HZ), k / RATE_HZ)
    t_stop = (moving_frames - 1) / RATE_HZ
    after = residual_fpn_k(pattern(t_stop), sbnuc.offset, good, counts_per_k)
    assert sbnuc.updates == moving_frames - 1  # every moving frame updated

    # The camera stops: the same view for 150 frames.
    learned = sbnuc.offset.copy()
    ungated = copy.deepcopy(sbnuc)
    ungated.motion_threshold = -1.0  # no motion gate: what the protection prevents
    view = sim.radiance(t_stop).copy()
    for k in range(150):
        t = t_stop + (k + 1) / RATE_HZ
        frame = replacer.apply(known_gains.apply(
            sim.sensor.expose(view, 1 / RATE_HZ, sim.fpa_temperature_c(t)),
            sim.fpa_temperature_c(t)))
        sbnuc.update(frame)
        ungated.update(frame)
    static_change = float(np.abs(sbnuc.offset - learned)[good].max()) / counts_per_k
    burn_in = float(np.std((ungated.offset - learned)[good])) / counts_per_k
    message = (f"residual FPN {before:.3f} K -> {after:.3f} K after {moving_frames} moving "
               f"frames; static camera: offsets moved {static_change:.4f} K max (ungated: "
               f"{burn_in:.3f} K rms burn-in); motion {sbnuc.last_motion_counts:.1f} counts "
               f"(threshold {sbnuc.motion_threshold:.1f})")
    print(message)
    assert before > 1.5, message
    assert after < 0.2 * before, message  # issue 5: at least 5x within 300 frames
    assert static_change == 0.0, message
    assert burn_in > 0.1, message

    corrected = sbnuc.correct(frame.astype(np.float32))
    assert corrected.dtype == np.float32
    np.testing.assert_allclose(corrected, frame + sbnuc.offset)


def test_load_names_what_was_asked_for_and_why_it_was_refused(tmp_path):
    """Issue 19 item 6: the reason names the path given, not a path made from it."""
    with pytest.raises(ValueError, match=r"NUC table '/nonexistent\.npz' not loaded: .*pair "
                       r"nonexistent\.npz \+ nonexistent\.yaml"):
        NucTable.load("/nonexistent.npz")
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0\n")
    with pytest.raises(ValueError, match=r"passwd'? not loaded: .*passwd is a file but not a "
                       r"NUC table"):
        NucTable.load(other)
