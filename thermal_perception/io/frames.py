"""Reading raw frame sequences: ROS 1/ROS 2 bags (rosbags), image files (16-bit PNG/TIFF,
multi-page TIFF), NumPy arrays, raw dumps (headerless 16-bit frames), FLIR FFF/SEQ files,
FLIR radiometric JPEGs and Cacophony Project thermal video (.cptv), all as uint16 counts with
a stamp and, where recorded, the camera status. A folder's ``radiometry.yaml`` sidecar says
what its counts mean (:mod:`thermal_perception.io.sequences`).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from thermal_perception.io.compressed_image import (
    COMPRESSED_TYPE,
    compressed_to_array,
    transport_base,
    without_compressed_copies,
)
from thermal_perception.io.flir import FlirFormatError, read_fff, read_flir_jpeg, read_seq
from thermal_perception.io.image_encoding import ImageConversionError, image_to_array
from thermal_perception.io.messages import header_ns
from thermal_perception.io.raw_frame import RawFrame
from thermal_perception.io.sequences import folder_radiometry, read_image_counts

RAW_ENCODINGS = ("mono16", "16UC1")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
JPEG_SUFFIXES = (".jpg", ".jpeg")  # FLIR radiometric JPEGs
RAW_SUFFIXES = (".raw", ".y16", ".bin")  # headerless 16-bit frames
RAW_SIZE_IN_NAME = re.compile(r"(\d+)x(\d+)")
FOLDER_SUFFIXES = (*IMAGE_SUFFIXES, *JPEG_SUFFIXES, *RAW_SUFFIXES, ".npy")
FORMATS = ("a bag (.bag, .db3, .mcap or a rosbag2 folder), a folder of frame files "
           "(16-bit .png/.tif/.tiff, .npy, raw dumps, FLIR .jpg; radiometry.yaml optional), "
           ".npy, .raw/.y16/.bin, FLIR .fff/.seq/radiometric .jpg, Cacophony .cptv")
NS_PER_S = 1_000_000_000


def is_bag(path: Path) -> bool:
    """A rosbag2 folder, a ROS 1 .bag, or a single .db3/.mcap file."""
    return (path.is_dir() and (path / "metadata.yaml").exists()) or \
        path.suffix in (".bag", ".db3", ".mcap")


def read_frames(path: str | Path, topic: str | None = None, limit: int | None = None,
                raw_size: tuple[int, int] | None = None, raw_big_endian: bool | None = None
                ) -> Iterator[RawFrame]:
    """Raw frames of ``path`` in order.

    Parameters
    ----------
    path : a bag, a folder of frame files (with an optional ``radiometry.yaml`` sidecar), a
        .npy file ((H, W) or (N, H, W)), a 16-bit PNG or (multi-page) TIFF, a raw dump
        (.raw/.y16/.bin), a FLIR .fff, .seq or radiometric .jpg file, a Cacophony .cptv file.
    topic : image topic of a bag (default: the only mono16/16UC1 image topic).
    limit : stop after this many frames.
    raw_size, raw_big_endian : (width, height) and byte order of raw dumps (default: from the
        file name, see :func:`raw_dump_format`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    frames = _read_any(path, topic, raw_size, raw_big_endian)
    for index, frame in enumerate(frames):
        if limit is not None and index >= limit:
            return
        yield frame


def _read_any(path: Path, topic: str | None, raw_size: tuple[int, int] | None,
              raw_big_endian: bool | None) -> Iterator[RawFrame]:
    if is_bag(path):
        yield from _read_bag(path, topic)
    elif path.is_dir():
        radiometry = folder_radiometry(path)
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FOLDER_SUFFIXES)
        if not files:
            raise ValueError(f"{path}: no frame files ({', '.join(FOLDER_SUFFIXES)}) in the "
                             f"folder; expected {FORMATS}")
        for file in files:
            for frame in _read_file(file, raw_size, raw_big_endian):
                frame.radiometry = radiometry
                yield frame
    else:
        yield from _read_file(path, raw_size, raw_big_endian)


def _as_counts(array: NDArray, where: str) -> NDArray[np.uint16]:
    if array.dtype != np.uint16:
        raise ValueError(f"{where}: expected 16-bit raw counts, got {array.dtype}")
    return np.ascontiguousarray(array)


def _read_file(path: Path, raw_size: tuple[int, int] | None = None,
               raw_big_endian: bool | None = None) -> Iterator[RawFrame]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: unreadable ({exc}); expected a NumPy .npy array of "
                             "16-bit counts") from None
        stack = array[None] if array.ndim == 2 else array
        if stack.ndim != 3:
            raise ValueError(f"{path}: expected (H, W) or (N, H, W), got shape {array.shape}")
        for frame in stack:
            yield RawFrame(_as_counts(frame, str(path)))
    elif suffix in IMAGE_SUFFIXES:
        for counts in read_image_counts(path):
            yield RawFrame(counts)
    elif suffix == ".fff":
        yield RawFrame(read_fff(path).raw)
    elif suffix == ".seq":
        yield from _read_seq_frames(path)
    elif suffix in JPEG_SUFFIXES:
        try:
            record = read_flir_jpeg(path)
        except FlirFormatError as exc:
            raise FlirFormatError(f"{exc}; .jpg files are read as FLIR radiometric JPEGs "
                                  "(DJI R-JPEGs need DJI's Thermal SDK: see the README)") from None
        yield RawFrame(record.raw)
    elif suffix == ".cptv":
        from thermal_perception.io.cptv import read_cptv

        yield from read_cptv(path)
    elif suffix in RAW_SUFFIXES:
        width, height, big_endian = raw_dump_format(path, raw_size, raw_big_endian)
        yield from read_raw_dump(path, width, height, big_endian)
    else:
        kind = repr(suffix) if suffix else "(no suffix)"
        raise ValueError(f"{path}: unknown frame format {kind}; expected {FORMATS}")


def _read_seq_frames(path: Path) -> Iterator[RawFrame]:
    """Frames of a FLIR .seq file; a damaged record ends it with one warning naming the file
    and the frame (the whole frames before it are played). Damage in the first record is an
    error: there is nothing to play."""
    played = 0
    try:
        for record in read_seq(path):
            yield RawFrame(record.raw)
            played += 1
    except FlirFormatError as exc:
        if not played:
            raise
        warnings.warn(f"{exc}; played the {played} whole frames before it", RuntimeWarning,
                      stacklevel=2)


def raw_dump_format(path: str | Path, size: tuple[int, int] | None = None,
                    big_endian: bool | None = None) -> tuple[int, int, bool]:
    """(width, height, big_endian) of a raw dump: given, or read from the file name.

    Name convention: the last ``<W>x<H>`` in the name gives the size (``lepton_160x122.raw``);
    a ``be`` token (``boson_640x512_be.raw``) marks big-endian data; the default is
    little-endian, the byte order of V4L2 Y16 buffers.
    """
    stem = Path(path).stem
    if size is None:
        found = RAW_SIZE_IN_NAME.findall(stem)
        if not found:
            raise ValueError(f"{path}: raw dump without a frame size; give it or name the file "
                             "like frames_640x512.raw")
        size = (int(found[-1][0]), int(found[-1][1]))
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"{path}: frame size {width}x{height} must be positive")
    if big_endian is None:
        big_endian = "be" in re.split(r"[_\-.]", stem.lower())
    return width, height, big_endian


def read_raw_dump(path: str | Path, width: int, height: int, big_endian: bool = False
                  ) -> Iterator[RawFrame]:
    """Frames of a headerless dump of ``width`` x ``height`` 16-bit frames, in order.

    Bytes after the last complete frame raise ValueError once the complete frames are yielded.
    """
    path = Path(path)
    size = os.path.getsize(path)
    frame_bytes = 2 * width * height
    count = size // frame_bytes
    if count:
        dtype = ">u2" if big_endian else "<u2"
        data = np.memmap(path, dtype=dtype, mode="r", shape=(count, height, width))
        for frame in data:
            yield RawFrame(frame.astype(np.uint16))
        del data
    if size != count * frame_bytes:
        raise ValueError(f"{path}: {size - count * frame_bytes} bytes after the last complete "
                         f"{width}x{height} frame ({count} frames): truncated dump or wrong size")


def write_raw_dump(path: str | Path, frames: Iterable[NDArray[np.uint16]],
                   big_endian: bool = False) -> int:
    """Write frames as a headerless 16-bit dump; returns the number of frames."""
    dtype = ">u2" if big_endian else "<u2"
    count = 0
    with open(path, "wb") as out:
        for frame in frames:
            np.asarray(frame, dtype=np.uint16).astype(dtype).tofile(out)
            count += 1
    return count


def _read_bag(path: Path, topic: str | None) -> Iterator[RawFrame]:
    from rosbags.highlevel import AnyReader

    from thermal_perception.io.bag import typestore_with_our_messages

    store = typestore_with_our_messages()
    with AnyReader([path], default_typestore=store) as reader:
        images = [c for c in reader.connections if c.msgtype == "sensor_msgs/msg/Image"]
        # 16-bit PNG through image_transport (image_raw/compressed, image_raw/compressedDepth)
        images += [c for c in reader.connections if c.msgtype == COMPRESSED_TYPE
                   and transport_base(c.topic) != c.topic]
        if topic is not None:
            images = [c for c in images if c.topic == topic]
            if not images:
                raise ValueError(f"{path}: no sensor_msgs/Image topic {topic!r}")
        else:
            raw = without_compressed_copies(
                [c for c in images if transport_base(c.topic).endswith("image_raw")] or images)
            if len({c.topic for c in raw}) != 1:
                raise ValueError(f"{path}: choose the image topic with --topic: "
                                 f"{sorted({c.topic for c in images})}")
            images = raw
        status = [c for c in reader.connections
                  if c.msgtype == "thermal_perception/msg/ThermalStatus"]
        fpa_at: dict[int, float] = {}
        # (rosbags reads every topic when given no connection: a bag without status has none)
        for connection, _, data in reader.messages(connections=status) if status else ():
            msg = reader.deserialize(data, connection.msgtype)
            fpa_at[header_ns(msg.header)] = \
                float(msg.fpa_temperature_c)
        for connection, _, data in reader.messages(connections=images):
            msg = reader.deserialize(data, connection.msgtype)
            if connection.msgtype == COMPRESSED_TYPE:
                try:
                    counts = compressed_to_array(msg)
                except ValueError as exc:
                    raise ValueError(f"{path} {connection.topic}: {exc}") from exc
                stamp = header_ns(msg.header)
                yield RawFrame(counts, stamp, fpa_at.get(stamp, math.nan))
                continue
            if msg.encoding not in RAW_ENCODINGS:
                raise ValueError(f"{path} {connection.topic}: encoding {msg.encoding!r} is not "
                                 "raw counts")
            try:
                counts = image_to_array(msg, copy=True)
            except ImageConversionError as exc:
                raise ValueError(f"{path} {connection.topic}: {exc}") from exc
            stamp = header_ns(msg.header)
            yield RawFrame(counts, stamp, fpa_at.get(stamp, math.nan))


def load_emissivity_map(path: str | Path) -> NDArray[np.float32]:
    """Per-pixel emissivity map, (H, W) float32 in (0, 1]: a .npy array of floats, or a
    16-bit PNG/TIFF scaled so that 65535 is 1.0."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"emissivity map {path} does not exist")
    if not path.is_file():
        raise ValueError(f"emissivity map {path} is not a regular file (a directory or a "
                         "device); expected a .npy array or a 16-bit PNG/TIFF")
    if path.suffix.lower() == ".npy":
        values = np.load(path, allow_pickle=False).astype(np.float32)
    else:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.dtype != np.uint16 or image.ndim != 2:
            raise ValueError(f"emissivity map {path}: expected a .npy array or a 16-bit "
                             "single-channel image")
        values = image.astype(np.float32) / np.float32(np.iinfo(np.uint16).max)
    if values.ndim != 2:
        raise ValueError(f"emissivity map {path}: expected (H, W), got shape {values.shape}")
    if not np.all((values > 0.0) & (values <= 1.0)):
        raise ValueError(f"emissivity map {path}: values must be in (0, 1]")
    return values
