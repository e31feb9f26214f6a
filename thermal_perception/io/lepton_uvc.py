"""FLIR Lepton commands through a PureThermal board's UVC extension units (Linux, no rclpy).

PureThermal boards (GroupGets) stream the Lepton over USB video (UVC) and expose the Lepton's
command interface (CCI) as UVC *extension unit* controls. Facts used here, from the Lepton
Software IDD (FLIR 110-0144) command ids as the Lepton SDK headers define them, and the
mapping PureThermal's host tools (GetThermal, purethermal1-uvc-capture) use:

- a command id's module (``id & 0x3f00``) selects the extension unit: AGC 0x0100 -> unit 3,
  OEM 0x0800 -> 4, RAD 0x0E00 -> 5, SYS 0x0200 -> 6, VID 0x0300 -> 7;
- the control selector is ``((id & 0x00ff) >> 2) + 1``;
- GET reads the attribute (its length in 16-bit words x 2 bytes) with UVC GET_CUR, SET writes
  it with SET_CUR, RUN writes one byte (the selector) with SET_CUR;
- commands: SYS RUN FFC 0x0242; RAD TLinear enable state 0x0EC0 (2 words: 0 off, 1 on);
  RAD TLinear resolution 0x0EC4 (2 words: 0 = 0.1 K per count, 1 = 0.01 K).

On Linux the uvcvideo driver takes extension-unit requests through the ``UVCIOC_CTRL_QUERY``
ioctl on the video node (``struct uvc_xu_control_query``: unit, selector, query, size, data
pointer; ``linux/uvcvideo.h``). The ioctl is injectable so the byte layout is tested without
a camera; no real PureThermal board was available to check it end to end.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Callable
from pathlib import Path

UNIT_BY_MODULE = {0x0100: 3, 0x0800: 4, 0x0E00: 5, 0x0200: 6, 0x0300: 7}
SYS_RUN_FFC = 0x0242
RAD_TLINEAR_ENABLE_STATE = 0x0EC0
RAD_TLINEAR_RESOLUTION = 0x0EC4
TLINEAR_RESOLUTIONS_K = {0: 0.1, 1: 0.01}
UVC_SET_CUR, UVC_GET_CUR = 0x01, 0x81


class _XuQuery(ctypes.Structure):
    """``struct uvc_xu_control_query`` of linux/uvcvideo.h."""

    _fields_ = [("unit", ctypes.c_uint8), ("selector", ctypes.c_uint8),
                ("query", ctypes.c_uint8), ("size", ctypes.c_uint16),
                ("data", ctypes.POINTER(ctypes.c_uint8))]


def _iowr(kind: str, number: int, size: int) -> int:
    """Linux ``_IOWR(kind, number, size)``."""
    return (3 << 30) | (size << 16) | (ord(kind) << 8) | number


UVCIOC_CTRL_QUERY = _iowr("u", 0x21, ctypes.sizeof(_XuQuery))


class LeptonControlError(OSError):
    """A command the board refused or could not be sent; the message says which and why."""


def unit_and_selector(command_id: int) -> tuple[int, int]:
    """The extension unit and control selector of a Lepton command id."""
    unit = UNIT_BY_MODULE.get(command_id & 0x3F00)
    if unit is None:
        raise ValueError(f"Lepton command 0x{command_id:04x}: no PureThermal extension unit "
                         "for its module")
    return unit, ((command_id & 0x00FF) >> 2) + 1


class LeptonUvcControl:
    """Lepton commands on a PureThermal video node (e.g. ``/dev/video0``).

    ``ioctl(fd, request, query)`` defaults to :func:`fcntl.ioctl`; tests pass a fake that
    reads the :class:`_XuQuery` and answers into its buffer."""

    def __init__(self, device: str | Path,
                 ioctl: Callable[[int, int, _XuQuery], int] | None = None,
                 opener: Callable[[str], int] | None = None,
                 closer: Callable[[int], None] = os.close) -> None:
        self.device = str(device)
        if ioctl is None:
            import fcntl

            def ioctl(fd: int, request: int, query: _XuQuery) -> int:
                return fcntl.ioctl(fd, request, query)
        self._ioctl = ioctl
        self._open = opener or (lambda path: os.open(path, os.O_RDWR | os.O_NONBLOCK))
        self._close = closer

    def _query(self, command_id: int, query: int, data: bytearray) -> bytes:
        unit, selector = unit_and_selector(command_id)
        buffer = (ctypes.c_uint8 * len(data)).from_buffer(data)
        request = _XuQuery(unit=unit, selector=selector, query=query, size=len(data),
                           data=ctypes.cast(buffer, ctypes.POINTER(ctypes.c_uint8)))
        try:
            fd = self._open(self.device)
        except OSError as exc:
            raise LeptonControlError(exc.errno or errno.EIO,
                                     f"cannot open {self.device}: {exc.strerror}") from None
        try:
            self._ioctl(fd, UVCIOC_CTRL_QUERY, request)
        except OSError as exc:
            why = {errno.ENOENT: "the board has no such extension unit/control (not a "
                                 "PureThermal, or its firmware lacks it)",
                   errno.ENOTTY: "the device does not take UVC extension-unit requests",
                   errno.EPERM: "permission denied", errno.EACCES: "permission denied"}.get(
                exc.errno or 0, exc.strerror or "failed")
            raise LeptonControlError(exc.errno or errno.EIO,
                                     f"Lepton command 0x{command_id:04x} (unit {unit}, selector "
                                     f"{selector}) on {self.device}: {why}") from None
        finally:
            self._close(fd)
        return bytes(data)

    def run(self, command_id: int) -> None:
        """A RUN command (e.g. :data:`SYS_RUN_FFC`)."""
        _, selector = unit_and_selector(command_id)
        self._query(command_id, UVC_SET_CUR, bytearray([selector]))

    def get_u32(self, command_id: int) -> int:
        """A 2-word (32-bit, little-endian) attribute."""
        return struct.unpack("<I", self._query(command_id, UVC_GET_CUR, bytearray(4)))[0]

    def set_u32(self, command_id: int, value: int) -> None:
        self._query(command_id, UVC_SET_CUR, bytearray(struct.pack("<I", value)))

    def run_ffc(self) -> tuple[bool, str]:
        """Run the Lepton's flat-field correction: (done, what happened)."""
        try:
            self.run(SYS_RUN_FFC)
        except LeptonControlError as exc:
            return False, str(exc)
        return True, f"Lepton FFC run through {self.device} (SYS RUN FFC)"

    def tlinear(self) -> tuple[bool, float]:
        """(TLinear on, its resolution in K per count)."""
        enabled = self.get_u32(RAD_TLINEAR_ENABLE_STATE) == 1
        code = self.get_u32(RAD_TLINEAR_RESOLUTION)
        if code not in TLINEAR_RESOLUTIONS_K:
            raise LeptonControlError(errno.EIO, f"unknown TLinear resolution code {code}")
        return enabled, TLINEAR_RESOLUTIONS_K[code]

    def set_tlinear(self, enabled: bool, resolution_k: float = 0.01) -> None:
        """Turn TLinear output on (at 0.01 or 0.1 K per count) or off."""
        codes = {v: k for k, v in TLINEAR_RESOLUTIONS_K.items()}
        if resolution_k not in codes:
            raise ValueError(f"TLinear resolution must be 0.01 or 0.1 K, got {resolution_k}")
        if enabled:
            self.set_u32(RAD_TLINEAR_RESOLUTION, codes[resolution_k])
        self.set_u32(RAD_TLINEAR_ENABLE_STATE, 1 if enabled else 0)

