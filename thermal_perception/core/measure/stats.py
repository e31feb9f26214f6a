"""Temperature statistics of ROIs per frame: :class:`RoiSet` gathers each ROI's pixels by flat
indices computed once per frame shape. NaN and +/-inf pixels are invalid and ignored;
temperatures deg C.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from thermal_perception.core.measure.parse import parse_rois
from thermal_perception.core.measure.shapes import ALARM_METRICS, Roi, check_unique

__all__ = ["RoiSet", "RoiStats"]


#: Percentiles of :class:`RoiStats`, in percent.
_PERCENTILES = (5.0, 50.0, 95.0)
#: Frame shapes whose pixel indices :class:`RoiSet` keeps.
_MAX_CACHED_SHAPES = 4

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
        check_unique(self.rois)
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
