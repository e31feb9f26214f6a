"""V4L2/UVC thermal cameras streaming Y16 (16-bit little-endian grey): FLIR Lepton on
PureThermal boards (with or without telemetry rows), FLIR Boson (640x512), and any camera
that offers the ``Y16`` format; and the InfiRay P2 Pro / Topdon TC001 family, which streams
YUYV frames with the 16-bit thermal words in their lower half (stream format ``infiray``).

Layers, each usable alone:

- :func:`decode_y16`: one raw buffer -> counts (H, W) uint16 and, where present, the Lepton
  telemetry (:class:`LeptonTelemetry`), with clear errors for short or garbled buffers;
  :func:`decode_infiray` the same for an InfiRay YUYV buffer (:func:`infiray_layout`);
- :class:`Y16Device`: the device access (``open``/``read``/``close``). :class:`OpenCvY16Device`
  talks to ``/dev/videoN`` through OpenCV's V4L2 backend; :class:`FakeY16Device` serves
  recorded raw buffers and can fail, disappear and come back (tests and demos without
  hardware, selected as ``fake:<file>``);
- :class:`V4l2Source`: a frame source for the driver. A capture thread reads the device,
  reconnects with exponential backoff when it disappears (re-resolving a serial number, whose
  ``/dev/videoN`` may change on re-plug) and exposes its state for diagnostics.

Library choice: OpenCV's V4L2 backend (``cv2.VideoCapture(path, cv2.CAP_V4L2)``,
``CAP_PROP_FOURCC`` 'Y16 ', ``CAP_PROP_CONVERT_RGB`` 0) is already a dependency, is kept up by
the OpenCV project, and with RGB conversion off returns the driver's buffer untouched (a 1xN
uint8 row in OpenCV >= 4.5, a (H, W) uint16 image in older releases; both are accepted).
Rejected: ``linuxpy`` (pure-Python ioctls with full format and control access, but one more
dependency for what OpenCV already does), the unmaintained ``v4l2``/``pyv4l2`` packages, and
hand-written ioctls (``fcntl``), which would duplicate OpenCV's buffer handling.

Lepton telemetry (FLIR Lepton Engineering Datasheet, doc. 500-0659-00-09 Rev 203, section
"Telemetry Modes", Table 2 rows A/B/C and Table 3 status bits; FLIR Lepton Software IDD,
doc. 110-0144-04 Rev 303): three rows of 80 16-bit words (A, B, C), sent as header or footer
lines; a PureThermal board streams them as extra Y16 lines (160x122 for a Lepton 3.x, 80x63
for a Lepton 2.x). Words are little-endian like the pixels and 32-bit values have their low
word first. Row A: word 0 telemetry revision, 1-2 uptime (ms), 3-4 status bits (bit 3 FFC
desired, bits 4-5 FFC state 0 never commanded / 1 imminent / 2 in progress / 3 complete,
bit 12 AGC, bit 15 shutter lockout, bit 20 over-temperature shutdown imminent), 20-21 frame
counter, 22 frame mean, 23 FPA temperature (counts), 24 FPA temperature (kelvin x 100),
25 housing temperature (counts), 26 housing temperature (kelvin x 100), 29 FPA temperature at
the last FFC (kelvin x 100), 30-31 uptime at the last FFC (ms), 32 housing temperature at the
last FFC (kelvin x 100). The same offsets are used by flirpy's ``Lepton.decode_telemetry`` and
Elphel's ``Lepton3Telemetry`` reader. Boson telemetry lines are not parsed.

InfiRay P2 Pro / Topdon TC001 (the same InfiRay 256x192 module, UVC, USB id 0bda:5830, 25 Hz;
layout as documented by the makers and by the public decoders of these cameras): with the
format YUYV at 256x384 the camera sends two images stacked. Rows 0-191 are an 8-bit display
image (YUYV, the camera's own AGC and palette: dropped here); rows 192-383 are the thermal
data, the two bytes of each pixel one little-endian 16-bit word, kelvin = word / 64. Some
firmware sends extra rows after them (e.g. 256x392); they are metadata of undocumented meaning,
returned by :func:`decode_infiray` but not published. OpenCV must not convert the frames to
RGB (``CAP_PROP_CONVERT_RGB`` 0); it then hands over the raw YUYV buffer as a 1xN or an
(H, W, 2) uint8 array, depending on the backend. Not tried on a real camera here.
"""

from __future__ import annotations

import copy
import errno
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.constants import zero_Celsius as ZERO_CELSIUS_K

from thermal_perception.core.physics.camera import V4L2_FORMATS as CAMERA_V4L2_FORMATS
from thermal_perception.io.sources import Frame, NoFrame

TELEMETRY_MODES = ("auto", "none", "lepton_footer", "lepton_header")
V4L2_FORMATS = CAMERA_V4L2_FORMATS  # "y16" and "infiray" (see the module docstring)
LEPTON_ROW_WORDS = 80
LEPTON_IMAGE_HEIGHTS = {160: 120, 80: 60}  # image width -> image height without telemetry
MAX_TELEMETRY_LINES = 3
# Plausible Lepton temperatures (operating range -10..80 C, wide margins): outside them the
# telemetry of a buffer is garbled.
PLAUSIBLE_FPA_K = (223.15, 373.15)
# ThermalStatus FFC_STATE_* numbers (msg/ThermalStatus.msg) of the Lepton FFC states
FFC_IDLE, FFC_IMMINENT, FFC_IN_PROGRESS, FFC_COMPLETE = 0, 1, 2, 3
# InfiRay P2 Pro / TC001 (see the module docstring)
INFIRAY_SENSOR_HEIGHTS = {256: 192}  # frame width -> rows of the sensor (and of each half)
INFIRAY_FRAME = (256, 384)  # (width, height) of the YUYV stream to request
INFIRAY_MAX_METADATA_ROWS = 16  # rows after the thermal half taken as metadata (256x392: 8)
INFIRAY_KELVIN_PER_COUNT = 1.0 / 64.0  # thermal word = kelvin x 64
INFIRAY_USB_ID = "0bda:5830"
FOURCCS = {"y16": ("Y16 ",), "infiray": ("YUYV", "YUY2")}  # first: the one requested
FAKE_PREFIX = "fake:"
V4L_SYSFS = Path("/sys/class/video4linux")
V4L_BY_ID = Path("/dev/v4l/by-id")


class CameraDisconnected(OSError):
    """The camera is not connected (unplugged, not yet found, failed); the source retries."""


def _describe(exc: BaseException) -> str:
    """An error's message without the "[Errno N]" prefix."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


# --------------------------------------------------------------------------------------------
# Buffers and Lepton telemetry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeptonTelemetry:
    """Row A of the Lepton telemetry. Temperatures in K (NaN where the camera sends 0)."""

    revision: int
    uptime_ms: int
    status_bits: int
    frame_counter: int
    frame_mean: int
    fpa_temperature_k: float
    housing_temperature_k: float
    fpa_temperature_last_ffc_k: float
    uptime_last_ffc_ms: int
    housing_temperature_last_ffc_k: float

    @property
    def ffc_desired(self) -> bool:
        return bool(self.status_bits >> 3 & 1)

    @property
    def ffc_state(self) -> int:
        """0 never commanded, 1 imminent, 2 in progress, 3 complete (Table 3)."""
        return self.status_bits >> 4 & 0b11

    @property
    def agc_enabled(self) -> bool:
        return bool(self.status_bits >> 12 & 1)

    @property
    def shutter_lockout(self) -> bool:
        return bool(self.status_bits >> 15 & 1)

    @property
    def overtemp_shutdown_imminent(self) -> bool:
        return bool(self.status_bits >> 20 & 1)

    @property
    def fpa_temperature_c(self) -> float:
        return self.fpa_temperature_k - ZERO_CELSIUS_K

    @property
    def housing_temperature_c(self) -> float:
        return self.housing_temperature_k - ZERO_CELSIUS_K


# Row A word offsets (see the module docstring)
_A_REVISION, _A_UPTIME, _A_STATUS, _A_FRAME_COUNTER, _A_FRAME_MEAN = 0, 1, 3, 20, 22
_A_FPA_K100, _A_HOUSING_K100, _A_FPA_FFC_K100, _A_UPTIME_FFC, _A_HOUSING_FFC_K100 = (
    24, 26, 29, 30, 32)


def _kelvin(word: int) -> float:
    return word / 100.0 if word else math.nan


def parse_lepton_telemetry(words: NDArray[np.uint16]) -> LeptonTelemetry:
    """Row A of the telemetry ``words`` (the telemetry lines flattened, >= 80 words).

    Raises ValueError when there are too few words.
    """
    w = np.asarray(words).reshape(-1)
    if w.size < LEPTON_ROW_WORDS:
        raise ValueError(f"Lepton telemetry needs {LEPTON_ROW_WORDS} words, got {w.size}")
    a = [int(v) for v in w[:LEPTON_ROW_WORDS]]

    def u32(i: int) -> int:  # low word first
        return a[i] | a[i + 1] << 16

    return LeptonTelemetry(
        revision=a[_A_REVISION], uptime_ms=u32(_A_UPTIME), status_bits=u32(_A_STATUS),
        frame_counter=u32(_A_FRAME_COUNTER), frame_mean=a[_A_FRAME_MEAN],
        fpa_temperature_k=_kelvin(a[_A_FPA_K100]),
        housing_temperature_k=_kelvin(a[_A_HOUSING_K100]),
        fpa_temperature_last_ffc_k=_kelvin(a[_A_FPA_FFC_K100]),
        uptime_last_ffc_ms=u32(_A_UPTIME_FFC),
        housing_temperature_last_ffc_k=_kelvin(a[_A_HOUSING_FFC_K100]))


def encode_lepton_telemetry(telemetry: LeptonTelemetry, words: int) -> NDArray[np.uint16]:
    """Telemetry words (row A filled, the rest 0) of ``telemetry``: recorded-buffer fakes."""
    if words < LEPTON_ROW_WORDS:
        raise ValueError(f"Lepton telemetry needs {LEPTON_ROW_WORDS} words, got {words}")
    out = np.zeros(words, np.uint16)

    def put32(i: int, value: int) -> None:
        out[i], out[i + 1] = value & 0xFFFF, value >> 16 & 0xFFFF

    def k100(kelvin: float) -> int:
        return 0 if not math.isfinite(kelvin) else round(kelvin * 100.0)

    t = telemetry
    out[_A_REVISION] = t.revision
    put32(_A_UPTIME, t.uptime_ms)
    put32(_A_STATUS, t.status_bits)
    put32(_A_FRAME_COUNTER, t.frame_counter)
    out[_A_FRAME_MEAN] = t.frame_mean
    out[_A_FPA_K100] = k100(t.fpa_temperature_k)
    out[_A_HOUSING_K100] = k100(t.housing_temperature_k)
    out[_A_FPA_FFC_K100] = k100(t.fpa_temperature_last_ffc_k)
    put32(_A_UPTIME_FFC, t.uptime_last_ffc_ms)
    out[_A_HOUSING_FFC_K100] = k100(t.housing_temperature_last_ffc_k)
    return out


def telemetry_lines(width: int, height: int, mode: str) -> tuple[int, str]:
    """Telemetry lines of a ``width`` x ``height`` Y16 frame: (count, "header"/"footer"/"").

    ``auto``: Lepton frames with 1-3 lines beyond the image (160x121..123, 80x61..63) carry a
    footer, the PureThermal default; ``none``: no telemetry; ``lepton_footer``/``lepton_header``:
    the lines beyond the Lepton image height (the frame must be a Lepton size).
    """
    if mode not in TELEMETRY_MODES:
        raise ValueError(f"telemetry mode {mode!r}; known: {list(TELEMETRY_MODES)}")
    if mode == "none":
        return 0, ""
    extra = height - LEPTON_IMAGE_HEIGHTS.get(width, height)
    if 0 < extra <= MAX_TELEMETRY_LINES and extra * width >= LEPTON_ROW_WORDS:
        return extra, "header" if mode == "lepton_header" else "footer"
    if mode == "auto":
        return 0, ""
    raise ValueError(f"telemetry {mode}: a {width}x{height} frame is not a Lepton frame with "
                     f"telemetry lines (160x121..123 or 80x61..63)")


def decode_y16(buffer: bytes | bytearray | memoryview | NDArray, width: int, height: int,
               telemetry: str = "auto") -> tuple[NDArray[np.uint16], LeptonTelemetry | None]:
    """Counts (H, W) uint16 (a copy) and Lepton telemetry of one Y16 buffer.

    Parameters
    ----------
    buffer : the driver's buffer: bytes (little-endian 16-bit), a 1xN uint8 array (OpenCV raw
        mode) or a (height, width) uint16 image.
    width, height : format of the stream, telemetry lines included.
    telemetry : one of :data:`TELEMETRY_MODES`.

    Raises ValueError for a buffer of the wrong size or with implausible telemetry (garbled).
    """
    expected = width * height * 2
    if isinstance(buffer, np.ndarray) and buffer.dtype == np.uint16:
        if buffer.shape != (height, width):
            raise ValueError(f"Y16 image of {buffer.shape[::-1]} pixels in a {width}x{height} "
                             "stream")
        words = buffer
    else:
        data = memoryview(buffer).cast("B") if not isinstance(buffer, np.ndarray) else \
            buffer.reshape(-1).view(np.uint8)
        size = len(data) if not isinstance(data, np.ndarray) else data.size
        if size != expected:
            kind = "short" if size < expected else "oversized"
            raise ValueError(f"{kind} Y16 buffer: {size} bytes, expected {expected} "
                             f"({width}x{height} x 2)")
        words = np.frombuffer(data, dtype="<u2").reshape(height, width)
    lines, where = telemetry_lines(width, height, telemetry)
    parsed = None
    if lines:
        rows = words[:lines] if where == "header" else words[height - lines:]
        parsed = parse_lepton_telemetry(rows)
        low, high = PLAUSIBLE_FPA_K
        if not low <= parsed.fpa_temperature_k <= high:
            raise ValueError(f"garbled Y16 buffer: Lepton FPA temperature "
                             f"{parsed.fpa_temperature_k:.2f} K is outside {low}..{high} K")
        words = words[lines:] if where == "header" else words[:height - lines]
    return words.astype(np.uint16, copy=True), parsed


# --------------------------------------------------------------------------------------------
# InfiRay P2 Pro / Topdon TC001 buffers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InfirayLayout:
    """Rows of an InfiRay YUYV frame ``width`` pixels wide: display rows
    ``[0, sensor_height)``, thermal rows ``[sensor_height, 2 sensor_height)``, then
    ``metadata_rows`` rows of metadata."""

    width: int
    sensor_height: int
    metadata_rows: int

    @property
    def frame_height(self) -> int:
        return 2 * self.sensor_height + self.metadata_rows

    def describe(self) -> str:
        extra = f" + {self.metadata_rows} metadata rows (dropped)" if self.metadata_rows else ""
        return (f"InfiRay P2 Pro/TC001 YUYV {self.width}x{self.frame_height}: thermal rows "
                f"{self.sensor_height}-{2 * self.sensor_height - 1} as counts (kelvin = "
                f"counts / 64), display rows 0-{self.sensor_height - 1} dropped{extra}")


INFIRAY_LAYOUTS = ", ".join(  # the frame sizes accepted, for error messages
    f"{w}x{2 * h} ({h} display + {h} thermal rows) or {w}x{2 * h + 1}.."
    f"{2 * h + INFIRAY_MAX_METADATA_ROWS} (+ metadata rows)"
    for w, h in INFIRAY_SENSOR_HEIGHTS.items())


def infiray_layout(width: int, height: int) -> InfirayLayout | None:
    """The layout of a ``width`` x ``height`` YUYV frame (pixels), None if it is not an
    InfiRay P2 Pro/TC001 frame (:data:`INFIRAY_LAYOUTS`)."""
    sensor_height = INFIRAY_SENSOR_HEIGHTS.get(width)
    if sensor_height is None:
        return None
    metadata_rows = height - 2 * sensor_height
    if not 0 <= metadata_rows <= INFIRAY_MAX_METADATA_ROWS:
        return None
    return InfirayLayout(width, sensor_height, metadata_rows)


def decode_infiray(buffer: bytes | bytearray | memoryview | NDArray, width: int, height: int
                   ) -> tuple[NDArray[np.uint16], NDArray[np.uint16] | None]:
    """Counts (sensor rows, W) uint16 in 1/64 K (a copy) and the metadata rows (uint16 words,
    None if the frame has none) of one InfiRay YUYV buffer.

    Parameters
    ----------
    buffer : the driver's YUYV buffer, 2 bytes per pixel: bytes, a 1xN or (H, W, 2) uint8
        array (OpenCV with RGB conversion off), or (H, W) uint16 words (recordings).
    width, height : frame size of the stream in pixels, display and metadata rows included
        (256x384 for a 256x192 camera).

    Raises ValueError for a frame size that is not an InfiRay layout or a buffer of the wrong
    size.
    """
    layout = infiray_layout(width, height)
    if layout is None:
        raise ValueError(f"a {width}x{height} frame is not an InfiRay P2 Pro/TC001 YUYV frame; "
                         f"expected {INFIRAY_LAYOUTS}")
    if isinstance(buffer, np.ndarray) and buffer.dtype == np.uint16:
        if buffer.shape != (height, width):
            raise ValueError(f"InfiRay frame of {buffer.shape[::-1]} words in a "
                             f"{width}x{height} stream")
        words = buffer
    else:
        data = np.frombuffer(buffer, np.uint8) if not isinstance(buffer, np.ndarray) else \
            np.ascontiguousarray(buffer).reshape(-1).view(np.uint8)
        expected = width * height * 2
        if data.size != expected:
            kind = "short" if data.size < expected else "oversized"
            raise ValueError(f"{kind} InfiRay YUYV buffer: {data.size} bytes, expected "
                             f"{expected} ({width}x{height} x 2; layouts {INFIRAY_LAYOUTS})")
        words = data.view("<u2").reshape(height, width)
    rows = layout.sensor_height
    counts = words[rows:2 * rows].astype(np.uint16, copy=True)
    metadata = words[2 * rows:].astype(np.uint16, copy=True) if layout.metadata_rows else None
    return counts, metadata


def encode_infiray(counts: NDArray[np.uint16], metadata_rows: int = 0) -> bytes:
    """The YUYV buffer an InfiRay camera sends for ``counts`` ((192, 256) uint16, 1/64 K):
    recorded-buffer fakes. Display rows: Y = counts scaled min..max onto 16..235, U = V = 128;
    thermal rows: the counts, little-endian; metadata rows: zeros."""
    counts = np.asarray(counts, np.uint16)
    height, width = counts.shape
    if INFIRAY_SENSOR_HEIGHTS.get(width) != height:
        raise ValueError(f"InfiRay counts must be {list(INFIRAY_SENSOR_HEIGHTS.items())} "
                         f"(width, height), got {width}x{height}")
    low, high = float(counts.min()), float(counts.max())
    luma = 16.0 + 219.0 * (counts - low) / max(high - low, 1.0)
    display = np.empty((height, width, 2), np.uint8)
    display[..., 0] = np.rint(luma).astype(np.uint8)
    display[..., 1] = 128
    thermal = counts.astype("<u2").view(np.uint8).reshape(height, width, 2)
    metadata = np.zeros((metadata_rows, width, 2), np.uint8)
    return np.concatenate([display, thermal, metadata]).tobytes()


# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceFormat:
    """What an opened device delivers: frames of width x height pixels at fps (0: unknown)."""

    width: int
    height: int
    fps: float
    path: str


class Y16Device(Protocol):
    """Access to one Y16 (or InfiRay YUYV) camera.

    ``open`` raises OSError when the device is absent or refuses the format; ``read`` blocks
    until the
    next frame and returns the raw buffer and its capture time (``time.monotonic_ns`` clock,
    None if unknown), raising OSError when the device fails or disappears.
    """

    def open(self, width: int, height: int) -> DeviceFormat: ...

    def read(self) -> tuple[bytes | NDArray, int | None]: ...

    def close(self) -> None: ...


def _usb_attr(video: Path, name: str) -> str:
    """A USB attribute (serial, idVendor, idProduct) of a video4linux node ('' if none)."""
    device = video / "device"
    for candidate in (device / name, device / ".." / name):
        try:
            return candidate.read_text().strip()
        except OSError:
            continue
    return ""


def _node_index(video: Path) -> int:
    try:
        return int((video / "index").read_text().strip())
    except (OSError, ValueError):
        return 0


def resolve_device(spec: str, sysfs: Path = V4L_SYSFS, by_id: Path = V4L_BY_ID,
                   dev: Path = Path("/dev")) -> str:
    """The ``/dev/videoN`` path of ``spec``.

    ``spec``: a device path (returned as is), a serial number (matched against the USB serial of
    each ``/sys/class/video4linux/videoN`` and against the ``/dev/v4l/by-id`` link names), or a
    USB id ``vendor:product`` in hex (e.g. ``1e4e:0100``, PureThermal). Of a device's nodes the
    capture node (sysfs ``index`` 0) is chosen. Raises CameraDisconnected when nothing matches.
    """
    if spec.startswith("/"):
        return spec
    usb_id = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", spec)
    matches: list[tuple[int, str]] = []
    nodes = sorted(sysfs.glob("video*")) if sysfs.is_dir() else []
    for video in nodes:
        if usb_id:
            found = (_usb_attr(video, "idVendor").lower() == usb_id[1].lower()
                     and _usb_attr(video, "idProduct").lower() == usb_id[2].lower())
        else:
            found = _usb_attr(video, "serial") == spec
        if found:
            matches.append((_node_index(video), str(dev / video.name)))
    if not matches and not usb_id and by_id.is_dir():
        for link in sorted(by_id.iterdir()):
            if spec in link.name and link.name.endswith("-index0"):
                matches.append((0, str(link.resolve())))
    if not matches:
        raise CameraDisconnected(errno.ENODEV, f"no video device with "
                                 f"{'USB id' if usb_id else 'serial'} {spec!r}")
    return min(matches, key=lambda m: (m[0], len(m[1]), m[1]))[1]


class OpenCvY16Device:
    """A V4L2 camera through OpenCV, opened by path, serial or USB id (:func:`resolve_device`,
    again at every ``open`` so that a re-plugged camera is found under its new node), in the
    stream format ``stream_format`` (:data:`V4L2_FORMATS`: Y16, or YUYV for InfiRay)."""

    def __init__(self, spec: str, stream_format: str = "y16") -> None:
        if stream_format not in FOURCCS:
            raise ValueError(f"stream format {stream_format!r}; known: {list(FOURCCS)}")
        self.spec = spec
        self.fourccs = FOURCCS[stream_format]
        self.path = ""
        self._capture = None

    def open(self, width: int, height: int) -> DeviceFormat:
        import cv2

        self.close()
        self.path = resolve_device(self.spec)
        if not os.path.exists(self.path):
            raise CameraDisconnected(errno.ENODEV, f"{self.path} does not exist")
        capture = cv2.VideoCapture(self.path, cv2.CAP_V4L2)
        if not capture.isOpened():
            raise CameraDisconnected(errno.EIO, f"cannot open {self.path} with V4L2")
        wanted = [cv2.VideoWriter.fourcc(*code) for code in self.fourccs]
        capture.set(cv2.CAP_PROP_FOURCC, wanted[0])  # the format first, then size and raw mode
        if width and height:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        capture.set(cv2.CAP_PROP_FORMAT, -1)  # raw buffers where the backend knows -1
        fourcc = int(capture.get(cv2.CAP_PROP_FOURCC))
        if fourcc not in wanted:
            name = fourcc.to_bytes(4, "little").decode("ascii", "replace")
            capture.release()
            raise OSError(errno.EINVAL, f"{self.path} does not stream {self.fourccs[0].strip()} "
                                        f"(format {name!r})")
        self._capture = capture
        return DeviceFormat(int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                            max(float(capture.get(cv2.CAP_PROP_FPS)), 0.0), self.path)

    def read(self) -> tuple[NDArray, int | None]:
        import cv2

        if self._capture is None:
            raise CameraDisconnected(errno.ENODEV, "device not open")
        ok, frame = self._capture.read()
        now_mono = time.monotonic_ns()
        if not ok or frame is None:
            gone = not os.path.exists(self.path)
            raise CameraDisconnected(errno.ENODEV if gone else errno.EIO,
                                     f"{self.path}: {'device removed' if gone else 'read failed'}")
        # the V4L2 buffer timestamp (CLOCK_MONOTONIC, ms) where the backend reports it
        stamp_ms = float(self._capture.get(cv2.CAP_PROP_POS_MSEC))
        stamp = round(stamp_ms * 1e6) if stamp_ms > 0 else None
        if stamp is not None and not 0 <= now_mono - stamp < 1_000_000_000:
            stamp = None  # another clock: fall back to the read time
        return frame, stamp if stamp is not None else now_mono

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


FAULTS = ("short", "oversized", "garbled", "error")


class FakeY16Device:
    """A Y16 camera that serves recorded raw buffers in a loop at ``fps`` (``pixel_format``
    "YUYV": an InfiRay camera, buffers of :func:`encode_infiray`).

    It is present while ``present()`` is true (for :meth:`from_file`: while the file exists, so
    that renaming the file unplugs it, like a USB camera's /dev node). Faults queued with
    :meth:`inject` hit the next reads: ``short``/``oversized`` buffers, ``garbled`` buffers
    (random bytes of the right size) and ``error`` (a failed read, EIO).
    """

    def __init__(self, buffers: Sequence[bytes], width: int, height: int, fps: float,
                 present: Callable[[], bool] | None = None, name: str = "fake",
                 seed: int = 0, pixel_format: str = "Y16") -> None:
        if not buffers:
            raise ValueError("a fake device needs at least one buffer")
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.buffers, self.width, self.height, self.fps = list(buffers), width, height, fps
        self.present = present or (lambda: True)
        self.name = name
        self.pixel_format = pixel_format
        self.faults: deque[str] = deque()
        self.opened = False
        self.reads = 0
        self._next_ns = 0
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_file(cls, path: str | Path, fps: float, pixel_format: str = "Y16"
                  ) -> FakeY16Device:
        """Buffers of a recording readable by :func:`~thermal_perception.io.frames.read_frames`
        (a .npy stack, a raw dump, a folder of 16-bit images), telemetry lines included; for
        "YUYV" each frame is the buffer's 2-byte pixels as little-endian uint16 words (e.g.
        (384, 256) for an InfiRay camera, display half included)."""
        from thermal_perception.io.frames import read_frames

        path = Path(path)
        frames = [f.counts for f in read_frames(path)]
        if not frames:
            raise ValueError(f"fake device {path}: no frames")
        height, width = frames[0].shape
        if any(f.shape != (height, width) for f in frames):
            raise ValueError(f"fake device {path}: frames of different sizes")
        buffers = [f.astype("<u2").tobytes() for f in frames]
        return cls(buffers, width, height, fps, present=path.exists, name=f"{FAKE_PREFIX}{path}",
                   pixel_format=pixel_format)

    def inject(self, *faults: str) -> None:
        """Queue faults for the next reads (one per read)."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {list(FAULTS)}")
        self.faults.extend(faults)

    def open(self, width: int, height: int) -> DeviceFormat:
        if not self.present():
            raise CameraDisconnected(errno.ENODEV, f"{self.name} is not present")
        if (width and width != self.width) or (height and height != self.height):
            raise OSError(errno.EINVAL, f"{self.name} streams {self.width}x{self.height} "
                                        f"{self.pixel_format}, not {width}x{height}")
        self.opened = True
        self._next_ns = time.monotonic_ns()
        return DeviceFormat(self.width, self.height, self.fps, self.name)

    def read(self) -> tuple[bytes, int]:
        if not self.opened:
            raise CameraDisconnected(errno.ENODEV, f"{self.name} is not open")
        period_ns = round(1e9 / self.fps)
        now = time.monotonic_ns()
        if self._next_ns > now:
            time.sleep((self._next_ns - now) * 1e-9)
        self._next_ns = max(self._next_ns + period_ns, time.monotonic_ns())
        if not self.present():
            self.opened = False
            raise CameraDisconnected(errno.ENODEV, f"{self.name}: No such device")
        buffer = self.buffers[self.reads % len(self.buffers)]
        self.reads += 1
        fault = self.faults.popleft() if self.faults else None
        if fault == "error":
            raise OSError(errno.EIO, f"{self.name}: read failed")
        if fault == "short":
            buffer = buffer[: len(buffer) // 2]
        elif fault == "oversized":
            buffer = buffer + bytes(2 * self.width)
        elif fault == "garbled":
            buffer = self._rng.integers(0, 256, len(buffer), dtype=np.uint8).tobytes()
        return buffer, time.monotonic_ns()

    def close(self) -> None:
        self.opened = False


def open_device(spec: str, fps: float, stream_format: str = "y16") -> Y16Device:
    """The device of a ``device`` parameter: ``fake:<file>`` (test/demo device, frames at
    ``fps``) or a path, serial number or USB id of a real camera, streaming in
    ``stream_format`` (:data:`V4L2_FORMATS`)."""
    if stream_format not in V4L2_FORMATS:
        raise ValueError(f"stream format {stream_format!r}; known: {list(V4L2_FORMATS)}")
    if spec.startswith(FAKE_PREFIX):
        path = spec[len(FAKE_PREFIX):]
        if not path:
            raise ValueError("fake device needs a file: fake:<.npy stack, raw dump or folder>")
        if not Path(path).exists():
            raise ValueError(f"fake device file {path} does not exist")
        return FakeY16Device.from_file(path, fps, FOURCCS[stream_format][0].strip())
    if not spec.strip():
        raise ValueError("no device given (path, serial number, vendor:product or fake:<file>)")
    return OpenCvY16Device(spec, stream_format)


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
            s.usb_serial = _usb_attr(V4L_SYSFS / Path(fmt.path).name, "serial") \
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
