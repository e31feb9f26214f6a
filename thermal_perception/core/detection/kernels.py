"""Compiled per-frame kernels of the warm-body detector
(:class:`thermal_perception.core.detection.warm_body.WarmBodyDetector`).

- :func:`measure_many_kernel` measures the candidate blobs of a rectangle. The detector's
  numpy path measures each with about forty small numpy and OpenCV calls on a window around
  the blob (rings, percentiles, a re-segmentation, moments), 50-150 us per blob, most of it
  call overhead; a 640x512 search-and-rescue frame has around twenty candidates. Compiled:
  10-20 us per blob.
- :func:`candidates_kernel`: contrast over the background and the candidate test in one pass
  instead of five.

Without numba, or with ``THERMAL_PERCEPTION_NUMBA=0`` (see
:mod:`thermal_perception.core.kernels`), the detector uses its numpy path; both give the same
detections (tested), the candidates bit for bit, the blob measurement with
floating-point sums in another order (a few 1e-7 relative).

The blob measurement, for blob ``k`` of ``labels`` in a window ``ring_px + 2`` pixels around it:

1. ring: pixels 2 to ``ring_px`` pixels from the blob (Chebyshev distance, as a dilation
   with a square gives it), valid (not another blob, not NaN); fewer than
   ``MIN_RING_SAMPLES`` or any hotter than ``band_hi``: rejected;
2. peak excess = 90th percentile of the blob's contrast; below ``min_contrast_k``: rejected;
3. re-segmentation ("ref"): contrast above half the peak excess, or (a clear step) the
   temperature above half way from the ring's 80th percentile to the blob's peak, within
   one pixel of the blob; its largest 8-connected part;
4. ring2 around ref as in 1; isolation (ref's mean contrast over ring2's 80th percentile) and
   warmth (ref's mean temperature over ring2's) must reach ``isolation_k`` and ``warmer_k``;
5. footprint coverage of ref grown by a pixel (excess over the background / the plateau's
   excess, clipped to [0, 1]) and its moments up to order 4 about the centroid.

Percentiles are nearest-rank (index ``round(p / 100 * (n - 1))`` of the sorted values), as
in the detector's numpy path. Comparisons of float32 pixels with a threshold are made in
float32, as numpy compares a float32 array with a Python float.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from thermal_perception.core import kernels

__all__ = ["FIELDS", "MEASURED", "candidates_kernel", "measure_many_kernel", "warm_up"]

#: Names of the values the kernel writes into ``out`` (float64), in order.
FIELDS = ("area_px", "m00", "cx", "cy", "mu20", "mu02", "mu11", "mu30", "mu21", "mu12", "mu03",
          "mu40", "mu31", "mu22", "mu13", "mu04", "bx", "by", "bw", "bh", "mean_c", "max_c",
          "plateau_c", "isolation_k", "warmer_k", "window_x", "window_y")
#: The kernel's return value for a blob that passed (other values: the step that rejected it).
MEASURED = 0

MIN_RING_SAMPLES = 4          # fewer ring pixels than this: no local background, blob skipped
RING_HIGH_PERCENTILE = 80.0   # "isolation": blob mean over this percentile of its ring
PLATEAU_PERCENTILE = 75.0     # robust body temperature: ignores the blurred edge pixels
PEAK_PERCENTILE = 90.0        # robust peak for the half-contrast level (noise-proof maximum)
HALF = 0.5                    # re-segmentation level: half way from background to peak
MIN_CONTRAST_K = 0.1          # floor of a contrast used as a divisor, K


# -- plain Python, compiled by numba (never run uncompiled) ----------------------------------


def _chebyshev_loop(mask, cap, out):  # pragma: no cover - compiled
    """Chebyshev (chessboard) distance, pixels, of every pixel of ``mask``'s window to its
    nearest set pixel, capped at ``cap`` (a dilation with a ``2 d + 1`` square reaches
    exactly the pixels at distance <= d). Two raster passes over the 8-neighbours with unit
    steps, exact for this metric."""
    h, w = mask.shape
    for i in range(h):
        for j in range(w):
            if mask[i, j]:
                out[i, j] = 0
                continue
            d = cap
            if i > 0:
                d = min(d, out[i - 1, j] + 1)
                if j > 0:
                    d = min(d, out[i - 1, j - 1] + 1)
                if j < w - 1:
                    d = min(d, out[i - 1, j + 1] + 1)
            if j > 0:
                d = min(d, out[i, j - 1] + 1)
            out[i, j] = d
    for i in range(h - 1, -1, -1):
        for j in range(w - 1, -1, -1):
            d = out[i, j]
            if d == 0:
                continue
            if i < h - 1:
                d = min(d, out[i + 1, j] + 1)
                if j > 0:
                    d = min(d, out[i + 1, j - 1] + 1)
                if j < w - 1:
                    d = min(d, out[i + 1, j + 1] + 1)
            if j < w - 1:
                d = min(d, out[i, j + 1] + 1)
            out[i, j] = d


def _nearest_rank_loop(values, n, percent):  # pragma: no cover - compiled
    """The ``percent`` percentile of ``values[:n]`` (nearest rank), by quickselect in place
    (the buffer's order is lost; numba compiles this in a fraction of ``np.partition``'s
    time)."""
    k = int(np.rint(percent / 100.0 * (n - 1)))
    lo, hi = 0, n - 1
    while lo < hi:
        pivot = values[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return values[k]


def _measure_loop(t_image, ew_image, bg_image, invalid_image, labels, oy, ox, k, y0, y1, x0, x1,
                  ring_px, any_invalid, band_hi, min_contrast_k, isolation_k, warmer_k,
                  min_area_px, out):  # pragma: no cover - compiled
    h, w = y1 - y0, x1 - x0
    # the window in image coordinates (``labels`` covers a rectangle whose origin is oy, ox)
    t = t_image[oy:, ox:]
    ew = ew_image[oy:, ox:]
    bg = bg_image[oy:, ox:]
    invalid = invalid_image[oy:, ox:]
    cap = ring_px + 1
    blob = np.zeros((h, w), np.bool_)
    valid = np.zeros((h, w), np.bool_)
    for i in range(h):
        for j in range(w):
            lab = labels[y0 + i, x0 + j]
            blob[i, j] = lab == k
            ok = lab == 0 or lab == k
            if any_invalid and invalid[y0 + i, x0 + j]:
                ok = False
            valid[i, j] = ok
    dist = np.empty((h, w), np.int32)
    _chebyshev(blob, cap, dist)
    buf = np.empty(h * w, np.float32)
    buf2 = np.empty(h * w, np.float32)
    # 1. ring around the blob
    n_ring = 0
    ring_max = -np.inf
    for i in range(h):
        for j in range(w):
            if valid[i, j] and 2 <= dist[i, j] <= ring_px:
                v = t[y0 + i, x0 + j]
                buf[n_ring] = v
                n_ring += 1
                if v > ring_max:
                    ring_max = v
    if n_ring < MIN_RING_SAMPLES or ring_max > band_hi:
        return 1
    ring_high = _nearest_rank(buf, n_ring, RING_HIGH_PERCENTILE)
    # 2. peak excess and peak temperature of the blob
    n_blob = 0
    for i in range(h):
        for j in range(w):
            if blob[i, j]:
                buf[n_blob] = ew[y0 + i, x0 + j]
                buf2[n_blob] = t[y0 + i, x0 + j]
                n_blob += 1
    peak_excess = _nearest_rank(buf, n_blob, PEAK_PERCENTILE)
    if peak_excess < min_contrast_k:
        return 2
    peak = np.float64(_nearest_rank(buf2, n_blob, PEAK_PERCENTILE))
    ring_high = np.float64(ring_high)
    # 3. re-segmentation within one pixel of the blob (comparisons in float32, as numpy
    # compares a float32 image with a Python float)
    level_e = np.float32(HALF * peak_excess)
    step = peak - ring_high >= min_contrast_k
    level_t = np.float32(ring_high + HALF * (peak - ring_high))
    ref = np.zeros((h, w), np.bool_)
    for i in range(h):
        for j in range(w):
            if valid[i, j] and dist[i, j] <= 1:
                ref[i, j] = ew[y0 + i, x0 + j] > level_e or (
                    step and t[y0 + i, x0 + j] > level_t)
    # ... its largest 8-connected part (ties: the first in raster order)
    comp = np.zeros((h, w), np.int32)
    stack = np.empty(h * w, np.int32)
    best_label, best_size, n_comp = 0, 0, 0
    for i in range(h):
        for j in range(w):
            if ref[i, j] and comp[i, j] == 0:
                n_comp += 1
                comp[i, j] = n_comp
                top, size = 1, 0
                stack[0] = i * w + j
                while top > 0:
                    top -= 1
                    p = stack[top]
                    pi, pj = p // w, p % w
                    size += 1
                    for di in range(-1, 2):
                        for dj in range(-1, 2):
                            qi, qj = pi + di, pj + dj
                            if (0 <= qi < h and 0 <= qj < w and ref[qi, qj]
                                    and comp[qi, qj] == 0):
                                comp[qi, qj] = n_comp
                                stack[top] = qi * w + qj
                                top += 1
                if size > best_size:
                    best_label, best_size = n_comp, size
    if best_size < min_area_px:
        return 3
    for i in range(h):
        for j in range(w):
            ref[i, j] = comp[i, j] == best_label
    _chebyshev(ref, cap, dist)
    # 4. ring2: isolation and warmth
    n_ring = 0
    for i in range(h):
        for j in range(w):
            if valid[i, j] and 2 <= dist[i, j] <= ring_px:
                buf[n_ring] = ew[y0 + i, x0 + j]
                buf2[n_ring] = t[y0 + i, x0 + j]
                n_ring += 1
    if n_ring < MIN_RING_SAMPLES:
        return 4
    ring2_e_high = _nearest_rank(buf, n_ring, RING_HIGH_PERCENTILE)
    ring2_t_high = _nearest_rank(buf2, n_ring, RING_HIGH_PERCENTILE)
    sum_e = 0.0
    sum_t = 0.0
    max_c = -np.inf
    n_ref = 0
    bx0, by0, bx1, by1 = w, h, -1, -1
    for i in range(h):
        for j in range(w):
            if ref[i, j]:
                v = t[y0 + i, x0 + j]
                sum_e += ew[y0 + i, x0 + j]
                sum_t += v
                buf[n_ref] = v
                n_ref += 1
                if v > max_c:
                    max_c = v
                bx0, by0 = min(bx0, j), min(by0, i)
                bx1, by1 = max(bx1, j), max(by1, i)
    # means rounded to float32 (as numpy's float32 mean), differences in double
    isolation = np.float64(np.float32(sum_e / n_ref)) - np.float64(ring2_e_high)
    if isolation < isolation_k:
        return 5
    mean_c = np.float32(sum_t / n_ref)
    warmer = np.float64(mean_c) - np.float64(ring2_t_high)
    if warmer < warmer_k:
        return 6
    plateau = _nearest_rank(buf, n_ref, PLATEAU_PERCENTILE)
    # 5. footprint coverage and its moments (the first pass: mass and centroid)
    floor = np.float32(MIN_CONTRAST_K)
    cover = np.zeros((h, w), np.float32)
    m00 = m10 = m01 = 0.0
    for i in range(h):
        for j in range(w):
            if valid[i, j] and dist[i, j] <= 1:
                body = max(plateau - bg[y0 + i, x0 + j], floor)
                c = min(max(ew[y0 + i, x0 + j] / body, np.float32(0.0)), np.float32(1.0))
                cover[i, j] = c
                m00 += c
                m10 += c * j
                m01 += c * i
    if m00 <= 1e-9:
        return 7
    cx, cy = m10 / m00, m01 / m00
    mu = np.zeros(12)  # 20 02 11 30 21 12 03 40 31 22 13 04
    for i in range(h):
        for j in range(w):
            c = np.float64(cover[i, j])
            if c == 0.0:
                continue
            dx, dy = j - cx, i - cy
            dx2, dy2 = dx * dx, dy * dy
            mu[0] += c * dx2
            mu[1] += c * dy2
            mu[2] += c * dx * dy
            mu[3] += c * dx2 * dx
            mu[4] += c * dx2 * dy
            mu[5] += c * dx * dy2
            mu[6] += c * dy2 * dy
            mu[7] += c * dx2 * dx2
            mu[8] += c * dx2 * dx * dy
            mu[9] += c * dx2 * dy2
            mu[10] += c * dx * dy2 * dy
            mu[11] += c * dy2 * dy2
    out[0] = n_ref
    out[1] = m00
    out[2] = cx
    out[3] = cy
    for q in range(12):
        out[4 + q] = mu[q]
    out[16] = bx0
    out[17] = by0
    out[18] = bx1 - bx0 + 1
    out[19] = by1 - by0 + 1
    out[20] = mean_c
    out[21] = max_c
    out[22] = plateau
    out[23] = isolation
    out[24] = warmer
    out[25] = x0  # the window in the rectangle
    out[26] = y0
    return MEASURED


def _measure_many_loop(t_image, ew_image, bg_image, invalid_image, labels, oy, ox, ks, boxes,
                       ring_px, any_invalid, band_hi, min_contrast_k, isolation_k, warmer_k,
                       min_area_px, out, status):  # pragma: no cover - compiled
    """``_measure_loop`` for the blobs ``ks`` of ``labels`` with their boxes (x0, y0, x1, y1
    in the rectangle): windows ``ring_px + 2`` around each box; rows of ``out``, and
    ``status``, per blob."""
    h, w = labels.shape
    pad = ring_px + 2
    for n in range(ks.size):
        status[n] = _measure_one(
            t_image, ew_image, bg_image, invalid_image, labels, oy, ox, ks[n],
            max(0, boxes[n, 1] - pad), min(h, boxes[n, 3] + pad),
            max(0, boxes[n, 0] - pad), min(w, boxes[n, 2] + pad), ring_px, any_invalid,
            band_hi, min_contrast_k, isolation_k, warmer_k, min_area_px, out[n])


def _candidates_loop(t, bg, contrast, contrast_k, low, high, invalid, any_invalid,
                     out):  # pragma: no cover - compiled
    """``contrast = t - bg``; ``out = (contrast > k) & (low <= t <= high) & ~invalid`` on
    1-D views (thresholds in float32)."""
    k = np.float32(contrast_k)
    lo = np.float32(low)
    hi = np.float32(high)
    for q in range(t.size):
        v = t[q]
        c = v - bg[q]
        contrast[q] = c
        out[q] = c > k and v >= lo and v <= hi and not (any_invalid and invalid[q])


# Replaced by their compiled versions before ``_measure_loop`` is compiled (numba resolves
# globals at compile time).
_chebyshev = _chebyshev_loop
_nearest_rank = _nearest_rank_loop
_measure_one = _measure_loop
_compiled: dict[str, Callable[..., Any]] | None = None


def _kernels() -> dict[str, Callable[..., Any]]:
    """The compiled kernels ({} without numba); compiled (or loaded) lazily, at first use."""
    global _compiled, _chebyshev, _nearest_rank, _measure_one
    if _compiled is None:
        _compiled = {}
        jit = kernels.numba_jit()
        if jit is not None:
            _chebyshev = jit(_chebyshev_loop)
            _nearest_rank = jit(_nearest_rank_loop)
            _measure_one = jit(_measure_loop)
            _compiled = {"measure_many": jit(_measure_many_loop),
                         "candidates": jit(_candidates_loop)}
    return _compiled


def measure_many_kernel() -> Callable[..., None] | None:
    """The compiled measurement of the blobs of one rectangle, or None (numba missing or
    switched off, or the kernels not loaded yet: see :func:`warm_up`).

    ``kernel(t, ew, bg, invalid, labels, oy, ox, ks, boxes, ring_px, any_invalid, band_hi,
    min_contrast_k, isolation_k, warmer_k, min_area_px, out, status)``: ``t``, ``ew``, ``bg``
    (temperature, contrast and background, deg C and K, float32) and ``invalid`` (bool) are
    whole C-contiguous images (one compiled variant serves every rectangle); ``labels``
    (int32) labels a rectangle of them whose top-left pixel is (``oy``, ``ox``); ``ks``
    (int64) are the blobs to measure, ``boxes`` ((n, 4) int64: x0, y0, x1, y1 in the
    rectangle) their boxes, each measured in a window ``ring_px + 2`` around its box. Row n
    of ``out`` ((n, len(FIELDS)) float64) is filled (coordinates in the window, whose top-left
    pixel in the rectangle is ``window_x``, ``window_y``) when ``status[n]`` ((n,) int64) is
    :data:`MEASURED`; other values name the step that rejected the blob.
    """
    return _ready_kernels().get("measure_many")


def candidates_kernel() -> Callable[..., None] | None:
    """The compiled candidate test, or None: ``kernel(t, bg, contrast, contrast_k, low, high,
    invalid, any_invalid, out)`` on 1-D views (float32 ``t``, ``bg``, ``contrast``; bool
    ``invalid`` and ``out``)."""
    return _ready_kernels().get("candidates")


_loaded = threading.Event()  # set when warm_up() has loaded every kernel variant (or failed)
_failed: list[str] = []  # why loading failed: the numpy path then stays in use
_load_lock = threading.Lock()
_thread_lock = threading.Lock()
_warm_up_thread: threading.Thread | None = None


def _ready_kernels() -> dict[str, Callable[..., Any]]:
    """The compiled kernels once :func:`warm_up` has loaded them ({} before, or if they
    could not be compiled: the detector then takes its numpy path, with the same results)."""
    return _kernels() if _loaded.is_set() and not _failed else {}


def warm_up(wait: bool = True) -> None:
    """Load (or compile: about 10 s, once per installation) the kernels, for writable and
    read-only temperature images (numba compiles a variant for each); until then the
    accessors return None. ``wait=False`` does it on a background thread (once per process),
    so that a node detects from its first frame, on the numpy path until the kernels are
    ready."""
    global _warm_up_thread
    if _loaded.is_set():
        return
    if wait:
        _load()
        return
    with _thread_lock:
        if _warm_up_thread is None:
            _warm_up_thread = threading.Thread(target=_load, name="detection-kernels",
                                               daemon=True)
            _warm_up_thread.start()


def _load() -> None:
    with _load_lock:
        if _loaded.is_set():
            return
        try:
            _load_variants()
        except Exception as exc:  # a numba that cannot compile them: numpy path, same results
            _failed.append(f"{type(exc).__name__}: {exc}")
            warnings.warn(f"compiled detection kernels unavailable ({_failed[0]}); the numpy "
                          "path is used", RuntimeWarning, stacklevel=2)
        _loaded.set()


def _load_variants() -> None:
    compiled = _kernels()
    if not compiled:
        return
    labels = np.zeros((8, 8), np.int32)
    labels[3:5, 3:5] = 1
    for writable in (True, False):
        t = np.full((8, 8), 20.0, np.float32)
        t[3:5, 3:5] = 30.0
        t.setflags(write=writable)
        zeros = np.zeros((8, 8), np.float32)
        invalid = np.zeros((8, 8), np.bool_)
        compiled["measure_many"](t, zeros, zeros, invalid, labels, 0, 0, np.ones(1, np.int64),
                                 np.array([[3, 3, 5, 5]], np.int64), 2, False, 40.0, 2.0, 2.2,
                                 1.0, 2, np.empty((1, len(FIELDS))), np.empty(1, np.int64))
        compiled["candidates"](t.reshape(-1), zeros.reshape(-1), np.empty(64, np.float32), 2.0,
                               22.0, 40.0, invalid.reshape(-1), False, np.empty(64, np.bool_))
