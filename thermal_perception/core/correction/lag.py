"""Thermal-lag compensation of microbolometer frames.

The detector follows the scene radiance with a first-order lag (see
:class:`~thermal_perception.core.physics.sensor.MicrobolometerModel`)::

    S_k = S_{k-1} + a (L_k - S_{k-1}),    a = 1 - exp(-dt / tau)

so the exact inverse is ``L_k = S_k + (1/a - 1) (S_k - S_{k-1})``. It amplifies the temporal
noise of the frame difference by ``1/a - 1``; :class:`LagCompensator` applies it with a smooth
noise gate. Works on any signal affine in radiance (raw or NUC-corrected counts, radiance), not
on temperature. Pure numpy; no ROS imports.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

SQRT2 = math.sqrt(2.0)  # std of a frame difference / std of one frame (independent noise)
LAG_THRESHOLD_FACTOR = 3.0  # gate knee: frame differences of 3 sigma_diff get half the gain


class LagCompensator:
    """Inverse first-order lag filter with a soft noise gate.

    Per pixel, with ``D = S_k - S_{k-1}`` and ``c = threshold_factor * sqrt(2) * noise_sigma``::

        out = S_k + strength * (1/a - 1) * w(D) * D,    w(D) = D^2 / (D^2 + c^2)

    Changes well above the noise (moving edges) get the exact inverse (w -> 1); noise-sized
    differences in static regions are barely touched (w ~ 0.1 at 1 sigma for the default
    factor). With ``noise_sigma = 0`` the gate is off and the filter is the exact inverse.

    Parameters
    ----------
    time_constant_s : detector time constant tau, s (0: no lag, frames pass through).
    noise_sigma : temporal noise of one frame, in the frame's units (e.g. counts rms).
    strength : fraction of the correction applied, [0, 1].
    threshold_factor : gate knee in units of the frame-difference noise.
    """

    def __init__(self, time_constant_s: float, noise_sigma: float, strength: float = 1.0,
                 threshold_factor: float = LAG_THRESHOLD_FACTOR) -> None:
        if time_constant_s < 0 or noise_sigma < 0 or threshold_factor < 0:
            raise ValueError("time_constant_s, noise_sigma and threshold_factor must be >= 0")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength {strength} must be in [0, 1]")
        self.time_constant_s = float(time_constant_s)
        self.noise_sigma = float(noise_sigma)
        self.strength = float(strength)
        knee = float(threshold_factor) * SQRT2 * self.noise_sigma
        self.knee_squared = np.float32(knee * knee)
        self._previous: NDArray[np.float32] | None = None
        # (output, difference, weight) work buffers of the stream's frame size
        self._buffers: tuple[NDArray[np.float32], ...] = ()

    def reset(self) -> None:
        """Forget the previous frame (the next one passes through)."""
        self._previous = None

    def lag_factor(self, dt_s: float) -> float:
        """``a = 1 - exp(-dt / tau)``: fraction of a step followed within ``dt_s`` s."""
        if self.time_constant_s <= 0.0:
            return 1.0
        return -math.expm1(-max(dt_s, 0.0) / self.time_constant_s)

    def correction_gain(self, dt_s: float) -> float:
        """``strength * (1/a - 1)``: the multiplier of the frame difference (0 if dt <= 0)."""
        a = self.lag_factor(dt_s)
        return 0.0 if a <= 0.0 else self.strength * (1.0 / a - 1.0)

    def apply(self, frame: NDArray, dt_s: float, out: NDArray[np.float32] | None = None
              ) -> NDArray[np.float32]:
        """Lag-compensated frame.

        Parameters
        ----------
        frame : (H, W) float32 (or integer) signal affine in radiance, e.g. counts.
        dt_s : time since the previous frame, s.
        out : (H, W) float32 destination; default an internal buffer, valid until the next
            call.

        Returns
        -------
        (H, W) float32; the first frame (and any after a shape change) passes through.
        """
        shape = frame.shape
        if not self._buffers or self._buffers[0].shape != shape:
            self._buffers = tuple(np.empty(shape, np.float32) for _ in range(3))
            self._previous = None
        own, diff, weight = self._buffers
        if out is None:
            out = own
        elif out.shape != shape or out.dtype != np.float32:
            raise ValueError(f"out must be a {shape} float32 array")
        if self._previous is None:
            self._previous = np.empty(shape, np.float32)
            np.copyto(self._previous, frame, casting="unsafe")
            np.copyto(out, frame, casting="unsafe")
            return out
        gain = np.float32(self.correction_gain(dt_s))
        np.subtract(frame, self._previous, out=diff, casting="unsafe")
        np.copyto(self._previous, frame, casting="unsafe")
        if self.knee_squared > 0.0:
            np.multiply(diff, diff, out=weight)
            weight += self.knee_squared
            np.divide(diff, weight, out=weight)   # D / (D^2 + c^2)
            diff *= diff                          # D^2
            diff *= weight                        # w(D) * D = D^3 / (D^2 + c^2)
        diff *= gain
        np.add(self._previous, diff, out=out)
        return out
