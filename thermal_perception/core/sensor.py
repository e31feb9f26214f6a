"""Uncooled microbolometer model: thermal lag, temporal noise (NETD), quantisation, saturation.

First version: an ideal radiometrically calibrated core (no fixed-pattern noise or FPA drift
yet). Each frame the detector's radiance state relaxes towards the scene with the pixels'
first-order time constant, ``S <- S + (L - S) * (1 - exp(-dt / tau))``, white noise whose rms
equals ``netd_k`` at a 300 K scene is added in counts, and the result is rounded and clipped to
the ADC range.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from thermal_perception.core.calibration import LinearCalibration, noise_sigma_counts
from thermal_perception.core.camera import CameraProfile
from thermal_perception.core.radiometry import BandRadianceTable


class MicrobolometerModel:
    """Turns band radiance images at the aperture into raw uint16 counts.

    Buffers are allocated once for the stream's frame size.

    Parameters
    ----------
    profile : the camera constants (NETD, tau, bit depth).
    calibration : linear counts <-> radiance relation of the camera.
    table : band radiance table of the camera band.
    seed : seed of the noise generator (reproducible streams).
    """

    def __init__(self, profile: CameraProfile, calibration: LinearCalibration,
                 table: BandRadianceTable, seed: int = 0) -> None:
        self.profile = profile
        self.calibration = calibration
        self.noise_sigma_counts = noise_sigma_counts(calibration, table, profile.netd_k)
        self._rng = np.random.default_rng(seed)
        shape = (profile.height, profile.width)
        self._state = np.empty(shape, np.float32)  # detector radiance state, W/(m^2 sr)
        self._signal = np.empty(shape, np.float32)
        self._noise = np.empty(shape, np.float32)
        self._counts = np.empty(shape, np.uint16)
        self._primed = False

    def reset(self) -> None:
        """Forget the detector state (the next frame starts settled on its scene)."""
        self._primed = False

    def lag_factor(self, dt_s: float) -> float:
        """Fraction of a scene step the detector follows within ``dt_s`` seconds."""
        tau = self.profile.time_constant_s
        return 1.0 if tau <= 0.0 else -math.expm1(-max(dt_s, 0.0) / tau)

    def expose(self, radiance: NDArray[np.float32], dt_s: float) -> NDArray[np.uint16]:
        """Counts for one frame.

        Parameters
        ----------
        radiance : (H, W) float32, band radiance at the aperture, W/(m^2 sr).
        dt_s : time since the previous frame, s (sets the thermal lag).

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
        np.subtract(self._state, np.float32(cal.radiance_at_offset), out=self._signal)
        self._signal *= np.float32(cal.gain)
        self._signal += np.float32(cal.offset_counts + 0.5)  # +0.5: floor below rounds
        self._rng.standard_normal(out=self._noise, dtype=np.float32)
        self._noise *= np.float32(self.noise_sigma_counts)
        self._signal += self._noise
        np.clip(self._signal, 0.0, cal.full_scale_counts, out=self._signal)
        np.copyto(self._counts, self._signal, casting="unsafe")  # truncation == floor (>= 0)
        return self._counts
