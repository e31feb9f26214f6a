"""Compiled per-pixel kernels (core/kernels.py) against their numpy definitions.

The reference for every comparison is the numpy expression the kernel replaces (``np.take``
for the lookup; multiply, add, clip, truncating cast and the pass-through of invalid raw values
for the NUC); results must be equal bit for bit, NaN included.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermal_perception.core import kernels
from thermal_perception.core.correction.nuc import NucTable

FULL_SCALES = (16383, 65535)  # 14-bit and 16-bit cores


def _need_compiled() -> None:
    pytest.importorskip("numba")
    if not kernels.numba_enabled():
        pytest.skip("compiled kernels switched off (THERMAL_PERCEPTION_NUMBA)")


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _random_table(seed: int, shape: tuple[int, int], full_scale: int) -> NucTable:
    rng = np.random.default_rng(seed)
    return NucTable(gain=rng.uniform(0.5, 2.0, shape), offset=rng.uniform(-3000, 3000, shape),
                    drift_counts_per_k=rng.uniform(-20, 20, shape), fpa_reference_c=30.0,
                    bad_pixels=rng.random(shape) < 0.01, full_scale_counts=full_scale)


def _random_raw(seed: int, shape: tuple[int, int], full_scale: int) -> np.ndarray:
    """Raw counts over the whole range, with dead (0), full-scale and above-full-scale values."""
    rng = np.random.default_rng(seed + 1)
    raw = rng.integers(0, full_scale + 1, shape).astype(np.uint16)
    edges = np.array([0, 1, full_scale - 1, full_scale, 65535], np.uint16)
    flat = raw.reshape(-1)
    flat[rng.integers(0, flat.size, 40)] = rng.choice(edges, 40)
    return raw


# -- known answers (whichever path runs) ------------------------------------------------------


@pytest.mark.parametrize("compiled", [True, False])
def test_nuc_known_answers(compiled, monkeypatch):
    """Hand-computed pixels: rounding, clipping to [0, full scale], invalid raw passed through."""
    if compiled:
        _need_compiled()
    else:
        monkeypatch.setattr(kernels, "_compiled", {})
    gain = np.array([[2.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0]], np.float32)
    offset = np.array([[10.2, -200.0, 0.0, 5.0, 0.4, 0.6, 7.0]], np.float32)
    raw = np.array([[100, 100, 9000, 0, 50, 50, 16383]], np.uint16)
    table = NucTable(gain=gain, offset=offset, drift_counts_per_k=np.zeros_like(gain),
                     fpa_reference_c=25.0, bad_pixels=np.zeros(gain.shape, bool),
                     full_scale_counts=16383)
    # 2*100+10.2 = 210.2 -> 210; 100-200 < 0 -> 0; 18000 -> 16383; raw 0 passes; 50.4 -> 50;
    # 50.6 -> 51; raw at full scale passes unchanged
    expected = np.array([[210, 0, 16383, 0, 50, 51, 16383]], np.uint16)
    np.testing.assert_array_equal(table.apply(raw), expected)


# -- compiled == numpy ---------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), full_scale=st.sampled_from(FULL_SCALES),
       fpa_c=st.one_of(st.none(), st.floats(-20.0, 70.0)),
       shape=st.tuples(st.integers(1, 40), st.integers(1, 40)))
def test_nuc_compiled_matches_numpy(seed, full_scale, fpa_c, shape):
    _need_compiled()
    table = _random_table(seed, shape, full_scale)
    raw = _random_raw(seed, shape, full_scale)
    compiled = table.apply(raw, fpa_c).copy()
    saved = kernels._compiled
    kernels._compiled = {}  # numpy path (hypothesis does not combine with function fixtures)
    try:
        reference = table.copy().apply(raw, fpa_c)
    finally:
        kernels._compiled = saved
    assert _same_bits(compiled, reference)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), full_scale=st.sampled_from(FULL_SCALES),
       fpas=st.lists(st.one_of(st.none(), st.floats(-20.0, 70.0),
                               st.sampled_from([25.0, 30.0])), min_size=1, max_size=8))
def test_nuc_over_a_drifting_fpa_matches_numpy(seed, full_scale, fpas):
    """A sequence of FPA temperatures (new every frame: offsets made in the NUC's pass; the
    same twice in a row: offsets kept; none) gives the numpy path's counts on every frame."""
    _need_compiled()
    table = _random_table(seed, (9, 13), full_scale)
    reference_table = table.copy()
    raw = _random_raw(seed, (9, 13), full_scale)
    saved = kernels._compiled
    for fpa_c in fpas:
        compiled = table.apply(raw, fpa_c).copy()
        kernels._compiled = {}
        try:
            reference = reference_table.apply(raw, fpa_c)
        finally:
            kernels._compiled = saved
        assert _same_bits(compiled, reference), f"FPA {fpa_c} in {fpas}"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.sampled_from([(2,), (7, 5), (3, 4, 6)]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_lut_gather_matches_take(seed, shape, dtype):
    _need_compiled()
    rng = np.random.default_rng(seed)
    lut = rng.normal(20.0, 50.0, kernels.LUT_SIZE).astype(dtype)
    lut[rng.integers(0, lut.size, 100)] = np.nan
    lut[[0, -1]] = np.nan, np.inf
    counts = rng.integers(0, kernels.LUT_SIZE, shape).astype(np.uint16)
    counts.reshape(-1)[:2] = 0, 65535
    out = np.full(shape, -1.0, dtype)
    result = kernels.lut_gather(lut, counts, out)
    assert result is out
    assert _same_bits(out, np.take(lut, counts))
    assert _same_bits(kernels.lut_gather(lut, counts), np.take(lut, counts))


def test_lut_gather_strided_input_and_output():
    """Non-contiguous views take the numpy path and give the same values."""
    rng = np.random.default_rng(3)
    lut = rng.random(kernels.LUT_SIZE).astype(np.float32)
    counts = rng.integers(0, 65536, (20, 30)).astype(np.uint16)
    out = np.zeros((20, 60), np.float32)
    kernels.lut_gather(lut, counts[:, ::2], out[:, ::4])
    np.testing.assert_array_equal(out[:, ::4], lut[counts[:, ::2]])
    assert not out[:, 1::4].any()


def test_lut_gather_rejects_bad_input():
    lut = np.zeros(kernels.LUT_SIZE, np.float32)
    with pytest.raises(TypeError, match="uint16"):
        kernels.lut_gather(lut, np.zeros((2, 2), np.int32))
    with pytest.raises(ValueError, match="65536 entries"):
        kernels.lut_gather(lut[:1000], np.zeros((2, 2), np.uint16))


# -- without numba -------------------------------------------------------------------------


def test_numpy_path_without_numba(monkeypatch):
    """numba missing: no compiled kernels, same lookup values through numpy."""
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba -> ImportError
    monkeypatch.setattr(kernels, "_compiled", None)
    assert not kernels.numba_enabled()
    assert kernels.nuc_kernel() is None
    lut = np.linspace(-40.0, 1500.0, kernels.LUT_SIZE).astype(np.float32)
    counts = np.array([[0, 1, 65535], [300, 4000, 12345]], np.uint16)
    np.testing.assert_array_equal(kernels.lut_gather(lut, counts), lut[counts])


def test_environment_switch_turns_numba_off():
    env = dict(os.environ, THERMAL_PERCEPTION_NUMBA="0")
    code = ("from thermal_perception.core import kernels; import sys; "
            "sys.stdout.write(str(kernels.numba_enabled()))")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout == "False"
