"""Cacophony Project thermal video (.cptv): FLIR Lepton 3/3.5 clips from the Cacophony
Project's wildlife cameras, read with the ``cptv`` package (PyPI, Apache-2.0, pure Python).

A file is gzip: "CPTV", a version byte (1 or 2), a header section (frame size, start time,
device; newer recorders add camera model, brand, firmware, fps and the frame count), then
delta-compressed 16-bit frames. Version 2 frames carry the camera's time on (ms) and its FPA
temperature; recorders may store a background frame first, which is not part of the clip
and is skipped here.

Radiometry: a Lepton 3.5 in TLinear mode writes centi-kelvin, a Lepton 3 uncalibrated
counts, and no field of the format says which mode recorded a file, so frames are counts
(no :class:`~thermal_perception.io.sequences.Radiometry`); the processor's radiometric model
is the user's choice.
"""

from __future__ import annotations

import gzip
import math
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

from thermal_perception.io.raw_frame import RawFrame

CPTV_MAGIC = b"CPTV"
CPTV_VERSIONS = (1, 2)  # the versions the cptv package reads
EXPECTED = "expected a Cacophony Project thermal video (gzip, 'CPTV' header, version 1 or 2)"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# what the cptv package raises on damaged data (short reads index empty bytes)
DAMAGE = (OSError, EOFError, ValueError, KeyError, IndexError, struct.error)


class CptvFormatError(ValueError):
    """A file that is not a readable CPTV file."""


@dataclass
class CptvInfo:
    """What a .cptv file says about itself; None where it does not say.

    width, height : frame size, pixels.
    start_ns : recording start, ns since the epoch (UTC).
    fps : frame rate the recorder wrote, Hz.
    frames : number of frames the header announces (a background frame included).
    """

    path: Path
    version: int
    width: int
    height: int
    start_ns: int
    fps: float | None = None
    frames: int | None = None
    camera_model: str | None = None
    brand: str | None = None
    firmware: str | None = None
    camera_serial: int | None = None
    device_name: str | None = None
    device_id: int | None = None


def _ns(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1) * 1000


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return value or None


def _reader(path: Path, file: IO[bytes]) -> Any:
    """A ``cptv.CPTVReader`` on ``file``; CptvFormatError naming the file otherwise."""
    try:
        from cptv import CPTVReader
    except ImportError as exc:
        raise ImportError(f"{path}: reading .cptv files needs the cptv package: "
                          "pip install cptv") from exc
    try:
        with gzip.GzipFile(fileobj=file) as unzipped:
            head = unzipped.read(5)
    except (OSError, EOFError) as exc:
        raise CptvFormatError(f"{path}: not readable as gzip ({exc}); {EXPECTED}") from None
    if head[:4] != CPTV_MAGIC:
        raise CptvFormatError(f"{path}: no 'CPTV' header; {EXPECTED}")
    if len(head) < 5 or head[4] not in CPTV_VERSIONS:
        version = head[4] if len(head) == 5 else "missing"
        raise CptvFormatError(f"{path}: CPTV version {version}, which the cptv package "
                              f"cannot read; {EXPECTED}")
    file.seek(0)
    try:
        return CPTVReader(file)
    except DAMAGE as exc:
        raise CptvFormatError(f"{path}: unreadable CPTV header ({type(exc).__name__}: {exc}); "
                              f"{EXPECTED}") from None


def _info(path: Path, reader: Any) -> CptvInfo:
    return CptvInfo(
        path=path, version=int(reader.version), width=int(reader.x_resolution),
        height=int(reader.y_resolution), start_ns=_ns(reader.timestamp - EPOCH),
        fps=float(reader.fps) if getattr(reader, "fps", 0) else None,
        frames=getattr(reader, "num_frames", None) or None,
        camera_model=_text(getattr(reader, "model", None)),
        brand=_text(getattr(reader, "brand", None)),
        firmware=_text(getattr(reader, "firmware", None)),
        camera_serial=getattr(reader, "camera_serial", 0) or None,
        device_name=_text(reader.device_name), device_id=reader.device_id or None)


def read_cptv_info(path: str | Path) -> CptvInfo:
    """The header of a .cptv file (camera model, frame size, fps, device)."""
    path = Path(path)
    with open(path, "rb") as file:
        return _info(path, _reader(path, file))


def read_cptv(path: str | Path) -> Iterator[RawFrame]:
    """Frames of a .cptv file in order: uint16 counts, stamp (start time + the frame's time
    on since the first frame; version 1: start + index / fps where the file gives fps, else
    0), FPA temperature in deg C (NaN where not recorded: the package reads a missing one
    as 0). Damage after the first frame ends the clip with one warning naming the file."""
    path = Path(path)
    with open(path, "rb") as file:
        reader = _reader(path, file)
        info = _info(path, reader)
        frames = iter(reader)
        first_on: timedelta | None = None
        played = 0
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except DAMAGE as exc:
                problem = f"{path}: frame {played} is damaged ({type(exc).__name__}: {exc})"
                if not played:
                    raise CptvFormatError(f"{problem}; {EXPECTED}") from None
                warnings.warn(f"{problem}; played the {played} whole frames before it",
                              RuntimeWarning, stacklevel=2)
                return
            if getattr(frame, "background_frame", False):
                continue
            if frame.time_on is not None:
                first_on = frame.time_on if first_on is None else first_on
                stamp = info.start_ns + _ns(frame.time_on - first_on)
            else:
                stamp = info.start_ns + round(played * 1e9 / info.fps) if info.fps else 0
            fpa = float(frame.temp_c) if frame.temp_c else math.nan
            yield RawFrame(np.ascontiguousarray(frame.pix, dtype=np.uint16), stamp, fpa)
            played += 1
