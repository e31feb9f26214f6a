"""V4L2/UVC Y16 cameras without hardware: Lepton telemetry parsing against hand-packed known
values and flirpy's independent decoder, buffer checks, the fake device's faults, reconnection
with backoff, device resolution by serial/USB id on a fake sysfs, and raw dumps."""

from __future__ import annotations

import contextlib
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermal_perception.io.frames import raw_dump_format, read_frames, write_raw_dump
from thermal_perception.io.sources import NoFrame
from thermal_perception.io.uvc_frames import (
    FFC_COMPLETE,
    FFC_IDLE,
    FFC_IMMINENT,
    FFC_IN_PROGRESS,
    LeptonTelemetry,
    decode_y16,
    encode_lepton_telemetry,
    parse_lepton_telemetry,
    telemetry_lines,
)
from thermal_perception.io.v4l2 import Backoff, LeptonFfcTracker, V4l2Source
from thermal_perception.io.v4l2_devices import (
    CameraDisconnected,
    FakeY16Device,
    OpenCvY16Device,
    open_device,
    resolve_device,
)

# flirpy 0.6 Lepton.decode_telemetry: struct layout of the first 160-word telemetry line of a
# PureThermal Y16 frame (an implementation independent of ours).
FLIRPY_TELEMETRY = "<2cII16x4h6xIh2xh8xhI4xhhhhhh64xI172x"


def row_a(**words: int) -> np.ndarray:
    """80 telemetry words packed by hand at the datasheet's word offsets (Table 2, row A)."""
    a = [0] * 80
    for index, value in words.items():
        a[int(index[1:])] = value
    return np.frombuffer(struct.pack("<80H", *a), "<u2")


def known_row_a() -> np.ndarray:
    # uptime 0x12345678 ms, status: FFC desired (bit 3), FFC in progress (bits 4-5 = 0b10),
    # AGC on (bit 12); frame counter 70000 = 0x00011170; FPA 302.15 K; housing 298.65 K;
    # FPA at last FFC 301.00 K; uptime at last FFC 65537 ms.
    return row_a(w0=0x0E09, w1=0x5678, w2=0x1234, w3=0x1028, w4=0, w20=0x1170, w21=0x0001,
                 w22=8100, w23=5000, w24=30215, w25=4000, w26=29865, w29=30100, w30=1, w31=1,
                 w32=29800)


def test_lepton_row_a_known_values() -> None:
    t = parse_lepton_telemetry(known_row_a())
    assert t.revision == 0x0E09
    assert t.uptime_ms == 0x12345678
    assert t.frame_counter == 70000
    assert t.frame_mean == 8100
    assert t.fpa_temperature_k == pytest.approx(302.15)
    assert t.fpa_temperature_c == pytest.approx(29.0)
    assert t.housing_temperature_c == pytest.approx(25.5)
    assert t.fpa_temperature_last_ffc_k == pytest.approx(301.0)
    assert t.uptime_last_ffc_ms == 65537
    assert t.housing_temperature_last_ffc_k == pytest.approx(298.0)
    assert (t.ffc_desired, t.ffc_state, t.agc_enabled) == (True, 2, True)
    assert not t.shutter_lockout and not t.overtemp_shutdown_imminent


def test_flirpy_decoder_reads_the_same_fields() -> None:
    line = np.concatenate([known_row_a(), np.zeros(80, "<u2")])  # first 160-wide line: A | B
    res = struct.unpack(FLIRPY_TELEMETRY, line.tobytes())
    ours = parse_lepton_telemetry(line)
    assert res[2] == ours.uptime_ms and res[3] == ours.status_bits
    assert res[8] == ours.frame_counter and res[9] == ours.frame_mean
    assert res[10] / 100.0 == pytest.approx(ours.fpa_temperature_k)
    assert res[11] / 100.0 == pytest.approx(ours.fpa_temperature_last_ffc_k)
    assert res[12] == ours.uptime_last_ffc_ms


kelvin100 = st.integers(22316, 37314)  # plausible FPA/housing temperatures, K x 100


@settings(max_examples=50, deadline=None)
@given(counter=st.integers(0, 2**32 - 1), status=st.integers(0, 2**32 - 1),
       uptime=st.integers(0, 2**32 - 1), fpa=kelvin100, housing=kelvin100)
def test_telemetry_round_trip(counter, status, uptime, fpa, housing) -> None:
    t = LeptonTelemetry(7, uptime, status, counter, 1234, fpa / 100, housing / 100, fpa / 100,
                        uptime, housing / 100)
    assert parse_lepton_telemetry(encode_lepton_telemetry(t, 240)) == t


@pytest.mark.parametrize(("size", "mode", "expected"), [
    ((160, 122), "auto", (2, "footer")), ((160, 123), "auto", (3, "footer")),
    ((80, 63), "auto", (3, "footer")), ((160, 122), "lepton_header", (2, "header")),
    ((160, 120), "auto", (0, "")), ((640, 512), "auto", (0, "")),
    ((160, 122), "none", (0, "")),
])
def test_telemetry_lines(size, mode, expected) -> None:
    assert telemetry_lines(*size, mode) == expected


def test_telemetry_mode_errors() -> None:
    with pytest.raises(ValueError, match="not a Lepton frame"):
        telemetry_lines(640, 512, "lepton_footer")
    with pytest.raises(ValueError, match="telemetry mode"):
        telemetry_lines(160, 122, "boson")


def lepton_buffer(image: np.ndarray, counter: int, status: int = 0, where: str = "footer",
                  fpa_k100: int = 30215) -> bytes:
    """A PureThermal Y16 buffer: the image and two telemetry lines (row A hand-packed)."""
    telemetry = np.zeros(2 * image.shape[1], "<u2")
    telemetry[:80] = row_a(w0=0x0E09, w3=status & 0xFFFF, w20=counter & 0xFFFF,
                           w21=counter >> 16, w24=fpa_k100, w26=29865)
    lines = telemetry.reshape(2, -1)
    frame = np.vstack([image, lines] if where == "footer" else [lines, image])
    return frame.astype("<u2").tobytes()


def test_decode_strips_footer_and_header() -> None:
    image = np.arange(160 * 120, dtype=np.uint16).reshape(120, 160)
    for where in ("footer", "header"):
        mode = "auto" if where == "footer" else "lepton_header"
        counts, t = decode_y16(lepton_buffer(image, 42, where=where), 160, 122, mode)
        assert counts.dtype == np.uint16 and np.array_equal(counts, image)
        assert t is not None and t.frame_counter == 42
    boson = np.arange(640 * 512, dtype=np.uint16).reshape(512, 640)
    counts, t = decode_y16(boson.astype("<u2").tobytes(), 640, 512)
    assert t is None and np.array_equal(counts, boson)
    # OpenCV's two raw outputs: a 1xN uint8 row and a (H, W) uint16 image
    row = np.frombuffer(boson.astype("<u2").tobytes(), np.uint8)[None, :]
    assert np.array_equal(decode_y16(row, 640, 512)[0], boson)
    assert np.array_equal(decode_y16(boson, 640, 512)[0], boson)


def test_bad_buffers_are_clear_errors() -> None:
    image = np.zeros((120, 160), np.uint16)
    good = lepton_buffer(image, 1)
    with pytest.raises(ValueError, match=r"short Y16 buffer: 19520 bytes, expected 39040"):
        decode_y16(good[:19520], 160, 122)
    with pytest.raises(ValueError, match="oversized"):
        decode_y16(good + b"\0\0", 160, 122)
    with pytest.raises(ValueError, match=r"garbled.*FPA temperature 655\.35 K"):
        decode_y16(lepton_buffer(image, 1, fpa_k100=65535), 160, 122)
    with pytest.raises(ValueError, match="Y16 image of"):
        decode_y16(np.zeros((10, 10), np.uint16), 160, 122)


# -- the fake device and the source ----------------------------------------------------------


def lepton_buffers(count: int, start: int = 100, status: list[int] | None = None
                   ) -> tuple[list[bytes], list[np.ndarray]]:
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 16383, (120, 160), dtype=np.uint16) for _ in range(count)]
    status = status or [0] * count
    return [lepton_buffer(im, start + i, status[i]) for i, im in enumerate(images)], images


def read_n(source: V4l2Source, n: int, timeout_s: float = 10.0) -> list:
    frames, deadline = [], time.monotonic() + timeout_s
    while len(frames) < n and time.monotonic() < deadline:
        with contextlib.suppress(NoFrame):
            frames.append(source.read())
    assert len(frames) == n, f"{len(frames)} of {n} frames in {timeout_s} s"
    return frames


def wait_for(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_fake_lepton_frames_telemetry_and_stamps() -> None:
    buffers, images = lepton_buffers(4, status=[0x20] * 4)  # FFC in progress (bits 4-5 = 2)
    device = FakeY16Device(buffers, 160, 122, fps=100.0)
    source = V4l2Source(device)
    try:
        assert source.shape == (120, 160) and source.interval_s == pytest.approx(0.01)
        before = time.time_ns()
        frames = read_n(source, 6)
        after = time.time_ns()
        for frame in frames:
            assert any(np.array_equal(frame.counts, im) for im in images)
            assert frame.fpa_temperature_c == pytest.approx(29.0)
            assert frame.housing_temperature_c == pytest.approx(25.5)
            assert frame.ffc_state == FFC_IN_PROGRESS and not frame.shutter_closed
            assert before - 50_000_000 <= frame.stamp_ns <= after
        assert np.all(np.diff([f.stamp_ns for f in frames]) > 0)
        assert source.health()[0] is None and source.snapshot().frames >= 6
    finally:
        source.close()


def test_lepton_ffc_state_sequence() -> None:
    tracker = LeptonFfcTracker()
    # never commanded, imminent, in progress, complete, complete, ..., in progress, complete
    states = [tracker.update(s) for s in (0, 1, 2, 3, 3, 3, 2, 3)]
    assert states == [FFC_IDLE, FFC_IMMINENT, FFC_IN_PROGRESS, FFC_COMPLETE, FFC_IDLE, FFC_IDLE,
                      FFC_IN_PROGRESS, FFC_COMPLETE]


def test_short_and_garbled_buffers_are_dropped_and_counted() -> None:
    buffers, _ = lepton_buffers(3)
    device = FakeY16Device(buffers, 160, 122, fps=200.0)
    source = V4l2Source(device, max_bad_buffers=10)
    try:
        read_n(source, 2)
        device.inject("short", "garbled", "oversized")
        assert wait_for(lambda: source.snapshot().bad_buffers == 3)
        state = source.snapshot()
        assert state.dropped >= 3 and state.connected and state.reconnects == 0
        assert "Y16 buffer" in state.last_error
        read_n(source, 3)  # frames flow on
        device.inject(*["short"] * 10)  # a run of bad buffers: the device is re-opened
        assert wait_for(lambda: source.snapshot().reconnects == 1)
        assert "10 bad buffers in a row" in source.snapshot().history[-2]
        read_n(source, 2)
    finally:
        source.close()


def test_camera_disappears_and_comes_back_with_backoff() -> None:
    buffers, _ = lepton_buffers(3)
    present = [True]
    device = FakeY16Device(buffers, 160, 122, fps=200.0, present=lambda: present[0])
    opens = []
    real_open = device.open

    def counting_open(width, height):
        opens.append(time.monotonic())
        return real_open(width, height)

    device.open = counting_open
    source = V4l2Source(device, backoff=Backoff(0.02, 0.16))
    try:
        read_n(source, 3)
        present[0] = False
        assert wait_for(lambda: not source.connected)
        with pytest.raises(CameraDisconnected, match="camera fake disconnected: fake"):
            source.read()
        problem, values = source.health()
        assert problem.startswith("camera disconnected, reconnecting") and not values["connected"]
        lost_at = time.monotonic()
        time.sleep(0.6)
        attempts = [t for t in opens if t > lost_at - 0.05]
        # backoff 0.02, 0.04, 0.08, 0.16, 0.16, ... s: at most 7 tries in 0.6 s (30 without)
        assert 2 <= len(attempts) <= 7, attempts
        present[0] = True
        assert wait_for(lambda: source.connected)
        read_n(source, 3)
        state = source.snapshot()
        assert state.reconnects == 1 and source.health()[0] is None
        assert state.history[-2].startswith("lost") and state.history[-1].startswith("connected")
    finally:
        source.close()


def test_starts_without_the_camera_and_connects_later() -> None:
    buffers, _ = lepton_buffers(2)
    present = [False]
    device = FakeY16Device(buffers, 160, 122, fps=200.0, present=lambda: present[0])
    source = V4l2Source(device, default_shape=(120, 160), backoff=Backoff(0.02, 0.05))
    try:
        assert source.shape == (120, 160) and not source.connected
        with pytest.raises(CameraDisconnected):
            source.read()
        present[0] = True
        assert wait_for(lambda: source.connected)
        read_n(source, 2)
        assert source.snapshot().reconnects == 0  # the first connection
    finally:
        source.close()
    with pytest.raises(CameraDisconnected, match="give width and height"):
        V4l2Source(FakeY16Device(buffers, 160, 122, 10.0, present=lambda: False))


def test_a_camera_back_with_another_size_is_refused() -> None:
    small, _ = lepton_buffers(2)
    device = FakeY16Device(small, 160, 122, fps=200.0)
    source = V4l2Source(device, backoff=Backoff(0.02, 0.05))
    try:
        read_n(source, 1)
        device.buffers, device.width, device.height = [bytes(640 * 512 * 2)], 640, 512
        device.present = lambda: False
        assert wait_for(lambda: not source.connected)
        device.present = lambda: True
        assert wait_for(lambda: "now streams 640x512" in source.snapshot().last_error)
        assert not source.connected
    finally:
        source.close()


def test_backoff() -> None:
    backoff = Backoff(0.1, 1.0)
    assert [backoff.next_delay() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1, 1])
    backoff.reset()
    assert backoff.next_delay() == 0.1
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)


# -- device resolution, real-device failures, raw dumps ---------------------------------------


def fake_sysfs(root: Path) -> tuple[Path, Path]:
    sysfs, usb = root / "sys", root / "usb"
    for name, serial, vid, pid, nodes in (("1-1", "PT123", "1e4e", "0100", (0, 1)),
                                          ("1-2", "BOSON9", "09cb", "4007", (2,))):
        device = usb / name
        interface = device / f"{name}:1.0"
        interface.mkdir(parents=True)
        (device / "serial").write_text(serial + "\n")
        (device / "idVendor").write_text(vid + "\n")
        (device / "idProduct").write_text(pid + "\n")
        for n in nodes:
            video = sysfs / f"video{n}"
            video.mkdir(parents=True)
            (video / "device").symlink_to(interface)
            (video / "index").write_text(f"{n % 2 if name == '1-1' else 0}\n")
    return sysfs, root / "by-id"


def test_resolve_device_by_serial_usb_id_and_by_id_links(tmp_path: Path) -> None:
    sysfs, by_id = fake_sysfs(tmp_path)
    dev = Path("/dev")
    assert resolve_device("/dev/video7", sysfs, by_id, dev) == "/dev/video7"
    assert resolve_device("PT123", sysfs, by_id, dev) == "/dev/video0"  # capture node, index 0
    assert resolve_device("1e4e:0100", sysfs, by_id, dev) == "/dev/video0"
    assert resolve_device("BOSON9", sysfs, by_id, dev) == "/dev/video2"
    by_id.mkdir()
    target = tmp_path / "video5"
    target.touch()
    (by_id / "usb-GroupGets_PureThermal_SER77-video-index0").symlink_to(target)
    assert resolve_device("SER77", sysfs, by_id, dev) == str(target)
    with pytest.raises(CameraDisconnected, match="no video device with serial 'NOPE'"):
        resolve_device("NOPE", sysfs, by_id, dev)


def test_real_device_absent_is_a_disconnection(tmp_path: Path) -> None:
    missing = str(tmp_path / "video99")
    with pytest.raises(CameraDisconnected, match="does not exist"):
        OpenCvY16Device(missing).open(0, 0)
    source = V4l2Source(missing, width=160, height=122, backoff=Backoff(0.05, 0.1))
    try:
        assert source.shape == (120, 160) and not source.connected
        assert "does not exist" in source.health()[0]
    finally:
        source.close()
    with pytest.raises(ValueError, match="fake device file"):
        open_device("fake:" + str(tmp_path / "none.npy"), 9.0)
    with pytest.raises(ValueError, match="no device given"):
        open_device(" ", 9.0)


@pytest.mark.parametrize("big_endian", [False, True])
def test_raw_dump_round_trip_and_name_convention(tmp_path: Path, big_endian: bool) -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 65535, (4, 3, 5), dtype=np.uint16)
    name = "cam_5x3_be.raw" if big_endian else "cam_5x3.y16"
    path = tmp_path / name
    assert write_raw_dump(path, frames, big_endian=big_endian) == 4
    assert raw_dump_format(path) == (5, 3, big_endian)
    back = np.stack([f.counts for f in read_frames(path)])
    assert np.array_equal(back, frames)
    # the bytes are what the byte order says (independent of our reader)
    first = struct.unpack((">" if big_endian else "<") + "H", path.read_bytes()[:2])[0]
    assert first == frames[0, 0, 0]


def test_raw_dump_errors(tmp_path: Path) -> None:
    path = tmp_path / "dump.raw"
    write_raw_dump(path, np.ones((2, 4, 4), np.uint16))
    with pytest.raises(ValueError, match="without a frame size"):
        list(read_frames(path))
    assert len(list(read_frames(path, raw_size=(4, 4)))) == 2
    with path.open("ab") as f:
        f.write(b"\0" * 7)  # a truncated third frame
    got = []
    with pytest.raises(ValueError, match="7 bytes after the last complete 4x4 frame"):
        for frame in read_frames(path, raw_size=(4, 4)):
            got.append(frame)
    assert len(got) == 2


def test_fake_device_from_a_raw_dump_of_recorded_buffers(tmp_path: Path) -> None:
    buffers, images = lepton_buffers(3)
    path = tmp_path / "lepton_160x122.raw"
    path.write_bytes(b"".join(buffers))  # what a PureThermal delivered, byte for byte
    device = open_device(f"fake:{path}", 200.0)
    source = V4l2Source(device)
    try:
        assert source.name == f"v4l2:fake:{path}" and source.shape == (120, 160)
        frame = read_n(source, 1)[0]
        assert any(np.array_equal(frame.counts, im) for im in images)
        path.rename(tmp_path / "unplugged")  # the file is the device node
        assert wait_for(lambda: not source.connected)
        (tmp_path / "unplugged").rename(path)
        assert wait_for(lambda: source.connected)
    finally:
        source.close()
