"""Microbolometer model and simulator against their physics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.constants import zero_Celsius

from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.calibration import CountsToTemperature, LinearCalibration
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.core.physics.sensor import MicrobolometerModel
from thermal_perception.sim.scenes import make_sar_scene
from thermal_perception.sim.simulator import ThermalSimulator
from thermal_perception.sim.truth import LABELS


@pytest.fixture(scope="module")
def small():
    profile = get_profile("boson640").with_size(160, 128)
    table = BandRadianceTable(profile.band_m)
    cal = LinearCalibration.from_profile(profile, table)
    return profile, table, cal


def uniform(table, shape, t_c):
    return np.full(shape, float(table.radiance(t_c + zero_Celsius)), np.float32)


def test_temporal_noise_equals_netd(small):
    """A uniform 300 K scene: per-pixel temporal std in kelvin is the profile's NETD."""
    profile, table, cal = small
    sensor = MicrobolometerModel(profile, cal, table, seed=3)
    convert = CountsToTemperature(cal, table)
    scene = uniform(table, (profile.height, profile.width), 300.0 - zero_Celsius)
    frames = np.stack([convert(sensor.expose(scene, 1 / 30)) for _ in range(40)])
    netd = float(np.mean(frames.std(axis=0, ddof=1)))
    assert netd == pytest.approx(profile.netd_k, rel=0.1)
    assert float(frames.mean()) == pytest.approx(300.0 - zero_Celsius, abs=0.01)


def test_thermal_lag_follows_first_order_response(small):
    """A step from 20 C to 60 C: after one frame the detector has moved 1 - exp(-dt/tau)."""
    profile, table, cal = small
    sensor = MicrobolometerModel(profile, cal, table, seed=0)
    sensor.noise_sigma_counts = 0.0
    shape = (profile.height, profile.width)
    dt = 0.004
    sensor.expose(uniform(table, shape, 20.0), dt)
    counts = sensor.expose(uniform(table, shape, 60.0), dt).astype(float)
    l20, l60 = (float(table.radiance(t + zero_Celsius)) for t in (20.0, 60.0))
    expected = cal.counts_from_radiance(l20 + (l60 - l20) * (1 - math.exp(
        -dt / profile.time_constant_s)))
    assert np.allclose(counts, expected, atol=0.51)


def test_hot_scene_saturates_to_full_scale(small):
    profile, table, cal = small
    sensor = MicrobolometerModel(profile, cal, table)
    counts = sensor.expose(uniform(table, (profile.height, profile.width), 600.0), 0.03)
    assert (counts == profile.full_scale_counts).all()
    assert np.isnan(CountsToTemperature(cal, table)(counts)).all()


def test_scene_is_reproducible_and_labelled():
    a = make_sar_scene(200, 150, 0.1, seed=4, people=5, animals=2)
    b = make_sar_scene(200, 150, 0.1, seed=4, people=5, animals=2)
    assert np.array_equal(a.temperature_k, b.temperature_k)
    people = a.labels == LABELS["person"]
    assert people.any()
    t_people_c = a.temperature_k[people] - zero_Celsius
    assert 28.0 < float(np.median(t_people_c)) < 36.0
    assert np.all((a.emissivity > 0.8) & (a.emissivity <= 1.0))
    with pytest.raises(ValueError, match="time_of_day"):
        make_sar_scene(64, 64, 0.1, time_of_day="dusk")


def test_ground_sample_distance_from_altitude():
    profile = get_profile("boson640").with_size(320, 256)
    sim = ThermalSimulator(profile, altitude_m=100.0, speed_mps=0.0)
    # GSD = altitude / f, f = (W/2) / tan(HFOV/2)
    assert sim.gsd_m == pytest.approx(100.0 * math.tan(math.radians(25.0)) / 160.0)


def test_simulated_frame_matches_truth(small):
    """Counts -> temperature (emissivity 1, no air) equals the apparent-temperature truth."""
    profile = small[0]
    sim = ThermalSimulator(profile, speed_mps=0.0, seed=2)
    convert = CountsToTemperature(sim.calibration, sim.table)
    temps = np.stack([convert(sim.counts(i / 30)) for i in range(10)])
    truth = sim.truth(0.3).apparent_temperature_c
    error = temps.mean(axis=0) - truth
    assert abs(float(np.nanmean(error))) < 0.02
    assert float(np.nanstd(error)) < 1.5 * profile.netd_k / math.sqrt(10) + 0.01


def test_moving_camera_changes_view_and_is_deterministic(small):
    profile = small[0]
    a = ThermalSimulator(profile, speed_mps=10.0, seed=1)
    b = ThermalSimulator(profile, speed_mps=10.0, seed=1)
    assert a.camera_offset_px(0.0) != a.camera_offset_px(1.0)
    assert np.array_equal(a.counts(0.5), b.counts(0.5))


def test_defects_fixed_pattern_drift_and_bad_pixels(small):
    """Raw output: FPN spatial spread as configured, drift with FPA temperature, bad pixels
    that read 0 or full scale (NaN after conversion)."""
    from thermal_perception.core.physics.sensor import DefectMaps

    profile, table, cal = small
    profile = profile.with_size(256, 200)
    sensor = MicrobolometerModel(profile, cal, table, seed=5, defects=True)
    sensor.noise_sigma_counts = 0.0
    d = sensor.defects
    assert isinstance(d, DefectMaps)
    scene = uniform(table, (profile.height, profile.width), 25.0)
    ref = profile.fpa_reference_c
    counts = sensor.expose(scene, 0.03, ref).astype(float)
    good = ~d.bad
    ideal = float(cal.counts_from_radiance(scene[0, 0]))
    spread = float(np.std(counts[good] - ideal))
    gain_part = profile.fpn_gain_std * (ideal - cal.offset_counts)
    assert spread == pytest.approx(math.hypot(profile.fpn_offset_std_counts, gain_part), rel=0.1)
    warmer = sensor.expose(scene, 0.03, ref + 5.0).astype(float)
    shift = float(np.mean(warmer[good] - counts[good]))
    assert shift == pytest.approx(5.0 * profile.fpa_drift_counts_per_k, rel=0.05)
    assert np.all(counts[d.dead] == 0) and np.all(counts[d.hot] == cal.full_scale_counts)
    converted = CountsToTemperature(cal, table)(sensor.expose(scene, 0.03, ref))
    assert np.isnan(converted[d.dead | d.hot]).all()


def test_flickering_pixels_jump(small):
    profile, table, cal = small
    profile = profile.with_size(400, 300)
    sensor = MicrobolometerModel(profile, cal, table, seed=2, defects=True)
    sensor.noise_sigma_counts = 0.0
    scene = uniform(table, (profile.height, profile.width), 25.0)
    frames = np.stack([sensor.expose(scene, 0.03, profile.fpa_reference_c).astype(float)
                       for _ in range(100)])
    flicker = sensor.defects.flicker
    assert flicker.any()
    # each frame a flickering pixel toggles with probability 0.1: in 100 frames all but
    # a vanishing share (0.9^100) jump by the full amplitude
    jumps = np.ptp(frames[:, flicker], axis=0)
    assert np.all((jumps == 0) | (jumps >= profile.flicker_amplitude_counts - 1))
    assert np.mean(jumps > 0) >= 0.9
    steady = ~sensor.defects.bad
    assert np.all(np.ptp(frames[:, steady], axis=0) <= 1)


def test_netd_tool_recovers_simulated_netd(small):
    """measure_netd_k on frames of a uniform target: within 10 % of the profile's NETD."""
    from thermal_perception.core.physics.sensor import measure_netd_k

    for name in ("lepton35", "boson640"):
        profile = get_profile(name).with_size(120, 96)
        table = small[1]
        cal = LinearCalibration.from_profile(profile, table)
        sensor = MicrobolometerModel(profile, cal, table, seed=11)
        convert = CountsToTemperature(cal, table)
        scene = uniform(table, (profile.height, profile.width), 300.0 - zero_Celsius)
        frames = np.stack([convert(sensor.expose(scene, 1 / 30)) for _ in range(32)])
        assert measure_netd_k(frames) == pytest.approx(profile.netd_k, rel=0.1)
    with pytest.raises(ValueError, match="N>=2"):
        measure_netd_k(frames[:1])


def test_fpa_warms_up_first_order():
    from thermal_perception.core.physics.sensor import fpa_temperature_c

    p = get_profile("boson640")
    assert fpa_temperature_c(p, 10.0, 0.0) == pytest.approx(10.0)
    tau = p.fpa_warmup_time_constant_s
    assert fpa_temperature_c(p, 10.0, tau) == pytest.approx(
        10.0 + p.fpa_warmup_k * (1 - math.exp(-1)))
    assert fpa_temperature_c(p, 10.0, 1e6) == pytest.approx(10.0 + p.fpa_warmup_k)


@pytest.mark.parametrize("scene", ["uav_sar", "road", "building", "fire"])
def test_every_scene_renders_through_the_sensor(scene):
    """Each scene renders to counts whose temperatures follow the apparent truth; flames
    of several hundred C saturate a -40..150 C camera (NaN), smoke attenuates."""
    from thermal_perception.sim.simulator import SCENES

    assert scene in SCENES
    profile = get_profile("boson640").with_size(128, 96)
    sim = ThermalSimulator(profile, scene, altitude_m=30.0, speed_mps=0.0, seed=4)
    convert = CountsToTemperature(sim.calibration, sim.table)
    measured = convert(sim.counts(0.0))
    truth = sim.truth(0.0)
    ok = np.isfinite(measured) & (truth.apparent_temperature_c < 140.0)
    assert ok.mean() > 0.5
    error = measured[ok] - truth.apparent_temperature_c[ok]
    assert abs(float(np.median(error))) < 0.05
    if scene == "fire":
        hot = sim.world.labels == LABELS["fire"]
        assert hot.any() and sim.world.path_transmission is not None
        flames = sim.world_radiance[hot]
        saturated = flames > sim.table.radiance(150.0 + zero_Celsius)
        assert saturated.mean() > 0.5
