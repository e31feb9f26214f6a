"""Counts <-> signal <-> temperature: radiometric calibration models and the per-stream
conversion with the measurement equation.

A *radiometric model* relates a camera's counts to a *signal* that is linear in the radiance
reaching the detector, and that signal to blackbody temperature. The measurement equation
(emissivity, reflected temperature, atmosphere, window) is linear in radiance, so it is
inverted in the signal domain whatever the model. Models are interchangeable and chosen at
run time (:func:`make_model`):

- ``linear_radiance``: counts linear in 8-14 um band radiance (our simulator and our own
  blackbody calibrations, :func:`fit_linear_calibration`);
- ``flir_planck``: FLIR's R1, R2, B, F, O constants (the vendor formula; signal = raw counts);
- ``tlinear``: Lepton/Boson TLinear output, kelvin = counts x resolution (0.01 K);
- ``optris``: Optris-style output, deg C = (counts - 1000) / 10;
- ``gain_offset``: any camera whose output is linear in apparent temperature.
The last three output *apparent* (emissivity 1) temperatures; converting them to band
radiance with Planck's law lets the same measurement equation correct them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.constants as sc
from numpy.typing import ArrayLike, NDArray

from thermal_perception.core.kernels import lut_gather, warm_up
from thermal_perception.core.physics.band import BandRadianceTable
from thermal_perception.core.physics.camera import CameraProfile
from thermal_perception.core.physics.measurement import atmospheric_transmission, object_radiance
from thermal_perception.core.physics.vendor import FlirPlanck, flir_raw_to_temperature_c

ZERO_CELSIUS_K = sc.zero_Celsius
NETD_REFERENCE_K = 300.0  # scene temperature at which datasheets state NETD
UINT16_VALUES = 1 << 16


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


def fit_linear_calibration(mean_counts: ArrayLike, blackbody_temperature_c: ArrayLike,
                           table: BandRadianceTable, full_scale_counts: int = (1 << 14) - 1
                           ) -> tuple[LinearCalibration, float]:
    """Fit ``counts = offset + gain * (L(T) - L0)`` to frames of blackbody references.

    Parameters
    ----------
    mean_counts : (N,) float, counts; the mean of each blackbody frame (N >= 2).
    blackbody_temperature_c : (N,) float, deg C; the blackbody temperatures (emissivity ~1).
    table : band radiance table of the camera band.
    full_scale_counts : ADC full scale.

    Returns
    -------
    calibration, rms residual in K (how well a straight line in radiance explains the data).
    """
    counts = np.asarray(mean_counts, dtype=np.float64)
    temps_k = np.asarray(blackbody_temperature_c, dtype=np.float64) + ZERO_CELSIUS_K
    if counts.shape != temps_k.shape or counts.size < 2:
        raise ValueError("need at least two (counts, temperature) pairs of the same length")
    radiance = np.asarray(table.radiance(temps_k), dtype=np.float64)
    if np.ptp(radiance) <= 0:
        raise ValueError("blackbody temperatures must differ")
    gain, intercept = np.polyfit(radiance, counts, 1)
    if gain <= 0:
        raise ValueError(f"counts do not increase with temperature (gain {gain:.3g})")
    l0 = float(radiance.min())
    calibration = LinearCalibration(offset_counts=float(intercept + gain * l0), gain=float(gain),
                                    radiance_at_offset=l0, full_scale_counts=full_scale_counts)
    fitted_k = np.asarray(table.temperature_k(calibration.radiance_from_counts(counts)))
    return calibration, float(np.sqrt(np.mean((fitted_k - temps_k) ** 2)))


class RadiometricModel(Protocol):
    """Counts <-> signal (linear in radiance) <-> blackbody temperature."""

    name: str
    full_scale_counts: int

    def signal_from_counts(self, counts: NDArray) -> NDArray: ...

    def counts_from_signal(self, signal: NDArray) -> NDArray: ...

    def signal_from_temperature_k(self, temperature_k: ArrayLike) -> NDArray: ...

    def temperature_k_from_signal(self, signal: NDArray) -> NDArray: ...

    def signal_derivative(self, temperature_k: ArrayLike) -> NDArray:
        """dS/dT at ``temperature_k``, signal units per K."""
        ...


class _BandRadianceSignal:
    """Models whose signal is the band radiance of the camera band, W/(m^2 sr)."""

    table: BandRadianceTable

    def signal_from_temperature_k(self, temperature_k: ArrayLike) -> NDArray:
        return np.asarray(self.table.radiance(np.asarray(temperature_k, dtype=np.float64)))

    def temperature_k_from_signal(self, signal: NDArray) -> NDArray:
        with np.errstate(invalid="ignore"):
            return np.asarray(self.table.temperature_k(np.asarray(signal, dtype=np.float64)))

    def signal_derivative(self, temperature_k: ArrayLike) -> NDArray:
        return np.asarray(self.table.derivative(np.asarray(temperature_k, dtype=np.float64)))


class LinearRadianceModel(_BandRadianceSignal):
    """Counts linear in band radiance; signal = band radiance, W/(m^2 sr)."""

    name = "linear_radiance"

    def __init__(self, calibration: LinearCalibration, table: BandRadianceTable) -> None:
        self.calibration = calibration
        self.table = table
        self.full_scale_counts = calibration.full_scale_counts

    def signal_from_counts(self, counts: NDArray) -> NDArray:
        return self.calibration.radiance_from_counts(counts)

    def counts_from_signal(self, signal: NDArray) -> NDArray:
        return self.calibration.counts_from_radiance(signal)


class FlirPlanckModel:
    """FLIR's vendor calibration: signal = raw counts, T from the R1/R2/B/F/O formula."""

    name = "flir_planck"

    def __init__(self, planck: FlirPlanck, full_scale_counts: int = UINT16_VALUES - 1) -> None:
        self.planck = planck
        self.full_scale_counts = full_scale_counts

    def signal_from_counts(self, counts: NDArray) -> NDArray:
        return np.asarray(counts, dtype=np.float64)

    def counts_from_signal(self, signal: NDArray) -> NDArray:
        return np.asarray(signal, dtype=np.float64)

    def signal_from_temperature_k(self, temperature_k: ArrayLike) -> NDArray:
        return np.asarray(self.planck.counts_from_temperature_k(temperature_k))

    def temperature_k_from_signal(self, signal: NDArray) -> NDArray:
        return np.asarray(self.planck.temperature_k_from_counts(signal))

    def signal_derivative(self, temperature_k: ArrayLike) -> NDArray:
        # d/dT [R1 / (R2 (e^{B/T} - F))] = R1 B e^{B/T} / (R2 T^2 (e^{B/T} - F)^2)
        p = self.planck
        t = np.asarray(temperature_k, dtype=np.float64)
        e = np.exp(p.B / t)
        return p.R1 * p.B * e / (p.R2 * t**2 * (e - p.F) ** 2)


class LinearTemperatureModel(_BandRadianceSignal):
    """Cameras whose output is linear in apparent temperature: ``T_K = gain * counts + offset``.

    The signal is the band radiance of that apparent temperature (Planck), so emissivity,
    reflection and atmosphere are corrected like for any other model.
    """

    def __init__(self, gain_k_per_count: float, offset_k: float, table: BandRadianceTable,
                 name: str = "gain_offset", full_scale_counts: int = UINT16_VALUES - 1) -> None:
        if gain_k_per_count <= 0:
            raise ValueError(f"gain must be > 0 K per count, got {gain_k_per_count}")
        self.gain = float(gain_k_per_count)
        self.offset_k = float(offset_k)
        self.table = table
        self.name = name
        self.full_scale_counts = full_scale_counts

    def apparent_temperature_k(self, counts: ArrayLike) -> NDArray:
        return self.gain * np.asarray(counts, dtype=np.float64) + self.offset_k

    def signal_from_counts(self, counts: NDArray) -> NDArray:
        t = self.apparent_temperature_k(counts)
        with np.errstate(invalid="ignore"):
            return np.asarray(self.table.radiance(t))

    def counts_from_signal(self, signal: NDArray) -> NDArray:
        return (np.asarray(self.table.temperature_k(signal)) - self.offset_k) / self.gain


MODEL_NAMES = ("linear_radiance", "flir_planck", "tlinear", "optris", "gain_offset")
TLINEAR_RESOLUTION_K = 0.01     # Lepton/Boson TLinear high-resolution mode (0.1 K in low)
OPTRIS_OFFSET_COUNTS = 1000.0   # Optris PI: T_C = (counts - 1000) / 10
OPTRIS_COUNTS_PER_K = 10.0


def make_model(name: str, table: BandRadianceTable, *, profile: CameraProfile | None = None,
               **options: Any) -> RadiometricModel:
    """Build the radiometric model ``name`` (one of :data:`MODEL_NAMES`).

    Options: ``linear_radiance``: ``calibration`` (LinearCalibration) or a ``profile``;
    ``flir_planck``: ``R1, R2, B, F, O``; ``tlinear``: ``resolution_k`` (0.01);
    ``gain_offset``: ``gain_k_per_count``, ``offset_c``.
    """
    if name == "linear_radiance":
        calibration = options.get("calibration")
        if calibration is None:
            if profile is None:
                raise ValueError("linear_radiance needs a calibration or a camera profile")
            calibration = LinearCalibration.from_profile(profile, table)
        return LinearRadianceModel(calibration, table)
    if name == "flir_planck":
        missing = [k for k in ("R1", "R2", "B", "F", "O") if k not in options]
        if missing:
            raise ValueError(f"flir_planck needs the constants {missing}")
        return FlirPlanckModel(FlirPlanck(*(float(options[k]) for k in ("R1", "R2", "B", "F",
                                                                         "O"))))
    if name == "tlinear":
        return LinearTemperatureModel(float(options.get("resolution_k", TLINEAR_RESOLUTION_K)),
                                      0.0, table, name="tlinear")
    if name == "optris":
        gain = 1.0 / OPTRIS_COUNTS_PER_K
        return LinearTemperatureModel(gain, ZERO_CELSIUS_K - OPTRIS_OFFSET_COUNTS * gain, table,
                                      name="optris")
    if name == "gain_offset":
        return LinearTemperatureModel(float(options["gain_k_per_count"]),
                                      float(options["offset_c"]) + ZERO_CELSIUS_K, table)
    raise ValueError(f"unknown radiometric model {name!r}; known: {list(MODEL_NAMES)}")


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

    def background_signals(self, model: RadiometricModel | BandRadianceTable
                           ) -> dict[str, float]:
        """Signals of the reflected, atmosphere and window terms, in the model's units."""
        to_signal = (model.radiance if isinstance(model, BandRadianceTable)
                     else model.signal_from_temperature_k)

        def signal(t_c: float) -> float:
            return float(to_signal(t_c + ZERO_CELSIUS_K))

        return {
            "reflected_radiance": signal(self.reflected_temperature_c),
            "atmosphere_radiance": signal(self.atmosphere_temperature_c),
            "window_radiance": signal(self.window_temperature_c),
            "window_reflected_radiance": signal(self.reflected_temperature_c),
        }


@dataclass(frozen=True)
class UncertaintyInputs:
    """One-sigma uncertainties propagated to the per-pixel temperature uncertainty.

    netd_k : temporal noise of one frame, K at a 300 K scene (the camera's NETD).
    emissivity_sigma : absolute uncertainty of the emissivity.
    reflected_temperature_sigma_k : uncertainty of the reflected temperature, K.
    """

    netd_k: float = 0.05
    emissivity_sigma: float = 0.02
    reflected_temperature_sigma_k: float = 2.0


class CountsToTemperature:
    """Converts raw counts to object temperature in deg C through per-stream lookup tables.

    All 65536 possible uint16 values are converted once (the measurement equation inverted in
    the model's signal domain, then the model's signal -> temperature); a frame is then one
    gather (:func:`~thermal_perception.core.kernels.lut_gather`). Counts at or above full
    scale (saturated), at zero (dead/underflow), or whose object signal is outside the model's
    range map to NaN. With ``uncertainty`` a second table gives the one-sigma temperature
    uncertainty (K) of every count value.

    Parameters
    ----------
    model : a radiometric model, or a LinearCalibration (with ``table``) for the linear model.
    table : band radiance table (only needed with a LinearCalibration).
    conditions : measurement conditions (default: blackbody, no atmosphere).
    uncertainty : inputs of the uncertainty propagation; None: no uncertainty table.
    """

    def __init__(self, model: RadiometricModel | LinearCalibration,
                 table: BandRadianceTable | None = None,
                 conditions: MeasurementConditions | None = None,
                 uncertainty: UncertaintyInputs | None = None) -> None:
        if isinstance(model, LinearCalibration):
            if table is None:
                raise ValueError("a LinearCalibration needs its BandRadianceTable")
            model = LinearRadianceModel(model, table)
        self.model: RadiometricModel = model
        self.conditions = conditions or MeasurementConditions()
        self._backgrounds = self.conditions.background_signals(model)
        self._tau = self.conditions.atmospheric_transmission()
        counts = np.arange(UINT16_VALUES, dtype=np.float64)
        self.signal_lut = model.signal_from_counts(counts)
        self.valid_lut = (counts > 0) & (counts < model.full_scale_counts)
        obj = self._object_signal(self.signal_lut, self.conditions.emissivity)
        t_k = model.temperature_k_from_signal(obj)
        if isinstance(model, FlirPlanckModel):
            t_k = self._flir_vendor_k(model, counts)
        lut = np.where(self.valid_lut, t_k - ZERO_CELSIUS_K, np.nan)
        self.lut_c = lut.astype(np.float32)
        self.lut_c.setflags(write=False)
        self.sigma_lut_k: NDArray[np.float32] | None = None
        if uncertainty is not None:
            sigma = self._sigma_k(obj, t_k, self.conditions.emissivity, uncertainty)
            self.sigma_lut_k = np.where(self.valid_lut, sigma, np.nan).astype(np.float32)
            self.sigma_lut_k.setflags(write=False)
        warm_up()  # the per-frame kernels, once per process, before the first frame

    def _flir_vendor_k(self, model: FlirPlanckModel, counts: NDArray) -> NDArray:
        """FLIR cameras: the vendor's own equation (window half way, the air path split in
        two), so users get the numbers of FLIR's software. The per-pixel emissivity and
        uncertainty paths use the general equation (window at the camera)."""
        c = self.conditions
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(flir_raw_to_temperature_c(
                counts, model.planck, emissivity=c.emissivity, object_distance_m=c.distance_m,
                reflected_c=c.reflected_temperature_c, atmosphere_c=c.atmosphere_temperature_c,
                window_c=c.window_temperature_c, window_transmission=c.window_transmission,
                relative_humidity=c.relative_humidity, window_reflection=c.window_reflection)
            ) + ZERO_CELSIUS_K

    def _object_signal(self, measured: NDArray, emissivity: ArrayLike) -> NDArray:
        c = self.conditions
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(object_radiance(
                measured, emissivity=emissivity, tau_atm=self._tau,
                window_transmission=c.window_transmission, window_reflection=c.window_reflection,
                **self._backgrounds))

    def _sigma_k(self, obj_signal: NDArray, t_k: NDArray, emissivity: ArrayLike,
                 inputs: UncertaintyInputs) -> NDArray:
        """First-order propagation of noise, emissivity and reflected-temperature errors."""
        model, c = self.model, self.conditions
        eps = np.asarray(emissivity, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = model.signal_derivative(t_k)  # dS_obj/dT_obj
            path = eps * self._tau * c.window_transmission  # dS_meas/dS_obj
            noise_signal = inputs.netd_k * float(model.signal_derivative(NETD_REFERENCE_K))
            s_refl = self._backgrounds["reflected_radiance"]
            refl_slope = float(model.signal_derivative(
                c.reflected_temperature_c + ZERO_CELSIUS_K))
            terms = (
                noise_signal / path,                                        # NETD
                np.abs(obj_signal - s_refl) / eps * inputs.emissivity_sigma,  # emissivity
                (1.0 - eps) / eps * refl_slope * inputs.reflected_temperature_sigma_k,
            )
            return np.sqrt(sum(np.square(t) for t in terms)) / slope

    def __call__(self, counts: NDArray[np.uint16], out: NDArray[np.float32] | None = None
                 ) -> NDArray[np.float32]:
        """Temperature image, deg C float32 (NaN where invalid), from a uint16 counts image."""
        _check_counts(counts)
        return lut_gather(self.lut_c, counts, out)

    def uncertainty(self, counts: NDArray[np.uint16], out: NDArray[np.float32] | None = None
                    ) -> NDArray[np.float32]:
        """One-sigma temperature uncertainty image, K (needs ``uncertainty`` at construction)."""
        if self.sigma_lut_k is None:
            raise RuntimeError("built without uncertainty inputs")
        _check_counts(counts)
        return lut_gather(self.sigma_lut_k, counts, out)

    def object_temperature_c(self, measured_signal: ArrayLike,
                             emissivity: ArrayLike | None = None) -> NDArray:
        """Object temperature, deg C, of measured signals (float, unquantised), inverting the
        measurement equation; ``emissivity`` (scalar or per-pixel) defaults to the
        conditions'."""
        eps = self.conditions.emissivity if emissivity is None else emissivity
        obj = self._object_signal(np.asarray(measured_signal, dtype=np.float64), eps)
        return self.model.temperature_k_from_signal(obj) - ZERO_CELSIUS_K

    def with_emissivity_map(self, counts: NDArray[np.uint16], emissivity: NDArray,
                            out: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
        """Temperature image, deg C, with a per-pixel emissivity map (same shape as counts)."""
        _check_counts(counts)
        eps = np.asarray(emissivity, dtype=np.float64)
        if eps.shape != counts.shape:
            raise ValueError(f"emissivity map {eps.shape} does not match the image {counts.shape}")
        if np.any(~(eps > 0.0) | (eps > 1.0)):
            raise ValueError("emissivity map values must be in (0, 1]")
        t_c = self.object_temperature_c(np.take(self.signal_lut, counts), eps)
        t_c[~np.take(self.valid_lut, counts)] = np.nan
        if out is None:
            return t_c.astype(np.float32)
        np.copyto(out, t_c, casting="same_kind")
        return out


def _check_counts(counts: NDArray) -> None:
    if counts.dtype != np.uint16:
        raise TypeError(f"counts must be uint16, got {counts.dtype}")


def noise_sigma_counts(calibration: LinearCalibration, table: BandRadianceTable,
                       netd_k: float) -> float:
    """Temporal noise, counts rms, that gives ``netd_k`` at a 300 K scene."""
    return float(netd_k * table.derivative(NETD_REFERENCE_K) * calibration.gain)
