"""Thermal-lag compensation against the microbolometer model's first-order lag."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.constants import zero_Celsius

from thermal_perception.core.correction.lag import LagCompensator
from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.calibration import LinearCalibration
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.core.physics.sensor import MicrobolometerModel
from thermal_perception.sim.simulator import ThermalSimulator

DT_S = 1.0 / 30.0
TAU_S = 0.02          # slow pixels: a = 1 - exp(-dt / tau) = 0.81 at 30 Hz
EDGE_FACTOR = 10.0    # moving-edge pixels: true frame-to-frame change > 10 sigma


@pytest.fixture(scope="module")
def slow_camera():
    profile = dataclasses.replace(get_profile("boson640").with_size(96, 80),
                                  time_constant_s=TAU_S)
    table = BandRadianceTable(profile.band_m)
    return profile, table, LinearCalibration.from_profile(profile, table)


def test_exact_inverse_of_the_sensor_lag_without_noise(slow_camera):
    """A 20 -> 60 C step and a moving edge through the noise-free sensor: the compensated
    counts equal the ideal counts of the true scene (quantisation only)."""
    profile, table, cal = slow_camera
    sensor = MicrobolometerModel(profile, cal, table, seed=0)
    sensor.noise_sigma_counts = 0.0
    compensator = LagCompensator(TAU_S, noise_sigma=0.0)
    shape = (profile.height, profile.width)
    cold, hot = (float(table.radiance(t + zero_Celsius)) for t in (20.0, 60.0))
    columns = np.arange(profile.width)
    worst_lagged = worst_compensated = 0.0
    step = cal.counts_from_radiance(hot) - cal.counts_from_radiance(cold)
    for k in range(12):
        # frames 0-2 cold, then hot everywhere left of an edge moving 3 columns per frame
        edge = 0 if k < 3 else 3 * (k - 2) + 20
        scene = np.where(columns[None, :] < edge, hot, cold) * np.ones(shape)
        scene = scene.astype(np.float32)
        counts = sensor.expose(scene, DT_S)
        compensated = compensator.apply(counts.astype(np.float32), DT_S)
        ideal = cal.counts_from_radiance(scene.astype(np.float64))
        worst_lagged = max(worst_lagged, float(np.abs(counts - ideal).max()) / step)
        worst_compensated = max(worst_compensated, float(np.abs(compensated - ideal).max()) / step)
    message = (f"max error / step: lagged {worst_lagged:.3f}, compensated "
               f"{worst_compensated:.2e} (a = {compensator.lag_factor(DT_S):.3f})")
    print(message)
    assert worst_lagged > 0.15, message
    assert worst_compensated < 1e-3, message


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-50.0, 500.0), min_size=2, max_size=20),
       st.floats(1e-3, 0.1), st.floats(1e-3, 0.1))
def test_inverse_recovers_any_scene_sequence(scene, tau, dt):
    """The forward first-order lag followed by the compensator is the identity (float)."""
    compensator = LagCompensator(tau, noise_sigma=0.0)
    a = compensator.lag_factor(dt)
    state = scene[0]
    for k, value in enumerate(scene):
        if k:
            state = state + a * (value - state)
        frame = np.full((2, 3), state, np.float32)
        out = compensator.apply(frame, dt)
        # float32 rounding of the state, amplified by 1/a
        tolerance = 1e-5 * (1.0 + abs(state) + abs(value)) / a
        np.testing.assert_allclose(out, value, atol=tolerance)


def test_static_noise_is_kept_and_moving_edges_get_sharper(slow_camera):
    """Noise on: a static scene keeps its noise level (<= 1.2x); on the moving simulated scene
    (20 m/s, tau 20 ms) the RMS error against the true scene drops on the moving edges."""
    profile, table, cal = slow_camera
    sim = ThermalSimulator(profile, speed_mps=20.0, seed=4)
    sigma = sim.sensor.noise_sigma_counts
    compensator = LagCompensator(TAU_S, noise_sigma=sigma)

    # Static region: a uniform scene, temporal std per pixel.
    sensor = MicrobolometerModel(profile, cal, table, seed=1)
    uniform = np.full((profile.height, profile.width),
                      float(table.radiance(30.0 + zero_Celsius)), np.float32)
    raw_frames, comp_frames = [], []
    for _ in range(60):
        counts = sensor.expose(uniform, DT_S).astype(np.float32)
        raw_frames.append(counts)
        comp_frames.append(compensator.apply(counts, DT_S).copy())
    noise_ratio = float(np.std(comp_frames[1:], axis=0, ddof=1).mean()
                        / np.std(raw_frames[1:], axis=0, ddof=1).mean())

    # Moving scene: error against the true (unlagged) scene on moving-edge pixels.
    compensator.reset()
    previous_ideal = None
    lagged_sq = compensated_sq = 0.0
    n_edge = 0
    for k in range(90):
        t = k * DT_S
        counts = sim.counts(t).astype(np.float32)
        compensated = compensator.apply(counts, DT_S)
        ideal = cal.counts_from_radiance(sim.radiance(t).astype(np.float64))
        if previous_ideal is not None:
            edge = np.abs(ideal - previous_ideal) > EDGE_FACTOR * sigma
            lagged_sq += float(np.sum((counts - ideal)[edge] ** 2))
            compensated_sq += float(np.sum((compensated - ideal)[edge] ** 2))
            n_edge += int(edge.sum())
        previous_ideal = ideal
    rms_lagged = math.sqrt(lagged_sq / n_edge)
    rms_compensated = math.sqrt(compensated_sq / n_edge)
    improvement = 1.0 - rms_compensated / rms_lagged
    message = (f"static noise ratio {noise_ratio:.3f}; moving edges ({n_edge} pixel-frames): "
               f"RMS error {rms_lagged:.1f} -> {rms_compensated:.1f} counts "
               f"({improvement:.0%} lower), noise {sigma:.2f} counts")
    print(message)
    assert noise_ratio <= 1.2, message
    assert n_edge > 1000, message
    assert improvement >= 0.3, message


def test_pass_through_cases_and_buffers():
    frame = np.arange(12, dtype=np.float32).reshape(3, 4)
    compensator = LagCompensator(0.01, noise_sigma=1.0)
    first = compensator.apply(frame, DT_S)
    np.testing.assert_array_equal(first, frame)  # the first frame passes through
    assert compensator.apply(frame + 100, DT_S) is first  # one internal buffer
    assert compensator.lag_factor(0.01) == pytest.approx(1.0 - math.exp(-1.0))
    assert compensator.correction_gain(0.0) == 0.0  # dt 0: nothing to invert
    mine = np.empty((3, 4), np.float32)
    assert compensator.apply(frame, 0.0, out=mine) is mine
    np.testing.assert_array_equal(mine, frame)
    off = LagCompensator(0.01, noise_sigma=0.0, strength=0.0)
    off.apply(frame, DT_S)
    np.testing.assert_array_equal(off.apply(frame * 3, DT_S), frame * 3)
    no_lag = LagCompensator(0.0, noise_sigma=0.0)
    no_lag.apply(frame, DT_S)
    np.testing.assert_array_equal(no_lag.apply(frame + 7, DT_S), frame + 7)
    # a strong step gets (almost) the full inverse; half strength gets half the correction
    half = LagCompensator(0.02, noise_sigma=1.0, strength=0.5)
    half.apply(frame, DT_S)
    boost = half.apply(frame + 1000, DT_S) - (frame + 1000)
    expected = 0.5 * (1.0 / half.lag_factor(DT_S) - 1.0) * 1000
    np.testing.assert_allclose(boost, expected, rtol=1e-3)
    with pytest.raises(ValueError):
        LagCompensator(0.01, noise_sigma=1.0, strength=1.5)


def _edge_width_px(profile: np.ndarray) -> float:
    """10-90 % width, pixels, of a falling edge (hot on the left) in a 1-D profile."""
    lo, hi = float(profile[-8:].mean()), float(profile[:8].mean())

    def first_below(level: float) -> float:
        i = int(np.argmax(profile < level))
        # linear interpolation between samples i-1 (above) and i (below)
        return i - 1 + (profile[i - 1] - level) / (profile[i - 1] - profile[i])

    return first_below(lo + 0.1 * (hi - lo)) - first_below(lo + 0.9 * (hi - lo))


def test_lag_compensation_halves_edge_smear(slow_camera):
    """Issue 5: a hot/cold edge moving 3 px per frame (the platform moves) smears over several
    pixels behind it; compensation (with the noise gate on) narrows the 10-90 % edge width at
    least 2x."""
    profile, table, cal = slow_camera
    sensor = MicrobolometerModel(profile, cal, table, seed=3)
    compensator = LagCompensator(TAU_S, noise_sigma=sensor.noise_sigma_counts)
    hot, cold = (float(table.radiance(t + zero_Celsius)) for t in (45.0, 15.0))
    xs = np.arange(profile.width)
    speed_px, widths = 3, {"lagged": [], "compensated": []}
    for k in range(24):
        edge = 10 + speed_px * k
        scene = np.where(xs[None, :] < edge, hot, cold).astype(np.float32)
        scene = np.repeat(scene, profile.height, axis=0)
        counts = sensor.expose(scene, DT_S).astype(np.float32)
        compensated = compensator.apply(counts, DT_S)
        if k >= 4 and edge + 12 < profile.width:  # settled, and the window fits
            window = slice(edge - 12, edge + 12)
            widths["lagged"].append(_edge_width_px(counts.mean(axis=0)[window]))
            widths["compensated"].append(_edge_width_px(compensated.mean(axis=0)[window]))
    lagged, sharp = float(np.mean(widths["lagged"])), float(np.mean(widths["compensated"]))
    assert lagged >= 2.0 * sharp, f"edge width {lagged:.2f} px -> {sharp:.2f} px"
