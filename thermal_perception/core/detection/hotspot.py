"""The hotspot and fire detector: hotspots (much hotter than their surroundings, e.g. engines)
and fire (very hot or saturated pixels; flicker over time as an optional supporting cue).

Pure numpy + OpenCV; no ROS imports. Temperatures deg C, positions pixels (x right, y down).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from thermal_perception.core.detection.background import (
    EPS,
    QUIET_EXTREMES,
    SQUARE3,
    FrameBuffers,
    candidate_regions,
    first_pixels,
    local_background,
    owned_mask,
    prepare_frame,
)
from thermal_perception.core.detection.types import Detection

__all__ = ["HotspotConfig", "HotspotDetector"]

_FLICKER_MIN_SAMPLES = 3      # second differences need three samples


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
        return float(np.sqrt(np.mean(second**2)) / max(a.mean(), EPS))


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
        self._buf = FrameBuffers()
        self._history: list[_BlobHistory] = []

    def reset(self) -> None:
        """Forget the flicker history (a new stream)."""
        self._history = []

    @QUIET_EXTREMES
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
        t = prepare_frame(temperature_c, buf)
        window = (cfg.background_window_m / gsd_m if gsd_m else cfg.background_window_px)
        raw = np.asarray(temperature_c)
        fire_px: NDArray[np.bool_] | None = None  # None: raw values are t's, no saturation
        saturated: NDArray[np.bool_] | None = None
        if buf.any_invalid or raw.dtype != np.float32:
            with np.errstate(invalid="ignore"):
                very_hot = raw >= cfg.fire_c
                seeds = cv2.dilate((raw >= cfg.saturation_neighbour_c).view(np.uint8),
                                   SQUARE3) > 0
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
        for rows, cols, own in candidate_regions(hot_enough.view(np.uint8), 2 * merge + 1) or []:
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
        """Hot blobs of one rectangle (see :func:`candidate_regions`), in image coordinates."""
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
        first = first_pixels(labels, stats, ids)
        if own is not None:  # blobs of other groups reaching into the rectangle
            mine = owned_mask(own, first)
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
