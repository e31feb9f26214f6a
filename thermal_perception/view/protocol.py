"""Messages between the view server and its page, and the checks on what a page may send.

Server -> page: binary frames (:func:`pack_frame`: 4-byte little-endian header length, a
JSON header, then the JPEG) and JSON text messages ``{"type": ...}``. Page -> server: small
JSON objects with an ``op``: ``ack`` (a frame was drawn), ``probe`` (temperature at a pixel),
``subscribe`` (which streams to receive). Anything else is refused with a reason.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

#: Streams a page can subscribe to (message ``type`` values of the server).
STREAMS = ("frame", "detections", "rois", "health", "diagnostics", "map")
#: Largest message a page may send, bytes (aiohttp closes the socket with 1009 above it).
MAX_CLIENT_MESSAGE_BYTES = 4096
_HEADER = struct.Struct("<I")


class ProtocolError(ValueError):
    """A page message that is refused; ``str()`` is the reason sent back."""


@dataclass(frozen=True)
class Ack:
    """The page drew frame ``seq``; ``latency_ms`` is capture -> drawn, ms (None: unknown)."""

    seq: int
    latency_ms: float | None = None


@dataclass(frozen=True)
class Probe:
    """Temperature under pixel (x, y) of the frame captured at ``stamp_ns`` (None: latest;
    sent as a decimal string, since ns stamps exceed the 2**53 of JavaScript numbers)."""

    x: int
    y: int
    stamp_ns: int | None = None


@dataclass(frozen=True)
class Subscribe:
    """Receive only these streams from now on."""

    streams: tuple[str, ...]


ClientMessage = Ack | Probe | Subscribe


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(f"{what} must be an integer in {low}..{high}, got {value!r}")
    return value


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse and check one message from a page; raises :class:`ProtocolError` with the reason."""
    if len(text) > MAX_CLIENT_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(text)} bytes; at most "
                            f"{MAX_CLIENT_MESSAGE_BYTES} are accepted")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("op"), str):
        raise ProtocolError('expected a JSON object with an "op" string')
    op = data["op"]
    if op == "ack":
        latency = data.get("latency_ms")
        if latency is not None and (isinstance(latency, bool)
                                    or not isinstance(latency, int | float)
                                    or not -1e6 < latency < 1e6):
            raise ProtocolError(f"latency_ms must be a number of ms, got {latency!r}")
        return Ack(_int(data.get("seq"), "seq", 0, 2**53),
                   None if latency is None else float(latency))
    if op == "probe":
        stamp = data.get("stamp_ns")
        if isinstance(stamp, str):  # stamps travel as strings: ns exceed JS's 2**53
            if not stamp.isdigit() or len(stamp) > 19:
                raise ProtocolError(f"stamp_ns must be a decimal string of ns, got {stamp!r}")
            stamp = int(stamp)
        return Probe(_int(data.get("x"), "x", 0, 65535), _int(data.get("y"), "y", 0, 65535),
                     None if stamp is None else _int(stamp, "stamp_ns", 0, 2**63 - 1))
    if op == "subscribe":
        streams = data.get("streams")
        if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
            raise ProtocolError('"streams" must be a list of stream names')
        unknown = sorted(set(streams) - set(STREAMS))
        if unknown:
            raise ProtocolError(f"unknown stream {unknown[0]!r}; known: {list(STREAMS)}")
        return Subscribe(tuple(streams))
    raise ProtocolError(f"unknown op {op!r}; known: ack, probe, subscribe")


def pack_frame(header: dict[str, Any], jpeg: bytes) -> bytes:
    """One binary WebSocket message: header length (uint32 LE), JSON header, JPEG bytes."""
    head = json.dumps(header, separators=(",", ":")).encode()
    return _HEADER.pack(len(head)) + head + jpeg


def unpack_frame(message: bytes) -> tuple[dict[str, Any], bytes]:
    """Inverse of :func:`pack_frame` (used by tests and the benchmark)."""
    (length,) = _HEADER.unpack_from(message)
    head = message[_HEADER.size:_HEADER.size + length]
    return json.loads(head), message[_HEADER.size + length:]


def text_message(kind: str, **fields: Any) -> str:
    """A JSON text message of type ``kind`` (NaN and infinities become null)."""
    return json.dumps({"type": kind, **_finite(fields)}, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
