"""InfiRay P2 Pro / Topdon TC001 (UVC YUYV 256x384) without hardware: the documented layout
(display rows 0-191, thermal rows 192-383 as little-endian words of 1/64 K, optional metadata
rows), decoded from recorded-buffer fakes built from a known temperature field; the camera
profile, the processor's model and the V4L2 source over a fake device and a mocked OpenCV."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from scipy.constants import zero_Celsius

from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.io.uvc_frames import (
    INFIRAY_KELVIN_PER_COUNT,
    decode_infiray,
    encode_infiray,
    infiray_layout,
)
from thermal_perception.io.v4l2 import V4l2Source
from thermal_perception.io.v4l2_devices import FakeY16Device, OpenCvY16Device, open_device
from thermal_perception.settings import driver as driver_settings
from thermal_perception.settings import processor as processor_settings
from thermal_perception.settings.processor import converter_from, describe_model
from thermal_perception.sim.simulator import ThermalSimulator

COUNTS_PER_K = 64  # the cameras' thermal words are kelvin x 64 (module docstring of io/v4l2)


def person_field(shift_px: int = 0) -> np.ndarray:
    """A (192, 256) temperature field, deg C: a 30 C standing person (head disc, body, legs)
    on 20 C ground, ``shift_px`` to the right of centre."""
    y, x = np.mgrid[0:192, 0:256]
    cx = 128 + shift_px
    head = (x - cx) ** 2 + (y - 50) ** 2 <= 12 ** 2
    body = (abs(x - cx) <= 18) & (y >= 62) & (y < 120)
    legs = (abs(abs(x - cx) - 8) <= 6) & (y >= 120) & (y < 170)
    return np.where(head | body | legs, 30.0, 20.0)


def to_counts(temperature_c: np.ndarray) -> np.ndarray:
    """Thermal words of ``temperature_c`` as the camera sends them: kelvin x 64, rounded."""
    return np.rint((temperature_c + zero_Celsius) * COUNTS_PER_K).astype(np.uint16)


def test_layouts_from_the_frame_size() -> None:
    plain = infiray_layout(256, 384)
    assert (plain.width, plain.sensor_height, plain.metadata_rows) == (256, 192, 0)
    assert infiray_layout(256, 392).metadata_rows == 8  # firmware with extra rows
    assert "8 metadata rows (dropped)" in infiray_layout(256, 392).describe()
    for size in ((256, 383), (256, 192), (256, 401), (160, 384), (640, 512)):
        assert infiray_layout(*size) is None, size


def test_known_words_by_hand() -> None:
    """One pixel packed by hand: 30 C = 303.15 K x 64 = 19401.6 -> word 19402 = 0x4BCA, sent
    as bytes CA 4B in thermal row 192 + 10, column 7; the display rows hold other bytes."""
    frame = bytearray(b"\x80\x10" * (256 * 384))  # display-like bytes everywhere
    thermal = bytearray(struct.pack("<H", 18752) * (256 * 192))  # 293.0 K elsewhere
    at = 2 * (10 * 256 + 7)
    thermal[at:at + 2] = b"\xca\x4b"
    frame[2 * 256 * 192:] = thermal
    counts, metadata = decode_infiray(bytes(frame), 256, 384)
    assert counts.shape == (192, 256) and counts.dtype == np.uint16 and metadata is None
    assert counts[10, 7] == 0x4BCA == 19402
    assert counts[10, 7] * INFIRAY_KELVIN_PER_COUNT - zero_Celsius == pytest.approx(
        30.00625, abs=1e-9)
    assert np.count_nonzero(counts != 18752) == 1


@pytest.mark.parametrize("form", ["bytes", "opencv_row", "opencv_hw2", "words"])
def test_decode_gives_the_temperature_field(form: str) -> None:
    field = person_field()
    buffer = encode_infiray(to_counts(field))
    raw = np.frombuffer(buffer, np.uint8)
    given = {"bytes": buffer, "opencv_row": raw.reshape(1, -1),  # OpenCV >= 4.5 raw mode
             "opencv_hw2": raw.reshape(384, 256, 2),  # backends that keep (H, W, 2)
             "words": raw.view("<u2").reshape(384, 256)}[form]  # a .npy recording
    counts, metadata = decode_infiray(given, 256, 384)
    assert counts.shape == (192, 256) and metadata is None
    temperature_c = counts * INFIRAY_KELVIN_PER_COUNT - zero_Celsius
    assert np.abs(temperature_c - field).max() <= INFIRAY_KELVIN_PER_COUNT / 2 + 1e-9
    assert temperature_c.max() == pytest.approx(30.0, abs=1 / 64)
    # the display half is not in the counts: its words have the chroma byte 0x80 on top
    display_words = raw.view("<u2").reshape(384, 256)[:192]
    assert np.all(display_words >> 8 == 0x80) and not np.any(counts >> 8 == 0x80)


def test_metadata_rows_are_dropped() -> None:
    counts = to_counts(person_field())
    buffer = bytearray(encode_infiray(counts, metadata_rows=8))  # 256x392
    buffer[2 * 256 * 384:] = b"\xff" * (2 * 256 * 8)
    decoded, metadata = decode_infiray(bytes(buffer), 256, 392)
    assert np.array_equal(decoded, counts)
    assert metadata.shape == (8, 256) and np.all(metadata == 0xFFFF)


def test_wrong_sizes_are_clear_errors() -> None:
    buffer = encode_infiray(to_counts(person_field()))
    with pytest.raises(ValueError, match=r"short InfiRay YUYV buffer: 196606 bytes, expected "
                                         r"196608 \(256x384 x 2; layouts 256x384"):
        decode_infiray(buffer[:-2], 256, 384)
    with pytest.raises(ValueError, match="oversized InfiRay YUYV buffer"):
        decode_infiray(buffer + bytes(512), 256, 384)
    with pytest.raises(ValueError, match=r"256x192 frame is not an InfiRay P2 Pro/TC001 YUYV "
                                         r"frame; expected 256x384 \(192 display \+ 192 thermal"
                                         r" rows\) or 256x385..400"):
        decode_infiray(buffer, 256, 192)
    with pytest.raises(ValueError, match="InfiRay frame of"):
        decode_infiray(np.zeros((192, 256), np.uint16), 256, 384)
    with pytest.raises(ValueError, match="InfiRay counts must be"):
        encode_infiray(np.zeros((120, 160), np.uint16))


def test_profile_and_processor_model() -> None:
    """The profile names TLinear at 1/64 K; the processor's defaults (radiometric_model
    'profile', tlinear_resolution_k 0) take it, so counts/64 - 273.15 comes out."""
    profile = get_profile("infiray_p2pro")
    assert (profile.width, profile.height, profile.rate_hz) == (256, 192, 25.0)
    assert (profile.radiometric_model, profile.tlinear_resolution_k, profile.v4l2_format) == \
        ("tlinear", 0.015625, "infiray")
    values = {s.name: s.default for s in processor_settings.PARAMS}
    assert values["radiometric_model"] == "profile" and values["tlinear_resolution_k"] == 0.0
    converter = converter_from(values, profile, BandRadianceTable(profile.band_m))
    field = person_field()
    temperature = converter(to_counts(field))
    assert np.abs(temperature - field).max() < 0.01
    assert describe_model(values, profile) == "tlinear 0.015625 K/count (profile infiray_p2pro)"
    # other profiles keep their linear radiance calibration; explicit choices still win
    assert describe_model(values, get_profile("boson640")) == "linear_radiance (profile boson640)"
    lepton = {**values, "radiometric_model": "tlinear"}
    assert describe_model(lepton, get_profile("lepton35")) == "tlinear 0.01 K/count"


def test_driver_parameters() -> None:
    values = {s.name: s.default for s in driver_settings.PARAMS}
    infiray = {**values, "camera_profile": "infiray_p2pro", "source": "v4l2",
               "device": "0bda:5830"}
    assert driver_settings.v4l2_format(infiray) == "infiray"
    assert driver_settings.v4l2_format({**infiray, "v4l2_format": "y16"}) == "y16"
    assert driver_settings.v4l2_format(values) == "y16"  # boson640
    assert driver_settings.check_combination(infiray) is None
    problem = driver_settings.check_combination({**infiray, "source": "simulator"})
    assert "simulator makes linear_radiance counts" in problem
    with pytest.raises(ValueError, match="infiray_p2pro is a tlinear camera"):
        ThermalSimulator(get_profile("infiray_p2pro"))


def read_frames(source: V4l2Source, n: int, timeout_s: float = 5.0) -> list:
    frames, deadline = [], time.monotonic() + timeout_s
    while len(frames) < n and time.monotonic() < deadline:
        try:
            frames.append(source.read())
        except Exception:  # NoFrame while waiting
            time.sleep(0.005)
    assert len(frames) == n
    return frames


@pytest.mark.parametrize("metadata_rows", [0, 8])
def test_source_publishes_the_thermal_half(metadata_rows: int) -> None:
    fields = [person_field(s) for s in (-40, 0, 40)]
    height = 384 + metadata_rows
    device = FakeY16Device([encode_infiray(to_counts(f), metadata_rows) for f in fields], 256,
                           height, fps=200.0, pixel_format="YUYV")
    source = V4l2Source(device, width=256, height=height, stream_format="infiray")
    try:
        assert source.shape == (192, 256)
        for frame in read_frames(source, 4):
            temperature_c = frame.counts * INFIRAY_KELVIN_PER_COUNT - zero_Celsius
            assert min(np.abs(temperature_c - f).max() for f in fields) <= 1 / 128 + 1e-9
        problem, values = source.health()
        assert problem is None and values["telemetry"] is False
        assert values["stream_format"].startswith("InfiRay P2 Pro/TC001 YUYV 256x")
        assert values["metadata_rows"] == metadata_rows
        device.inject("short", "oversized")
        deadline = time.monotonic() + 5.0
        while source.snapshot().bad_buffers < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "InfiRay YUYV buffer" in source.snapshot().last_error
        read_frames(source, 2)
    finally:
        source.close()


def test_source_requests_256x384_and_refuses_other_streams() -> None:
    counts = to_counts(person_field())
    device = FakeY16Device([encode_infiray(counts)], 256, 384, fps=200.0, pixel_format="YUYV")
    requested = []
    real_open = device.open
    device.open = lambda w, h: requested.append((w, h)) or real_open(w, h)
    source = V4l2Source(device, stream_format="infiray")  # no size given: the documented one
    try:
        assert requested[0] == (256, 384) and source.shape == (192, 256)
    finally:
        source.close()
    lepton = FakeY16Device([bytes(160 * 122 * 2)], 160, 122, fps=50.0)
    with pytest.raises(ValueError, match="160x122 stream is not an InfiRay"):
        V4l2Source(lepton, width=160, height=122, stream_format="infiray")
    with pytest.raises(ValueError, match="no Lepton telemetry"):
        V4l2Source(device, stream_format="infiray", telemetry="lepton_footer")


class FakeCapture:
    """cv2.VideoCapture of an InfiRay camera on the V4L2 backend: it reports YUYV once asked
    for it and returns the raw buffer as (H, W, 2) uint8 while RGB conversion is off."""

    def __init__(self, buffer: bytes) -> None:
        import cv2

        self.cv2, self.buffer, self.props = cv2, buffer, {}
        self.requested_fourccs: list[float] = []

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        yuyv = self.cv2.VideoWriter.fourcc(*"YUYV")
        if prop == self.cv2.CAP_PROP_FOURCC:
            self.requested_fourccs.append(value)
            value = yuyv  # the only format the camera offers
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        cv2 = self.cv2
        if prop == cv2.CAP_PROP_FOURCC:
            return float(self.props.get(prop, cv2.VideoWriter.fourcc(*"MJPG")))
        return {cv2.CAP_PROP_FRAME_WIDTH: 256.0, cv2.CAP_PROP_FRAME_HEIGHT: 384.0,
                cv2.CAP_PROP_FPS: 25.0}.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray]:
        assert self.props.get(self.cv2.CAP_PROP_CONVERT_RGB) == 0, "RGB conversion left on"
        return True, np.frombuffer(self.buffer, np.uint8).reshape(384, 256, 2)

    def release(self) -> None:
        pass


def test_opencv_device_asks_for_raw_yuyv(monkeypatch, tmp_path) -> None:
    import cv2

    field = person_field()
    capture = FakeCapture(encode_infiray(to_counts(field)))
    monkeypatch.setattr(cv2, "VideoCapture", lambda path, backend: capture)
    node = tmp_path / "video0"
    node.touch()
    device = open_device(str(node), 25.0, "infiray")
    assert isinstance(device, OpenCvY16Device)
    fmt = device.open(256, 384)
    assert (fmt.width, fmt.height, fmt.fps) == (256, 384, 25.0)
    assert capture.requested_fourccs == [cv2.VideoWriter.fourcc(*"YUYV")]
    assert capture.props[cv2.CAP_PROP_CONVERT_RGB] == 0
    buffer, _ = device.read()
    counts, _ = decode_infiray(buffer, fmt.width, fmt.height)
    assert np.abs(counts / 64.0 - zero_Celsius - field).max() <= 1 / 128 + 1e-9
    device.close()
    y16 = OpenCvY16Device(str(node))  # the Y16 path refuses the YUYV camera, saying why
    with pytest.raises(OSError, match="does not stream Y16"):
        y16.open(0, 0)
