"""Known-answer tests for thermal_perception.core.physics (planck, band, measurement,
vendor).

Each expected number says where it comes from: CODATA 2018 (as printed in the CODATA tables,
independent of scipy's copy), closed-form formulas evaluated here with the ``math`` module,
an independent series for the Planck fractional function, a textbook table, and a real FLIR
recording (flirpy's test data, see ../data/flir/README.md).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import constants as sc
from scipy import integrate, optimize

import thermal_perception.core.physics as rad

ZERO_C = sc.zero_Celsius
FLIR_DIR = Path(__file__).resolve().parents[1] / "data" / "flir"
# flirpy sample camera (FLIR Duo Pro R), from frame_000000.txt (exiftool output).
DUO_PRO_R = rad.FlirPlanck(R1=364058.0, R2=1.0, B=1428.0, F=1.0, O=-228.0)


@pytest.fixture(scope="module")
def table() -> rad.BandRadianceTable:
    return rad.BandRadianceTable()


def fractional_function(lambda_t_m_k: float, c2_m_k: float, terms: int = 100) -> float:
    """Blackbody fraction F(0 -> lambda T), series 15/pi^4 sum e^{-nx}/n (x^3 + 3x^2/n + ...).

    Independent of the module under test (pure ``math``; e.g. Siegel & Howell, Thermal
    Radiation Heat Transfer, or Incropera eq. 12.30 ff.).
    """
    x = c2_m_k / lambda_t_m_k
    total = 0.0
    for n in range(1, terms + 1):
        total += math.exp(-n * x) / n * (x**3 + 3 * x**2 / n + 6 * x / n**2 + 6 / n**3)
    return 15.0 / math.pi**4 * total


# ------------------------------------------------------------------------------------------
# Constants and Planck's law
# ------------------------------------------------------------------------------------------


def test_radiation_constants_match_codata() -> None:
    # CODATA 2018 "first radiation constant for spectral radiance" c1L = 2hc^2
    # = 1.191 042 972... e-16 W m^2 sr^-1 and "second radiation constant" c2 = hc/k
    # = 1.438 776 877... e-2 m K (exact since the 2019 SI redefinition; values typed from the
    # NIST CODATA table, not taken from scipy).
    assert math.isclose(rad.C1L, 1.191042972e-16, rel_tol=1e-9)
    assert math.isclose(rad.C2, 1.438776877e-2, rel_tol=1e-9)
    scipy_c1l = sc.physical_constants["first radiation constant for spectral radiance"][0]
    assert math.isclose(rad.C1L, scipy_c1l, rel_tol=1e-12)


def test_wien_displacement_constant() -> None:
    # CODATA 2018 Wien wavelength displacement constant b = 2.897 771 955e-3 m K; scipy has it
    # as scipy.constants.Wien. Independently, b = c2 / x where x solves x = 5 (1 - e^-x)
    # (maximum of Planck's law per unit wavelength).
    x = optimize.brentq(lambda x: x - 5.0 * (1.0 - math.exp(-x)), 1.0, 10.0, xtol=1e-15)
    assert sc.Wien == pytest.approx(2.897771955e-3, rel=1e-9)
    assert rad.C2 / x == pytest.approx(2.897771955e-3, rel=1e-9)
    # The peak of our Planck function (bounded optimiser) sits at b / T.
    for t in (300.0, 5772.0):
        res = optimize.minimize_scalar(
            lambda lam, t=t: -rad.planck_spectral_radiance(lam * 1e-6, t),
            bounds=(0.1, 30.0),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert res.x * 1e-6 == pytest.approx(rad.wien_peak_wavelength_m(t), rel=1e-6)


def test_planck_300k_at_10um() -> None:
    # Textbook value: a 300 K blackbody at 10 um emits ~9.92 W/(m^2 sr um) = 9.92e6 in SI
    # (e.g. SpectralCalc's blackbody calculator: 9.9240 W/(m^2 sr um)). The closed form below is
    # Planck's law with the exact SI 2019 constants, typed in here.
    h, c, k = 6.62607015e-34, 299792458.0, 1.380649e-23
    lam, t = 10e-6, 300.0
    closed_form = 2 * h * c**2 / lam**5 / (math.exp(h * c / (lam * k * t)) - 1.0)
    assert rad.planck_spectral_radiance(lam, t) == pytest.approx(closed_form, rel=1e-13)
    assert rad.planck_spectral_radiance(lam, t) == pytest.approx(9.924e6, rel=1e-3)


def test_planck_limits_and_no_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lam = np.array([1e-9, 1e-7, 10e-6, 1e-2])
        cold = rad.planck_spectral_radiance(lam, 0.0)
        assert np.all(cold == 0.0)
        assert np.all(rad.planck_spectral_radiance(lam, 1e-300) == 0.0)
        tiny = rad.planck_spectral_radiance(1e-7, 10.0)  # x ~ 14000: underflows, no overflow
        assert tiny == 0.0
        assert np.isnan(rad.planck_spectral_radiance(10e-6, -1.0))
        assert np.all(np.isfinite(rad.planck_spectral_radiance_derivative(lam, [[0.0], [50.0]])))
    # Rayleigh-Jeans limit for c2/(lambda T) -> 0: L -> 2 c k T / lambda^4.
    lam, t = 1e-2, 1e6
    assert rad.planck_spectral_radiance(lam, t) == pytest.approx(
        2 * sc.c * sc.k * t / lam**4, rel=1e-3
    )
    # Broadcasting (3,) x (2, 1) -> (2, 3).
    assert np.shape(rad.planck_spectral_radiance(lam * np.ones(3), np.ones((2, 1)))) == (2, 3)


def test_spectral_derivative_matches_finite_difference() -> None:
    lam = np.array([8e-6, 10e-6, 14e-6])
    t, dt = 300.0, 1e-3
    fd = (rad.planck_spectral_radiance(lam, t + dt) - rad.planck_spectral_radiance(lam, t - dt)) / (
        2 * dt
    )
    np.testing.assert_allclose(rad.planck_spectral_radiance_derivative(lam, t), fd, rtol=1e-8)


# ------------------------------------------------------------------------------------------
# Band radiance
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [300.0, 1000.0, 3000.0])
def test_wide_band_equals_stefan_boltzmann(t: float) -> None:
    # Integral of Planck over (almost) all wavelengths = sigma T^4 / pi
    # (sigma = scipy.constants.Stefan_Boltzmann, CODATA). The part outside 0.1 um .. 10 cm is
    # < 1e-11 of the total at these temperatures.
    got = rad.band_radiance(t, band_m=(1e-7, 1e-1), samples=512)
    assert got == pytest.approx(sc.Stefan_Boltzmann * t**4 / sc.pi, rel=1e-9)
    assert rad.stefan_boltzmann_radiance(t) == pytest.approx(sc.Stefan_Boltzmann * t**4 / math.pi)


def test_lwir_fraction_at_300k_known_answer() -> None:
    # Fraction of blackbody emission in 8-14 um at 300 K = F(0->4200 um K) - F(0->2400 um K).
    # Incropera & DeWitt, Fundamentals of Heat and Mass Transfer, blackbody radiation functions
    # table (C2 = 14 388 um K): F(2400) = 0.140256, F(4200) = 0.516014 -> 0.375758.
    # Our independent series (function above) reproduces the table with the table's C2 to
    # 2.6e-5 (F(2400): 6.6e-6, F(4200): 2.6e-5): the printed table carries small errors of its
    # own (an adaptive quadrature of x^3/(e^x - 1) agrees with the series to 1e-15, below).
    table_c2 = 14388e-6
    f2400, f4200 = fractional_function(2400e-6, table_c2), fractional_function(4200e-6, table_c2)
    assert f2400 == pytest.approx(0.140256, abs=1e-5)
    assert f4200 == pytest.approx(0.516014, abs=3e-5)
    assert f4200 - f2400 == pytest.approx(0.375758, abs=3e-5)

    # Series vs quadrature of F = 15/pi^4 int_x^inf t^3/(e^t - 1) dt (validates the series).
    x = rad.C2 / 4200e-6
    integral, _ = integrate.quad(
        lambda u: u**3 * math.exp(-u) / -math.expm1(-u), x, 200.0, epsabs=0, epsrel=1e-13
    )
    quad_f = 15 / math.pi**4 * integral
    assert fractional_function(4200e-6, rad.C2) == pytest.approx(quad_f, abs=1e-13)

    # The module's band integral, normalised by sigma T^4 / pi, equals the series with the
    # CODATA c2 (8 um * 300 K = 2400 um K, 14 um * 300 K = 4200 um K).
    t = 300.0
    fraction = rad.band_radiance(t, (8e-6, 14e-6)) / rad.stefan_boltzmann_radiance(t)
    expected = fractional_function(4200e-6, rad.C2) - fractional_function(2400e-6, rad.C2)
    assert fraction == pytest.approx(expected, abs=1e-12)
    assert fraction == pytest.approx(0.3757, abs=1e-4)


@pytest.mark.parametrize("t", [213.15, 250.0, 300.0, 500.0, 1000.0, 1873.15])
def test_band_radiance_vs_adaptive_quadrature(t: float) -> None:
    # Accuracy claim of the module: < 1e-6 relative; measured ~1e-15.
    ref = integrate.quad(
        lambda lam: rad.planck_spectral_radiance(lam, t), 8e-6, 14e-6, epsabs=0, epsrel=1e-13
    )[0]
    assert rad.band_radiance(t) == pytest.approx(ref, rel=1e-12)


def test_band_radiance_shapes_and_response() -> None:
    t = np.array([[250.0, 300.0], [350.0, 400.0]])
    full = rad.band_radiance(t)
    assert full.shape == (2, 2)
    assert isinstance(rad.band_radiance(300.0), float)
    # Constant callable response scales linearly.
    np.testing.assert_allclose(rad.band_radiance(t, response=lambda lam: 0.5), 0.5 * full)
    # Tabulated triangular response: compare with adaptive quadrature of the interpolated
    # integrand (the quadrature splits its panels at the knots, so it is exact-to-rounding).
    wl = np.array([7e-6, 9e-6, 10.5e-6, 13e-6])
    resp = np.array([0.0, 1.0, 0.8, 0.1])
    got = rad.band_radiance(300.0, response=(wl, resp))

    def integrand(lam: float) -> float:
        return np.interp(lam, wl, resp, left=0, right=0) * rad.planck_spectral_radiance(lam, 300.0)

    ref = integrate.quad(
        integrand,
        8e-6,
        14e-6,
        points=[9e-6, 10.5e-6, 13e-6],
        epsabs=0,
        epsrel=1e-12,
        limit=200,
    )[0]
    assert got == pytest.approx(ref, rel=1e-10)
    with pytest.raises(ValueError, match="increasing"):
        rad.band_radiance(300.0, response=(wl[::-1], resp))
    with pytest.raises(ValueError, match="band_m"):
        rad.band_radiance(300.0, band_m=(14e-6, 8e-6))


def test_band_derivative_matches_finite_difference() -> None:
    t = np.array([233.15, 300.0, 1000.0])
    dt = 1e-3
    fd = (rad.band_radiance(t + dt) - rad.band_radiance(t - dt)) / (2 * dt)
    np.testing.assert_allclose(rad.band_radiance_derivative(t), fd, rtol=1e-7)


# ------------------------------------------------------------------------------------------
# BandRadianceTable
# ------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(t_c=st.floats(min_value=-40.0, max_value=1500.0))
def test_table_inverse_round_trip_hypothesis(table: rad.BandRadianceTable, t_c: float) -> None:
    t_k = t_c + ZERO_C
    exact = rad.band_radiance(t_k)
    assert abs(table.temperature_k(exact) - t_k) < 1e-3  # < 1 mK
    assert table.radiance(t_k) == pytest.approx(exact, rel=1e-6)


def test_table_accuracy_dense(table: rad.BandRadianceTable) -> None:
    t = np.linspace(ZERO_C - 40.0, ZERO_C + 1500.0, 20001)
    exact = rad.band_radiance(t)
    err_mk = np.abs(table.temperature_k(exact) - t).max() * 1e3
    assert err_mk < 0.1  # measured 0.02 mK with the default size
    np.testing.assert_allclose(table.radiance(t), exact, rtol=1e-6)
    np.testing.assert_allclose(table.derivative(t), rad.band_radiance_derivative(t), rtol=1e-6)


def test_table_out_of_range_is_nan(table: rad.BandRadianceTable) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = table.radiance_min, table.radiance_max
        got = table.temperature_k(np.array([np.nan, -1.0, 0.0, 0.99 * lo, 1.01 * hi, lo, hi]))
        assert np.all(np.isnan(got[:5]))
        assert got[5] == pytest.approx(table.t_min_k)
        assert got[6] == pytest.approx(table.t_max_k)
        fwd = table.radiance(np.array([table.t_min_k - 1.0, np.nan, table.t_max_k + 1.0]))
        assert np.all(np.isnan(fwd))
        assert np.isnan(table.derivative(0.0))
    assert table.t_min_k == pytest.approx(ZERO_C - 60.0)
    assert table.t_max_k == pytest.approx(ZERO_C + 1600.0)


def test_table_out_buffer_float32(table: rad.BandRadianceTable) -> None:
    rng = np.random.default_rng(1)
    t = rng.uniform(ZERO_C - 20.0, ZERO_C + 120.0, (48, 64))
    radiance = rad.band_radiance(t).astype(np.float32)
    out = np.empty((48, 64), np.float32)
    assert table.temperature_k(radiance, out=out) is out
    # float32 radiance carries ~6e-8 relative error, i.e. ~5 uK at 300 K; 1 mK is ample.
    np.testing.assert_allclose(out, t, atol=1e-3)
    # In place: temperature written over the radiance buffer.
    table.temperature_k(radiance, out=radiance)
    np.testing.assert_allclose(radiance, t, atol=1e-3)


def test_table_with_response_matches_direct_integral() -> None:
    wl = np.array([7.5e-6, 8e-6, 13.5e-6, 14e-6])
    resp = np.array([0.0, 1.0, 1.0, 0.0])
    tab = rad.BandRadianceTable((7.5e-6, 14e-6), response=(wl, resp), size=4096)
    t = np.linspace(ZERO_C - 40.0, ZERO_C + 200.0, 101)
    exact = rad.band_radiance(t, (7.5e-6, 14e-6), response=(wl, resp))
    assert np.abs(tab.temperature_k(exact) - t).max() < 1e-3


# ------------------------------------------------------------------------------------------
# Atmosphere and measurement equation
# ------------------------------------------------------------------------------------------


def test_atmospheric_transmission_known_value() -> None:
    # Hand calculation of FLIR's model for d = 50 m, RH = 30 %, T = 20 C with the constants
    # of the flirpy sample file (frame_000000.txt: X 1.9, Alpha1 0.006569, Alpha2 0.01262,
    # Beta1 -0.002276, Beta2 -0.00667):
    #   H2O = 0.3 * exp(1.5587 + 0.06939*20 - 0.00027816*400 + 6.8455e-7*8000)
    #       = 0.3 * exp(2.84072...) = 5.13839
    #   sqrt(H2O) = 2.26680, sqrt(d) = 7.07107
    #   k1 = 0.006569 - 0.002276 * 2.26680 = 0.0014097
    #   k2 = 0.01262  - 0.00667  * 2.26680 = -0.0025016
    #   tau = 1.9 exp(-7.07107 k1) - 0.9 exp(-7.07107 k2) = 1.9 * 0.990081 - 0.9 * 1.017851
    #       = 0.96511
    h2o = 0.3 * math.exp(1.5587 + 0.06939 * 20 - 0.00027816 * 20**2 + 6.8455e-7 * 20**3)
    assert h2o == pytest.approx(5.13839, rel=1e-5)
    got = rad.atmospheric_transmission(50.0, 0.3, 20.0)
    assert got == pytest.approx(0.96511, abs=1e-5)


def test_atmospheric_transmission_behaviour() -> None:
    assert rad.atmospheric_transmission(0.0, 0.5, 20.0) == pytest.approx(1.0, abs=1e-15)
    d = np.array([0.0, 1.0, 10.0, 100.0, 1000.0])
    tau_d = rad.atmospheric_transmission(d, 0.5, 20.0)
    assert np.all(np.diff(tau_d) < 0)
    rh = np.linspace(0.0, 1.0, 11)
    tau_rh = rad.atmospheric_transmission(100.0, rh, 20.0)
    assert np.all(np.diff(tau_rh) < 0)
    assert np.all((tau_rh > 0) & (tau_rh <= 1))
    with pytest.raises(ValueError, match="fraction"):
        rad.atmospheric_transmission(10.0, 30.0, 20.0)  # percent by mistake
    with pytest.raises(ValueError, match="distance"):
        rad.atmospheric_transmission(-1.0, 0.3, 20.0)


@settings(max_examples=100, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=6),
    seed=st.integers(0, 2**32 - 1),
    tau_atm=st.floats(0.3, 1.0),
    window_transmission=st.floats(0.2, 1.0),
    window_reflection_share=st.floats(0.0, 1.0),
)
def test_measurement_equation_round_trip(
    shape: tuple[int, ...],
    seed: int,
    tau_atm: float,
    window_transmission: float,
    window_reflection_share: float,
) -> None:
    rng = np.random.default_rng(seed)
    eps = rng.uniform(0.1, 1.0, shape)  # per-pixel emissivity
    b_obj = rng.uniform(1.0, 500.0, shape)
    window_reflection = window_reflection_share * (1.0 - window_transmission)
    kwargs = {
        "emissivity": eps,
        "reflected_radiance": 30.0,
        "atmosphere_radiance": 35.0,
        "tau_atm": tau_atm,
        "window_radiance": 40.0,
        "window_transmission": window_transmission,
        "window_reflection": window_reflection,
        "window_reflected_radiance": 25.0,
    }
    w = rad.measured_radiance(b_obj, **kwargs)
    assert w.shape == shape
    np.testing.assert_allclose(rad.object_radiance(w, **kwargs), b_obj, rtol=1e-9)
    # Energy bookkeeping: all sources at the same radiance -> the same radiance arrives
    # (here the window reflects a source at that radiance too).
    same = {
        **kwargs,
        "reflected_radiance": 7.0,
        "atmosphere_radiance": 7.0,
        "window_radiance": 7.0,
        "window_reflected_radiance": 7.0,
    }
    np.testing.assert_allclose(rad.measured_radiance(7.0, **same), 7.0, rtol=1e-12)


def test_measurement_equation_identity_and_out() -> None:
    b = np.linspace(1.0, 10.0, 12).reshape(3, 4)
    np.testing.assert_allclose(rad.object_radiance(b, 1.0, 5.0, 5.0, 1.0), b)
    out = np.empty_like(b)
    assert rad.object_radiance(b, 0.9, 5.0, 5.0, 0.95, out=out) is out
    # Scalar measured value broadcast against a per-pixel emissivity map.
    eps = np.full((2, 3), 0.5)
    assert rad.object_radiance(10.0, eps, 4.0, 4.0, 1.0).shape == (2, 3)


@pytest.mark.parametrize("eps", [0.0, -0.1, 1.01, np.nan, np.array([0.5, 0.0])])
def test_emissivity_out_of_range_raises(eps: object) -> None:
    with pytest.raises(ValueError, match="emissivity must be in \\(0, 1\\]"):
        rad.object_radiance(10.0, eps, 4.0, 4.0, 1.0)
    with pytest.raises(ValueError, match="emissivity"):
        rad.measured_radiance(10.0, eps, 4.0, 4.0, 1.0)


# ------------------------------------------------------------------------------------------
# FLIR raw domain
# ------------------------------------------------------------------------------------------


def test_flir_planck_known_value_and_round_trip() -> None:
    # Hand calculation: S(20 C) = R1 / (R2 (exp(B / 293.15) - F)) - O
    #   = 364058 / (exp(4.871226) - 1) + 228 = 364058 / 129.4884 + 228 = 3039.67
    assert DUO_PRO_R.counts_from_temperature_k(293.15) == pytest.approx(3039.67, abs=0.01)
    t = np.linspace(ZERO_C - 60.0, ZERO_C + 150.0, 500)
    s = DUO_PRO_R.counts_from_temperature_k(t)
    np.testing.assert_allclose(DUO_PRO_R.temperature_k_from_counts(s), t, rtol=1e-12)
    assert np.all(np.diff(s) > 0)
    other = rad.FlirPlanck(R1=21106.77, R2=0.012545258, B=1501.0, F=1.0, O=-7340.0)  # SC660
    np.testing.assert_allclose(
        other.temperature_k_from_counts(other.counts_from_temperature_k(t)), t, rtol=1e-12
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(DUO_PRO_R.temperature_k_from_counts(100.0))  # S + O < 0: no model


def test_flir_raw_simple_cases() -> None:
    raw = np.array([2617.0, 2681.0, 2739.0])
    # Emissivity 1, no distance, no window: plain vendor formula.
    np.testing.assert_allclose(
        rad.flir_raw_to_temperature_c(raw, DUO_PRO_R, 1.0, 0.0),
        DUO_PRO_R.temperature_k_from_counts(raw) - ZERO_C,
        rtol=1e-12,
    )
    # An object at the reflected/air/window temperature reads that temperature for any
    # emissivity, distance and window.
    s20 = DUO_PRO_R.counts_from_temperature_k(ZERO_C + 20.0)
    got = rad.flir_raw_to_temperature_c(
        s20, DUO_PRO_R, np.array([0.2, 0.6, 1.0]), 300.0, 20.0, 20.0, 20.0, 0.7, 0.8
    )
    np.testing.assert_allclose(got, 20.0, atol=1e-9)


def test_flir_raw_matches_radiance_domain_equation() -> None:
    # The raw-domain formula is the measurement equation with "radiance" = raw signal:
    # forward with measured_radiance (object -> air 1 -> window -> air 2), invert, compare.
    eps, dist, rh = 0.8, 40.0, 0.6
    tw, rw = 0.85, 0.05
    t_obj = np.array([-10.0, 25.0, 80.0])
    s = DUO_PRO_R.counts_from_temperature_k
    tau = rad.atmospheric_transmission(dist / 2, rh, 15.0)
    behind_window = rad.measured_radiance(
        s(t_obj + ZERO_C), eps, s(ZERO_C + 5.0), s(ZERO_C + 15.0), tau
    )
    # Window and second air path, again via the measurement equation (emissivity 1 object).
    at_camera = rad.measured_radiance(
        behind_window, 1.0, 0.0, 0.0, 1.0, s(ZERO_C + 30.0), tw, rw, s(ZERO_C + 5.0)
    )
    at_camera = tau * at_camera + (1 - tau) * s(ZERO_C + 15.0)
    got = rad.flir_raw_to_temperature_c(
        at_camera, DUO_PRO_R, eps, dist, 5.0, 15.0, 30.0, tw, rh, window_reflection=rw
    )
    np.testing.assert_allclose(got, t_obj, atol=1e-9)


def test_flir_metadata_only_known_scene() -> None:
    # Metadata of frame_000000.fff (README / exiftool): emissivity 0.94, 50 m, RH 30 %,
    # reflected and air 20 C, window 22 C transmission 1.0; raw median 2681, range 2617..2739;
    # the scene is about 9-13 C.
    raw = np.arange(2617, 2740)
    t = rad.flir_raw_to_temperature_c(raw, DUO_PRO_R, 0.94, 50.0, 20.0, 20.0, 22.0, 1.0, 0.3)
    assert np.all(np.diff(t) > 0)  # monotone in raw
    median = rad.flir_raw_to_temperature_c(2681, DUO_PRO_R, 0.94, 50.0, 20.0, 20.0, 22.0, 1.0, 0.3)
    assert 9.0 < median < 13.0
    assert 8.0 < t[0] < t[-1] < 14.0


def _read_fff(path: Path) -> tuple[np.ndarray, dict[str, float]]:
    from thermal_perception.io.flir import read_fff

    record = read_fff(path)
    return record.raw, record.metadata


@pytest.mark.skipif(
    not (FLIR_DIR / "frame_000000.fff").is_file(),
    reason=f"real FLIR data not present at {FLIR_DIR}",
)
def test_real_flir_frame() -> None:
    raw, meta = _read_fff(FLIR_DIR / "frame_000000.fff")
    assert raw.shape == (512, 640)
    # The binary record agrees with exiftool's printout (frame_000000.txt).
    assert (meta["R1"], meta["R2"], meta["B"], meta["F"], meta["O"]) == (
        364058.0, 1.0, 1428.0, 1.0, -228,
    )  # fmt: skip
    assert meta["emissivity"] == pytest.approx(0.94, abs=1e-3)
    assert meta["distance_m"] == 50.0
    assert meta["relative_humidity"] == pytest.approx(0.30, abs=1e-6)
    assert meta["reflected_k"] == pytest.approx(ZERO_C + 20.0, abs=1e-4)
    assert meta["window_k"] == pytest.approx(ZERO_C + 22.0, abs=1e-4)
    assert meta["x"] == pytest.approx(rad.FLIR_ATMOSPHERE_DEFAULTS.x, abs=1e-6)
    assert meta["beta2"] == pytest.approx(rad.FLIR_ATMOSPHERE_DEFAULTS.beta2, abs=1e-9)
    assert raw.min() >= 2600 and raw.max() <= 2750  # README: about 2617..2739

    planck = rad.FlirPlanck(meta["R1"], meta["R2"], meta["B"], meta["F"], meta["O"])
    consts = rad.AtmosphereConstants(
        meta["x"], meta["alpha1"], meta["alpha2"], meta["beta1"], meta["beta2"]
    )
    out = np.empty(raw.shape, np.float32)
    t = rad.flir_raw_to_temperature_c(
        raw,
        planck,
        meta["emissivity"],
        meta["distance_m"],
        meta["reflected_k"] - ZERO_C,
        meta["atmosphere_k"] - ZERO_C,
        meta["window_k"] - ZERO_C,
        meta["window_transmission"],
        meta["relative_humidity"],
        consts,
        out=out,
    )
    assert t is out
    assert np.all(np.isfinite(t))
    assert 9.0 < float(np.median(t)) < 13.0
    assert float(t.min()) > 8.0 and float(t.max()) < 14.0
    # Monotone: ordering of pixels by raw equals ordering by temperature.
    order = np.argsort(raw, axis=None, kind="stable")
    assert np.all(np.diff(t.reshape(-1)[order]) >= 0)


# ------------------------------------------------------------------------------------------
# TLinear
# ------------------------------------------------------------------------------------------


def test_tlinear_known_values() -> None:
    # Lepton/Boson TLinear, 0.01 K per count: 30000 counts = 300.00 K = 26.85 C;
    # 0.1 K per count (low gain): 3000 counts = 300.0 K.
    assert rad.tlinear_to_celsius(30000) == pytest.approx(26.85)
    assert rad.tlinear_to_celsius(3000, resolution_k=0.1) == pytest.approx(26.85)
    counts = np.array([[27315, 29815], [37315, 0]], np.uint16)
    out = np.empty(counts.shape, np.float32)
    assert rad.tlinear_to_celsius(counts, out=out) is out
    np.testing.assert_allclose(out, [[0.0, 25.0], [100.0, -273.15]], atol=1e-4)
    back = rad.celsius_to_tlinear(rad.tlinear_to_celsius(counts))
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, counts)
    np.testing.assert_array_equal(rad.celsius_to_tlinear([np.nan, -300.0, 1e4]), [0, 0, 65535])
