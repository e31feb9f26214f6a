"""The driver plays recordings (bags written by `simulate`) into the live pipeline at their
recorded pace, with their recorded capture stamps."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO, requires_ros
from test_pipeline_e2e import spin_until

from thermal_perception.io.sources import RecordingSource
from thermal_perception.sim.record import START_NS, SimulationOptions, simulate_to_bag


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("rec") / "bag"
    simulate_to_bag(SimulationOptions(out=out, frames=40, width=64, height=48, rate_hz=20.0,
                                      truth=False), progress=False)
    return out


def test_recording_source_loops_with_a_continuing_timeline(recording):
    source = RecordingSource(str(recording))
    assert source.shape == (48, 64) and source.interval_s == pytest.approx(0.05)
    stamps = [source.read(0.0).stamp_ns for _ in range(90)]
    assert stamps[0] == START_NS
    assert np.all(np.diff(stamps) == 50_000_000)  # 40 frames, then again, seamlessly
    assert source.loops == 2
    once = RecordingSource(str(recording), loop=False)
    for _ in range(40):
        once.read(0.0)
    with pytest.raises(EOFError):
        once.read(0.0)


@requires_ros
def test_driver_plays_a_bag_into_the_pipeline(recording, rclpy_context, tmp_path):
    """Looping playback: temperatures arrive with the recorded stamps, the timeline continuing
    seamlessly over the loop."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.ros.qos import sensor_qos
    from thermal_perception.runner import Pipeline

    driver = {"source": "recording", "recording_path": str(recording), "loop": True,
              "rate_hz": 0.0}  # 0: the recorded pace
    node = rclpy_context.create_node("replay_probe", namespace="/replay")
    got: list = []
    node.create_subscription(Image, "image_temperature", got.append, sensor_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    with Pipeline(REPO / "config" / "thermal_pipeline.yaml", "replay", {"driver": driver},
                  log_dir=tmp_path) as pipeline:
        ok = spin_until(executor, lambda: len(got) >= 60, 60.0)  # 40 frames, then looping
        failed = pipeline.failed()
    executor.shutdown()
    node.destroy_node()
    assert ok, f"{len(got)} temperature frames from the replay; {failed}"
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in got]
    assert all(s >= START_NS and (s - START_NS) % 50_000_000 == 0 for s in stamps)
    assert np.all(np.diff(stamps) > 0), "the looped timeline must keep increasing"
    assert max(stamps) - START_NS >= 40 * 50_000_000  # past the end of the first pass
    assert (got[-1].width, got[-1].height) == (64, 48)
