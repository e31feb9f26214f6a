"""The fusion node with ``extrinsics_source: tf``: the sensors' poses from the transform tree.

tf2_ros is not installable here (not on PyPI), so the node is given a lookup of fixed
transforms through its ``tf_lookup`` argument (the interface ``Tf2Lookup`` implements on a
tf2_ros buffer); everything else is real: the node on DDS, its overlay, clouds and located
detections compared with those of a node given the same poses as parameters."""

from __future__ import annotations

import importlib.util
import math
import time

import numpy as np
import pytest
from conftest import requires_ros
from test_fusion_node import H, W, cloud, hovering, info, stamped, temperature_image
from test_pipeline_e2e import spin_until as spin_executor_until

from thermal_perception.core.fusion.geometry import RigidTransform
from thermal_perception.ros.tf_extrinsics import (
    TF2_MISSING,
    TransformUnavailable,
    rigid_from_transform,
)
from thermal_perception.settings.fusion import NADIR_CAMERA_MOUNT

HAS_TF2 = importlib.util.find_spec("tf2_ros") is not None
RGB_POSE = [0.1, -0.02, 0.0, 0.0, 0.0, 0.05]  # RGB camera 10 cm aside, yawed 0.05 rad


class FixedTransforms:
    """Transforms by (target, source) frame; records what was asked."""

    def __init__(self, poses: dict[tuple[str, str], RigidTransform]) -> None:
        self.poses = dict(poses)
        self.asked: list[tuple[str, str, int | None]] = []

    def lookup(self, target: str, source: str, stamp_ns: int | None) -> RigidTransform:
        self.asked.append((target, source, stamp_ns))
        if (target, source) not in self.poses:
            raise TransformUnavailable(f"tf has no transform from '{source}' to '{target}'")
        return self.poses[(target, source)]


def transform_msg(xyzrpy: list[float]):
    """geometry_msgs/Transform of a pose [x, y, z, roll, pitch, yaw] (fixed axes)."""
    from geometry_msgs.msg import Transform
    from scipy.spatial.transform import Rotation

    q = Rotation.from_euler("xyz", xyzrpy[3:]).as_quat()
    msg = Transform()
    msg.translation.x, msg.translation.y, msg.translation.z = (float(v) for v in xyzrpy[:3])
    msg.rotation.x, msg.rotation.y, msg.rotation.z, msg.rotation.w = (float(v) for v in q)
    return msg


@requires_ros
def test_transform_message_known_answer() -> None:
    # a quarter turn about z and a 1 m shift along x: the source's x axis is the target's y
    msg = transform_msg([1.0, 0.0, 0.0, 0.0, 0.0, math.pi / 2])
    pose = rigid_from_transform(msg)
    np.testing.assert_allclose(pose.apply([[1.0, 0.0, 0.0]]), [[1.0, 1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(pose.matrix, RigidTransform.from_rpy(
        0.0, 0.0, math.pi / 2, [1.0, 0.0, 0.0]).matrix, atol=1e-12)
    msg.rotation.w = msg.rotation.z = 0.0  # a zero quaternion is not a rotation
    with pytest.raises(ValueError, match="quaternion"):
        rigid_from_transform(msg)


@requires_ros
@pytest.mark.skipif(HAS_TF2, reason="tf2_ros is installed: the tf source starts")
def test_tf_source_without_tf2_ros_is_refused_with_what_to_install(rclpy_context) -> None:
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.fusion import FusionNode

    with pytest.raises(ValueError, match="tf2-ros") as err:
        FusionNode(namespace="/no_tf2", parameter_overrides=[
            Parameter("extrinsics_source", value="tf")])
    assert str(err.value) == TF2_MISSING


@pytest.fixture()
def pair(rclpy_context):
    """A node with the tf source and one with the same poses as parameters, fed alike."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image, Imu, NavSatFix, PointCloud2

    from thermal_perception.msg import LocatedDetectionArray, ThermalDetectionArray
    from thermal_perception.nodes.fusion import FusionNode
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    lookup = FixedTransforms({
        ("thermal", "lidar"): RigidTransform.identity(),
        ("imu_link", "thermal"): rigid_from_transform(transform_msg(NADIR_CAMERA_MOUNT))})
    base = f"/fusion_tf_{time.monotonic_ns() % 100000}"
    nodes = {
        "tf": FusionNode(tf_lookup=lookup, namespace=base + "_tf", parameter_overrides=[
            Parameter("extrinsics_source", value="tf"), Parameter("base_frame", value="uav"),
            Parameter("rgb_extrinsics", value=[0.0] * 6),  # ignored: tf says otherwise
            Parameter("ground_altitude_m", value=500.0)]),
        "params": FusionNode(namespace=base + "_params", parameter_overrides=[
            Parameter("rgb_extrinsics", value=RGB_POSE),
            Parameter("lidar_extrinsics", value=[0.0] * 6),
            Parameter("ground_altitude_m", value=500.0)]),
    }
    probe = rclpy_context.create_node("tf_probe", namespace=base)
    topics = {"temperature": (Image, "image_temperature", sensor_qos()),
              "info": (CameraInfo, "camera_info", reliable_qos()),
              "rgb": (Image, "rgb/image_raw", sensor_qos()),
              "rgb_info": (CameraInfo, "rgb/camera_info", reliable_qos()),
              "cloud": (PointCloud2, "lidar/points", sensor_qos()),
              "fix": (NavSatFix, "gps/fix", sensor_qos()),
              "imu": (Imu, "imu/data", sensor_qos()),
              "detections": (ThermalDetectionArray, "detections", reliable_qos())}
    pubs = {k: [probe.create_publisher(t, f"{base}_{n}/{topic}", q) for n in nodes]
            for k, (t, topic, q) in topics.items()}
    got = {n: {"overlay": [], "points": [], "located": []} for n in nodes}
    got["diagnostics"] = []  # both nodes' statuses: only the tf node waits for tf
    probe.create_subscription(DiagnosticArray, "/diagnostics",
                              lambda m: got["diagnostics"].extend(m.status), 10)
    for n in nodes:
        probe.create_subscription(Image, f"{base}_{n}/overlay", got[n]["overlay"].append,
                                  sensor_qos())
        probe.create_subscription(PointCloud2, f"{base}_{n}/points_thermal",
                                  got[n]["points"].append, sensor_qos())
        probe.create_subscription(LocatedDetectionArray, f"{base}_{n}/detections_located",
                                  got[n]["located"].append, reliable_qos())
    executor = SingleThreadedExecutor()
    for node in (*nodes.values(), probe):
        executor.add_node(node)

    def publish(kind, msg):
        for pub in pubs[kind]:
            pub.publish(msg)

    def spin_until(condition, timeout_s=10.0):
        return spin_executor_until(executor, condition, timeout_s)

    yield nodes, lookup, publish, got, spin_until
    executor.shutdown()
    for node in (*nodes.values(), probe):
        node.destroy_node()


@requires_ros
def test_tf_poses_fuse_as_the_same_poses_given_as_parameters(pair) -> None:
    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.ros.pointcloud2 import cloud_to_array

    nodes, lookup, publish, got, spin_until = pair
    publish("info", info(W, H))
    publish("rgb_info", info(W * 2, H * 2, f=120.0))
    assert spin_until(lambda: all(n.thermal_camera and n.rgb_camera for n in nodes.values()))
    rgb = np.zeros((H * 2, W * 2, 3), np.uint8)
    rgb[:, ::9] = 255  # stripes: a pose error moves them
    t = 100_000_000

    def send(stamp):
        publish("temperature", temperature_image(stamp))
        publish("rgb", stamped(array_to_image(rgb, "bgr8"), stamp + 1_000_000, "rgb"))

    # the RGB camera is not in the tree yet: no overlay, and diagnostics say what is missing
    send(t)
    publish("cloud", cloud(t))
    assert spin_until(lambda: got["params"]["overlay"] and got["tf"]["points"])
    spin_until(lambda: False, 0.3)
    assert not got["tf"]["overlay"] and nodes["tf"].counts["tf_waits"] >= 1
    assert spin_until(lambda: any(
        "waiting for tf" in s.message and "'rgb' to 'thermal'" in s.message
        and {v.key: v.value for v in s.values}.get("extrinsics_source") == "tf"
        for s in got["diagnostics"]), 5.0)
    # once tf has it, the tf node's overlay is the parameter node's, pixel for pixel
    lookup.poses[("thermal", "rgb")] = rigid_from_transform(transform_msg(RGB_POSE))
    for k in range(1, 3):
        got["params"]["overlay"].clear()
        got["tf"]["overlay"].clear()
        send(t + k * 100_000_000)
        assert spin_until(lambda: got["tf"]["overlay"] and got["params"]["overlay"])
    a, b = got["tf"]["overlay"][-1], got["params"]["overlay"][-1]
    assert a.header.stamp == b.header.stamp and bytes(a.data) == bytes(b.data)
    assert ("thermal", "rgb", None) in lookup.asked  # the latest: a rigid mount
    # the lidar cloud through the tf pose: the same temperatures as through the parameter
    pa, pb = (cloud_to_array(got[n]["points"][-1]) for n in ("tf", "params"))
    np.testing.assert_array_equal(pa["temperature"], pb["temperature"])


@requires_ros
def test_tf_camera_mount_is_looked_up_at_the_detections_stamp(pair) -> None:

    from thermal_perception.msg import ThermalDetection, ThermalDetectionArray

    nodes, lookup, publish, got, spin_until = pair
    publish("info", info(W, H))
    assert spin_until(lambda: all(n.thermal_camera for n in nodes.values()))
    for k in range(3):  # 100 m above flat ground at 500 m, level, nose north
        stamp = (k + 1) * 100_000_000
        # REP 145: the attitude of imu_link
        fix, imu = hovering(stamp, 47.0, 8.0, 600.0, imu_frame="imu_link")
        publish("fix", fix)
        publish("imu", imu)
    assert spin_until(lambda: all(len(n.attitudes) == 3 for n in nodes.values()))
    d = ThermalDetection(label="person", centroid_x=10.0, centroid_y=50.0, x1=1, y1=1)
    publish("detections", stamped(ThermalDetectionArray(detections=[d]), 250_000_000))
    assert spin_until(lambda: got["tf"]["located"] and got["params"]["located"])
    # in the IMU message's frame (not base_frame, "uav"), at the detections' stamp
    assert ("imu_link", "thermal", 250_000_000) in lookup.asked
    a, b = (got[n]["located"][-1].detections[0] for n in ("tf", "params"))
    assert math.isfinite(a.latitude_deg) and a.altitude_m == pytest.approx(500.0, abs=0.01)
    assert (a.latitude_deg, a.longitude_deg) == pytest.approx(
        (b.latitude_deg, b.longitude_deg), abs=1e-9)
    # without the mount in the tree the detections still go out, unplaced, and it is said
    del lookup.poses[("imu_link", "thermal")]
    publish("detections", stamped(ThermalDetectionArray(detections=[d]), 260_000_000))
    assert spin_until(lambda: len(got["tf"]["located"]) == 2)
    assert math.isnan(got["tf"]["located"][-1].detections[0].latitude_deg)
    assert spin_until(lambda: any("'thermal' to 'imu_link'" in s.message
                                  for s in got["diagnostics"]), 5.0)
