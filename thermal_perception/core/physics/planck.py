"""Planck's law and its consequences for a black body: spectral radiance and its temperature
derivative, Stefan-Boltzmann radiance, Wien's peak.

Pure numpy/scipy; no ROS imports. Temperatures kelvin; spectral radiance W/(m^2 sr m), radiance
W/(m^2 sr), wavelengths m. Functions broadcast over their array arguments.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import constants as sc

__all__ = ["C1L", "C2", "LWIR_BAND_M", "planck_spectral_radiance",
           "planck_spectral_radiance_derivative", "stefan_boltzmann_radiance",
           "wien_peak_wavelength_m"]


#: First radiation constant for spectral radiance, 2 h c^2, W m^2 / sr (exact in SI 2019).
C1L: float = 2.0 * sc.h * sc.c**2
#: Second radiation constant, h c / k, m K (exact in SI 2019).
C2: float = sc.h * sc.c / sc.k

#: Default LWIR band of uncooled microbolometers, m.
LWIR_BAND_M: tuple[float, float] = (8e-6, 14e-6)

def as_float64(x: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64)


def scalar_or_array(x: NDArray) -> NDArray | float:
    """Return a Python float for 0-d results, the array otherwise."""
    return float(x) if x.ndim == 0 else x


def result_buffer(out: NDArray | None, *args: ArrayLike) -> NDArray:
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
    lam = as_float64(wavelength_m)
    t = as_float64(temperature_k)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        x = C2 / (lam * t)
        e = np.exp(-x)
        out = C1L / lam**5 * e / -np.expm1(-x)
    out = np.where(t < 0.0, np.nan, out)
    return scalar_or_array(out)


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
    lam = as_float64(wavelength_m)
    t = as_float64(temperature_k)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        x = C2 / (lam * t)
        e = np.exp(-x)
        den = -np.expm1(-x)
        out = C1L / lam**5 * e / den * x / (t * den)
        out = np.where(t > 0.0, out, np.where(t == 0.0, 0.0, np.nan))
    return scalar_or_array(out)


def stefan_boltzmann_radiance(temperature_k: ArrayLike) -> NDArray | float:
    """Total (all-wavelength) blackbody radiance ``sigma T^4 / pi``.

    Parameters
    ----------
    temperature_k : array_like of float, K

    Returns
    -------
    ndarray of float or float, W/(m^2 sr)
    """
    t = as_float64(temperature_k)
    return scalar_or_array(sc.Stefan_Boltzmann * t**4 / sc.pi)


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
    t = as_float64(temperature_k)
    with np.errstate(divide="ignore"):
        return scalar_or_array(sc.Wien / t)
