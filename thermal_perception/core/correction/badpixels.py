"""Bad pixels of a microbolometer array: detection from blackbody calibration frames, online
flicker detection in the live stream, and replacement from valid neighbours.

Pure numpy (plus OpenCV filters); no ROS imports. Images are (H, W); counts are uint16 (or
float), temperatures float32 deg C.

Categories (exclusive, first match wins, in this order):

- ``hot``: stuck at full scale (saturated in a calibration stack);
- ``dead``: reads zero, or responds with less than ``min_response_fraction`` of the median
  responsivity (counts per blackbody step);
- ``gain``: responsivity outlier, robust z-score (median / MAD) beyond ``gain_z``;
- ``offset``: offset outlier, robust z-score of the cold-blackbody level beyond ``offset_z``;
- ``noisy``: temporal std above ``noise_factor`` x the median temporal std, or a frame-to-frame
  jump above ``jump_factor`` x the median jump noise (flickering, random telegraph noise).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

UINT16_MAX = 65535
MAD_TO_SIGMA = 1.4826           # sigma of a normal distribution = 1.4826 x its MAD
QUANTISATION_STD_COUNTS = 1.0 / math.sqrt(12.0)  # rms error of rounding to integer counts
SQRT2 = math.sqrt(2.0)          # std of a difference of two independent noisy samples / sigma

# Default thresholds of the calibration-frame classification.
MIN_RESPONSE_FRACTION = 0.5     # dead: less than half the median responsivity
GAIN_OUTLIER_Z = 6.0            # robust z of the responsivity (normal pixels: |z| < 5 at 1e-6)
OFFSET_OUTLIER_Z = 8.0          # robust z of the offset (NUC corrects moderate offsets)
NOISE_STD_FACTOR = 4.0          # noisy: temporal std > 4 x the median temporal std
JUMP_FACTOR = 8.0               # flicker: a frame-to-frame jump > 8 sigma of the jump noise

# Online flicker detector defaults (tuned on the simulator's telegraph pixels, see tests).
FLICKER_JUMP_FACTOR = 8.0       # jump above 8 sigma of the frame-difference noise
FLICKER_ACTIVITY_FACTOR = 4.0   # ... and 4 x the mean local |residual| (scene activity)
FLICKER_ACTIVITY_SIZE = 5       # box size of that local activity, pixels
FLICKER_QUIET_FRACTION = 0.5    # neighbouring frames must stay below half the jump threshold
FLICKER_WINDOW_FRAMES = 300.0   # time constant of the exponentially weighted event count
FLICKER_MIN_EVENTS = 5.0        # weighted isolated jumps that flag a pixel
NEIGHBOUR_MEDIAN_SIZE = 3       # 3x3 median of the frame differences (OpenCV float32: 3 or 5)

REPLACER_MAX_RADIUS = 2         # neighbourhood grows from 3x3 (radius 1) up to 5x5 (radius 2)


@dataclass
class BadPixelCriteria:
    """Thresholds of :func:`classify_bad_pixels` (dimensionless factors and z-scores)."""

    min_response_fraction: float = MIN_RESPONSE_FRACTION
    gain_z: float = GAIN_OUTLIER_Z
    offset_z: float = OFFSET_OUTLIER_Z
    noise_factor: float = NOISE_STD_FACTOR
    jump_factor: float = JUMP_FACTOR


@dataclass
class BadPixelReport:
    """Number of bad pixels per category (exclusive) and measured reference values.

    median_response_counts : median counts step between the two blackbodies.
    median_noise_counts : median temporal std, counts rms.
    """

    hot: int
    dead: int
    gain: int
    offset: int
    noisy: int
    total: int
    fraction: float
    median_response_counts: float
    median_noise_counts: float

    def as_dict(self) -> dict[str, float | int]:
        """Plain-Python dict (YAML-safe)."""
        return asdict(self)


@dataclass
class FrameStatistics:
    """Per-pixel temporal statistics of a stack of frames of a constant scene (H, W float64).

    mean : counts. std : temporal std, counts (ddof=1). max_jump : largest absolute
    frame-to-frame difference, counts. max_value : largest value of the stack, counts.
    frames : number of frames.
    """

    mean: NDArray[np.float64]
    std: NDArray[np.float64]
    max_jump: NDArray[np.float64]
    max_value: NDArray[np.float64]
    frames: int


def frame_statistics(frames: ArrayLike) -> FrameStatistics:
    """Temporal statistics of a (N, H, W) stack (N >= 2) in one pass over the frames.

    Accumulates in float64 frame by frame, so no (N, H, W) float copy is made.
    """
    stack = np.asarray(frames)
    if stack.ndim != 3 or stack.shape[0] < 2:
        raise ValueError(f"need a (N>=2, H, W) stack of frames, got shape {stack.shape}")
    n = stack.shape[0]
    shape = stack.shape[1:]
    total = np.zeros(shape, np.float64)
    total_sq = np.zeros(shape, np.float64)
    max_jump = np.zeros(shape, np.float64)
    max_value = np.full(shape, -np.inf)
    current = np.empty(shape, np.float64)
    previous = np.empty(shape, np.float64)
    jump = np.empty(shape, np.float64)
    for k in range(n):
        np.copyto(current, stack[k], casting="unsafe")
        total += current
        np.multiply(current, current, out=jump)
        total_sq += jump
        np.maximum(max_value, current, out=max_value)
        if k:
            np.subtract(current, previous, out=jump)
            np.abs(jump, out=jump)
            np.maximum(max_jump, jump, out=max_jump)
        current, previous = previous, current
    mean = total / n
    var = (total_sq - n * mean * mean) / (n - 1)
    np.maximum(var, 0.0, out=var)  # rounding can make a zero variance slightly negative
    return FrameStatistics(mean, np.sqrt(var), max_jump, max_value, n)


def robust_z(values: NDArray, valid: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
    """Robust z-score ``(v - median) / (1.4826 MAD)`` over the ``valid`` pixels.

    A zero MAD (constant values) gives z = 0 where the value equals the median, inf elsewhere.
    """
    v = np.asarray(values, dtype=np.float64)
    sample = v[valid] if valid is not None else v.ravel()
    if sample.size == 0:
        return np.zeros_like(v)
    median = float(np.median(sample))
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(sample - median)))
    deviation = np.abs(v - median)
    if sigma == 0.0:
        return np.where(deviation == 0.0, 0.0, np.inf)
    return deviation / sigma


def classify_bad_pixels(low: FrameStatistics, high: FrameStatistics, *,
                        full_scale_counts: int = UINT16_MAX,
                        criteria: BadPixelCriteria | None = None
                        ) -> tuple[NDArray[np.bool_], BadPixelReport]:
    """Bad-pixel mask from the statistics of two uniform blackbody stacks (cold, warm).

    Returns
    -------
    (H, W) bool mask (True = bad), and the per-category report.
    """
    c = criteria or BadPixelCriteria()
    if low.mean.shape != high.mean.shape:
        raise ValueError(f"stack shapes differ: {low.mean.shape} vs {high.mean.shape}")
    response = high.mean - low.mean
    hot = (low.max_value >= full_scale_counts) | (high.max_value >= full_scale_counts)
    median_response = float(np.median(response[~hot])) if np.any(~hot) else 0.0
    if median_response <= 0.0:
        raise ValueError("the warm blackbody does not read higher than the cold one "
                         f"(median response {median_response:.3g} counts)")
    dead = ~hot & ((low.mean <= 0.0) | (response < c.min_response_fraction * median_response))
    flagged = hot | dead
    gain = ~flagged & (robust_z(response, ~flagged) > c.gain_z)
    flagged |= gain
    offset = ~flagged & (robust_z(low.mean, ~flagged) > c.offset_z)
    flagged |= offset
    std = np.maximum(low.std, high.std)
    noise = max(float(np.median(std[~flagged])), QUANTISATION_STD_COUNTS)
    jump = np.maximum(low.max_jump, high.max_jump)
    noisy = ~flagged & ((std > c.noise_factor * noise) | (jump > c.jump_factor * SQRT2 * noise))
    mask = flagged | noisy
    total = int(mask.sum())
    report = BadPixelReport(
        hot=int(hot.sum()), dead=int(dead.sum()), gain=int(gain.sum()),
        offset=int(offset.sum()), noisy=int(noisy.sum()), total=total,
        fraction=total / mask.size, median_response_counts=median_response,
        median_noise_counts=noise)
    return mask, report


def detect_from_calibration(frames_low: ArrayLike, frames_high: ArrayLike, *,
                            full_scale_counts: int = UINT16_MAX,
                            criteria: BadPixelCriteria | None = None
                            ) -> tuple[NDArray[np.bool_], BadPixelReport]:
    """Bad pixels from two stacks of uniform blackbody frames.

    Parameters
    ----------
    frames_low, frames_high : (N, H, W) raw counts (uint16 or float) of a uniform blackbody at
        a cold and a warm temperature (N >= 2; more frames catch rarer flicker).
    full_scale_counts : ADC full scale, counts (pixels reaching it are "hot").
    criteria : thresholds (defaults: :class:`BadPixelCriteria`).

    Returns
    -------
    (H, W) bool mask (True = bad), :class:`BadPixelReport`.
    """
    return classify_bad_pixels(frame_statistics(frames_low), frame_statistics(frames_high),
                               full_scale_counts=full_scale_counts, criteria=criteria)


class FlickerDetector:
    """Online detection of flickering (random telegraph) pixels in a live stream.

    Per frame, the frame difference ``d`` is compared with the 3x3 median of ``d`` (what the
    neighbourhood did: scene motion, drift); a pixel has an *isolated jump* when the residual
    exceeds ``jump_factor`` x the frame-difference noise and ``activity_factor`` x the local
    mean residual (busy, moving texture raises the bar), while the residual was quiet in the
    frames just before and just after (scene motion over texture changes pixels in several
    consecutive frames; a telegraph pixel jumps once and stays). Isolated jumps are counted
    with an exponential window of ``window_frames``; a pixel with at least ``min_events`` is
    flagged (latched in :attr:`mask` until :meth:`reset`).

    Works best while per-frame scene motion is small against the texture scale (hovering,
    slow flight); fast motion over strong texture raises the false-event rate.

    Parameters
    ----------
    shape : (H, W) of the stream.
    noise_sigma : temporal noise of one frame, in the frame's units (counts rms).
    """

    def __init__(self, shape: tuple[int, int], noise_sigma: float, *,
                 jump_factor: float = FLICKER_JUMP_FACTOR,
                 activity_factor: float = FLICKER_ACTIVITY_FACTOR,
                 window_frames: float = FLICKER_WINDOW_FRAMES,
                 min_events: float = FLICKER_MIN_EVENTS) -> None:
        if noise_sigma < 0 or window_frames < 1:
            raise ValueError("noise_sigma must be >= 0 and window_frames >= 1")
        self.shape = tuple(shape)
        noise = max(float(noise_sigma), QUANTISATION_STD_COUNTS)
        self.jump_threshold = float(jump_factor) * SQRT2 * noise
        self.quiet_threshold = FLICKER_QUIET_FRACTION * self.jump_threshold
        self.activity_factor = float(activity_factor)
        self.decay = np.float32(1.0 - 1.0 / float(window_frames))
        self.min_events = float(min_events)
        f32 = np.float32
        self._previous = np.empty(self.shape, f32)
        self._diff = np.empty(self.shape, f32)
        self._median = np.empty(self.shape, f32)
        self._residual = np.empty(self.shape, f32)
        self._residual_before = np.empty(self.shape, f32)
        self._activity = np.empty(self.shape, f32)
        self._event = np.empty(self.shape, np.bool_)
        self._pending = np.zeros(self.shape, np.bool_)
        self._work = np.empty(self.shape, np.bool_)
        self.score = np.zeros(self.shape, f32)
        self.mask = np.zeros(self.shape, np.bool_)
        self.frames = 0

    def reset(self) -> None:
        """Forget the history and the latched mask."""
        self.frames = 0
        self._pending.fill(False)
        self.score.fill(0.0)
        self.mask.fill(False)

    def update(self, frame: NDArray) -> NDArray[np.bool_]:
        """Feed one frame, (H, W) counts (uint16 or float); returns the latched mask."""
        if frame.shape != self.shape:
            raise ValueError(f"frame shape {frame.shape} != detector {self.shape}")
        if self.frames == 0:
            np.copyto(self._previous, frame, casting="unsafe")
            self._residual_before.fill(0.0)
            self.frames = 1
            return self.mask
        np.subtract(frame, self._previous, out=self._diff, casting="unsafe")
        np.copyto(self._previous, frame, casting="unsafe")
        cv2.medianBlur(self._diff, NEIGHBOUR_MEDIAN_SIZE, dst=self._median)
        residual = self._residual
        np.subtract(self._diff, self._median, out=residual)
        np.abs(residual, out=residual)
        # A jump pending from the last frame is confirmed if this frame is quiet.
        np.less(residual, self.quiet_threshold, out=self._work)
        self._work &= self._pending
        self.score *= self.decay
        self.score += self._work
        # New candidate jumps: large, above the local activity, after a quiet frame.
        cv2.blur(residual, (FLICKER_ACTIVITY_SIZE, FLICKER_ACTIVITY_SIZE), dst=self._activity,
                 borderType=cv2.BORDER_REFLECT)
        self._activity *= np.float32(self.activity_factor)
        np.greater(residual, self._activity, out=self._event)
        np.greater(residual, self.jump_threshold, out=self._pending)
        self._pending &= self._event
        np.less(self._residual_before, self.quiet_threshold, out=self._event)
        self._pending &= self._event
        self._residual, self._residual_before = self._residual_before, residual
        np.greater_equal(self.score, self.min_events, out=self._work)
        self.mask |= self._work
        self.frames += 1
        return self.mask


class BadPixelReplacer:
    """Replaces bad pixels by the median of their valid neighbours.

    The neighbourhood is the 3x3 ring around the pixel, grown to 5x5 where a cluster of bad
    pixels leaves no valid neighbour in the 3x3 ring. Neighbour index arrays are computed once
    for the mask; :meth:`apply` is a gather, a small sort and a scatter.

    Parameters
    ----------
    mask : (H, W) bool, True = bad.
    max_radius : largest neighbourhood radius (2: 5x5).
    """

    def __init__(self, mask: ArrayLike, max_radius: int = REPLACER_MAX_RADIUS) -> None:
        bad = np.asarray(mask, dtype=np.bool_)
        if bad.ndim != 2:
            raise ValueError(f"mask must be (H, W), got shape {bad.shape}")
        if max_radius < 1:
            raise ValueError("max_radius must be >= 1")
        self.mask = bad.copy()
        self.shape = bad.shape
        h, w = bad.shape
        self.indices = np.flatnonzero(bad)
        rows, cols = np.divmod(self.indices, w)
        span = np.arange(-max_radius, max_radius + 1)
        dy, dx = (a.ravel() for a in np.meshgrid(span, span, indexing="ij"))
        ring = np.maximum(np.abs(dy), np.abs(dx))
        keep = ring > 0
        dy, dx, ring = dy[keep], dx[keep], ring[keep]
        order = np.argsort(ring, kind="stable")
        dy, dx, ring = dy[order], dx[order], ring[order]
        nr = rows[:, None] + dy[None, :]
        nc = cols[:, None] + dx[None, :]
        inside = (nr >= 0) & (nr < h) & (nc >= 0) & (nc < w)
        neighbours = np.where(inside, nr * w + nc, 0)
        valid = inside & ~bad.ravel()[neighbours]
        # Smallest radius with at least one valid neighbour (0 where there is none at all).
        radius = np.zeros(self.indices.size, np.intp)
        for r in range(max_radius, 0, -1):
            has = np.any(valid & (ring <= r)[None, :], axis=1)
            radius[has] = r
        self.neighbours = neighbours
        self.use = valid & (ring[None, :] <= radius[:, None])
        self.fallback = valid  # the whole neighbourhood, for NaNs met at run time
        self.unreplaceable = int(np.count_nonzero(radius == 0))
        self._values = np.empty(neighbours.shape, np.float32)
        self._present = np.empty(neighbours.shape, np.bool_)
        self._rows = np.arange(self.indices.size)

    def _median(self, use: NDArray[np.bool_]) -> NDArray[np.float32]:
        """Median along the neighbours of the gathered values where ``use`` (NaN if none)."""
        values = self._values
        present = self._present
        np.isnan(values, out=present)
        np.logical_not(present, out=present)
        present &= use
        np.copyto(values, np.float32(np.nan), where=~present)
        values.sort(axis=1)  # NaN sorts last
        n = present.sum(axis=1)
        low = values[self._rows, np.maximum(n - 1, 0) // 2]
        high = values[self._rows, n // 2]
        median = np.float32(0.5) * (low + high)
        median[n == 0] = np.nan
        return median

    def apply(self, image: NDArray, out: NDArray | None = None) -> NDArray:
        """Image with its bad pixels replaced.

        Parameters
        ----------
        image : (H, W) uint16 counts or float temperatures (NaN neighbours are ignored).
        out : destination of the same shape and dtype (may be ``image`` itself); default a
            new array.

        Returns
        -------
        ``out``. A pixel without any valid neighbour becomes 0 (uint16: invalid counts) or NaN.
        """
        if image.shape != self.shape:
            raise ValueError(f"image shape {image.shape} != mask {self.shape}")
        if out is not None and (out.shape != self.shape or not out.flags.c_contiguous):
            raise ValueError(f"out must be a C-contiguous {self.shape} array")
        if out is None:
            out = image.copy()
        elif out is not image:
            np.copyto(out, image)
        if self.indices.size == 0:
            return out
        flat = image.reshape(-1)
        np.copyto(self._values, flat[self.neighbours], casting="unsafe")
        median = self._median(self.use)
        missing = np.isnan(median)
        if np.any(missing):  # NaN neighbours at run time: try the whole neighbourhood
            np.copyto(self._values, flat[self.neighbours], casting="unsafe")
            median = np.where(missing, self._median(self.fallback), median)
        target = out.reshape(-1)
        if np.issubdtype(out.dtype, np.integer):
            info = np.iinfo(out.dtype)
            value = np.clip(np.rint(np.nan_to_num(median, nan=0.0)), info.min, info.max)
            target[self.indices] = value.astype(out.dtype)
        else:
            target[self.indices] = median
        return out
