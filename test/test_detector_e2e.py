"""Driver -> processor -> detector over DDS on a simulated search area: people in view are
detected where the scene's truth has them, with the image's stamp."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import REPO, requires_ros
from scipy import ndimage
from test_pipeline_e2e import spin_until

pytestmark = requires_ros

WIDTH, HEIGHT, ALTITUDE_M = 320, 256, 30.0
EDGE_PX = 12  # people cut by the image border are not asked for


def seed_with_people(min_people: int = 2) -> tuple[int, list[tuple[float, float]]]:
    """A scene seed whose first view holds at least ``min_people`` people (hovering camera),
    with their centroids in pixels."""
    from thermal_perception.core.physics.camera import get_profile
    from thermal_perception.sim.simulator import ThermalSimulator
    from thermal_perception.sim.truth import LABELS

    profile = get_profile("boson640").with_size(WIDTH, HEIGHT)
    for seed in range(60):
        sim = ThermalSimulator(profile, altitude_m=ALTITUDE_M, speed_mps=0.0, seed=seed)
        people = sim.truth(0.0).labels == LABELS["person"]
        labels, n = ndimage.label(people)
        centres = ndimage.center_of_mass(people, labels, range(1, n + 1)) if n else []
        inside = [(float(x), float(y)) for y, x in centres
                  if EDGE_PX <= x < WIDTH - EDGE_PX and EDGE_PX <= y < HEIGHT - EDGE_PX]
        if len(inside) >= min_people:
            return seed, inside
    raise AssertionError("no seed with people in view")


def frames_since_first_person(messages: list) -> int:
    """Detection messages received after the first one holding a person (-1: none yet)."""
    for i, msg in enumerate(messages):
        if any(d.label == "person" for d in msg.detections):
            return len(messages) - 1 - i
    return -1


@pytest.fixture(scope="module")
def detections(rclpy_context, tmp_path_factory):
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.ros.qos import reliable_qos, sensor_qos
    from thermal_perception.runner import Pipeline

    seed, people = seed_with_people()
    node = rclpy_context.create_node("detector_probe", namespace="/sar")
    got = {"detections": [], "images": []}
    node.create_subscription(ThermalDetectionArray, "detections", got["detections"].append,
                             reliable_qos())
    node.create_subscription(Image, "image_detections", got["images"].append, sensor_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    overrides = {"driver": {"width": WIDTH, "height": HEIGHT, "rate_hz": 10.0, "seed": seed,
                            "speed_mps": 0.0, "altitude_m": ALTITUDE_M,
                            "simulate_fusion_sensors": False},
                 "detector": {"altitude_m": ALTITUDE_M}}
    with Pipeline(REPO / "config" / "uav_sar.yaml", "sar", overrides,
                  log_dir=tmp_path_factory.mktemp("logs"),
                  only=["driver", "processor", "detector"]) as pipeline:
        # The detector finds warm bodies once it knows the ground sample distance (from the
        # driver's camera_info, whose discovery can lag the images on a loaded machine): ask
        # for ten frames after the first person, so confirmed tracks have had time to form.
        ok = spin_until(executor, lambda: frames_since_first_person(got["detections"]) >= 10
                        and got["images"], 60.0)
        failed = pipeline.failed()
    executor.shutdown()
    node.destroy_node()
    if not ok:
        pytest.fail("no person detected by the pipeline within 60 s:\n" + "\n".join(failed))
    return got, people


def test_people_in_view_are_detected_and_tracked(detections):
    got, people = detections
    last = got["detections"][-1]
    found = [d for d in last.detections if d.label == "person"]
    for x, y in people:
        distances = [np.hypot(d.centroid_x - x, d.centroid_y - y) for d in found]
        assert distances and min(distances) < 3.0, f"person at ({x:.0f}, {y:.0f}) missed"
    assert all(d.track_id > 0 for d in found), "confirmed tracks carry ids"
    assert all(d.area_m2 == d.area_m2 and d.area_m2 > 0 for d in found)  # GSD known


def test_detections_keep_the_image_header(detections):
    got, _ = detections
    msg = got["detections"][-1]
    assert msg.header.frame_id == "thermal_camera_optical_frame"
    assert msg.header.stamp.sec > 0
    image = got["images"][-1]
    assert image.encoding == "bgr8" and (image.width, image.height) == (WIDTH, HEIGHT)


def test_input_queue_depth_is_the_image_subscriptions_history(rclpy_context) -> None:
    """The detector keeps ``input_queue_depth`` frames (default 1: the newest frame when
    detection is slower than the camera); read-only, so it cannot drift from the QoS."""
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.detector import DetectorNode

    default = DetectorNode(namespace="/depth_default")
    deeper = DetectorNode(namespace="/depth_five",
                          parameter_overrides=[Parameter("input_queue_depth", value=5)])
    try:
        assert default.image_sub.qos_profile.depth == 1
        assert deeper.image_sub.qos_profile.depth == 5
        result = deeper.set_parameters([Parameter("input_queue_depth", value=2)])[0]
        assert not result.successful and deeper.image_sub.qos_profile.depth == 5
    finally:
        default.destroy_node()
        deeper.destroy_node()


def test_max_rate_detects_on_every_third_frame_of_a_30_hz_stream(rclpy_context) -> None:
    """``max_rate_hz: 10`` on 30 Hz frames (by their stamps): detections for frames 0, 3, 6...,
    the others counted as skipped; a stamp going back starts over; a lost frame does not
    lower the rate."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.nodes.detector import DetectorNode
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    ns = "/max_rate"
    node = DetectorNode(namespace=ns, parameter_overrides=[
        Parameter("max_rate_hz", value=10.0), Parameter("input_queue_depth", value=50),
        Parameter("gsd_m", value=0.1)])
    probe = rclpy_context.create_node("rate_probe", namespace=ns)
    pub = probe.create_publisher(Image, "image_temperature", sensor_qos(depth=50))
    got: list = []
    probe.create_subscription(ThermalDetectionArray, "detections", got.append, reliable_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)
    frame = np.full((64, 80), 15.0, np.float32)
    frame[20:30, 30:34] = 33.0  # a warm, person-sized blob at 0.1 m per pixel

    def send(stamps_ns):
        for t in stamps_ns:
            msg = array_to_image(frame, "32FC1")
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t, 1_000_000_000)
            pub.publish(msg)
            spin_until(executor, lambda: False, 0.02)

    try:
        assert spin_until(executor, lambda: pub.get_subscription_count() > 0, 10.0)
        period = 1_000_000_000 // 30  # 33.3 ms, integer stamps as a camera gives them
        send([5_000_000_000 + k * period for k in range(12)])
        assert spin_until(executor, lambda: len(got) >= 4 and node.skipped_by_rate >= 8, 10.0)
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in got]
        assert stamps == [5_000_000_000 + k * period for k in (0, 3, 6, 9)]
        assert node.skipped_by_rate == 8 and node.frames == 4
        status = node._diagnostics()[0]
        assert {v.key: v.value for v in status.values}["skipped_by_max_rate"] == "8"
        # a looping bag starts over at once; a frame lost on the way (the 3rd) moves that
        # slot to the next frame and keeps the rest in phase: frames 0, 4, 6, 9
        got.clear()
        send([1_000_000_000 + k * period for k in range(12) if k != 3])
        assert spin_until(executor, lambda: len(got) >= 4, 10.0)
        spin_until(executor, lambda: False, 0.2)
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in got]
        assert stamps == [1_000_000_000 + k * period for k in (0, 4, 6, 9)]
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()


def test_grey_level_video_on_image_relative(rclpy_context) -> None:
    """An 8-bit drone frame (HIT-UAV test, mono8, as an AGC camera gives it) on
    image_relative: the node's detections are the learned detector's own on those levels
    (NaN temperatures); grey levels with the warm-body backend, or colour, are refused."""
    import cv2
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from thermal_perception.core.detection.model import LearnedDetector
    from thermal_perception.evaluation.dataset import item_gsd_m
    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.io.labels import read_dataset
    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.nodes.detector import DetectorNode
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    item = next(it for it in read_dataset(REPO / "data" / "hit_uav_sample", "test")
                if it.labels.count("person") >= 3)
    levels = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
    gsd = item_gsd_m(item)
    expected = [d for d in LearnedDetector("drone").detect(levels, gsd, radiometric=False)
                if d.confidence >= 0.3]
    assert sum(d.label == "person" for d in expected) >= 2

    ns = "/relative"
    node = DetectorNode(namespace=ns, parameter_overrides=[
        Parameter("people_detector", value="model"), Parameter("model_path", value="drone"),
        Parameter("gsd_m", value=gsd), Parameter("tracking", value=False)])
    warm = DetectorNode(namespace=ns + "_warm", parameter_overrides=[
        Parameter("gsd_m", value=gsd)])
    probe = rclpy_context.create_node("relative_probe", namespace=ns)
    pubs = [probe.create_publisher(Image, f"{n}/image_relative", sensor_qos())
            for n in (ns, ns + "_warm")]
    got: list = []
    probe.create_subscription(ThermalDetectionArray, "detections", got.append, reliable_qos())
    executor = SingleThreadedExecutor()
    for n in (node, warm, probe):
        executor.add_node(n)
    try:
        assert spin_until(executor, lambda: all(p.get_subscription_count() for p in pubs), 10.0)
        msg = array_to_image(levels, "mono8")
        msg.header.stamp.sec = 7
        for pub in pubs:
            pub.publish(msg)
        assert spin_until(executor, lambda: got and warm.rejected, 30.0)
        found = got[-1].detections
        assert [(d.label, d.x0, d.y0, d.x1, d.y1) for d in found] == \
            [(d.label, *d.bbox) for d in expected]
        assert all(math.isnan(d.max_temperature_c) for d in found)
        assert node.relative_frames == 1 and "people_detector 'model'" in warm.last_reject
        colour = array_to_image(np.dstack([levels] * 3), "bgr8")
        colour.header.stamp.sec = 8
        pubs[0].publish(colour)
        assert spin_until(executor, lambda: node.rejected == 1, 10.0)
        assert "image_relative encoding 'bgr8'" in node.last_reject
    finally:
        executor.shutdown()
        for n in (node, warm, probe):
            n.destroy_node()


def test_backend_advice_from_the_drivers_status(rclpy_context) -> None:
    """The driver's ``status.source`` says where frames come from: the warm-body backend on a
    real camera's frames, or the learned model on the simulator's, gets advice on
    ``/diagnostics`` (level OK: a deliberate choice is not a fault) and in the log; a backend
    that suits its frames gets none, and changing the parameter clears it."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from thermal_perception.msg import ThermalStatus
    from thermal_perception.nodes.detector import DetectorNode
    from thermal_perception.ros import diagnostics
    from thermal_perception.ros.qos import reliable_qos

    ns = "/advice"
    node = DetectorNode(namespace=ns, parameter_overrides=[Parameter("gsd_m", value=0.1)])
    probe = rclpy_context.create_node("status_probe", namespace=ns)
    pub = probe.create_publisher(ThermalStatus, "status", reliable_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)

    def report() -> tuple[int, str, dict]:
        status = node._diagnostics()[0]
        return ord(status.level), status.message, {v.key: v.value for v in status.values}

    try:
        assert spin_until(executor, lambda: pub.get_subscription_count() > 0, 10.0)
        assert report()[2]["frame_source"] == "unknown (no status)" and not node.advice
        pub.publish(ThermalStatus(source="v4l2:/dev/video0"))
        assert spin_until(executor, lambda: node.frame_source == "v4l2:/dev/video0", 10.0)
        assert report()[2]["frame_source"] == "v4l2:/dev/video0"
        assert node.advice.startswith("people_detector 'warm_body' on frames from "
                                      "'v4l2:/dev/video0'")
        assert "set people_detector: model" in node.advice
        # a real problem (here: no frames yet) outranks the advice
        assert report()[:2] == (diagnostics.WARN, "no temperature images received")
        node.frames = 1  # as if detecting: the advice is the message, at level OK
        assert report()[:2] == (diagnostics.OK, f"detecting; advice: {node.advice}")
        assert node.set_parameters([Parameter("people_detector", value="model")])[0].successful
        assert node.advice == "" and report()[1] == "detecting"
        pub.publish(ThermalStatus(source="simulator"))
        assert spin_until(executor, lambda: node.frame_source == "simulator", 10.0)
        assert "people_detector 'model' on the simulator's frames" in node.advice
        assert node.set_parameters([Parameter("warm_bodies", value=False)])[0].successful
        assert node.advice == ""  # no people backend, no advice
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
