"""FLIR Boson serial control without the camera: frames checked byte for byte against frames
built by hand from the documented layout and against frames captured from a Boson (published
with a FLIR support note), the CRC against the catalogue check value, escaping round trips,
every command and fault on the simulated camera, and the driver's link (connection, retries,
FFC acknowledgement)."""

from __future__ import annotations

import errno
import struct
import time
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_v4l2_source import wait_for as _wait_for

from thermal_perception.io import boson_protocol as bp
from thermal_perception.io import boson_serial as bs
from thermal_perception.io.boson_fake import FakeBosonCamera, FakeBosonSerial
from thermal_perception.io.v4l2 import Backoff

# the V4L2 tests' poll, with the 3 s this simulated camera needs at most
wait_for = partial(_wait_for, timeout_s=3.0)


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# Frames exchanged with a real Boson over /dev/ttyACM0, as published with a FLIR support note
# (github.com/thurberdog/ghostCommand, README): (command, answer).
CAPTURED = {
    "bosonGetCameraSN": ("8E 00 00000001 00050002 FFFFFFFF 010B AE",
                         "8E 00 00000001 00050002 00000000 00016D94 3010 AE"),
    "bosonlookupFPATempDegCx10": ("8E 00 00000001 00050030 FFFFFFFF 4966 AE",
                                  "8E 00 00000001 00050030 00000000 017C BDCE AE"),
    "bosonRunFFC": ("8E 00 00000001 00050007 FFFFFFFF 225C AE",
                    "8E 00 00000001 00050007 00000000 BB93 AE"),
}
# sysctrlSetUsbVideoIR16Mode(2), sequence 0xC2: a command with a payload (same source)
CAPTURED_IR16 = "8E 00 000000C2 000E000D FFFFFFFF 00000002 C4F2 AE"


# -- CRC and framing: known answers ------------------------------------------------------------


def test_crc_catalogue_check_values() -> None:
    # CRC-16/AUG-CCITT (poly 0x1021, init 0x1D0F): check 0xE5CC; the same polynomial from
    # 0xFFFF is CRC-16/CCITT-FALSE, check 0x29B1 (Williams/Greg Cook CRC catalogue)
    assert bp.crc16(b"123456789") == 0xE5CC
    assert bp.crc16(b"123456789", crc=0xFFFF) == 0x29B1
    assert bp.crc16(b"") == 0x1D0F


def test_run_ffc_frame_built_by_hand() -> None:
    # start | channel 0 | sequence 1 | function 0x00050007 | status 0xFFFFFFFF | CRC | end,
    # every field big-endian; the CRC covers channel..payload
    body = bytes([0x00, 0, 0, 0, 1, 0x00, 0x05, 0x00, 0x07, 0xFF, 0xFF, 0xFF, 0xFF])
    crc = bp.crc16(body)
    assert crc == 0x225C  # the captured frame's CRC
    expected = bytes([0x8E]) + body + bytes([crc >> 8, crc & 0xFF, 0xAE])
    assert bp.encode_packet(bp.Packet(1, bp.BOSON_RUN_FFC)) == expected


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_captured_frames(name: str) -> None:
    command, answer = (hexbytes(f) for f in CAPTURED[name])
    function = {v: k for k, v in bp.FUNCTION_NAMES.items()}[name]
    assert bp.encode_packet(bp.Packet(1, function)) == command
    packet = bp.decode_frame(answer)
    assert (packet.sequence, packet.function, packet.status) == (1, function, 0)


def test_captured_answers_decode_to_values() -> None:
    serial = bp.decode_frame(hexbytes(CAPTURED["bosonGetCameraSN"][1])).payload
    assert struct.unpack(">I", serial)[0] == 93588
    fpa = bp.decode_frame(hexbytes(CAPTURED["bosonlookupFPATempDegCx10"][1])).payload
    assert struct.unpack(">h", fpa)[0] / 10 == pytest.approx(38.0)
    assert bp.decode_frame(hexbytes(CAPTURED["bosonRunFFC"][1])).payload == b""


def test_captured_command_with_payload() -> None:
    assert bp.encode_packet(bp.Packet(0xC2, 0x000E000D, payload=b"\x00\x00\x00\x02")) == \
        hexbytes(CAPTURED_IR16)


def test_reserved_bytes_escaped_by_hand() -> None:
    # sequence 0x8E and payload ending in 0xAE and 0x9E: each sent as 0x9E + 0x81/0xA1/0x91
    packet = bp.Packet(0x8E, bp.BOSON_SET_GAIN_MODE, payload=bytes([0x00, 0x00, 0xAE, 0x9E]))
    body = hexbytes("00 0000008E 00050014 FFFFFFFF 0000AE9E")
    crc = bp.crc16(body).to_bytes(2, "big")
    by_hand = {0x8E: b"\x9e\x81", 0x9E: b"\x9e\x91", 0xAE: b"\x9e\xa1"}
    escaped_crc = b"".join(by_hand.get(b, bytes([b])) for b in crc)
    expected = (hexbytes("8E 00 000000 9E81 00050014 FFFFFFFF 0000 9EA1 9E91") + escaped_crc
                + b"\xae")
    assert bp.encode_packet(packet) == expected
    assert bp.decode_frame(expected) == packet


@pytest.mark.parametrize("frame,words", [
    ("8E 00 00000001 00050007 00000000 BB94 AE", "CRC mismatch"),
    ("8E 00 00000001 00050007 00000000 AE", "at least"),
    ("00 00000001 00050007 00000000 BB93 AE", "starts with 0x8E"),
    ("8E 00 00000001 0005 9E 00 0007 00000000 BB93 AE", "bad escape"),
    ("8E 00 00000001 0005 8E 0007 00000000 BB93 AE", "reserved byte"),
])
def test_malformed_frames_say_why(frame: str, words: str) -> None:
    with pytest.raises(bp.BosonFrameError, match=words):
        bp.decode_frame(hexbytes(frame))


def test_other_channel_rejected() -> None:
    frame = bp.encode_packet(bp.Packet(1, bp.BOSON_RUN_FFC), channel=1)
    with pytest.raises(bp.BosonFrameError, match="channel 1"):
        bp.decode_frame(frame)


def test_oversized_payload_refused() -> None:
    with pytest.raises(ValueError, match="751"):
        bp.encode_packet(bp.Packet(1, bp.BOSON_RUN_FFC, payload=bytes(752)))


# -- round trips ------------------------------------------------------------------------------

packets = st.builds(bp.Packet, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                    st.integers(0, 2**32 - 1), st.binary(max_size=64))


@given(st.binary(max_size=300))
def test_escape_round_trip(data: bytes) -> None:
    wire = bp.escape(data)
    assert bp.START not in wire and bp.END not in wire
    assert bp.unescape(wire) == data


@given(packets)
def test_packet_round_trip(packet: bp.Packet) -> None:
    frame = bp.encode_packet(packet)
    assert frame[0] == bp.START and frame[-1] == bp.END
    assert bp.START not in frame[1:-1] and bp.END not in frame[1:-1]
    assert bp.decode_frame(frame) == packet


@settings(max_examples=100)
@given(st.lists(packets, min_size=1, max_size=5), st.binary(max_size=8), st.data())
def test_reader_splits_a_stream_cut_anywhere(packets_, noise, data) -> None:
    noise = bytes(b for b in noise if b != bp.START)
    stream = noise + b"".join(bp.encode_packet(p) for p in packets_)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    reader, frames = bp.FrameReader(), []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        frames += reader.feed(stream[a:b])
    assert [bp.decode_frame(f) for f in frames] == packets_


# -- commands on the simulated camera ------------------------------------------------------


@pytest.fixture
def camera() -> FakeBosonCamera:
    return FakeBosonCamera(serial_number=123456, firmware=(4, 1, 7), fpa_temperature_c=-12.3)


@pytest.fixture
def control(camera) -> bs.BosonControl:
    return bs.BosonControl(FakeBosonSerial(camera), timeout_s=0.1)


def test_each_command(camera, control) -> None:
    assert control.serial_number() == 123456
    assert control.software_revision() == "4.1.7"
    assert control.fpa_temperature_c() == pytest.approx(-12.3)
    assert control.ffc_status() == 0
    control.run_ffc()
    assert camera.ffc_count == 1 and control.ffc_status() == 2  # in progress
    for mode in bp.FFC_MODES:
        control.set_ffc_mode(mode)
        assert control.ffc_mode() == mode
    for mode in bp.GAIN_MODES:
        control.set_gain_mode(mode)
        assert control.gain_mode() == mode
    control.set_video_type("mono8")
    control.set_video_type("mono16")
    assert control.video_type() == "mono16"
    # what went over the wire: the expected function ids, with the documented payloads
    assert camera.received[0].function == bp.BOSON_GET_CAMERA_SN
    sets = [p for p in camera.received if p.function == bp.BOSON_SET_GAIN_MODE]
    assert [p.payload for p in sets] == [struct.pack(">i", v) for v in bp.GAIN_MODES.values()]
    assert [p.sequence for p in camera.received] == list(range(1, len(camera.received) + 1))
    assert camera.violations == []


def test_unknown_mode_refused_before_sending(camera, control) -> None:
    with pytest.raises(ValueError, match="gain mode 'medium'"):
        control.set_gain_mode("medium")
    assert camera.received == []


def test_fault_no_answer_times_out(camera, control) -> None:
    camera.inject("no_answer")
    start = time.monotonic()
    with pytest.raises(bp.BosonTimeout, match=r"no answer to bosonRunFFC within 0\.1 s"):
        control.run_ffc()
    assert time.monotonic() - start < 0.5
    assert control.serial_number() == 123456  # the next command works


def test_fault_bad_crc(camera, control) -> None:
    camera.inject("bad_crc")
    with pytest.raises(bp.BosonFrameError, match="CRC mismatch"):
        control.fpa_temperature_c()


def test_fault_error_status(camera, control) -> None:
    camera.inject("error_status")
    with pytest.raises(bp.BosonStatusError, match=r"bosonRunFFC refused.*0x0202 FLR_NOT_READY"):
        control.run_ffc()
    assert camera.ffc_count == 0


def test_camera_refuses_out_of_range_value(camera, control) -> None:
    with pytest.raises(bp.BosonStatusError, match="R_CAM_API_INVALID_INPUT"):
        control.command(bp.BOSON_SET_GAIN_MODE, struct.pack(">i", 9))


def test_fault_garbage_before_answer_is_skipped(camera, control) -> None:
    camera.inject("garbage")
    assert control.serial_number() == 123456


def test_fault_unplugged(camera) -> None:
    port = FakeBosonSerial(camera)
    control = bs.BosonControl(port, timeout_s=0.1)
    port.unplug()
    with pytest.raises(OSError, match="unplugged"):
        control.run_ffc()


def test_fake_rejects_bad_frames(camera) -> None:
    command = bytearray(bp.encode_packet(bp.Packet(1, bp.BOSON_RUN_FFC)))
    command[-2] ^= 0x01  # CRC low byte
    assert camera.handle(bytes(command)) == b""
    not_a_command = bp.encode_packet(bp.Packet(2, bp.BOSON_RUN_FFC, status=0))
    assert camera.handle(not_a_command) == b""
    assert camera.received == [] and camera.ffc_count == 0
    assert "CRC mismatch" in camera.violations[0] and "not 0xFFFFFFFF" in camera.violations[1]


# -- the driver's link --------------------------------------------------------------------------


class Port:
    """Opens a FakeBosonSerial like a device node: fails while unplugged, counts opens."""

    def __init__(self, camera: FakeBosonCamera) -> None:
        self.camera, self.present, self.opens = camera, True, 0
        self.port: FakeBosonSerial | None = None

    def open(self) -> FakeBosonSerial:
        self.opens += 1
        if not self.present:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        self.port = FakeBosonSerial(self.camera)
        return self.port

    def unplug(self) -> None:
        self.present = False
        if self.port is not None:
            self.port.unplug()


def make_link(port: Port, **kwargs) -> tuple[bs.BosonLink, list]:
    logs: list[tuple[str, str]] = []
    kwargs.setdefault("backoff", Backoff(0.05, 0.2))
    link = bs.BosonLink("/dev/ttyFAKE", port.open, timeout_s=0.1, poll_interval_s=0.05,
                        log=lambda level, message: logs.append((level, message)), **kwargs)
    return link, logs


def test_link_configures_polls_and_runs_ffc(camera) -> None:
    port = Port(camera)
    link, logs = make_link(port, ffc_mode="manual", gain_mode="low", video_type="mono16")
    try:
        assert wait_for(lambda: link.snapshot().connected
                        and link.snapshot().fpa_temperature_c == pytest.approx(-12.3))
        s = link.snapshot()
        assert (s.serial_number, s.firmware, s.ffc_mode, s.gain_mode) == \
            ("123456", "4.1.7", "manual", "low")
        assert camera.video_type == bp.VIDEO_TYPES["mono16"]
        assert logs == [("info", "Boson on /dev/ttyFAKE: serial 123456, firmware 4.1.7, FFC "
                                 "manual, gain low (set ffc manual, gain low, video mono16)")]
        ok, message = link.run_ffc()
        assert ok and "acknowledged" in message and camera.ffc_count == 1
        assert wait_for(lambda: link.snapshot().ffc_status in (2, 3))
        problem, values = link.health()
        assert problem is None and values["ffcs"] == 1 and values["serial_number"] == "123456"
        camera.inject("error_status")
        ok, message = link.run_ffc()
        assert not ok and "FLR_NOT_READY" in message
        assert link.snapshot().connected  # a refusal is an answer: the link stays up
    finally:
        link.close()


def test_link_missing_port_retries_at_a_bounded_rate(camera) -> None:
    port = Port(camera)
    port.present = False
    link, logs = make_link(port)
    try:
        time.sleep(1.0)
        problem, _ = link.health()
        assert problem == ("Boson control on /dev/ttyFAKE not connected, retrying: cannot open "
                           "/dev/ttyFAKE: No such file or directory")
        assert 3 <= port.opens <= 10  # 0.05, 0.1, 0.2, 0.2 ... s apart
        assert len(logs) == 1 and logs[0][0] == "error"  # said once
        ok, message = link.run_ffc()
        assert not ok and "not connected" in message and "No such file" in message
        port.present = True
        assert wait_for(lambda: link.snapshot().connected)
    finally:
        link.close()


def test_link_camera_stops_answering_then_returns(camera) -> None:
    port = Port(camera)
    link, logs = make_link(port)
    try:
        assert wait_for(lambda: link.snapshot().connected)
        port.unplug()
        assert wait_for(lambda: not link.snapshot().connected)
        assert wait_for(lambda: len(logs) >= 2)
        assert logs[1] == ("error", "Boson control: /dev/ttyFAKE: Input/output error (device "
                                    "unplugged); retrying")  # then: cannot open ...
        start = time.monotonic()
        ok, _ = link.run_ffc()
        assert not ok and time.monotonic() - start < 0.5
        port.present = True
        assert wait_for(lambda: link.snapshot().connected)
        assert link.snapshot().reconnects == 1
        assert [level for level, _ in logs] == ["info", "error", "info"]
    finally:
        link.close()


def test_link_silent_camera_is_a_timeout_with_a_hint(camera) -> None:
    port = Port(camera)
    camera.inject(*["no_answer"] * 50)
    link, _ = make_link(port)
    try:
        assert wait_for(lambda: "does not answer" in link.snapshot().last_error)
        assert "wrong port, baud rate or camera off?" in link.health()[0]
    finally:
        link.close()


def test_link_skips_a_function_the_firmware_lacks(camera) -> None:
    camera.supports_ffc_status = False
    link, logs = make_link(Port(camera))
    try:
        assert wait_for(lambda: link.snapshot().unsupported == ["bosonGetFFCStatus"])
        time.sleep(0.2)
        asked = camera.functions().count(bp.BOSON_GET_FFC_STATUS)
        assert asked == 1 and link.snapshot().connected
        assert ("warning", "Boson: bosonGetFFCStatus refused by the camera: status 0x0161 "
                "R_CAM_DSPCH_BAD_CMD_ID (unknown command); not asked again") in logs
    finally:
        link.close()


def test_open_serial_missing_port_is_one_clear_error() -> None:
    pytest.importorskip("serial")
    with pytest.raises(OSError) as info:
        bs.open_serial("/dev/does-not-exist-boson")
    assert info.value.strerror == "No such file or directory"


def test_fake_port_spec() -> None:
    assert isinstance(bs.open_port("fake:"), FakeBosonSerial)
    with pytest.raises(ValueError, match="no serial port"):
        bs.open_port(" ")


def test_driver_parameter_rules() -> None:
    from thermal_perception.settings.driver import PARAMS, check_combination

    values = {p.name: p.default for p in PARAMS}
    values.update(serial_port="/dev/ttyACM0")
    assert "needs source 'v4l2'" in check_combination(values)
    values.update(source="v4l2", device="/dev/video0", camera_profile="lepton35")
    assert "not a Boson profile" in check_combination(values)
    values.update(camera_profile="boson640")
    assert check_combination(values) is None
