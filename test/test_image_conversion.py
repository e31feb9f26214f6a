"""Tests for thermal_perception.io.image_encoding (numpy <-> sensor_msgs/Image)."""

from __future__ import annotations

import array
import sys
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thermal_perception.io.image_encoding import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    array_to_image,
    encoding_info,
    image_to_array,
)

sensor_msgs_msg = pytest.importorskip("sensor_msgs.msg")

Image = sensor_msgs_msg.Image
HOST_BIG = sys.byteorder == "big"
REQUIRED = (
    "mono8", "mono16", "8UC1", "8UC3", "16UC1", "16SC1", "32FC1", "64FC1",
    "bgr8", "rgb8", "bgra8", "rgba8",
)  # fmt: skip


@dataclass
class FakeImage:
    """Duck-typed stand-in with the Image attributes image_to_array reads."""

    height: Any = 0
    width: Any = 0
    encoding: Any = "mono8"
    is_bigendian: Any = 0
    step: Any = 0
    data: Any = b""


def random_array(rng: np.random.Generator, encoding: str, height: int, width: int) -> np.ndarray:
    dtype, channels = encoding_info(encoding)
    shape = (height, width) if channels == 1 else (height, width, channels)
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * dtype.itemsize, dtype=np.uint8)
    return raw.view(dtype).reshape(shape)  # any bit pattern, NaNs included for floats


def bits(a: np.ndarray) -> np.ndarray:
    """Bitwise view so that NaN payloads compare exactly."""
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def hand_built(
    values: np.ndarray, encoding: str, *, big: bool = HOST_BIG, pad: bytes = b"", cls=Image
) -> Any:
    """Build a message by hand: rows in the requested byte order followed by ``pad``."""
    dtype, channels = encoding_info(encoding)
    height, width = values.shape[:2]
    row_bytes = width * channels * dtype.itemsize
    rows = values.astype(dtype.newbyteorder(">" if big else "<")).reshape(height, width * channels)
    data = b"".join(rows[r].tobytes() + pad for r in range(height))
    return cls(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(big),
        step=row_bytes + len(pad),
        data=data,
    )


# --------------------------------------------------------------------------- table


def test_required_encodings_present() -> None:
    assert isinstance(SUPPORTED_ENCODINGS, tuple)
    assert set(REQUIRED) <= set(SUPPORTED_ENCODINGS)
    assert encoding_info("mono16") == (np.dtype(np.uint16), 1)
    assert encoding_info("16UC1") == encoding_info("mono16")
    assert encoding_info("bgra8") == (np.dtype(np.uint8), 4)
    assert encoding_info("32FC1") == (np.dtype(np.float32), 1)
    assert encoding_info("64FC1") == (np.dtype(np.float64), 1)
    assert encoding_info("16SC1") == (np.dtype(np.int16), 1)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_round_trip_every_encoding(encoding: str) -> None:
    rng = np.random.default_rng(zlib.crc32(encoding.encode()))
    values = random_array(rng, encoding, 5, 7)
    msg = array_to_image(values, encoding, frame_id="thermal")
    assert isinstance(msg, Image)
    dtype, channels = encoding_info(encoding)
    assert (msg.height, msg.width, msg.encoding) == (5, 7, encoding)
    assert msg.step == 7 * channels * dtype.itemsize
    assert len(msg.data) == msg.step * msg.height
    assert msg.is_bigendian == int(HOST_BIG)
    assert msg.header.frame_id == "thermal"
    out = image_to_array(msg)
    assert out.dtype == values.dtype and out.shape == values.shape
    assert np.array_equal(bits(out), bits(values))


def test_mono16_and_16uc1_interchangeable() -> None:
    values = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    for encoding in ("mono16", "16UC1"):
        out = image_to_array(array_to_image(values, encoding))
        assert out.dtype == np.uint16 and np.array_equal(out, values)


def test_single_channel_accepts_trailing_axis() -> None:
    values = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    out = image_to_array(array_to_image(values, "mono8"))
    assert out.shape == (2, 3) and np.array_equal(out, values[..., 0])


def test_colour_order_is_passthrough() -> None:
    values = np.zeros((1, 1, 3), np.uint8)
    values[0, 0] = (1, 2, 3)
    for encoding in ("bgr8", "rgb8"):
        msg = array_to_image(values, encoding)
        assert list(msg.data) == [1, 2, 3]
        assert image_to_array(msg)[0, 0].tolist() == [1, 2, 3]


def test_empty_images() -> None:
    for shape, encoding in (((0, 0), "mono16"), ((0, 5, 3), "bgr8"), ((4, 0), "32FC1")):
        msg = array_to_image(np.zeros(shape, encoding_info(encoding)[0]), encoding)
        assert len(msg.data) == 0
        out = image_to_array(msg)
        assert out.shape == shape and out.dtype == encoding_info(encoding)[0]
    assert image_to_array(Image(encoding="mono8")).shape == (0, 0)


def test_nan_inf_survive_bit_exactly() -> None:
    patterns = np.array(
        [0x7FC00000, 0x7FC00001, 0xFFC12345, 0x7F800001, 0x7F800000, 0xFF800000, 0x80000000, 1],
        dtype=np.uint32,
    )
    values = patterns.view(np.float32).reshape(2, 4)
    out = image_to_array(array_to_image(values, "32FC1"), copy=True)
    assert np.array_equal(out.view(np.uint32), patterns.reshape(2, 4))
    swapped = image_to_array(hand_built(values, "32FC1", big=not HOST_BIG))
    assert np.array_equal(swapped.view(np.uint32), patterns.reshape(2, 4))


# --------------------------------------------------------------------------- views / copies


def test_zero_copy_view_and_copy() -> None:
    values = np.arange(20, dtype=np.uint16).reshape(4, 5)
    msg = array_to_image(values, "mono16")
    view = image_to_array(msg)
    assert np.shares_memory(view, np.frombuffer(msg.data, np.uint8))
    owned = image_to_array(msg, copy=True)
    assert not np.shares_memory(owned, np.frombuffer(msg.data, np.uint8))
    assert owned.flags.c_contiguous and owned.flags.writeable
    msg.data[0] = 0xFF
    assert view[0, 0] == 0xFF and owned[0, 0] == 0


def test_read_only_data_gives_read_only_view() -> None:
    msg = hand_built(np.ones((2, 3), np.uint16), "mono16", cls=FakeImage)
    assert isinstance(msg.data, bytes)
    view = image_to_array(msg)
    assert not view.flags.writeable
    assert image_to_array(msg, copy=True).flags.writeable


@pytest.mark.parametrize(
    "wrap", [bytes, bytearray, list, memoryview, lambda b: array.array("B", b),
             lambda b: np.frombuffer(b, np.uint8)],
)  # fmt: skip
def test_data_container_types(wrap) -> None:
    values = np.arange(24, dtype=np.int16).reshape(2, 4, 3) - 12
    msg = hand_built(values, "16SC3", pad=b"\x00\x01", cls=FakeImage)
    msg.data = wrap(msg.data)
    assert np.array_equal(image_to_array(msg), values)


# --------------------------------------------------------------------------- padding / endianness


@pytest.mark.parametrize("encoding,pad", [("mono16", 6), ("bgr8", 5), ("32FC1", 3),
                                          ("16UC1", 1), ("64FC1", 8), ("rgba8", 2)])  # fmt: skip
def test_row_padding_is_cropped(encoding: str, pad: int) -> None:
    rng = np.random.default_rng(7)
    values = random_array(rng, encoding, 6, 9)
    msg = hand_built(values, encoding, pad=b"\xab" * pad)
    assert msg.step > 9 * encoding_info(encoding)[0].itemsize * encoding_info(encoding)[1]
    out = image_to_array(msg)
    assert out.shape == values.shape and np.array_equal(bits(out), bits(values))
    assert np.array_equal(bits(image_to_array(msg, copy=True)), bits(values))


def test_extra_trailing_data_is_ignored() -> None:
    values = np.arange(6, dtype=np.uint8).reshape(2, 3)
    msg = hand_built(values, "mono8")
    msg.data = bytes(msg.data) + b"\x99" * 10
    assert np.array_equal(image_to_array(msg), values)


def test_big_endian_mono16_decodes_to_native() -> None:
    values = np.array([[0, 1, 256], [0x1234, 0xFFFE, 0x8000]], dtype=np.uint16)
    msg = Image(height=2, width=3, encoding="mono16", is_bigendian=1, step=6,
                data=values.astype(">u2").tobytes())  # fmt: skip
    out = image_to_array(msg)
    assert out.dtype == np.uint16 and out.dtype.isnative
    assert np.array_equal(out, values)


def test_big_endian_32fc1_with_padding_decodes_to_native() -> None:
    values = np.array([[1.5, -2.25, 1e30], [0.0, -0.0, 3.14159]], dtype=np.float32)
    msg = hand_built(values, "32FC1", big=True, pad=b"\xee" * 4)
    assert msg.is_bigendian == 1
    out = image_to_array(msg)
    assert out.dtype == np.float32 and out.dtype.isnative and out.flags.c_contiguous
    assert np.array_equal(bits(out), bits(values))


def test_little_endian_flag_on_little_host_is_zero_copy() -> None:
    values = np.arange(6, dtype=np.float64).reshape(2, 3)
    msg = hand_built(values, "64FC1", big=HOST_BIG)
    assert np.shares_memory(image_to_array(msg), np.frombuffer(msg.data, np.uint8))


def test_non_native_and_non_contiguous_arrays_are_encoded_in_host_order() -> None:
    values = np.arange(30, dtype=np.uint16).reshape(5, 6)
    foreign = values.astype(values.dtype.newbyteorder("S"))
    msg = array_to_image(foreign, "mono16")
    assert msg.is_bigendian == int(HOST_BIG)
    assert bytes(msg.data) == values.tobytes()
    strided = values.T[::2]
    assert np.array_equal(image_to_array(array_to_image(strided, "16UC1")), strided)


# --------------------------------------------------------------------------- header / reuse


def test_header_frame_id_and_stamp() -> None:
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    values = np.zeros((2, 2), np.uint8)
    msg = array_to_image(values, "mono8", frame_id="cam", stamp=Time(sec=3, nanosec=4))
    assert msg.header.frame_id == "cam"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (3, 4)
    header = Header(frame_id="other", stamp=Time(sec=9))
    assert array_to_image(values, "mono8", header=header).header == header
    with pytest.raises(ImageConversionError, match="header"):
        array_to_image(values, "mono8", header=header, frame_id="cam")


def test_stamp_accepts_rclpy_time() -> None:
    rclpy_time = pytest.importorskip("rclpy.time")
    msg = array_to_image(np.zeros((1, 1), np.uint8), "mono8",
                         stamp=rclpy_time.Time(seconds=5, nanoseconds=6))  # fmt: skip
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (5, 6)


def test_message_reuse_same_and_different_size() -> None:
    msg = Image()
    first = np.full((4, 5), 7, np.uint16)
    assert array_to_image(first, "mono16", msg=msg) is msg
    buffer_before = msg.data
    second = np.arange(20, dtype=np.uint16).reshape(4, 5)
    array_to_image(second, "mono16", msg=msg, frame_id="f")
    assert msg.data is buffer_before  # same size: rewritten in place
    assert np.array_equal(image_to_array(msg), second) and msg.header.frame_id == "f"
    third = np.arange(36, dtype=np.float32).reshape(3, 4, 3)
    array_to_image(third, "32FC3", msg=msg)
    assert (msg.height, msg.width, msg.encoding, msg.step) == (3, 4, "32FC3", 48)
    assert np.array_equal(image_to_array(msg), third)


def test_message_reuse_while_old_view_alive() -> None:
    msg = array_to_image(np.full((2, 2), 3, np.uint8), "mono8")
    old_view = image_to_array(msg)  # pins the old buffer: it cannot be resized
    bigger = np.arange(12, dtype=np.uint8).reshape(3, 4)
    array_to_image(bigger, "mono8", msg=msg)
    assert np.array_equal(image_to_array(msg), bigger)
    assert np.array_equal(old_view, np.full((2, 2), 3, np.uint8))


def test_reuse_with_check_fields_message() -> None:
    msg = Image(check_fields=True)
    values = np.arange(8, dtype=np.uint8).reshape(2, 4)
    array_to_image(values, "8UC1", msg=msg)
    array_to_image(values[:, :2].copy(), "8UC1", msg=msg)
    assert np.array_equal(image_to_array(msg), values[:, :2])


# --------------------------------------------------------------------------- errors


def _raises(match: str, fn, *args, **kwargs) -> ImageConversionError:
    with pytest.raises(ImageConversionError, match=match) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    return info.value


def test_unknown_encoding() -> None:
    err = _raises("unknown encoding", encoding_info, "mono12")
    assert "mono16" in str(err) and "32FC1" in str(err)
    _raises("unknown encoding", image_to_array, Image(encoding="jpeg", height=1, width=1, step=1,
                                                      data=b"\x00"))  # fmt: skip
    _raises("unknown encoding", array_to_image, np.zeros((1, 1), np.uint8), "MONO8")
    _raises("unknown encoding", encoding_info, None)


def test_short_data() -> None:
    msg = Image(height=4, width=4, encoding="mono16", step=8, data=bytes(31))
    _raises("data length", image_to_array, msg)


def test_step_too_small() -> None:
    msg = Image(height=2, width=4, encoding="mono16", step=7, data=bytes(64))
    _raises("step", image_to_array, msg)


def test_bad_size_fields() -> None:
    msg = Image(encoding="mono8", height=1, width=1, step=1, data=b"\x00", check_fields=False)
    msg.height = -1
    _raises("height", image_to_array, msg)
    msg.height, msg.width = 1, "1"
    _raises("width", image_to_array, msg)
    msg.width, msg.step = 1, 2**40
    _raises("step", image_to_array, msg)


def test_bad_data_containers() -> None:
    for data in ("abc", [1, 300], [-1], [1.5, 2.0], None, [[1, 2]]):
        _raises("data", image_to_array, FakeImage(1, 1, "mono8", 0, 1, data))


def test_dtype_mismatch() -> None:
    _raises("dtype", array_to_image, np.zeros((2, 2), np.float64), "32FC1")
    _raises("dtype", array_to_image, np.zeros((2, 2), np.int16), "mono16")
    _raises("dtype", array_to_image, np.zeros((2, 2), bool), "mono8")


def test_channel_mismatch() -> None:
    _raises("channel", array_to_image, np.zeros((2, 2, 3), np.uint16), "mono16")
    _raises("channel", array_to_image, np.zeros((2, 2), np.uint8), "bgr8")
    _raises("channel", array_to_image, np.zeros((2, 2, 4), np.uint8), "rgb8")


def test_bad_array_rank_or_type() -> None:
    _raises("shape", array_to_image, np.zeros(4, np.uint8), "mono8")
    _raises("shape", array_to_image, np.zeros((1, 2, 3, 4), np.uint8), "mono8")
    _raises("ndarray", array_to_image, [[1, 2]], "mono8")


# --------------------------------------------------------------------------- properties

# examples: the hypothesis profile (conftest.py; HYPOTHESIS_PROFILE=soak for make soak)
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    encoding=st.sampled_from(SUPPORTED_ENCODINGS),
    height=st.integers(0, 40),
    width=st.integers(0, 40),
    pad=st.binary(max_size=16),
    big=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_hand_built_round_trip(encoding, height, width, pad, big, seed) -> None:
    values = random_array(np.random.default_rng(seed), encoding, height, width)
    msg = hand_built(values, encoding, big=big, pad=pad)
    out = image_to_array(msg)
    assert out.shape == values.shape and out.dtype == values.dtype and out.dtype.isnative
    assert np.array_equal(bits(out), bits(values))
    again = image_to_array(array_to_image(out, encoding), copy=True)
    assert np.array_equal(bits(again), bits(values))


_wild_int = st.one_of(
    st.integers(-3, 64), st.integers(-(2**40), 2**40), st.none(), st.text(max_size=3),
    st.floats(allow_nan=True), st.booleans(),
)  # fmt: skip
_garbage_int = st.one_of(st.integers(0, 6), st.integers(0, 6), _wild_int)
_garbage_step = st.one_of(st.integers(0, 48), st.integers(0, 48), _wild_int)
_garbage_data = st.one_of(
    st.binary(max_size=512), st.lists(st.integers(-5, 300), max_size=64), st.text(max_size=8),
    st.none(), st.binary(max_size=64).map(bytearray),
)  # fmt: skip


@FAST
@given(
    height=_garbage_int,
    width=_garbage_int,
    step=_garbage_step,
    encoding=st.one_of(
        st.sampled_from(SUPPORTED_ENCODINGS), st.sampled_from(SUPPORTED_ENCODINGS),
        st.text(max_size=8), st.none(),
    ),
    is_bigendian=st.one_of(st.integers(0, 1), st.integers(-2, 300)),
    data=_garbage_data,
    real=st.booleans(),
)
def test_property_garbage_never_escapes(height, width, step, encoding, is_bigendian, data,
                                        real) -> None:  # fmt: skip
    if real and isinstance(data, (bytes, bytearray)):
        msg = Image(check_fields=False)
        msg.height, msg.width, msg.step, msg.encoding = height, width, step, encoding
        msg.is_bigendian, msg.data = is_bigendian, data
    else:
        msg = FakeImage(height, width, encoding, is_bigendian, step, data)
    try:
        out = image_to_array(msg)
    except ImageConversionError:
        return
    dtype, channels = encoding_info(encoding)
    expected = (height, width) if channels == 1 else (height, width, channels)
    assert out.shape == expected and out.dtype == dtype


@FAST
@given(
    encoding=st.sampled_from(SUPPORTED_ENCODINGS),
    dtype=st.sampled_from(["u1", "i1", "u2", "i2", "i4", "f4", "f8", "?", "u4", "f2"]),
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
)
def test_property_array_to_image_validates(encoding, dtype, shape) -> None:
    values = np.zeros(shape, dtype)
    try:
        msg = array_to_image(values, encoding)
    except ImageConversionError:
        return
    out = image_to_array(msg)
    assert out.dtype == values.dtype and out.size == values.size


@FAST
@given(
    encoding=st.sampled_from(SUPPORTED_ENCODINGS),
    height=st.integers(0, 6),
    width=st.integers(0, 6),
    step_delta=st.integers(-3, 9),
    size_delta=st.integers(-5, 9),
    big=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_near_valid_messages(encoding, height, width, step_delta, size_delta, big,
                                      seed) -> None:  # fmt: skip
    """Random bytes with sizes around the valid boundary: decode exactly or reject cleanly."""
    dtype, channels = encoding_info(encoding)
    row = width * channels * dtype.itemsize
    step = max(0, row + step_delta)
    size = max(0, step * height + size_delta)
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(big), step=step,
                data=data)  # fmt: skip
    if step < row or size < step * height:
        with pytest.raises(ImageConversionError, match=r"step|data length"):
            image_to_array(msg)
        return
    out = image_to_array(msg)
    wire = dtype.newbyteorder(">" if big else "<")
    expected = np.array(
        [np.frombuffer(data, wire, width * channels, r * step) for r in range(height)], dtype
    ).reshape(out.shape)
    assert out.dtype == dtype and out.shape[:2] == (height, width)
    assert np.array_equal(bits(out), bits(expected))
