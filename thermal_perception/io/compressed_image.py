"""Raw 16-bit frames from ``sensor_msgs/CompressedImage`` messages, as bags recorded through
image_transport hold them (``<camera>/image_raw/compressed`` or ``.../compressedDepth``):
robots often record a thermal camera's counts as lossless 16-bit PNG to halve the bag.

Accepted (OpenCV decodes the PNG, ``cv2.IMREAD_UNCHANGED``):

* image_transport's ``compressed`` plugin: ``format`` ``"mono16; png compressed mono16"`` (or
  ``16UC1``; ROS 1's bare ``"png"`` too), the PNG as the data;
* the ``compressedDepth`` plugin with PNG: ``"16UC1; compressedDepth png"`` (and ROS 1's
  ``"16UC1; compressedDepth"``): a small configuration header (the depth quantisation, unused
  for 16-bit data) before the PNG; the PNG is found by its signature.

Refused with the reason: JPEG (8 bits and lossy: not raw counts), RVL depth coding, PNG of 8
bits or colour, and data that does not decode.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEADER_SEARCH_BYTES = 64  # compressedDepth's header is 12 bytes; look a little further
RAW_ENCODINGS = ("mono16", "16UC1")


def transport_base(topic: str) -> str:
    """An image_transport topic's base: '/cam/image_raw/compressed' -> '/cam/image_raw'."""
    head, _, last = topic.rpartition("/")
    return head if last in ("compressed", "compressedDepth") else topic


def without_compressed_copies(topics: list[Any]) -> list[Any]:
    """``topics`` (anything with ``topic`` and ``msgtype``: bag connections) less the
    CompressedImage ones whose base topic is there uncompressed: the raw one is read."""
    plain = {t.topic for t in topics if t.msgtype != COMPRESSED_TYPE}
    return [t for t in topics
            if t.msgtype != COMPRESSED_TYPE or transport_base(t.topic) not in plain]


def describe_format(fmt: str) -> tuple[str, str]:
    """(source encoding, codec) of a CompressedImage ``format``: ``("mono16", "png")`` for
    ``"mono16; png compressed mono16"``, ``("16UC1", "compresseddepth png")`` for
    ``"16UC1; compressedDepth png"``, ``("", "png")`` for ROS 1's bare ``"png"``."""
    text = fmt.strip()
    encoding, _, rest = text.partition(";") if ";" in text else ("", "", text)
    rest = rest.strip().lower()
    if rest.startswith("compresseddepth"):
        codec = "compresseddepth " + (rest[len("compresseddepth"):].strip() or "png")
    else:
        codec = rest.split(" ")[0] if rest else ""
    return encoding.strip(), codec


def is_raw_format(fmt: str) -> bool:
    """Whether a CompressedImage ``format`` can hold raw 16-bit counts (16-bit PNG)."""
    encoding, codec = describe_format(fmt)
    return codec in ("png", "compresseddepth png") and encoding in ("", *RAW_ENCODINGS)


def compressed_to_array(msg: Any) -> NDArray[np.uint16]:
    """The (H, W) uint16 counts of a CompressedImage (rclpy or rosbags message, or anything
    with ``format`` and ``data``); ValueError saying why not."""
    fmt = str(msg.format)
    encoding, codec = describe_format(fmt)
    if codec.startswith("jpeg") or codec == "jpg":
        raise ValueError(f"compressed image format {fmt!r}: JPEG holds 8 lossy bits, not raw "
                         "counts (record the raw topic, or its png compressed transport)")
    if codec not in ("png", "compresseddepth png"):
        raise ValueError(f"compressed image format {fmt!r} is not PNG (accepted: "
                         f"'mono16; png compressed mono16', '16UC1; compressedDepth png')")
    if encoding and encoding not in RAW_ENCODINGS:
        raise ValueError(f"compressed image format {fmt!r}: {encoding} is not raw counts "
                         f"(need {' or '.join(RAW_ENCODINGS)})")
    data = bytes(msg.data)
    start = data.find(PNG_SIGNATURE, 0, HEADER_SEARCH_BYTES + len(PNG_SIGNATURE))
    if start < 0:
        raise ValueError(f"compressed image ({fmt!r}, {len(data)} bytes) holds no PNG")
    image = cv2.imdecode(np.frombuffer(data, np.uint8, offset=start), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"compressed image ({fmt!r}, {len(data)} bytes): the PNG does not "
                         "decode (truncated or damaged)")
    if image.dtype != np.uint16 or image.ndim != 2:
        raise ValueError(f"compressed image ({fmt!r}) decodes to {image.dtype} "
                         f"{image.shape}: not 16-bit single-channel counts")
    return image
