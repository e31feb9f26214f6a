"""Per-frame temperature statistics, exact and cheap: from the histogram of the corrected
counts, since every count value maps to one temperature through the converter's table.

One histogram of the (H, W) uint16 counts gives minimum, maximum, mean, the nearest-rank
percentile and the invalid fraction of the temperature image, and sums into the histogram of
the whole sequence. With a per-pixel emissivity map the temperature image itself is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

COUNT_VALUES = 1 << 16  # uint16 counts
PERCENTILE = 99.0  # the "p99" column
HISTOGRAM_SUBSAMPLE = 16  # emissivity-map mode keeps every 16th pixel for the histogram
MAX_SUBSAMPLES = 1 << 24  # ... and at most this many values in all
FLOAT32_EXACT_INTEGERS = 1 << 24  # float32 counts integers exactly below this


@dataclass
class FrameStats:
    """Temperature statistics of one frame, deg C (NaN without valid pixels)."""

    min_c: float
    max_c: float
    mean_c: float
    p99_c: float
    invalid_fraction: float




def count_range(counts: NDArray[np.uint16]) -> tuple[int, int]:
    """Smallest and largest value of a counts image."""
    lo, hi, _, _ = cv2.minMaxLoc(counts)
    return int(lo), int(hi)


def count_histogram(counts: NDArray[np.uint16], lo: int, hi: int) -> NDArray[np.int64]:
    """Pixels of each count value ``lo`` .. ``hi`` (all values of ``counts`` in that range).

    OpenCV's histogram over just that range is 3x faster than ``np.bincount`` over all 65536
    values; its float32 bins are exact below 2**24 pixels per value (larger images use
    ``bincount``)."""
    if counts.size >= FLOAT32_EXACT_INTEGERS:
        return np.bincount(counts.reshape(-1) - np.uint16(lo), minlength=hi - lo + 1)
    hist = cv2.calcHist([np.ascontiguousarray(counts)], [0], None, [hi - lo + 1],
                        [lo, hi + 1])
    return hist.reshape(-1).astype(np.int64)


class SequenceStatistics:
    """Frame statistics and the temperature histogram of a whole sequence.

    Parameters
    ----------
    lut_c : the converter's counts -> temperature table (65536 float32, NaN = invalid).
    percentile : percentile reported as ``p99_c``, 0..100 (nearest rank).
    """

    def __init__(self, lut_c: NDArray[np.float32], percentile: float = PERCENTILE) -> None:
        self.lut = np.asarray(lut_c, np.float64)
        self.fraction = percentile / 100.0
        self.count_histogram = np.zeros(COUNT_VALUES, np.int64)
        self._samples: list[NDArray[np.float32]] = []
        self._sampled = 0

    def from_counts(self, counts: NDArray[np.uint16]) -> FrameStats:
        """Statistics of the temperature image ``lut[counts]``."""
        lo, hi = count_range(counts)
        hist = count_histogram(counts, lo, hi)
        self.count_histogram[lo:hi + 1] += hist
        temps = self.lut[lo:hi + 1]
        valid = np.isfinite(temps) & (hist > 0)
        temps, weights = temps[valid], hist[valid]
        n_valid = int(weights.sum())
        invalid = 1.0 - n_valid / counts.size
        if n_valid == 0:
            return FrameStats(math.nan, math.nan, math.nan, math.nan, invalid)
        order = np.argsort(temps, kind="stable")
        temps, weights = temps[order], weights[order]
        rank = max(math.ceil(self.fraction * n_valid), 1)
        index = int(np.searchsorted(np.cumsum(weights), rank))
        return FrameStats(float(temps[0]), float(temps[-1]),
                          float(np.dot(temps, weights) / n_valid), float(temps[index]), invalid)

    def from_temperature(self, temperature_c: NDArray[np.float32]) -> FrameStats:
        """Statistics of a temperature image (emissivity-map mode)."""
        values = temperature_c[np.isfinite(temperature_c)]
        invalid = 1.0 - values.size / temperature_c.size
        if self._sampled < MAX_SUBSAMPLES:
            sample = values[::HISTOGRAM_SUBSAMPLE].copy()
            self._samples.append(sample)
            self._sampled += sample.size
        if values.size == 0:
            return FrameStats(math.nan, math.nan, math.nan, math.nan, invalid)
        p99 = float(np.percentile(values, self.fraction * 100.0, method="inverted_cdf"))
        return FrameStats(float(values.min()), float(values.max()),
                          float(values.mean(dtype=np.float64)), p99, invalid)

    def histogram(self, bins: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Temperature histogram of all frames: (pixel counts, bin edges in deg C)."""
        temps, weights = self.weighted_temperatures()
        valid = np.isfinite(temps)
        if not valid.any():
            return np.zeros(bins), np.linspace(0.0, 1.0, bins + 1)
        return np.histogram(temps[valid], bins=bins, weights=weights[valid])

    def weighted_temperatures(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Every temperature seen in all frames (deg C, NaN = invalid) and its pixels: exact
        from the counts histogram; in emissivity-map mode every 16th pixel, weighted 16."""
        present = np.flatnonzero(self.count_histogram)
        temps = self.lut[present]
        weights = self.count_histogram[present].astype(np.float64)
        if self._samples:
            sampled = np.concatenate(self._samples).astype(np.float64)
            temps = np.concatenate([temps, sampled])
            weights = np.concatenate([weights, np.full(sampled.size, float(HISTOGRAM_SUBSAMPLE))])
        return temps, weights
