"""Health of one input stream of a node: arrival rate and staleness on the steady clock (so a
jumping or paused simulation clock does not fool it), duplicate and out-of-order header
stamps, and restarts of the source's time (a recording that loops, a simulation clock set
back). Pure Python: nodes feed it each message; tests drive it with their own clock.

Stamp rules (:meth:`StreamHealth.check_stamp`), for a stamp compared with the last accepted:
  equal                          -> DUPLICATE, dropped
  older by at most REORDER_INTERVALS typical stamp intervals (a frame delivered late)
                                 -> OUT_OF_ORDER, dropped; but the MAX_OUT_OF_ORDER + 1-th
                                    such frame in a row is a TIME_RESET instead
  older by more than that, and by at most time_reset_s
                                 -> TIME_RESET, accepted: the last accepted stamp had jumped
                                    ahead (a faulty camera clock), and one bad stamp must not
                                    cost the frames after it (before the stream's interval is
                                    known, the MAX_OUT_OF_ORDER rule alone bounds the cost)
  older by more than that        -> TIME_RESET, accepted; the caller restarts what depends on
                                    time (dt = 0, tracks)
  newer                          -> ACCEPT, with dt since the last accepted stamp
  zero (unstamped source)        -> ACCEPT with dt = 0; ordering is not checked
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

ACCEPT, DUPLICATE, OUT_OF_ORDER, TIME_RESET = "accept", "duplicate", "out_of_order", "time_reset"
TIME_RESET_S = 1.0  # a stamp this much older than the last one means the source's time restarted
STALE_MIN_S = 2.0  # a stream is never called stale sooner than this after its last message
STALE_INTERVALS = 5.0  # ... nor sooner than this many of its typical message intervals
MAX_OUT_OF_ORDER = 2  # out-of-order frames in a row dropped before the ordering is reset
REORDER_INTERVALS = 3.0  # a frame later than this many stamp intervals was not merely late
RATE_WEIGHT = 0.1  # weight of the newest interval in the exponential average


@dataclass(frozen=True)
class StampCheck:
    """Verdict on one stamp; ``dt_s`` is the time since the last accepted stamp, s (0 for the
    first, after a time reset and for unstamped messages)."""

    verdict: str
    dt_s: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.verdict in (ACCEPT, TIME_RESET)


class StreamHealth:
    """Bookkeeping of one input stream (see the module docstring for the stamp rules).

    time_reset_s : s; stamps older than the last by more than this restart the stream's time.
    stale_min_s, stale_intervals : a stream is stale when nothing arrived for
        ``max(stale_min_s, stale_intervals x typical interval)`` seconds.
    clock : monotonic seconds (``time.monotonic``).
    """

    def __init__(self, time_reset_s: float = TIME_RESET_S, stale_min_s: float = STALE_MIN_S,
                 stale_intervals: float = STALE_INTERVALS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not (time_reset_s > 0 and stale_min_s > 0 and stale_intervals > 0):
            raise ValueError("time_reset_s, stale_min_s and stale_intervals must be > 0")
        self.time_reset_ns = round(time_reset_s * 1e9)
        self.stale_min_s = stale_min_s
        self.stale_intervals = stale_intervals
        self.clock = clock
        self.received = 0
        self.duplicates = self.out_of_order = self.time_resets = 0
        self.ahead_resets = 0  # resets because the last stamp had jumped ahead
        self._behind_in_a_row = 0
        self.stamp_interval_ns = math.nan  # typical interval between accepted stamps
        self.interval_s = math.nan  # typical arrival interval, s
        self.last_arrival: float | None = None
        self.last_stamp_ns: int | None = None
        self._reported = (0, 0, 0)

    # -- arrivals (every message, also those rejected later) --------------------------------

    def arrived(self) -> None:
        """Record that a message arrived now."""
        now = self.clock()
        if self.last_arrival is not None:
            gap = now - self.last_arrival
            if math.isnan(self.interval_s):
                self.interval_s = gap
            elif gap <= self.stale_after_s():  # a stall does not count as the stream's pace
                self.interval_s += RATE_WEIGHT * (gap - self.interval_s)
        self.last_arrival = now
        self.received += 1

    @property
    def rate_hz(self) -> float:
        """Average arrival rate, Hz (NaN before two messages)."""
        return 1.0 / self.interval_s if self.interval_s > 0 else math.nan

    def stale_after_s(self) -> float:
        """Seconds of silence after which the stream counts as stale."""
        if math.isnan(self.interval_s):
            return self.stale_min_s
        return max(self.stale_min_s, self.stale_intervals * self.interval_s)

    def silence_s(self) -> float:
        """Seconds since the last message (NaN before the first)."""
        return math.nan if self.last_arrival is None else self.clock() - self.last_arrival

    def stale(self) -> bool:
        """True when messages arrived before but none for :meth:`stale_after_s`."""
        return self.last_arrival is not None and self.silence_s() > self.stale_after_s()

    # -- stamps ---------------------------------------------------------------------------

    def check_stamp(self, stamp_ns: int) -> StampCheck:
        """Verdict on a message's header stamp, ns; counts what is dropped or reset."""
        if stamp_ns == 0:
            return StampCheck(ACCEPT)
        last = self.last_stamp_ns
        if last is None:
            self.last_stamp_ns = stamp_ns
            return StampCheck(ACCEPT)
        if stamp_ns == last:
            self.duplicates += 1
            return StampCheck(DUPLICATE)
        if stamp_ns < last:
            behind = last - stamp_ns
            # NaN (interval unknown yet) compares False: late, as far as this test goes
            late = not behind > REORDER_INTERVALS * self.stamp_interval_ns
            if behind <= self.time_reset_ns and late \
                    and self._behind_in_a_row < MAX_OUT_OF_ORDER:
                self._behind_in_a_row += 1
                self.out_of_order += 1
                return StampCheck(OUT_OF_ORDER)
            if behind <= self.time_reset_ns:
                self.ahead_resets += 1
            self._behind_in_a_row = 0
            self.time_resets += 1
            self.last_stamp_ns = stamp_ns
            return StampCheck(TIME_RESET)
        self._behind_in_a_row = 0
        self.last_stamp_ns = stamp_ns
        dt = stamp_ns - last
        interval = self.stamp_interval_ns
        if math.isnan(interval):
            self.stamp_interval_ns = float(dt)
        elif dt <= 4.0 * interval:  # a jump ahead must not widen the window
            self.stamp_interval_ns = interval + RATE_WEIGHT * (dt - interval)
        return StampCheck(ACCEPT, dt * 1e-9)

    def stamp_problems(self) -> str:
        """What was dropped or reset since the previous call ('' if nothing), for a WARN."""
        now = (self.duplicates, self.out_of_order, self.time_resets)
        new = [n - o for n, o in zip(now, self._reported, strict=True)]
        self._reported = now
        parts = []
        if new[0]:
            parts.append(f"dropped {new[0]} frames with duplicate stamps")
        if new[1]:
            parts.append(f"dropped {new[1]} frames with out-of-order stamps")
        if new[2]:
            parts.append(f"input time went back {new[2]} times (restarted"
                         + (f"; {self.ahead_resets} after stamps that had jumped ahead in all)"
                            if self.ahead_resets else ")"))
        return "; ".join(parts)

    def values(self) -> dict[str, float | int]:
        """Diagnostic key/values."""
        return {"input_rate_hz": self.rate_hz, "seconds_since_last_input": self.silence_s(),
                "duplicate_stamps": self.duplicates, "out_of_order_stamps": self.out_of_order,
                "input_time_resets": self.time_resets,
                "input_resets_after_future_stamps": self.ahead_resets}
