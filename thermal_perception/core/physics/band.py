"""Band radiance: Planck's law integrated over a camera's band (8-14 um by default) and spectral
response, and :class:`BandRadianceTable`, its fast invertible table.

Pure numpy/scipy; no ROS imports. Temperatures kelvin, band radiance W/(m^2 sr). Band integrals
use composite Gauss-Legendre quadrature: 16 nodes per panel, panels spaced geometrically in
wavelength (and split at the knots of a tabulated spectral response so the piecewise-linear
response is integrated exactly). For the 8-14 um band this agrees with adaptive
``scipy.integrate.quad`` to ~1e-15 relative between 200 K and 1900 K.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import constants as sc

from thermal_perception.core.physics.planck import (
    LWIR_BAND_M,
    as_float64,
    planck_spectral_radiance,
    planck_spectral_radiance_derivative,
    scalar_or_array,
)

__all__ = ["BandRadianceTable", "Response", "band_radiance", "band_radiance_derivative"]


_GL_ORDER = 16
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_ORDER)
# Max elements of the (temperatures x wavelength nodes) work matrix per chunk (~16 MiB float64).
_CHUNK_ELEMENTS = 1 << 21

#: Spectral response: callable of wavelength_m, or (wavelength_m, response) arrays, or None.
Response = Callable[[NDArray[np.float64]], ArrayLike] | tuple[ArrayLike, ArrayLike] | None

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
        wl, rs = (as_float64(a) for a in response)
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
        w = w * np.broadcast_to(as_float64(response(lam)), lam.shape)
    return lam, w


def _band_integral(
    kernel: Callable[[NDArray, NDArray], NDArray | float],
    temperature_k: ArrayLike,
    band_m: tuple[float, float],
    response: Response,
    samples: int,
) -> NDArray | float:
    lam, w = _quadrature(band_m, response, samples)
    t = as_float64(temperature_k)
    flat = t.reshape(-1)
    out = np.empty(flat.shape, dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // lam.size)
    for start in range(0, flat.size, step):  # chunks bound memory, not a per-pixel loop
        sl = slice(start, start + step)
        out[sl] = np.asarray(kernel(lam[None, :], flat[sl, None])) @ w
    return scalar_or_array(out.reshape(t.shape))


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
