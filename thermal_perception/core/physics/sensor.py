"""Uncooled microbolometer model: thermal lag, temporal noise (NETD), fixed-pattern noise,
FPA-temperature drift, bad pixels, quantisation and saturation.

Signal chain of one pixel, in counts::

    ideal  = offset + gain * (S - L0)                        (camera's linear calibration)
    counts = ideal + gain * (g_px - 1) * (S - L0) + o_px     (fixed-pattern gain and offset)
             + d_px * (T_fpa - T_fpa_ref)                    (drift with FPA temperature)
             + n,  n ~ N(0, sigma)                           (temporal noise: NETD at 300 K)

where ``S`` is the detector's radiance state, which relaxes towards the scene radiance ``L``
with the pixels' first-order time constant between frames,
``S <- S + (L - S) * (1 - exp(-dt / tau))``. Dead pixels read 0, hot pixels full scale,
flickering pixels jump by a fixed amplitude at random (random telegraph noise). Results are
floored to integers and clipped to the ADC range.

With ``defects=False`` (the default) the model is an ideal, factory-calibrated radiometric
core: only lag, noise, quantisation and saturation remain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from thermal_perception.core.physics.band import BandRadianceTable
from thermal_perception.core.physics.calibration import LinearCalibration, noise_sigma_counts
from thermal_perception.core.physics.camera import CameraProfile

FLICKER_TOGGLE_PROBABILITY = 0.1  # per frame: a flickering pixel changes state


@dataclass
class DefectMaps:
    """Per-pixel imperfections of one sensor (H x W each).

    gain : relative responsivity (1 = nominal). offset_counts : counts.
    drift_counts_per_k : output change per kelvin of FPA temperature, counts/K.
    dead, hot, flicker : boolean masks.
    """

    gain: NDArray[np.float32]
    offset_counts: NDArray[np.float32]
    drift_counts_per_k: NDArray[np.float32]
    dead: NDArray[np.bool_]
    hot: NDArray[np.bool_]
    flicker: NDArray[np.bool_]

    @classmethod
    def draw(cls, profile: CameraProfile, rng: np.random.Generator) -> DefectMaps:
        """Random maps with the profile's statistics."""
        shape = (profile.height, profile.width)
        gain = 1.0 + profile.fpn_gain_std * rng.standard_normal(shape, dtype=np.float32)
        offset = profile.fpn_offset_std_counts * rng.standard_normal(shape, dtype=np.float32)
        drift = profile.fpa_drift_counts_per_k * (
            1.0 + profile.fpa_drift_spread * rng.standard_normal(shape, dtype=np.float32))
        draw = rng.random(shape)
        dead = draw < profile.dead_pixel_fraction
        hot = (draw >= profile.dead_pixel_fraction) & (
            draw < profile.dead_pixel_fraction + profile.hot_pixel_fraction)
        flicker = (~dead & ~hot) & (rng.random(shape) < profile.flicker_pixel_fraction)
        return cls(gain.astype(np.float32), offset.astype(np.float32),
                   drift.astype(np.float32), dead, hot, flicker)

    @property
    def bad(self) -> NDArray[np.bool_]:
        """All pixels that do not measure (dead, hot or flickering)."""
        return self.dead | self.hot | self.flicker


class MicrobolometerModel:
    """Turns band radiance images at the aperture into raw uint16 counts.

    Buffers are allocated once for the stream's frame size.

    Parameters
    ----------
    profile : the camera constants (NETD, tau, bit depth, defect statistics).
    calibration : linear counts <-> radiance relation of the camera.
    table : band radiance table of the camera band.
    seed : seed of the noise generator and of the defect maps (reproducible streams).
    defects : add fixed-pattern noise, FPA drift and bad pixels (raw, un-corrected output).
    """

    def __init__(self, profile: CameraProfile, calibration: LinearCalibration,
                 table: BandRadianceTable, seed: int = 0, defects: bool = False) -> None:
        self.profile = profile
        self.calibration = calibration
        self.noise_sigma_counts = noise_sigma_counts(calibration, table, profile.netd_k)
        self._rng = np.random.default_rng(seed)
        self.defects = DefectMaps.draw(profile, np.random.default_rng(seed + 7919)) \
            if defects else None
        shape = (profile.height, profile.width)
        self._state = np.empty(shape, np.float32)  # detector radiance state, W/(m^2 sr)
        self._signal = np.empty(shape, np.float32)
        self._work = np.empty(shape, np.float32)
        self._noise = np.empty(shape, np.float32)
        self._counts = np.empty(shape, np.uint16)
        self._flicker_on = np.zeros(shape, np.bool_)
        self._primed = False

    def reset(self) -> None:
        """Forget the detector state (the next frame starts settled on its scene)."""
        self._primed = False

    def lag_factor(self, dt_s: float) -> float:
        """Fraction of a scene step the detector follows within ``dt_s`` seconds."""
        tau = self.profile.time_constant_s
        return 1.0 if tau <= 0.0 else -math.expm1(-max(dt_s, 0.0) / tau)

    def expose(self, radiance: NDArray[np.float32], dt_s: float,
               fpa_temperature_c: float | None = None) -> NDArray[np.uint16]:
        """Counts for one frame.

        Parameters
        ----------
        radiance : (H, W) float32, band radiance at the aperture, W/(m^2 sr).
        dt_s : time since the previous frame, s (sets the thermal lag).
        fpa_temperature_c : focal-plane temperature, deg C (drift; default: the reference).

        Returns
        -------
        (H, W) uint16 counts; a view on an internal buffer, valid until the next call.
        """
        if radiance.shape != self._state.shape:
            raise ValueError(f"radiance shape {radiance.shape} != sensor {self._state.shape}")
        if not self._primed:
            np.copyto(self._state, radiance)
            self._primed = True
        else:
            alpha = np.float32(self.lag_factor(dt_s))
            np.subtract(radiance, self._state, out=self._signal)
            self._signal *= alpha
            self._state += self._signal
        cal = self.calibration
        signal = self._signal
        np.subtract(self._state, np.float32(cal.radiance_at_offset), out=signal)
        signal *= np.float32(cal.gain)
        defects = self.defects
        if defects is not None:
            signal *= defects.gain
            signal += defects.offset_counts
            if fpa_temperature_c is not None:
                delta = np.float32(fpa_temperature_c - self.profile.fpa_reference_c)
                np.multiply(defects.drift_counts_per_k, delta, out=self._work)
                signal += self._work
        signal += np.float32(cal.offset_counts + 0.5)  # +0.5: the floor below rounds
        self._rng.standard_normal(out=self._noise, dtype=np.float32)
        self._noise *= np.float32(self.noise_sigma_counts)
        signal += self._noise
        if defects is not None:
            toggle = self._rng.random(signal.shape) < FLICKER_TOGGLE_PROBABILITY
            self._flicker_on ^= toggle & defects.flicker
            signal[self._flicker_on] += np.float32(self.profile.flicker_amplitude_counts)
            signal[defects.dead] = 0.0
            signal[defects.hot] = cal.full_scale_counts
        np.clip(signal, 0.0, cal.full_scale_counts, out=signal)
        np.copyto(self._counts, signal, casting="unsafe")  # truncation == floor (>= 0)
        return self._counts


def fpa_temperature_c(profile: CameraProfile, ambient_c: float, time_s: float) -> float:
    """FPA temperature after ``time_s`` of operation: the core warms from ambient by
    ``fpa_warmup_k`` with time constant ``fpa_warmup_time_constant_s`` (first order)."""
    tau = profile.fpa_warmup_time_constant_s
    rise = profile.fpa_warmup_k * (-math.expm1(-max(time_s, 0.0) / tau) if tau > 0 else 1.0)
    return ambient_c + rise


def measure_netd_k(temperature_frames_c: NDArray) -> float:
    """NETD from a stack of frames of a uniform, constant target: the median over pixels of
    the temporal standard deviation, K.

    Parameters
    ----------
    temperature_frames_c : (N, H, W) float, deg C (N >= 2); NaN pixels are ignored.
    """
    frames = np.asarray(temperature_frames_c, dtype=np.float64)
    if frames.ndim != 3 or frames.shape[0] < 2:
        raise ValueError(f"need a (N>=2, H, W) stack of frames, got shape {frames.shape}")
    with np.errstate(invalid="ignore"):
        per_pixel = np.nanstd(frames, axis=0, ddof=1)
    return float(np.nanmedian(per_pixel))
