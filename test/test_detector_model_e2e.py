"""The detector node with the learned backend (people_detector:=model) over real DDS: a real
drone thermal frame (data/hit_uav_sample) published as a 32FC1 temperature image gives
detections of the labelled people, with temperatures, tracked; garbage input is rejected
with a reason and the node keeps going."""

from __future__ import annotations

import math
import time

import cv2
import numpy as np
import pytest
from conftest import REPO, requires_ros
from hypothesis import given, settings
from test_fuzz_detector import outcomes, temperature_messages

from thermal_perception.io.labels import read_dataset

pytestmark = [requires_ros, pytest.mark.skipif(
    not (REPO / "thermal_perception" / "models" / "thermal_detector.onnx").is_file(),
    reason="no shipped model")]

SAMPLE = REPO / "data" / "hit_uav_sample"


@pytest.fixture(scope="module")
def model_detector(rclpy_context):
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.detector import DetectorNode

    node = DetectorNode(namespace="/model_e2e", parameter_overrides=[
        Parameter("people_detector", value="model"), Parameter("hotspots", value=False),
        Parameter("track_confirm_hits", value=2)])
    yield node
    node.destroy_node()


def test_people_on_a_real_frame_are_detected_over_dds(rclpy_context, model_detector) -> None:
    from rclpy.executors import SingleThreadedExecutor

    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    item = max(read_dataset(SAMPLE), key=lambda it: it.labels.count("person"))
    grey = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
    temperature = (5.0 + grey.astype(np.float32) * (35.0 / 255.0))  # linear, 5..40 C
    probe = rclpy_context.create_node("model_probe", namespace="/model_e2e")
    got: list = []
    probe.create_subscription(ThermalDetectionArray, "detections", got.append, reliable_qos())
    pub = probe.create_publisher(type(array_to_image(temperature, "32FC1")),
                                 "image_temperature", sensor_qos("reliable"))
    executor = SingleThreadedExecutor()
    executor.add_node(probe)
    executor.add_node(model_detector)
    try:
        deadline = time.monotonic() + 60.0
        sent = 0
        while time.monotonic() < deadline and len(got) < 4:
            msg = array_to_image(temperature, "32FC1")
            msg.header.stamp.sec, msg.header.stamp.nanosec = 100 + sent // 10, \
                (sent % 10) * 100_000_000
            pub.publish(msg)
            sent += 1
            for _ in range(5):
                executor.spin_once(timeout_sec=0.05)
    finally:
        executor.remove_node(probe)
        executor.remove_node(model_detector)
        probe.destroy_node()
    assert len(got) >= 4, f"{len(got)} detection messages for {sent} frames"
    last = got[-1].detections
    people = [d for d in last if d.label == "person"]
    labelled = [b for b, lab in zip(item.boxes, item.labels, strict=True) if lab == "person"]
    found = sum(any(d.x0 <= 0.5 * (b[0] + b[2]) < d.x1 and d.y0 <= 0.5 * (b[1] + b[3]) < d.y1
                    for d in people) for b in labelled)
    assert found >= 0.6 * len(labelled), f"{found} of {len(labelled)} labelled people found"
    assert all(math.isfinite(d.max_temperature_c) and 5.0 <= d.max_temperature_c <= 40.0
               for d in people)
    assert any(d.track_id > 0 for d in people)  # tracked: the same frame again and again
    status = model_detector._diagnostics()[0]
    assert status.message == "detecting"  # no ground sample distance needed by the model


@settings(max_examples=60, deadline=None)
@given(msg=temperature_messages())
def test_any_temperature_image_is_detected_or_rejected_by_the_model(model_detector, msg):
    before = outcomes(model_detector)
    model_detector._on_image(msg)
    after = outcomes(model_detector)
    assert after != before, "the image vanished without detections or a rejection"
    if after[1] > before[1]:
        assert model_detector.last_reject


def test_ground_sample_distance_from_altitude_and_pitch(model_detector) -> None:
    """The node's ground sample distance (the warm-body sizes, and the learned backend's
    choice of image scales) from ``altitude_m``, ``camera_pitch_deg`` and camera_info's focal
    length: the slant range to the frame's centre over the focal length."""
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo()
    info.k[0] = 772.0
    model_detector._on_info(info)
    try:
        ok = model_detector.set_parameters([Parameter("altitude_m", value=100.0),
                                            Parameter("camera_pitch_deg", value=30.0)])
        assert all(r.successful for r in ok)
        assert model_detector.gsd_m() == pytest.approx(200.0 / 772.0, rel=1e-9)
        bad = model_detector.set_parameters([Parameter("camera_pitch_deg", value=0.0)])
        assert not bad[0].successful and "camera_pitch_deg" in bad[0].reason
        assert model_detector.get_parameter("camera_pitch_deg").value == 30.0
        model_detector.set_parameters([Parameter("camera_pitch_deg", value=90.0)])
        assert model_detector.gsd_m() == pytest.approx(100.0 / 772.0, rel=1e-9)
    finally:
        model_detector.set_parameters([Parameter("altitude_m", value=0.0),
                                       Parameter("camera_pitch_deg", value=90.0)])
        model_detector.focal_px = math.nan
