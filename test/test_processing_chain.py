"""The processing chain on raw simulated output (fixed-pattern noise, drift, bad pixels):
FFC and two-point NUC bring temperatures back to the scene's truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.constants import zero_Celsius

from thermal_perception.core.correction.chain import ChainConfig, ProcessingChain
from thermal_perception.core.correction.nuc import two_point_nuc
from thermal_perception.core.physics.calibration import CountsToTemperature
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.sim.simulator import ThermalSimulator

SIZE = (160, 128)


@pytest.fixture(scope="module")
def sim():
    profile = get_profile("boson640").with_size(*SIZE)
    return ThermalSimulator(profile, speed_mps=0.0, seed=9, defects=True)


def residual_k(chain, sim, frames=16, time_s=1.0):
    """Mean of ``frames`` frames (after the scene settled on the detector) against the
    apparent truth, on measuring pixels: (mean error, spatial std of the error) in K."""
    times = time_s + np.arange(1, frames + 6) / 30.0  # the camera hovers: a static scene
    temps = np.stack([chain.temperature(sim.counts(t), sim.fpa_temperature_c(t), 1 / 30).copy()
                      for t in times])[5:]
    error = temps.mean(axis=0) - sim.truth(time_s).apparent_temperature_c
    good = ~sim.sensor.defects.bad & np.isfinite(error)
    return float(error[good].mean()), float(error[good].std())


def shutter_ffc(chain, sim, time_s=1.0):
    housing = sim.fpa_temperature_c(time_s) - 2.0
    for _ in range(8):
        chain.shutter_frame(sim.uniform_counts(housing, time_s).copy())
    assert chain.finish_ffc(housing, sim.fpa_temperature_c(time_s))


def converter(sim):
    return CountsToTemperature(sim.calibration, sim.table)


def test_raw_output_is_far_from_truth(sim):
    chain = ProcessingChain(ChainConfig(ffc=False, bad_pixels=False), converter(sim))
    _, spread = residual_k(chain, sim)
    assert spread > 1.0  # about 2 K of offset fixed-pattern noise before any correction


def test_ffc_alone_removes_offsets_and_drift(sim):
    chain = ProcessingChain(ChainConfig(), converter(sim))
    shutter_ffc(chain, sim)
    mean, spread = residual_k(chain, sim)
    # gains stay uncorrected (2 % spread), so pixels off the shutter's temperature keep an
    # error proportional to their difference from it (up to 10 K in this scene)
    assert abs(mean) < 0.1 and spread < 0.3
    assert chain.state.ffc_count == 1


def test_two_point_nuc_then_ffc_reaches_netd(sim, tmp_path):
    """Residual fixed-pattern noise after two-point NUC + FFC is at most the NETD."""
    profile, cal, table = sim.profile, sim.calibration, sim.table
    sensor = sim.sensor
    fpa = sim.fpa_temperature_c(1.0)
    stacks, targets = [], []
    for t_c in (5.0, 45.0):
        radiance = np.full((SIZE[1], SIZE[0]), float(table.radiance(t_c + zero_Celsius)),
                           np.float32)
        sensor.reset()
        stacks.append(np.stack([sensor.expose(radiance, 1 / 30, fpa).copy()
                                for _ in range(32)]))
        targets.append(float(cal.counts_from_radiance(table.radiance(t_c + zero_Celsius))))
    nuc = two_point_nuc(stacks[0], stacks[1], targets[0], targets[1], fpa_c=fpa,
                        full_scale_counts=profile.full_scale_counts, camera=profile.name)
    nuc.save(tmp_path / "nuc")
    sensor.reset()
    chain = ProcessingChain(ChainConfig(nuc_file=str(tmp_path / "nuc")), converter(sim))
    assert chain.state.nuc_source.endswith("nuc")
    shutter_ffc(chain, sim)
    mean, spread = residual_k(chain, sim, frames=32)
    assert abs(mean) < 0.05
    assert spread <= profile.netd_k, f"residual FPN {spread * 1e3:.1f} mK"
    assert chain.state.bad_pixel_count >= int(sim.sensor.defects.bad.sum()) - 1


def test_nuc_table_for_another_size_is_a_clear_error(sim, tmp_path):
    from thermal_perception.core.correction.nuc import NucTable

    NucTable.identity((10, 12)).save(tmp_path / "small")
    chain = ProcessingChain(ChainConfig(nuc_file=str(tmp_path / "small")), converter(sim))
    with pytest.raises(ValueError, match="12x10 frames"):
        chain.temperature(sim.counts(0.0))


def test_known_emissivity_at_10_m_after_nuc(tmp_path):
    """Issue 5: a raw camera 10 m from the scene, two-point NUC + FFC, the scene's emissivity
    map and reflected sky known: mean absolute error against the kinetic truth < 0.2 K."""
    from thermal_perception.core.physics.calibration import MeasurementConditions

    profile = get_profile("boson640").with_size(*SIZE)
    sim = ThermalSimulator(profile, speed_mps=0.0, seed=13, defects=True, altitude_m=10.0,
                           air_temperature_c=12.0)
    fpa = sim.fpa_temperature_c(1.0)
    stacks, targets = [], []
    for t_c in (0.0, 50.0):
        radiance = np.full((SIZE[1], SIZE[0]), float(sim.table.radiance(t_c + zero_Celsius)),
                           np.float32)
        sim.sensor.reset()
        stacks.append(np.stack([sim.sensor.expose(radiance, 1 / 30, fpa).copy()
                                for _ in range(32)]))
        targets.append(float(sim.calibration.counts_from_radiance(
            sim.table.radiance(t_c + zero_Celsius))))
    two_point_nuc(stacks[0], stacks[1], *targets, fpa_c=fpa,
                  full_scale_counts=profile.full_scale_counts).save(tmp_path / "nuc")
    sim.sensor.reset()
    conditions = MeasurementConditions(
        emissivity=0.95, reflected_temperature_c=sim.world.sky_temperature_c,
        atmosphere_temperature_c=12.0, distance_m=10.0, relative_humidity=0.5)
    convert = CountsToTemperature(sim.calibration, sim.table, conditions)
    chain = ProcessingChain(ChainConfig(nuc_file=str(tmp_path / "nuc")), convert)
    shutter_ffc(chain, sim)
    truth = sim.truth(1.0)
    temps = []
    for t in 1.0 + np.arange(1, 12) / 30.0:
        counts = chain.corrected_counts(sim.counts(t), sim.fpa_temperature_c(t), 1 / 30)
        temps.append(convert.with_emissivity_map(counts, truth.emissivity))
    error = np.stack(temps[3:]).mean(axis=0) - truth.temperature_c
    valid = np.isfinite(error)
    assert valid.mean() > 0.99
    mae = float(np.mean(np.abs(error[valid])))
    assert mae < 0.2, f"mean absolute error {mae * 1e3:.0f} mK"


@pytest.mark.parametrize("fpa_c", [1e30, -1e30, np.inf, 500.0])
def test_absurd_fpa_telemetry_is_ignored_not_applied(sim, fpa_c):
    """A broken FPA reading (a garbled status message) means no drift correction, as if the
    FPA temperature were unknown: no overflow, the same image as with NaN."""
    raw = sim.counts(1.0).copy()
    chain = ProcessingChain(ChainConfig(), converter(sim))
    shutter_ffc(chain, sim)
    unknown = chain.temperature(raw, float("nan"), 1 / 30).copy()
    with np.errstate(all="raise"):
        absurd = chain.temperature(raw, fpa_c, 1 / 30).copy()
    np.testing.assert_array_equal(absurd, unknown)
