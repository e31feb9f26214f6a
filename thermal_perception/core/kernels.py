"""Per-pixel kernels of the per-frame hot paths (NUC, counts -> temperature lookup).

Each kernel is written once as a plain loop over pixels and compiled with numba when numba is
installed (at :func:`warm_up` or first use; compiled code is cached on disk, loading it takes
0.4-1 s once per process); without numba, or with the environment variable
``THERMAL_PERCEPTION_NUMBA=0``, the same results come from numpy. Both paths give the same
values bit for bit: the compiled loops do the same float32 operations in the same order as the
numpy expressions (no fast-math, so no fused multiply-add).

Why compiled: ``np.take`` casts uint16 indices to a temporary intp array and gathers through
a generic loop (640x512: 0.30 ms); the compiled gather reads the uint16 counts directly
(0.10 ms). The NUC in numpy makes seven passes over the frame (multiply, add, clip, cast, the
invalid-value test and its copy: 0.55 ms); compiled it is one (0.19 ms). Single-threaded: the
kernels release the GIL (``nogil``) but never start threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["lut_gather", "nuc_drift_kernel", "nuc_kernel", "numba_enabled", "numba_jit", "warm_up"]

LUT_SIZE = 1 << 16  # a uint16 lookup table covers every value
_ENV_SWITCH = "THERMAL_PERCEPTION_NUMBA"


# -- the kernels, as plain Python (compiled by numba; never run uncompiled) ----------------


def _lut_gather_loop(lut, counts, out):  # pragma: no cover - compiled
    for k in range(counts.size):
        out[k] = lut[counts[k]]


def _nuc_loop(raw, gain, offset_half, full_scale, out):  # pragma: no cover - compiled
    top = np.float32(full_scale)
    zero = np.float32(0.0)
    for k in range(raw.size):
        x = raw[k]
        if x == 0 or x >= full_scale:  # dead / saturated: passed through
            out[k] = x
        else:
            w = np.float32(x) * gain[k] + offset_half[k]
            if not w >= zero:  # also NaN -> 0, as numpy's cast does on x86
                w = zero
            elif w > top:
                w = top
            out[k] = np.uint16(w)  # truncates; the 0.5 folded into the offset rounds


def _nuc_drift_loop(raw, gain, offset, drift, fpa_shift, full_scale,
                    out):  # pragma: no cover - compiled
    """``_nuc_loop`` with the offset of a new FPA temperature made on the way:
    ``offset_half = drift * fpa_shift + offset + 0.5`` (float32, in the order of
    ``NucTable.effective_offset``), so a drifting FPA costs no extra passes."""
    top = np.float32(full_scale)
    zero = np.float32(0.0)
    half = np.float32(0.5)
    shift = np.float32(fpa_shift)
    for k in range(raw.size):
        x = raw[k]
        if x == 0 or x >= full_scale:
            out[k] = x
        else:
            o = drift[k] * shift + offset[k]
            o = o + half
            w = np.float32(x) * gain[k] + o
            if not w >= zero:
                w = zero
            elif w > top:
                w = top
            out[k] = np.uint16(w)


# -- dispatch --------------------------------------------------------------------------------

_compiled: dict[str, Callable[..., Any]] | None = None


def numba_enabled() -> bool:
    """Whether the compiled kernels are used (numba importable and not switched off)."""
    return bool(_kernels())


def _switched_off() -> bool:
    return os.environ.get(_ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off")


def numba_jit() -> Callable[[Callable[..., Any]], Any] | None:
    """numba's ``njit`` as the kernels use it (on-disk cache, no GIL, no bounds checks), or
    None when numba is missing or switched off; compiles lazily, at the first call."""
    if _switched_off():
        return None
    try:
        import numba
    except ImportError:
        return None

    def jit(func: Callable[..., Any]) -> Any:
        try:
            return numba.njit(cache=True, nogil=True, boundscheck=False)(func)
        except RuntimeError:  # no writable cache directory: compile per process
            return numba.njit(cache=False, nogil=True, boundscheck=False)(func)
    return jit


def _kernels() -> dict[str, Callable[..., Any]]:
    """The compiled kernels ({} without numba); numba is imported on first use only."""
    global _compiled
    if _compiled is None:
        jit = numba_jit()
        _compiled = {} if jit is None else {"lut": jit(_lut_gather_loop), "nuc": jit(_nuc_loop),
                                            "nuc_drift": jit(_nuc_drift_loop)}
    return _compiled


def warm_up() -> None:
    """Load (or compile) the kernels now, so that the first frame does not wait for them."""
    kernel = nuc_kernel()
    if kernel is None:
        return
    # numba specialises on read-only arrays: the tables are read-only, frames writable (a
    # read-only frame loads its own variant at its first use, about 0.2 s)
    zeros = np.zeros(1, np.float32)
    counts = np.ones(1, np.uint16)
    lut = np.zeros(LUT_SIZE, np.float32)
    lut.setflags(write=False)
    kernel(counts, zeros, zeros, 2, counts)
    nuc_drift_kernel()(counts, zeros, zeros, zeros, 0.0, 2, counts)
    lut_gather(lut, counts, zeros)


def _flat(a: NDArray) -> NDArray | None:
    """1-D view of a C-contiguous array, else None."""
    return a.reshape(-1) if a.flags.c_contiguous else None


def lut_gather(lut: NDArray, counts: NDArray[np.uint16], out: NDArray | None = None) -> NDArray:
    """``lut[counts]`` for a 65536-entry table and uint16 counts of any shape.

    Same values as ``np.take(lut, counts, out=out)``; ``out`` (same shape as ``counts``,
    dtype of ``lut``) is allocated when None and returned.
    """
    if counts.dtype != np.uint16:
        raise TypeError(f"counts must be uint16, got {counts.dtype}")
    if lut.shape != (LUT_SIZE,):
        raise ValueError(f"lookup table must have {LUT_SIZE} entries, got shape {lut.shape}")
    if out is None:
        out = np.empty(counts.shape, lut.dtype)
    kernel = _kernels().get("lut")
    src, dst = _flat(counts), _flat(out)
    if (kernel is None or src is None or dst is None or out.shape != counts.shape
            or out.dtype != lut.dtype or not lut.flags.c_contiguous):
        # "wrap" never wraps (65536 entries) but skips numpy's bounds checks
        return np.take(lut, counts, out=out, mode="wrap")
    kernel(lut, src, dst)
    return out


def nuc_drift_kernel() -> Callable[..., None] | None:
    """The compiled NUC loop with the FPA drift folded in, or None.

    ``kernel(raw, gain, offset, drift, fpa_shift, full_scale, out)``: as :func:`nuc_kernel`
    with ``offset_half = float32(drift * float32(fpa_shift) + offset) + 0.5``, where
    ``fpa_shift = fpa_reference_c - fpa_c`` (K): the same values as computing the offsets
    first, in one pass.
    """
    return _kernels().get("nuc_drift")


def nuc_kernel() -> Callable[..., None] | None:
    """The compiled NUC loop, or None (numba missing or switched off).

    ``kernel(raw, gain, offset_half, full_scale, out)`` on 1-D C-contiguous views: ``raw`` and
    ``out`` uint16, ``gain`` and ``offset_half`` float32 (the offset in counts plus 0.5, so
    that the truncation rounds). ``out = trunc(clip(gain * raw + offset_half, 0, full_scale))``
    in float32 (NaN -> 0); raw 0 and raw >= ``full_scale`` (dead, saturated) are copied.
    """
    return _kernels().get("nuc")
