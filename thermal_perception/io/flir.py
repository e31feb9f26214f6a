"""FLIR radiometric files: FFF records, SEQ sequences and radiometric JPEGs (R-JPEG).

Layout as documented by ExifTool (Image::ExifTool::FLIR): "FFF\\0" + creator, a big-endian
header with the directory offset (0x18) and entry count (0x1c); 32-byte directory entries
(u16 type, u16 subtype, u32 version, u32 id, u32 offset, u32 length). Record type 1 is the raw
image (32-byte header: u16 width at 2, height at 4, then uint16 pixels, or a PNG whose 16-bit
samples are byte-swapped, as in radiometric JPEGs); type 0x20 is the camera info with the
Planck constants and measurement parameters (float32 at ExifTool's offsets). Byte order of
each record is detected from plausible values.
A SEQ file is FFF records one after another. A radiometric JPEG carries one FFF record split
over APP1 segments: each segment's payload is "FLIR\\0", a version byte (1), the segment
index and the index of the last segment, then the next piece of the record (ExifTool's
JPEG/FLIR tables; flyr's ``extract_flir_app1`` reads them the same way).

Library choice: ``flyr`` (PyPI, pure Python) reads radiometric JPEGs well and is used by the
tests as an independent check, but not here: our reader already parses FFF records for
.fff/.seq files, extracting the APP1 segments is a few lines, and the conversion to
temperature must be our own radiometry (:func:`record_temperature_c`).
``flirimageextractor`` needs the exiftool program.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

FFF_MAGIC = b"FFF\0"
PNG_MAGIC = b"\x89PNG"
APP1_FLIR_MAGIC = b"FLIR\0"
JPEG_SOI, JPEG_SOS, JPEG_EOI, JPEG_APP1 = 0xD8, 0xDA, 0xD9, 0xE1
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


def _header_order(data: bytes) -> str:
    """Byte order of an FFF header and directory: FLIR writes most files big-endian, some
    (e.g. T4xx from 2024) little-endian. The format version (0x14) is about 100 in the right
    order (ExifTool checks the same); failing that, the order whose directory fits the data."""
    for order in (">", "<"):
        if 100 <= struct.unpack(order + "I", data[0x14:0x18])[0] < 200:
            return order
    for order in (">", "<"):
        dir_offset, count = struct.unpack(order + "II", data[0x18:0x20])
        if 0 < count < 1000 and dir_offset + 32 * count <= len(data):
            return order
    return ">"


def _record_order(record: bytes, fallback: str) -> str:
    """Byte order of a raw-data or camera-info record, which need not be the header's: its
    first 16-bit word is 2 in its own order (ExifTool's check); ``fallback`` when neither
    order reads 2."""
    if struct.unpack("<H", record[:2])[0] == 2:
        return "<"
    if struct.unpack(">H", record[:2])[0] == 2:
        return ">"
    return fallback


def parse_fff(data: bytes, source: str = "FFF record") -> FffRecord:
    """Parse one FFF record from bytes (either byte order); errors start with ``source``."""
    try:
        return _parse_fff(data)
    except FlirFormatError as exc:
        raise FlirFormatError(f"{source}: {exc}") from None


def _parse_fff(data: bytes) -> FffRecord:
    if data[:4] != FFF_MAGIC:
        raise FlirFormatError("not an FFF record (missing 'FFF\\0' magic)")
    if len(data) < 0x20:
        raise FlirFormatError("FFF header truncated")
    order = _header_order(data)
    dir_offset, count = struct.unpack(order + "II", data[0x18:0x20])
    records: dict[int, bytes] = {}
    for i in range(count):
        start = dir_offset + 32 * i
        entry = data[start:start + 32]
        if len(entry) < 20:
            raise FlirFormatError(f"FFF directory truncated at entry {i} of {count}")
        rtype, _sub, _ver, _id, offset, length = struct.unpack(order + "HHIIII", entry[:20])
        if rtype:
            records[rtype] = data[offset:offset + length]
    if RAW_RECORD not in records or CAMERA_INFO_RECORD not in records:
        raise FlirFormatError(f"FFF record lacks raw data or camera info (types {sorted(records)})")
    raw_record = records[RAW_RECORD]
    if len(raw_record) < RAW_HEADER_BYTES:
        raise FlirFormatError(f"raw record of {len(raw_record)} bytes has no header")
    order = _record_order(raw_record, "<" if 0 < struct.unpack("<H", raw_record[2:4])[0] < 10000
                          else ">")
    width, height = struct.unpack(order + "HH", raw_record[2:6])
    if raw_record[RAW_HEADER_BYTES:RAW_HEADER_BYTES + 4] == PNG_MAGIC:
        raw = _decode_png_raw(raw_record[RAW_HEADER_BYTES:], width, height)
    else:
        needed = RAW_HEADER_BYTES + 2 * width * height
        if width == 0 or height == 0 or len(raw_record) < needed:
            raise FlirFormatError(f"raw record of {len(raw_record)} bytes is too short for "
                                  f"{width}x{height} pixels")
        raw = _smoother_order(np.frombuffer(raw_record, dtype=order + "u2",
                                            count=width * height, offset=RAW_HEADER_BYTES)
                              .reshape(height, width))
    info = records[CAMERA_INFO_RECORD]
    if len(info) < 0x310:
        raise FlirFormatError("camera info record truncated")
    # emissivity 1.0 written big-endian reads 4.6e-41 little-endian: a floor, not just > 0
    order = _record_order(info, "<" if 1e-3 <= struct.unpack("<f", info[0x20:0x24])[0] <= 1.0
                          else ">")
    metadata = {name: float(struct.unpack(order + code, info[off:off + 4])[0])
                for name, (off, code) in CAMERA_INFO_FIELDS.items()}
    return FffRecord(raw=raw, metadata=metadata)


def _smoother_order(raw: NDArray) -> NDArray[np.uint16]:
    """``raw`` as uint16 in native order, byte-swapped when that reads far smoother: the byte
    order of the pixels is not always the one the format implies (a ThermaCAM EX320 writes a
    big-endian header and a PNG that needs no swap, where newer cameras' PNGs do), and a
    scene read in the wrong order has its low-order (noise) byte in the high place. Judged
    on every 8th row."""
    out = raw.astype(np.uint16)  # native order, a copy
    if out.shape[-1] > 1:
        rows = out[::8].astype(np.int32)
        swapped = out[::8].byteswap().astype(np.int32)
        if np.abs(np.diff(swapped, axis=1)).mean() * 4.0 < np.abs(np.diff(rows, axis=1)).mean():
            out.byteswap(inplace=True)
    return out


def _decode_png_raw(png: bytes, width: int, height: int) -> NDArray[np.uint16]:
    """A raw image stored as PNG: FLIR writes the 16-bit samples little-endian where PNG
    wants big-endian, so the decoded values are byte-swapped (ExifTool, flyr); some older
    cameras' are not (see :func:`_smoother_order`)."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint16 or image.ndim != 2:
        raise FlirFormatError("raw record holds a PNG that is not a 16-bit grey image")
    if image.shape != (height, width):
        raise FlirFormatError(f"raw PNG of {image.shape[1]}x{image.shape[0]} pixels, header "
                              f"says {width}x{height}")
    return _smoother_order(image.byteswap())


def read_fff(path: str | Path) -> FffRecord:
    """Read a FLIR .fff file."""
    return parse_fff(Path(path).read_bytes(), f"{path} (FLIR FFF)")


def read_seq(path: str | Path) -> Iterator[FffRecord]:
    """Records of a FLIR .seq file, in order. A damaged record (e.g. the cut last one of a
    truncated file) raises :class:`FlirFormatError` naming the file and the record's index,
    after the whole ones before it were yielded."""
    data = Path(path).read_bytes()
    starts = []
    at = data.find(FFF_MAGIC)
    while at >= 0:
        starts.append(at)
        at = data.find(FFF_MAGIC, at + 4)
    if not starts:
        raise FlirFormatError(f"{path}: no FFF records")
    for index, (begin, end) in enumerate(zip(starts, [*starts[1:], len(data)], strict=True)):
        yield parse_fff(data[begin:end], f"{path} (FLIR SEQ) frame {index}")


def extract_fff(jpeg: bytes) -> bytes:
    """The FFF record of a FLIR radiometric JPEG: its "FLIR" APP1 segments, in index order.

    Walks the JPEG marker segments up to the start of scan. Raises :class:`FlirFormatError`
    for a file that is not a JPEG, has no FLIR segments, or misses some of them.
    """
    if jpeg[:2] != bytes([0xFF, JPEG_SOI]):
        raise FlirFormatError("not a JPEG (no start-of-image marker)")
    chunks: dict[int, bytes] = {}
    last: int | None = None
    at = 2
    while at + 4 <= len(jpeg):
        if jpeg[at] != 0xFF:
            raise FlirFormatError(f"JPEG marker expected at byte {at}")
        marker = jpeg[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (JPEG_SOS, JPEG_EOI):
            break
        length = struct.unpack(">H", jpeg[at + 2:at + 4])[0]
        payload = jpeg[at + 4:at + 2 + length]
        if length < 2 or len(payload) != length - 2:
            raise FlirFormatError(f"JPEG segment at byte {at} is truncated")
        if marker == JPEG_APP1 and payload.startswith(APP1_FLIR_MAGIC) and len(payload) >= 8:
            index, final = payload[6], payload[7]
            if last is not None and final != last:
                raise FlirFormatError(f"FLIR APP1 segments disagree on their count "
                                      f"({last + 1} and {final + 1})")
            if index in chunks:
                raise FlirFormatError(f"FLIR APP1 segment {index} appears twice")
            last = final
            chunks[index] = payload[8:]
        at += 2 + length
    if last is None:
        raise FlirFormatError("not a FLIR radiometric JPEG: no APP1 'FLIR' segments")
    missing = sorted(set(range(last + 1)) - set(chunks))
    if missing:
        raise FlirFormatError(f"FLIR APP1 segments {missing} of {last + 1} are missing "
                              "(truncated file?)")
    return b"".join(chunks[i] for i in range(last + 1))


def read_flir_jpeg(path: str | Path) -> FffRecord:
    """Raw thermal image and camera metadata of a FLIR radiometric JPEG."""
    path = Path(path)
    try:
        return _parse_fff(extract_fff(path.read_bytes()))
    except FlirFormatError as exc:
        raise FlirFormatError(f"{path} (FLIR radiometric JPEG): {exc}") from exc


# The metadata of a record (constants and scene) -> deg C of all 65536 counts; a SEQ file
# keeps its metadata over its frames, so each frame is one gather.
_LUT_KEYS = ("R1", "R2", "B", "F", "O", "x", "alpha1", "alpha2", "beta1", "beta2",
             "emissivity", "distance_m", "reflected_k", "atmosphere_k", "window_k",
             "window_transmission", "relative_humidity")


@functools.lru_cache(maxsize=16)
def _temperature_lut(values: tuple[float, ...]) -> NDArray[np.float32]:
    return _temperature_c(dict(zip(_LUT_KEYS, values, strict=True)),
                          np.arange(65536, dtype=np.uint16), np.empty(65536, np.float32))


def _temperature_c(m: dict, raw: NDArray, out: NDArray) -> NDArray:
    from scipy.constants import zero_Celsius as zero_c

    from thermal_perception.core.physics import (
        AtmosphereConstants,
        FlirPlanck,
        flir_raw_to_temperature_c,
    )

    planck = FlirPlanck(m["R1"], m["R2"], m["B"], m["F"], m["O"])
    atmosphere = AtmosphereConstants(m["x"], m["alpha1"], m["alpha2"], m["beta1"], m["beta2"])
    with np.errstate(invalid="ignore", divide="ignore"):
        return flir_raw_to_temperature_c(
            raw, planck, emissivity=m["emissivity"], object_distance_m=m["distance_m"],
            reflected_c=m["reflected_k"] - zero_c, atmosphere_c=m["atmosphere_k"] - zero_c,
            window_c=m["window_k"] - zero_c, window_transmission=m["window_transmission"],
            relative_humidity=m["relative_humidity"], atmosphere_constants=atmosphere, out=out)


def record_temperature_c(record: FffRecord, out: NDArray | None = None) -> NDArray:
    """Object temperatures (deg C, float32 unless ``out`` says otherwise) of an FFF record,
    with its own Planck constants, emissivity, distance, reflected/air/window temperatures,
    humidity and atmospheric constants (:func:`flir_raw_to_temperature_c`).

    uint16 frames of 64k pixels or more go through a table of all 65536 counts made once per
    set of constants (the same values: each entry is the formula at that count), cached over
    the frames of a SEQ file; other frames get the formula directly."""
    if out is None:
        out = np.empty(record.raw.shape, np.float32)
    m = record.metadata
    raw = record.raw
    if raw.dtype.kind == "u" and raw.dtype.itemsize == 2 and raw.size >= 65536 \
            and out.dtype == np.float32:
        from thermal_perception.core.kernels import lut_gather

        lut = _temperature_lut(tuple(float(m[k]) for k in _LUT_KEYS))
        counts = np.ascontiguousarray(raw.astype(np.uint16, copy=False))  # native order
        return lut_gather(lut, counts, out=out)
    return _temperature_c(m, record.raw, out)
