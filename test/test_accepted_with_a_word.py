"""Input that used to be accepted without a word (issue 19 item 7): each case is now handled
right *and* said: counted, logged at a rate limit and put on /diagnostics, and the good
frames after it come out in full.

- image data longer than ``step * height`` (processor and detector): the frame is used, the
  extra bytes ignored, the oddity said;
- NaN/inf temperature images at the detector: partly invalid images are detected on (the
  invalid pixels left out) and said; wholly invalid ones are rejected with the reason;
- point clouds whose x/y/z are integers (e.g. UINT8): refused with the types named, since
  integer coordinates are not metres (REP 103);
- mono16 with ``is_bigendian=1``: byte-swapped (the counts are the same as little-endian).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_ros

pytestmark = requires_ros

WARN = b"\x01"


def _message_of(statuses: list) -> tuple[bytes, str]:
    """Level and message of the node's own status (the first; ROIs and others follow)."""
    return statuses[0].level, statuses[0].message


def _counts_message(counts: np.ndarray, sec: int, extra: bytes = b"", big: bool = False):
    from thermal_perception.io.image_encoding import array_to_image

    msg = array_to_image(counts, "mono16")
    if big:
        msg.is_bigendian = 1
        msg.data = counts.astype(">u2").tobytes()
    if extra:
        msg.data = bytes(msg.data) + extra
    msg.header.stamp.sec = sec
    return msg


@pytest.fixture()
def processor(rclpy_context):
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.processor import ProcessorNode

    # a ROI makes every frame go through the whole chain even with no subscribers
    node = ProcessorNode(parameter_overrides=[Parameter("rois", value=["box a 0 0 8 8"])])
    yield node
    node.destroy_node()


@pytest.fixture()
def detector(rclpy_context):
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.detector import DetectorNode

    node = DetectorNode(parameter_overrides=[Parameter("gsd_m", value=0.1),
                                             Parameter("tracking", value=False)])
    got: list = []
    node.detections_pub.publish = got.append  # what the node would publish
    node.published = got
    yield node
    node.destroy_node()


def test_processor_uses_frames_with_extra_data_and_says_so(processor) -> None:
    counts = np.full((16, 20), 8000, np.uint16)
    processor._on_image(_counts_message(counts, 1, extra=b"\0" * 100))
    assert processor.frames_out == 1 and processor.rejected == 0
    assert processor.odd_frames == 1
    level, message = _message_of(processor._diagnostics())
    assert level == WARN and "100 more than step * height" in message
    for sec in range(2, 32):  # the good frames after it, in full
        processor._on_image(_counts_message(counts, sec))
    assert processor.frames_out == 31 and processor.odd_frames == 1
    assert _message_of(processor._diagnostics())[1] != message  # said once, then cleared


def test_big_endian_mono16_reads_as_little_endian(processor) -> None:
    counts = np.arange(320, dtype=np.uint16).reshape(16, 20) * 97 + 1000
    little, big = _counts_message(counts, 1), _counts_message(counts, 2, big=True)
    assert bytes(little.data) != bytes(big.data)
    from thermal_perception.io.image_encoding import image_to_array

    np.testing.assert_array_equal(image_to_array(big), counts)
    np.testing.assert_array_equal(image_to_array(little), counts)
    processor._on_image(big)
    assert processor.frames_out == 1 and processor.rejected == 0


def test_detector_says_nan_pixels_and_rejects_wholly_invalid_images(detector) -> None:
    from thermal_perception.io.image_encoding import array_to_image

    image = np.full((40, 60), 15.0, np.float32)
    image[30:34, 40:44] = 60.0  # a hot spot (below fire_c) that must still be found
    partly = image.copy()
    partly[0:20:4, 0:40:4] = np.nan  # scattered dead pixels (a NaN cluster would read as
    partly[2:20:4, 2:40:4] = -np.inf  # saturation, fire by design), 50 + 50 of them
    msg = array_to_image(partly, "32FC1")
    msg.header.stamp.sec = 1
    detector._on_image(msg)
    assert detector.frames == 1 and detector.odd_frames == 1
    assert [d.label for d in detector.published[0].detections] == ["hotspot"]
    level, message = _message_of(detector._diagnostics())
    assert level == WARN and "100 of 2400 pixels are NaN or inf" in message

    nothing = array_to_image(np.full((40, 60), np.nan, np.float32), "32FC1")
    nothing.header.stamp.sec = 2
    detector._on_image(nothing)
    assert detector.rejected == 1 and detector.frames == 1
    level, message = _message_of(detector._diagnostics())
    assert level == WARN and "no finite temperature" in message

    extra = array_to_image(image, "32FC1")
    extra.data = bytes(extra.data) + b"\0" * 8
    extra.header.stamp.sec = 3
    detector._on_image(extra)
    assert detector.frames == 2 and detector.odd_frames == 2
    assert "8 more than step * height" in _message_of(detector._diagnostics())[1]
    for sec in range(4, 34):  # the good images after them, in full
        good = array_to_image(image, "32FC1")
        good.header.stamp.sec = sec
        detector._on_image(good)
    assert detector.frames == 32 and detector.odd_frames == 2
    assert all(len(m.detections) == 1 for m in detector.published[-30:])


@pytest.mark.parametrize("dtype, name", [(np.uint8, "UINT8"), (np.int16, "INT16")])
def test_integer_point_coordinates_are_refused_with_the_types(dtype, name) -> None:
    from std_msgs.msg import Header

    from thermal_perception.ros.pointcloud2 import PointCloudError, array_to_cloud, cloud_xyz

    points = np.zeros(5, dtype=[("x", dtype), ("y", dtype), ("z", np.float32)])
    with pytest.raises(PointCloudError, match=f"got x {name}, y {name}$"):
        cloud_xyz(array_to_cloud(points, Header()))
    ok = np.zeros(5, dtype=[("x", np.float64), ("y", np.float32), ("z", np.float32)])
    xyz, _ = cloud_xyz(array_to_cloud(ok, Header()))
    assert xyz.shape == (5, 3)
