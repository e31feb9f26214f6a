"""The warm-body detector: people and animals in temperature images.

Pure numpy + OpenCV + SciPy; no ROS imports. Inputs are temperature images in deg C (float,
NaN for invalid or saturated pixels), positions are pixels (x right, y down), sizes on the
ground are metres and m^2 through the ground sample distance (GSD, m per pixel) of a nadir
view. :class:`WarmBodyDetector` finds candidates by a background-adaptive threshold (warmer
than a robust local background by a few K and inside a plausible body band), re-segments them
at half contrast, gates them by isolation, size and shape on the ground and classifies them by
a documented heuristic (see the class docstring). Kept whole (about 700 lines): the detector
is one algorithm whose stages share the blob measurements, and reads best in one place.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from thermal_perception.core.detection.background import (
    EPS,
    MEDIAN_PERCENTILE,
    QUIET_EXTREMES,
    SQUARE3,
    FrameBuffers,
    candidate_regions,
    first_pixels,
    local_background,
    owned_mask,
    prepare_frame,
    square_kernel,
)

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
from thermal_perception.core.detection.types import Detection

__all__ = ["WarmBodyConfig", "WarmBodyDetector"]

_SIGMA_TO_FULL_LENGTH = 4.0   # uniform ellipse: full axis = 4 x std of the footprint
_OVERSIZE = 2.0               # candidate blobs up to this times the largest body are measured
_SPLIT_FACTOR = 2.0           # larger ones are split at this times the candidate contrast
_THIN = np.ones((2, 2), np.uint8)  # candidate strips thinner than this are dropped
_SPLIT_ERODE_M = 0.25         # touching bodies: erode up to half a body's width to part them
_PARTIAL_OPENING_SHARE = 0.3  # open the background on rectangles when they cover less


def _quantile(values: NDArray, percent: float) -> float:
    """The ``percent`` percentile of a 1-D array (nearest rank; cheaper than np.percentile)."""
    k = round(percent / 100.0 * (values.size - 1))
    return float(np.partition(values, k)[k])


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
    m2 = max((a * a * mu20 + 2 * a * b * mu11 + b * b * mu02) / m00, EPS)
    m3 = (a**3 * mu30 + 3 * a * a * b * mu21 + 3 * a * b * b * mu12 + b**3 * mu03) / m00
    m4 = (a**4 * mu40 + 4 * a**3 * b * mu31 + 6 * a * a * b * b * mu22
          + 4 * a * b**3 * mu13 + b**4 * mu04) / m00
    left, top = int(window_x) + origin[0], int(window_y) + origin[1]  # integers first
    return _Blob(
        area_px=int(area_px), area_m2=m00 * gsd * gsd,
        length_m=_SIGMA_TO_FULL_LENGTH * math.sqrt(large_eval) * gsd,
        width_m=_SIGMA_TO_FULL_LENGTH * math.sqrt(max(small_eval, EPS)) * gsd,
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
        if not 0 < self.background_percentile <= MEDIAN_PERCENTILE:
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
        self._buf = FrameBuffers()
        warm_up_kernels(wait=False)  # numpy path (same results) until they are loaded

    @QUIET_EXTREMES
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
        t = prepare_frame(temperature_c, buf)
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
        regions = candidate_regions(possible.view(np.uint8), ring_px + 2, _PARTIAL_OPENING_SHARE)
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
        for rows, cols, own in candidate_regions(mask, ring_px + 2) or []:
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
        """Blobs in one rectangle of candidates (``mask``, see :func:`candidate_regions`) that
        pass the measurements, each with its position in the blob order of a labelling of the whole
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
        first = first_pixels(labels, stats, index)
        if own is not None:  # blobs of other groups reaching into the rectangle
            mine = owned_mask(own, first)
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
        outer = square_kernel(2 * ring_px + 1)
        grown = cv2.dilate(blob.view(np.uint8), SQUARE3)  # the blob grown by one pixel
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
        near = cv2.dilate(ref.view(np.uint8), SQUARE3)  # ref grown by one pixel
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
        if m["m00"] <= EPS:
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
        m2 = max(float(np.dot(weights, proj**2)) / m["m00"], EPS)
        m3 = float(np.dot(weights, proj**3)) / m["m00"]
        m4 = float(np.dot(weights, proj**4)) / m["m00"]
        shape_score = abs(m3) / m2**1.5 + m4 / m2**2 - _ELLIPSE_KURTOSIS
        bx, by, bw, bh = cv2.boundingRect(ref.view(np.uint8))
        left, top = cols.start + origin[0], rows.start + origin[1]
        return _Blob(
            area_px=area_px, area_m2=m["m00"] * gsd * gsd,
            length_m=_SIGMA_TO_FULL_LENGTH * math.sqrt(large_eval) * gsd,
            width_m=_SIGMA_TO_FULL_LENGTH * math.sqrt(max(small_eval, EPS)) * gsd,
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
