"""``<topic>/compressed`` (sensor_msgs/CompressedImage, JPEG) beside a bgr8 image topic, as
image_transport's ``compressed`` plugin publishes it, for links that cannot carry raw images
(a drone's radio to its ground station: a 640x512 bgr8 display image is 983 kB, its JPEG at
quality 80 about 140 kB for the simulator's noisy frames, 1 ms to encode:
``bench/processing.py``). image_transport is a C++ library without Python bindings on PyPI,
so the message is made here: JPEG by OpenCV (``cv2.imencode``), ``format`` as the plugin
writes it (``"bgr8; jpeg compressed bgr8"``), so rqt_image_view, RViz, Foxglove and
image_transport's republisher decode it. Encoded only while someone subscribes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sensor_msgs.msg import CompressedImage

from thermal_perception.view.frames import encode_jpeg as view_jpeg

JPEG_FORMAT = "bgr8; jpeg compressed bgr8"  # compressed_image_transport's format field


def encode_jpeg(image_bgr: NDArray[np.uint8], quality: int) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 BGR image (the ``format`` says bgr8) at ``quality``
    1..100, by the browser view's encoder (:func:`thermal_perception.view.frames.encode_jpeg`)."""
    if image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"need an (H, W, 3) uint8 BGR image, got {image_bgr.dtype}"
                         f"{image_bgr.shape}")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    return view_jpeg(image_bgr, quality)


class CompressedPublisher:
    """Publishes ``<topic>/compressed`` on ``node`` with the image topic's QoS."""

    def __init__(self, node: Any, topic: str, qos: Any) -> None:
        self.publisher = node.create_publisher(CompressedImage, f"{topic}/compressed", qos)
        self.msg = CompressedImage(format=JPEG_FORMAT)

    def wanted(self) -> bool:
        """Whether anyone subscribes (encode only then)."""
        return self.publisher.get_subscription_count() > 0

    def publish(self, image_bgr: NDArray[np.uint8], header: Any, quality: int) -> int:
        """Encode and publish ``image_bgr`` with ``header``; returns the JPEG's size, bytes."""
        data = encode_jpeg(image_bgr, quality)
        self.msg.header = header
        self.msg.data = data
        self.publisher.publish(self.msg)
        return len(data)
