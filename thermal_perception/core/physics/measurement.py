"""The measurement equation: what reaches the detector from an object of emissivity eps through
the atmosphere and an external window, and its inverse (the object's radiance from the measured
one).

Pure numpy; no ROS imports. Temperatures kelvin unless the name ends in ``_c``; radiances
W/(m^2 sr); distances m; relative humidity a fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from thermal_perception.core.physics.planck import as_float64, result_buffer, scalar_or_array

__all__ = ["FLIR_ATMOSPHERE_DEFAULTS", "AtmosphereConstants", "atmospheric_transmission",
           "measured_radiance", "object_radiance"]


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
    d = as_float64(distance_m)
    rh = as_float64(relative_humidity)
    t = as_float64(air_temperature_c)
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
    return scalar_or_array(np.clip(tau, 0.0, 1.0))


def check_measurement_args(
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
    check_measurement_args(emissivity, tau_atm, window_transmission, window_reflection)
    eps = as_float64(emissivity)
    ta = as_float64(tau_atm)
    tw = as_float64(window_transmission)
    rw = as_float64(window_reflection)
    b_refl = as_float64(reflected_radiance)
    b_atm = as_float64(atmosphere_radiance)
    b_win = as_float64(window_radiance)
    b_wr = as_float64(window_reflected_radiance)
    w = result_buffer(out, object_radiance, eps, b_refl, ta, tw, rw, b_atm, b_win, b_wr)
    # eps B_obj + (1 - eps) B_refl = eps (B_obj - B_refl) + B_refl
    np.subtract(object_radiance, b_refl, out=w)
    w *= eps
    w += b_refl
    w *= tw * ta
    w += tw * (1.0 - ta) * b_atm + (1.0 - tw - rw) * b_win + rw * b_wr
    return scalar_or_array(w) if out is None else w


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
    check_measurement_args(emissivity, tau_atm, window_transmission, window_reflection)
    eps = as_float64(emissivity)
    ta = as_float64(tau_atm)
    tw = as_float64(window_transmission)
    rw = as_float64(window_reflection)
    b_refl = as_float64(reflected_radiance)
    background = (
        tw * (1.0 - ta) * as_float64(atmosphere_radiance)
        + (1.0 - tw - rw) * as_float64(window_radiance)
        + rw * as_float64(window_reflected_radiance)
    )
    b = result_buffer(out, measured_radiance, eps, b_refl, ta, tw, background)
    np.subtract(measured_radiance, background, out=b)
    b /= tw * ta * eps
    b -= (1.0 - eps) / eps * b_refl
    return scalar_or_array(b) if out is None else b
