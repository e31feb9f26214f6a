"""Radiometry for thermal (LWIR) cameras: Planck's law, band radiance, measurement equation.

Pure numpy/scipy; no ROS imports. All temperatures are kelvin unless the name ends in ``_c``
(degrees Celsius). Radiances are SI: spectral radiance in W/(m^2 sr m), band radiance in
W/(m^2 sr). Functions broadcast over their array arguments.

Band integrals use composite Gauss-Legendre quadrature: 16 nodes per panel, panels spaced
geometrically in wavelength (and split at the knots of a tabulated spectral response so the
piecewise-linear response is integrated exactly). For the 8-14 um band this agrees with
adaptive ``scipy.integrate.quad`` to ~1e-15 relative between 200 K and 1900 K.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import constants as sc

__all__ = [
    "C1L",
    "C2",
    "FLIR_ATMOSPHERE_DEFAULTS",
    "AtmosphereConstants",
    "BandRadianceTable",
    "FlirPlanck",
    "atmospheric_transmission",
    "band_radiance",
    "band_radiance_derivative",
    "celsius_to_tlinear",
    "flir_raw_to_temperature_c",
    "measured_radiance",
    "object_radiance",
    "planck_spectral_radiance",
    "planck_spectral_radiance_derivative",
    "stefan_boltzmann_radiance",
    "tlinear_to_celsius",
    "wien_peak_wavelength_m",
]

#: First radiation constant for spectral radiance, 2 h c^2, W m^2 / sr (exact in SI 2019).
C1L: float = 2.0 * sc.h * sc.c**2
#: Second radiation constant, h c / k, m K (exact in SI 2019).
C2: float = sc.h * sc.c / sc.k

#: Default LWIR band of uncooled microbolometers, m.
LWIR_BAND_M: tuple[float, float] = (8e-6, 14e-6)

_GL_ORDER = 16
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_ORDER)
# Max elements of the (temperatures x wavelength nodes) work matrix per chunk (~16 MiB float64).
_CHUNK_ELEMENTS = 1 << 21

#: Spectral response: callable of wavelength_m, or (wavelength_m, response) arrays, or None.
Response = Callable[[NDArray[np.float64]], ArrayLike] | tuple[ArrayLike, ArrayLike] | None


def _as_float(x: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64)


def _scalar_or_array(x: NDArray) -> NDArray | float:
    """Return a Python float for 0-d results, the array otherwise."""
    return float(x) if x.ndim == 0 else x


def _result_buffer(out: NDArray | None, *args: ArrayLike) -> NDArray:
    """``out``, or a new float64 array of the broadcast shape of ``args``."""
    if out is not None:
        return out
    return np.empty(np.broadcast_shapes(*(np.shape(a) for a in args)), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Planck's law
# --------------------------------------------------------------------------------------------


def planck_spectral_radiance(wavelength_m: ArrayLike, temperature_k: ArrayLike) -> NDArray | float:
    """Blackbody spectral radiance (Planck's law), per unit wavelength.

    ``L = c1L / lambda^5 / (exp(c2 / (lambda T)) - 1)``, evaluated as
    ``c1L / lambda^5 * exp(-x) / (1 - exp(-x))`` with ``expm1`` so that it neither overflows
    for large ``x`` (cold or short wavelength: result underflows to 0) nor loses precision
    for small ``x`` (Rayleigh-Jeans limit).

    Parameters
    ----------
    wavelength_m : array_like of float, m
        Wavelength(s), > 0.
    temperature_k : array_like of float, K
        Temperature(s); broadcast against ``wavelength_m``. 0 K gives 0, negative gives NaN.

    Returns
    -------
    ndarray of float or float, W/(m^2 sr m)
        Spectral radiance, broadcast shape of the inputs.
    """
    lam = _as_float(wavelength_m)
    t = _as_float(temperature_k)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        x = C2 / (lam * t)
        e = np.exp(-x)
        out = C1L / lam**5 * e / -np.expm1(-x)
    out = np.where(t < 0.0, np.nan, out)
    return _scalar_or_array(out)


def planck_spectral_radiance_derivative(
    wavelength_m: ArrayLike, temperature_k: ArrayLike
) -> NDArray | float:
    """Temperature derivative of Planck's law, dL/dT.

    ``dL/dT = L * x / (T * (1 - exp(-x)))`` with ``x = c2 / (lambda T)``.

    Parameters
    ----------
    wavelength_m : array_like of float, m
        Wavelength(s), > 0.
    temperature_k : array_like of float, K
        Temperature(s), > 0; broadcast against ``wavelength_m``.

    Returns
    -------
    ndarray of float or float, W/(m^2 sr m K)
    """
    lam = _as_float(wavelength_m)
    t = _as_float(temperature_k)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        x = C2 / (lam * t)
        e = np.exp(-x)
        den = -np.expm1(-x)
        out = C1L / lam**5 * e / den * x / (t * den)
        out = np.where(t > 0.0, out, np.where(t == 0.0, 0.0, np.nan))
    return _scalar_or_array(out)


def stefan_boltzmann_radiance(temperature_k: ArrayLike) -> NDArray | float:
    """Total (all-wavelength) blackbody radiance ``sigma T^4 / pi``.

    Parameters
    ----------
    temperature_k : array_like of float, K

    Returns
    -------
    ndarray of float or float, W/(m^2 sr)
    """
    t = _as_float(temperature_k)
    return _scalar_or_array(sc.Stefan_Boltzmann * t**4 / sc.pi)


def wien_peak_wavelength_m(temperature_k: ArrayLike) -> NDArray | float:
    """Wavelength of peak spectral radiance (per unit wavelength), ``b / T``.

    ``b`` is Wien's wavelength displacement constant (``scipy.constants.Wien``, CODATA).

    Parameters
    ----------
    temperature_k : array_like of float, K
        > 0.

    Returns
    -------
    ndarray of float or float, m
    """
    t = _as_float(temperature_k)
    with np.errstate(divide="ignore"):
        return _scalar_or_array(sc.Wien / t)


# --------------------------------------------------------------------------------------------
# Band integrals
# --------------------------------------------------------------------------------------------


def _quadrature(
    band_m: tuple[float, float], response: Response, samples: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wavelength nodes and weights (response folded in) of the band quadrature rule.

    Returns
    -------
    wavelength_m : ndarray of float, shape (M,), m
    weight : ndarray of float, shape (M,), m (times the dimensionless response)
    """
    lo, hi = float(band_m[0]), float(band_m[1])
    if not 0.0 < lo < hi:
        raise ValueError(f"band_m must satisfy 0 < lo < hi, got {band_m!r}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    panels = -(-int(samples) // _GL_ORDER)
    edges = np.geomspace(lo, hi, panels + 1)
    table: tuple[NDArray, NDArray] | None = None
    if response is not None and not callable(response):
        wl, rs = (_as_float(a) for a in response)
        if wl.ndim != 1 or wl.shape != rs.shape or wl.size < 2:
            raise ValueError("tabulated response must be two 1-D arrays of equal length >= 2")
        if np.any(np.diff(wl) <= 0.0):
            raise ValueError("tabulated response wavelengths must be strictly increasing")
        table = (wl, rs)
        inner = wl[(wl > lo) & (wl < hi)]
        edges = np.unique(np.concatenate([edges, inner]))
    a = edges[:-1, None]
    b = edges[1:, None]
    half = 0.5 * (b - a)
    lam = (half * _GL_X + (a + half)).ravel()
    w = (half * _GL_W).ravel()
    if table is not None:
        # Zero outside the tabulated range; linear in between (exact on the panel split).
        w = w * np.interp(lam, table[0], table[1], left=0.0, right=0.0)
    elif callable(response):
        w = w * np.broadcast_to(_as_float(response(lam)), lam.shape)
    return lam, w


def _band_integral(
    kernel: Callable[[NDArray, NDArray], NDArray | float],
    temperature_k: ArrayLike,
    band_m: tuple[float, float],
    response: Response,
    samples: int,
) -> NDArray | float:
    lam, w = _quadrature(band_m, response, samples)
    t = _as_float(temperature_k)
    flat = t.reshape(-1)
    out = np.empty(flat.shape, dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // lam.size)
    for start in range(0, flat.size, step):  # chunks bound memory, not a per-pixel loop
        sl = slice(start, start + step)
        out[sl] = np.asarray(kernel(lam[None, :], flat[sl, None])) @ w
    return _scalar_or_array(out.reshape(t.shape))


def band_radiance(
    temperature_k: ArrayLike,
    band_m: tuple[float, float] = LWIR_BAND_M,
    response: Response = None,
    samples: int = 64,
) -> NDArray | float:
    """Blackbody radiance integrated over a wavelength band, optionally response-weighted.

    ``L(T) = integral_{band} R(lambda) B(lambda, T) d lambda``, by composite Gauss-Legendre
    quadrature (16 nodes per panel, geometric panels; measured relative error vs adaptive
    quadrature ~1e-15 for 8-14 um, well under 1e-6). Evaluated vectorised over temperatures.

    Parameters
    ----------
    temperature_k : array_like of float, K
        Any shape.
    band_m : (float, float), m
        Band limits ``(lo, hi)``.
    response : callable or (ndarray, ndarray) or None
        Relative spectral response ``R``: a function of wavelength_m (ndarray, m) returning
        the response, or a pair ``(wavelength_m, response)`` of 1-D arrays that is linearly
        interpolated (0 outside its range). ``None`` means ``R = 1``.
    samples : int
        Number of quadrature nodes, rounded up to a multiple of 16. Use more (e.g. 512) for
        bands spanning several decades of wavelength.

    Returns
    -------
    ndarray of float or float, W/(m^2 sr)
        Same shape as ``temperature_k``.
    """
    return _band_integral(planck_spectral_radiance, temperature_k, band_m, response, samples)


def band_radiance_derivative(
    temperature_k: ArrayLike,
    band_m: tuple[float, float] = LWIR_BAND_M,
    response: Response = None,
    samples: int = 64,
) -> NDArray | float:
    """Temperature derivative of :func:`band_radiance`, dL/dT.

    Parameters and quadrature as :func:`band_radiance`.

    Returns
    -------
    ndarray of float or float, W/(m^2 sr K)
    """
    return _band_integral(
        planck_spectral_radiance_derivative, temperature_k, band_m, response, samples
    )


class BandRadianceTable:
    """Fast forward and inverse band radiance by interpolation on precomputed tables.

    Built once per band/response. The forward table is uniform in temperature; the inverse
    table is uniform in ``ln L`` with its temperatures solved by Newton's method, so both
    lookups are O(1) index arithmetic (no binary search). With the default ``size`` the
    inverse error is < 0.03 mK and the forward relative error < 1e-6 over the whole range.
    Values outside the table range (and NaN or non-positive radiance) give NaN.

    Scratch buffers are cached per thread and per image shape, so repeated calls on frames of
    the same size do not allocate (besides ``out`` if it is not given).

    Parameters
    ----------
    band_m, response, samples
        As :func:`band_radiance`.
    t_min_k, t_max_k : float, K
        Table range; default -60 C .. 1600 C.
    size : int
        Number of entries of each table.
    """

    def __init__(
        self,
        band_m: tuple[float, float] = LWIR_BAND_M,
        response: Response = None,
        t_min_k: float = sc.zero_Celsius - 60.0,
        t_max_k: float = sc.zero_Celsius + 1600.0,
        size: int = 16384,
        samples: int = 64,
    ) -> None:
        if not 0.0 < t_min_k < t_max_k:
            raise ValueError(f"need 0 < t_min_k < t_max_k, got {t_min_k}, {t_max_k}")
        if size < 16:
            raise ValueError(f"size must be >= 16, got {size}")
        self.band_m = (float(band_m[0]), float(band_m[1]))
        self.t_min_k = float(t_min_k)
        self.t_max_k = float(t_max_k)
        self.size = int(size)

        def radiance(t: NDArray) -> NDArray:
            return np.asarray(band_radiance(t, band_m, response, samples))

        def derivative(t: NDArray) -> NDArray:
            return np.asarray(band_radiance_derivative(t, band_m, response, samples))

        # Forward tables, uniform in T.
        t_grid = np.linspace(self.t_min_k, self.t_max_k, self.size)
        self.temperature_grid_k = t_grid
        self.radiance_grid = radiance(t_grid)
        self.derivative_grid = derivative(t_grid)
        if np.any(np.diff(self.radiance_grid) <= 0.0):
            raise ValueError("band radiance is not increasing over the table range")
        self._t0 = self.t_min_k
        self._inv_dt = (self.size - 1) / (self.t_max_k - self.t_min_k)
        self._rad_slope = np.append(np.diff(self.radiance_grid), 0.0)
        self._der_slope = np.append(np.diff(self.derivative_grid), 0.0)

        # Inverse table, uniform in ln L; temperatures polished by Newton on the exact integral.
        self.radiance_min = float(self.radiance_grid[0])
        self.radiance_max = float(self.radiance_grid[-1])
        log_l = np.linspace(np.log(self.radiance_min), np.log(self.radiance_max), self.size)
        target = np.exp(log_l)
        t_inv = np.interp(log_l, np.log(self.radiance_grid), t_grid)
        for _ in range(3):
            t_inv = t_inv - (radiance(t_inv) - target) / derivative(t_inv)
        t_inv[0], t_inv[-1] = self.t_min_k, self.t_max_k
        self.inverse_temperature_grid_k = t_inv
        self._v0 = float(log_l[0])
        self._inv_dv = (self.size - 1) / float(log_l[-1] - log_l[0])
        self._tinv_slope = np.append(np.diff(t_inv), 0.0)
        self._local = threading.local()

    # -- internals ------------------------------------------------------------------------

    def _work(self, shape: tuple[int, ...]) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        cache = getattr(self._local, "cache", None)
        if cache is None or cache[0].shape != shape:
            cache = (
                np.empty(shape, np.float64),
                np.empty(shape, np.float64),
                np.empty(shape, np.intp),
                np.empty(shape, np.bool_),
            )
            self._local.cache = cache
        return cache

    def _lookup(
        self,
        x: ArrayLike,
        x0: float,
        inv_dx: float,
        fp: NDArray,
        slope: NDArray,
        out: NDArray | None,
        log: bool = False,
    ) -> NDArray | float:
        """Linear interpolation of ``fp`` on the uniform grid ``x0 + i / inv_dx``; NaN outside."""
        xa = np.asarray(x)
        scalar = xa.ndim == 0 and out is None
        pos, frac, idx, bad = self._work(xa.shape)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            if log:
                np.log(xa, out=pos, dtype=np.float64)
                pos -= x0
            else:
                np.subtract(xa, x0, out=pos, dtype=np.float64)
            pos *= inv_dx
            last = self.size - 1
            # Outside the grid (1e-9 cells of slack for rounding) or NaN (fails `<=`) -> bad.
            np.less(pos, -1e-9, out=bad)
            bad |= ~(pos <= last + 1e-9)
            any_bad = bool(bad.any())
            np.clip(pos, 0.0, last, out=pos)
            if any_bad:
                np.copyto(pos, 0.0, where=bad)
            np.floor(pos, out=frac)
            np.minimum(frac, last - 1, out=frac)
            idx[...] = frac
            np.subtract(pos, frac, out=frac)  # fractional part in [0, 1]
            np.take(slope, idx, out=pos, mode="clip")
            pos *= frac
            np.take(fp, idx, out=frac, mode="clip")
            frac += pos
            if any_bad:
                np.copyto(frac, np.nan, where=bad)
        if out is None:
            result = frac.copy()
            return float(result) if scalar else result
        np.copyto(out, frac, casting="same_kind")
        return out

    # -- public -----------------------------------------------------------------------------

    def radiance(self, temperature_k: ArrayLike, out: NDArray | None = None) -> NDArray | float:
        """Band radiance of a blackbody at ``temperature_k``.

        Parameters
        ----------
        temperature_k : array_like of float, K
        out : ndarray of float, optional
            Destination with the shape of ``temperature_k``.

        Returns
        -------
        ndarray of float or float, W/(m^2 sr)
            NaN outside ``[t_min_k, t_max_k]``.
        """
        return self._lookup(
            temperature_k, self._t0, self._inv_dt, self.radiance_grid, self._rad_slope, out
        )

    def derivative(self, temperature_k: ArrayLike, out: NDArray | None = None) -> NDArray | float:
        """dL/dT of the band radiance (for NETD to noise-equivalent radiance conversion).

        Parameters
        ----------
        temperature_k : array_like of float, K
        out : ndarray of float, optional

        Returns
        -------
        ndarray of float or float, W/(m^2 sr K)
            NaN outside ``[t_min_k, t_max_k]``.
        """
        return self._lookup(
            temperature_k, self._t0, self._inv_dt, self.derivative_grid, self._der_slope, out
        )

    def temperature_k(self, radiance: ArrayLike, out: NDArray | None = None) -> NDArray | float:
        """Blackbody temperature whose band radiance is ``radiance`` (inverse of :meth:`radiance`).

        Parameters
        ----------
        radiance : array_like of float, W/(m^2 sr)
        out : ndarray of float, optional
            Destination with the shape of ``radiance`` (float32 is fine).

        Returns
        -------
        ndarray of float or float, K
            NaN where ``radiance`` is outside ``[radiance_min, radiance_max]``, NaN or <= 0.
        """
        return self._lookup(
            radiance,
            self._v0,
            self._inv_dv,
            self.inverse_temperature_grid_k,
            self._tinv_slope,
            out,
            log=True,
        )


# --------------------------------------------------------------------------------------------
# Atmosphere and measurement equation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AtmosphereConstants:
    """Constants of FLIR's empirical atmospheric transmission model.

    Names follow ExifTool's FLIR CameraInfo tags "Atmospheric Trans X", "... Alpha1",
    "... Alpha2", "... Beta1", "... Beta2". Units: ``alpha`` in m^-1/2, ``beta`` in
    m^-1/2 per sqrt of the water-vapour term, ``x`` dimensionless.
    """

    x: float = 1.9
    alpha1: float = 0.006569
    alpha2: float = 0.01262
    beta1: float = -0.002276
    beta2: float = -0.00667


#: Values stored in FLIR cameras' metadata (e.g. frame_000000.fff of flirpy's test data,
#: a FLIR Duo Pro R, and the FLIR SC660 quoted in Thermimage's raw2temp).
FLIR_ATMOSPHERE_DEFAULTS = AtmosphereConstants()

# Water-vapour polynomial of the FLIR model (coefficients of T in deg C; see
# atmospheric_transmission). These are empirical model constants, not physical constants.
_H2O_COEFFS = (1.5587, 6.939e-2, -2.7816e-4, 6.8455e-7)


def atmospheric_transmission(
    distance_m: ArrayLike,
    relative_humidity: ArrayLike,
    air_temperature_c: ArrayLike,
    constants: AtmosphereConstants = FLIR_ATMOSPHERE_DEFAULTS,
) -> NDArray | float:
    """Atmospheric transmission of the LWIR band, FLIR's empirical model.

    ``H2O = RH * exp(1.5587 + 0.06939 T - 0.00027816 T^2 + 6.8455e-7 T^3)`` (T in deg C) and
    ``tau = X exp(-sqrt(d) (a1 + b1 sqrt(H2O))) + (1 - X) exp(-sqrt(d) (a2 + b2 sqrt(H2O)))``.

    Source: the model and constant names are those of FLIR camera metadata as decoded by
    ExifTool (Image::ExifTool::FLIR, CameraInfo tags "Atmospheric Trans Alpha1/Alpha2/Beta1/
    Beta2/X"); the formula is the one used by Thermimage's ``raw2temp`` (G. Tattersall,
    citing Minkina & Dudzik, *Infrared Thermography: Errors and Uncertainties*, Wiley 2009)
    and by flirpy. The model is empirical and becomes meaningless (negative) at tens of km;
    the result is clipped to [0, 1].

    Parameters
    ----------
    distance_m : array_like of float, m
        Path length, >= 0.
    relative_humidity : array_like of float
        Fraction in [0, 1] (not percent).
    air_temperature_c : array_like of float, deg C
    constants : AtmosphereConstants

    Returns
    -------
    ndarray of float or float
        Transmission in [0, 1], broadcast shape of the inputs.
    """
    d = _as_float(distance_m)
    rh = _as_float(relative_humidity)
    t = _as_float(air_temperature_c)
    if np.any(d < 0.0):
        raise ValueError("distance_m must be >= 0")
    if np.any((rh < 0.0) | (rh > 1.0)):
        raise ValueError(
            f"relative_humidity must be a fraction in [0, 1] (got max {np.max(rh)}; "
            "pass 0.3 for 30 %)"
        )
    c0, c1, c2, c3 = _H2O_COEFFS
    h2o = rh * np.exp(c0 + t * (c1 + t * (c2 + t * c3)))
    sd = np.sqrt(d)
    sh = np.sqrt(h2o)
    k = constants
    tau = k.x * np.exp(-sd * (k.alpha1 + k.beta1 * sh)) + (1.0 - k.x) * np.exp(
        -sd * (k.alpha2 + k.beta2 * sh)
    )
    return _scalar_or_array(np.clip(tau, 0.0, 1.0))


def _check_measurement_args(
    emissivity: ArrayLike,
    tau_atm: ArrayLike,
    window_transmission: ArrayLike,
    window_reflection: ArrayLike,
) -> None:
    eps = np.asarray(emissivity)
    if not np.all((eps > 0.0) & (eps <= 1.0)):
        bad = eps[~((eps > 0.0) & (eps <= 1.0))] if eps.ndim else eps
        raise ValueError(
            f"emissivity must be in (0, 1]; got {np.ravel(bad)[0]!r}"
            + (f" ({np.size(bad)} invalid values)" if eps.ndim else "")
        )
    tau = np.asarray(tau_atm)
    if not np.all((tau > 0.0) & (tau <= 1.0)):
        raise ValueError("tau_atm must be in (0, 1]")
    tw = np.asarray(window_transmission)
    rw = np.asarray(window_reflection)
    if not np.all((tw > 0.0) & (rw >= 0.0) & (tw + rw <= 1.0)):
        raise ValueError(
            "need 0 < window_transmission and 0 <= window_reflection with their sum <= 1"
        )


def measured_radiance(
    object_radiance: ArrayLike,
    emissivity: ArrayLike,
    reflected_radiance: ArrayLike,
    atmosphere_radiance: ArrayLike,
    tau_atm: ArrayLike,
    window_radiance: ArrayLike = 0.0,
    window_transmission: ArrayLike = 1.0,
    window_reflection: ArrayLike = 0.0,
    window_reflected_radiance: ArrayLike = 0.0,
    out: NDArray | None = None,
) -> NDArray | float:
    """Radiance reaching the camera (forward measurement equation).

    ``W = tw ta (eps B_obj + (1 - eps) B_refl) + tw (1 - ta) B_atm + (1 - tw - rw) B_win
    + rw B_win_refl`` with ``ta`` the atmospheric and ``tw`` the window transmission and
    ``rw`` the window reflectance. The object is behind the atmosphere, the window in front
    of the camera. All radiances are band radiances of the same band and units (typically
    W/(m^2 sr), but any linear signal works); all arguments broadcast (per-pixel emissivity).

    Parameters
    ----------
    object_radiance : array_like of float, W/(m^2 sr)
        Blackbody radiance at the object temperature, ``B_obj``.
    emissivity : array_like of float
        Object emissivity in (0, 1].
    reflected_radiance, atmosphere_radiance : array_like of float, W/(m^2 sr)
        ``B_refl`` (apparent reflected temperature) and ``B_atm`` (air temperature).
    tau_atm : array_like of float
        Atmospheric transmission in (0, 1].
    window_radiance : array_like of float, W/(m^2 sr)
        ``B_win``, blackbody radiance at the window temperature.
    window_transmission, window_reflection : array_like of float
        ``tw`` in (0, 1], ``rw`` in [0, 1 - tw].
    window_reflected_radiance : array_like of float, W/(m^2 sr)
        ``B_win_refl``, radiance reflected by the window into the camera.
    out : ndarray of float, optional
        Destination of the broadcast shape.

    Returns
    -------
    ndarray of float or float, W/(m^2 sr)

    Raises
    ------
    ValueError
        If emissivity, transmissions or reflection are out of range.
    """
    _check_measurement_args(emissivity, tau_atm, window_transmission, window_reflection)
    eps = _as_float(emissivity)
    ta = _as_float(tau_atm)
    tw = _as_float(window_transmission)
    rw = _as_float(window_reflection)
    b_refl = _as_float(reflected_radiance)
    b_atm = _as_float(atmosphere_radiance)
    b_win = _as_float(window_radiance)
    b_wr = _as_float(window_reflected_radiance)
    w = _result_buffer(out, object_radiance, eps, b_refl, ta, tw, rw, b_atm, b_win, b_wr)
    # eps B_obj + (1 - eps) B_refl = eps (B_obj - B_refl) + B_refl
    np.subtract(object_radiance, b_refl, out=w)
    w *= eps
    w += b_refl
    w *= tw * ta
    w += tw * (1.0 - ta) * b_atm + (1.0 - tw - rw) * b_win + rw * b_wr
    return _scalar_or_array(w) if out is None else w


def object_radiance(
    measured_radiance: ArrayLike,
    emissivity: ArrayLike,
    reflected_radiance: ArrayLike,
    atmosphere_radiance: ArrayLike,
    tau_atm: ArrayLike,
    window_radiance: ArrayLike = 0.0,
    window_transmission: ArrayLike = 1.0,
    window_reflection: ArrayLike = 0.0,
    window_reflected_radiance: ArrayLike = 0.0,
    out: NDArray | None = None,
) -> NDArray | float:
    """Object blackbody radiance ``B_obj`` from the measured radiance (inverse equation).

    Inverts :func:`measured_radiance` (see there for the equation and parameters)::

        B_obj = (W - tw (1 - ta) B_atm - (1 - tw - rw) B_win - rw B_win_refl) / (tw ta eps)
                - (1 - eps) / eps * B_refl

    Parameters
    ----------
    measured_radiance : array_like of float, W/(m^2 sr)
        ``W``, radiance reaching the camera (e.g. per pixel, shape (H, W)).
    emissivity, reflected_radiance, atmosphere_radiance, tau_atm, window_radiance, \
window_transmission, window_reflection, window_reflected_radiance
        As :func:`measured_radiance`; all broadcast.
    out : ndarray of float, optional
        Destination of the broadcast shape.

    Returns
    -------
    ndarray of float or float, W/(m^2 sr)
        Convert to temperature with :meth:`BandRadianceTable.temperature_k`.

    Raises
    ------
    ValueError
        If emissivity is not in (0, 1] or transmissions/reflection are out of range.
    """
    _check_measurement_args(emissivity, tau_atm, window_transmission, window_reflection)
    eps = _as_float(emissivity)
    ta = _as_float(tau_atm)
    tw = _as_float(window_transmission)
    rw = _as_float(window_reflection)
    b_refl = _as_float(reflected_radiance)
    background = (
        tw * (1.0 - ta) * _as_float(atmosphere_radiance)
        + (1.0 - tw - rw) * _as_float(window_radiance)
        + rw * _as_float(window_reflected_radiance)
    )
    b = _result_buffer(out, measured_radiance, eps, b_refl, ta, tw, background)
    np.subtract(measured_radiance, background, out=b)
    b /= tw * ta * eps
    b -= (1.0 - eps) / eps * b_refl
    return _scalar_or_array(b) if out is None else b


# --------------------------------------------------------------------------------------------
# FLIR raw-signal domain
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlirPlanck:
    """FLIR per-camera calibration ("Planck" constants from the camera metadata).

    Vendor model of the raw signal ``S`` (counts) of a blackbody at ``T``::

        S = R1 / (R2 * (exp(B / T) - F)) - O
        T = B / ln(R1 / (R2 * (S + O)) + F)

    Sign convention of ``O``: as stored by FLIR and used by ExifTool's FLIR documentation,
    Thermimage (``raw2temp``/``temp2raw``) and flirpy, ``O`` is *subtracted* from the Planck
    term (FLIR's ``PlanckO`` is negative, e.g. -228). With the opposite sign the flirpy
    sample frame (scene 9-13 C) would read about 22 C.

    Attributes
    ----------
    R1 : float, counts
    R2 : float, dimensionless
    B : float, K
    F : float, dimensionless
    O : float, counts
    """

    R1: float
    R2: float
    B: float
    F: float
    O: float  # noqa: E741 - the name FLIR gives this constant

    def counts_from_temperature_k(self, temperature_k: ArrayLike) -> NDArray | float:
        """Raw signal of a blackbody at ``temperature_k``.

        Parameters
        ----------
        temperature_k : array_like of float, K

        Returns
        -------
        ndarray of float or float, counts
        """
        t = _as_float(temperature_k)
        with np.errstate(divide="ignore", over="ignore"):
            # exp(B/T) - F written with expm1 so that F = 1 (the usual value) stays exact.
            den = self.R2 * (np.expm1(self.B / t) + (1.0 - self.F))
            return _scalar_or_array(self.R1 / den - self.O)

    def temperature_k_from_counts(self, counts: ArrayLike) -> NDArray | float:
        """Blackbody temperature of a raw signal (inverse of :meth:`counts_from_temperature_k`).

        Parameters
        ----------
        counts : array_like of float, counts

        Returns
        -------
        ndarray of float or float, K
            NaN where the signal is outside the domain of the model (``S + O <= 0``).
        """
        s = _as_float(counts)
        with np.errstate(divide="ignore", invalid="ignore"):
            arg = self.R1 / (self.R2 * (s + self.O)) + (self.F - 1.0)
            t = self.B / np.log1p(arg)
            t = np.where((s + self.O > 0.0) & (t > 0.0), t, np.nan)
        return _scalar_or_array(t)


def flir_raw_to_temperature_c(
    raw: ArrayLike,
    planck: FlirPlanck,
    emissivity: ArrayLike = 1.0,
    object_distance_m: float = 0.0,
    reflected_c: float = 20.0,
    atmosphere_c: float = 20.0,
    window_c: float = 20.0,
    window_transmission: float = 1.0,
    relative_humidity: float = 0.5,
    atmosphere_constants: AtmosphereConstants = FLIR_ATMOSPHERE_DEFAULTS,
    window_reflection: float = 0.0,
    out: NDArray | None = None,
) -> NDArray | float:
    """Object temperature from FLIR raw counts with the full measurement equation.

    Works in the raw-signal domain, as the community formulas derived from ExifTool's FLIR
    metadata do (Thermimage ``raw2temp``, flirpy): the signal of each blackbody source is
    ``planck.counts_from_temperature_k``; the IR window sits half way, so the atmospheric
    transmissions before (``tau1``) and after (``tau2``) it are both
    ``atmospheric_transmission(d / 2, ...)``. Geometry camera <- air 2 <- window <- air 1
    <- object::

        S = tau2 tw tau1 (eps S_obj + (1 - eps) S_refl) + tau2 tw (1 - tau1) S_atm
            + tau2 (1 - tw - rw) S_win + tau2 rw S_refl + (1 - tau2) S_atm

    which is solved for ``S_obj`` (identical to ``raw2temp`` for ``rw = 0``).

    Parameters
    ----------
    raw : array_like of int or float, counts
        Raw image, e.g. (512, 640) uint16.
    planck : FlirPlanck
    emissivity : array_like of float
        In (0, 1]; broadcasts against ``raw`` (per-pixel allowed).
    object_distance_m : float, m
    reflected_c, atmosphere_c, window_c : float, deg C
        Apparent reflected, air and IR-window temperatures.
    window_transmission : float
        IR window transmission in (0, 1] (1 = no window).
    relative_humidity : float
        Fraction in [0, 1].
    atmosphere_constants : AtmosphereConstants
    window_reflection : float
        IR window reflectance (reflects the ``reflected_c`` scene), default 0.
    out : ndarray of float, optional
        Destination of the broadcast shape.

    Returns
    -------
    ndarray of float or float, deg C
        NaN where the corrected signal is outside the calibration model.
    """
    tau = float(
        atmospheric_transmission(
            0.5 * float(object_distance_m), relative_humidity, atmosphere_c, atmosphere_constants
        )
    )
    _check_measurement_args(emissivity, tau, window_transmission, window_reflection)
    k0 = sc.zero_Celsius
    s_refl, s_atm, s_win = (
        float(planck.counts_from_temperature_k(c + k0))
        for c in (reflected_c, atmosphere_c, window_c)
    )
    tw = float(window_transmission)
    rw = float(window_reflection)
    eps = _as_float(emissivity)
    background = (1.0 - tau) * s_atm + tau * ((1.0 - tw - rw) * s_win + rw * s_refl)
    background += tau * tw * (1.0 - tau) * s_atm
    gain = tau * tw * tau
    s_obj = _result_buffer(out, raw, eps)
    np.subtract(raw, background, out=s_obj)
    s_obj /= gain * eps
    s_obj -= (1.0 - eps) / eps * s_refl
    t = np.asarray(planck.temperature_k_from_counts(s_obj))
    np.subtract(t, k0, out=s_obj)
    return _scalar_or_array(s_obj) if out is None else s_obj


# --------------------------------------------------------------------------------------------
# TLinear (FLIR Lepton / Boson radiometric output)
# --------------------------------------------------------------------------------------------


def tlinear_to_celsius(
    counts: ArrayLike, resolution_k: float = 0.01, out: NDArray | None = None
) -> NDArray | float:
    """Convert TLinear counts (Lepton/Boson radiometric mode) to deg C.

    ``kelvin = counts * resolution_k`` (0.01 K high-gain, 0.1 K low-gain/high-range).

    Parameters
    ----------
    counts : array_like of int, counts
        e.g. (H, W) uint16.
    resolution_k : float, K per count
    out : ndarray of float, optional
        Destination (e.g. float32) of the shape of ``counts``.

    Returns
    -------
    ndarray of float or float, deg C
    """
    if out is None:
        c = np.multiply(counts, resolution_k, dtype=np.float64)
        c -= sc.zero_Celsius
        return _scalar_or_array(c)
    np.multiply(counts, resolution_k, out=out)
    out -= sc.zero_Celsius
    return out


def celsius_to_tlinear(temperature_c: ArrayLike, resolution_k: float = 0.01) -> NDArray:
    """Convert deg C to TLinear counts (inverse of :func:`tlinear_to_celsius`).

    Parameters
    ----------
    temperature_c : array_like of float, deg C
    resolution_k : float, K per count

    Returns
    -------
    ndarray of uint16, counts
        Rounded to nearest and clipped to the uint16 range; NaN maps to 0.
    """
    k = (_as_float(temperature_c) + sc.zero_Celsius) / resolution_k
    k = np.nan_to_num(np.rint(k), nan=0.0)
    info = np.iinfo(np.uint16)
    return np.clip(k, info.min, info.max).astype(np.uint16)
