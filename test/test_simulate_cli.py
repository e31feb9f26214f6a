"""`thermal-perception simulate` and `netd`: bags with ground truth, written without ROS."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, requires_ros

from thermal_perception.core.physics.calibration import CountsToTemperature
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.sim.record import SimulationOptions, simulate_to_bag


@pytest.fixture(scope="module")
def sim_bag(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "bag"
    options = SimulationOptions(out=out, frames=6, width=160, height=128, speed_mps=0.0,
                                seed=3)
    return options, simulate_to_bag(options, progress=False)


def test_bag_has_frames_and_truth(sim_bag):
    from rosbags.rosbag2 import Reader

    from thermal_perception.io.bag import typestore_with_our_messages
    from thermal_perception.sim.simulator import ThermalSimulator

    options, summary = sim_bag
    store = typestore_with_our_messages()
    frames: dict[str, list] = {}
    with Reader(options.out) as reader:
        for connection, _, raw in reader.messages():
            frames.setdefault(connection.topic, []).append(
                store.deserialize_cdr(raw, connection.msgtype))
    assert {len(v) for v in frames.values()} == {6}
    raw_msg = frames["/thermal/image_raw"][-1]
    assert (raw_msg.encoding, raw_msg.width, raw_msg.height) == ("mono16", 160, 128)
    assert raw_msg.header.frame_id == "thermal_camera_optical_frame"
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
              for m in frames["/thermal/image_raw"]]
    assert np.allclose(np.diff(stamps), 1e9 / summary["rate_hz"], atol=1)
    counts = np.frombuffer(raw_msg.data, np.uint16).reshape(128, 160)
    truth = np.frombuffer(frames["/truth/apparent_temperature"][-1].data,
                          np.float32).reshape(128, 160)
    sim = ThermalSimulator(get_profile("boson640").with_size(160, 128), speed_mps=0.0, seed=3)
    measured = CountsToTemperature(sim.calibration, sim.table)(counts.copy())
    assert abs(float(np.nanmean(measured - truth))) < 0.02
    labels = np.frombuffer(frames["/truth/labels"][-1].data, np.uint8)
    assert labels.size == 160 * 128
    assert frames["/thermal/status"][-1].frame_count == 6


@requires_ros
def test_bag_messages_deserialize_with_rclpy(sim_bag):
    """The CDR written by rosbags is what ROS 2 itself reads."""
    from rclpy.serialization import deserialize_message
    from rosbags.rosbag2 import Reader
    from sensor_msgs.msg import CameraInfo, Image

    from thermal_perception.msg import ThermalStatus

    options, _ = sim_bag
    classes = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CameraInfo": CameraInfo,
               "thermal_perception/msg/ThermalStatus": ThermalStatus}
    with Reader(options.out) as reader:
        for connection, _, raw in reader.messages():
            msg = deserialize_message(raw, classes[connection.msgtype])
            if connection.topic == "/thermal/camera_info":
                assert msg.k[0] > 0 and msg.width == 160
            if connection.topic == "/thermal/status":
                assert msg.source == "simulator"


def test_simulate_and_netd_commands(tmp_path):
    out = tmp_path / "bag"
    cmd = [sys.executable, "-m", "thermal_perception"]
    result = subprocess.run([*cmd, "simulate", "--out", str(out), "--frames", "3", "--width",
                             "64", "--height", "48", "--no-truth", "--defects"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "3 frames 64x48" in result.stdout and "/truth" not in result.stdout
    again = subprocess.run([*cmd, "simulate", "--out", str(out), "--frames", "3"],
                           capture_output=True, text=True, cwd=REPO, timeout=120)
    assert again.returncode == 1 and "exists" in again.stderr
    netd = subprocess.run([*cmd, "netd", "--camera-profile", "lepton35", "--frames", "24"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert netd.returncode == 0, netd.stderr
    ratio = float(netd.stdout.split("ratio ")[1].rstrip(")\n"))
    assert 0.9 < ratio < 1.1


def test_eval_command_reports_detection_quality(tmp_path):
    """`thermal-perception eval` scores people, animals, fire and tracking on simulated truth."""
    import json

    result = subprocess.run(
        [sys.executable, "-m", "thermal_perception", "eval", "--seeds", "2", "--frames", "12",
         "--altitude", "30", "--out", str(tmp_path / "eval.json")],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "person" in result.stdout and "MOTA" in result.stdout
    report = json.loads((tmp_path / "eval.json").read_text())
    # a smoke test of the command on a small sample; the acceptance numbers (recall >= 0.95
    # at precision >= 0.9 over many sequences) are in test_evaluation.py
    person = report["sar"]["detection"]["person"]
    assert person["recall"] >= 0.85 and person["precision"] >= 0.85, person
    assert report["fire"]["detection"]["fire"]["recall"] >= 0.98
    assert report["no_fire"]["detection"]["fire"]["fp"] == 0


def test_bag_typestore_knows_every_message_of_the_package():
    """Every msg/*.msg is registered for bags (offline analysis, demo recordings)."""
    from conftest import REPO

    from thermal_perception.io.bag import OUR_MESSAGES, typestore_with_our_messages

    assert set(OUR_MESSAGES) == {p.stem for p in (REPO / "msg").glob("*.msg")}
    store = typestore_with_our_messages()
    assert "thermal_perception/msg/LocatedDetectionArray" in store.types
