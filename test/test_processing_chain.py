"""The processing chain on raw simulated output (fixed-pattern noise, drift, bad pixels):
FFC and two-point NUC bring temperatures back to the scene's truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.constants import zero_Celsius

from thermal_perception.core.calibration import CountsToTemperature
from thermal_perception.core.camera import get_profile
from thermal_perception.core.nuc import two_point_nuc
from thermal_perception.core.pipeline import ChainConfig, ProcessingChain
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
    from thermal_perception.core.nuc import NucTable

    NucTable.identity((10, 12)).save(tmp_path / "small")
    chain = ProcessingChain(ChainConfig(nuc_file=str(tmp_path / "small")), converter(sim))
    with pytest.raises(ValueError, match="12x10 frames"):
        chain.temperature(sim.counts(0.0))
