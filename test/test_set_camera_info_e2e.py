"""The driver's ``set_camera_info`` service (sensor_msgs/SetCameraInfo, what ROS's
camera_calibration calls to commit a calibration), over DDS: a valid calibration is published
on camera_info and stored as a camera_calibration_parsers YAML file that the next driver loads;
a wrong one is refused with the reason and changes nothing."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_ros
from test_pipeline_e2e import spin_until

from thermal_perception.core.fusion.lens_files import read_camera_info

pytestmark = requires_ros

W, H = 160, 128


def calibration_msg(width=W, height=H, fx=150.0, d=(-0.2, 0.05, 0.001, -0.002, 0.0)):
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    msg.k = [fx, 0.0, 81.5, 0.0, fx + 2.0, 62.0, 0.0, 0.0, 1.0]
    msg.d = list(d)
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx - 5.0, 0.0, 80.0, 0.0, 0.0, fx - 3.0, 61.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def start_driver(rclpy_context, ns, **params):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo
    from sensor_msgs.srv import SetCameraInfo

    from thermal_perception.nodes.driver import DriverNode
    from thermal_perception.ros.qos import reliable_qos

    node = DriverNode(namespace=ns, parameter_overrides=[
        Parameter("width", value=W), Parameter("height", value=H),
        Parameter("rate_hz", value=30.0),
        *(Parameter(k, value=v) for k, v in params.items())])
    probe = rclpy_context.create_node("calibrator", namespace=ns)
    infos: list = []
    probe.create_subscription(CameraInfo, "camera_info", infos.append, reliable_qos())
    client = probe.create_client(SetCameraInfo, "set_camera_info")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)
    return node, probe, client, infos, executor


def call(executor, client, msg):
    from sensor_msgs.srv import SetCameraInfo

    assert spin_until(executor, client.service_is_ready, 10.0)
    future = client.call_async(SetCameraInfo.Request(camera_info=msg))
    assert spin_until(executor, future.done, 10.0)
    return future.result()


def test_calibration_is_published_stored_and_loaded_at_the_next_start(rclpy_context, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("ROS_HOME", str(tmp_path / "ros_home"))
    path = tmp_path / "calib" / "thermal.yaml"
    ns = f"/setinfo_{time.monotonic_ns() % 100000}"
    node, probe, client, infos, executor = start_driver(
        rclpy_context, ns, camera_info_file="")
    try:
        assert spin_until(executor, lambda: infos, 10.0)
        nominal = infos[-1]
        assert list(nominal.d) == [0.0] * 5
        # refused: another image size, a non-rotation R, a K with fx 0; nothing changes
        for bad, words in ((calibration_msg(width=320), "for 320x128 images"),
                           (calibration_msg(fx=0.0), "camera matrix K is invalid")):
            answer = call(executor, client, bad)
            assert not answer.success and words in answer.status_message
        skewed = calibration_msg()
        skewed.r = [1.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        answer = call(executor, client, skewed)
        assert not answer.success and "not a rotation" in answer.status_message
        infos.clear()
        assert spin_until(executor, lambda: infos, 5.0)
        assert np.array_equal(infos[-1].k, nominal.k)
        # accepted, with no camera_info_file: stored where camera_info_manager keeps it
        answer = call(executor, client, calibration_msg())
        assert answer.success, answer.status_message
        default = Path(node.calibration_source)
        assert default == tmp_path / "ros_home" / "camera_info" / "driver.yaml"
        assert str(default) in answer.status_message
        infos.clear()
        assert spin_until(executor, lambda: infos, 5.0)
        got = infos[-1]
        np.testing.assert_allclose(got.k, calibration_msg().k)
        np.testing.assert_allclose(got.d, calibration_msg().d)
        np.testing.assert_allclose(got.p, calibration_msg().p)
        assert got.header.frame_id == node.params["frame_id"]
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
    stored = read_camera_info(default)
    np.testing.assert_allclose(stored.camera.k.ravel(), calibration_msg().k)
    # with camera_info_file set (an earlier calibration): the new one replaces it there, and
    # the next driver publishes it from the start
    from thermal_perception.core.fusion.lens_files import write_camera_info
    from thermal_perception.ros.camera_info import calibration_from_message

    write_camera_info(path, calibration_from_message(calibration_msg(fx=140.0), W, H, "x"))
    node, probe, client, infos, executor = start_driver(
        rclpy_context, ns + "_next", camera_info_file=str(path))
    try:
        answer = call(executor, client, calibration_msg(fx=160.0))
        assert answer.success and str(path) in answer.status_message
        assert read_camera_info(path).camera.fx == pytest.approx(160.0)
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
    node, probe, client, infos, executor = start_driver(
        rclpy_context, ns + "_again", camera_info_file=str(path))
    try:
        assert spin_until(executor, lambda: infos, 10.0)
        assert infos[-1].k[0] == pytest.approx(160.0)  # loaded at start
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()


def test_a_calibration_that_cannot_be_stored_is_published_and_says_so(rclpy_context, tmp_path,
                                                                      monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")
    monkeypatch.setenv("ROS_HOME", str(blocker))  # camera_info/ cannot be made under a file
    ns = f"/setinfo_ro_{time.monotonic_ns() % 100000}"
    node, probe, client, infos, executor = start_driver(rclpy_context, ns,
                                                        camera_info_file="")
    try:
        answer = call(executor, client, calibration_msg(fx=170.0))
        assert not answer.success and "not stored" in answer.status_message
        infos.clear()
        assert spin_until(executor, lambda: infos, 5.0)
        assert infos[-1].k[0] == pytest.approx(170.0)  # in use all the same
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
