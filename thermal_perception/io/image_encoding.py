"""Conversion between numpy arrays and ``sensor_msgs/msg/Image`` without cv_bridge.

cv_bridge is not published on PyPI, so the package carries this small replacement. It
reproduces the semantics of cv_bridge's ``imgmsg_to_cv2(msg, 'passthrough')`` and
``cv2_to_imgmsg(array, encoding)``:

* the encoding decides the numpy dtype and channel count (:data:`SUPPORTED_ENCODINGS`);
* single-channel images are ``(H, W)`` arrays, multi-channel images ``(H, W, C)``;
* rows may be padded (``step > width * pixel size``); the padding is cropped away;
* data whose ``is_bigendian`` differs from the host is byte-swapped to native order;
* ``mono16`` and ``16UC1`` (like ``mono8`` and ``8UC1``, or ``bgr8``/``rgb8`` and ``8UC3``)
  are the same pixel layout: both decode to ``uint16`` ``(H, W)`` arrays and both accept such
  an array on encode. No colour conversion is ever done, exactly as with ``'passthrough'``.

Differences from cv_bridge, all deliberate:

* :func:`image_to_array` returns a zero-copy view on ``msg.data`` when it can (pass
  ``copy=True`` for an owned, C-contiguous array, which is what cv_bridge always returns);
* :func:`array_to_image` always writes host byte order: an array with a non-native dtype is
  converted, where cv_bridge would keep its bytes and flag ``is_bigendian``;
* every malformed message or mismatched array raises :class:`ImageConversionError` (a
  ``ValueError``), never ``TypeError``/``IndexError`` from deep inside numpy.

cv_bridge is not used even when it happens to be importable, so behaviour does not depend on
the install. ``sensor_msgs`` is imported lazily, only by :func:`array_to_image` when it has to
create a message; :func:`image_to_array` works on any object with the ``Image`` attributes
(``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``, ``data``).
"""

from __future__ import annotations

import array as _array
import operator
import sys
from typing import Any

import numpy as np

__all__ = [
    "ENCODINGS",
    "SUPPORTED_ENCODINGS",
    "ImageConversionError",
    "array_to_image",
    "encoding_info",
    "image_to_array",
]

_UINT32_MAX = 2**32 - 1
_HOST_IS_BIGENDIAN = sys.byteorder == "big"

# Canonical strings from sensor_msgs/image_encodings.hpp.
_GENERIC_DEPTHS = {
    "8U": np.uint8,
    "8S": np.int8,
    "16U": np.uint16,
    "16S": np.int16,
    "32S": np.int32,
    "32F": np.float32,
    "64F": np.float64,
}

ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgb8": (np.dtype(np.uint8), 3),
    "bgra8": (np.dtype(np.uint8), 4),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgr16": (np.dtype(np.uint16), 3),
    "rgb16": (np.dtype(np.uint16), 3),
    "bgra16": (np.dtype(np.uint16), 4),
    "rgba16": (np.dtype(np.uint16), 4),
    "yuv422": (np.dtype(np.uint8), 2),
    "yuv422_yuy2": (np.dtype(np.uint8), 2),
    **{
        f"bayer_{pattern}{bits}": (np.dtype(np.uint8 if bits == 8 else np.uint16), 1)
        for pattern in ("rggb", "bggr", "gbrg", "grbg")
        for bits in (8, 16)
    },
    **{
        f"{depth}C{channels}": (np.dtype(dtype), channels)
        for depth, dtype in _GENERIC_DEPTHS.items()
        for channels in (1, 2, 3, 4)
    },
}
"""Encoding -> (native numpy dtype, channel count); the single source of truth."""

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(ENCODINGS)
"""All encodings understood by :func:`image_to_array` and :func:`array_to_image`."""


class ImageConversionError(ValueError):
    """A message or array cannot be converted (bad encoding, sizes, dtype or channels)."""


def encoding_info(encoding: str) -> tuple[np.dtype, int]:
    """Return the numpy dtype (native byte order) and channel count of an encoding.

    Parameters
    ----------
    encoding : str
        A ``sensor_msgs`` image encoding such as ``'mono16'`` or ``'32FC1'``.

    Returns
    -------
    (numpy.dtype, int)

    Raises
    ------
    ImageConversionError
        If the encoding is unknown.
    """
    info = ENCODINGS.get(encoding) if isinstance(encoding, str) else None
    if info is None:
        raise ImageConversionError(
            f"unknown encoding {encoding!r}; supported encodings: "
            + ", ".join(SUPPORTED_ENCODINGS)
        )
    return info


def _uint32_field(value: Any, name: str) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise ImageConversionError(
            f"{name} must be an integer, got {type(value).__name__}"
        ) from None
    if not 0 <= number <= _UINT32_MAX:
        raise ImageConversionError(f"{name} {number} is out of range for uint32")
    return number


def _byte_buffer(data: Any) -> np.ndarray:
    """View (or, for a list, copy) ``data`` as a flat uint8 array."""
    if isinstance(data, np.ndarray) and data.dtype == np.uint8:
        return data.reshape(-1)
    if isinstance(data, str):
        raise ImageConversionError("data must be a byte sequence, got str")
    if not isinstance(data, np.ndarray):
        try:  # array.array('B') (rclpy), bytes, bytearray, memoryview: zero-copy
            return np.frombuffer(data, dtype=np.uint8)
        except (TypeError, ValueError):
            pass
    try:
        values = np.asarray(data)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ImageConversionError(f"data is not a byte sequence: {exc}") from None
    if values.ndim == 1 and values.size == 0:
        return np.empty(0, np.uint8)
    if values.ndim != 1 or values.dtype.kind not in "iu" or values.min() < 0 or values.max() > 255:
        raise ImageConversionError("data must be a sequence of integers in [0, 255]")
    return values.astype(np.uint8)


def image_oddity(msg: Any) -> str | None:
    """What is odd about an ``Image`` that :func:`image_to_array` still reads right, to be
    said (rate-limited) rather than passed over: data longer than ``step * height`` (the
    extra bytes are ignored). None for a well-formed message; cheap (no pixel is read)."""
    try:
        need = int(msg.step) * int(msg.height)
        have = len(msg.data)
    except (TypeError, ValueError):
        return None  # image_to_array says what is wrong
    if have > need:
        return (f"data is {have} bytes, {have - need} more than step * height = "
                f"{msg.step} * {msg.height}: the extra bytes were ignored")
    return None


def image_to_array(msg: Any, *, copy: bool = False) -> np.ndarray:
    """Decode an ``Image`` message into a numpy array (cv_bridge ``'passthrough'``).

    Parameters
    ----------
    msg : sensor_msgs.msg.Image or compatible object
        Needs ``height``, ``width``, ``encoding``, ``is_bigendian``, ``step`` and ``data``
        (``array.array('B')``, bytes, bytearray, memoryview, uint8 ndarray or list of ints).
    copy : bool, default False
        If False, return a view on ``msg.data`` whenever possible (same endianness as the
        host and a buffer-protocol ``data``); the view may be non-contiguous when rows are
        padded, is read-only when ``data`` is immutable, and changes if ``msg.data`` is
        written. If True, always return an owned C-contiguous array.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` for single-channel encodings, ``(H, W, C)`` otherwise, native byte order.

    Raises
    ------
    ImageConversionError
        Unknown encoding, non-integer or out-of-range sizes, ``step`` smaller than
        ``width * pixel size`` or ``data`` shorter than ``step * height``.
    """
    dtype, channels = encoding_info(msg.encoding)
    height = _uint32_field(msg.height, "height")
    width = _uint32_field(msg.width, "width")
    step = _uint32_field(msg.step, "step")
    pixel_size = dtype.itemsize * channels
    if step < width * pixel_size:
        raise ImageConversionError(
            f"step {step} is smaller than width * pixel size = {width} * {pixel_size} "
            f"for encoding {msg.encoding!r}"
        )
    buffer = _byte_buffer(msg.data)
    if buffer.size < step * height:
        raise ImageConversionError(
            f"data length {buffer.size} is shorter than step * height = {step} * {height}"
        )
    shape = (height, width) if channels == 1 else (height, width, channels)
    if height == 0 or width == 0:
        return np.empty(shape, dtype)

    swap = bool(msg.is_bigendian) != _HOST_IS_BIGENDIAN and dtype.itemsize > 1
    strides = (step, pixel_size) if channels == 1 else (step, pixel_size, dtype.itemsize)
    view = np.ndarray(
        shape,
        dtype=dtype.newbyteorder("S") if swap else dtype,
        buffer=buffer,
        strides=strides,
    )
    if swap:
        return view.astype(dtype, order="C")  # one pass: byte swap + crop + copy
    return np.array(view, order="C") if copy else view


def _set_data(msg: Any, flat: np.ndarray) -> None:
    """Store the uint8 vector ``flat`` in ``msg.data`` with as few copies as possible."""
    data = getattr(msg, "data", None)
    if isinstance(data, _array.array) and data.typecode == "B":
        # Reuse the message's own array: a single memcpy, no setter validation pass.
        if len(data) == flat.size:
            if flat.size:
                memoryview(data)[:] = flat
            return
        try:
            del data[:]
            data.frombytes(flat)
            return
        except BufferError:  # someone holds a view on the old buffer: it cannot be resized
            pass
        fresh = _array.array("B")
        fresh.frombytes(flat)
        msg.data = fresh
    else:
        msg.data = flat.tobytes()


def array_to_image(
    array: np.ndarray,
    encoding: str,
    *,
    header: Any = None,
    frame_id: str = "",
    stamp: Any = None,
    msg: Any = None,
) -> Any:
    """Encode a numpy array as a ``sensor_msgs.msg.Image`` (cv_bridge ``cv2_to_imgmsg``).

    Parameters
    ----------
    array : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` image; ``(H, W, 1)`` is accepted for 1-channel encodings.
        Non-contiguous or non-native-endian arrays are copied to a packed host-order layout.
    encoding : str
        Target encoding; its dtype and channel count must match the array exactly.
    header : std_msgs.msg.Header, optional
        Header to use as is; mutually exclusive with ``frame_id`` and ``stamp``.
    frame_id : str, default ''
        ``header.frame_id`` when ``header`` is not given.
    stamp : builtin_interfaces.msg.Time or rclpy.time.Time, optional
        ``header.stamp`` when ``header`` is not given (left unchanged when None).
    msg : sensor_msgs.msg.Image, optional
        Message to overwrite and return instead of allocating one (one per stream). Its data
        buffer is rewritten in place, so zero-copy arrays previously taken from it change.

    Returns
    -------
    sensor_msgs.msg.Image
        ``step = W * C * itemsize`` (no padding) and ``is_bigendian`` set to host order.

    Raises
    ------
    ImageConversionError
        Unknown encoding, dtype or channel mismatch, bad array rank, or both ``header`` and
        ``frame_id``/``stamp`` given.
    """
    dtype, channels = encoding_info(encoding)
    if not isinstance(array, np.ndarray):
        raise ImageConversionError(f"expected a numpy.ndarray, got {type(array).__name__}")
    if array.ndim not in (2, 3):
        raise ImageConversionError(
            f"expected a 2-D (H, W) or 3-D (H, W, C) array, got shape {array.shape}"
        )
    array_channels = 1 if array.ndim == 2 else array.shape[2]
    if array_channels != channels:
        raise ImageConversionError(
            f"encoding {encoding!r} needs {channels} channel(s), array of shape "
            f"{array.shape} has {array_channels} channels"
        )
    if array.dtype.newbyteorder("=") != dtype:
        raise ImageConversionError(
            f"encoding {encoding!r} needs dtype {dtype}, array has dtype {array.dtype}"
        )
    if header is not None and (frame_id or stamp is not None):
        raise ImageConversionError("pass either header or frame_id/stamp, not both")

    height, width = array.shape[:2]
    step = width * channels * dtype.itemsize
    if max(height, step) > _UINT32_MAX:
        raise ImageConversionError(f"array of shape {array.shape} is too large for an Image")
    if not array.dtype.isnative:
        array = array.astype(dtype)
    array = np.ascontiguousarray(array)

    if msg is None:
        from sensor_msgs.msg import Image

        msg = Image()
    if header is not None:
        msg.header = header
    else:
        msg.header.frame_id = frame_id
        if stamp is not None:
            msg.header.stamp = stamp.to_msg() if hasattr(stamp, "to_msg") else stamp
    msg.height = height
    msg.width = width
    msg.encoding = encoding
    msg.is_bigendian = int(_HOST_IS_BIGENDIAN)
    msg.step = step
    _set_data(msg, array.reshape(-1).view(np.uint8))
    return msg
