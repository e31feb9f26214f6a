"""StreamHealth's stamp rules (pure Python): a future-stamped frame costs at most
MAX_OUT_OF_ORDER good frames after it (issue 19, item 1), and slightly late frames alone are
still dropped."""

from __future__ import annotations

from thermal_perception.ros.stream_health import (
    ACCEPT,
    MAX_OUT_OF_ORDER,
    OUT_OF_ORDER,
    TIME_RESET,
    StreamHealth,
)

S = 1_000_000_000


def test_future_stamps_cost_no_good_frame_once_the_interval_is_known() -> None:
    """The issue's case: 3 frames stamped ahead (by less than the time-reset span: further
    ahead, the first good frame restarts the stream anyway), then 30 good ones at 25 Hz;
    before, every good frame stamped before the future ones was dropped (up to 1 s), then
    MAX_OUT_OF_ORDER of them. A good frame 0.9 s behind is no late delivery of a 25 Hz
    stream: the first one resets the ordering and all 30 come out."""
    h = StreamHealth()
    start = 1000 * S
    for k in range(10):  # the stream as it was: 25 Hz
        assert h.check_stamp(start - (10 - k) * S // 25).verdict == ACCEPT
    assert h.check_stamp(start).verdict == ACCEPT
    for i in range(3):
        h.check_stamp(start + 9 * S // 10 + i)
    verdicts = [h.check_stamp(start + S // 25 * (k + 1)).verdict for k in range(30)]
    assert OUT_OF_ORDER not in verdicts
    assert verdicts[0] == TIME_RESET and h.ahead_resets == 1
    assert all(v == ACCEPT for v in verdicts[1:])
    assert "jumped ahead" in h.stamp_problems()


def test_future_stamps_at_the_start_cost_a_bounded_number_of_good_frames() -> None:
    """The same before the stream's interval is known (the first frames): the
    MAX_OUT_OF_ORDER rule bounds the cost."""
    h = StreamHealth()
    start = 1000 * S
    assert h.check_stamp(start).verdict == ACCEPT
    for i in range(3):
        h.check_stamp(start + 9 * S // 10 + i)
    verdicts = [h.check_stamp(start + S // 25 * (k + 1)).verdict for k in range(30)]
    assert sum(v != OUT_OF_ORDER for v in verdicts) >= 30 - MAX_OUT_OF_ORDER
    assert TIME_RESET in verdicts[:MAX_OUT_OF_ORDER + 1] and h.ahead_resets == 1


def test_isolated_late_frames_are_still_dropped() -> None:
    h = StreamHealth()
    stamps = [100, 110, 105, 120, 115, 130, 125, 140]  # every other one 0.5 units late
    verdicts = [h.check_stamp(s * S // 100).verdict for s in stamps]
    assert verdicts.count(OUT_OF_ORDER) == 3 and TIME_RESET not in verdicts
    assert h.values()["input_resets_after_future_stamps"] == 0
