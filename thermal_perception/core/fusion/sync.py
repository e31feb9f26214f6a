"""Time synchronisation of sensor streams (message_filters is not on PyPI).

:class:`ApproximateTimeSync` has the semantics of ``message_filters.ApproximateTimeSynchronizer``
(Python implementation): one bounded queue per stream, keyed by stamp; when a message arrives,
it is matched with one message of every other stream so that all stamps lie within ``slop`` of
each other, preferring the messages closest to the new one; matched messages leave their
queues. So sets come out whatever the rates, with drops (unmatched messages age out of the
bounded queues) and out-of-order arrivals (queues are keyed by stamp, not arrival). Counters
say what happened to the rest, for diagnostics.

:class:`StampBuffer` keeps the recent history of one stream for nearest-stamp lookup and for
interpolating slowly varying states (GPS, attitude) at another stream's stamp.

Stamps are integer nanoseconds.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation, Slerp

#: Candidates per stream tried when the nearest messages alone do not fit within the slop.
MAX_CANDIDATES = 4


@dataclass
class SyncCounters:
    """What happened to the messages given to a synchroniser."""

    received: int = 0
    matched_sets: int = 0
    overflowed: int = 0      # pushed out of a full queue unmatched (drops on other streams)
    duplicates: int = 0      # same stream and stamp as a queued message: replaced it
    late: int = 0            # older than the last matched set on that stream: dropped
    rejected: int = 0        # invalid stamp (negative)


class ApproximateTimeSync:
    """Approximate-time matching of ``n_streams`` streams.

    Parameters
    ----------
    n_streams : number of streams (>= 2).
    queue_size : messages kept per stream waiting for a match (>= 1).
    slop_s : largest spread of stamps within a set, s.
    callback : called with the matched items, one per stream, in stream order.
    drop_late : drop a message older than the last set emitted from its stream, and what is
        older than a set when it is emitted (sets then come out in time order per stream, but a
        reordered message can lose its set); False (default) keeps them, as message_filters.
    """

    def __init__(self, n_streams: int, queue_size: int, slop_s: float,
                 callback: Callable[..., Any], drop_late: bool = False) -> None:
        if n_streams < 2:
            raise ValueError(f"need at least 2 streams, got {n_streams}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not slop_s >= 0:
            raise ValueError(f"slop_s must be >= 0, got {slop_s}")
        self.queue_size = int(queue_size)
        self.slop_ns = round(slop_s * 1e9)
        self.callback = callback
        self.drop_late = drop_late
        self.queues: list[dict[int, Any]] = [{} for _ in range(n_streams)]
        self.last_matched_ns = [-1] * n_streams
        self.counters = SyncCounters()

    def add(self, stream: int, stamp_ns: int, item: Any) -> bool:
        """Queue ``item`` of ``stream`` stamped ``stamp_ns``; returns True if a set was emitted."""
        c = self.counters
        c.received += 1
        if stamp_ns < 0:
            c.rejected += 1
            return False
        if self.drop_late and stamp_ns <= self.last_matched_ns[stream]:
            c.late += 1
            return False
        queue = self.queues[stream]
        if stamp_ns in queue:
            c.duplicates += 1
        queue[stamp_ns] = item
        while len(queue) > self.queue_size:
            del queue[min(queue)]
            c.overflowed += 1
        return self._match(stream, stamp_ns)

    def _match(self, stream: int, stamp_ns: int) -> bool:
        candidates: list[list[int]] = []
        for index, queue in enumerate(self.queues):
            if index == stream:
                candidates.append([stamp_ns])
                continue
            near = sorted((abs(s - stamp_ns), s) for s in queue
                          if abs(s - stamp_ns) <= self.slop_ns)
            if not near:
                return False
            candidates.append([s for _, s in near[:MAX_CANDIDATES]])
        for stamps in itertools.product(*candidates):
            if max(stamps) - min(stamps) <= self.slop_ns:
                items = [q.pop(s) for q, s in zip(self.queues, stamps, strict=True)]
                for index, s in enumerate(stamps):
                    self.last_matched_ns[index] = max(self.last_matched_ns[index], s)
                    if self.drop_late:  # what is older can no longer be emitted
                        queue = self.queues[index]
                        for old in [t for t in queue if t <= s]:
                            del queue[old]
                            self.counters.overflowed += 1
                self.counters.matched_sets += 1
                self.callback(*items)
                return True
        return False

    def pending(self) -> list[int]:
        """Messages waiting per stream."""
        return [len(q) for q in self.queues]


class StampBuffer:
    """Recent messages of one stream in stamp order, for lookup at other streams' stamps.

    Out-of-order arrivals are inserted in place; a duplicate stamp replaces the older message.
    At most ``capacity`` messages are kept (the oldest go first).
    """

    def __init__(self, capacity: int = 200) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.stamps: list[int] = []
        self.items: list[Any] = []
        self.duplicates = 0
        self.out_of_order = 0

    def __len__(self) -> int:
        return len(self.stamps)

    def add(self, stamp_ns: int, item: Any) -> None:
        i = bisect.bisect_left(self.stamps, stamp_ns)
        if i < len(self.stamps) and self.stamps[i] == stamp_ns:
            self.items[i] = item
            self.duplicates += 1
            return
        if i < len(self.stamps):
            self.out_of_order += 1
        self.stamps.insert(i, stamp_ns)
        self.items.insert(i, item)
        if len(self.stamps) > self.capacity:
            del self.stamps[0], self.items[0]

    def clear(self) -> None:
        self.stamps.clear()
        self.items.clear()

    @property
    def latest_ns(self) -> int | None:
        return self.stamps[-1] if self.stamps else None

    def nearest(self, stamp_ns: int, slop_s: float) -> tuple[int, Any] | None:
        """The message nearest to ``stamp_ns`` if within ``slop_s``, as (stamp_ns, item)."""
        if not self.stamps:
            return None
        i = bisect.bisect_left(self.stamps, stamp_ns)
        best = min((j for j in (i - 1, i) if 0 <= j < len(self.stamps)),
                   key=lambda j: abs(self.stamps[j] - stamp_ns))
        if abs(self.stamps[best] - stamp_ns) > slop_s * 1e9:
            return None
        return self.stamps[best], self.items[best]

    def bracket(self, stamp_ns: int, max_gap_s: float
                ) -> tuple[tuple[int, Any], tuple[int, Any]] | None:
        """The messages just before and after ``stamp_ns`` (the same one twice on an exact
        hit), if both exist and neither is more than ``max_gap_s`` away."""
        if not self.stamps:
            return None
        i = bisect.bisect_left(self.stamps, stamp_ns)
        if i < len(self.stamps) and self.stamps[i] == stamp_ns:
            return (stamp_ns, self.items[i]), (stamp_ns, self.items[i])
        if i == 0 or i == len(self.stamps):
            return None
        before, after = i - 1, i
        gap = max_gap_s * 1e9
        if stamp_ns - self.stamps[before] > gap or self.stamps[after] - stamp_ns > gap:
            return None
        return (self.stamps[before], self.items[before]), (self.stamps[after], self.items[after])


    def samples_for(self, stamp_ns: int, max_gap_s: float
                    ) -> tuple[tuple[int, Any], tuple[int, Any]] | None:
        """Two messages to interpolate (or extrapolate) at ``stamp_ns``: the bracket when it
        exists, else, when ``stamp_ns`` lies after the newest message by at most
        ``max_gap_s`` (the next one has not arrived yet), the newest two (the newest twice if
        it is alone)."""
        pair = self.bracket(stamp_ns, max_gap_s)
        if pair is not None or not self.stamps:
            return pair
        newest = self.stamps[-1]
        if not 0 <= stamp_ns - newest <= max_gap_s * 1e9:
            return None
        before = -2 if len(self.stamps) > 1 else -1
        return (self.stamps[before], self.items[before]), (newest, self.items[-1])


def interpolate_vectors(stamps_ns: Sequence[int], values: NDArray[np.float64], at_ns: int,
                        extrapolate: bool = False) -> NDArray[np.float64]:
    """Linear interpolation of vectors ``values`` (N, k) stamped ``stamps_ns`` at ``at_ns``;
    outside the stamps the end values are held, or with ``extrapolate`` (two samples) the
    line through them is continued (constant velocity)."""
    t = np.asarray(stamps_ns, np.float64)
    v = np.asarray(values, np.float64)
    if len(t) == 1 or t[-1] == t[0]:
        return v[0].copy()
    if extrapolate and len(t) == 2:
        return v[0] + (v[1] - v[0]) * ((float(at_ns) - t[0]) / (t[1] - t[0]))
    return np.array([np.interp(float(at_ns), t, v[:, k]) for k in range(v.shape[1])])


def interpolate_quaternions(stamps_ns: Sequence[int], quaternions_xyzw: NDArray[np.float64],
                            at_ns: int) -> NDArray[np.float64]:
    """Spherical linear interpolation of unit quaternions (x, y, z, w) at ``at_ns``."""
    t = np.asarray(stamps_ns, np.float64)
    q = np.asarray(quaternions_xyzw, np.float64)
    if len(t) == 1 or t[-1] == t[0]:
        return q[0] / np.linalg.norm(q[0])
    at = float(np.clip(at_ns, t[0], t[-1]))
    return Slerp(t, Rotation.from_quat(q))([at]).as_quat()[0]
