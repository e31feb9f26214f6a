"""V4L2/UVC thermal cameras as a frame source of the driver: :class:`V4l2Source`. A capture thread
reads the device (:mod:`.v4l2_devices`), decodes each buffer (:mod:`.uvc_frames`), follows the
Lepton's own flat-field corrections from its telemetry, reconnects with exponential backoff
when the camera disappears (re-resolving a serial number, whose ``/dev/videoN`` may change on
re-plug) and exposes its state for diagnostics.
"""

from __future__ import annotations

import copy
import errno
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from numpy.typing import NDArray

from thermal_perception.io.sources import Frame, NoFrame
from thermal_perception.io.uvc_frames import (
    FFC_COMPLETE,
    FFC_IDLE,
    FFC_IMMINENT,
    FFC_IN_PROGRESS,
    INFIRAY_FRAME,
    INFIRAY_LAYOUTS,
    TELEMETRY_MODES,
    V4L2_FORMATS,
    decode_infiray,
    decode_y16,
    infiray_layout,
    telemetry_lines,
)
from thermal_perception.io.v4l2_devices import (
    V4L_SYSFS,
    CameraDisconnected,
    Y16Device,
    open_device,
    usb_attribute,
)


def _describe(exc: BaseException) -> str:
    """An error's message without the "[Errno N]" prefix."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)

# --------------------------------------------------------------------------------------------
# The frame source
# --------------------------------------------------------------------------------------------


class Backoff:
    """Exponential backoff: ``initial_s``, doubled after each failure up to ``max_s``."""

    def __init__(self, initial_s: float = 0.1, max_s: float = 5.0, factor: float = 2.0) -> None:
        if not 0 < initial_s <= max_s or factor < 1.0:
            raise ValueError("backoff needs 0 < initial_s <= max_s and factor >= 1")
        self.initial_s, self.max_s, self.factor = initial_s, max_s, factor
        self.delay_s = initial_s

    def next_delay(self) -> float:
        """The wait before the next attempt, s; the one after is longer."""
        delay = self.delay_s
        self.delay_s = min(self.delay_s * self.factor, self.max_s)
        return delay

    def reset(self) -> None:
        self.delay_s = self.initial_s


class LeptonFfcTracker:
    """Lepton FFC states (0 never commanded, 1 imminent, 2 in progress, 3 complete) to
    ThermalStatus FFC states: the Lepton stays at 'complete' after an FFC, the status says
    COMPLETE only on the first frame after one and IDLE after that."""

    def __init__(self) -> None:
        self.previous: int | None = None

    def update(self, lepton_state: int) -> int:
        previous, self.previous = self.previous, lepton_state
        if lepton_state == 1:
            return FFC_IMMINENT
        if lepton_state == 2:
            return FFC_IN_PROGRESS
        if lepton_state == 3 and previous in (1, 2):
            return FFC_COMPLETE
        return FFC_IDLE


@dataclass
class CameraState:
    """What a :class:`V4l2Source` knows about its camera (for diagnostics).

    frames : good frames received from the device; dropped : frames lost (bad buffers, frames
    overwritten before the driver took them, gaps in the Lepton frame counter);
    bad_buffers : short, oversized or garbled buffers; reconnects : successful re-opens.
    """

    device: str = ""
    connected: bool = False
    reconnecting: bool = False
    last_error: str = ""
    frames: int = 0
    dropped: int = 0
    bad_buffers: int = 0
    reconnects: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    telemetry: bool = False
    stream_format: str = ""  # what the frames hold and what is published (for diagnostics)
    metadata_rows: int = 0  # InfiRay rows after the thermal half
    usb_serial: str = ""  # the USB device's serial number ('' where the host does not say)
    fpa_temperature_c: float = math.nan
    last_frame_counter: int | None = None
    history: list[str] = field(default_factory=list)  # connection events, newest last


class V4l2Source:
    """Frames of a Y16 or InfiRay camera for the driver (see the module docstring).

    Parameters
    ----------
    device : a :class:`Y16Device`, or a device string for :func:`open_device`.
    width, height : format to request, telemetry lines (InfiRay: display and metadata rows)
        included (0: the device's default; InfiRay: 256x384).
    telemetry : one of :data:`TELEMETRY_MODES` (``y16`` only).
    stream_format : one of :data:`V4L2_FORMATS`: ``y16``, or ``infiray`` (YUYV frames whose
        thermal half is published, :func:`decode_infiray`).
    fps : frame rate of a ``fake:`` device, Hz.
    default_shape : (H, W) image size assumed while the camera has never been connected.
    backoff : reconnection delays.
    max_bad_buffers : consecutive bad buffers after which the device is re-opened.
    """

    name = "v4l2"
    has_shutter = False  # the camera runs its own flat-field corrections
    HISTORY = 20

    def __init__(self, device: Y16Device | str, width: int = 0, height: int = 0,
                 telemetry: str = "auto", fps: float = 9.0,
                 default_shape: tuple[int, int] | None = None, backoff: Backoff | None = None,
                 max_bad_buffers: int = 10, stream_format: str = "y16") -> None:
        if telemetry not in TELEMETRY_MODES:
            raise ValueError(f"telemetry {telemetry!r}; known: {list(TELEMETRY_MODES)}")
        if stream_format not in V4L2_FORMATS:
            raise ValueError(f"stream format {stream_format!r}; known: {list(V4L2_FORMATS)}")
        if stream_format == "infiray":
            if telemetry.startswith("lepton"):
                raise ValueError(f"telemetry {telemetry}: InfiRay frames carry no Lepton "
                                 "telemetry (use auto or none)")
            if not (width or height):
                width, height = INFIRAY_FRAME
        spec = device if isinstance(device, str) else getattr(device, "name", "device")
        self.device = open_device(device, fps, stream_format) if isinstance(device, str) \
            else device
        self.name = f"v4l2:{spec}"
        self.width, self.height, self.telemetry = width, height, telemetry
        self.stream_format = stream_format
        self.backoff = backoff or Backoff()
        self.max_bad_buffers = max_bad_buffers
        self.state = CameraState(device=spec)
        self.interval_s: float | None = None
        self._queue: deque[Frame] = deque(maxlen=2)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._revision: int | None = None
        self._ffc = LeptonFfcTracker()
        self._connect()  # once here, so that the shape is known when the camera is present
        if self.state.connected:
            self.shape: tuple[int, int] = self._image_shape(self.state.width, self.state.height)
        elif width and height:
            self.shape = self._image_shape(width, height)
        elif default_shape is not None:
            self.shape = default_shape
        else:
            raise CameraDisconnected(errno.ENODEV, f"{spec}: {self.state.last_error} (give "
                                     "width and height to start without the camera)")
        self._thread = threading.Thread(target=self._run, name=f"v4l2 {spec}", daemon=True)
        self._thread.start()

    def _image_shape(self, width: int, height: int) -> tuple[int, int]:
        """(H, W) of the published images of a ``width`` x ``height`` stream; ValueError if
        the stream cannot carry them."""
        if self.stream_format == "infiray":
            layout = infiray_layout(width, height)
            if layout is None:
                raise ValueError(f"a {width}x{height} stream is not an InfiRay P2 Pro/TC001 "
                                 f"YUYV stream; expected {INFIRAY_LAYOUTS}")
            return layout.sensor_height, width
        return height - telemetry_lines(width, height, self.telemetry)[0], width

    def _describe_format(self, width: int, height: int) -> str:
        if self.stream_format == "infiray":
            layout = infiray_layout(width, height)
            return layout.describe() if layout else f"YUYV {width}x{height}"
        lines, where = telemetry_lines(width, height, self.telemetry)
        return f"Y16 {width}x{height}" + (f" with {lines} Lepton telemetry lines ({where}, "
                                          "stripped)" if lines else "")

    # -- capture thread ------------------------------------------------------------------

    def _event(self, text: str) -> None:
        history = self.state.history
        history.append(text)
        del history[:-self.HISTORY]

    def _connect(self) -> bool:
        try:
            fmt = self.device.open(self.width, self.height)
            try:
                image_shape = self._image_shape(fmt.width, fmt.height)
            except ValueError:
                self.device.close()
                raise
            shape = getattr(self, "shape", None)
            if shape is not None and image_shape != shape:
                self.device.close()
                raise OSError(errno.EINVAL, f"{fmt.path} now streams {image_shape[1]}x"
                              f"{image_shape[0]} images; the stream started with "
                              f"{shape[1]}x{shape[0]}")
        except (OSError, ValueError) as exc:
            with self._cond:
                self.state.connected = False
                self.state.reconnecting = True
                self.state.last_error = _describe(exc)
            return False
        with self._cond:
            was_connected_before = bool(self.state.history)
            s = self.state
            s.connected, s.reconnecting = True, False
            s.device, s.width, s.height, s.fps = fmt.path, fmt.width, fmt.height, fmt.fps
            s.usb_serial = usb_attribute(V4L_SYSFS / Path(fmt.path).name, "serial") \
                if str(fmt.path).startswith("/dev/video") else ""
            infiray = self.stream_format == "infiray"
            s.telemetry = not infiray and telemetry_lines(fmt.width, fmt.height,
                                                          self.telemetry)[0] > 0
            s.stream_format = self._describe_format(fmt.width, fmt.height)
            layout = infiray_layout(fmt.width, fmt.height) if infiray else None
            s.metadata_rows = layout.metadata_rows if layout else 0
            s.last_frame_counter = None
            if was_connected_before:
                s.reconnects += 1
            self._event(f"connected {fmt.path} {fmt.width}x{fmt.height} "
                        f"{'YUYV' if infiray else 'Y16'} at {fmt.fps:g} fps")
        self.interval_s = 1.0 / fmt.fps if fmt.fps > 0 else self.interval_s
        self._revision = None
        return True

    def _disconnect(self, reason: str) -> None:
        self.device.close()
        with self._cond:
            self.state.connected = False
            self.state.reconnecting = True
            self.state.last_error = reason
            self._event(f"lost: {reason}")
            self._cond.notify_all()

    def _run(self) -> None:
        bad_in_a_row = 0
        while not self._stop.is_set():
            if not self.state.connected:
                if not self._connect():
                    self._stop.wait(self.backoff.next_delay())
                continue
            try:
                buffer, mono_ns = self.device.read()
            except OSError as exc:
                self._disconnect(_describe(exc))
                self._stop.wait(self.backoff.next_delay())  # a flapping device backs off too
                continue
            stamp_ns = time.time_ns() - (time.monotonic_ns() - mono_ns) if mono_ns else \
                time.time_ns()
            try:
                frame = self._frame(buffer, stamp_ns)
            except ValueError as exc:
                bad_in_a_row += 1
                with self._cond:
                    self.state.bad_buffers += 1
                    self.state.dropped += 1
                    self.state.last_error = str(exc)
                if bad_in_a_row >= self.max_bad_buffers:
                    bad_in_a_row = 0
                    self._disconnect(f"{self.max_bad_buffers} bad buffers in a row ({exc})")
                    self._stop.wait(self.backoff.next_delay())
                continue
            bad_in_a_row = 0
            self.backoff.reset()  # a good frame: the next loss starts with short waits
            with self._cond:
                if len(self._queue) == self._queue.maxlen:
                    self.state.dropped += 1  # the oldest is overwritten
                self._queue.append(frame)
                self.state.frames += 1
                self._cond.notify_all()
        self.device.close()

    def _frame(self, buffer: bytes | NDArray, stamp_ns: int) -> Frame:
        s = self.state
        if self.stream_format == "infiray":
            counts, _ = decode_infiray(buffer, s.width, s.height)  # metadata: not published
            return Frame(counts=counts, stamp_ns=stamp_ns)
        counts, tel = decode_y16(buffer, s.width, s.height, self.telemetry)
        if tel is None:
            return Frame(counts=counts, stamp_ns=stamp_ns)
        if self._revision is None:
            self._revision = tel.revision
        elif tel.revision != self._revision:
            raise ValueError(f"garbled Y16 buffer: telemetry revision {tel.revision:#06x}, "
                             f"the stream has {self._revision:#06x}")
        with self._cond:
            previous = s.last_frame_counter
            if previous is not None and 1 < tel.frame_counter - previous < 1000:
                s.dropped += tel.frame_counter - previous - 1  # lost before reaching us
            s.last_frame_counter = tel.frame_counter
            s.fpa_temperature_c = tel.fpa_temperature_c
        return Frame(counts=counts, fpa_temperature_c=tel.fpa_temperature_c,
                     housing_temperature_c=tel.housing_temperature_c, stamp_ns=stamp_ns,
                     ffc_state=self._ffc.update(tel.ffc_state))


    # -- driver interface ----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.state.connected

    @property
    def dropped(self) -> int:
        return self.state.dropped

    def read(self, time_s: float = 0.0, shutter_closed: bool = False) -> Frame:
        """The newest frame not yet read (older queued ones count as dropped).

        Waits up to 3/4 of a frame period (at most 0.1 s) for it. Raises
        :class:`CameraDisconnected` while the camera is away and
        :class:`~thermal_perception.io.sources.NoFrame` when no new frame came in time.
        """
        wait_s = min(0.75 * (self.interval_s or 0.1), 0.1)
        with self._cond:
            if not self._queue and self.state.connected:
                self._cond.wait(wait_s)
            if self._queue:
                frame = self._queue.pop()
                self.state.dropped += len(self._queue)
                self._queue.clear()
                if frame.counts.shape != self.shape:
                    raise ValueError(f"camera frame of {frame.counts.shape[::-1]} in a "
                                     f"{self.shape[::-1]} stream")
                return frame
            if not self.state.connected:
                raise CameraDisconnected(errno.ENODEV, f"camera {self.state.device} "
                                         f"disconnected: {self.state.last_error}")
        raise NoFrame("no new camera frame yet")

    def snapshot(self) -> CameraState:
        """A copy of the state (safe to read while the capture thread runs)."""
        with self._cond:
            return copy.deepcopy(self.state)

    def health(self) -> tuple[str | None, dict[str, object]]:
        """(problem or None, values) for the driver's diagnostics."""
        s = self.snapshot()
        values: dict[str, object] = {
            "device": s.device, "connected": s.connected, "camera_frames": s.frames,
            "camera_dropped": s.dropped, "bad_buffers": s.bad_buffers,
            "reconnects": s.reconnects, "device_fps": s.fps, "telemetry": s.telemetry,
            "stream_format": s.stream_format, "metadata_rows": s.metadata_rows,
            "last_camera_error": s.last_error}
        problem = None if s.connected else \
            f"camera disconnected, reconnecting: {s.last_error}"
        return problem, values

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self.device.close()
