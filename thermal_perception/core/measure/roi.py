"""Regions of interest (ROIs) of temperature images: spots, boxes, polygons, their temperature
statistics and threshold alarms, as used in building and electrical inspection.

Pure numpy + OpenCV; no ROS imports. Positions are pixels, x right and y down, pixel centres
at integer coordinates; temperatures are deg C, temperature differences K. NaN and +/-inf
pixels are invalid and ignored by the statistics.

ROIs come from ROS parameters as a list of strings (parameters cannot hold nested structures);
see :func:`parse_roi` for the grammar. Per frame, :class:`RoiSet` gathers each ROI's pixels by
flat indices that are computed once per frame shape, and :class:`AlarmMonitor` turns the
statistics into alarm states with hysteresis.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ALARM_METRICS",
    "ALARM_STATES",
    "DEFAULT_HYSTERESIS_K",
    "NO_ALARM",
    "ROI_SHAPES",
    "STATE_ALARM",
    "STATE_INVALID",
    "STATE_OK",
    "AlarmMonitor",
    "AlarmTransition",
    "AlarmUpdate",
    "BoxRoi",
    "PolygonRoi",
    "Roi",
    "RoiAlarm",
    "RoiSet",
    "RoiStats",
    "SpotRoi",
    "format_roi",
    "parse_roi",
    "parse_rois",
]

#: ROI shapes, as in ``RoiStatistics.shape``.
ROI_SHAPES: tuple[str, ...] = ("spot", "box", "polygon")
#: Type keywords of the parameter strings -> shape ("poly" is the canonical spelling).
_TYPE_KEYWORDS: dict[str, str] = {
    "spot": "spot",
    "box": "box",
    "poly": "polygon",
    "polygon": "polygon",
}

#: Statistics an alarm can watch (attribute ``<metric>_c`` of :class:`RoiStats`).
ALARM_METRICS: tuple[str, ...] = ("max", "mean", "min", "p05", "p50", "p95")
_METRIC_ALIASES = {"p5": "p05"}
_DEFAULT_ABOVE_METRIC = "max"
_DEFAULT_BELOW_METRIC = "min"
#: Default hysteresis of alarms, K: well above the noise of microbolometers (NETD < 0.1 K) and
#: of the ROI maximum, well below the margins of inspection thresholds.
DEFAULT_HYSTERESIS_K = 1.0

#: Alarm states; ``NO_ALARM`` ("") for ROIs without an alarm rule, as in ``RoiStatistics``.
STATE_OK, STATE_ALARM, STATE_INVALID, NO_ALARM = "ok", "alarm", "invalid", ""
ALARM_STATES: tuple[str, ...] = (STATE_OK, STATE_ALARM, STATE_INVALID)

#: Percentiles of :class:`RoiStats`, in percent.
_PERCENTILES = (5.0, 50.0, 95.0)
#: Frame shapes whose pixel indices :class:`RoiSet` keeps.
_MAX_CACHED_SHAPES = 4

# A name is one token that cannot be mistaken for a clause or a coordinate separator.
_NAME_RE = re.compile(r"[^\s=,]+")


# --------------------------------------------------------------------------------------------
# ROI definitions
# --------------------------------------------------------------------------------------------


def _pixel(value: Any, what: str) -> int:
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


def _check_name(name: Any) -> None:
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
        _check_name(self.name)
        object.__setattr__(self, "x", _pixel(self.x, f"spot {self.name!r}: x"))
        object.__setattr__(self, "y", _pixel(self.y, f"spot {self.name!r}: y"))
        r = _pixel(self.radius_px, f"spot {self.name!r}: radius")
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
        _check_name(self.name)
        for key in ("x0", "y0", "x1", "y1"):
            object.__setattr__(self, key, _pixel(getattr(self, key), f"box {self.name!r}: {key}"))
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
        _check_name(self.name)
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
                _pixel(x, f"polygon {self.name!r}: x{i + 1}"),
                _pixel(y, f"polygon {self.name!r}: y{i + 1}"),
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
_ROI_TYPES = (SpotRoi, BoxRoi, PolygonRoi)


# --------------------------------------------------------------------------------------------
# Parameter strings
# --------------------------------------------------------------------------------------------

_CLAUSE_KEYS = ("above", "below", "hysteresis", "metric")
_SPOT_COORDS = (2, 3)  # x y [radius]
_BOX_COORDS = 4


def _parse_float(value: str, what: str) -> float:
    try:
        f = float(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(f):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return f


def _parse_alarm(clauses: list[str], where: str) -> RoiAlarm | None:
    values: dict[str, str] = {}
    for clause in clauses:
        key, _, value = clause.partition("=")
        key = key.lower()
        if key not in _CLAUSE_KEYS:
            raise ValueError(
                f"{where}: unknown clause {clause!r}; valid: "
                + ", ".join(f"{k}=" for k in _CLAUSE_KEYS)
            )
        if key in values:
            raise ValueError(f"{where}: clause {key}= given twice")
        if not value:
            raise ValueError(f"{where}: clause {key}= has no value")
        values[key] = value
    if not values:
        return None
    if "above" not in values and "below" not in values:
        raise ValueError(f"{where}: {', '.join(values)} given without above= or below=")
    metric = values.get("metric")
    if metric is not None:
        metric = metric.lower()
        metric = _METRIC_ALIASES.get(metric, metric)
        if metric not in ALARM_METRICS:
            raise ValueError(
                f"{where}: unknown metric {values['metric']!r}; valid: {'|'.join(ALARM_METRICS)}"
            )
    kwargs: dict[str, Any] = {"metric": metric}
    for key, attr in (("above", "above_c"), ("below", "below_c"), ("hysteresis", "hysteresis_k")):
        if key in values:
            kwargs[attr] = _parse_float(values[key], f"{where}: {key}")
    try:
        return RoiAlarm(**kwargs)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def parse_roi(text: str) -> Roi:
    """Parse a ROI from a ROS-parameter string.

    Grammar (tokens separated by whitespace; commas count as whitespace; keywords are
    case-insensitive; coordinates are integer pixels, x right, y down)::

        spot NAME X Y [RADIUS_PX]           disc, RADIUS_PX >= 0 (default 0: one pixel)
        box  NAME X0 Y0 X1 Y1               X0 <= x < X1, Y0 <= y < Y1
        poly NAME X1 Y1 X2 Y2 X3 Y3 ...     >= 3 vertices ("polygon" also accepted)

    optionally followed by alarm clauses, in any order::

        above=C  below=C  hysteresis=K  metric=max|mean|min|p05|p50|p95  (p5 = p05)

    Examples: ``"spot fuse_3 320 240 2 above=80"``, ``"box wall 0 0 100 50 below=12.5
    metric=mean hysteresis=0.5"``, ``"poly roof 10,20 200,20 180,90"``.

    Parameters
    ----------
    text : str

    Returns
    -------
    SpotRoi, BoxRoi or PolygonRoi

    Raises
    ------
    ValueError
        With a message naming the problem: empty string, unknown type, missing name, wrong
        number of coordinates, non-numeric or fractional coordinate, polygon with fewer than
        3 vertices, empty box, negative radius, unknown/duplicate/invalid clause.
    """
    tokens = text.replace(",", " ").split()
    if not tokens:
        raise ValueError("empty ROI string")
    keyword = tokens[0].lower()
    if keyword not in _TYPE_KEYWORDS:
        raise ValueError(
            f"unknown ROI type {tokens[0]!r} in {text!r}; expected one of: "
            + ", ".join(_TYPE_KEYWORDS)
        )
    shape = _TYPE_KEYWORDS[keyword]
    if len(tokens) < 2 or "=" in tokens[1]:
        raise ValueError(f"ROI string {text!r} has no name after {tokens[0]!r}")
    name = tokens[1]
    _check_name(name)
    where = f"{shape} {name!r}"
    rest = tokens[2:]
    n_coords = next((i for i, tok in enumerate(rest) if "=" in tok), len(rest))
    coords, clauses = rest[:n_coords], rest[n_coords:]
    stray = [tok for tok in clauses if "=" not in tok]
    if stray:
        raise ValueError(f"{where}: {stray[0]!r} after the alarm clauses (coordinates first)")
    alarm = _parse_alarm(clauses, where)

    if shape == "spot":
        if len(coords) not in _SPOT_COORDS:
            raise ValueError(f"{where} needs 2 or 3 numbers (x y [radius]), got {len(coords)}")
        labels = ("x", "y", "radius")
    elif shape == "box":
        if len(coords) != _BOX_COORDS:
            raise ValueError(f"{where} needs 4 numbers (x0 y0 x1 y1), got {len(coords)}")
        labels = ("x0", "y0", "x1", "y1")
    else:
        if len(coords) % 2:
            raise ValueError(
                f"{where} needs x y pairs, got an odd number of coordinates ({len(coords)})"
            )
        if len(coords) < 2 * PolygonRoi._MIN_VERTICES:
            raise ValueError(
                f"{where} needs at least {PolygonRoi._MIN_VERTICES} vertices, "
                f"got {len(coords) // 2}"
            )
        labels = tuple(f"{axis}{i // 2 + 1}" for i, axis in enumerate("xy" * (len(coords) // 2)))
    values = [
        _pixel(tok, f"{where}: {label}")
        for tok, label in zip(coords, labels[: len(coords)], strict=True)
    ]

    if shape == "spot":
        return SpotRoi(name, *values, alarm=alarm)
    if shape == "box":
        return BoxRoi(name, *values, alarm=alarm)
    return PolygonRoi(name, tuple(zip(values[::2], values[1::2], strict=True)), alarm=alarm)


def format_roi(roi: Roi) -> str:
    """The parameter string of a ROI; ``parse_roi(format_roi(roi)) == roi``."""
    if isinstance(roi, SpotRoi):
        parts = ["spot", roi.name, roi.x, roi.y, roi.radius_px]
    elif isinstance(roi, BoxRoi):
        parts = ["box", roi.name, roi.x0, roi.y0, roi.x1, roi.y1]
    elif isinstance(roi, PolygonRoi):
        parts = ["poly", roi.name, *(c for v in roi.vertices for c in v)]
    else:
        raise TypeError(f"not a ROI: {roi!r}")
    a = roi.alarm
    if a is not None:
        # repr() of a float is its shortest exact round-trip spelling.
        if a.above_c is not None:
            parts.append(f"above={a.above_c!r}")
        if a.below_c is not None:
            parts.append(f"below={a.below_c!r}")
        parts.append(f"hysteresis={a.hysteresis_k!r}")
        if a.metric is not None:
            parts.append(f"metric={a.metric}")
    return " ".join(str(p) for p in parts)


def _check_unique(rois: Sequence[Roi]) -> None:
    seen: dict[str, int] = {}
    for i, roi in enumerate(rois):
        if not isinstance(roi, _ROI_TYPES):
            raise TypeError(f"not a ROI: {roi!r}")
        if roi.name in seen:
            raise ValueError(
                f"duplicate ROI name {roi.name!r} (entries {seen[roi.name] + 1} and {i + 1})"
            )
        seen[roi.name] = i


# At most this many ROIs per stream: each costs a gather and a few reductions per frame
# (tens of microseconds at 640x512; 2000 of them held a 30 Hz processor to 12 Hz), a
# statistics entry and an outline on the display image.
MAX_ROIS = 64


def parse_rois(texts: Iterable[str]) -> list[Roi]:
    """Parse a list of ROI strings (see :func:`parse_roi`); blank strings are skipped.

    Skipping blanks allows the ``['']`` default of a ROS string-array parameter.

    Raises
    ------
    ValueError
        As :func:`parse_roi`, prefixed with the entry number (1-based); for a duplicate name;
        or for more than :data:`MAX_ROIS` entries.
    """
    rois: list[Roi] = []
    texts = list(texts)
    given = sum(1 for text in texts if text.strip())
    if given > MAX_ROIS:
        raise ValueError(f"{given} ROIs given, at most {MAX_ROIS} are supported per stream "
                         "(each is measured on every frame)")
    for i, text in enumerate(texts):
        if not text.strip():
            continue
        try:
            rois.append(parse_roi(text))
        except ValueError as e:
            raise ValueError(f"ROI entry {i + 1}: {e}") from None
    _check_unique(rois)
    return rois


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoiStats:
    """Temperature statistics of one ROI in one frame (fields as in ``RoiStatistics.msg``).

    Temperatures are NaN and positions None when the ROI has no valid (finite) pixel.

    Attributes
    ----------
    name, shape : str
        ROI name and shape ('spot', 'box' or 'polygon').
    pixel_count : int
        ROI pixels inside the image.
    valid_count : int
        Of those, finite ones.
    min_c, max_c, mean_c : float, deg C
    std_c : float, K
        Population standard deviation (ddof 0).
    p05_c, p50_c, p95_c : float, deg C
        Percentiles (linear interpolation, as ``numpy.percentile``).
    max_xy, min_xy : (int, int) or None, pixels
        Position (x, y) of the hottest / coldest valid pixel; the first in row-major order on
        ties.
    clipped : bool
        The ROI reaches outside the image (its outside part is ignored).
    outside : bool
        The ROI is entirely outside the image (``pixel_count == 0``).
    """

    name: str
    shape: str
    pixel_count: int
    valid_count: int
    min_c: float
    max_c: float
    mean_c: float
    std_c: float
    p05_c: float
    p50_c: float
    p95_c: float
    max_xy: tuple[int, int] | None
    min_xy: tuple[int, int] | None
    clipped: bool
    outside: bool

    @property
    def valid(self) -> bool:
        """At least one finite pixel."""
        return self.valid_count > 0

    def metric(self, name: str) -> float:
        """Value of an alarm metric (one of :data:`ALARM_METRICS`), deg C."""
        if name not in ALARM_METRICS:
            raise ValueError(f"unknown metric {name!r}; valid: {'|'.join(ALARM_METRICS)}")
        return getattr(self, f"{name}_c")

    def as_dict(self) -> dict[str, Any]:
        """Flat dict for diagnostics/CSV; positions as ``max_x, max_y, min_x, min_y`` (None
        when there is no valid pixel)."""
        d = asdict(self)
        for key in ("max", "min"):
            xy = d.pop(f"{key}_xy")
            d[f"{key}_x"], d[f"{key}_y"] = xy if xy is not None else (None, None)
        return d


class _RoiIndex(NamedTuple):
    flat: NDArray[np.intp]
    clipped: bool


def _empty_stats(roi: Roi, index: _RoiIndex) -> RoiStats:
    nan = math.nan
    return RoiStats(
        roi.name,
        roi.shape,
        int(index.flat.size),
        0,
        nan,
        nan,
        nan,
        nan,
        nan,
        nan,
        nan,
        None,
        None,
        index.clipped,
        index.flat.size == 0,
    )


def _percentiles(sorted_values: NDArray) -> list[float]:
    """:data:`_PERCENTILES` of sorted values, by linear interpolation as ``numpy.percentile``.

    Sorting once and indexing is faster than ``np.percentile``'s partitioning for a few
    percentiles, and the sorted values also give the minimum and maximum.
    """
    n = sorted_values.size
    result = []
    for q in _PERCENTILES:
        pos = q / 100.0 * (n - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        a, b, t = float(sorted_values[lo]), float(sorted_values[hi]), pos - lo
        result.append(a + (b - a) * t if t < 0.5 else b - (b - a) * (1.0 - t))
    return result


def _roi_stats(roi: Roi, index: _RoiIndex, flat_image: NDArray, width: int) -> RoiStats:
    idx = index.flat
    values = flat_image.take(idx)
    finite = np.isfinite(values)
    if not finite.all():
        keep = np.flatnonzero(finite)
        values, idx = values[keep], idx[keep]
    n = values.size
    if n == 0:
        return _empty_stats(roi, index)
    ordered = np.sort(values).astype(np.float64, copy=False)
    mean = float(ordered.mean())
    dev = ordered - mean
    p05, p50, p95 = _percentiles(ordered)
    y_max, x_max = divmod(int(idx[values.argmax()]), width)
    y_min, x_min = divmod(int(idx[values.argmin()]), width)
    return RoiStats(
        name=roi.name,
        shape=roi.shape,
        pixel_count=int(index.flat.size),
        valid_count=int(n),
        min_c=float(ordered[0]),
        max_c=float(ordered[-1]),
        mean_c=mean,
        std_c=math.sqrt(float(np.dot(dev, dev)) / n),
        p05_c=p05,
        p50_c=p50,
        p95_c=p95,
        max_xy=(x_max, y_max),
        min_xy=(x_min, y_min),
        clipped=index.clipped,
        outside=False,
    )


class RoiSet:
    """A set of uniquely named ROIs and their per-frame temperature statistics.

    Pixel indices are computed on the first frame of each shape and cached (the last
    :data:`_MAX_CACHED_SHAPES` shapes); per frame, each ROI's pixels are gathered by flat index
    and reduced with numpy. ROIs reaching outside the image are clipped to it.

    Parameters
    ----------
    rois : iterable of SpotRoi, BoxRoi or PolygonRoi

    Raises
    ------
    ValueError
        On duplicate names.
    """

    def __init__(self, rois: Iterable[Roi]) -> None:
        self.rois: tuple[Roi, ...] = tuple(rois)
        _check_unique(self.rois)
        self._cache: dict[tuple[int, int], list[_RoiIndex]] = {}

    @classmethod
    def from_strings(cls, texts: Iterable[str]) -> RoiSet:
        """Build from ROS-parameter strings (see :func:`parse_rois`)."""
        return cls(parse_rois(texts))

    @property
    def names(self) -> list[str]:
        """ROI names, in order."""
        return [r.name for r in self.rois]

    def __len__(self) -> int:
        return len(self.rois)

    def __iter__(self) -> Iterator[Roi]:
        return iter(self.rois)

    def _indices(self, shape: tuple[int, int]) -> list[_RoiIndex]:
        entry = self._cache.get(shape)
        if entry is None:
            if len(self._cache) >= _MAX_CACHED_SHAPES:
                self._cache.pop(next(iter(self._cache)))
            entry = [_RoiIndex(*roi.flat_indices(shape)) for roi in self.rois]
            for e in entry:
                e.flat.flags.writeable = False
            self._cache[shape] = entry
        return entry

    def mask(self, name: str, shape: tuple[int, int]) -> NDArray[np.bool_]:
        """Pixel mask of one ROI in an image of ``shape`` (H, W).

        Returns
        -------
        ndarray of bool, shape (H, W)
            A new array (not used by :meth:`stats`; for display and debugging).
        """
        shape = (int(shape[0]), int(shape[1]))
        try:
            i = self.names.index(name)
        except ValueError:
            raise KeyError(f"no ROI named {name!r}") from None
        m = np.zeros(shape, np.bool_)
        m.reshape(-1)[self._indices(shape)[i].flat] = True
        return m

    def stats(self, temperature_c: ArrayLike) -> list[RoiStats]:
        """Statistics of every ROI, in order.

        Parameters
        ----------
        temperature_c : array_like of float, deg C, shape (H, W)
            NaN and +/-inf pixels are ignored.

        Returns
        -------
        list of RoiStats
        """
        t = np.asarray(temperature_c)
        if t.ndim != 2:
            raise ValueError(f"temperature_c must be 2-D (H, W), got shape {t.shape}")
        flat = t.reshape(-1)  # a view when contiguous
        width = t.shape[1]
        indices = self._indices((int(t.shape[0]), int(width)))
        return [
            _roi_stats(roi, index, flat, width) if index.flat.size else _empty_stats(roi, index)
            for roi, index in zip(self.rois, indices, strict=True)
        ]


# --------------------------------------------------------------------------------------------
# Alarms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmTransition:
    """Change of the alarm state of a ROI (for logging).

    Attributes
    ----------
    name : str
    previous, current : str
        States, from :data:`ALARM_STATES`.
    reason : str
        E.g. ``'max 81.0 C >= 80.0 C'`` or ``'no valid pixels'``.
    """

    name: str
    previous: str
    current: str
    reason: str

    def __str__(self) -> str:
        return f"ROI {self.name!r}: {self.previous} -> {self.current} ({self.reason})"


class AlarmUpdate(NamedTuple):
    """Result of :meth:`AlarmMonitor.update`."""

    #: State of every ROI, by name: 'ok', 'alarm', 'invalid', or '' (no alarm rule).
    states: dict[str, str]
    #: State changes of this update, in ROI order.
    transitions: list[AlarmTransition]


@dataclass
class _Latch:
    above: bool = False
    below: bool = False
    state: str = STATE_OK


def _evaluate(alarm: RoiAlarm, stats: RoiStats, latch: _Latch) -> list[str]:
    """Update the latches with hysteresis; return the reasons of the decisive comparisons."""
    reasons = []
    h = alarm.hysteresis_k
    if alarm.above_c is not None:
        m = alarm.above_metric
        v = stats.metric(m)
        level = alarm.above_c - h if latch.above else alarm.above_c
        latch.above = v >= level
        reasons.append(f"{m} {v:.2f} C {'>=' if latch.above else '<'} {level:.2f} C")
    if alarm.below_c is not None:
        m = alarm.below_metric
        v = stats.metric(m)
        level = alarm.below_c + h if latch.below else alarm.below_c
        latch.below = v <= level
        reasons.append(f"{m} {v:.2f} C {'<=' if latch.below else '>'} {level:.2f} C")
    return reasons


class AlarmMonitor:
    """Alarm states of ROIs with hysteresis; pure Python state, deterministic.

    For each ROI with an alarm rule: 'alarm' when a threshold is crossed (metric
    ``>= above_c`` or ``<= below_c``), back to 'ok' only when the metric has returned by more
    than the hysteresis (``< above_c - hysteresis_k``, ``> below_c + hysteresis_k``);
    'invalid' while the ROI has no valid pixel (its alarm memory is cleared, so the next valid
    frame is judged afresh against the thresholds). States start at 'ok'. ROIs without an
    alarm rule have the state '' and no transitions.

    Parameters
    ----------
    rois : iterable of SpotRoi, BoxRoi or PolygonRoi (or a RoiSet)
    """

    def __init__(self, rois: Iterable[Roi]) -> None:
        rois = tuple(rois)
        _check_unique(rois)
        self._alarms: dict[str, RoiAlarm | None] = {r.name: r.alarm for r in rois}
        self._latches: dict[str, _Latch] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the initial state ('ok' everywhere)."""
        self._latches = {n: _Latch() for n, a in self._alarms.items() if a is not None}

    @property
    def states(self) -> dict[str, str]:
        """Current state of every ROI, by name (a new dict)."""
        return {n: self._latches[n].state if n in self._latches else NO_ALARM for n in self._alarms}

    def update(self, stats: Iterable[RoiStats]) -> AlarmUpdate:
        """Evaluate one frame's statistics.

        Parameters
        ----------
        stats : iterable of RoiStats
            Usually :meth:`RoiSet.stats` of the same ROIs; ROIs missing here keep their state.

        Returns
        -------
        AlarmUpdate
            ``(states, transitions)``.

        Raises
        ------
        KeyError
            For statistics of a ROI this monitor does not know.
        """
        transitions = []
        for s in stats:
            if s.name not in self._alarms:
                raise KeyError(f"statistics of unknown ROI {s.name!r}")
            alarm = self._alarms[s.name]
            if alarm is None:
                continue
            latch = self._latches[s.name]
            previous = latch.state
            if s.valid_count == 0:
                latch.above = latch.below = False
                latch.state = STATE_INVALID
                reasons = ["no valid pixels"]
            else:
                reasons = _evaluate(alarm, s, latch)
                latch.state = STATE_ALARM if latch.above or latch.below else STATE_OK
            if latch.state != previous:
                transitions.append(
                    AlarmTransition(s.name, previous, latch.state, "; ".join(reasons))
                )
        return AlarmUpdate(self.states, transitions)
