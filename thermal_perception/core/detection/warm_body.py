"""Detection of warm bodies (people, animals), hotspots and fire in temperature images.

Pure numpy + OpenCV + SciPy; no ROS imports. Inputs are temperature images in deg C (float,
NaN for invalid or saturated pixels), positions are pixels (x right, y down), sizes on the
ground are metres and m^2 through the ground sample distance (GSD, m per pixel) of a nadir
view. Two classical detectors:

* :class:`WarmBodyDetector`: people and animals, from a background-adaptive threshold (warmer
  than a robust local background by a few K and inside a plausible body band), re-segmented at
  half contrast, gated by isolation, size and shape on the ground and classified by a
  documented heuristic (see the class docstring).
* :class:`HotspotDetector`: hotspots (much hotter than their surroundings, e.g. engines) and
  fire (very hot or saturated pixels; flicker over time as an optional supporting cue).

:class:`OnnxDetector` is an optional hook for a learned detector (needs ``onnxruntime``).
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

# The blob measurement's constants come with its compiled version, so both paths share them.
from thermal_perception.core.detection.kernels import (
    FIELDS,
    HALF,
    MEASURED,
    MIN_CONTRAST_K,
    MIN_RING_SAMPLES,
    PEAK_PERCENTILE,
    PLATEAU_PERCENTILE,
    RING_HIGH_PERCENTILE,
    candidates_kernel,
    measure_many_kernel,
)
from thermal_perception.core.detection.kernels import warm_up as warm_up_kernels

__all__ = [
    "LABELS",
    "Detection",
    "HotspotConfig",
    "HotspotDetector",
    "WarmBodyConfig",
    "WarmBodyDetector",
    "gsd_from_altitude",
    "local_background",
]

#: Labels a detection can carry.
LABELS = ("person", "animal", "vehicle", "bicycle", "fire", "hotspot")

# -- shared constants ------------------------------------------------------------------------
_BG_CELLS_PER_WINDOW = 5   # background: the median window spans this many downsampled cells
_MEDIAN_KSIZE = 5          # ... so the median is OpenCV's fast 5x5 (float32 allowed up to 5)
_MEDIAN_PERCENTILE = 50.0   # percentile of a median
_BG_SUBSAMPLE = 4          # stride of the sample that gives the global fill value of NaNs
_SIGMA_TO_FULL_LENGTH = 4.0   # uniform ellipse: full axis = 4 x std of the footprint
_EPS = 1e-9
_OVERSIZE = 2.0               # candidate blobs up to this times the largest body are measured
_SPLIT_FACTOR = 2.0           # larger ones are split at this times the candidate contrast
_THIN = np.ones((2, 2), np.uint8)  # candidate strips thinner than this are dropped
_SPLIT_ERODE_M = 0.25         # touching bodies: erode up to half a body's width to part them
_FLICKER_MIN_SAMPLES = 3      # second differences need three samples
_TILE = 8                     # candidate pixels are grouped on tiles of this side, pixels
_TILE_KERNEL = np.ones((_TILE, _TILE), np.uint8)
_PARTIAL_OPENING_SHARE = 0.3  # open the background on rectangles when they cover less


def gsd_from_altitude(altitude_m: float, focal_length_px: float) -> float:
    """Ground sample distance of a nadir pinhole view, m per pixel: ``altitude / focal``.

    Parameters
    ----------
    altitude_m : height above the ground, m (> 0).
    focal_length_px : focal length, pixels (> 0), e.g. ``CameraProfile.focal_length_px``.
    """
    if not (altitude_m > 0 and focal_length_px > 0):
        raise ValueError(f"need altitude_m > 0 and focal_length_px > 0, got "
                         f"{altitude_m} and {focal_length_px}")
    return float(altitude_m) / float(focal_length_px)


@dataclass
class Detection:
    """One detected object in a frame.

    Attributes
    ----------
    label : one of :data:`LABELS`.
    confidence : 0..1.
    bbox : (x0, y0, x1, y1), pixels; x1, y1 exclusive (x1 = x0 + width).
    centroid : (x, y), pixels (sub-pixel).
    max_c, mean_c : hottest and mean temperature of the object's pixels, deg C; saturated
        pixels count as ``HotspotConfig.saturation_c`` (a lower bound).
    area_px : object pixels.
    area_m2 : ``area_px * gsd^2``, m^2; NaN if the GSD is unknown.
    track_id : tracker identity, 0 = untracked.
    saturated_px : pixels above the camera's range (NaN next to hot pixels).
    """

    label: str
    confidence: float
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]
    max_c: float
    mean_c: float
    area_px: int
    area_m2: float = math.nan
    track_id: int = 0
    saturated_px: int = 0

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown label {self.label!r}; known: {list(LABELS)}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")


def _quantile(values: NDArray, percent: float) -> float:
    """The ``percent`` percentile of a 1-D array (nearest rank; cheaper than np.percentile)."""
    k = round(percent / 100.0 * (values.size - 1))
    return float(np.partition(values, k)[k])


def local_background(temperature_c: NDArray[np.float32], window_px: float,
                     out: NDArray[np.float32] | None = None,
                     percentile: float = 50.0) -> NDArray[np.float32]:
    """Robust local background: a percentile over a window of about ``window_px`` pixels.

    The image is area-averaged onto cells of ``window_px / 5`` pixels, percentile-filtered
    over 5 x 5 cells and interpolated back, so warm objects covering less than
    ``1 - percentile / 100`` of the window do not raise it. ``temperature_c`` must be finite
    (fill NaNs first).

    Parameters
    ----------
    temperature_c : (H, W) float32, deg C, finite.
    window_px : window side, pixels (>= 1).
    out : (H, W) float32 buffer for the result, optional.
    percentile : 50 = median (fastest); lower values tolerate more warm clutter.
    """
    h, w = temperature_c.shape
    factor = min(max(1, round(window_px / _BG_CELLS_PER_WINDOW)), h, w)
    # Cells of exactly ``factor`` pixels (OpenCV's integer-ratio area path: several times
    # faster than a fractional ratio); pixels past the last whole cell (fewer than
    # ``factor`` at the right and bottom) take the background of the cells beside them.
    ch, cw = h // factor, w // factor
    if factor > 1:
        small = cv2.resize(temperature_c[:ch * factor, :cw * factor], (cw, ch),
                           interpolation=cv2.INTER_AREA)
    else:
        small = temperature_c
    if percentile == _MEDIAN_PERCENTILE and min(small.shape) >= _MEDIAN_KSIZE:
        med = cv2.medianBlur(small, _MEDIAN_KSIZE)
    else:
        med = _percentile_5x5(np.asarray(small, np.float32), percentile)
    if out is None:
        out = np.empty((h, w), np.float32)
    if factor == 1:
        np.copyto(out, med)
        return out
    if (ch * factor, cw * factor) == (h, w):
        return cv2.resize(med, (w, h), dst=out, interpolation=cv2.INTER_LINEAR)
    up = cv2.resize(med, (cw * factor, ch * factor), interpolation=cv2.INTER_LINEAR)
    return cv2.copyMakeBorder(up, 0, h - ch * factor, 0, w - cw * factor, cv2.BORDER_REPLICATE,
                              dst=out)


def _percentile_5x5(image: NDArray[np.float32], percentile: float) -> NDArray[np.float32]:
    """``scipy.ndimage.percentile_filter(image, percentile, size=5, mode="nearest")``, the
    same values several times faster: element ``int(25 * percentile / 100)`` (0-based, at most
    24) of each sorted 5 x 5 neighbourhood, edges replicated."""
    size = _MEDIAN_KSIZE * _MEDIAN_KSIZE
    rank = min(size - 1, int(size * percentile / 100.0))
    r = _MEDIAN_KSIZE // 2
    padded = cv2.copyMakeBorder(image, r, r, r, r, cv2.BORDER_REPLICATE)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (_MEDIAN_KSIZE,) * 2)
    return np.partition(windows.reshape(*image.shape, size), rank, axis=2)[:, :, rank]


class _FrameBuffers:
    """Per-stream images, allocated once for a frame size (again only if it changes)."""

    def __init__(self) -> None:
        self.shape: tuple[int, int] | None = None
        self.any_invalid = False

    def ensure(self, shape: tuple[int, int]) -> None:
        if self.shape == shape:
            return
        self.shape = shape
        self.filled = np.empty(shape, np.float32)      # NaNs replaced, deg C
        self.background = np.empty(shape, np.float32)  # local background, deg C
        self.contrast = np.empty(shape, np.float32)    # filled - background, K
        self.mask = np.empty(shape, np.uint8)          # candidate pixels
        self.invalid = np.empty(shape, np.bool_)       # NaN pixels
        self._padded: tuple[NDArray[np.float32], NDArray[np.float32]] | None = None

    def padded_pair(self, pad: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Two float32 images of the frame size plus ``pad`` on each side (again only when
        the pad changes, i.e. the GSD does)."""
        if self.shape is None:
            raise RuntimeError("ensure() the frame size first")
        shape = (self.shape[0] + 2 * pad, self.shape[1] + 2 * pad)
        if self._padded is None or self._padded[0].shape != shape:
            self._padded = (np.empty(shape, np.float32), np.empty(shape, np.float32))
        return self._padded


# Absurd finite temperatures (1e38 deg C from a broken source) overflow float32 differences:
# they stay far outside every threshold, so the warnings are noise.
_QUIET_EXTREMES = np.errstate(over="ignore", invalid="ignore")


def _prepare(temperature_c: NDArray, buf: _FrameBuffers) -> NDArray[np.float32]:
    """Checks the image, fills its NaNs with a typical value (into ``buf.filled``); sets
    ``buf.invalid`` (NaN pixels) and ``buf.any_invalid``. Without NaNs a float32 image is
    returned as it is (not copied): callers must not write into the result then."""
    t = np.asarray(temperature_c)
    if t.ndim != 2 or t.size == 0:
        raise ValueError(f"temperature image must be 2-D and non-empty, got shape {t.shape}")
    buf.ensure(t.shape)  # type: ignore[arg-type]
    np.isnan(t, out=buf.invalid)
    buf.any_invalid = bool(buf.invalid.any())
    if not buf.any_invalid and t.dtype == np.float32 and t.flags.c_contiguous:
        return t
    np.copyto(buf.filled, t, casting="unsafe")
    if buf.any_invalid:
        sample = t[::_BG_SUBSAMPLE, ::_BG_SUBSAMPLE]
        finite = sample[np.isfinite(sample)]
        fill = float(np.median(finite)) if finite.size else 0.0
        buf.filled[buf.invalid] = fill
    return buf.filled


def _regions(mask: NDArray[np.uint8], margin_px: int, max_share: float = 1.0
             ) -> list[tuple[slice, slice, NDArray[np.bool_] | None]] | None:
    """Rectangles around groups of the nonzero pixels of ``mask``, so that the work of a
    detector can be done on them instead of the whole image with the same result.

    Pixels are grouped on tiles of :data:`_TILE` pixels grown by ``margin_px``: each
    rectangle holds its group and at least ``margin_px`` around it (clipped to the image),
    and pixels of different groups are more than ``2 * margin_px`` apart. Returns
    ``(rows, cols, own)`` per group; ``own`` marks the rectangle's tiles that belong to the
    group (bool, one element per tile), None when no other group reaches into it: a blob
    found in the rectangle is the group's if :func:`_owns` says so. None instead of the list
    when the groups and their margins cover more than ``max_share`` of the image.
    """
    h, w = mask.shape
    tiles = cv2.dilate(mask, _TILE_KERNEL, anchor=(0, 0))[::_TILE, ::_TILE]
    grow = max(1, -(-margin_px // _TILE))
    grown = cv2.dilate(tiles, _square(2 * grow + 1))
    if max_share < 1.0 and np.count_nonzero(grown) > max_share * grown.size:
        return None
    _, tile_labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    out = []
    for g, (tx, ty, tw, th, area) in enumerate(stats.tolist()):
        if g == 0:
            continue
        rows = slice(ty * _TILE, min(h, (ty + th) * _TILE))
        cols = slice(tx * _TILE, min(w, (tx + tw) * _TILE))
        own = None
        if area < tw * th:
            sub = tile_labels[ty:ty + th, tx:tx + tw]
            if np.any((sub != g) & (sub != 0)):
                own = sub == g
        out.append((rows, cols, own))
    return out


def _owns(own: NDArray[np.bool_] | None, first: list[tuple[int, int]]) -> NDArray[np.bool_]:
    """Which blobs, given by the (row, column) of their first pixel in a rectangle of
    :func:`_regions`, belong to the rectangle's group."""
    if own is None:
        return np.ones(len(first), bool)
    return np.array([own[y // _TILE, x // _TILE] for y, x in first], bool)


def _first_pixels(labels: NDArray[np.int32], stats: NDArray[np.int32], ids: NDArray[np.intp]
                  ) -> list[tuple[int, int]]:
    """(row, column) of the first pixel in raster order of each component ``ids``: the order
    of labels of a connected-component labelling of the whole image."""
    out = []
    for k in ids:
        top = int(stats[k, cv2.CC_STAT_TOP])
        left = int(stats[k, cv2.CC_STAT_LEFT])
        row = labels[top, left:left + int(stats[k, cv2.CC_STAT_WIDTH])]
        out.append((top, left + int(np.argmax(row == k))))
    return out


_SQUARE3 = np.ones((3, 3), np.uint8)
_SQUARES: dict[int, NDArray[np.uint8]] = {}


def _square(side: int) -> NDArray[np.uint8]:
    """A ``side`` x ``side`` square structuring element (made once per size)."""
    kernel = _SQUARES.get(side)
    if kernel is None:
        kernel = _SQUARES[side] = np.ones((side, side), np.uint8)
    return kernel


def _mean(values: NDArray[np.float32]) -> float:
    """``float(values.mean())`` of a non-empty float32 array, without the overhead of
    ``np.mean`` (the same arithmetic: a float32 sum divided in double, rounded to float32)."""
    return float(np.float32(float(values.sum()) / values.size))


def _principal_axes(sxx: float, syy: float, sxy: float) -> tuple[float, float, tuple[float, float]]:
    """Eigenvalues (smaller, larger) of the symmetric matrix [[sxx, sxy], [sxy, syy]] and the
    unit eigenvector of the larger one, (x, y) (closed form; for a diagonal matrix the axis
    is chosen as ``numpy.linalg.eigh`` does)."""
    mean = 0.5 * (sxx + syy)
    spread = math.hypot(0.5 * (sxx - syy), sxy)
    small, large = mean - spread, mean + spread
    if sxy == 0.0:
        return min(sxx, syy), max(sxx, syy), ((1.0, 0.0) if sxx > syy else (0.0, 1.0))
    if sxx >= syy:  # the better conditioned of the two equivalent forms
        vx, vy = large - syy, sxy
    else:
        vx, vy = sxy, large - sxx
    scale = max(abs(vx), abs(vy))  # scaled first: no loss with tiny (subnormal) values
    vx, vy = vx / scale, vy / scale
    norm = math.hypot(vx, vy)
    return small, large, (vx / norm, vy / norm)


def _window(bbox: tuple[int, int, int, int], pad: int, shape: tuple[int, int]
            ) -> tuple[slice, slice]:
    x0, y0, x1, y1 = bbox
    return (slice(max(0, y0 - pad), min(shape[0], y1 + pad)),
            slice(max(0, x0 - pad), min(shape[1], x1 + pad)))


def _blob_from_row(row: NDArray[np.float64], gsd: float, origin: tuple[int, int]) -> _Blob:
    """The :class:`_Blob` of a row of the compiled measurement (see ``FIELDS``) of a blob in
    the rectangle whose top-left pixel is ``origin`` (x, y)."""
    (area_px, m00, cx, cy, mu20, mu02, mu11, mu30, mu21, mu12, mu03, mu40, mu31, mu22, mu13,
     mu04, bx, by, bw, bh, mean_c, max_c, plateau, isolation, warmer, window_x,
     window_y) = row.tolist()
    small_eval, large_eval, (a, b) = _principal_axes(
        mu20 / m00 + 1.0 / 12.0, mu02 / m00 + 1.0 / 12.0, mu11 / m00)
    # moments of the footprint along the long axis, from the central moments
    m2 = max((a * a * mu20 + 2 * a * b * mu11 + b * b * mu02) / m00, _EPS)
    m3 = (a**3 * mu30 + 3 * a * a * b * mu21 + 3 * a * b * b * mu12 + b**3 * mu03) / m00
    m4 = (a**4 * mu40 + 4 * a**3 * b * mu31 + 6 * a * a * b * b * mu22
          + 4 * a * b**3 * mu13 + b**4 * mu04) / m00
    left, top = int(window_x) + origin[0], int(window_y) + origin[1]  # integers first
    return _Blob(
        area_px=int(area_px), area_m2=m00 * gsd * gsd,
        length_m=_SIGMA_TO_FULL_LENGTH * math.sqrt(large_eval) * gsd,
        width_m=_SIGMA_TO_FULL_LENGTH * math.sqrt(max(small_eval, _EPS)) * gsd,
        shape_score=abs(m3) / m2**1.5 + m4 / m2**2 - _ELLIPSE_KURTOSIS,
        centroid=(cx + left, cy + top),
        bbox=(int(bx) + left, int(by) + top, int(bx + bw) + left, int(by + bh) + top),
        mean_c=mean_c, max_c=max_c, plateau_c=plateau, isolation_k=isolation, warmer_k=warmer)


# ---------------------------------------------------------------------------------------------
# Warm bodies
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WarmBodyConfig:
    """Settings of :class:`WarmBodyDetector`; the defaults suit mild weather (air ~15 deg C).

    Attributes
    ----------
    contrast_k : candidate pixels are warmer than the local background by more than this, K.
    min_contrast_k : a blob's robust peak (90th percentile) excess at least this, K.
    isolation_k : a blob's mean excess over the 80th percentile of the excess in a ring
        around it at least this, K (a piece of a larger warm area, e.g. a sunlit road edge,
        has warm ring pixels; ground texture, ~1.2 K rms, rarely reaches it by day).
    warmer_k : ... and its mean temperature over the 80th percentile of the ring temperatures
        at least this, K (a body is warmer than its surroundings, not just than the
        background model: rejects the stair-stepped edge of a warm car or roof).
    band_c : (low, high) apparent temperature of body pixels, deg C (clothing, skin, fur seen
        from above; radiometric camera set to emissivity 1).
    body_min_c, body_max_c : a body's plateau (robust temperature) within these, deg C
        (clothing 30-34, skin +1 K, fur down to ~27 seen through the air path).
    background_window_m : side of the percentile window of the background, m (several times
        the largest body, 1.8 m, so bodies do not raise it).
    background_window_px : that window when the GSD is unknown, pixels.
    background_percentile : percentile of that window taken as background (below the median:
        a warm car or a group of people may fill half the window).
    opening_m : side of the square of a grey-level opening that also bounds the background
        from below, m: wider than any body seen from above (<= 0.6 m), so the opening keeps
        extended warm areas (roads, roofs) as background and removes bodies.
    hot_c : pixels at least this hot (engines, fire; saturated pixels too) mark running
        vehicles and fires: blobs shorter than ``tyre_max_length_m`` within
        ``hot_exclusion_m`` of one are taken for tyres (treads ~0.65 x 0.2 m at 35-45 deg C,
        about as warm and as small as a person seen from above) and dropped, unless they
        are as short and as cool as a standing person (``near_hot_person_length_m``,
        ``near_hot_person_max_c``), deg C. Some tyres pass as people (a few per cent of
        them), and a person longer or hotter than that next to a running car is missed.
    hot_exclusion_m : that distance, m (about a car length: rear tyres to the engine).
    tyre_max_length_m : see ``hot_c`` (a tread blurred by a pixel stays under 1 m; a boar
        is 1.1-1.3 m long), m.
    near_hot_person_length_m, near_hot_person_max_c : see ``hot_c``; m and deg C (shoulders
        0.5 m, clothing 30-34 deg C).
    ring_m : width of the ring around a blob that gives its local background, m.
    min_area_m2 : smaller blobs are noise or sub-pixel objects, m^2.
    max_area_m2 : larger blobs are vehicles, roofs, roads, merged groups, m^2.
    max_length_m : longer blobs are not bodies (a lying adult is ~1.8 m), m.
    max_width_m : wider blobs are not bodies (shoulders, a deer's flanks: <= 0.7 m), m.
    standing_max_area_m2 : a compact blob up to this is a standing/sitting person, m^2 (seen
        from above: shoulders ~0.3 x 0.5 m, ~0.12 m^2).
    standing_max_elongation : ... and at most this length/width (shoulders: ~1.7; thin warm
        strips such as tyres are ~3.5).
    large_min_area_m2 : blobs from this up are lying people or large animals (deer), m^2;
        between the standing maximum and this: small animals (boar, dog, ~0.35 m^2).
    small_animal_min_length_m : a small animal is at least this long (boar, dog: ~1.2 m
        nose to tail); shorter blobs of that area are warm vehicle trim or clutter, m.
    deer_score : lying person vs large animal: an animal if ``|skew| + (kurtosis - 2)`` of the
        footprint along its long axis exceeds this (an ellipse scores 0; a body with a head
        sticking out at one end scores ~0.2-0.3).
    boxy_score : large blobs scoring below this are boxy (a rectangle scores -0.2): parts of
        vehicles or roofs between cold glass or trim, not bodies.
    person_min_plateau_c : large blobs colder than this are animals, deg C (people's surface
        is 30-34 deg C; fur can be colder).
    gsd_m : default ground sample distance, m/pixel (None: must be given per frame).
    min_work_gsd_m : finer frames (close range, or a wrong altitude) are reduced to this
        ground sample distance before the search, m/pixel, and the detections mapped back:
        the work per frame is bounded (a standing person is still about 300 pixels there);
        without it the windows grow as 1/gsd and a frame at 1 mm per pixel took seconds.
    min_area_px : smaller blobs are skipped whatever the GSD, pixels.
    """

    contrast_k: float = 2.0
    min_contrast_k: float = 2.0
    isolation_k: float = 2.2
    warmer_k: float = 1.0
    band_c: tuple[float, float] = (22.0, 40.0)
    body_min_c: float = 26.0
    body_max_c: float = 36.0
    background_window_m: float = 4.0
    background_window_px: int = 31
    background_percentile: float = 25.0
    opening_m: float = 1.0
    ring_m: float = 0.4
    hot_c: float = 50.0
    hot_exclusion_m: float = 4.0
    tyre_max_length_m: float = 1.0
    near_hot_person_length_m: float = 0.62
    near_hot_person_max_c: float = 34.0
    min_area_m2: float = 0.07
    max_area_m2: float = 1.1
    max_length_m: float = 2.2
    max_width_m: float = 0.8
    standing_max_area_m2: float = 0.2
    standing_max_elongation: float = 2.5
    large_min_area_m2: float = 0.45
    small_animal_min_length_m: float = 0.8
    deer_score: float = 0.16
    boxy_score: float = -0.1
    person_min_plateau_c: float = 28.5
    gsd_m: float | None = None
    min_area_px: int = 2
    min_work_gsd_m: float = 0.02

    def __post_init__(self) -> None:
        problems = []
        positive = ("contrast_k", "min_contrast_k", "background_window_m", "ring_m", "opening_m",
                    "min_work_gsd_m",
                    "min_area_m2", "max_length_m", "max_width_m", "standing_max_elongation")
        problems += [f"{name} must be > 0" for name in positive if not getattr(self, name) > 0]
        if not self.isolation_k >= 0:
            problems.append("isolation_k must be >= 0")
        if not self.band_c[0] < self.band_c[1]:
            problems.append(f"band_c {self.band_c} must be (low, high) with low < high")
        if not (self.hot_c > self.band_c[1] and self.hot_exclusion_m >= 0):
            problems.append("need hot_c above band_c and hot_exclusion_m >= 0")
        if not self.body_min_c < self.body_max_c:
            problems.append("need body_min_c < body_max_c")
        if not (self.min_area_m2 < self.standing_max_area_m2 < self.large_min_area_m2
                < self.max_area_m2):
            problems.append("need min_area_m2 < standing_max_area_m2 < large_min_area_m2 "
                            "< max_area_m2")
        if not 0 < self.background_percentile <= _MEDIAN_PERCENTILE:
            problems.append("background_percentile must be in (0, 50]")
        if self.background_window_px < 3 or self.min_area_px < 1:
            problems.append("background_window_px must be >= 3 and min_area_px >= 1")
        if self.gsd_m is not None and not self.gsd_m > 0:
            problems.append(f"gsd_m must be > 0 or None, got {self.gsd_m}")
        if problems:
            raise ValueError("WarmBodyConfig: " + "; ".join(problems))


# Nominal footprints (m^2) of the classes, for the shape term of the confidence.
_NOMINAL_AREA_M2 = {"standing": 0.12, "small_animal": 0.36, "large": 0.7}
_AREA_TOLERANCE = math.log(2.0)   # a footprint off by a factor 2 scores exp(-1/2)
_CONTRAST_SCALE_K = 3.0           # contrast term 1 - exp(-isolation / this)
_ELLIPSE_KURTOSIS = 2.0           # kurtosis of an ellipse's footprint along an axis


@dataclass
class _Blob:
    """Measurements of one re-segmented blob (window coordinates are absolute pixels)."""

    area_px: int
    area_m2: float             # coverage-weighted footprint, m^2
    length_m: float
    width_m: float
    shape_score: float         # |skew| + (kurtosis - 2) along the long axis
    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]
    mean_c: float
    max_c: float
    plateau_c: float
    isolation_k: float          # mean excess over the ring's 80th percentile excess, K
    warmer_k: float             # mean temperature over the ring's 80th percentile, K


class WarmBodyDetector:
    """People and animals in a nadir temperature image.

    Steps: (1) the background is the larger of a low percentile over ``background_window_m``
    and a grey-level opening with an ``opening_m`` square (roads and roofs stay background,
    bodies do not); candidates are pixels warmer than it by ``contrast_k`` and inside
    ``band_c``; blobs larger than any body are split at twice that contrast. (2) Each blob is
    re-segmented at half its peak excess (or half way from the warm side of its surroundings
    to its peak temperature, for a body across a background step) and must stand out from a
    ring around it (``min_contrast_k``, ``isolation_k``, ``warmer_k``) without touching
    hotter pixels. (3) Its footprint (pixels weighted by their coverage: excess over the
    background divided by the body's plateau excess, so mixed edge pixels count in part)
    gives area, length, width and the skewness/kurtosis along the long axis.

    Classification heuristic (sizes of the bodies seen from above)::

        area < min_area_m2 or > max_area_m2, length > max_length_m, width > max_width_m
        or plateau outside [body_min_c, body_max_c]                   -> rejected
        length < tyre_max_length_m within hot_exclusion_m of a hot pixel, unless short and
        cool like a standing person                                   -> rejected (tyres)
        area <= standing_max_area_m2:  elongation <= standing_max_elongation -> person
                                       (standing, sitting); else rejected (thin strips)
        area <  large_min_area_m2:     animal (boar, dog: ~1.2 x 0.4 m) if at least
                                       small_animal_min_length_m long, else rejected
        otherwise (lying person ~1.8 x 0.5 m or deer ~1.6 x 0.5 m plus head):
            rejected if |skew| + (kurtosis - 2) < boxy_score (rectangular: vehicle parts)
            animal if |skew| + (kurtosis - 2) > deer_score (a head sticking out of one end)
            or the plateau is below person_min_plateau_c; else person
        an 'animal' cut by the frame edge with a person's plateau      -> person (the benefit
                                       of the doubt: a person cut short looks like a boar)

    Confidence: ``(1 - exp(-isolation / 3 K)) * exp(-ln(area / nominal)^2 / (2 ln(2)^2))``.

    Parameters
    ----------
    config : settings; defaults if None.
    """

    def __init__(self, config: WarmBodyConfig | None = None) -> None:
        self.config = config or WarmBodyConfig()
        self._buf = _FrameBuffers()
        warm_up_kernels(wait=False)  # numpy path (same results) until they are loaded

    @_QUIET_EXTREMES
    def detect(self, temperature_c: NDArray, gsd_m: float | None = None) -> list[Detection]:
        """Warm bodies in one frame.

        Parameters
        ----------
        temperature_c : (H, W) apparent temperature, deg C; NaN = invalid.
        gsd_m : ground sample distance, m/pixel; default ``config.gsd_m``.

        Returns
        -------
        Detections labelled 'person' or 'animal', hottest first.
        """
        cfg = self.config
        gsd = cfg.gsd_m if gsd_m is None else gsd_m
        if gsd is None or not gsd > 0:
            raise ValueError("WarmBodyDetector needs the ground sample distance (gsd_m > 0, "
                             "per frame or in the config) to gate sizes in metres")
        if gsd < cfg.min_work_gsd_m:
            return self._detect_reduced(np.asarray(temperature_c, np.float32), gsd)
        return self._detect(temperature_c, gsd)

    def _detect_reduced(self, t: NDArray[np.float32], gsd: float) -> list[Detection]:
        """Detection on the frame reduced to ``min_work_gsd_m`` (a NaN-aware area mean: a
        reduced pixel is NaN only where all its source pixels are), boxes and centroids
        mapped back to the frame's pixels."""
        h, w = t.shape[:2]
        scale = gsd / self.config.min_work_gsd_m  # < 1
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        valid = np.isfinite(t)
        filled = np.where(valid, t, np.float32(0.0))
        total = cv2.resize(filled, size, interpolation=cv2.INTER_AREA)
        weight = cv2.resize(valid.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        with np.errstate(invalid="ignore", divide="ignore"):
            small = np.where(weight > 0, total / weight, np.nan).astype(np.float32)
        sx, sy = w / size[0], h / size[1]
        gsd_small = gsd * 0.5 * (sx + sy)
        out = []
        for d in self._detect(small, gsd_small):
            x0, y0, x1, y1 = d.bbox
            bbox = (max(0, math.floor(x0 * sx)), max(0, math.floor(y0 * sy)),
                    min(w, math.ceil(x1 * sx)), min(h, math.ceil(y1 * sy)))
            cx, cy = d.centroid
            out.append(dataclasses.replace(
                d, bbox=bbox, centroid=((cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5),
                area_px=round(d.area_px * sx * sy)))
        return out

    def _detect(self, temperature_c: NDArray, gsd: float) -> list[Detection]:
        cfg = self.config
        buf = self._buf
        t = _prepare(temperature_c, buf)
        h, w = t.shape
        # Background: the larger of a low percentile (robust to warm clutter) and an opening
        # (keeps extended warm areas). Candidates are warmer than the background, so warmer
        # than the percentile alone: where few pixels are, the opening is computed on
        # rectangles around them only (with margins that give the same values).
        local_background(t, cfg.background_window_m / gsd, out=buf.background,
                         percentile=cfg.background_percentile)
        possible = self._candidates(t, buf.contrast, buf.invalid)  # and the contrast
        ring_px = max(2, math.ceil(cfg.ring_m / gsd))
        side = max(1, round(cfg.opening_m / gsd))
        regions = _regions(possible.view(np.uint8), ring_px + 2, _PARTIAL_OPENING_SHARE)
        if regions is None:  # candidates all over the image: open it whole
            self._open_background(t, slice(0, h), slice(0, w), side)
        else:
            for rows, cols, _ in regions:
                self._open_background(t, rows, cols, side)
        possible &= buf.contrast > cfg.contrast_k  # band and NaNs: checked already
        mask = possible.view(np.uint8)
        # Strips one pixel thin (the stair-stepped edge of a road the opening missed) would
        # join the bodies they touch: an opening of the mask with a 2 x 2 square drops them.
        cv2.morphologyEx(mask, cv2.MORPH_OPEN, _THIN, dst=mask)
        blobs: list[tuple[tuple[int, ...], _Blob, tuple[float, float]]] = []
        for rows, cols, own in _regions(mask, ring_px + 2) or []:
            blobs += self._measure_region(t, mask, rows, cols, own, ring_px, gsd)
        blobs.sort(key=lambda item: item[0])  # the blob order of a whole-image labelling
        near_hot = self._near_hot(t, buf.invalid, np.array([p for _, _, p in blobs]), gsd)
        detections = []
        px_area = gsd * gsd
        for (_, blob, _), hot_nearby in zip(blobs, near_hot, strict=True):
            x0, y0, x1, y1 = blob.bbox
            at_edge = x0 == 0 or y0 == 0 or x1 == w or y1 == h
            det = self._classify(blob, px_area, bool(hot_nearby), at_edge)
            if det is not None:
                detections.append(det)
        detections.sort(key=lambda d: -d.max_c)
        return detections

    def _open_background(self, t: NDArray[np.float32], rows: slice, cols: slice,
                         side: int) -> None:
        """Raises the background (``buf.background``) to a grey-level opening of ``t`` with a
        ``side`` square in a rectangle of the image, and updates the contrast there.

        The opening is computed on the rectangle and ``side`` around it, padded by
        replication beyond the image (a warm area cut by the frame edge continues outside
        it, so the opening keeps a sliver of road in a corner as background): the same
        values as an opening of the whole padded image."""
        buf = self._buf
        h, w = t.shape
        y0, y1, x0, x1 = rows.start, rows.stop, cols.start, cols.stop
        sy0, sy1 = max(0, y0 - side), min(h, y1 + side)
        sx0, sx1 = max(0, x0 - side), min(w, x1 + side)
        pads = (side - (y0 - sy0), side - (sy1 - y1), side - (x0 - sx0), side - (sx1 - x1))
        if (y1 - y0, x1 - x0) == (h, w):
            padded, opened = buf.padded_pair(side)
            cv2.copyMakeBorder(t, *pads, cv2.BORDER_REPLICATE, dst=padded)
            cv2.morphologyEx(padded, cv2.MORPH_OPEN, np.ones((side, side), np.uint8),
                             dst=opened)
        else:
            slab = cv2.copyMakeBorder(t[sy0:sy1, sx0:sx1], *pads, cv2.BORDER_REPLICATE)
            opened = cv2.morphologyEx(slab, cv2.MORPH_OPEN, np.ones((side, side), np.uint8))
        background = buf.background[rows, cols]
        np.maximum(background, opened[side:side + y1 - y0, side:side + x1 - x0], out=background)
        np.subtract(t[rows, cols], background, out=buf.contrast[rows, cols])

    def _candidates(self, t: NDArray[np.float32], contrast: NDArray[np.float32],
                    invalid: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Writes ``contrast`` (``t`` over the background, K); returns the pixels warmer than
        the background by ``contrast_k`` and inside ``band_c`` (a buffer of the stream)."""
        cfg = self.config
        low, high = cfg.band_c
        kernel = candidates_kernel()
        if kernel is not None:  # also writes the contrast (core/detection/kernels.py)
            cand = self._buf.mask.view(np.bool_)
            kernel(t.reshape(-1), self._buf.background.reshape(-1), contrast.reshape(-1),
                   float(cfg.contrast_k), float(low), float(high), invalid.reshape(-1),
                   self._buf.any_invalid, cand.reshape(-1))
            return cand
        np.subtract(t, self._buf.background, out=contrast)
        cand = contrast > cfg.contrast_k
        cand &= t >= low
        cand &= t <= high
        if self._buf.any_invalid:
            cand &= ~invalid
        return cand

    def _measure_region(self, t: NDArray[np.float32], mask: NDArray[np.uint8], rows: slice,
                        cols: slice, own: NDArray[np.bool_] | None, ring_px: int, gsd: float
                        ) -> list[tuple[tuple[int, ...], _Blob, tuple[float, float]]]:
        """Blobs in one rectangle of candidates (``mask``, see :func:`_regions`) that pass the
        measurements, each with its position in the blob order of a labelling of the whole
        image and the centroid (x, y) of its candidate pixels in the image."""
        cfg = self.config
        buf = self._buf
        y0, x0 = rows.start, cols.start
        tw = t[rows, cols]
        contrast = buf.contrast[rows, cols]
        background = buf.background[rows, cols]
        invalid = buf.invalid[rows, cols]
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask[rows, cols],
                                                                       connectivity=8)
        if n <= 1:
            return []
        px_area = gsd * gsd
        # A blob grows by about its perimeter when re-segmented: a generous size margin.
        largest_px = _OVERSIZE * cfg.max_area_m2 / px_area
        labels, stats, centroids = self._split_oversized(contrast, labels, stats, centroids,
                                                         largest_px)
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = (areas >= cfg.min_area_px) & (areas <= largest_px)
        if not keep.any():
            return []
        index = np.flatnonzero(keep) + 1
        first = _first_pixels(labels, stats, index)
        if own is not None:  # blobs of other groups reaching into the rectangle
            mine = _owns(own, first)
            index, first = index[mine], [f for f, m in zip(first, mine, strict=True) if m]
        # Whole-image labels: blobs in raster order of their first pixel, then the parts of
        # split oversized blobs in that order.
        order = [(int(k >= n), y + y0, x + x0) for k, (y, x) in zip(index, first, strict=True)]
        region = (tw, contrast, background, invalid, t)
        blobs: list[tuple[tuple[int, ...], _Blob, tuple[float, float]]] = []
        next_id = stats.shape[0]
        boxes = [(x, y, x + bw, y + bh) for x, y, bw, bh in stats[index, :4].tolist()]
        measured_all = self._measure_blobs(region, labels, index.tolist(), boxes, ring_px, gsd,
                                           (x0, y0))
        for k, key, bbox, blob in zip(index.tolist(), order, boxes, measured_all, strict=True):
            point = (centroids[k, 0] + x0, centroids[k, 1] + y0)
            if blob is not None and self._too_big(blob):
                # Bodies lying side by side: split at their waists and measure each.
                parts = self._split_touching(labels, k, bbox, next_id, gsd)
                next_id += len(parts)
                if parts:
                    measured = self._measure_blobs(region, labels, [pid for pid, _ in parts],
                                                   [pbox for _, pbox in parts], ring_px, gsd,
                                                   (x0, y0))
                    blobs += [((*key, j), b, point)
                              for j, b in enumerate(measured) if b is not None]
                    continue
            if blob is not None:
                blobs.append(((*key, 0), blob, point))
        return blobs

    def _measure_blobs(self, region: tuple[NDArray, ...], labels: NDArray[np.int32],
                       ks: list[int], boxes: list[tuple[int, int, int, int]], ring_px: int,
                       gsd: float, origin: tuple[int, int]) -> list[_Blob | None]:
        """:meth:`_measure` of the blobs ``ks`` with their boxes (in the rectangle): in one
        compiled call when the kernels are loaded (core/detection/kernels.py: the same
        measurement; whole images, so that one compiled variant serves every rectangle)."""
        kernel = measure_many_kernel()
        if kernel is None:
            return [self._measure(region, labels, k, box, ring_px, gsd, origin)
                    for k, box in zip(ks, boxes, strict=True)]
        out = np.empty((len(ks), len(FIELDS)))
        status = np.empty(len(ks), np.int64)
        buf, cfg = self._buf, self.config
        kernel(region[4], buf.contrast, buf.background, buf.invalid, labels, origin[1],
               origin[0], np.asarray(ks, np.int64), np.asarray(boxes, np.int64).reshape(-1, 4),
               ring_px, buf.any_invalid, float(cfg.band_c[1]), float(cfg.min_contrast_k),
               float(cfg.isolation_k), float(cfg.warmer_k), int(cfg.min_area_px), out, status)
        return [_blob_from_row(row, gsd, origin) if s == MEASURED else None
                for row, s in zip(out, status.tolist(), strict=True)]

    def _too_big(self, b: _Blob) -> bool:
        cfg = self.config
        return (b.area_m2 > cfg.max_area_m2 or b.length_m > cfg.max_length_m
                or b.width_m > cfg.max_width_m)

    def _split_touching(self, labels: NDArray[np.int32], k: int,
                        bbox: tuple[int, int, int, int], first_id: int, gsd: float
                        ) -> list[tuple[int, tuple[int, int, int, int]]]:
        """Split blob ``k`` into bodies that touch: erode it (up to half a body's width)
        until it falls apart, then give every pixel to its nearest core. The parts get labels
        ``first_id, first_id + 1, ...`` in ``labels``; returns their (label, bbox), or []
        if it does not split."""
        rows, cols = _window(bbox, 0, labels.shape)  # type: ignore[arg-type]
        comp = (labels[rows, cols] == k).view(np.uint8)
        cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
        cores = comp
        for _ in range(max(1, math.ceil(_SPLIT_ERODE_M / gsd))):
            cores = cv2.erode(cores, cross, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            n, core_labels = cv2.connectedComponents(cores, connectivity=4)
            if n > 2:
                break
            if n < 2:
                return []
        else:
            return []
        # Nearest core of every pixel of the blob.
        _, nearest = ndimage.distance_transform_edt(core_labels == 0, return_indices=True)
        owner = core_labels[nearest[0], nearest[1]]
        parts = []
        for j in range(1, n):
            ys, xs = np.nonzero((owner == j) & (comp > 0))
            if ys.size == 0:
                continue
            pid = first_id + len(parts)
            labels[ys + rows.start, xs + cols.start] = pid
            parts.append((pid, (int(xs.min()) + cols.start, int(ys.min()) + rows.start,
                                int(xs.max()) + cols.start + 1, int(ys.max()) + rows.start + 1)))
        return parts

    def _split_oversized(self, contrast: NDArray[np.float32], labels: NDArray[np.int32],
                         stats: NDArray[np.int32], centroids: NDArray[np.float64],
                         largest_px: float
                         ) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]:
        """Split blobs larger than any body (a body touching a warm road edge or strip) at
        ``_SPLIT_FACTOR`` times the candidate contrast; their other pixels get one extra
        label with zero area, so they stay out of the rings of the blobs beside them."""
        n = stats.shape[0]
        over = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] > largest_px) + 1
        if over.size == 0:
            return labels, stats, centroids
        lut = np.zeros(n, bool)
        lut[over] = True
        big = lut[labels]
        strong = (big & (contrast > _SPLIT_FACTOR * self.config.contrast_k))
        _, sub, sub_stats, sub_centroids = cv2.connectedComponentsWithStats(
            strong.view(np.uint8), connectivity=8)
        labels[big] = n  # the extra label (row 0 of the sub-blob stats, zeroed)
        inside = sub > 0
        labels[inside] = sub[inside] + n
        sub_stats[0] = 0
        return labels, np.vstack([stats, sub_stats]), np.vstack([centroids, sub_centroids])

    def _near_hot(self, t: NDArray[np.float32], invalid: NDArray[np.bool_],
                  points: NDArray[np.float64], gsd: float) -> NDArray[np.bool_]:
        """Which ``points`` (x, y) lie within ``hot_exclusion_m`` of a hot or NaN pixel (the
        Euclidean distance of pixel centres, as an exact distance transform gives it)."""
        cfg = self.config
        out = np.zeros(len(points), bool)
        if len(points) == 0 or cfg.hot_exclusion_m == 0:
            return out
        hot = t >= cfg.hot_c
        if self._buf.any_invalid:
            hot |= invalid
        if not hot.any():
            return out
        h, w = t.shape
        reach = math.floor(cfg.hot_exclusion_m / gsd) + 1  # farther hot pixels do not count
        xi = np.clip(np.rint(points[:, 0]).astype(np.intp), 0, w - 1)
        yi = np.clip(np.rint(points[:, 1]).astype(np.intp), 0, h - 1)
        if len(points) * (2 * reach + 1) ** 2 > t.size:  # many points: one transform
            dist = cv2.distanceTransform((~hot).view(np.uint8), cv2.DIST_L2,
                                         cv2.DIST_MASK_PRECISE)[yi, xi]
        else:  # a few: the hot pixels in reach of each
            d2 = np.full(len(points), np.inf, np.float32)
            for j, (x, y) in enumerate(zip(xi.tolist(), yi.tolist(), strict=True)):
                top, left = max(0, y - reach), max(0, x - reach)
                ys, xs = np.nonzero(hot[top:y + reach + 1, left:x + reach + 1])
                if ys.size:
                    d2[j] = ((ys + (top - y)) ** 2 + (xs + (left - x)) ** 2).min()
            dist = np.sqrt(d2)
        return dist * gsd <= cfg.hot_exclusion_m

    def _measure(self, region: tuple[NDArray, NDArray, NDArray, NDArray, NDArray],
                 labels: NDArray[np.int32], k: int, bbox: tuple[int, int, int, int],
                 ring_px: int, gsd: float, origin: tuple[int, int]) -> _Blob | None:
        """Measures blob ``k`` of ``labels``; ``region`` holds the temperature, contrast,
        background and NaN pixels of the rectangle whose top-left pixel is ``origin`` (x, y)
        in the image (and the whole temperature image, for the compiled path); ``bbox`` is in
        the rectangle, the result in the image."""
        cfg = self.config
        t, contrast, background, invalid, _ = region
        rows, cols = _window(bbox, ring_px + 2, t.shape)  # type: ignore[arg-type]
        tw = t[rows, cols]
        ew = contrast[rows, cols]  # excess over the background, K
        lw = labels[rows, cols]
        blob = lw == k
        valid = lw == 0  # not another blob, not NaN
        valid |= blob
        if self._buf.any_invalid:
            valid &= ~invalid[rows, cols]
        outer = _square(2 * ring_px + 1)
        grown = cv2.dilate(blob.view(np.uint8), _SQUARE3)  # the blob grown by one pixel
        ring = cv2.dilate(blob.view(np.uint8), outer) > grown
        ring &= valid
        ring_t = tw[ring]
        if ring_t.size < MIN_RING_SAMPLES or ring_t.max() > cfg.band_c[1]:
            return None  # no surroundings, or part of something hotter
        # Re-segment at half the blob's peak excess over the background, and (a body across
        # a road edge, whose background steps under it) half way from the warm side of its
        # surroundings (their 80th percentile) to its peak temperature; inside the blob grown
        # by one pixel.
        peak_excess = _quantile(ew[blob], PEAK_PERCENTILE)
        if peak_excess < cfg.min_contrast_k:
            return None
        inside = ew > HALF * peak_excess
        ring_high = _quantile(ring_t, RING_HIGH_PERCENTILE)
        peak = _quantile(tw[blob], PEAK_PERCENTILE)
        if peak - ring_high >= cfg.min_contrast_k:
            inside |= tw > ring_high + HALF * (peak - ring_high)
        ref = inside & valid
        ref &= grown.view(np.bool_)
        n, comp = cv2.connectedComponents(ref.view(np.uint8), connectivity=8)
        if n > 2:
            ref = comp == np.bincount(comp.ravel(), minlength=n)[1:].argmax() + 1
        area_px = int(np.count_nonzero(ref))
        if area_px < cfg.min_area_px:
            return None
        near = cv2.dilate(ref.view(np.uint8), _SQUARE3)  # ref grown by one pixel
        ring2 = cv2.dilate(ref.view(np.uint8), outer) > near
        ring2 &= valid
        ring2_e = ew[ring2]
        if ring2_e.size < MIN_RING_SAMPLES:
            return None
        isolation = _mean(ew[ref]) - _quantile(ring2_e, RING_HIGH_PERCENTILE)
        if isolation < cfg.isolation_k:
            return None
        values = tw[ref]
        mean_c = _mean(values)
        warmer = mean_c - _quantile(tw[ring2], RING_HIGH_PERCENTILE)
        if warmer < cfg.warmer_k:
            return None
        plateau = _quantile(values, PLATEAU_PERCENTILE)
        # Footprint: coverage of each pixel = its excess over the local background divided by
        # the body's (plateau) excess there; mixed edge pixels count in part.
        body_excess = np.maximum(plateau - background[rows, cols], MIN_CONTRAST_K)
        cover = np.clip(ew / body_excess, 0.0, 1.0)
        cover[~(near.view(np.bool_) & valid)] = 0.0
        m = cv2.moments(cover)
        if m["m00"] <= _EPS:
            return None
        cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
        # Covariance, plus a pixel's own extent (uniform square: variance 1/12).
        sxx = m["mu20"] / m["m00"] + 1.0 / 12.0
        syy = m["mu02"] / m["m00"] + 1.0 / 12.0
        sxy = m["mu11"] / m["m00"]
        small_eval, large_eval, axis = _principal_axes(sxx, syy, sxy)
        yy, xx = np.nonzero(cover)
        weights = cover[yy, xx].astype(np.float64)
        proj = (xx - cx) * axis[0] + (yy - cy) * axis[1]
        m2 = max(float(np.dot(weights, proj**2)) / m["m00"], _EPS)
        m3 = float(np.dot(weights, proj**3)) / m["m00"]
        m4 = float(np.dot(weights, proj**4)) / m["m00"]
        shape_score = abs(m3) / m2**1.5 + m4 / m2**2 - _ELLIPSE_KURTOSIS
        bx, by, bw, bh = cv2.boundingRect(ref.view(np.uint8))
        left, top = cols.start + origin[0], rows.start + origin[1]
        return _Blob(
            area_px=area_px, area_m2=m["m00"] * gsd * gsd,
            length_m=_SIGMA_TO_FULL_LENGTH * math.sqrt(large_eval) * gsd,
            width_m=_SIGMA_TO_FULL_LENGTH * math.sqrt(max(small_eval, _EPS)) * gsd,
            shape_score=shape_score, centroid=(cx + left, cy + top),
            bbox=(bx + left, by + top, bx + bw + left, by + bh + top),
            mean_c=mean_c, max_c=float(values.max()), plateau_c=plateau, isolation_k=isolation,
            warmer_k=warmer)

    def _classify(self, b: _Blob, px_area_m2: float, hot_nearby: bool,
                  at_edge: bool = False) -> Detection | None:
        cfg = self.config
        if (b.area_m2 < cfg.min_area_m2 or b.area_m2 > cfg.max_area_m2
                or b.length_m > cfg.max_length_m or b.width_m > cfg.max_width_m
                or not cfg.body_min_c <= b.plateau_c <= cfg.body_max_c):
            return None
        if hot_nearby and b.length_m < cfg.tyre_max_length_m and (
                b.length_m > cfg.near_hot_person_length_m
                or b.plateau_c > cfg.near_hot_person_max_c):
            return None  # a tyre of a running vehicle (longer or hotter than a person)
        if b.area_m2 <= cfg.standing_max_area_m2:
            if b.length_m > cfg.standing_max_elongation * b.width_m:
                return None  # thin warm strip
            label, kind = "person", "standing"
        elif b.area_m2 < cfg.large_min_area_m2:
            if b.length_m < cfg.small_animal_min_length_m:
                return None
            label, kind = "animal", "small_animal"
        else:
            kind = "large"
            if b.shape_score < cfg.boxy_score:
                return None
            animal = b.shape_score > cfg.deer_score or b.plateau_c < cfg.person_min_plateau_c
            label = "animal" if animal else "person"
        if label == "animal" and at_edge and b.plateau_c >= cfg.person_min_plateau_c:
            label = "person"  # cut by the frame edge: its size and shape say little
        contrast_term = 1.0 - math.exp(-b.isolation_k / _CONTRAST_SCALE_K)
        shape_term = math.exp(-0.5 * (math.log(b.area_m2 / _NOMINAL_AREA_M2[kind])
                                      / _AREA_TOLERANCE) ** 2)
        return Detection(label=label, confidence=float(np.clip(contrast_term * shape_term, 0, 1)),
                         bbox=b.bbox, centroid=b.centroid, max_c=b.max_c, mean_c=b.mean_c,
                         area_px=b.area_px, area_m2=b.area_px * px_area_m2)


# ---------------------------------------------------------------------------------------------
# Hotspots and fire
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HotspotConfig:
    """Settings of :class:`HotspotDetector`.

    Attributes
    ----------
    fire_c : pixels at or above this are fire candidates, deg C (above running engines,
        70-90 deg C, and sunlit surfaces; just under the 150 deg C top of a high-gain
        microbolometer, so flames that saturate it are caught by their hot rims too).
    saturation_c : value given to saturated pixels, deg C (the camera's upper range limit;
        reported temperatures of saturated detections are lower bounds).
    saturation_neighbour_c : NaN pixels connected to pixels at least this hot are saturated
        (fire cue), deg C.
    nan_cluster_px : NaN clusters of at least this many pixels are saturated too; smaller,
        isolated ones are dead pixels (replace bad columns upstream, they would look like
        saturation).
    hotspot_contrast_k : hotspot pixels are hotter than the local background by this, K.
    hotspot_min_c : ... and at least this hot, deg C (hotter than bodies and sun-warmed ground).
    background_window_m : side of the background median window, m (twice a car's length).
    background_window_px : that window when the GSD is unknown, pixels.
    merge_m : hot pixels closer than this join one detection (a fire front with gaps), m.
    merge_px : that distance when the GSD is unknown, pixels.
    min_area_px, min_area_m2 : smaller blobs are ignored (bad pixels, noise).
    min_fire_px : a blob is fire with at least this many pixels >= fire_c or saturated.
    use_flicker : keep a short history per blob and use flicker as a supporting cue.
    history_frames : frames of that history.
    flicker_min_frames : history needed before flicker counts.
    flicker_cv : flames flicker: the rms frame-to-frame fluctuation of a blob's hot area
        (second differences, so steady growth or shrinking does not count) over its mean
        above this (rigid hot objects stay within a few percent). Blobs touching the frame
        edge do not flicker (their area is cut by it).
    flicker_min_c : a flickering blob at least this hot is fire even below ``fire_c``, deg C
        (hotter than any engine bay, so flicker alone never turns a car into a fire).
    match_px : a blob continues the history of the nearest blob of the previous frame within
        this distance (after the ego shift), pixels.
    """

    fire_c: float = 140.0
    saturation_c: float = 150.0
    saturation_neighbour_c: float = 100.0
    nan_cluster_px: int = 4
    hotspot_contrast_k: float = 20.0
    hotspot_min_c: float = 45.0
    background_window_m: float = 10.0
    background_window_px: int = 63
    merge_m: float = 1.0
    merge_px: int = 3
    min_area_px: int = 3
    min_area_m2: float = 0.02
    min_fire_px: int = 3
    use_flicker: bool = True
    history_frames: int = 8
    flicker_min_frames: int = 4
    flicker_cv: float = 0.15
    flicker_min_c: float = 100.0
    match_px: float = 8.0

    def __post_init__(self) -> None:
        problems = []
        if not self.hotspot_min_c < self.fire_c <= self.saturation_c:
            problems.append("need hotspot_min_c < fire_c <= saturation_c")
        if not self.saturation_neighbour_c <= self.saturation_c:
            problems.append("saturation_neighbour_c must be <= saturation_c")
        positive = ("hotspot_contrast_k", "background_window_m", "merge_m", "flicker_cv",
                    "match_px")
        problems += [f"{name} must be > 0" for name in positive if not getattr(self, name) > 0]
        if (self.min_area_px < 1 or self.min_fire_px < 1 or self.merge_px < 0
                or self.nan_cluster_px < 1):
            problems.append("min_area_px, min_fire_px and nan_cluster_px must be >= 1, "
                            "merge_px >= 0")
        if self.min_area_m2 < 0 or self.background_window_px < 3:
            problems.append("min_area_m2 must be >= 0 and background_window_px >= 3")
        if not _FLICKER_MIN_SAMPLES <= self.flicker_min_frames <= self.history_frames:
            problems.append(f"need {_FLICKER_MIN_SAMPLES} <= flicker_min_frames <= "
                            "history_frames")
        if problems:
            raise ValueError("HotspotConfig: " + "; ".join(problems))


_FIRE_PX_SCALE = 10.0      # fire confidence 1 - exp(-fire pixels / this)
_FLICKER_BOOST = 0.5       # flicker closes this share of the gap to confidence 1
_HOTSPOT_CONTRAST_SCALE = 1.0  # hotspot confidence 1 - exp(-excess / (this x threshold))


@dataclass
class _HotBlob:
    """Statistics of the hot pixels of one grouped blob; positions in image pixels."""

    first: tuple[int, int]  # (row, column) of its first pixel in raster order
    count: int
    fire: int
    saturated: int
    sum: float
    max_c: float
    cx: float
    cy: float
    box: tuple[int, int, int, int]  # x, y, width, height


_DISCS: dict[int, NDArray[np.uint8]] = {}


def _disc(radius: int) -> NDArray[np.uint8]:
    """Elliptic structuring element of ``2 * radius + 1`` pixels (made once per size)."""
    kernel = _DISCS.get(radius)
    if kernel is None:
        kernel = _DISCS[radius] = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                            (2 * radius + 1,) * 2)
    return kernel


@dataclass
class _BlobHistory:
    centroid: tuple[float, float]
    hot_area: deque = field(default_factory=deque)
    seen: bool = True

    def flicker(self, min_frames: int) -> float:
        """Rms second difference of the hot area over its mean (0 until ``min_frames``)."""
        if len(self.hot_area) < min_frames:
            return 0.0
        a = np.asarray(self.hot_area, np.float64)
        second = a[2:] - 2.0 * a[1:-1] + a[:-2]
        return float(np.sqrt(np.mean(second**2)) / max(a.mean(), _EPS))


class HotspotDetector:
    """Hotspots and fire in a temperature image (deg C, NaN invalid or saturated).

    A pixel is hot if it is at least ``fire_c`` (fire candidate), saturated (NaN connected to
    pixels above ``saturation_neighbour_c``, or in a NaN cluster of ``nan_cluster_px``: the
    camera's range is exceeded, a strong fire cue), or hotter than its local background
    (median over ``background_window_m``) by ``hotspot_contrast_k`` and at least
    ``hotspot_min_c``.
    Hot pixels closer than ``merge_m`` form one blob (closing); blobs smaller than
    ``min_area_px`` / ``min_area_m2`` are dropped. A blob with ``min_fire_px`` fire pixels is
    'fire'; otherwise 'hotspot', unless flicker promotes it: with ``use_flicker``, each blob
    keeps a short history of its hot area (matched to the previous frame's blobs by centroid,
    after the ego shift), and a blob above ``flicker_min_c`` whose area fluctuates from frame
    to frame (rms second difference over mean) by more than ``flicker_cv`` is fire. Flicker
    also raises a fire's confidence. Flicker is optional: static flames (as simulated) are
    found by temperature and saturation alone.

    Parameters
    ----------
    config : settings; defaults if None.
    """

    def __init__(self, config: HotspotConfig | None = None) -> None:
        self.config = config or HotspotConfig()
        self._buf = _FrameBuffers()
        self._history: list[_BlobHistory] = []

    def reset(self) -> None:
        """Forget the flicker history (a new stream)."""
        self._history = []

    @_QUIET_EXTREMES
    def detect(self, temperature_c: NDArray, gsd_m: float | None = None,
               ego_shift_px: tuple[float, float] = (0.0, 0.0)) -> list[Detection]:
        """Hotspots and fires in one frame.

        Parameters
        ----------
        temperature_c : (H, W) temperature, deg C; NaN = invalid or saturated.
        gsd_m : ground sample distance, m/pixel; None: pixel settings only, area_m2 NaN.
        ego_shift_px : (dx, dy) shift of static scene content since the previous frame,
            pixels (camera motion), for the flicker history.

        Returns
        -------
        Detections labelled 'fire' or 'hotspot', largest first.
        """
        cfg = self.config
        if gsd_m is not None and not gsd_m > 0:
            raise ValueError(f"gsd_m must be > 0 or None, got {gsd_m}")
        buf = self._buf
        t = _prepare(temperature_c, buf)
        window = (cfg.background_window_m / gsd_m if gsd_m else cfg.background_window_px)
        raw = np.asarray(temperature_c)
        fire_px: NDArray[np.bool_] | None = None  # None: raw values are t's, no saturation
        saturated: NDArray[np.bool_] | None = None
        if buf.any_invalid or raw.dtype != np.float32:
            with np.errstate(invalid="ignore"):
                very_hot = raw >= cfg.fire_c
                seeds = cv2.dilate((raw >= cfg.saturation_neighbour_c).view(np.uint8),
                                   _SQUARE3) > 0
            saturated = self._saturated(buf.invalid, seeds)
            fire_px = very_hot | saturated
            t[saturated] = cfg.saturation_c  # t is a copy here (buf.filled)
        # Fire pixels (fire_c or saturated) are hot enough too: fire_c > hotspot_min_c.
        hot_enough = t >= cfg.hotspot_min_c
        if not hot_enough.any():
            self._age_history([])
            return []
        local_background(t, window, out=buf.background)
        merge = round(cfg.merge_m / gsd_m) if gsd_m else cfg.merge_px
        # Blobs are made on rectangles around the hot enough pixels, with margins that give
        # the same closing and labels as the whole image.
        found = []
        for rows, cols, own in _regions(hot_enough.view(np.uint8), 2 * merge + 1) or []:
            found += self._region_blobs(t, hot_enough, fire_px, saturated, rows, cols, own,
                                        merge)
        found.sort(key=lambda b: b.first)  # the label order of the whole image
        px_area = gsd_m * gsd_m if gsd_m else math.nan
        min_px = max(cfg.min_area_px, math.ceil(cfg.min_area_m2 / px_area) if gsd_m else 0)
        blobs = [b for b in found if b.count >= min_px]
        histories = self._update_history([(b.cx, b.cy) for b in blobs],
                                         [float(b.count) for b in blobs], ego_shift_px)
        detections = []
        for b, hist in zip(blobs, histories, strict=True):
            x, y, w, h = b.box
            at_edge = x == 0 or y == 0 or x + w == t.shape[1] or y + h == t.shape[0]
            flickers = (hist is not None and not at_edge
                        and hist.flicker(cfg.flicker_min_frames) > cfg.flicker_cv)
            is_fire = b.fire >= cfg.min_fire_px or (flickers and b.max_c >= cfg.flicker_min_c)
            mean_c = float(b.sum / b.count)
            if is_fire:
                conf = 1.0 - math.exp(-max(b.fire, 1) / _FIRE_PX_SCALE)
                if flickers:
                    conf += _FLICKER_BOOST * (1.0 - conf)
                label = "fire"
            else:
                excess = b.max_c - float(buf.background[int(b.cy), int(b.cx)])
                conf = 1.0 - math.exp(-max(excess - cfg.hotspot_contrast_k, 0.0)
                                      / (_HOTSPOT_CONTRAST_SCALE * cfg.hotspot_contrast_k))
                label = "hotspot"
            detections.append(Detection(
                label=label, confidence=float(np.clip(conf, 0.0, 1.0)),
                bbox=(x, y, x + w, y + h), centroid=(float(b.cx), float(b.cy)),
                max_c=float(b.max_c), mean_c=mean_c, area_px=b.count,
                area_m2=b.count * px_area, saturated_px=b.saturated))
        detections.sort(key=lambda d: -d.area_px)
        return detections

    def _region_blobs(self, t: NDArray[np.float32], hot_enough: NDArray[np.bool_],
                      fire_px: NDArray[np.bool_] | None, saturated: NDArray[np.bool_] | None,
                      rows: slice, cols: slice, own: NDArray[np.bool_] | None, merge: int
                      ) -> list[_HotBlob]:
        """Hot blobs of one rectangle (see :func:`_regions`), in image coordinates."""
        cfg = self.config
        buf = self._buf
        y0, x0 = rows.start, cols.start
        tw = t[rows, cols]
        contrast = buf.contrast[rows, cols]
        np.subtract(tw, buf.background[rows, cols], out=contrast)
        hot = contrast > cfg.hotspot_contrast_k
        hot &= hot_enough[rows, cols]
        if buf.any_invalid:
            hot &= ~buf.invalid[rows, cols]
        fire = tw >= cfg.fire_c if fire_px is None else fire_px[rows, cols]
        hot |= fire
        mask = hot.view(np.uint8)
        grouped = mask
        if merge > 0:  # the closing groups the hot pixels; statistics are over them only
            grouped = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disc(merge))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
        if n <= 1:
            return []
        width = cols.stop - cols.start
        hot_idx = np.flatnonzero(mask)
        lab = labels.ravel()[hot_idx]
        values = tw.ravel()[hot_idx] if tw.flags.c_contiguous else tw[hot]
        counts = np.bincount(lab, minlength=n)
        fire_counts = np.bincount(lab, weights=fire.ravel()[hot_idx], minlength=n)
        sat_counts = (np.bincount(lab, weights=saturated[rows, cols].ravel()[hot_idx],
                                  minlength=n) if saturated is not None else np.zeros(n))
        sums = np.bincount(lab, weights=values, minlength=n)
        maxima = np.full(n, -np.inf)
        np.maximum.at(maxima, lab, values)
        divisor = np.maximum(counts, 1)
        cx = np.bincount(lab, weights=hot_idx % width + x0, minlength=n) / divisor
        cy = np.bincount(lab, weights=hot_idx // width + y0, minlength=n) / divisor
        ids = np.arange(1, n)
        first = _first_pixels(labels, stats, ids)
        if own is not None:  # blobs of other groups reaching into the rectangle
            mine = _owns(own, first)
            ids, first = ids[mine], [f for f, m in zip(first, mine, strict=True) if m]
        return [_HotBlob(first=(fy + y0, fx + x0), count=int(counts[k]),
                         fire=int(fire_counts[k]), saturated=int(sat_counts[k]),
                         sum=float(sums[k]), max_c=float(maxima[k]), cx=float(cx[k]),
                         cy=float(cy[k]),
                         box=(int(stats[k, 0]) + x0, int(stats[k, 1]) + y0,
                              int(stats[k, 2]), int(stats[k, 3])))
                for k, (fy, fx) in zip(ids, first, strict=True)]

    def _saturated(self, invalid: NDArray[np.bool_], hot_seeds: NDArray[np.bool_]
                   ) -> NDArray[np.bool_]:
        """NaN pixels that are saturated: connected to hot pixels, or in NaN clusters of at
        least ``nan_cluster_px`` (a flame edge cut sharply against cool ground; isolated dead
        pixels are left out)."""
        if not invalid.any():
            return np.zeros_like(invalid)
        _, comp, stats, _ = cv2.connectedComponentsWithStats(invalid.view(np.uint8),
                                                             connectivity=8)
        keep = stats[:, cv2.CC_STAT_AREA] >= self.config.nan_cluster_px
        keep[0] = False
        touched = np.unique(comp[invalid & hot_seeds])
        keep[touched[touched > 0]] = True
        return keep[comp]

    def _age_history(self, keep: list[_BlobHistory]) -> None:
        self._history = keep

    def _update_history(self, centroids: list[tuple[float, float]], hot_areas: list[float],
                        ego_shift_px: tuple[float, float]) -> list[_BlobHistory | None]:
        """Continue each blob's hot-area history from the nearest previous blob."""
        cfg = self.config
        if not cfg.use_flicker:
            return [None] * len(centroids)
        dx, dy = ego_shift_px
        previous = self._history
        taken = [False] * len(previous)
        out: list[_BlobHistory | None] = []
        for (cx, cy), area in zip(centroids, hot_areas, strict=True):
            best, best_d = -1, cfg.match_px
            for i, h in enumerate(previous):
                d = math.hypot(h.centroid[0] + dx - cx, h.centroid[1] + dy - cy)
                if not taken[i] and d <= best_d:
                    best, best_d = i, d
            if best >= 0:
                taken[best] = True
                hist = previous[best]
                hist.centroid = (cx, cy)
            else:
                hist = _BlobHistory(centroid=(cx, cy),
                                    hot_area=deque(maxlen=cfg.history_frames))
            hist.hot_area.append(area)
            out.append(hist)
        self._age_history([h for h in out if h is not None])
        return out
