"""The runner (nodes from a parameters YAML), bags written with rosbags, and the live demo."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, requires_ros

from thermal_perception.runner import node_command, node_names


def test_node_names_from_params_file(tmp_path):
    assert node_names(REPO / "config" / "thermal_pipeline.yaml") == ["driver", "processor"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**/drivr:\n  ros__parameters: {}\n")
    with pytest.raises(ValueError, match="unknown node 'drivr'"):
        node_names(bad)
    everyone = tmp_path / "all.yaml"
    everyone.write_text("/**:\n  ros__parameters: {use_sim_time: false}\n"
                        "processor:\n  ros__parameters: {}\n")
    assert node_names(everyone) == ["processor"]


def test_node_command_is_what_launch_would_run():
    cmd = node_command("driver", "/p.yaml", "thermal", {"rate_hz": 10.0, "flag": True})
    assert cmd[:3] == [sys.executable, "-m", "thermal_perception.nodes.driver"]
    text = " ".join(cmd)
    assert "--params-file /p.yaml" in text and "__ns:=/thermal" in text
    assert "-p rate_hz:=10.0" in text and "-p flag:=true" in text


@requires_ros
def test_bag_round_trip_with_our_message(tmp_path, rclpy_context):
    """A bag written by BagWriter reads back with rosbags, custom ThermalStatus included."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import Reader

    from thermal_perception.io.bag import BagWriter
    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.msg import ThermalStatus

    counts = np.arange(12, dtype=np.uint16).reshape(3, 4)
    image = array_to_image(counts, "mono16", frame_id="cam")
    status = ThermalStatus(source="simulator", frame_count=7, fpa_temperature_c=31.5)
    with BagWriter(tmp_path / "bag") as bag:
        bag.add_topic("/image_raw", "sensor_msgs/msg/Image")
        bag.add_topic("/status", "thermal_perception/msg/ThermalStatus")
        bag.write("/image_raw", 1_000, serialize_message(image))
        bag.write("/status", 2_000, serialize_message(status))
    with Reader(tmp_path / "bag") as reader:
        store = bag.typestore
        got = {c.topic: store.deserialize_cdr(raw, c.msgtype)
               for c, _, raw in reader.messages()}
    assert np.array_equal(np.frombuffer(got["/image_raw"].data, np.uint16).reshape(3, 4), counts)
    assert got["/status"].frame_count == 7 and got["/status"].source == "simulator"


@requires_ros
def test_demo_writes_bag_snapshots_and_metrics(tmp_path):
    """`thermal-perception demo` for 3 s at 160x128: outputs exist and the bag opens."""
    from rosbags.rosbag2 import Reader

    params = tmp_path / "pipeline.yaml"
    text = (REPO / "config" / "thermal_pipeline.yaml").read_text()
    params.write_text(text.replace("camera_profile: boson640", "camera_profile: lepton35"))
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "thermal_perception", "demo", "--duration", "3", "--out", str(out),
         "--params", str(params), "--namespace", "demo_test"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "achieved rate" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["camera_profile"] == "lepton35"
    assert metrics["frames_received"]["image_temperature"] >= 15  # 8.7 Hz for 3 s
    assert abs(metrics["rate_error_percent"]) < 10
    assert metrics["latency_capture_to_temperature_ms"]["p50"] > 0
    assert list((out / "snapshots").glob("*.png"))
    with Reader(out / "bag") as reader:
        topics = {c.topic: c.msgcount for c in reader.connections}
    assert topics["/demo_test/image_raw"] >= 20
    assert topics["/demo_test/status"] >= 20 and "/diagnostics" in topics


def test_core_and_cli_work_without_ros(tmp_path):
    """With rclpy and the generated messages unavailable, the pure core imports and the
    command's --help runs (what `pip install .` gives on a machine without ROS)."""
    code = (
        "import sys\n"
        "for name in ('rclpy', 'sensor_msgs', 'thermal_perception.msg'):\n"
        "    sys.modules[name] = None\n"
        "import thermal_perception.core.physics.band\n"
        "import thermal_perception.core.physics.calibration\n"
        "import thermal_perception.core.display.render, thermal_perception.sim.simulator\n"
        "import thermal_perception.io.bag, thermal_perception.runner\n"
        "from thermal_perception.cli import main\n"
        "sys.exit(main(['--help']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin"},
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "thermal-perception" in result.stdout and "demo" in result.stdout


def test_demo_without_ros_says_what_to_do(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['rclpy'] = None\n"
        "from thermal_perception.cli import main\n"
        "sys.exit(main(['demo', '--duration', '1', '--out', 'x']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin"},
                            timeout=60)
    assert result.returncode != 0
    assert "make demo" in result.stderr
