"""Compiled warm-body kernels (core/detection/kernels.py) against the detector's numpy path.

The reference is the detector with the kernels switched off: the same detections (labels,
boxes, pixel counts) and the same measurements up to the order of floating-point sums, on
simulated search-and-rescue frames (day and night, several seeds), with NaN pixels and on
read-only frames (numba compiles a variant for those).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermal_perception.core import kernels
from thermal_perception.core.detection import WarmBodyDetector
from thermal_perception.core.detection import kernels as detection_kernels
from thermal_perception.core.detection import warm_body as detection
from thermal_perception.core.physics.calibration import CountsToTemperature
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.sim.simulator import ThermalSimulator

SIZE = (320, 256)
SCENE = {"people": 30, "animals": 12, "vehicles": 4}


@pytest.fixture(autouse=True)
def _need_compiled():
    pytest.importorskip("numba")
    if not kernels.numba_enabled():
        pytest.skip("compiled kernels switched off (THERMAL_PERCEPTION_NUMBA)")
    detection_kernels.warm_up()


def numpy_path(monkeypatch) -> None:
    monkeypatch.setattr(detection, "measure_many_kernel", lambda: None)
    monkeypatch.setattr(detection, "candidates_kernel", lambda: None)


def frames(seed: int, time_of_day: str, count: int = 6) -> tuple[list[np.ndarray], float]:
    profile = get_profile("boson640").with_size(*SIZE)
    sim = ThermalSimulator(profile, altitude_m=30.0, seed=seed, time_of_day=time_of_day,
                           scene_options=SCENE)
    convert = CountsToTemperature(sim.calibration, sim.table)
    return [convert(sim.counts(0.4 * i)).copy() for i in range(count)], sim.gsd_m


def assert_same(compiled: list, reference: list) -> None:
    assert [(d.label, d.bbox, d.area_px) for d in compiled] == \
        [(d.label, d.bbox, d.area_px) for d in reference]
    for a, b in zip(compiled, reference, strict=True):
        np.testing.assert_allclose(a.centroid, b.centroid, rtol=0, atol=1e-6)
        assert a.confidence == pytest.approx(b.confidence, rel=1e-5, abs=1e-7)
        assert (a.max_c, a.mean_c) == pytest.approx((b.max_c, b.mean_c), rel=1e-6)


@pytest.mark.parametrize(("seed", "time_of_day"), [(0, "day"), (1, "night"), (4, "day")])
def test_compiled_detections_equal_numpy_path(seed, time_of_day, monkeypatch):
    images, gsd = frames(seed, time_of_day)
    compiled = [WarmBodyDetector().detect(t, gsd) for t in images]
    numpy_path(monkeypatch)
    reference = [WarmBodyDetector().detect(t, gsd) for t in images]
    assert sum(map(len, reference)) >= 10, "the scenes must hold bodies to compare"
    for c, r in zip(compiled, reference, strict=True):
        assert_same(c, r)


def test_nan_pixels_and_read_only_frames(monkeypatch):
    images, gsd = frames(2, "day", count=3)
    rng = np.random.default_rng(0)
    for t in images:
        t[rng.random(t.shape) < 0.01] = np.nan  # dead pixels next to bodies too
        t.setflags(write=False)
    compiled = [WarmBodyDetector().detect(t, gsd) for t in images]
    numpy_path(monkeypatch)
    reference = [WarmBodyDetector().detect(t, gsd) for t in images]
    assert sum(map(len, reference)) >= 3
    for c, r in zip(compiled, reference, strict=True):
        assert_same(c, r)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), nan_share=st.sampled_from([0.0, 0.05]),
       contrast_k=st.floats(0.1, 5.0), low=st.floats(-20.0, 30.0), span=st.floats(0.0, 30.0))
def test_candidates_bit_for_bit(seed, nan_share, contrast_k, low, span):
    """Contrast and candidate mask equal the numpy expressions exactly (float32 thresholds)."""
    rng = np.random.default_rng(seed)
    t = rng.normal(20.0, 8.0, (37, 53)).astype(np.float32)
    bg = rng.normal(18.0, 3.0, t.shape).astype(np.float32)
    invalid = rng.random(t.shape) < nan_share
    contrast = np.empty_like(t)
    out = np.empty(t.shape, np.bool_)
    high = low + span
    detection_kernels.candidates_kernel()(
        t.reshape(-1), bg.reshape(-1), contrast.reshape(-1), contrast_k, low, high,
        invalid.reshape(-1), bool(invalid.any()), out.reshape(-1))
    expected_contrast = t - bg
    expected = (expected_contrast > contrast_k) & (t >= low) & (t <= high) & ~invalid
    assert contrast.tobytes() == expected_contrast.tobytes()
    np.testing.assert_array_equal(out, expected)


def test_measure_rejects_a_blob_without_surroundings():
    """A blob filling its whole window has no ring: rejected (status 1), out untouched."""
    kernel = detection_kernels.measure_many_kernel()
    t = np.full((6, 6), 30.0, np.float32)
    zeros = np.zeros_like(t)
    labels = np.ones((6, 6), np.int32)
    out = np.full((1, len(detection_kernels.FIELDS)), -1.0)
    status = np.full(1, -1, np.int64)
    kernel(t, zeros, zeros, np.zeros(t.shape, np.bool_), labels, 0, 0, np.ones(1, np.int64),
           np.array([[0, 0, 6, 6]], np.int64), 2, False, 40.0, 2.0, 2.2, 1.0, 2, out, status)
    assert status[0] == 1 and (out == -1.0).all()


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(-50.0, 50.0, width=32), min_size=1, max_size=300),
       percent=st.sampled_from([0.0, 10.0, 25.0, 50.0, 75.0, 80.0, 90.0, 100.0]))
def test_nearest_rank_is_numpys_partition(values, percent):
    """The compiled quickselect picks numpy's nearest-rank element (ties included)."""
    v = np.array(values, np.float32)
    k = round(percent / 100.0 * (v.size - 1))
    assert detection_kernels._nearest_rank(v.copy(), v.size, percent) == np.partition(v, k)[k]


def test_nearest_rank_ends_on_nan_and_inf():
    v = np.array([np.nan, 1.0, np.inf, -np.inf, np.nan, 2.0], np.float32)
    detection_kernels._nearest_rank(v, v.size, 50.0)  # returns (any element), never hangs


def test_kernels_load_in_the_background_and_the_numpy_path_serves_meanwhile():
    """A detector made before the kernels are loaded detects on the numpy path (the kernel
    accessors say None) with the same results; warm_up(wait=False) starts one loader."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from thermal_perception.core.detection import kernels as k\n"
        "from thermal_perception.core.detection import WarmBodyDetector\n"
        "assert k.measure_many_kernel() is None\n"
        "d = WarmBodyDetector()\n"  # starts the loader thread
        "t = np.full((64, 64), 15.0, np.float32); t[30:35, 30:34] = 33.0\n"
        "first = d.detect(t, 0.1)\n"
        "k.warm_up()\n"  # waits for the loader
        "assert k.measure_many_kernel() is not None and k._warm_up_thread is not None\n"
        "again = d.detect(t, 0.1)\n"
        "assert [(x.label, x.bbox) for x in first] == [(x.label, x.bbox) for x in again]\n"
        "assert len(first) == 1, first\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
