"""Frame sources for the driver: where raw counts come from.

A source yields :class:`Frame` objects; the driver stamps and publishes them. Sources:
recordings (bags, 16-bit image folders, .npy stacks, raw dumps, FLIR SEQ and radiometric JPEGs,
Cacophony .cptv) played back at their recorded pace (:class:`RecordingSource`), V4L2/UVC
cameras streaming Y16 (:mod:`thermal_perception.io.v4l2`) and the physics simulator
(:mod:`thermal_perception.sim.source`); :func:`thermal_perception.settings.driver.open_source`
picks one from the driver's parameters.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from thermal_perception.io.frames import read_frames
from thermal_perception.io.raw_frame import RawFrame


@dataclass
class Frame:
    """One raw frame.

    counts : (H, W) uint16 raw counts (may be an internal buffer of the source: publish or
        copy before the next read).
    fpa_temperature_c : focal-plane temperature, deg C (NaN if unknown).
    housing_temperature_c : camera housing / shutter temperature, deg C (NaN if unknown).
    shutter_closed : the frame shows the closed shutter (FFC), not the scene.
    stamp_ns : capture time, ns since the epoch, where the source knows it (recorded stamps,
        camera buffer times).
    ffc_state : flat-field correction state reported by the camera itself (ThermalStatus
        FFC_STATE_* numbers), None where the driver runs the FFC.
    """

    counts: NDArray[np.uint16]
    fpa_temperature_c: float = float("nan")
    housing_temperature_c: float = float("nan")
    shutter_closed: bool = False
    stamp_ns: int | None = None
    ffc_state: int | None = None


class NoFrame(Exception):
    """A live source has no new frame yet; the driver skips this tick."""


class FrameSource(Protocol):
    """What the driver needs from a source."""

    name: str
    has_shutter: bool

    def read(self, time_s: float, shutter_closed: bool) -> Frame:
        """The frame captured at ``time_s`` seconds after the stream start."""
        ...

    def close(self) -> None: ...


class RecordingSource:
    """Frames of a recording, in order, optionally looping.

    Parameters
    ----------
    path : anything :func:`~thermal_perception.io.frames.read_frames` reads: a bag, a folder
        of 16-bit images or .npy files, a .npy stack, a FLIR .seq file, a .cptv file...
    topic : image topic of a bag (default: found by itself).
    loop : start again at the end; otherwise :meth:`read` raises EOFError.

    ``radiometry`` is what the recording says its counts mean (a folder's radiometry.yaml;
    None: not said), for the processor's radiometric model.
    """

    name = "recording"
    has_shutter = False
    PEEK_FRAMES = 16  # frames read ahead to learn the size and the recorded frame interval

    def __init__(self, path: str, topic: str | None = None, loop: bool = True) -> None:
        self.path, self.topic, self.loop = path, topic or None, loop
        self.loops = 0
        self._open()
        self._ahead: deque[RawFrame] = deque(islice(self._frames, self.PEEK_FRAMES))
        if not self._ahead:
            raise ValueError(f"recording {path} has no frames")
        stamps = [f.stamp_ns for f in self._ahead if f.stamp_ns]
        intervals = np.diff(stamps) if len(stamps) > 2 else np.array([])
        intervals = intervals[intervals > 0]
        self.interval_s = float(np.median(intervals)) * 1e-9 if intervals.size else None
        self.shape = self._ahead[0].counts.shape
        self.radiometry = self._ahead[0].radiometry
        self._span_ns = 0
        self._first_ns = self._ahead[0].stamp_ns

    def _open(self) -> None:
        self._frames: Iterator[RawFrame] = read_frames(self.path, self.topic)

    def _next(self) -> RawFrame:
        if self._ahead:
            return self._ahead.popleft()
        try:
            return next(self._frames)
        except StopIteration:
            if not self.loop:
                raise EOFError(f"end of recording {self.path}") from None
            self.loops += 1
            self._open()
            return next(self._frames)

    def read(self, time_s: float, shutter_closed: bool = False) -> Frame:
        raw = self._next()
        if raw.counts.shape != self.shape:
            raise ValueError(f"frame of {raw.counts.shape[::-1]} in a recording of "
                             f"{self.shape[::-1]} frames")
        stamp = None
        if raw.stamp_ns:
            # later loops continue the timeline instead of jumping back
            self._span_ns = max(self._span_ns, raw.stamp_ns - self._first_ns)
            period_ns = round((self.interval_s or 0.0) * 1e9)
            stamp = raw.stamp_ns + self.loops * (self._span_ns + period_ns)
        return Frame(counts=raw.counts, fpa_temperature_c=raw.fpa_temperature_c,
                     stamp_ns=stamp)

    def close(self) -> None:
        self._ahead.clear()
