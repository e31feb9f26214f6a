"""Radiometric models (linear radiance, FLIR Planck, TLinear, Optris, gain/offset), their
round trips, the measurement-equation inversion and the per-pixel uncertainty."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FLIR_DATA
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.constants import zero_Celsius

from thermal_perception.core.physics import (
    BandRadianceTable,
    FlirPlanck,
    flir_raw_to_temperature_c,
    measured_radiance,
)
from thermal_perception.core.physics.calibration import (
    CountsToTemperature,
    LinearCalibration,
    MeasurementConditions,
    UncertaintyInputs,
    fit_linear_calibration,
    make_model,
)
from thermal_perception.core.physics.camera import get_profile

# FLIR Duo Pro R constants of the recording in data/flir (frame_000000.txt, exiftool)
DUO_PRO_R = {"R1": 364058.0, "R2": 1.0, "B": 1428.0, "F": 1.0, "O": -228.0}


@pytest.fixture(scope="module")
def table():
    return BandRadianceTable()


@pytest.fixture(scope="module")
def models(table):
    profile = get_profile("boson640")
    return {
        "linear_radiance": make_model("linear_radiance", table, profile=profile),
        "flir_planck": make_model("flir_planck", table, **DUO_PRO_R),
        "tlinear": make_model("tlinear", table),
        "optris": make_model("optris", table),
        "gain_offset": make_model("gain_offset", table, gain_k_per_count=0.04, offset_c=-50.0),
    }


def test_linear_temperature_outputs_known_answers(table):
    """Blackbody conditions: TLinear 30015 counts = 300.15 K = 27.00 C (Lepton/Boson
    datasheets: kelvin x 100); Optris 1250 counts = (1250 - 1000) / 10 = 25.0 C."""
    tlinear = CountsToTemperature(make_model("tlinear", table))
    optris = CountsToTemperature(make_model("optris", table))
    assert tlinear(np.array([30015], np.uint16))[0] == pytest.approx(27.0, abs=1e-4)
    assert optris(np.array([1250], np.uint16))[0] == pytest.approx(25.0, abs=1e-4)


@settings(max_examples=60, deadline=None)
@given(t_c=st.floats(-40.0, 1500.0))
@pytest.mark.parametrize("name", ["linear_radiance", "flir_planck", "tlinear", "gain_offset"])
def test_temperature_counts_temperature_round_trip(models, name, t_c):
    """T -> counts -> T within 1 mK over -40..1500 C (float counts: no quantisation/saturation)."""
    model = models[name]
    t_k = np.array([t_c + zero_Celsius])
    counts = model.counts_from_signal(model.signal_from_temperature_k(t_k))
    back = model.temperature_k_from_signal(model.signal_from_counts(counts))
    assert float(back[0]) == pytest.approx(t_k[0], abs=1e-3)


@settings(max_examples=80, deadline=None)
@given(eps=st.floats(0.3, 1.0), t_obj=st.floats(-40.0, 1000.0), t_refl=st.floats(-40.0, 60.0),
       distance=st.floats(0.0, 1000.0), rh=st.floats(0.0, 1.0), t_air=st.floats(-30.0, 40.0))
def test_measurement_equation_inversion_recovers_object(models, eps, t_obj, t_refl, distance,
                                                        rh, t_air):
    """Forward equation, then inversion: object temperature within 0.01 K for eps 0.3..1,
    distance 0..1000 m, RH 0..100 %."""
    model = models["linear_radiance"]
    cond = MeasurementConditions(emissivity=eps, reflected_temperature_c=t_refl,
                                 atmosphere_temperature_c=t_air, distance_m=distance,
                                 relative_humidity=rh)
    bg = cond.background_signals(model)
    bg.pop("window_radiance")
    bg.pop("window_reflected_radiance")
    w = measured_radiance(model.signal_from_temperature_k(t_obj + zero_Celsius), emissivity=eps,
                          tau_atm=cond.atmospheric_transmission(), **bg)
    got = float(CountsToTemperature(model, conditions=cond).object_temperature_c(w))
    assert got == pytest.approx(t_obj, abs=0.01)


def test_blackbody_case_is_identity(models):
    """eps = 1 and d = 0: the equation reduces to the blackbody case (object = apparent)."""
    model = models["linear_radiance"]
    counts = np.arange(2000, 15000, 500, dtype=np.uint16)
    plain = CountsToTemperature(model)(counts)
    apparent = model.temperature_k_from_signal(model.signal_from_counts(counts)) - zero_Celsius
    assert np.allclose(plain, apparent, atol=1e-4)


def test_flir_model_matches_vendor_formula_on_real_camera_constants(table):
    """Our LUT with FLIR's constants equals the community FLIR formula (ExifTool/Thermimage,
    implemented independently in radiometry.flir_raw_to_temperature_c) without atmosphere."""
    planck = FlirPlanck(**DUO_PRO_R)
    raw = np.arange(2600, 2760, dtype=np.uint16)
    cond = MeasurementConditions(emissivity=0.94, reflected_temperature_c=20.0)
    ours = CountsToTemperature(make_model("flir_planck", table, **DUO_PRO_R), conditions=cond)
    vendor = flir_raw_to_temperature_c(raw.astype(float), planck, emissivity=0.94,
                                       object_distance_m=0.0, reflected_c=20.0)
    assert np.max(np.abs(ours(raw) - vendor)) < 0.01
    # with the air path and a window the LUT is the vendor equation itself
    full = MeasurementConditions(emissivity=0.94, reflected_temperature_c=20.0, distance_m=50.0,
                                 relative_humidity=0.3, window_temperature_c=22.0,
                                 window_transmission=0.9, atmosphere_temperature_c=20.0)
    ours = CountsToTemperature(make_model("flir_planck", table, **DUO_PRO_R), conditions=full)
    vendor = flir_raw_to_temperature_c(raw.astype(float), planck, 0.94, 50.0, 20.0, 20.0, 22.0,
                                       0.9, 0.3)
    assert np.max(np.abs(ours(raw) - vendor)) < 1e-4
    # flirpy's sample frame: raw median 2681 reads 9-13 C (data/flir/README.md)
    assert 9.0 < float(ours(np.array([2681], np.uint16))[0]) < 13.0


@pytest.mark.skipif(not (FLIR_DATA / "frame_000000.fff").exists(),
                    reason=f"real FLIR data not present at {FLIR_DATA}")
def test_flir_recording_temperatures_are_plausible(table):
    from thermal_perception.io.flir import read_fff, read_seq

    record = read_fff(FLIR_DATA / "frame_000000.fff")
    raw, meta = record.raw, record.metadata
    model = make_model("flir_planck", table, **{k: meta[k] for k in DUO_PRO_R})
    cond = MeasurementConditions(emissivity=0.94, reflected_temperature_c=20.0)
    temps = CountsToTemperature(model, conditions=cond)(raw.astype(np.uint16))
    assert temps.shape == (512, 640)
    assert 5.0 < float(np.nanmedian(temps)) < 15.0
    frames = list(read_seq(FLIR_DATA / "test.seq"))
    assert len(frames) == 7 and all(f.raw.shape == (512, 640) for f in frames)


def test_fit_linear_calibration_from_blackbody_frames(table):
    """Five simulated blackbody references recover the camera's calibration."""
    from thermal_perception.core.physics.sensor import MicrobolometerModel

    profile = get_profile("boson640").with_size(64, 48)
    truth = LinearCalibration.from_profile(profile, table)
    sensor = MicrobolometerModel(profile, truth, table, seed=1)
    temps_c = np.array([0.0, 20.0, 40.0, 70.0, 120.0])
    means = []
    for t in temps_c:
        sensor.reset()
        scene = np.full((48, 64), float(table.radiance(t + zero_Celsius)), np.float32)
        means.append(np.mean([sensor.expose(scene, 0.03).mean() for _ in range(8)]))
    fitted, rms_k = fit_linear_calibration(means, temps_c, table, profile.full_scale_counts)
    assert fitted.gain == pytest.approx(truth.gain, rel=1e-3)
    assert rms_k < 0.01
    with pytest.raises(ValueError, match="at least two"):
        fit_linear_calibration([1000.0], [20.0], table)


def test_uncertainty_matches_monte_carlo(models):
    """First-order sigma_T equals the spread of temperatures when noise, emissivity and the
    reflected temperature are drawn from their distributions."""
    model = models["linear_radiance"]
    rng = np.random.default_rng(0)
    eps, t_refl, t_obj = 0.85, 5.0, 45.0
    inputs = UncertaintyInputs(netd_k=0.05, emissivity_sigma=0.02,
                               reflected_temperature_sigma_k=3.0)
    cond = MeasurementConditions(emissivity=eps, reflected_temperature_c=t_refl)
    conv = CountsToTemperature(model, conditions=cond, uncertainty=inputs)
    w = measured_radiance(model.signal_from_temperature_k(t_obj + zero_Celsius), eps,
                          model.signal_from_temperature_k(t_refl + zero_Celsius), 0.0, 1.0)
    n = 20000
    noise = rng.normal(0, inputs.netd_k * float(model.signal_derivative(300.0)), n)
    eps_draw = np.clip(rng.normal(eps, inputs.emissivity_sigma, n), 0.01, 1.0)
    refl_draw = rng.normal(t_refl, inputs.reflected_temperature_sigma_k, n)
    # the truth varies; the processor assumes the nominal eps and reflected temperature,
    # so compute the measured signal with the drawn values and invert with nominal ones
    w_draw = eps_draw * model.signal_from_temperature_k(t_obj + zero_Celsius) + (
        1 - eps_draw) * model.signal_from_temperature_k(refl_draw + zero_Celsius) + noise
    spread = float(np.std(conv.object_temperature_c(w_draw)))
    counts = np.array([round(float(model.counts_from_signal(np.array([w]))[0]))], np.uint16)
    sigma = float(conv.uncertainty(counts)[0])
    assert sigma == pytest.approx(spread, rel=0.1)
    assert sigma > inputs.netd_k  # emissivity and reflection dominate at eps 0.85


def test_emissivity_map_equals_scalar_path(models):
    model = models["linear_radiance"]
    cond = MeasurementConditions(emissivity=0.9, reflected_temperature_c=-10.0,
                                 distance_m=30.0, atmosphere_temperature_c=10.0)
    conv = CountsToTemperature(model, conditions=cond)
    counts = np.random.default_rng(1).integers(1500, 9000, (40, 50)).astype(np.uint16)
    by_map = conv.with_emissivity_map(counts, np.full(counts.shape, 0.9))
    assert np.allclose(by_map, conv(counts), atol=2e-3)
    half = np.where(np.arange(50) < 25, 0.9, 0.5)[None, :].repeat(40, 0)
    mixed = conv.with_emissivity_map(counts, half)
    assert np.allclose(mixed[:, :25], conv(counts)[:, :25], atol=2e-3)
    # lower emissivity: the object differs more from what it reflects (-10 C)
    assert np.all(np.abs(mixed[:, 25:] + 10.0) > np.abs(conv(counts)[:, 25:] + 10.0))
    with pytest.raises(ValueError, match="does not match"):
        conv.with_emissivity_map(counts, np.ones((3, 3)))


def test_unknown_model_and_missing_constants(table):
    with pytest.raises(ValueError, match="unknown radiometric model"):
        make_model("magic", table)
    with pytest.raises(ValueError, match="constants"):
        make_model("flir_planck", table, R1=1.0)
