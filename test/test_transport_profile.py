"""The Fast DDS transport the runner gives its nodes (config/fastdds_shm.xml by default): the
profile is valid XML, the rmw loads it (the nodes map its 16 MiB shared-memory segments), and
frames flow from a pipeline on it to a subscriber on Fast DDS's builtin transports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import REPO, requires_ros

from thermal_perception import runner

PROFILE = REPO / "config" / "fastdds_shm.xml"
NS = {"dds": "http://www.eprosima.com"}
SEGMENT = 16 * 1024 * 1024


def test_profile_is_valid_and_keeps_qos():
    root = ET.parse(PROFILE).getroot()
    shm = root.find(".//dds:transport_descriptor[dds:type='SHM']", NS)
    assert int(shm.find("dds:segment_size", NS).text) == SEGMENT
    assert root.find(".//dds:transport_descriptor[dds:type='UDPv4']", NS) is not None
    participant = root.find(".//dds:participant", NS)
    assert participant.get("is_default_profile") == "true"
    used = [t.text for t in participant.findall(".//dds:userTransports/dds:transport_id", NS)]
    assert len(used) == 2
    # transports only: reliability and the rest of the QoS stay the nodes'
    assert root.find(".//dds:data_writer", NS) is None
    assert root.find(".//dds:data_reader", NS) is None


def test_transport_environment():
    assert runner.transport_environment(environ={}) == {
        "FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)}
    assert runner.transport_environment("default", environ={}) == {}
    assert runner.transport_environment(
        environ={runner.TRANSPORT_ENV: "udp"}) == {"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}
    # the user's own Fast DDS choice is left alone
    assert runner.transport_environment(
        "shm", environ={"FASTDDS_DEFAULT_PROFILES_FILE": "/mine.xml"}) == {}
    with pytest.raises(ValueError, match="THERMAL_PERCEPTION_TRANSPORT"):
        runner.transport_environment("tcp", environ={})


def shm_segments_mib(pid: int) -> list[float]:
    """Sizes, MiB, of the Fast DDS shared-memory files a process maps."""
    sizes: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith("/dev/shm/fastdds_"):
            start, end = (int(x, 16) for x in parts[0].split("-"))
            sizes[parts[5]] = sizes.get(parts[5], 0) + end - start
    return [size / 2**20 for size in sizes.values()]


@requires_ros
def test_pipeline_runs_on_the_profile(rclpy_context, tmp_path):
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.ros.qos import sensor_qos

    got: list = []
    node = rclpy_context.create_node("transport_probe", namespace="/shmprofile")
    node.create_subscription(Image, "image_temperature", got.append, sensor_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    driver = {"width": 640, "height": 512, "rate_hz": 15.0, "camera_profile": "boson640"}
    try:
        with runner.Pipeline(REPO / "config" / "thermal_pipeline.yaml", "shmprofile",
                             {"driver": driver, "processor": {"camera_profile": "boson640"}},
                             log_dir=tmp_path, transport="shm") as pipeline:
            assert pipeline.environment["FASTDDS_DEFAULT_PROFILES_FILE"] == str(PROFILE)
            deadline = time.monotonic() + 60.0
            while len(got) < 10 and time.monotonic() < deadline and not pipeline.failed():
                executor.spin_once(timeout_sec=0.05)
            assert not pipeline.failed()
            assert len(got) >= 10, [p.read_text()[-2000:] for p in tmp_path.glob("*.log")]
            assert (got[-1].width, got[-1].height, got[-1].encoding) == (640, 512, "32FC1")
            for n in pipeline.nodes:  # the rmw loaded the profile: 16 MiB segments
                assert max(shm_segments_mib(n.process.pid), default=0) >= 16, n.name
        logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
        assert "XMLPARSER" not in logs
    finally:
        executor.shutdown()
        node.destroy_node()


@requires_ros
def test_breakdown_runs(tmp_path):
    """bench/transport.py --breakdown for a second: every stage of the budget has frames."""
    out = tmp_path / "transport.json"
    cmd = [sys.executable, str(REPO / "bench" / "transport.py"), "--seconds", "1",
           "--warmup", "0.5", "--breakdown", "--transport", "shm", "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "processor: wait for status" in result.stdout
    table = json.loads(out.read_text())["breakdown"]
    assert all(row["frames"] > 0 for row in table.values()), table
