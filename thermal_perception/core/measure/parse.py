"""ROIs from ROS parameters: parameters cannot hold nested structures, so each ROI is one
string; :func:`parse_roi` documents the grammar, :func:`format_roi` writes it back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from thermal_perception.core.measure.shapes import (
    ALARM_METRICS,
    METRIC_ALIASES,
    TYPE_KEYWORDS,
    BoxRoi,
    PolygonRoi,
    Roi,
    RoiAlarm,
    SpotRoi,
    as_pixel,
    check_name,
    check_unique,
)

__all__ = ["MAX_ROIS", "format_roi", "parse_roi", "parse_rois"]


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
        metric = METRIC_ALIASES.get(metric, metric)
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
    if keyword not in TYPE_KEYWORDS:
        raise ValueError(
            f"unknown ROI type {tokens[0]!r} in {text!r}; expected one of: "
            + ", ".join(TYPE_KEYWORDS)
        )
    shape = TYPE_KEYWORDS[keyword]
    if len(tokens) < 2 or "=" in tokens[1]:
        raise ValueError(f"ROI string {text!r} has no name after {tokens[0]!r}")
    name = tokens[1]
    check_name(name)
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
        as_pixel(tok, f"{where}: {label}")
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
    check_unique(rois)
    return rois
