"""A simulated FLIR Boson control port for tests and demos without the camera.

:class:`FakeBosonCamera` is the camera side of the protocol (:mod:`.boson_protocol`): it parses
the frames it receives, checks start/end bytes, escaping, channel, CRC and the command status
field strictly (every violation is recorded in ``violations`` and left unanswered, as the
camera would), and answers like a Boson: FFC mode, gain mode, video type, an FFC counter and
status, FPA temperature, serial number and firmware. Faults can be injected: ``no_answer``,
``bad_crc``, ``error_status`` (answers with :attr:`error_status`), ``garbage`` (noise before
the answer), ``unplug``/``replug``.

Two ways to reach it: :class:`FakeBosonSerial`, an in-process transport (what pyserial's
``Serial`` offers), and :class:`FakeBosonPty`, a pseudo-terminal whose other end a separate
process opens as a real serial port (the driver's ``serial_port`` parameter).
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from thermal_perception.io import boson_protocol as bp

FAULTS = ("no_answer", "bad_crc", "error_status", "garbage")


@dataclass
class FakeBosonCamera:
    """The camera's side of the protocol; ``handle`` takes bytes and returns the answer bytes.

    ffc_duration_s : how long the FFC status stays "in progress" after bosonRunFFC, s.
    """

    serial_number: int = 93588
    firmware: tuple[int, int, int] = (3, 0, 1)
    fpa_temperature_c: float = 38.0
    ffc_mode: int = bp.FFC_MODES["auto"]
    gain_mode: int = bp.GAIN_MODES["high"]
    video_type: int = bp.VIDEO_TYPES["mono16"]
    ffc_duration_s: float = 0.1
    supports_ffc_status: bool = True
    error_status: int = 0x202  # FLR_NOT_READY
    ffc_count: int = 0
    received: list[bp.Packet] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    faults: deque[str] = field(default_factory=deque)
    _ffc_started: float | None = None
    _reader: bp.FrameReader = field(default_factory=bp.FrameReader)

    def inject(self, *faults: str) -> None:
        """Queue faults for the next commands (one per command)."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {list(FAULTS)}")
        self.faults.extend(faults)

    def functions(self) -> list[int]:
        """Function ids received, in order."""
        return [p.function for p in self.received]

    @property
    def ffc_status(self) -> int:
        if self._ffc_started is None:
            return 0
        if time.monotonic() - self._ffc_started < self.ffc_duration_s:
            return 2
        return 3

    def handle(self, data: bytes) -> bytes:
        """Bytes from the host in, the camera's answers out."""
        out = b""
        for frame in self._reader.feed(data):
            try:
                packet = bp.decode_frame(frame)
            except bp.BosonFrameError as exc:
                self.violations.append(str(exc))
                continue
            if packet.status != bp.STATUS_COMMAND:
                self.violations.append(f"command status {packet.status:#010x}, not 0xFFFFFFFF")
                continue
            self.received.append(packet)
            out += self._answer(packet)
        return out

    def _answer(self, packet: bp.Packet) -> bytes:
        fault = self.faults.popleft() if self.faults else None
        if fault == "no_answer":
            return b""
        if fault == "error_status":
            return bp.encode_packet(bp.Packet(packet.sequence, packet.function,
                                              self.error_status))
        status, payload = self._execute(packet)
        frame = bp.encode_packet(bp.Packet(packet.sequence, packet.function, status, payload))
        if fault == "bad_crc":  # flip a bit of the CRC's low byte (never a reserved value)
            body = bytearray(bp.unescape(frame[1:-1]))
            body[-1] ^= 0x01
            frame = bytes((bp.START,)) + bp.escape(bytes(body)) + bytes((bp.END,))
        if fault == "garbage":
            frame = bytes((0x00, 0x55, bp.END, 0x13)) + frame
        return frame

    def _execute(self, p: bp.Packet) -> tuple[int, bytes]:
        """(status, payload) of one command."""
        def enum_arg() -> int | None:
            return struct.unpack(">i", p.payload)[0] if len(p.payload) == 4 else None

        no_args = {bp.BOSON_GET_CAMERA_SN, bp.BOSON_RUN_FFC, bp.BOSON_GET_FFC_MODE,
                   bp.BOSON_GET_GAIN_MODE, bp.BOSON_GET_SOFTWARE_REV,
                   bp.BOSON_LOOKUP_FPA_TEMP_DEGC_X10, bp.BOSON_GET_FFC_STATUS,
                   bp.DVO_GET_TYPE}
        setters = {bp.BOSON_SET_FFC_MODE: ("ffc_mode", bp.FFC_MODES),
                   bp.BOSON_SET_GAIN_MODE: ("gain_mode", bp.GAIN_MODES),
                   bp.DVO_SET_TYPE: ("video_type", bp.VIDEO_TYPES)}
        f = p.function
        if f == bp.BOSON_GET_FFC_STATUS and not self.supports_ffc_status:
            return bp.R_CAM_DSPCH_BAD_CMD_ID, b""
        if f in no_args:
            if p.payload:
                return 0x17E, b""  # R_CAM_PKG_EXCESS_BYTES
            if f == bp.BOSON_RUN_FFC:
                self.ffc_count += 1
                self._ffc_started = time.monotonic()
                return bp.R_SUCCESS, b""
            answers = {
                bp.BOSON_GET_CAMERA_SN: lambda: struct.pack(">I", self.serial_number),
                bp.BOSON_GET_FFC_MODE: lambda: struct.pack(">i", self.ffc_mode),
                bp.BOSON_GET_GAIN_MODE: lambda: struct.pack(">i", self.gain_mode),
                bp.BOSON_GET_SOFTWARE_REV: lambda: struct.pack(">III", *self.firmware),
                bp.BOSON_LOOKUP_FPA_TEMP_DEGC_X10:
                    lambda: struct.pack(">h", round(self.fpa_temperature_c * 10)),
                bp.BOSON_GET_FFC_STATUS: lambda: struct.pack(">i", self.ffc_status),
                bp.DVO_GET_TYPE: lambda: struct.pack(">i", self.video_type)}
            return bp.R_SUCCESS, answers[f]()
        if f in setters:
            name, names = setters[f]
            value = enum_arg()
            if value is None:
                return 0x17D, b""  # R_CAM_PKG_INSUFFICIENT_BYTES
            if value not in names.values():
                return 0x181, b""  # R_CAM_API_INVALID_INPUT
            setattr(self, name, value)
            return bp.R_SUCCESS, b""
        return bp.R_CAM_DSPCH_BAD_CMD_ID, b""


class FakeBosonSerial:
    """An in-process transport to a :class:`FakeBosonCamera` (the shape of pyserial's
    ``Serial``). ``unplug()`` makes reads and writes fail like a removed USB device."""

    def __init__(self, camera: FakeBosonCamera | None = None, read_timeout_s: float = 0.005
                 ) -> None:
        self.camera = camera or FakeBosonCamera()
        self.read_timeout_s = read_timeout_s
        self.plugged = True
        self.is_open = True
        self.written = bytearray()
        self._pending = bytearray()
        self._lock = threading.Lock()

    def _check(self) -> None:
        if not self.plugged:
            raise OSError(errno.EIO, "Input/output error (device unplugged)")
        if not self.is_open:
            raise OSError(errno.EBADF, "port not open")

    def write(self, data: bytes) -> int:
        with self._lock:
            self._check()
            self.written += data
            self._pending += self.camera.handle(bytes(data))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        with self._lock:
            self._check()
            if self._pending:
                out = bytes(self._pending[:size])
                del self._pending[:size]
                return out
        time.sleep(self.read_timeout_s)
        return b""

    def unplug(self) -> None:
        self.plugged = False

    def replug(self) -> None:
        self.plugged = True

    def close(self) -> None:
        self.is_open = False


class FakeBosonPty:
    """A :class:`FakeBosonCamera` behind a pseudo-terminal: ``port`` is the path another
    process opens as a serial port. ``unplug()`` stops answering and closes the port."""

    def __init__(self, camera: FakeBosonCamera | None = None) -> None:
        import tty

        self.camera = camera or FakeBosonCamera()
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave  # kept open so the pty survives the host closing its end
        self._stop = threading.Event()
        self.answering = True
        self._thread = threading.Thread(target=self._run, name="fake boson pty", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                continue
            answer = self.camera.handle(data) if self.answering else b""
            if answer:
                with contextlib.suppress(OSError):
                    os.write(self._master, answer)

    def unplug(self) -> None:
        """The camera stops answering (what a host sees of a hung or removed camera)."""
        self.answering = False

    def replug(self) -> None:
        self.answering = True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
