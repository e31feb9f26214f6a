"""Regions of interest (ROIs) of temperature images: spots, boxes and polygons, and the threshold
alarm rule an ROI can carry, as used in building and electrical inspection.

Pure numpy + OpenCV; no ROS imports. Positions are pixels, x right and y down, pixel centres at
integer coordinates; temperatures are deg C, temperature differences K. Each ROI gives the flat
indices of its pixels in a frame of a given shape (:mod:`.stats` computes them once per shape).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["ALARM_METRICS", "ALARM_STATES", "DEFAULT_HYSTERESIS_K", "NO_ALARM", "ROI_SHAPES",
           "STATE_ALARM", "STATE_INVALID", "STATE_OK", "BoxRoi", "PolygonRoi", "Roi", "RoiAlarm",
           "SpotRoi"]


#: ROI shapes, as in ``RoiStatistics.shape``.
ROI_SHAPES: tuple[str, ...] = ("spot", "box", "polygon")
#: Type keywords of the parameter strings -> shape ("poly" is the canonical spelling).
TYPE_KEYWORDS: dict[str, str] = {
    "spot": "spot",
    "box": "box",
    "poly": "polygon",
    "polygon": "polygon",
}

#: Statistics an alarm can watch (attribute ``<metric>_c`` of :class:`RoiStats`).
ALARM_METRICS: tuple[str, ...] = ("max", "mean", "min", "p05", "p50", "p95")
METRIC_ALIASES = {"p5": "p05"}
_DEFAULT_ABOVE_METRIC = "max"
_DEFAULT_BELOW_METRIC = "min"
#: Default hysteresis of alarms, K: well above the noise of microbolometers (NETD < 0.1 K) and
#: of the ROI maximum, well below the margins of inspection thresholds.
DEFAULT_HYSTERESIS_K = 1.0

#: Alarm states; ``NO_ALARM`` ("") for ROIs without an alarm rule, as in ``RoiStatistics``.
STATE_OK, STATE_ALARM, STATE_INVALID, NO_ALARM = "ok", "alarm", "invalid", ""
ALARM_STATES: tuple[str, ...] = (STATE_OK, STATE_ALARM, STATE_INVALID)

# A name is one token that cannot be mistaken for a clause or a coordinate separator.
_NAME_RE = re.compile(r"[^\s=,]+")


# --------------------------------------------------------------------------------------------
# ROI definitions
# --------------------------------------------------------------------------------------------


def as_pixel(value: Any, what: str) -> int:
    """``value`` as an int pixel coordinate; integral floats are accepted."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{what} {value!r} is not a number") from None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} must be an integer pixel coordinate, got {value!r}")
    try:
        return int(operator.index(value))
    except TypeError:
        pass
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an integer pixel coordinate, got {value!r}") from None
    if not math.isfinite(f) or f != int(f):
        raise ValueError(f"{what} must be a whole number of pixels, got {value!r}")
    return int(f)


def check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"ROI name must be a non-empty string without whitespace, '=' or ',', got {name!r}"
        )


def _image_box(
    bounds: tuple[int, int, int, int], shape: tuple[int, int]
) -> tuple[int, int, int, int, bool]:
    """Intersect ``bounds`` (x0, y0, x1, y1, end-exclusive) with an image of ``shape`` (H, W).

    Returns the intersection and whether ``bounds`` reach outside the image.
    """
    x0, y0, x1, y1 = bounds
    h, w = shape
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    clipped = (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1)
    return cx0, cy0, max(cx1, cx0), max(cy1, cy0), clipped


def _flat_indices(local_mask: NDArray[np.bool_], x0: int, y0: int, width: int) -> NDArray[np.intp]:
    """Row-major flat image indices of the set pixels of a mask whose top-left is (x0, y0)."""
    ys, xs = np.nonzero(local_mask)
    return (ys + y0) * width + (xs + x0)


@dataclass(frozen=True)
class RoiAlarm:
    """Threshold alarm of a ROI, on one of its statistics.

    Parameters
    ----------
    above_c : float or None, deg C
        Alarm when the metric is at or above this (e.g. an overheating connector).
    below_c : float or None, deg C
        Alarm when the metric is at or below this (e.g. a cold bridge, condensation risk).
    hysteresis_k : float, K, >= 0
        An alarm, once on, turns off only when the metric is back by more than this
        (below ``above_c - hysteresis_k`` or above ``below_c + hysteresis_k``).
    metric : str or None
        One of :data:`ALARM_METRICS`; None: 'max' for ``above_c``, 'min' for ``below_c``.
    """

    above_c: float | None = None
    below_c: float | None = None
    hysteresis_k: float = DEFAULT_HYSTERESIS_K
    metric: str | None = None

    def __post_init__(self) -> None:
        if self.above_c is None and self.below_c is None:
            raise ValueError("an alarm needs a threshold: above= and/or below=")
        for key in ("above_c", "below_c", "hysteresis_k"):
            value = getattr(self, key)
            if value is not None:
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError(f"alarm {key} must be finite, got {value}")
                object.__setattr__(self, key, value)
        if self.hysteresis_k < 0.0:
            raise ValueError(f"alarm hysteresis must be >= 0 K, got {self.hysteresis_k}")
        if self.above_c is not None and self.below_c is not None and self.above_c <= self.below_c:
            raise ValueError(
                f"alarm above={self.above_c} must be greater than below={self.below_c}"
            )
        if self.metric is not None and self.metric not in ALARM_METRICS:
            raise ValueError(
                f"unknown alarm metric {self.metric!r}; valid: {'|'.join(ALARM_METRICS)}"
            )

    @property
    def above_metric(self) -> str:
        """Statistic compared with ``above_c``."""
        return self.metric or _DEFAULT_ABOVE_METRIC

    @property
    def below_metric(self) -> str:
        """Statistic compared with ``below_c``."""
        return self.metric or _DEFAULT_BELOW_METRIC

    def describe(self) -> str:
        """Human-readable rule, e.g. ``'max above 80.0 C (hysteresis 1.0 K)'``."""
        parts = []
        if self.above_c is not None:
            parts.append(f"{self.above_metric} above {self.above_c:.1f} C")
        if self.below_c is not None:
            parts.append(f"{self.below_metric} below {self.below_c:.1f} C")
        return f"{', '.join(parts)} (hysteresis {self.hysteresis_k:.1f} K)"


def _check_alarm(alarm: Any) -> None:
    if alarm is not None and not isinstance(alarm, RoiAlarm):
        raise ValueError(f"alarm must be a RoiAlarm or None, got {type(alarm).__name__}")


@dataclass(frozen=True)
class SpotRoi:
    """Spot meter: the pixels of a disc, ``(px - x)**2 + (py - y)**2 <= radius_px**2``.

    Parameters
    ----------
    name : str
        Unique; one token without whitespace, '=' or ','.
    x, y : int, pixels
        Centre pixel.
    radius_px : int, pixels, >= 0
        0 is the single pixel (x, y).
    alarm : RoiAlarm or None
    """

    name: str
    x: int
    y: int
    radius_px: int = 0
    alarm: RoiAlarm | None = None

    shape: ClassVar[str] = "spot"

    def __post_init__(self) -> None:
        check_name(self.name)
        object.__setattr__(self, "x", as_pixel(self.x, f"spot {self.name!r}: x"))
        object.__setattr__(self, "y", as_pixel(self.y, f"spot {self.name!r}: y"))
        r = as_pixel(self.radius_px, f"spot {self.name!r}: radius")
        if r < 0:
            raise ValueError(f"spot {self.name!r}: radius must be >= 0 pixels, got {r}")
        object.__setattr__(self, "radius_px", r)
        _check_alarm(self.alarm)

    def bounds(self) -> tuple[int, int, int, int]:
        """Bounding box ``(x0, y0, x1, y1)``, pixels, end-exclusive."""
        r = self.radius_px
        return self.x - r, self.y - r, self.x + r + 1, self.y + r + 1

    def flat_indices(self, shape: tuple[int, int]) -> tuple[NDArray[np.intp], bool]:
        """Row-major flat indices of the ROI's pixels in an image of ``shape`` (H, W).

        Returns
        -------
        (ndarray of intp, shape (N,), ascending; bool)
            Indices of the pixels inside the image, and whether the ROI reaches outside it.
        """
        x0, y0, x1, y1, clipped = _image_box(self.bounds(), shape)
        dy = np.arange(y0, y1)[:, None] - self.y
        dx = np.arange(x0, x1)[None, :] - self.x
        return _flat_indices(dx * dx + dy * dy <= self.radius_px**2, x0, y0, shape[1]), clipped


@dataclass(frozen=True)
class BoxRoi:
    """Axis-aligned box of the pixels ``x0 <= x < x1``, ``y0 <= y < y1``.

    Parameters
    ----------
    name : str
        Unique; one token without whitespace, '=' or ','.
    x0, y0 : int, pixels
        First column and row (inclusive).
    x1, y1 : int, pixels
        End column and row (exclusive); ``x1 > x0``, ``y1 > y0``.
    alarm : RoiAlarm or None
    """

    name: str
    x0: int
    y0: int
    x1: int
    y1: int
    alarm: RoiAlarm | None = None

    shape: ClassVar[str] = "box"

    def __post_init__(self) -> None:
        check_name(self.name)
        for key in ("x0", "y0", "x1", "y1"):
            object.__setattr__(self, key, as_pixel(getattr(self, key), f"box {self.name!r}: {key}"))
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError(
                f"box {self.name!r} is empty: needs x1 > x0 and y1 > y0 (end-exclusive), got "
                f"x0={self.x0} y0={self.y0} x1={self.x1} y1={self.y1}"
            )
        _check_alarm(self.alarm)

    def bounds(self) -> tuple[int, int, int, int]:
        """Bounding box ``(x0, y0, x1, y1)``, pixels, end-exclusive."""
        return self.x0, self.y0, self.x1, self.y1

    def flat_indices(self, shape: tuple[int, int]) -> tuple[NDArray[np.intp], bool]:
        """Row-major flat indices of the ROI's pixels in an image of ``shape`` (H, W).

        Returns
        -------
        (ndarray of intp, shape (N,), ascending; bool)
            Indices of the pixels inside the image, and whether the ROI reaches outside it.
        """
        x0, y0, x1, y1, clipped = _image_box(self.bounds(), shape)
        rows = np.arange(y0, y1, dtype=np.intp)[:, None] * shape[1]
        return (rows + np.arange(x0, x1, dtype=np.intp)).reshape(-1), clipped


@dataclass(frozen=True)
class PolygonRoi:
    """Polygon, rasterised with ``cv2.fillPoly`` (its outline pixels included).

    Parameters
    ----------
    name : str
        Unique; one token without whitespace, '=' or ','.
    vertices : sequence of (int, int), pixels
        At least 3 vertices ``(x, y)``, in order; the polygon is closed implicitly.
    alarm : RoiAlarm or None
    """

    name: str
    vertices: tuple[tuple[int, int], ...]
    alarm: RoiAlarm | None = None

    shape: ClassVar[str] = "polygon"
    _MIN_VERTICES: ClassVar[int] = 3

    def __post_init__(self) -> None:
        check_name(self.name)
        try:
            pairs = [tuple(v) for v in self.vertices]
        except TypeError:
            raise ValueError(
                f"polygon {self.name!r}: vertices must be (x, y) pairs, got {self.vertices!r}"
            ) from None
        if any(len(p) != 2 for p in pairs):
            raise ValueError(
                f"polygon {self.name!r}: vertices must be (x, y) pairs, got {self.vertices!r}"
            )
        if len(pairs) < self._MIN_VERTICES:
            raise ValueError(
                f"polygon {self.name!r} needs at least {self._MIN_VERTICES} vertices, "
                f"got {len(pairs)}"
            )
        verts = tuple(
            (
                as_pixel(x, f"polygon {self.name!r}: x{i + 1}"),
                as_pixel(y, f"polygon {self.name!r}: y{i + 1}"),
            )
            for i, (x, y) in enumerate(pairs)
        )
        object.__setattr__(self, "vertices", verts)
        _check_alarm(self.alarm)

    def bounds(self) -> tuple[int, int, int, int]:
        """Bounding box ``(x0, y0, x1, y1)`` of the vertices, pixels, end-exclusive."""
        xs = [v[0] for v in self.vertices]
        ys = [v[1] for v in self.vertices]
        return min(xs), min(ys), max(xs) + 1, max(ys) + 1

    def flat_indices(self, shape: tuple[int, int]) -> tuple[NDArray[np.intp], bool]:
        """Row-major flat indices of the ROI's pixels in an image of ``shape`` (H, W).

        Rasterised on a canvas limited to the image part of the bounding box.

        Returns
        -------
        (ndarray of intp, shape (N,), ascending; bool)
            Indices of the pixels inside the image, and whether the ROI reaches outside it.
        """
        x0, y0, x1, y1, clipped = _image_box(self.bounds(), shape)
        canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
        if canvas.size:
            pts = np.array(self.vertices, np.int32).reshape(-1, 1, 2)
            cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, offset=(-x0, -y0))
        return _flat_indices(canvas.view(np.bool_), x0, y0, shape[1]), clipped


#: Any ROI.
Roi = SpotRoi | BoxRoi | PolygonRoi
ROI_TYPES = (SpotRoi, BoxRoi, PolygonRoi)

def check_unique(rois: Sequence[Roi]) -> None:
    seen: dict[str, int] = {}
    for i, roi in enumerate(rois):
        if not isinstance(roi, ROI_TYPES):
            raise TypeError(f"not a ROI: {roi!r}")
        if roi.name in seen:
            raise ValueError(
                f"duplicate ROI name {roi.name!r} (entries {seen[roi.name] + 1} and {i + 1})"
            )
        seen[roi.name] = i


# At most this many ROIs per stream: each costs a gather and a few reductions per frame
# (tens of microseconds at 640x512; 2000 of them held a 30 Hz processor to 12 Hz), a
