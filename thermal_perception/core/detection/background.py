"""Frame preparation shared by the classical detectors: a robust local background (median of
a downsampled image), NaN handling, the candidate regions of a mask (tiles of 8 px, grouped)
and the per-frame buffers, allocated once per stream.

Pure numpy + OpenCV; no ROS imports. Temperatures deg C, positions pixels.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["FrameBuffers", "candidate_regions", "local_background", "prepare_frame"]

_BG_CELLS_PER_WINDOW = 5   # background: the median window spans this many downsampled cells
_MEDIAN_KSIZE = 5          # ... so the median is OpenCV's fast 5x5 (float32 allowed up to 5)
MEDIAN_PERCENTILE = 50.0   # percentile of a median
_BG_SUBSAMPLE = 4          # stride of the sample that gives the global fill value of NaNs
EPS = 1e-9
TILE = 8                     # candidate pixels are grouped on tiles of this side, pixels
_TILE_KERNEL = np.ones((TILE, TILE), np.uint8)


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
    if percentile == MEDIAN_PERCENTILE and min(small.shape) >= _MEDIAN_KSIZE:
        med = cv2.medianBlur(small, _MEDIAN_KSIZE)
    else:
        med = percentile_5x5(np.asarray(small, np.float32), percentile)
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


def percentile_5x5(image: NDArray[np.float32], percentile: float) -> NDArray[np.float32]:
    """``scipy.ndimage.percentile_filter(image, percentile, size=5, mode="nearest")``, the
    same values several times faster: element ``int(25 * percentile / 100)`` (0-based, at most
    24) of each sorted 5 x 5 neighbourhood, edges replicated."""
    size = _MEDIAN_KSIZE * _MEDIAN_KSIZE
    rank = min(size - 1, int(size * percentile / 100.0))
    r = _MEDIAN_KSIZE // 2
    padded = cv2.copyMakeBorder(image, r, r, r, r, cv2.BORDER_REPLICATE)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (_MEDIAN_KSIZE,) * 2)
    return np.partition(windows.reshape(*image.shape, size), rank, axis=2)[:, :, rank]


class FrameBuffers:
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
QUIET_EXTREMES = np.errstate(over="ignore", invalid="ignore")


def prepare_frame(temperature_c: NDArray, buf: FrameBuffers) -> NDArray[np.float32]:
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


def candidate_regions(mask: NDArray[np.uint8], margin_px: int, max_share: float = 1.0
             ) -> list[tuple[slice, slice, NDArray[np.bool_] | None]] | None:
    """Rectangles around groups of the nonzero pixels of ``mask``, so that the work of a
    detector can be done on them instead of the whole image with the same result.

    Pixels are grouped on tiles of :data:`TILE` pixels grown by ``margin_px``: each
    rectangle holds its group and at least ``margin_px`` around it (clipped to the image),
    and pixels of different groups are more than ``2 * margin_px`` apart. Returns
    ``(rows, cols, own)`` per group; ``own`` marks the rectangle's tiles that belong to the
    group (bool, one element per tile), None when no other group reaches into it: a blob
    found in the rectangle is the group's if :func:`owned_mask` says so. None instead of the list
    when the groups and their margins cover more than ``max_share`` of the image.
    """
    h, w = mask.shape
    tiles = cv2.dilate(mask, _TILE_KERNEL, anchor=(0, 0))[::TILE, ::TILE]
    grow = max(1, -(-margin_px // TILE))
    grown = cv2.dilate(tiles, square_kernel(2 * grow + 1))
    if max_share < 1.0 and np.count_nonzero(grown) > max_share * grown.size:
        return None
    _, tile_labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    out = []
    for g, (tx, ty, tw, th, area) in enumerate(stats.tolist()):
        if g == 0:
            continue
        rows = slice(ty * TILE, min(h, (ty + th) * TILE))
        cols = slice(tx * TILE, min(w, (tx + tw) * TILE))
        own = None
        if area < tw * th:
            sub = tile_labels[ty:ty + th, tx:tx + tw]
            if np.any((sub != g) & (sub != 0)):
                own = sub == g
        out.append((rows, cols, own))
    return out


def owned_mask(own: NDArray[np.bool_] | None, first: list[tuple[int, int]]) -> NDArray[np.bool_]:
    """Which blobs, given by the (row, column) of their first pixel in a rectangle of
    :func:`candidate_regions`, belong to the rectangle's group."""
    if own is None:
        return np.ones(len(first), bool)
    return np.array([own[y // TILE, x // TILE] for y, x in first], bool)


def first_pixels(labels: NDArray[np.int32], stats: NDArray[np.int32], ids: NDArray[np.intp]
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


SQUARE3 = np.ones((3, 3), np.uint8)
_SQUARES: dict[int, NDArray[np.uint8]] = {}


def square_kernel(side: int) -> NDArray[np.uint8]:
    """A ``side`` x ``side`` square structuring element (made once per size)."""
    kernel = _SQUARES.get(side)
    if kernel is None:
        kernel = _SQUARES[side] = np.ones((side, side), np.uint8)
    return kernel
