"""Approximate-time synchronisation (message_filters semantics) and stamp buffers: different
rates, drops, jitter, reordering and duplicates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermal_perception.core.fusion.sync import (
    ApproximateTimeSync,
    StampBuffer,
    interpolate_quaternions,
    interpolate_vectors,
)

MS = 1_000_000


def run(streams: list[list[int]], slop_s: float, queue: int = 10, order=None):
    """Feed stamped messages (stream, stamp) in ``order`` (default: by stamp)."""
    sets = []
    sync = ApproximateTimeSync(len(streams), queue, slop_s, lambda *items: sets.append(items))
    events = [(t, i) for i, s in enumerate(streams) for t in s]
    events = sorted(events) if order is None else [events[k] for k in order]
    for t, i in events:
        sync.add(i, t, (i, t))
    return sets, sync


def test_thermal_30hz_with_lidar_10hz_gives_one_set_per_scan():
    thermal = [round(k * 1e9 / 30) for k in range(90)]
    lidar = [round(k * 1e8) + 3 * MS for k in range(30)]
    sets, sync = run([thermal, lidar], slop_s=0.02)
    assert len(sets) == 30
    for (_, t_th), (_, t_li) in sets:
        assert abs(t_th - t_li) <= 20 * MS
        # the nearest thermal frame was chosen
        assert abs(t_th - t_li) == min(abs(t - t_li) for t in thermal)
    assert sync.counters.matched_sets == 30


def test_dropped_messages_leave_gaps_but_no_wrong_pairs():
    rng = np.random.default_rng(0)
    a = [k * 100 * MS for k in range(100)]
    b = [t + 2 * MS for t in a if rng.random() > 0.3]  # 30 % of b dropped
    sets, _ = run([a, b], slop_s=0.01)
    assert len(sets) == len(b)
    assert all(tb - ta == 2 * MS for (_, ta), (_, tb) in sets)


def test_jitter_within_slop_is_matched_and_beyond_is_not():
    rng = np.random.default_rng(1)
    a = [k * 100 * MS for k in range(200)]
    jitter = rng.uniform(-30, 30, len(a)).round().astype(int) * MS
    b = [t + j for t, j in zip(a, jitter, strict=False)]
    sets, _ = run([a, b], slop_s=0.02)
    expected = int((np.abs(jitter) <= 20 * MS).sum())
    assert len(sets) == expected
    assert all(abs(ta - tb) <= 20 * MS for (_, ta), (_, tb) in sets)


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(2, 4))
def test_reordered_arrival_gives_the_same_sets(rnd, n_streams):
    """Arrivals shuffled within a small window (network reordering) change nothing."""
    base = [k * 50 * MS for k in range(40)]
    streams = [[t + i * MS for t in base] for i in range(n_streams)]
    in_order, _ = run(streams, slop_s=0.01, queue=20)
    events = sorted((t, i) for i, s in enumerate(streams) for t in s)
    order = list(range(len(events)))
    for k in range(0, len(order) - 3, 3):  # swap neighbours in small blocks
        block = order[k:k + 3]
        rnd.shuffle(block)
        order[k:k + 3] = block
    flat = [(t, i) for i, s in enumerate(streams) for t in s]
    index = {e: j for j, e in enumerate(flat)}
    shuffled, sync = run(streams, slop_s=0.01, queue=20,
                         order=[index[events[j]] for j in order])
    key = sorted(tuple(t for _, t in s) for s in in_order)
    assert sorted(tuple(t for _, t in s) for s in shuffled) == key
    assert sync.counters.matched_sets == len(base)


def test_duplicates_and_late_messages_are_counted_not_emitted_twice():
    sets = []
    sync = ApproximateTimeSync(2, 5, 0.01, lambda *i: sets.append(i), drop_late=True)
    sync.add(0, 100 * MS, "a1")
    sync.add(0, 100 * MS, "a1-again")  # duplicate stamp replaces
    sync.add(1, 101 * MS, "b1")
    assert sets == [("a1-again", "b1")]
    assert sync.counters.duplicates == 1
    sync.add(1, 99 * MS, "b-late")  # older than the last set: dropped
    assert sync.counters.late == 1 and len(sets) == 1


def test_bounded_queues_overflow():
    sync = ApproximateTimeSync(2, 3, 0.001, lambda *i: None)
    for k in range(10):
        sync.add(0, k * 100 * MS, k)
    assert sync.pending() == [3, 0]
    assert sync.counters.overflowed == 7


@pytest.mark.parametrize("bad", [dict(n_streams=1), dict(queue_size=0), dict(slop_s=-1.0)])
def test_bad_settings_are_rejected(bad):
    args = dict(n_streams=2, queue_size=5, slop_s=0.01, callback=print) | bad
    with pytest.raises(ValueError):
        ApproximateTimeSync(**args)


def test_stamp_buffer_nearest_bracket_and_order():
    buf = StampBuffer(capacity=4)
    for t in (30, 10, 20, 40, 50):  # out of order, one too many
        buf.add(t * MS, t)
    assert buf.stamps == [20 * MS, 30 * MS, 40 * MS, 50 * MS]
    assert buf.out_of_order == 2
    assert buf.nearest(33 * MS, 0.005) == (30 * MS, 30)
    assert buf.nearest(80 * MS, 0.005) is None
    (_t0, a), (_t1, b) = buf.bracket(35 * MS, 0.01)
    assert (a, b) == (30, 40)
    assert buf.bracket(35 * MS, 0.001) is None  # gap too large
    assert buf.bracket(60 * MS, 1.0) is None  # after the last: no extrapolation


def test_interpolation_of_positions_and_attitudes():
    p = interpolate_vectors([0, 10], np.array([[0.0, 0, 0], [10.0, 20, 30]]), 5)
    np.testing.assert_allclose(p, [5, 10, 15])
    from scipy.spatial.transform import Rotation
    q0 = Rotation.from_euler("z", 0).as_quat()
    q1 = Rotation.from_euler("z", 90, degrees=True).as_quat()
    q = interpolate_quaternions([0, 10], np.stack([q0, q1]), 5)
    assert np.isclose(Rotation.from_quat(q).as_euler("xyz", degrees=True)[2], 45.0)


def test_samples_for_the_latest_stamp_extrapolate_position_and_hold_attitude():
    buf = StampBuffer()
    buf.add(0, np.array([0.0, 0.0, 10.0]))
    buf.add(100 * MS, np.array([0.4, 0.0, 10.0]))  # 4 m/s east
    (t0, a), (t1, b) = buf.samples_for(150 * MS, 0.5)  # the next fix has not arrived
    p = interpolate_vectors([t0, t1], np.stack([a, b]), 150 * MS, extrapolate=True)
    np.testing.assert_allclose(p, [0.6, 0.0, 10.0])
    assert buf.samples_for(700 * MS, 0.5) is None  # too far past the newest
    assert buf.samples_for(-100 * MS, 0.5) is None  # before the oldest: no data
    (t0, a), (t1, b) = buf.samples_for(50 * MS, 0.5)  # inside: the bracket
    np.testing.assert_allclose(interpolate_vectors([t0, t1], np.stack([a, b]), 50 * MS),
                               [0.2, 0.0, 10.0])
