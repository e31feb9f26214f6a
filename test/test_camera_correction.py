"""Per-camera temperature correction (issue 20, item 4): the correction itself, its YAML file,
the two-point blackbody fit (calibrate correction), the processor node and offline analyze."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_ros
from hypothesis import given
from hypothesis import strategies as st
from scipy.constants import zero_Celsius

from thermal_perception.calibrate import (
    CorrectionCalibrationInputs,
    calibrate_correction,
    centre_roi,
)
from thermal_perception.cli import main as cli_main
from thermal_perception.core.correction.per_camera import (
    CameraCorrection,
    CorrectionFileError,
    fit_two_point,
    load_corrections,
    save_correction,
)
from thermal_perception.settings.processor import corrections_from, select_correction

# -- the correction -----------------------------------------------------------------------------

gains = st.floats(0.5, 2.0)
offsets = st.floats(-50.0, 50.0)
temperatures = st.floats(-60.0, 1500.0)


@given(gain=gains, offset=offsets, t=st.lists(temperatures, min_size=1, max_size=20))
def test_apply_then_invert_round_trips(gain, offset, t):
    c = CameraCorrection(gain=gain, offset_k=offset)
    t64 = np.array(t)
    np.testing.assert_allclose(c.invert(c.apply(t64)), t64, rtol=0, atol=1e-9 * 2000)
    t32 = t64.astype(np.float32)  # in place on a float32 image, as the node does
    buf = t32.copy()
    c.apply(buf, out=buf)
    assert buf.dtype == np.float32
    np.testing.assert_allclose(buf, gain * t64 + offset, rtol=1e-6, atol=1e-3)
    c.invert(buf, out=buf)
    np.testing.assert_allclose(buf, t32, rtol=1e-6, atol=2e-3)


@given(gain=gains, offset=offsets, sigma=st.lists(st.floats(0.0, 10.0), min_size=1))
def test_sigma_scales_with_the_gain_only(gain, offset, sigma):
    c = CameraCorrection(gain=gain, offset_k=offset)
    s = np.array(sigma, np.float32)
    np.testing.assert_allclose(c.apply_sigma(s), abs(gain) * s, rtol=1e-6)


def test_nan_stays_nan_and_known_answer():
    c = CameraCorrection(gain=1.05, offset_k=-3.0)
    t = np.array([[20.0, np.nan], [0.0, 100.0]], np.float32)
    c.apply(t, out=t)
    # 1.05 * 20 - 3 = 18, 1.05 * 0 - 3 = -3, 1.05 * 100 - 3 = 102
    np.testing.assert_allclose(t[[0, 1, 1], [0, 0, 1]], [18.0, -3.0, 102.0], rtol=1e-6)
    assert np.isnan(t[0, 1])


def test_outside_valid_range_known_answer():
    c = CameraCorrection(valid_range_c=(10.0, 60.0))
    t = np.array([5.0, 10.0, 30.0, 60.0, 61.0, np.nan])
    assert c.outside_valid_range(t) == pytest.approx(2 / 5)  # 5 and 61; the limits are inside
    # weighted like a histogram: 1 + 3 of 1 + 1 + 1 + 1 + 3 pixels (the NaN's 9 are invalid)
    assert c.outside_valid_range(t, [1, 1, 1, 1, 3, 9]) == pytest.approx(4 / 7)
    assert math.isnan(c.outside_valid_range(np.full(3, np.nan)))
    assert c.describe_outside(0.25) == "25.0% of pixels outside 10..60 C (extrapolated)"
    assert CameraCorrection().outside_valid_range(t) is None
    assert "no valid_range_c" in CameraCorrection().describe_outside(None)


@given(st.lists(st.tuples(st.floats(-50.0, 150.0), st.integers(0, 5)), min_size=1,
                max_size=30))
def test_outside_valid_range_weights_equal_repeated_pixels(pairs):
    c = CameraCorrection(valid_range_c=(0.0, 40.0))
    values, weights = (np.array(x, np.float64) for x in zip(*pairs, strict=True))
    pixels = np.repeat(values, weights.astype(int))
    weighted = c.outside_valid_range(values, weights)
    if pixels.size == 0:
        assert math.isnan(weighted)
    else:
        assert weighted == pytest.approx(c.outside_valid_range(pixels))


@pytest.mark.parametrize("kwargs,words", [
    ({"gain": 0.4}, "gain"), ({"gain": 2.5}, "gain"), ({"gain": math.nan}, "gain"),
    ({"offset_k": 51.0}, "offset_k"), ({"offset_k": math.inf}, "offset_k"),
    ({"valid_range_c": (60.0, 10.0)}, "valid_range_c"), ({"method": "guess"}, "method"),
])
def test_implausible_corrections_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words):
        CameraCorrection(**kwargs)


def test_fit_two_point_known_answer_and_errors():
    # readings 2 K low at 10 C and 5 K low at 60 C: gain 50 / 47, offset 10 - gain * 8
    gain, offset = fit_two_point([8.0, 55.0], [10.0, 60.0])
    assert gain == pytest.approx(50 / 47) and offset == pytest.approx(10 - 8 * 50 / 47)
    with pytest.raises(ValueError, match="same temperature"):
        fit_two_point([20.0, 20.0], [10.0, 60.0])
    with pytest.raises(ValueError, match="at least 1 K"):
        fit_two_point([20.0, 21.0], [30.0, 30.5])


# -- the file -----------------------------------------------------------------------------------

GOOD = """\
cameras:
  "0074012":
    gain: 1.02
    offset_k: -3.5
    valid_range_c: [10, 60]
    method: two_point
    date: 2025-01-14
  default:
    offset_k: 1.5
"""


def test_file_loads_selects_and_updates(tmp_path):
    path = tmp_path / "corrections.yaml"
    path.write_text(GOOD)
    table = load_corrections(path)
    c = table.cameras["0074012"]  # leading zeros kept: serials are strings
    assert (c.gain, c.offset_k, c.valid_range_c, c.date) == (1.02, -3.5, (10.0, 60.0),
                                                            "2025-01-14")
    assert table.cameras["default"].gain == 1.0
    assert table.select("0074012")[0] is c
    chosen, why = table.select("999")
    assert chosen is table.cameras["default"] and "no entry for camera 999" in why
    save_correction(path, CameraCorrection(gain=0.98, offset_k=2.0, serial="999"))
    again = load_corrections(path)
    assert list(again.cameras) == ["0074012", "default", "999"]
    assert again.cameras["0074012"] == c and again.cameras["999"].gain == 0.98


@pytest.mark.parametrize("text,words", [
    ("cameras:\n  a:\n    gain: 1.0\n    ofset_k: 2\n",
     "line 4: camera 'a': unknown field 'ofset_k'"),
    ("cameras:\n  a:\n    gain: 3.0\n", "line 3: camera 'a': gain 3.0 must be"),
    ("cameras:\n  a:\n    offset_k: -70\n", "offset_k -70.0 must be"),
    ("cameras:\n  a:\n    gain: .nan\n", "gain nan must be a finite"),
    ("cameras:\n  a:\n    gain: fast\n", "line 3: camera 'a': gain: expected a number"),
    ("cameras:\n  a:\n    method: manual\n", "needs gain and/or offset_k"),
    ("cameras:\n  a: 1.0\n", "expected a mapping"),
    ("cameras:\n  a:\n    gain: 1.0\n  a:\n    gain: 1.1\n", "line 4: camera 'a' twice"),
    ("cameras:\n  a:\n    gain: [1.0\n", "not valid YAML"),
    ("camera:\n  a:\n    gain: 1.0\n", "line 1: unknown key 'camera'"),
    ("", "empty"),
    ("cameras: {}\n", "non-empty mapping"),
])
def test_file_errors_name_file_line_and_key(tmp_path, text, words):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(CorrectionFileError) as info:
        load_corrections(path)
    assert str(path) in str(info.value) and words in str(info.value)


def test_missing_file_and_parameter_rules(tmp_path):
    values = {"correction_file": str(tmp_path / "none.yaml"), "camera_serial": ""}
    with pytest.raises(ValueError, match=r"none\.yaml"):
        corrections_from(values)
    path = tmp_path / "c.yaml"
    path.write_text("cameras:\n  '42':\n    gain: 1.1\n")
    with pytest.raises(ValueError, match="camera_serial '7' has no entry"):
        corrections_from({"correction_file": str(path), "camera_serial": "7"})
    table = corrections_from({"correction_file": str(path), "camera_serial": ""})
    assert select_correction(table, {"camera_serial": ""}, "42")[0].gain == 1.1
    none, why = select_correction(table, {"camera_serial": ""}, "")
    assert none is None and "serial unknown" in why and "no 'default'" in why
    assert select_correction(None, {"camera_serial": ""})[0] is None


# -- the two-point fit on blackbody frames --------------------------------------------------

GAIN_ERROR, OFFSET_ERROR_K = 1.04, -3.5  # the correction the fit must find


def blackbody_frames(path: Path, true_c: float, frames: int = 8, seed: int = 0) -> Path:
    """Frames (.npy) of a uniform blackbody at ``true_c`` from a camera that reads
    ``(T - offset) / gain``: counts from the processor's default radiometric model (boson640
    linear radiance), with 3 counts of noise that dither the quantisation away."""
    from thermal_perception.analysis.params import PROCESSOR_DEFAULTS
    from thermal_perception.core.physics import BandRadianceTable
    from thermal_perception.core.physics.camera import get_profile
    from thermal_perception.settings.processor import converter_from

    profile = get_profile("boson640")
    model = converter_from(PROCESSOR_DEFAULTS, profile,
                           BandRadianceTable(profile.band_m)).model
    reads_c = (true_c - OFFSET_ERROR_K) / GAIN_ERROR
    ideal = float(model.counts_from_signal(
        model.signal_from_temperature_k(np.array([reads_c + zero_Celsius])))[0])
    rng = np.random.default_rng(seed)
    counts = np.rint(ideal + rng.normal(0.0, 3.0, (frames, 60, 80)))
    np.save(path, counts.astype(np.uint16))
    return path


def test_two_point_fit_recovers_an_injected_error(tmp_path):
    low = blackbody_frames(tmp_path / "low.npy", 10.0, seed=1)
    high = blackbody_frames(tmp_path / "high.npy", 60.0, seed=2)
    check = blackbody_frames(tmp_path / "check.npy", 35.0, seed=3)
    out = tmp_path / "corrections.yaml"
    report = calibrate_correction(CorrectionCalibrationInputs(
        low=low, low_temperature_c=10.0, high=high, high_temperature_c=60.0, out=out,
        serial="SN1", check=check, check_temperature_c=35.0))
    c = report["correction"]
    # the blackbodies read (10 + 3.5) / 1.04 = 12.98 C and (60 + 3.5) / 1.04 = 61.06 C
    assert report["low"]["reading_c"] == pytest.approx(13.5 / 1.04, abs=0.01)
    assert c.gain == pytest.approx(GAIN_ERROR, abs=2e-4)
    assert c.offset_k == pytest.approx(OFFSET_ERROR_K, abs=0.01)
    for t in (10.0, 35.0, 60.0):  # corrected readings within 0.01 K of the truth
        assert c.gain * (t - OFFSET_ERROR_K) / GAIN_ERROR + c.offset_k == \
            pytest.approx(t, abs=0.01)
    assert abs(report["check"]["residual_k"]) < 0.01
    saved = load_corrections(out).cameras["SN1"]
    assert saved.method == "two_point" and saved.valid_range_c == (10.0, 60.0)
    assert saved.gain == pytest.approx(c.gain, abs=1e-6)


def test_calibrate_correction_command(tmp_path, capsys):
    low = blackbody_frames(tmp_path / "low.npy", 20.0, frames=3)
    high = blackbody_frames(tmp_path / "high.npy", 45.0, frames=3)
    out = tmp_path / "c.yaml"
    args = ["calibrate", "correction", "--low", str(low), "--low-temperature", "20",
            "--high", str(high), "--high-temperature", "45", "--out", str(out)]
    assert cli_main(args) == 0
    printed = capsys.readouterr().out
    fitted = re.search(r"correction for camera default: T' = (\S+) \* T (\S+) K", printed)
    assert fitted and float(fitted[1]) == pytest.approx(GAIN_ERROR, abs=1e-3)
    assert float(fitted[2]) == pytest.approx(OFFSET_ERROR_K, abs=0.02) and "wrote" in printed
    assert list(load_corrections(out).cameras) == ["default"]
    assert cli_main([*args[:-4], "--low-temperature", "45", *args[6:]]) == 1  # low >= high
    assert "warmer" in capsys.readouterr().err


def test_centre_roi():
    rows, cols = centre_roi((512, 640), 0.2)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (205, 307, 256, 384)


# -- the processor node -------------------------------------------------------------------------

@requires_ros
def test_processor_applies_the_camera_s_correction(rclpy_context, tmp_path):
    from rclpy.parameter import Parameter

    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.msg import ThermalStatus
    from thermal_perception.nodes.processor import ProcessorNode

    path = tmp_path / "c.yaml"
    path.write_text("cameras:\n  SN7:\n    gain: 1.1\n    offset_k: -4.0\n"
                    "    method: two_point\n    date: '2025-02-01'\n"
                    "  default:\n    offset_k: 2.5\n")
    counts = np.random.default_rng(0).integers(4000, 9000, (24, 32)).astype(np.uint16)
    node = ProcessorNode(parameter_overrides=[Parameter("rois", value=["box a 0 0 8 8"]),
                                              Parameter("ffc_enabled", value=False)])
    stamp = [0]

    def frame(serial: str | None = None) -> np.ndarray:
        stamp[0] += 1
        msg = array_to_image(counts, "mono16")
        msg.header.stamp.sec = stamp[0]
        if serial is not None:
            status = ThermalStatus(header=msg.header, camera_serial=serial,
                                   fpa_temperature_c=math.nan,
                                   housing_temperature_c=math.nan)
            node._on_status(status)
        node._on_image(msg)
        return node.temperature.copy()

    def diagnostics() -> dict[str, str]:
        status = node._diagnostics()[0]
        return {kv.key: kv.value for kv in status.values} | {"message": status.message}

    try:
        plain = frame()
        assert diagnostics()["temperature_correction"] == "none (no correction_file)"
        ok = node.set_parameters([Parameter("correction_file", value=str(path))])[0]
        assert ok.successful
        # no serial from the driver yet: the default entry, exactly +2.5 K
        np.testing.assert_array_equal(frame(), plain + np.float32(2.5))
        assert "'default' entry" in diagnostics()["temperature_correction"]
        # the driver reports SN7: its entry, exactly 1.1 T - 4 (float32, in place)
        expected = plain * np.float32(1.1) + np.float32(-4.0)
        np.testing.assert_array_equal(frame("SN7"), expected)
        # the uncertainty image scales with the gain (published only when subscribed)
        from sensor_msgs.msg import Image

        node.create_subscription(Image, "image_temperature_sigma", lambda _: None, 1)
        assert node.sigma_pub.get_subscription_count() == 1
        frame("SN7")
        counts_sigma = node.converter.uncertainty(counts)
        np.testing.assert_array_equal(node.sigma, counts_sigma * np.float32(1.1))
        d = diagnostics()
        assert (d["correction_serial"], d["correction_gain"], d["correction_offset_k"],
                d["correction_method"], d["correction_date"]) == \
            ("SN7", "1.1", "-4", "two_point", "2025-02-01")
        assert "driver status" in d["temperature_correction"]
        # the camera_serial parameter wins; an unknown one without default is refused
        path.write_text("cameras:\n  SN7:\n    gain: 1.1\n    offset_k: -4.0\n")
        bad = node.set_parameters([Parameter("camera_serial", value="SN8")])[0]
        assert not bad.successful and "camera_serial 'SN8' has no entry" in bad.reason
        bad = node.set_parameters([Parameter("correction_file", value=str(tmp_path / "x"))])[0]
        assert not bad.successful and "x" in bad.reason
        np.testing.assert_array_equal(frame("SN7"), expected)  # old state kept
        # a serial without entry and no default: uncorrected, WARN says why
        node.set_parameters([Parameter("camera_serial", value="SN7")])
        node.set_parameters([Parameter("camera_serial", value="")])
        np.testing.assert_array_equal(frame("SN9"), plain)
        assert "parameter change rejected" in diagnostics()["message"]  # said once
        d = diagnostics()
        assert "no entry for camera SN9" in d["message"]
        assert d["temperature_correction"].startswith("none (no entry for camera SN9")
    finally:
        node.destroy_node()


@requires_ros
def test_processor_reports_pixels_outside_the_correction_s_range(rclpy_context, tmp_path):
    from rclpy.parameter import Parameter

    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.nodes.processor import ProcessorNode

    counts = np.random.default_rng(1).integers(4000, 9000, (24, 32)).astype(np.uint16)
    node = ProcessorNode(parameter_overrides=[Parameter("rois", value=["box a 0 0 8 8"]),
                                              Parameter("ffc_enabled", value=False)])
    stamp = [0]  # (an ROI, so that the frames are processed: the node is lazy)

    def frame() -> None:
        stamp[0] += 1
        msg = array_to_image(counts, "mono16")
        msg.header.stamp.sec = stamp[0]
        node._on_image(msg)

    def diagnostics(low: float, high: float) -> tuple[str, str, bytes]:
        path = tmp_path / f"c{stamp[0]}.yaml"  # a new file: a changed parameter
        path.write_text(f"cameras:\n  default:\n    offset_k: 1.0\n"
                        f"    valid_range_c: [{low}, {high}]\n")
        assert node.set_parameters([Parameter("correction_file", value=str(path))])[0] \
            .successful
        frame()
        status = node._diagnostics()[0]
        values = {kv.key: kv.value for kv in status.values}
        return values["correction_outside_valid_range"], status.message, status.level

    try:
        frame()
        t = node.temperature + np.float32(1.0)  # the default entry's offset
        # every 4th row and column is looked at: the expected fraction from that sample
        median = float(np.median(t))
        expected = float(np.mean(t[::4, ::4] > median))
        value, message, level = diagnostics(-40.0, median)
        assert value == f"{expected:.1%} of pixels outside -40..{median:g} C (extrapolated)"
        assert level == b"\x00", message  # about half: not above OUTSIDE_RANGE_WARN
        value, message, level = diagnostics(-40.0, float(t.min()) - 1.0)
        assert value.startswith("100.0% of pixels outside")
        assert level == b"\x01" and message.startswith("temperature correction extrapolated")
        value, message, level = diagnostics(float(t.min()) - 1.0, float(t.max()) + 1.0)
        assert value.startswith("0.0% of pixels outside") and level == b"\x00"
    finally:
        node.destroy_node()


@requires_ros
def test_processor_with_a_broken_file_at_start_reports_error(rclpy_context, tmp_path):
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.processor import ProcessorNode

    path = tmp_path / "c.yaml"
    path.write_text("cameras:\n  a:\n    gain: 9\n")
    node = ProcessorNode(parameter_overrides=[Parameter("correction_file", value=str(path))])
    try:
        status = node._diagnostics()[0]
        assert status.level == b"\x02" and "line 3" in status.message
        assert node.correction is None
    finally:
        node.destroy_node()


# -- offline analyze ----------------------------------------------------------------------------

def test_analyze_applies_the_correction(tmp_path):
    from thermal_perception.analysis import AnalysisOptions, analyze_bag
    from thermal_perception.sim.record import SimulationOptions, simulate_to_bag

    bag = tmp_path / "bb"
    simulate_to_bag(SimulationOptions(out=bag, frames=4, width=64, height=48,
                                      scene="blackbody", blackbody_temperature_c=30.0,
                                      truth=False))
    path = tmp_path / "c.yaml"
    # fitted over 40..60 C: the 30 C blackbody reads 31 C, all of it extrapolated
    path.write_text("cameras:\n  default:\n    gain: 1.2\n    offset_k: -5.0\n"
                    "    valid_range_c: [40, 60]\n")
    means = []
    for overrides in ({}, {"correction_file": str(path)}):
        result = analyze_bag(bag, AnalysisOptions(out=tmp_path / f"out{len(means)}",
                                                  overrides=overrides, detector="none",
                                                  progress=False, report=False,
                                                  video=False, bag=False))
        assert result.status == "ok", result.errors
        means.append(result)
    plain, corrected = means
    assert plain.temperature_correction == ""
    assert corrected.temperature_correction.startswith("camera default: gain 1.2")
    assert plain.correction_outside_fraction is None
    assert corrected.correction_outside_fraction == 1.0
    assert any("100.0% of pixels outside 40..60 C" in w for w in corrected.warnings)
    import csv

    def mean_c(result):
        with open(Path(result.out_dir) / "frames.csv") as f:
            return np.array([float(row["mean_c"]) for row in csv.DictReader(f)])

    np.testing.assert_allclose(mean_c(corrected), 1.2 * mean_c(plain) - 5.0, atol=1e-3)
