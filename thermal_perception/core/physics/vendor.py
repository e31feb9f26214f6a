"""Cameras' own count -> temperature formulas: FLIR's Planck constants (R1, R2, B, F, O with the
measurement equation) and TLinear (centi-kelvin) output of Lepton and Boson radiometric modes.

Pure numpy; no ROS imports. Temperatures deg C where the name ends in ``_c``, kelvin otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import constants as sc

from thermal_perception.core.physics.measurement import (
    FLIR_ATMOSPHERE_DEFAULTS,
    AtmosphereConstants,
    atmospheric_transmission,
    check_measurement_args,
)
from thermal_perception.core.physics.planck import as_float64, result_buffer, scalar_or_array

__all__ = ["FlirPlanck", "celsius_to_tlinear", "flir_raw_to_temperature_c", "tlinear_to_celsius"]


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
        t = as_float64(temperature_k)
        with np.errstate(divide="ignore", over="ignore"):
            # exp(B/T) - F written with expm1 so that F = 1 (the usual value) stays exact.
            den = self.R2 * (np.expm1(self.B / t) + (1.0 - self.F))
            return scalar_or_array(self.R1 / den - self.O)

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
        s = as_float64(counts)
        with np.errstate(divide="ignore", invalid="ignore"):
            arg = self.R1 / (self.R2 * (s + self.O)) + (self.F - 1.0)
            t = self.B / np.log1p(arg)
            t = np.where((s + self.O > 0.0) & (t > 0.0), t, np.nan)
        return scalar_or_array(t)


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
    check_measurement_args(emissivity, tau, window_transmission, window_reflection)
    k0 = sc.zero_Celsius
    s_refl, s_atm, s_win = (
        float(planck.counts_from_temperature_k(c + k0))
        for c in (reflected_c, atmosphere_c, window_c)
    )
    tw = float(window_transmission)
    rw = float(window_reflection)
    eps = as_float64(emissivity)
    background = (1.0 - tau) * s_atm + tau * ((1.0 - tw - rw) * s_win + rw * s_refl)
    background += tau * tw * (1.0 - tau) * s_atm
    gain = tau * tw * tau
    s_obj = result_buffer(out, raw, eps)
    np.subtract(raw, background, out=s_obj)
    s_obj /= gain * eps
    s_obj -= (1.0 - eps) / eps * s_refl
    t = np.asarray(planck.temperature_k_from_counts(s_obj))
    np.subtract(t, k0, out=s_obj)
    return scalar_or_array(s_obj) if out is None else s_obj


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
        return scalar_or_array(c)
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
    k = (as_float64(temperature_c) + sc.zero_Celsius) / resolution_k
    k = np.nan_to_num(np.rint(k), nan=0.0)
    info = np.iinfo(np.uint16)
    return np.clip(k, info.min, info.max).astype(np.uint16)
