"""FLIR Boson camera control over its serial port (USB CDC ``/dev/ttyACM*`` or UART): flat-field
correction, FFC and gain modes, 16-bit video type, FPA temperature, serial number, firmware.

Layers, each usable alone (no ROS here):

- framing, ids and codes of the protocol: :mod:`.boson_protocol`;
- :class:`BosonControl`: one command at a time over any byte transport (pyserial ``Serial``
  in real use, :class:`~thermal_perception.io.boson_fake.FakeBosonSerial` in tests), with
  timeouts and camera status codes turned into :class:`BosonError` s that say what happened;
- :class:`BosonLink`: what the driver uses. A thread owns the port: it connects (with
  exponential backoff while the port is missing or the camera does not answer), applies the
  configured modes, polls the FPA temperature and FFC status at a bounded rate and runs
  FFCs on request; its state feeds ``status`` and ``/diagnostics``.

Not confirmed from a FLIR document reachable here (so not used, or used with care):
the USB video IR16 mode command (sysctrlSetUsbVideoIR16Mode, 0x000E000D per the FLIR note
quoted above, value 2 = TLinear; the value of plain 16-bit pre-AGC output was not found):
not sent. On the USB Boson the Y16 UVC format the driver requests already carries 16-bit
data before AGC; ``dvoSetType(mono16)`` (option ``boson_output: mono16``) sets 16-bit video on
the digital video output and is meant for cores read through a CMOS/DVO capture, not verified
to matter over USB. bosonGetFFCStatus exists in the SDK's function table but older firmware
may not know it: a camera that answers "bad command" is then no longer asked. Nothing here
was run against a real camera: it is tested against a simulated one
(:mod:`thermal_perception.io.boson_fake`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import errno
import math
import queue
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from thermal_perception.io.boson_protocol import (
    BAUD_RATE,
    BOSON_GET_CAMERA_SN,
    BOSON_GET_FFC_MODE,
    BOSON_GET_FFC_STATUS,
    BOSON_GET_GAIN_MODE,
    BOSON_GET_SOFTWARE_REV,
    BOSON_LOOKUP_FPA_TEMP_DEGC_X10,
    BOSON_RUN_FFC,
    BOSON_SET_FFC_MODE,
    BOSON_SET_GAIN_MODE,
    DVO_GET_TYPE,
    DVO_SET_TYPE,
    FFC_MODES,
    FFC_STATUS_NAMES,
    GAIN_MODES,
    R_SUCCESS,
    STATUS_COMMAND,
    UNSUPPORTED,
    VIDEO_TYPES,
    BosonError,
    BosonFrameError,
    BosonStatusError,
    BosonTimeout,
    FrameReader,
    Packet,
    decode_frame,
    encode_packet,
    function_name,
)
from thermal_perception.io.v4l2 import Backoff

# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


class Transport(Protocol):
    """A byte pipe to the camera (pyserial ``Serial`` has this shape).

    ``read(n)`` returns up to ``n`` bytes, waiting at most the transport's own short timeout
    (b"" if nothing came); both raise OSError when the port fails or disappears.
    """

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int = 1) -> bytes: ...

    def close(self) -> None: ...


def open_serial(port: str, baud: int = BAUD_RATE, read_timeout_s: float = 0.02) -> Transport:
    """The serial port ``port`` (8N1, ``baud``) through pyserial.

    Raises OSError when the port is missing or busy, and RuntimeError when pyserial is not
    installed.
    """
    try:
        import serial
    except ImportError as exc:
        raise RuntimeError("FLIR Boson control needs pyserial: pip install 'pyserial>=3.5' "
                           "(requirements/python.txt)") from exc
    try:
        return serial.Serial(port, baudrate=baud, bytesize=serial.EIGHTBITS,
                             parity=serial.PARITY_NONE, stopbits=serial.STOPBITS_ONE,
                             timeout=read_timeout_s, write_timeout=1.0, exclusive=True)
    except serial.SerialException as exc:  # an OSError subclass; keep the system's words
        cause = exc.__context__ if isinstance(exc.__context__, OSError) else None
        code = getattr(cause or exc, "errno", None) or errno.EIO
        words = cause.strerror if cause is not None and cause.strerror else str(exc)
        if code in (errno.EAGAIN, errno.EBUSY):
            words = "in use by another program"
        raise OSError(code, words) from exc


FAKE_PORT = "fake:"


def open_port(port: str, baud: int = BAUD_RATE) -> Transport:
    """The transport of a ``serial_port`` parameter: a serial port path (:func:`open_serial`),
    or ``fake:`` for an in-process simulated camera (:mod:`.boson_fake`; demos, tests)."""
    if port == FAKE_PORT:
        from thermal_perception.io.boson_fake import FakeBosonSerial

        return FakeBosonSerial()
    if not port.strip():
        raise ValueError("no serial port given")
    return open_serial(port, baud)


def _i32(value: int) -> bytes:
    return struct.pack(">i", value)


class BosonControl:
    """Commands to one Boson over ``transport``, one at a time.

    Each command waits up to ``timeout_s`` for the answer with its sequence number (older
    answers are skipped). Errors: :class:`BosonTimeout` (no answer), :class:`BosonFrameError`
    (garbled answer), :class:`BosonStatusError` (the camera refused), OSError (port gone).
    """

    def __init__(self, transport: Transport, timeout_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.transport, self.timeout_s, self.clock = transport, timeout_s, clock
        self.sequence = 0
        self.reader = FrameReader()
        self.lock = threading.Lock()

    def command(self, function: int, payload: bytes = b"", answer_bytes: int | None = 0
                ) -> bytes:
        """Send ``function`` with ``payload``; the answer's payload (checked to be
        ``answer_bytes`` long unless None)."""
        with self.lock:
            self.sequence = (self.sequence + 1) & 0xFFFFFFFF
            sequence = self.sequence
            self.transport.write(encode_packet(Packet(sequence, function, STATUS_COMMAND,
                                                      payload)))
            deadline = self.clock() + self.timeout_s
            while True:
                for frame in self.reader.feed(self.transport.read(256)):
                    answer = decode_frame(frame)
                    if answer.sequence != sequence:
                        continue  # a late answer to an earlier command
                    if answer.function != function:
                        raise BosonFrameError(
                            f"answer to {function_name(function)} names "
                            f"{function_name(answer.function)}")
                    if answer.status != R_SUCCESS:
                        raise BosonStatusError(function, answer.status)
                    if answer_bytes is not None and len(answer.payload) != answer_bytes:
                        raise BosonFrameError(
                            f"{function_name(function)} answered {len(answer.payload)} "
                            f"payload bytes, expected {answer_bytes}")
                    return answer.payload
                if self.clock() > deadline:
                    raise BosonTimeout(f"no answer to {function_name(function)} within "
                                       f"{self.timeout_s:g} s")

    # -- the functions the driver uses ------------------------------------------------------

    def run_ffc(self) -> None:
        """bosonRunFFC: a flat-field correction now (returns when the camera acknowledged)."""
        self.command(BOSON_RUN_FFC)

    def serial_number(self) -> int:
        return struct.unpack(">I", self.command(BOSON_GET_CAMERA_SN, answer_bytes=4))[0]

    def software_revision(self) -> str:
        """Firmware version "major.minor.patch"."""
        return ".".join(str(v) for v in struct.unpack(
            ">III", self.command(BOSON_GET_SOFTWARE_REV, answer_bytes=12)))

    def fpa_temperature_c(self) -> float:
        """Focal-plane array temperature, degC (0.1 degC steps)."""
        return struct.unpack(">h", self.command(BOSON_LOOKUP_FPA_TEMP_DEGC_X10,
                                                answer_bytes=2))[0] / 10.0

    def ffc_status(self) -> int:
        """0 no FFC performed, 1 imminent, 2 in progress, 3 complete."""
        return struct.unpack(">i", self.command(BOSON_GET_FFC_STATUS, answer_bytes=4))[0]

    def _get_enum(self, function: int, names: dict[str, int]) -> str:
        value = struct.unpack(">i", self.command(function, answer_bytes=4))[0]
        return next((k for k, v in names.items() if v == value), f"unknown ({value})")

    def _set_enum(self, function: int, names: dict[str, int], what: str, name: str) -> None:
        if name not in names:
            raise ValueError(f"{what} {name!r}; known: {list(names)}")
        self.command(function, _i32(names[name]))

    def ffc_mode(self) -> str:
        return self._get_enum(BOSON_GET_FFC_MODE, FFC_MODES)

    def set_ffc_mode(self, mode: str) -> None:
        """manual (FFC only when commanded), auto (the camera decides) or external."""
        self._set_enum(BOSON_SET_FFC_MODE, FFC_MODES, "FFC mode", mode)

    def gain_mode(self) -> str:
        return self._get_enum(BOSON_GET_GAIN_MODE, GAIN_MODES)

    def set_gain_mode(self, mode: str) -> None:
        """high (more sensitive, smaller scene range), low (hot scenes) or auto."""
        self._set_enum(BOSON_SET_GAIN_MODE, GAIN_MODES, "gain mode", mode)

    def video_type(self) -> str:
        return self._get_enum(DVO_GET_TYPE, VIDEO_TYPES)

    def set_video_type(self, video_type: str) -> None:
        """dvoSetType: mono16 (16-bit before AGC), mono8 (after AGC) or color."""
        self._set_enum(DVO_SET_TYPE, VIDEO_TYPES, "video type", video_type)

    def close(self) -> None:
        self.transport.close()


# --------------------------------------------------------------------------------------------
# The driver's link: a thread that owns the port
# --------------------------------------------------------------------------------------------

UNCHANGED = "unchanged"


@dataclass
class BosonState:
    """What a :class:`BosonLink` knows (for status and diagnostics). NaN/"" while unknown."""

    port: str = ""
    connected: bool = False
    last_error: str = ""
    serial_number: str = ""
    firmware: str = ""
    fpa_temperature_c: float = math.nan
    ffc_status: int | None = None
    ffc_mode: str = ""
    gain_mode: str = ""
    commands: int = 0
    errors: int = 0
    ffcs: int = 0
    reconnects: int = 0
    unsupported: list[str] = field(default_factory=list)


class BosonLink:
    """Boson control for the driver (see the module docstring).

    Parameters
    ----------
    port : the port's name, for messages.
    open_transport : opens the port (:func:`open_serial` bound to a port, or a fake).
    ffc_mode, gain_mode, video_type : applied at every connection (``unchanged``: left alone);
        names of :data:`FFC_MODES`, :data:`GAIN_MODES`, :data:`VIDEO_TYPES`.
    poll_interval_s : time between FPA temperature / FFC status reads, s.
    timeout_s : answer timeout of one command, s.
    backoff : waits between connection attempts.
    log : called as ``log(level, message)`` ("info", "warning", "error") on connection events
        (from the link's thread).
    """

    def __init__(self, port: str, open_transport: Callable[[], Transport],
                 ffc_mode: str = UNCHANGED, gain_mode: str = UNCHANGED,
                 video_type: str = UNCHANGED, poll_interval_s: float = 1.0,
                 timeout_s: float = 0.5, backoff: Backoff | None = None,
                 log: Callable[[str, str], None] | None = None) -> None:
        for value, names, what in ((ffc_mode, FFC_MODES, "FFC mode"),
                                   (gain_mode, GAIN_MODES, "gain mode"),
                                   (video_type, VIDEO_TYPES, "video type")):
            if value != UNCHANGED and value not in names:
                raise ValueError(f"Boson {what} {value!r}; known: {[UNCHANGED, *names]}")
        if poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s must be > 0, got {poll_interval_s}")
        self.open_transport = open_transport
        self.modes = {"ffc": ffc_mode, "gain": gain_mode, "video": video_type}
        self.poll_interval_s, self.timeout_s = poll_interval_s, timeout_s
        self.backoff = backoff or Backoff(initial_s=0.5, max_s=10.0)
        self.log = log or (lambda level, message: None)
        self.state = BosonState(port=port)
        self.control: BosonControl | None = None
        self._lock = threading.Lock()
        self._requests: queue.Queue[tuple[str, concurrent.futures.Future]] = queue.Queue()
        self._stop = threading.Event()
        self._skip: set[int] = set()
        self._lost_logged = False
        self._thread = threading.Thread(target=self._run, name=f"boson {port}", daemon=True)
        self._thread.start()

    # -- requests from the driver -----------------------------------------------------------

    def run_ffc(self, wait_s: float | None = None) -> tuple[bool, str]:
        """Run an FFC; (True, message) once the camera acknowledged it, else (False, why)."""
        with self._lock:
            if not self.state.connected:
                return False, (f"Boson control on {self.state.port} is not connected: "
                               f"{self.state.last_error or 'connecting'}")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._requests.put(("ffc", future))
        try:
            return future.result(timeout=wait_s if wait_s is not None else
                                 2.0 * self.timeout_s + 1.0)
        except concurrent.futures.TimeoutError:
            return False, "the Boson link is busy; no answer in time"

    def snapshot(self) -> BosonState:
        with self._lock:
            return copy.deepcopy(self.state)

    def health(self) -> tuple[str | None, dict[str, object]]:
        """(problem or None, values) for /diagnostics."""
        s = self.snapshot()
        values: dict[str, object] = {
            "serial_port": s.port, "connected": s.connected, "serial_number": s.serial_number,
            "firmware": s.firmware, "fpa_temperature_c": s.fpa_temperature_c,
            "ffc_status": FFC_STATUS_NAMES.get(s.ffc_status, "unknown")
            if s.ffc_status is not None else "unknown",
            "ffc_mode": s.ffc_mode, "gain_mode": s.gain_mode, "ffcs": s.ffcs,
            "commands": s.commands, "errors": s.errors, "reconnects": s.reconnects,
            "unsupported_commands": ", ".join(s.unsupported), "last_error": s.last_error}
        problem = None if s.connected else (
            f"Boson control on {s.port} not connected, retrying: "
            f"{s.last_error or 'connecting'}")
        return problem, values

    def close(self) -> None:
        self._stop.set()
        self._requests.put(("stop", concurrent.futures.Future()))
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0 + self.timeout_s)
        self._drop()

    # -- the thread -------------------------------------------------------------------------

    def _say(self, level: str, message: str) -> None:
        """Log through the caller's ``log``; a failing logger never stops the link."""
        with contextlib.suppress(Exception):  # the link must outlive its logger
            self.log(level, message)

    def _count(self, error: bool = False) -> None:
        with self._lock:
            self.state.commands += 1
            self.state.errors += error

    def _call(self, method: Callable[[], object]) -> object:
        try:
            result = method()
        except BosonError:
            self._count(error=True)
            raise
        self._count()
        return result

    def _connect(self) -> bool:
        try:
            control = BosonControl(self.open_transport(), self.timeout_s)
        except (OSError, RuntimeError, ValueError) as exc:
            self._lost(f"cannot open {self.state.port}: {getattr(exc, 'strerror', None) or exc}")
            return False
        self.control = control
        try:
            serial_number = self._call(control.serial_number)
            firmware = self._call(control.software_revision)
            applied = []
            for key, setter in (("ffc", control.set_ffc_mode), ("gain", control.set_gain_mode),
                                ("video", control.set_video_type)):
                if self.modes[key] != UNCHANGED:
                    self._call(lambda s=setter, k=key: s(self.modes[k]))
                    applied.append(f"{key} {self.modes[key]}")
            ffc_mode = self._call(control.ffc_mode)
            gain_mode = self._call(control.gain_mode)
        except (BosonError, OSError) as exc:
            self._lost(self._reason(exc))
            return False
        with self._lock:
            s = self.state
            s.reconnects += bool(s.serial_number)  # connected before
            s.connected, s.last_error = True, ""
            s.serial_number, s.firmware = str(serial_number), str(firmware)
            s.ffc_mode, s.gain_mode = str(ffc_mode), str(gain_mode)
        self._lost_logged = False
        self.backoff.reset()
        self._say("info", f"Boson on {self.state.port}: serial {serial_number}, firmware "
                         f"{firmware}, FFC {ffc_mode}, gain {gain_mode}"
                 + (f" (set {', '.join(applied)})" if applied else ""))
        self._poll()
        return True

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, BosonTimeout):
            return (f"the camera does not answer on {self.state.port} ({exc}; wrong port, "
                    "baud rate or camera off?)")
        if isinstance(exc, OSError):
            return f"{self.state.port}: {exc.strerror or exc}"
        return str(exc)

    def _drop(self) -> None:
        control, self.control = self.control, None
        if control is not None:
            with contextlib.suppress(OSError):
                control.close()

    def _lost(self, reason: str) -> None:
        self._drop()
        with self._lock:
            self.state.connected = False
            self.state.last_error = reason
        if not self._lost_logged:  # once per loss; /diagnostics keeps reporting it
            self._lost_logged = True
            self._say("error", f"Boson control: {reason}; retrying")

    def _poll(self) -> None:
        """FPA temperature and FFC status (functions the camera does not know are skipped)."""
        assert self.control is not None
        for function, method, key in (
                (BOSON_LOOKUP_FPA_TEMP_DEGC_X10, self.control.fpa_temperature_c,
                 "fpa_temperature_c"),
                (BOSON_GET_FFC_STATUS, self.control.ffc_status, "ffc_status")):
            if function in self._skip:
                continue
            try:
                value = self._call(method)
            except BosonStatusError as exc:
                if exc.status in UNSUPPORTED:
                    self._skip.add(function)
                    with self._lock:
                        self.state.unsupported.append(function_name(function))
                    self._say("warning", f"Boson: {exc}; not asked again")
                    continue
                raise
            with self._lock:
                setattr(self.state, key, value)

    def _serve(self, kind: str, future: concurrent.futures.Future) -> None:
        if kind != "ffc" or future.done():
            return
        if self.control is None:
            future.set_result((False, f"Boson control on {self.state.port} is not connected: "
                                      f"{self.state.last_error}"))
            return
        try:
            self._call(self.control.run_ffc)
        except BosonStatusError as exc:
            future.set_result((False, str(exc)))
            return
        except (BosonError, OSError) as exc:
            reason = self._reason(exc)
            future.set_result((False, f"bosonRunFFC failed: {reason}"))
            raise
        with self._lock:
            self.state.ffcs += 1
        future.set_result((True, f"FFC acknowledged by the Boson on {self.state.port}"))

    def _run(self) -> None:
        next_poll = 0.0
        while not self._stop.is_set():
            if self.control is None:
                if not self._connect():
                    self._fail_waiting()
                    self._stop.wait(self.backoff.next_delay())
                    continue
                next_poll = time.monotonic() + self.poll_interval_s
            try:
                kind, future = self._requests.get(
                    timeout=max(0.0, next_poll - time.monotonic()))
            except queue.Empty:
                kind, future = "", None
            try:
                if future is not None:
                    self._serve(kind, future)
                    if kind == "ffc":
                        next_poll = time.monotonic()  # see the FFC state soon
                if time.monotonic() >= next_poll and not self._stop.is_set():
                    self._poll()
                    next_poll = time.monotonic() + self.poll_interval_s
            except (BosonFrameError, BosonStatusError) as exc:  # an answer: link kept
                with self._lock:
                    self.state.last_error = str(exc)
            except (BosonError, OSError) as exc:
                self._lost(self._reason(exc))
        self._fail_waiting()

    def _fail_waiting(self) -> None:
        """Answer requests that came while the port was down."""
        while True:
            try:
                _, future = self._requests.get_nowait()
            except queue.Empty:
                return
            if not future.done():
                future.set_result((False, f"Boson control on {self.state.port} is not "
                                          f"connected: {self.state.last_error}"))
