"""Colour-palette thermal images back to one relative level per pixel (pure numpy/OpenCV).

Many thermal recordings reach users only as false-colour pictures: a phone camera's JPEGs, a
dataset exported with a palette, a screen capture. The detector wants one channel that grows
with scene radiance, so each pixel's colour is mapped to the position (0..255) of the nearest
colour of the palette that drew it. The result is *relative* (no temperature): what a
palette shows is an AGC'd level, and that is how the detector is told to treat it.

Palettes: every colormap of :mod:`.display` (``colormap_lut``) and ``seek_spectra``, the
rainbow-like palette of Seek Thermal phone cameras. Seek's table is not published; the
control points below were read off the commonest colours of the public-domain Roboflow
"Thermal Dogs and People" images (Seek Compact XR, "Spectra"), ordered black -> blue ->
green -> yellow -> red -> white, and are spaced evenly along their RGB path. That ordering
is what matters for the detector (its input is stretched per frame anyway); the spacing is
an estimate.

Colours far from every palette colour (overlaid text, JPEG ringing) still get the nearest
level; :func:`invert_palette` can return that distance so a caller may mask them.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

from thermal_perception.core.display.render import COLORMAPS, colormap_lut

#: Seek "Spectra" control points, RGB, coldest first (estimated: see the module docstring).
SEEK_SPECTRA_RGB: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (0, 0, 48), (1, 1, 77), (2, 12, 111), (2, 24, 139), (2, 45, 175),
    (2, 56, 203), (2, 79, 234), (1, 101, 175), (1, 109, 143), (2, 117, 111), (2, 130, 71),
    (3, 134, 46), (10, 146, 11), (48, 167, 5), (106, 182, 3), (143, 207, 4), (207, 233, 5),
    (242, 239, 6), (249, 175, 5), (249, 111, 4), (248, 46, 6), (248, 18, 9), (250, 79, 79),
    (251, 143, 143), (251, 207, 207), (252, 243, 244),
)
PALETTES: tuple[str, ...] = (*COLORMAPS, "seek_spectra")
_BITS = 6                      # inverse table: 64 x 64 x 64 colour cells
_CELL = 256 >> _BITS           # 4 levels per cell and channel


def _path_lut(rgb: NDArray[np.float64], size: int = 256) -> NDArray[np.uint8]:
    """``size`` BGR colours spaced evenly along the polyline through ``rgb`` (N, 3)."""
    seg = np.linalg.norm(np.diff(rgb, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)]) / seg.sum()
    x = np.linspace(0.0, 1.0, size)
    out = np.stack([np.interp(x, s, rgb[:, c]) for c in (2, 1, 0)], axis=1)
    return np.rint(out).astype(np.uint8).reshape(size, 1, 3)


def palette_lut(name: str) -> NDArray[np.uint8]:
    """The palette's 256-entry BGR table, shape (256, 1, 3), entry ``i`` = level ``i``."""
    if name == "seek_spectra":
        return _path_lut(np.asarray(SEEK_SPECTRA_RGB, np.float64))
    if name in COLORMAPS:
        return colormap_lut(name)
    raise ValueError(f"unknown palette {name!r}; known: {', '.join(PALETTES)}")


@functools.cache
def _inverse_table(name: str) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """Level and colour distance of the centre of every 64^3 BGR cell (built once, ~0.3 s)."""
    lut = palette_lut(name).reshape(-1, 3).astype(np.float32)
    centres = (np.arange(1 << _BITS, dtype=np.float32) * _CELL + (_CELL - 1) / 2.0)
    grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), -1).reshape(-1, 3)
    level = np.empty(len(grid), np.uint8)
    dist = np.empty(len(grid), np.float32)
    lut_sq = (lut * lut).sum(1)
    for start in range(0, len(grid), 16384):  # 16384 x 256 distances at a time
        g = grid[start:start + 16384]
        d2 = (g * g).sum(1)[:, None] - 2.0 * g @ lut.T + lut_sq[None, :]
        k = np.argmin(d2, axis=1)
        level[start:start + len(g)] = k
        dist[start:start + len(g)] = np.sqrt(np.maximum(d2[np.arange(len(g)), k], 0.0))
    level.flags.writeable = False
    dist.flags.writeable = False
    return level, dist


def invert_palette(bgr: NDArray[np.uint8], name: str, with_distance: bool = False
                   ) -> NDArray[np.uint8] | tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """Relative levels (H, W) uint8 of a false-colour image (H, W, 3) BGR drawn with palette
    ``name`` (see :data:`PALETTES`); with ``with_distance`` also each pixel's RGB distance
    (0..441) to the palette colour it was given."""
    a = np.asarray(bgr)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"need an (H, W, 3) uint8 BGR image, got {a.shape} {a.dtype}")
    level, dist = _inverse_table(name)
    shift = 8 - _BITS
    idx = ((a[..., 0] >> shift).astype(np.intp) << (2 * _BITS)) \
        | ((a[..., 1] >> shift).astype(np.intp) << _BITS) | (a[..., 2] >> shift)
    out = level[idx]
    return (out, dist[idx]) if with_distance else out
