"""Opt-in per-frame timing trace of the nodes, for the latency budget (``bench/transport.py
--breakdown``).

Set ``THERMAL_PERCEPTION_TRACE=<path>`` in a node's environment and it appends one JSON line
per frame to ``<path>``: its role, the frame's header stamp (ns) and the epoch time (ns,
``time.time_ns()``, the clock the driver stamps frames with) of each event it passed, e.g.::

    {"role": "driver", "stamp": 1765000000000000000, "read": ..., "converted": ..., ...}

Every process opens the file with ``O_APPEND`` and writes a line with one ``write()``, so the
driver, the processor and a probe can share one file. Unset (the default), nodes hold
``None`` instead of a :class:`FrameTrace` and test it once per frame: nothing is allocated,
timed or written. No rclpy here; :func:`load` and :func:`breakdown` parse a trace anywhere.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

ENV = "THERMAL_PERCEPTION_TRACE"

#: The latency budget: (name, from event, to event), consecutive along one frame's path from
#: capture (its header stamp) to a subscriber of ``image_temperature`` (the probe).
STAGES: tuple[tuple[str, str, str], ...] = (
    ("driver: frame production", "stamp", "driver.read"),
    ("driver: counts -> Image mono16", "driver.read", "driver.converted"),
    ("driver: status + publish start", "driver.converted", "driver.publish"),
    ("DDS image_raw: publish -> processor callback", "driver.publish", "processor.received"),
    ("processor: wait for status", "processor.received", "processor.start"),
    ("processor: processing", "processor.start", "processor.computed"),
    ("processor: temperature -> Image 32FC1", "processor.computed", "processor.converted"),
    ("DDS image_temperature: publish -> probe callback", "processor.converted",
     "probe.received"),
)
TOTAL = ("total: capture -> probe", "stamp", "probe.received")
#: Informative, inside the stages above: how long the publish() calls block.
CALLS = (("driver: image_raw publish() call", "driver.publish", "driver.published"),
         ("processor: image_temperature publish() call", "processor.converted",
          "processor.published"))


class FrameTrace:
    """Per-frame event times of one node, appended to a shared JSON-lines file.

    ``mark(stamp_ns, event)`` notes the time of an event of the frame stamped ``stamp_ns``;
    ``done(stamp_ns)`` writes that frame's line. Frames never done (dropped, skipped) are
    forgotten after ``keep`` newer ones.
    """

    def __init__(self, path: str | Path, role: str, keep: int = 64) -> None:
        self.role = role
        self.keep = keep
        self.pending: dict[int, dict[str, int]] = {}
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def mark(self, stamp_ns: int, event: str) -> None:
        times = self.pending.get(stamp_ns)
        if times is None:
            times = self.pending[stamp_ns] = {}
            if len(self.pending) > self.keep:
                del self.pending[next(iter(self.pending))]
        times[event] = time.time_ns()

    def event(self, stamp_ns: int, event: str) -> None:
        """Write the time of one event of a frame at once (for events that may come after
        the frame was done, e.g. a status message that arrives late)."""
        line = json.dumps({"role": self.role, "stamp": stamp_ns, event: time.time_ns()})
        os.write(self._fd, (line + "\n").encode())

    def done(self, stamp_ns: int) -> None:
        times = self.pending.pop(stamp_ns, None)
        if times is not None:
            line = json.dumps({"role": self.role, "stamp": stamp_ns, **times}) + "\n"
            os.write(self._fd, line.encode())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def from_environment(role: str) -> FrameTrace | None:
    """A :class:`FrameTrace` when ``THERMAL_PERCEPTION_TRACE`` names a file, else None."""
    path = os.environ.get(ENV, "")
    return FrameTrace(path, role) if path else None


def load(lines: Iterable[str]) -> dict[int, dict[str, int]]:
    """Events by frame stamp: ``{stamp: {"stamp": stamp, "driver.read": ns, ...}}``.
    Lines that do not parse (a write cut short when a node was killed) are skipped."""
    frames: dict[int, dict[str, int]] = {}
    for line in lines:
        try:
            record = json.loads(line)
            role, stamp = record.pop("role"), int(record.pop("stamp"))
        except (ValueError, KeyError, TypeError):
            continue
        events = frames.setdefault(stamp, {"stamp": stamp})
        events.update({f"{role}.{name}": int(t) for name, t in record.items()})
    return frames


def breakdown(frames: dict[int, dict[str, int]],
              stages: Iterable[tuple[str, str, str]] = (*STAGES, TOTAL, *CALLS)
              ) -> dict[str, dict[str, float]]:
    """p50/p90/p99 (ms) and count of each stage over the frames that have every event of the
    stage path (frames that did not reach the probe are left out of all stages, so the
    stages add up to the total)."""
    stages = tuple(stages)
    needed = {event for _, start, end in stages for event in (start, end)}
    complete = [f for f in frames.values() if needed <= f.keys()]
    out: dict[str, dict[str, float]] = {}
    for name, start, end in stages:
        ms = np.array([(f[end] - f[start]) * 1e-6 for f in complete])
        out[name] = {"frames": len(ms), **({f"p{q}_ms": float(np.percentile(ms, q))
                                            for q in (50, 90, 99)} if len(ms) else {})}
    return out


def format_table(table: dict[str, dict[str, float]]) -> str:
    """The breakdown as aligned text lines."""
    width = max(len(name) for name in table)
    lines = [f"{'stage':{width}s}   p50 ms   p90 ms   p99 ms"]
    for name, row in table.items():
        if not row["frames"]:
            lines.append(f"{name:{width}s}   (no frames)")
            continue
        lines.append(f"{name:{width}s} {row['p50_ms']:8.2f} {row['p90_ms']:8.2f} "
                     f"{row['p99_ms']:8.2f}")
    return "\n".join(lines)
