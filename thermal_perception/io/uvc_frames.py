"""Raw UVC buffers of thermal cameras -> counts: Y16 (16-bit little-endian grey: FLIR Lepton on
PureThermal boards, with or without telemetry rows, FLIR Boson, any camera offering ``Y16``)
and the InfiRay P2 Pro / Topdon TC001 YUYV frames with the 16-bit thermal words in their lower
half. Clear errors for short or garbled buffers.

Lepton telemetry (FLIR Lepton Engineering Datasheet, doc. 500-0659-00-09 Rev 203, section
"Telemetry Modes", Table 2 rows A/B/C and Table 3 status bits; FLIR Lepton Software IDD, doc.
110-0144-04 Rev 303): three rows of 80 16-bit words (A, B, C), sent as header or footer lines;
a PureThermal board streams them as extra Y16 lines (160x122 for a Lepton 3.x, 80x63 for a
Lepton 2.x). Words are little-endian like the pixels and 32-bit values have their low word
first. Row A: word 0 telemetry revision, 1-2 uptime (ms), 3-4 status bits (bit 3 FFC desired,
bits 4-5 FFC state 0 never commanded / 1 imminent / 2 in progress / 3 complete, bit 12 AGC, bit
15 shutter lockout, bit 20 over-temperature shutdown imminent), 20-21 frame counter, 22 frame
mean, 23 FPA temperature (counts), 24 FPA temperature (kelvin x 100), 25 housing temperature
(counts), 26 housing temperature (kelvin x 100), 29 FPA temperature at the last FFC (kelvin x
100), 30-31 uptime at the last FFC (ms), 32 housing temperature at the last FFC (kelvin x 100).
The same offsets are used by flirpy's ``Lepton.decode_telemetry`` and Elphel's
``Lepton3Telemetry`` reader. Boson telemetry lines are not parsed.

InfiRay P2 Pro / Topdon TC001 (the same InfiRay 256x192 module, UVC, USB id 0bda:5830, 25 Hz;
layout as documented by the makers and by the public decoders of these cameras): with the
format YUYV at 256x384 the camera sends two images stacked. Rows 0-191 are an 8-bit display
image (YUYV, the camera's own AGC and palette: dropped here); rows 192-383 are the thermal
data, the two bytes of each pixel one little-endian 16-bit word, kelvin = word / 64. Some
firmware sends extra rows after them (e.g. 256x392); they are metadata of undocumented meaning,
returned by :func:`decode_infiray` but not published. Not tried on a real camera here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.constants import zero_Celsius as ZERO_CELSIUS_K

from thermal_perception.core.physics.camera import V4L2_FORMATS as CAMERA_V4L2_FORMATS

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
