"""FLIR Boson serial protocol: FSLP framing (:func:`crc16`, :func:`escape`/:func:`unescape`,
:func:`encode_packet`, :func:`decode_frame`, :class:`FrameReader`, which splits a byte stream
into frames), function ids, enums and status codes, and the errors they turn into. No I/O here
(the link is :mod:`.boson_serial`).

Protocol facts and where they come from
---------------------------------------
FLIR's public tool ``rawBoson`` (github.com/FLIR/rawBoson, ``rawBoson.c``, FLIR Systems 2017;
it sends "any command that is in the Boson ICD" over serial) and the Boson SDK files that
FLIR ships with the Boson Software IDD (doc. 102-2013-42; copies of ``FunctionCodes.h``,
``EnumTypes.h``, ``ReturnCodes.h`` and ``Client_Packager`` are in many public repositories):

- FSLP frame: start byte 0x8E, channel byte (0 = FLIR binary protocol), the packet, a CRC,
  end byte 0xAE. Inside the frame (channel to CRC) the bytes 0x8E, 0x9E and 0xAE are sent as
  0x9E followed by 0x81, 0x91 and 0xA1 respectively (0x9E is the escape byte); start and end
  bytes are never escaped. (rawBoson.c ``Boson_Build_FSLP``, ``Boson_BitStuffing``.)
- Packet, all big-endian: 4-byte sequence number (the answer repeats it), 4-byte function
  id, 4-byte status (0xFFFFFFFF in a command, 0 = R_SUCCESS in a good answer, else an error
  code), then 0..751 payload bytes (rawBoson ``MAX_DATA_BYTES``; the IDD limit is not
  confirmed here).
- CRC: CRC-16/AUG-CCITT, polynomial 0x1021, initial value 0x1D0F, no reflection, no final
  xor (check value 0xE5CC for "123456789"), over the unescaped bytes from the channel byte to
  the last payload byte, sent big-endian before the end byte (rawBoson.c
  ``CalcBlockCRC16``). Cross-checked here against frames captured from a Boson and published
  with a FLIR support note (github.com/thurberdog/ghostCommand README): every one of them
  carries exactly this CRC; the test suite uses them as known answers.
- Serial line: 921600 baud, 8 data bits, no parity, 1 stop bit (rawBoson's usage text
  ``-b921600``; the USB CDC port ignores the rate).
- Function ids (``FunctionCodes.h``): bosonGetCameraSN 0x00050002, bosonRunFFC 0x00050007,
  bosonSetFFCMode 0x00050012, bosonGetFFCMode 0x00050013, bosonSetGainMode 0x00050014,
  bosonGetGainMode 0x00050015, bosonGetSoftwareRev 0x00050022, bosonlookupFPATempDegCx10
  0x00050030, bosonGetFFCStatus 0x00050054, dvoSetType 0x0006000F, dvoGetType 0x00060010.
- Payloads (``Client_Packager``): enums are 4-byte signed integers; bosonGetCameraSN answers a
  uint32; bosonGetSoftwareRev three uint32 (major, minor, patch); bosonlookupFPATempDegCx10 an
  int16 in 0.1 degC; bosonRunFFC has no payload either way.
- Enums (``EnumTypes.h``): FFC mode manual 0, auto 1, external 2; gain mode high 0, low 1,
  auto 2; FFC status none 0, imminent 1, in progress 2, complete 3 (the same numbers as
  ThermalStatus' FFC_STATE_*); DVO type mono16 0, mono8 1, color 2.
- Status codes (``ReturnCodes.h``): see :data:`STATUS_NAMES`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# -- framing constants (see the module docstring) ---------------------------------------------
START, END, ESCAPE = 0x8E, 0xAE, 0x9E
ESCAPED = {START: 0x81, ESCAPE: 0x91, END: 0xA1}
UNESCAPED = {v: k for k, v in ESCAPED.items()}
CHANNEL = 0x00  # FLIR binary protocol
CRC_POLY, CRC_INIT = 0x1021, 0x1D0F  # CRC-16/AUG-CCITT
STATUS_COMMAND = 0xFFFFFFFF  # status field of a command
HEADER_BYTES = 12  # sequence, function, status
MAX_PAYLOAD = 751
BAUD_RATE = 921600

# -- function ids (FunctionCodes.h) ----------------------------------------------------------
BOSON_GET_CAMERA_SN = 0x00050002
BOSON_RUN_FFC = 0x00050007
BOSON_SET_FFC_MODE = 0x00050012
BOSON_GET_FFC_MODE = 0x00050013
BOSON_SET_GAIN_MODE = 0x00050014
BOSON_GET_GAIN_MODE = 0x00050015
BOSON_GET_SOFTWARE_REV = 0x00050022
BOSON_LOOKUP_FPA_TEMP_DEGC_X10 = 0x00050030
BOSON_GET_FFC_STATUS = 0x00050054
DVO_SET_TYPE = 0x0006000F
DVO_GET_TYPE = 0x00060010
FUNCTION_NAMES = {
    BOSON_GET_CAMERA_SN: "bosonGetCameraSN", BOSON_RUN_FFC: "bosonRunFFC",
    BOSON_SET_FFC_MODE: "bosonSetFFCMode", BOSON_GET_FFC_MODE: "bosonGetFFCMode",
    BOSON_SET_GAIN_MODE: "bosonSetGainMode", BOSON_GET_GAIN_MODE: "bosonGetGainMode",
    BOSON_GET_SOFTWARE_REV: "bosonGetSoftwareRev",
    BOSON_LOOKUP_FPA_TEMP_DEGC_X10: "bosonlookupFPATempDegCx10",
    BOSON_GET_FFC_STATUS: "bosonGetFFCStatus", DVO_SET_TYPE: "dvoSetType",
    DVO_GET_TYPE: "dvoGetType"}

# -- enums (EnumTypes.h) ---------------------------------------------------------------------
FFC_MODES = {"manual": 0, "auto": 1, "external": 2}
GAIN_MODES = {"high": 0, "low": 1, "auto": 2}
VIDEO_TYPES = {"mono16": 0, "mono8": 1, "color": 2}
FFC_STATUS_NAMES = {0: "no FFC performed", 1: "FFC imminent", 2: "FFC in progress",
                    3: "FFC complete"}

# -- status codes (ReturnCodes.h) ------------------------------------------------------------
R_SUCCESS = 0
R_CAM_DSPCH_BAD_CMD_ID = 0x161
FLR_UNDEFINED_FUNCTION_ERROR = 0x207
STATUS_NAMES = {
    0x150: "R_CAM_RX_UNSPECIFIED_FAILURE", 0x160: "R_CAM_DSPCH_UNSPECIFIED_FAILURE",
    0x161: "R_CAM_DSPCH_BAD_CMD_ID (unknown command)",
    0x162: "R_CAM_DSPCH_BAD_PAYLOAD_STATUS", 0x170: "R_CAM_PKG_UNSPECIFIED_FAILURE",
    0x17D: "R_CAM_PKG_INSUFFICIENT_BYTES (payload too short)",
    0x17E: "R_CAM_PKG_EXCESS_BYTES (payload too long)", 0x17F: "R_CAM_PKG_BUFFER_OVERFLOW",
    0x180: "R_CAM_API_UNSPECIFIED_FAILURE", 0x181: "R_CAM_API_INVALID_INPUT (value refused)",
    0x190: "R_CAM_TX_UNSPECIFIED_FAILURE", 0x1A0: "R_API_RX_UNSPECIFIED_FAILURE",
    0x1B0: "R_CAM_FEATURE_NOT_ENABLED", 0x201: "FLR_ERROR", 0x202: "FLR_NOT_READY (camera busy)",
    0x203: "FLR_RANGE_ERROR", 0x204: "FLR_CHECKSUM_ERROR", 0x205: "FLR_BAD_ARG_POINTER_ERROR",
    0x206: "FLR_DATA_SIZE_ERROR", 0x207: "FLR_UNDEFINED_FUNCTION_ERROR"}
UNSUPPORTED = (R_CAM_DSPCH_BAD_CMD_ID, FLR_UNDEFINED_FUNCTION_ERROR)


class BosonError(Exception):
    """A Boson command failed; the message says which and why."""


class BosonTimeout(BosonError):
    """No complete answer in time (camera off, wrong port, wrong baud rate, cable)."""


class BosonFrameError(BosonError):
    """A malformed frame: bad CRC, bad escaping, too short, wrong channel or function."""


class BosonStatusError(BosonError):
    """The camera answered with an error status."""

    def __init__(self, function: int, status: int) -> None:
        self.function, self.status = function, status
        super().__init__(f"{function_name(function)} refused by the camera: status "
                         f"{status:#06x} {STATUS_NAMES.get(status, '(unknown code)')}")


def function_name(function: int) -> str:
    return FUNCTION_NAMES.get(function, f"function {function:#010x}")


# --------------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------------


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/AUG-CCITT (poly 0x1021, init 0x1D0F, MSB first, no final xor) of ``data``."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = (crc << 1) ^ CRC_POLY if crc & 0x8000 else crc << 1
        crc &= 0xFFFF
    return crc


def escape(data: bytes) -> bytes:
    """``data`` with the reserved bytes 0x8E, 0x9E, 0xAE sent as 0x9E + 0x81/0x91/0xA1."""
    out = bytearray()
    for byte in data:
        if byte in ESCAPED:
            out += bytes((ESCAPE, ESCAPED[byte]))
        else:
            out.append(byte)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Inverse of :func:`escape`; BosonFrameError for a reserved byte or a bad escape."""
    out = bytearray()
    it = iter(data)
    for byte in it:
        if byte == ESCAPE:
            nxt = next(it, None)
            if nxt not in UNESCAPED:
                raise BosonFrameError("bad escape sequence 0x9E " + (
                    "at the end of the frame" if nxt is None else f"{nxt:#04x}"))
            out.append(UNESCAPED[nxt])
        elif byte in (START, END):
            raise BosonFrameError(f"unescaped reserved byte {byte:#04x} inside a frame")
        else:
            out.append(byte)
    return bytes(out)


@dataclass(frozen=True)
class Packet:
    """One command or answer: sequence number, function id, status, payload bytes."""

    sequence: int
    function: int
    status: int = STATUS_COMMAND
    payload: bytes = b""


def encode_packet(packet: Packet, channel: int = CHANNEL) -> bytes:
    """The bytes on the wire for ``packet``: start, escaped (channel, packet, CRC), end."""
    if len(packet.payload) > MAX_PAYLOAD:
        raise ValueError(f"Boson payload of {len(packet.payload)} bytes; at most {MAX_PAYLOAD}")
    body = struct.pack(">BIII", channel, packet.sequence & 0xFFFFFFFF, packet.function,
                       packet.status) + packet.payload
    return bytes((START,)) + escape(body + struct.pack(">H", crc16(body))) + bytes((END,))


def decode_frame(frame: bytes, channel: int = CHANNEL) -> Packet:
    """The packet of one frame (start and end bytes included).

    Raises BosonFrameError for a missing start/end byte, bad escaping, a short frame, a CRC
    mismatch or another channel.
    """
    if len(frame) < 2 or frame[0] != START or frame[-1] != END:
        raise BosonFrameError("a frame starts with 0x8E and ends with 0xAE")
    body = unescape(frame[1:-1])
    if len(body) < 1 + HEADER_BYTES + 2:
        raise BosonFrameError(f"frame of {len(body)} bytes; at least {1 + HEADER_BYTES + 2}")
    data, (sent_crc,) = body[:-2], struct.unpack(">H", body[-2:])
    if crc16(data) != sent_crc:
        raise BosonFrameError(f"CRC mismatch: frame says {sent_crc:#06x}, bytes give "
                              f"{crc16(data):#06x}")
    if data[0] != channel:
        raise BosonFrameError(f"frame on channel {data[0]}, expected {channel}")
    sequence, function, status = struct.unpack(">III", data[1:1 + HEADER_BYTES])
    return Packet(sequence, function, status, bytes(data[1 + HEADER_BYTES:]))


class FrameReader:
    """Splits a byte stream into frames (start to end byte); bytes outside frames are
    counted in ``discarded``. At most ``max_frame`` bytes are kept for one frame."""

    def __init__(self, max_frame: int = 2 * (1 + HEADER_BYTES + MAX_PAYLOAD + 2) + 2) -> None:
        self.max_frame = max_frame
        self.discarded = 0
        self._buffer: bytearray | None = None

    def feed(self, data: bytes) -> list[bytes]:
        frames = []
        for byte in data:
            if byte == START:
                if self._buffer is not None:
                    self.discarded += len(self._buffer)  # a frame cut short
                self._buffer = bytearray((START,))
            elif self._buffer is None:
                self.discarded += 1
            else:
                self._buffer.append(byte)
                if byte == END:
                    frames.append(bytes(self._buffer))
                    self._buffer = None
                elif len(self._buffer) > self.max_frame:
                    self.discarded += len(self._buffer)
                    self._buffer = None
        return frames
