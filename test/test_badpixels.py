"""Bad-pixel detection (calibration frames, live flicker) and replacement, against the
simulator's truth masks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.constants import zero_Celsius

from thermal_perception.core.correction.badpixels import (
    BadPixelReplacer,
    FlickerDetector,
    detect_from_calibration,
    frame_statistics,
    robust_z,
)
from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.calibration import LinearCalibration
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.core.physics.sensor import MicrobolometerModel
from thermal_perception.sim.simulator import ThermalSimulator

FRAMES = 64               # frames per blackbody stack
COLD_C, WARM_C = 10.0, 60.0
MAX_FALSE_POSITIVE = 1e-3  # acceptance: < 0.1 % of the good pixels flagged
# Elevated defect rates (x50 the datasheet class) give many bad pixels and clusters.
MANY_DEFECTS = {"dead_pixel_fraction": 0.01, "hot_pixel_fraction": 0.005,
                "flicker_pixel_fraction": 0.005}


def make_sensor(profile, seed=5):
    table = BandRadianceTable(profile.band_m)
    cal = LinearCalibration.from_profile(profile, table)
    return MicrobolometerModel(profile, cal, table, seed=seed, defects=True), cal, table


def blackbody(sensor, table, t_c, n=FRAMES):
    """(n, H, W) raw frames of a uniform blackbody, detector settled, FPA at its reference."""
    shape = sensor.defects.gain.shape
    radiance = np.full(shape, float(table.radiance(t_c + zero_Celsius)), np.float32)
    sensor.reset()
    fpa = sensor.profile.fpa_reference_c
    return np.stack([sensor.expose(radiance, 1 / 30, fpa).copy() for _ in range(n)])


@pytest.mark.parametrize(("size", "rates"), [((160, 128), MANY_DEFECTS), ((320, 256), {})],
                         ids=["many-defects", "boson-rates"])
def test_calibration_detection_recall_and_false_positives(size, rates):
    profile = dataclasses.replace(get_profile("boson640").with_size(*size), **rates)
    sensor, cal, table = make_sensor(profile)
    truth = sensor.defects
    mask, report = detect_from_calibration(
        blackbody(sensor, table, COLD_C), blackbody(sensor, table, WARM_C),
        full_scale_counts=cal.full_scale_counts)
    recall = {name: float(mask[m].mean()) for name, m in
              (("dead", truth.dead), ("hot", truth.hot), ("flicker", truth.flicker))}
    false_positive = float(mask[~truth.bad].mean())
    message = (f"{size}: truth dead/hot/flicker {truth.dead.sum()}/{truth.hot.sum()}/"
               f"{truth.flicker.sum()}, recall {recall}, false positives {false_positive:.2e}, "
               f"{report}")
    print(message)
    assert truth.bad.sum() >= 20, message
    assert all(r == 1.0 for r in recall.values()), message
    assert false_positive < MAX_FALSE_POSITIVE, message
    assert report.hot == truth.hot.sum() and report.dead == truth.dead.sum(), message
    assert report.noisy >= truth.flicker.sum(), message
    assert report.total == mask.sum()
    assert report.median_noise_counts == pytest.approx(sensor.noise_sigma_counts, rel=0.1)


def test_gain_and_offset_outliers_are_classified():
    rng = np.random.default_rng(1)
    shape = (40, 50)
    gain = 1.0 + 0.02 * rng.standard_normal(shape)
    offset = 100.0 * rng.standard_normal(shape) + 2000.0
    gain[3, 4] = 1.5     # 25 sigma responsivity outlier
    offset[10, 10] = 8000.0  # 60 sigma offset outlier
    levels = (1000.0, 4000.0)
    stacks = [np.rint(offset + gain * level + rng.standard_normal((8, *shape)))
              for level in levels]
    mask, report = detect_from_calibration(*stacks)
    assert (report.gain, report.offset, report.total) == (1, 1, 2)
    assert mask[3, 4] and mask[10, 10]


def test_frame_statistics_known_answer():
    frames = np.array([[[1.0, 5.0]], [[3.0, 5.0]], [[2.0, 9.0]]])
    stats = frame_statistics(frames)
    np.testing.assert_allclose(stats.mean, [[2.0, 19.0 / 3.0]])
    np.testing.assert_allclose(stats.std, frames.std(axis=0, ddof=1))
    np.testing.assert_allclose(stats.max_jump, [[2.0, 4.0]])
    np.testing.assert_allclose(stats.max_value, [[3.0, 9.0]])
    with pytest.raises(ValueError, match="N>=2"):
        frame_statistics(frames[:1])


def test_robust_z_known_answer():
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    z = robust_z(values)
    # median 3, MAD 1 -> sigma 1.4826
    assert z[2] == 0.0
    assert z[4] == pytest.approx(97.0 / 1.4826)


@pytest.mark.parametrize("speed_mps", [0.0, 4.0], ids=["hovering", "4 m/s"])
def test_flicker_detector_finds_every_telegraph_pixel_in_a_live_stream(speed_mps):
    """300 frames (10 s at 30 Hz) of the moving simulated scene with many flickering pixels."""
    profile = dataclasses.replace(get_profile("boson640").with_size(160, 128), **MANY_DEFECTS)
    sim = ThermalSimulator(profile, speed_mps=speed_mps, seed=2, defects=True)
    truth = sim.sensor.defects
    detector = FlickerDetector(truth.gain.shape, sim.sensor.noise_sigma_counts)
    for k in range(300):
        detector.update(sim.counts(k / profile.rate_hz))
    recall = float(detector.mask[truth.flicker].mean())
    false_positive = float(detector.mask[~truth.bad].mean())
    message = (f"{truth.flicker.sum()} flickering pixels, recall {recall:.3f}, "
               f"false positives {false_positive:.2e}, max normal score "
               f"{detector.score[~truth.bad].max():.2f}, min flicker score "
               f"{detector.score[truth.flicker].min():.2f}")
    print(message)
    assert recall == 1.0, message
    assert false_positive < MAX_FALSE_POSITIVE, message
    assert not detector.mask[truth.dead | truth.hot].any(), "stuck pixels never jump"
    detector.reset()
    assert not detector.mask.any() and detector.frames == 0


def test_replacer_known_answers():
    ramp = np.add.outer(np.arange(6.0) * 10.0, np.arange(7.0)).astype(np.float32)
    mask = np.zeros(ramp.shape, bool)
    mask[2, 3] = True       # isolated: median of a linear ramp's ring = centre value
    mask[0, 0] = True       # corner: 3 valid neighbours (1, 10, 11) -> median 10
    replacer = BadPixelReplacer(mask)
    damaged = ramp.copy()
    damaged[mask] = 1e6
    fixed = replacer.apply(damaged)
    assert fixed[2, 3] == ramp[2, 3]
    assert fixed[0, 0] == 10.0
    np.testing.assert_array_equal(fixed[~mask], ramp[~mask])
    # uint16 and in place
    counts = (ramp * 10).astype(np.uint16)
    counts[mask] = 65535
    out = BadPixelReplacer(mask).apply(counts, out=counts)
    assert out is counts and counts[2, 3] == 230 and counts[0, 0] == 100


def test_replacer_grows_to_5x5_inside_clusters_and_ignores_nan():
    image = np.arange(100, dtype=np.float32).reshape(10, 10)
    mask = np.zeros_like(image, dtype=bool)
    mask[3:6, 3:6] = True   # 3x3 cluster: the centre has no valid 3x3 neighbour
    replacer = BadPixelReplacer(mask)
    fixed = replacer.apply(image)
    assert fixed[4, 4] == image[4, 4]  # median of the symmetric 5x5 ring of a ramp
    assert replacer.unreplaceable == 0
    # NaN neighbours (e.g. saturated temperatures) are ignored, not propagated
    image[1, 1] = np.nan
    single = np.zeros_like(mask)
    single[2, 2] = True
    assert np.isfinite(BadPixelReplacer(single).apply(image)[2, 2])
    # a pixel with no valid neighbour at all: NaN (float) / 0 (uint16, invalid counts)
    everything = np.ones((3, 3), bool)
    nothing = BadPixelReplacer(everything)
    assert np.isnan(nothing.apply(np.ones((3, 3), np.float32))).all()
    assert (nothing.apply(np.ones((3, 3), np.uint16)) == 0).all()


def test_replaced_values_are_within_noise_of_the_neighbours():
    """Simulated blackbody with many bad pixels: replacements match the true level."""
    profile = dataclasses.replace(get_profile("boson640").with_size(160, 128), **MANY_DEFECTS)
    sensor, cal, table = make_sensor(profile, seed=9)
    truth = sensor.defects
    truth.gain.fill(1.0)           # ideal pixels apart from the bad ones: the level is known
    truth.offset_counts.fill(0.0)
    frame = blackbody(sensor, table, 30.0, n=2)[-1]
    level = float(cal.counts_from_radiance(table.radiance(30.0 + zero_Celsius)))
    replacer = BadPixelReplacer(truth.bad)
    fixed = replacer.apply(frame).astype(np.float64)
    error = fixed[truth.bad] - level
    sigma = sensor.noise_sigma_counts
    message = (f"{truth.bad.sum()} replaced, error mean {error.mean():.2f} counts, "
               f"rms {np.sqrt(np.mean(error**2)):.2f}, max {np.abs(error).max():.2f}, "
               f"noise {sigma:.2f} counts rms")
    print(message)
    assert np.abs(error).max() < 3.0 * sigma, message
    assert np.sqrt(np.mean(error**2)) < sigma, message


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(2, 12), st.floats(0.0, 0.9), st.integers(0, 2**31))
def test_replacer_invariants(h, w, bad_fraction, seed):
    """Good pixels never change; a replacement lies within its valid 5x5 neighbourhood."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 4000, (h, w)).astype(np.uint16)
    mask = rng.random((h, w)) < bad_fraction
    fixed = BadPixelReplacer(mask).apply(image)
    np.testing.assert_array_equal(fixed[~mask], image[~mask])
    for r, c in zip(*np.nonzero(mask), strict=True):
        window = (slice(max(r - 2, 0), r + 3), slice(max(c - 2, 0), c + 3))
        valid = image[window][~mask[window]]
        if valid.size == 0:
            assert fixed[r, c] == 0
        else:
            assert valid.min() <= fixed[r, c] <= valid.max()
