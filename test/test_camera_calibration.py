"""Camera profiles and the counts <-> temperature conversion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.constants import zero_Celsius

from thermal_perception.core.physics import BandRadianceTable, band_radiance
from thermal_perception.core.physics.calibration import (
    CountsToTemperature,
    LinearCalibration,
    MeasurementConditions,
    noise_sigma_counts,
)
from thermal_perception.core.physics.camera import CameraProfile, get_profile, load_profiles


@pytest.fixture(scope="module")
def boson():
    profile = get_profile("boson640")
    table = BandRadianceTable(profile.band_m)
    return profile, table, LinearCalibration.from_profile(profile, table)


def test_shipped_profiles_load_and_are_consistent():
    profiles = load_profiles()
    assert {"lepton35", "boson640", "vga1280"} <= set(profiles)
    for p in profiles.values():
        assert 0.01 <= p.netd_k <= 0.1
        assert p.band_um == (8.0, 14.0)


def test_focal_length_from_field_of_view():
    p = get_profile("boson640")
    # f = (W / 2) / tan(HFOV / 2): 320 / tan(25 deg) = 686.25 px
    assert p.focal_length_px == pytest.approx(320.0 / math.tan(math.radians(25.0)))


def test_unknown_profile_and_bad_values_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown camera profile 'nope'.*boson640"):
        get_profile("nope")
    values = {k: v for k, v in get_profile("boson640").__dict__.items() if k != "name"}
    with pytest.raises(ValueError, match="rate_hz"):
        CameraProfile(name="x", **{**values, "rate_hz": -1.0})
    with pytest.raises(ValueError, match="unknown keys"):
        CameraProfile.from_dict("x", {**values, "colour": "red"})


def test_calibration_maps_range_onto_counts(boson):
    profile, table, cal = boson
    low, high = (t + zero_Celsius for t in profile.radiometric_range_c)
    assert cal.counts_from_radiance(table.radiance(low)) == pytest.approx(profile.offset_counts)
    top = cal.counts_from_radiance(table.radiance(high))
    assert profile.offset_counts < top < profile.full_scale_counts


def test_lut_inverts_forward_model_to_quantisation(boson):
    """Exact counts of a blackbody at T convert back to T within one count's worth."""
    _, table, cal = boson
    convert = CountsToTemperature(cal, table)
    temps_c = np.linspace(-35.0, 145.0, 361)
    counts = np.rint(cal.counts_from_radiance(table.radiance(temps_c + zero_Celsius)))
    got = convert(counts.astype(np.uint16))
    # one count spans dT = 1 / (gain * dL/dT); rounding is at most half of it
    half_count_k = 0.5 / (cal.gain * table.derivative(temps_c + zero_Celsius))
    assert np.all(np.abs(got - temps_c) <= half_count_k + 1e-4)


def test_lut_uses_independent_planck_integral(boson):
    """Known answer: counts computed here from scipy's quad of Planck's law, not the table."""
    from scipy.constants import c, h, k
    from scipy.integrate import quad

    _, table, cal = boson

    def planck(lam, t):
        return 2 * h * c**2 / lam**5 / math.expm1(h * c / (lam * k * t))

    t_k = 310.15  # 37 C
    radiance = quad(planck, 8e-6, 14e-6, args=(t_k,), epsabs=0, epsrel=1e-10)[0]
    assert radiance == pytest.approx(float(band_radiance(t_k)), rel=1e-7)
    counts = np.array([round(float(cal.counts_from_radiance(radiance)))], np.uint16)
    got = CountsToTemperature(cal, table)(counts)[0]
    assert got == pytest.approx(37.0, abs=0.01)


def test_saturated_and_dead_counts_are_nan(boson):
    profile, table, cal = boson
    convert = CountsToTemperature(cal, table)
    counts = np.array([0, profile.full_scale_counts, 65535, 5000], np.uint16)
    out = convert(counts)
    assert np.isnan(out[:3]).all() and np.isfinite(out[3])
    with pytest.raises(TypeError, match="uint16"):
        convert(counts.astype(np.int32))


@settings(max_examples=40, deadline=None)
@given(eps=st.floats(0.3, 1.0), t_obj=st.floats(-20.0, 120.0), t_refl=st.floats(-40.0, 40.0),
       distance=st.floats(0.0, 500.0), rh=st.floats(0.0, 1.0))
def test_measurement_equation_round_trip(boson, eps, t_obj, t_refl, distance, rh):
    """Forward: counts of an object seen through air; inverse LUT gives its temperature."""
    from thermal_perception.core.physics import measured_radiance

    _, table, cal = boson
    cond = MeasurementConditions(emissivity=eps, reflected_temperature_c=t_refl,
                                 atmosphere_temperature_c=10.0, distance_m=distance,
                                 relative_humidity=rh)
    backgrounds = cond.background_signals(table)
    backgrounds.pop("window_radiance")
    backgrounds.pop("window_reflected_radiance")
    w = measured_radiance(table.radiance(t_obj + zero_Celsius), emissivity=eps,
                          tau_atm=cond.atmospheric_transmission(), **backgrounds)
    counts = np.array([round(float(cal.counts_from_radiance(w)))], np.uint16)
    got = float(CountsToTemperature(cal, table, cond)(counts)[0])
    # quantisation (half a count) is amplified by 1 / (eps * tau) in the inverse
    half_count_k = 0.5 / (cal.gain * float(table.derivative(t_obj + zero_Celsius)))
    tol = half_count_k / (eps * cond.atmospheric_transmission()) + 2e-3
    assert got == pytest.approx(t_obj, abs=tol)


def test_bad_conditions_rejected():
    with pytest.raises(ValueError, match="emissivity"):
        MeasurementConditions(emissivity=0.0)
    with pytest.raises(ValueError, match="relative_humidity"):
        MeasurementConditions(relative_humidity=30.0)


def test_noise_sigma_matches_netd(boson):
    profile, table, cal = boson
    sigma = noise_sigma_counts(cal, table, profile.netd_k)
    # sigma counts / (gain * dL/dT at 300 K) == NETD
    assert sigma / (cal.gain * float(table.derivative(300.0))) == pytest.approx(profile.netd_k)
