"""Raw counts recorded through image_transport as 16-bit PNG (``image_raw/compressed``,
``image_raw/compressedDepth``): decoded exactly, found by the offline analysis and the frame
reader, the same temperatures as the uncompressed recording; what is not raw counts (JPEG,
8-bit PNG, RVL, damaged data) is refused with the reason."""

from __future__ import annotations

import struct
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from test_analysis import FRAME_ID, HEIGHT, RATE_HZ, WIDTH, read_topics

from thermal_perception.analysis import AnalysisOptions, analyze_bag
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.io import messages
from thermal_perception.io.bag import BagWriter
from thermal_perception.io.compressed_image import (
    compressed_to_array,
    describe_format,
    is_raw_format,
)
from thermal_perception.io.frames import read_frames
from thermal_perception.sim.record import START_NS
from thermal_perception.sim.simulator import ThermalSimulator

FRAMES = 8
PNG_FORMAT = "mono16; png compressed mono16"
DEPTH_FORMAT = "16UC1; compressedDepth png"
DEPTH_HEADER = struct.pack("<iff", 1, 0.0, 0.0)  # format PNG, depth quantisation (unused)


def png(counts: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", counts)
    assert ok
    return data.tobytes()


def msg(fmt: str, data: bytes) -> SimpleNamespace:
    return SimpleNamespace(format=fmt, data=np.frombuffer(data, np.uint8))


@pytest.mark.parametrize(("fmt", "encoding", "codec", "raw"), [
    (PNG_FORMAT, "mono16", "png", True),
    ("16UC1; png compressed 16UC1", "16UC1", "png", True),
    ("png", "", "png", True),  # ROS 1's bare format
    (DEPTH_FORMAT, "16UC1", "compresseddepth png", True),
    ("16UC1; compressedDepth", "16UC1", "compresseddepth png", True),  # ROS 1
    ("16UC1; compressedDepth rvl", "16UC1", "compresseddepth rvl", False),
    ("bgr8; jpeg compressed bgr8", "bgr8", "jpeg", False),
    ("mono8; png compressed mono8", "mono8", "png", False),
])
def test_formats_known_answers(fmt, encoding, codec, raw) -> None:
    assert describe_format(fmt) == (encoding, codec)
    assert is_raw_format(fmt) is raw


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint16, st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_png_round_trip_is_exact(counts) -> None:
    np.testing.assert_array_equal(compressed_to_array(msg(PNG_FORMAT, png(counts))), counts)
    np.testing.assert_array_equal(
        compressed_to_array(msg(DEPTH_FORMAT, DEPTH_HEADER + png(counts))), counts)


def test_what_is_not_raw_counts_is_refused() -> None:
    counts = np.arange(64 * 48, dtype=np.uint16).reshape(48, 64)
    jpeg = cv2.imencode(".jpg", (counts % 256).astype(np.uint8))[1].tobytes()
    cases = [
        (msg("mono8; jpeg compressed mono8", jpeg), "JPEG holds 8 lossy bits"),
        (msg("16UC1; compressedDepth rvl", b"\0" * 40), "is not PNG"),
        (msg("mono8; png compressed mono8", png((counts % 256).astype(np.uint8))),
         "mono8 is not raw counts"),
        (msg("png", png((counts % 256).astype(np.uint8))), "not 16-bit single-channel"),
        (msg("png", png(np.dstack([counts] * 3))), "not 16-bit single-channel"),
        (msg(PNG_FORMAT, png(counts)[:60]), "does not decode"),
        (msg(PNG_FORMAT, b"\0" * 200), "holds no PNG"),
    ]
    for message, words in cases:
        with pytest.raises(ValueError, match=words):
            compressed_to_array(message)


def write_flight(path: Path, transport: str, damaged: int | None = None) -> Path:
    """Simulated raw frames as sensor_msgs/Image (``raw``), 16-bit PNG CompressedImage
    (``compressed``, ``compressedDepth``), or both (``both``); frame ``damaged`` with its
    PNG cut short."""
    profile = get_profile("boson640").with_size(WIDTH, HEIGHT)
    sim = ThermalSimulator(profile, "uav_sar", seed=0)
    with BagWriter(path, storage="sqlite3") as bag:
        store = bag.typestore
        types = store.types
        if transport in ("raw", "both"):
            bag.add_topic("/thermal/image_raw", "sensor_msgs/msg/Image")
        if transport in ("compressed", "both"):
            bag.add_topic("/thermal/image_raw/compressed", "sensor_msgs/msg/CompressedImage")
        if transport == "compressedDepth":
            bag.add_topic("/thermal/image_raw/compressedDepth",
                          "sensor_msgs/msg/CompressedImage")
        for i in range(FRAMES):
            stamp = START_NS + round(i / RATE_HZ * messages.NS_PER_S)
            counts = sim.counts(i / RATE_HZ)
            if transport in ("raw", "both"):
                bag.write_message("/thermal/image_raw", stamp,
                                  messages.image(store, counts, "mono16", stamp, FRAME_ID))
            if transport in ("compressed", "both", "compressedDepth"):
                depth = transport == "compressedDepth"
                data = (DEPTH_HEADER if depth else b"") + png(counts)
                if i == damaged:
                    data = data[:len(data) // 3]
                bag.write_message(
                    f"/thermal/image_raw/{'compressedDepth' if depth else 'compressed'}", stamp,
                    types["sensor_msgs/msg/CompressedImage"](
                        header=messages.header(store, stamp, FRAME_ID),
                        format=DEPTH_FORMAT if depth else PNG_FORMAT,
                        data=np.frombuffer(data, np.uint8)))
    return path


def temperatures(bag: Path, out: Path) -> tuple:
    r = analyze_bag(bag, AnalysisOptions(out=out, video=False, detector="none",
                                         progress=False, report=False))
    assert r.status in ("ok", "partial"), r.errors
    topics = read_topics(Path(r.out_dir) / "processed_bag")
    return r, np.stack([m.data.view(np.float32).reshape(m.height, m.width)
                        for m in topics["/thermal/image_temperature"]])


@pytest.mark.parametrize("transport", ["compressed", "compressedDepth", "both"])
def test_analysis_of_a_compressed_recording_equals_the_raw_one(tmp_path, transport) -> None:
    _, expected = temperatures(write_flight(tmp_path / "raw", "raw"), tmp_path / "a")
    r, got = temperatures(write_flight(tmp_path / transport, transport), tmp_path / "b")
    assert r.topic == {"compressed": "/thermal/image_raw/compressed",
                       "compressedDepth": "/thermal/image_raw/compressedDepth",
                       "both": "/thermal/image_raw"}[transport]
    assert got.shape == (FRAMES, HEIGHT, WIDTH)
    np.testing.assert_array_equal(got, expected)  # PNG is lossless


def test_frame_reader_takes_the_compressed_topic(tmp_path) -> None:
    raw = list(read_frames(write_flight(tmp_path / "raw", "raw")))
    for transport in ("compressed", "compressedDepth", "both"):
        frames = list(read_frames(write_flight(tmp_path / transport, transport)))
        assert len(frames) == FRAMES
        for a, b in zip(frames, raw, strict=True):
            np.testing.assert_array_equal(a.counts, b.counts)
            assert a.stamp_ns == b.stamp_ns


def test_a_damaged_frame_is_reported_and_the_others_analysed(tmp_path) -> None:
    _, expected = temperatures(write_flight(tmp_path / "raw", "raw"), tmp_path / "a")
    r, got = temperatures(write_flight(tmp_path / "cut", "compressed", damaged=3),
                          tmp_path / "b")
    assert r.frames_rejected == 1 and r.frames_processed == FRAMES - 1
    assert any("does not decode" in e for e in r.errors), r.errors
    np.testing.assert_array_equal(got, np.delete(expected, 3, axis=0))
