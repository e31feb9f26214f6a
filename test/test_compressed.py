"""JPEG for ``<topic>/compressed`` (ros/compressed.py): what it refuses, and a known answer."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_ros

pytestmark = requires_ros


def test_jpeg_of_a_flat_image_decodes_to_it() -> None:
    import cv2

    from thermal_perception.ros.compressed import encode_jpeg

    image = np.full((48, 64, 3), (10, 128, 250), np.uint8)  # B, G, R
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(image, 95), np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(decoded.astype(int) - image).max() <= 2  # channel order kept
    assert len(encode_jpeg(image, 10)) <= len(encode_jpeg(image, 95))


@pytest.mark.parametrize(("image", "quality", "words"), [
    (np.zeros((8, 8), np.uint8), 80, "(H, W, 3) uint8"),
    (np.zeros((8, 8, 3), np.uint16), 80, "(H, W, 3) uint8"),
    (np.zeros((8, 8, 3), np.uint8), 0, "quality must be 1..100"),
    (np.zeros((8, 8, 3), np.uint8), 101, "quality must be 1..100"),
])
def test_bad_images_and_qualities_are_refused(image, quality, words) -> None:
    from thermal_perception.ros.compressed import encode_jpeg

    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        encode_jpeg(image, quality)
