"""FLIR radiometric files: FFF records (also inside radiometric JPEGs) and SEQ sequences.

Layout as documented by ExifTool (Image::ExifTool::FLIR): "FFF\\0" + creator, a big-endian
header with the directory offset (0x18) and entry count (0x1c); 32-byte directory entries
(u16 type, u16 subtype, u32 version, u32 id, u32 offset, u32 length). Record type 1 is the raw
image (32-byte header: u16 width at 2, height at 4, then uint16 pixels); type 0x20 is the
camera info with the Planck constants and measurement parameters (float32 at ExifTool's
offsets). Byte order of each record is detected from plausible values.
A SEQ file is FFF records one after another.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

FFF_MAGIC = b"FFF\0"
RAW_RECORD = 1
CAMERA_INFO_RECORD = 0x20
RAW_HEADER_BYTES = 32
# CameraInfo fields: name -> (offset, struct code)
CAMERA_INFO_FIELDS = {
    "emissivity": (0x20, "f"), "distance_m": (0x24, "f"), "reflected_k": (0x28, "f"),
    "atmosphere_k": (0x2C, "f"), "window_k": (0x30, "f"), "window_transmission": (0x34, "f"),
    "relative_humidity": (0x3C, "f"), "R1": (0x58, "f"), "B": (0x5C, "f"), "F": (0x60, "f"),
    "alpha1": (0x70, "f"), "alpha2": (0x74, "f"), "beta1": (0x78, "f"), "beta2": (0x7C, "f"),
    "x": (0x80, "f"), "O": (0x308, "i"), "R2": (0x30C, "f"),
}


class FlirFormatError(ValueError):
    """A file or record that is not a readable FLIR FFF record."""


@dataclass
class FffRecord:
    """Raw thermal image (uint16 counts, H x W) and camera metadata of one FFF record."""

    raw: NDArray[np.uint16]
    metadata: dict[str, float]


def parse_fff(data: bytes) -> FffRecord:
    """Parse one FFF record from bytes."""
    if data[:4] != FFF_MAGIC:
        raise FlirFormatError("not an FFF record (missing 'FFF\\0' magic)")
    if len(data) < 0x20:
        raise FlirFormatError("FFF header truncated")
    dir_offset, count = struct.unpack(">II", data[0x18:0x20])
    records: dict[int, bytes] = {}
    for i in range(count):
        start = dir_offset + 32 * i
        entry = data[start:start + 32]
        if len(entry) < 20:
            raise FlirFormatError(f"FFF directory truncated at entry {i} of {count}")
        rtype, _sub, _ver, _id, offset, length = struct.unpack(">HHIIII", entry[:20])
        if rtype:
            records[rtype] = data[offset:offset + length]
    if RAW_RECORD not in records or CAMERA_INFO_RECORD not in records:
        raise FlirFormatError(f"FFF record lacks raw data or camera info (types {sorted(records)})")
    raw_record = records[RAW_RECORD]
    order = "<" if 0 < struct.unpack("<H", raw_record[2:4])[0] < 10000 else ">"
    width, height = struct.unpack(order + "HH", raw_record[2:6])
    needed = RAW_HEADER_BYTES + 2 * width * height
    if width == 0 or height == 0 or len(raw_record) < needed:
        raise FlirFormatError(f"raw record of {len(raw_record)} bytes is too short for "
                              f"{width}x{height} pixels")
    raw = np.frombuffer(raw_record, dtype=order + "u2", count=width * height,
                        offset=RAW_HEADER_BYTES).astype(np.uint16).reshape(height, width)
    info = records[CAMERA_INFO_RECORD]
    if len(info) < 0x310:
        raise FlirFormatError("camera info record truncated")
    order = "<" if 0.0 < struct.unpack("<f", info[0x20:0x24])[0] <= 1.0 else ">"
    metadata = {name: float(struct.unpack(order + code, info[off:off + 4])[0])
                for name, (off, code) in CAMERA_INFO_FIELDS.items()}
    return FffRecord(raw=raw, metadata=metadata)


def read_fff(path: str | Path) -> FffRecord:
    """Read a FLIR .fff file."""
    return parse_fff(Path(path).read_bytes())


def read_seq(path: str | Path) -> Iterator[FffRecord]:
    """Records of a FLIR .seq file, in order. A truncated last record raises
    :class:`FlirFormatError` after the complete ones were yielded."""
    data = Path(path).read_bytes()
    starts = []
    at = data.find(FFF_MAGIC)
    while at >= 0:
        starts.append(at)
        at = data.find(FFF_MAGIC, at + 4)
    if not starts:
        raise FlirFormatError(f"{path}: no FFF records")
    for begin, end in zip(starts, [*starts[1:], len(data)], strict=True):
        yield parse_fff(data[begin:end])
