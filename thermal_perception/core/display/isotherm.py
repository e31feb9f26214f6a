"""Isotherms and ROI annotations on display images.

Pure numpy + OpenCV; no ROS imports. Temperatures are deg C; images are (H, W, 3) uint8 in
OpenCV's BGR order; positions are pixels, x right, y down. An isotherm highlights the pixels
whose temperature lies in a band (e.g. everything above 60 C on a switchboard), drawn in a
solid or blended colour over the colormapped image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from thermal_perception.core.measure import (
    STATE_ALARM,
    STATE_INVALID,
    BoxRoi,
    PolygonRoi,
    Roi,
    RoiStats,
    SpotRoi,
)

__all__ = [
    "ALARM_COLOR_BGR",
    "INVALID_COLOR_BGR",
    "ROI_COLOR_BGR",
    "draw_rois",
    "isotherm_mask",
    "overlay_isotherm",
]

_MONO8_MAX = float(np.iinfo(np.uint8).max)  # 255

#: Outline colour of ROIs, BGR (cyan: stands out on ironbow and grey palettes).
ROI_COLOR_BGR: tuple[int, int, int] = (255, 255, 0)
#: Outline colour of ROIs in alarm, BGR (red).
ALARM_COLOR_BGR: tuple[int, int, int] = (0, 0, 255)
#: Outline colour of ROIs without valid pixels, BGR (grey).
INVALID_COLOR_BGR: tuple[int, int, int] = (128, 128, 128)
#: Colour of the halo under lines and of the label background, for contrast on any palette.
_HALO_BGR: tuple[int, int, int] = (0, 0, 0)

_LINE_PX = 1  # outline thickness, pixels
_HALO_PX = 2  # extra thickness of the halo, pixels
_FONT = cv2.FONT_HERSHEY_PLAIN
_FONT_SCALE = 0.9
_LABEL_GAP_PX = 3  # between an ROI's top edge and its label's baseline
_MARKER_SIZE_PX = 9  # hottest-point cross
_MIN_SPOT_DRAW_RADIUS_PX = 3  # draw spots no smaller than this, so they stay visible


def isotherm_mask(
    temperature_c: ArrayLike,
    low_c: float,
    high_c: float,
    out: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_]:
    """Pixels whose temperature lies in ``[low_c, high_c]``.

    Parameters
    ----------
    temperature_c : array_like of float, deg C, shape (H, W)
        NaN pixels are never in the band; +/-inf only in a band open on that side.
    low_c, high_c : float, deg C
        Band, inclusive; ``-np.inf`` / ``np.inf`` for "below" / "above" isotherms.
    out : ndarray of bool, shape (H, W), optional
        Reused output (allocate once per frame size).

    Returns
    -------
    ndarray of bool, shape (H, W)
    """
    if not low_c <= high_c:  # also rejects NaN bounds
        raise ValueError(f"need low_c <= high_c, got low_c={low_c}, high_c={high_c}")
    t = np.asarray(temperature_c)
    if out is None:
        out = np.empty(t.shape, np.bool_)
    # Comparisons with NaN are False (and do not warn): NaN pixels fall outside any band.
    np.greater_equal(t, low_c, out=out)
    out &= t <= high_c
    return out


def overlay_isotherm(
    bgr8: NDArray[np.uint8],
    mask: ArrayLike,
    color_bgr: Sequence[int] = (0, 255, 0),
    alpha: float = 1.0,
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Draw the pixels of ``mask`` in a colour, blended with the image.

    Parameters
    ----------
    bgr8 : ndarray of uint8, shape (H, W, 3), BGR
    mask : array_like of bool, shape (H, W)
        E.g. from :func:`isotherm_mask`.
    color_bgr : (int, int, int)
    alpha : float in [0, 1]
        Opacity of the colour: 1 paints the colour, 0 leaves the image unchanged; in between,
        ``rint(alpha * color + (1 - alpha) * pixel)``.
    out : ndarray of uint8, shape (H, W, 3), optional
        Output; may be ``bgr8`` itself (in place). Default: a new array.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3), BGR
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if bgr8.ndim != 3 or bgr8.shape[2] != 3 or bgr8.dtype != np.uint8:
        raise ValueError(f"bgr8 must be uint8 (H, W, 3), got {bgr8.dtype} {bgr8.shape}")
    m = np.asarray(mask, dtype=np.bool_)
    if m.shape != bgr8.shape[:2]:
        raise ValueError(f"mask shape {m.shape} does not match image shape {bgr8.shape[:2]}")
    color = np.asarray(color_bgr, dtype=np.float32).reshape(3)
    if out is None:
        out = bgr8.copy()
    elif out is not bgr8:
        np.copyto(out, bgr8)
    if alpha >= 1.0:
        out[m] = np.rint(color).astype(np.uint8)
    elif alpha > 0.0:
        pixels = out[m].astype(np.float32)  # (N, 3), only the band's pixels
        pixels *= 1.0 - alpha
        pixels += alpha * color
        np.rint(pixels, out=pixels)
        np.clip(pixels, 0.0, _MONO8_MAX, out=pixels)
        out[m] = pixels.astype(np.uint8)
    return out


def _label_anchor(
    roi: Roi, shape: tuple[int, int], tw: int, th: int, baseline: int
) -> tuple[int, int]:
    """Bottom-left of a ``tw`` x ``th`` (+ ``baseline``) pixel label just above the ROI (below
    it when there is no room above), moved inside the image."""
    x0, y0, _, y1 = roi.bounds()
    if isinstance(roi, SpotRoi):
        y0 = min(y0, roi.y - _MIN_SPOT_DRAW_RADIUS_PX)
    h, w = shape
    x = int(np.clip(x0, 0, max(w - tw, 0)))
    # the label's background reaches ``baseline`` below its origin (5 px in OpenCV 4's
    # Hershey fonts, 2 in OpenCV 5's): keep it off the ROI's outline in both
    y = y0 - _LABEL_GAP_PX - baseline
    if y - th < 0:  # no room above: below the ROI
        y = y1 + th + _LABEL_GAP_PX
    return x, int(np.clip(y, th, max(h - baseline, th)))


def _draw_shape(img: NDArray[np.uint8], roi: Roi, color: tuple[int, ...], thickness: int) -> None:
    if isinstance(roi, BoxRoi):
        cv2.rectangle(img, (roi.x0, roi.y0), (roi.x1 - 1, roi.y1 - 1), color, thickness)
    elif isinstance(roi, SpotRoi):
        r = max(roi.radius_px, _MIN_SPOT_DRAW_RADIUS_PX)
        cv2.circle(img, (roi.x, roi.y), r, color, thickness)
    elif isinstance(roi, PolygonRoi):
        pts = np.array(roi.vertices, np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], True, color, thickness)
    else:
        raise TypeError(f"not a ROI: {roi!r}")


def draw_rois(
    bgr8: NDArray[np.uint8],
    rois: Iterable[Roi],
    stats: Iterable[RoiStats] | None = None,
    states: Mapping[str, str] | None = None,
    color_bgr: Sequence[int] = ROI_COLOR_BGR,
) -> NDArray[np.uint8]:
    """Draw ROI outlines, labels and hottest-point markers, in place.

    Each ROI gets its outline and a label: its name, and with statistics ``max/mean`` in
    deg C (e.g. ``'fuse_3 81.2/64.0C'``), or ``'n/a'`` without valid pixels; a cross marks
    the hottest pixel. Lines have a dark halo and labels a dark background, so they read on
    any palette.

    Parameters
    ----------
    bgr8 : ndarray of uint8, shape (H, W, 3), BGR, C-contiguous
        Drawn on in place.
    rois : iterable of SpotRoi, BoxRoi or PolygonRoi (or a RoiSet)
    stats : iterable of RoiStats, optional
        Matched to ROIs by name (e.g. :meth:`RoiSet.stats` of the same frame).
    states : mapping of ROI name to alarm state, optional
        ROIs in 'alarm' are drawn in :data:`ALARM_COLOR_BGR`, 'invalid' in
        :data:`INVALID_COLOR_BGR` (e.g. :attr:`AlarmMonitor.states`).
    color_bgr : (int, int, int)
        Colour of the other ROIs.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
        ``bgr8``.
    """
    if bgr8.ndim != 3 or bgr8.shape[2] != 3 or bgr8.dtype != np.uint8:
        raise ValueError(f"bgr8 must be uint8 (H, W, 3), got {bgr8.dtype} {bgr8.shape}")
    if not bgr8.flags.c_contiguous:
        raise ValueError("bgr8 must be C-contiguous to be drawn on in place")
    by_name = {s.name: s for s in stats} if stats is not None else {}
    states = states or {}
    shape = bgr8.shape[:2]
    halo = _LINE_PX + _HALO_PX
    labels = []
    for roi in rois:  # shapes and markers first, so that no outline crosses a label
        state = states.get(roi.name, "")
        color = tuple(
            int(c)
            for c in (
                ALARM_COLOR_BGR
                if state == STATE_ALARM
                else INVALID_COLOR_BGR
                if state == STATE_INVALID
                else color_bgr
            )
        )
        s = by_name.get(roi.name)
        text = roi.name
        if s is not None:
            text += f" {s.max_c:.1f}/{s.mean_c:.1f}C" if s.valid else " n/a"
        labels.append((roi, text, color))
        _draw_shape(bgr8, roi, _HALO_BGR, halo)
        _draw_shape(bgr8, roi, color, _LINE_PX)
        if s is not None and s.max_xy is not None:
            for c, thick in ((_HALO_BGR, halo), (color, _LINE_PX)):
                cv2.drawMarker(bgr8, s.max_xy, c, cv2.MARKER_CROSS, _MARKER_SIZE_PX, thick)
    for roi, text, color in labels:
        (tw, th), baseline = cv2.getTextSize(text, _FONT, _FONT_SCALE, _LINE_PX)
        x, y = _label_anchor(roi, shape, tw, th, baseline)
        cv2.rectangle(bgr8, (x, y - th - _LINE_PX), (x + tw, y + baseline), _HALO_BGR, cv2.FILLED)
        cv2.putText(bgr8, text, (x, y), _FONT, _FONT_SCALE, color, _LINE_PX, cv2.LINE_AA)
    return bgr8


#: Box colours of detection classes (BGR).
LABEL_COLORS_BGR: dict[str, tuple[int, int, int]] = {
    "person": (0, 255, 0), "animal": (255, 200, 0), "vehicle": (255, 0, 255),
    "bicycle": (0, 255, 255),
    "fire": (0, 0, 255), "hotspot": (0, 165, 255)}
DEFAULT_BOX_BGR = (255, 255, 255)
BOX_FONT = cv2.FONT_HERSHEY_PLAIN
BOX_FONT_SCALE = 0.8
BOX_TEXT_GAP_PX = 2


def draw_detections(bgr8: NDArray[np.uint8],
                    boxes: Iterable[tuple[str, int, int, int, int, int, float]]) -> None:
    """Detection boxes and labels (``label #track max C``) drawn in place.

    ``boxes``: (label, x0, y0, x1, y1, track_id, max_c) with x1, y1 exclusive, pixels;
    track_id 0 = untracked; max_c NaN = unknown.
    """
    for label, x0, y0, x1, y1, track_id, max_c in boxes:
        x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
        color = LABEL_COLORS_BGR.get(label, DEFAULT_BOX_BGR)
        cv2.rectangle(bgr8, (x0, y0), (max(x1 - 1, x0), max(y1 - 1, y0)), color, 1)
        text = label + (f" #{track_id}" if track_id else "")
        if np.isfinite(max_c):
            text += f" {max_c:.0f}C"
        cv2.putText(bgr8, text, (x0, max(y0 - BOX_TEXT_GAP_PX, 0)), BOX_FONT, BOX_FONT_SCALE,
                    color, 1, cv2.LINE_AA)
