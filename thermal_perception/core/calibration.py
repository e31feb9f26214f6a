"""Counts <-> radiance <-> temperature for a radiometric camera.

A radiometrically calibrated microbolometer output is, to first order, linear in the band
radiance reaching the detector: ``counts = offset + gain * (L - L_offset)``. Temperatures come
from inverting Planck's law integrated over the camera band (:class:`BandRadianceTable`) after
removing the reflected, atmospheric and window terms of the measurement equation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.constants as sc
from numpy.typing import ArrayLike, NDArray

from thermal_perception.core.camera import CameraProfile
from thermal_perception.core.radiometry import (
    BandRadianceTable,
    atmospheric_transmission,
    object_radiance,
)

ZERO_CELSIUS_K = sc.zero_Celsius
NETD_REFERENCE_K = 300.0  # scene temperature at which datasheets state NETD


@dataclass(frozen=True)
class LinearCalibration:
    """Linear counts <-> band radiance relation of a calibrated camera.

    ``counts = offset_counts + gain * (radiance - radiance_at_offset)``; radiance in W/(m^2 sr)
    over the camera band, gain in counts per W/(m^2 sr).
    """

    offset_counts: float
    gain: float
    radiance_at_offset: float
    full_scale_counts: int

    @classmethod
    def from_profile(cls, profile: CameraProfile, table: BandRadianceTable) -> LinearCalibration:
        """Map the profile's radiometric range onto [offset_counts, full scale - headroom]."""
        low_k, high_k = (t + ZERO_CELSIUS_K for t in profile.radiometric_range_c)
        l_low, l_high = float(table.radiance(low_k)), float(table.radiance(high_k))
        headroom = 0.02 * profile.full_scale_counts  # top 2 % kept free below saturation
        span = profile.full_scale_counts - headroom - profile.offset_counts
        return cls(
            offset_counts=float(profile.offset_counts),
            gain=span / (l_high - l_low),
            radiance_at_offset=l_low,
            full_scale_counts=profile.full_scale_counts,
        )

    def counts_from_radiance(self, radiance: ArrayLike) -> NDArray:
        """Ideal (noise-free, unquantised) counts for a band radiance, W/(m^2 sr)."""
        return self.offset_counts + self.gain * (np.asarray(radiance) - self.radiance_at_offset)

    def radiance_from_counts(self, counts: ArrayLike) -> NDArray:
        """Band radiance, W/(m^2 sr), for counts."""
        return (np.asarray(counts, dtype=np.float64) - self.offset_counts) / self.gain \
            + self.radiance_at_offset


@dataclass(frozen=True)
class MeasurementConditions:
    """Scene parameters of the measurement equation.

    emissivity : object emissivity, (0, 1].
    reflected_temperature_c : apparent temperature of what the object reflects, deg C.
    atmosphere_temperature_c : air temperature along the path, deg C.
    distance_m : object distance, m (0 disables the atmosphere).
    relative_humidity : 0..1.
    window_temperature_c, window_transmission, window_reflection : external window/optics;
        transmission 1 and reflection 0 mean no window.
    """

    emissivity: float = 1.0
    reflected_temperature_c: float = 20.0
    atmosphere_temperature_c: float = 20.0
    distance_m: float = 0.0
    relative_humidity: float = 0.5
    window_temperature_c: float = 20.0
    window_transmission: float = 1.0
    window_reflection: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.emissivity <= 1.0:
            problems.append(f"emissivity {self.emissivity} must be in (0, 1]")
        if self.distance_m < 0.0:
            problems.append(f"distance_m {self.distance_m} must be >= 0")
        if not 0.0 <= self.relative_humidity <= 1.0:
            problems.append(f"relative_humidity {self.relative_humidity} must be in [0, 1]")
        if not 0.0 < self.window_transmission <= 1.0:
            problems.append(f"window_transmission {self.window_transmission} must be in (0, 1]")
        if not 0.0 <= self.window_reflection < 1.0 - self.window_transmission + 1e-12:
            problems.append("window_reflection must be in [0, 1 - window_transmission]")
        if problems:
            raise ValueError("; ".join(problems))

    def atmospheric_transmission(self) -> float:
        """Transmission of the air path, 0..1."""
        if self.distance_m == 0.0:
            return 1.0
        return float(atmospheric_transmission(
            self.distance_m, self.relative_humidity, self.atmosphere_temperature_c))

    def background_radiances(self, table: BandRadianceTable) -> dict[str, float]:
        """Band radiances of the reflected, atmosphere and window terms, W/(m^2 sr)."""
        def radiance(t_c: float) -> float:
            return float(table.radiance(t_c + ZERO_CELSIUS_K))

        return {
            "reflected_radiance": radiance(self.reflected_temperature_c),
            "atmosphere_radiance": radiance(self.atmosphere_temperature_c),
            "window_radiance": radiance(self.window_temperature_c),
            "window_reflected_radiance": radiance(self.reflected_temperature_c),
        }


class CountsToTemperature:
    """Converts raw counts to object temperature in deg C through a per-stream lookup table.

    All 65536 possible uint16 values are converted once (measurement equation inverted in the
    radiance domain, then Planck's band integral inverted by the table); a frame is then one
    ``np.take``. Counts at or above full scale (saturated), at zero (dead/underflow), or whose
    object radiance falls outside the table's temperature range map to NaN.
    """

    def __init__(self, calibration: LinearCalibration, table: BandRadianceTable,
                 conditions: MeasurementConditions | None = None) -> None:
        self.calibration = calibration
        self.table = table
        self.conditions = conditions or MeasurementConditions()
        counts = np.arange(1 << 16, dtype=np.float64)
        measured = calibration.radiance_from_counts(counts)
        obj = object_radiance(
            measured,
            emissivity=self.conditions.emissivity,
            tau_atm=self.conditions.atmospheric_transmission(),
            window_transmission=self.conditions.window_transmission,
            window_reflection=self.conditions.window_reflection,
            **self.conditions.background_radiances(table),
        )
        with np.errstate(invalid="ignore"):
            lut = np.asarray(table.temperature_k(np.asarray(obj)), dtype=np.float64) \
                - ZERO_CELSIUS_K
        lut[0] = np.nan
        lut[calibration.full_scale_counts:] = np.nan
        self.lut_c = lut.astype(np.float32)
        self.lut_c.setflags(write=False)

    def __call__(self, counts: NDArray[np.uint16], out: NDArray[np.float32] | None = None
                 ) -> NDArray[np.float32]:
        """Temperature image, deg C float32 (NaN where invalid), from a uint16 counts image."""
        if counts.dtype != np.uint16:
            raise TypeError(f"counts must be uint16, got {counts.dtype}")
        return np.take(self.lut_c, counts, out=out)


def noise_sigma_counts(calibration: LinearCalibration, table: BandRadianceTable,
                       netd_k: float) -> float:
    """Temporal noise, counts rms, that gives ``netd_k`` at a 300 K scene."""
    return float(netd_k * table.derivative(NETD_REFERENCE_K) * calibration.gain)
