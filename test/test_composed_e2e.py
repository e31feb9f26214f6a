"""The composed pipeline (all nodes in one process, frames handed over in memory) over real
DDS: the same recorded frames give the same temperature images and detections as the nodes
in separate processes, every topic still reaches subscribers in other processes, and the
in-process hand-off copies, skips DDS when nobody outside listens and drops DDS duplicates."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO, requires_ros
from test_pipeline_e2e import spin_until

from thermal_perception.sim.record import SimulationOptions, simulate_to_bag

pytestmark = requires_ros

WIDTH, HEIGHT, RATE = 160, 128, 15.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A simulated UAV search-and-rescue sequence (people, animals) as a bag, played by the
    driver with its recorded stamps: both pipelines get the same frames with the same stamps."""
    out = tmp_path_factory.mktemp("composed") / "bag"
    summary = simulate_to_bag(SimulationOptions(
        out=out, frames=30, width=WIDTH, height=HEIGHT, rate_hz=RATE, altitude_m=40.0,
        truth=False), progress=False)
    return out, summary["gsd_m"]


def run_pipeline(rclpy_context, recording, namespace: str, composed: bool, log_dir,
                 frames: int = 90) -> dict:
    """Temperature images (as arrays) and detections by stamp, from a probe in this process
    (outside the pipeline's process or processes). The driver plays the 30 recorded frames
    from its start, its stamps rising with each loop; a detector process that starts seconds
    after it misses the first frames, so ``frames`` (3 loops) leaves the two runs enough
    stamps in common (a fresh install's first start: 19 of 60 in common at 2 loops)."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.io.image_encoding import image_to_array
    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.ros.qos import reliable_qos, sensor_qos
    from thermal_perception.runner import Pipeline

    bag, gsd_m = recording
    overrides = {"driver": {"source": "recording", "recording_path": str(bag), "loop": True,
                            "rate_hz": 0.0, "simulate_fusion_sensors": False},
                 # every frame compared: the separate detector queues frames while busy
                 # (its default, 1, drops all but the newest, e.g. while starting up)
                 "detector": {"tracking": False, "gsd_m": gsd_m, "input_queue_depth": 5}}
    node = rclpy_context.create_node(f"{namespace}_probe", namespace=f"/{namespace}")
    got: dict = {"temperature": {}, "detections": {}}

    def key(msg) -> int:
        return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec

    node.create_subscription(Image, "image_temperature", lambda m: got["temperature"].setdefault(
        key(m), image_to_array(m, copy=True)), sensor_qos())
    node.create_subscription(ThermalDetectionArray, "detections", lambda m: got[
        "detections"].setdefault(key(m), m), reliable_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    with Pipeline(REPO / "config" / "uav_sar.yaml", namespace, overrides,
                  only=["driver", "processor", "detector"], log_dir=log_dir,
                  composed=composed) as pipeline:
        ok = spin_until(executor, lambda: len(got["detections"]) >= frames, 90.0)
        got["processes"] = [n.name for n in pipeline.nodes]
        failed = pipeline.failed()
    executor.shutdown()
    node.destroy_node()
    assert ok, f"{namespace}: {len(got['detections'])} detection messages; {failed}"
    return got


@pytest.fixture(scope="module")
def both(rclpy_context, recording, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    return (run_pipeline(rclpy_context, recording, "separate", False, logs / "separate"),
            run_pipeline(rclpy_context, recording, "composed", True, logs / "composed"))


def test_composed_runs_all_nodes_in_one_process(both):
    separate, composed = both
    assert separate["processes"] == ["driver", "processor", "detector"]
    assert composed["processes"] == ["composed"]


EXACT_FIELDS = ("label", "track_id", "x0", "y0", "x1", "y1", "area_px")


def _same_detection(a, b) -> bool:
    """Labels, boxes and pixel counts equal; temperatures, confidences, centroids and areas
    equal to 1e-5 relative: the warm-body detector measures blobs with numpy until its
    compiled kernels have loaded in the background (a second or so after start), and the two
    paths sum in a different order, so the first frames of a run may differ in the last
    digits of a mean, whichever process the detector runs in."""
    if any(getattr(a, f) != getattr(b, f) for f in EXACT_FIELDS):
        return False
    floats = [f for f in a.get_fields_and_field_types() if f not in EXACT_FIELDS]
    return all(getattr(a, f) == pytest.approx(getattr(b, f), rel=1e-5, abs=1e-6)
               for f in floats)


def test_composed_outputs_equal_separate_processes(both):
    """Same recorded frames -> bit-identical temperature images and the same detections
    (labels, boxes exactly; temperatures, confidences to 1e-5) for every stamp both probes
    received."""
    separate, composed = both
    stamps = sorted(separate["temperature"].keys() & composed["temperature"].keys())
    assert len(stamps) >= 20
    for stamp in stamps:
        a, b = separate["temperature"][stamp], composed["temperature"][stamp]
        assert a.shape == b.shape == (HEIGHT, WIDTH) and a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)  # NaN where NaN, every other pixel equal
    stamps = sorted(separate["detections"].keys() & composed["detections"].keys())
    assert len(stamps) >= 20
    found = 0
    for stamp in stamps:
        a, b = separate["detections"][stamp], composed["detections"][stamp]
        assert a.header.frame_id == b.header.frame_id
        assert len(a.detections) == len(b.detections), f"stamp {stamp}"
        assert all(_same_detection(x, y) for x, y in zip(a.detections, b.detections,
                                                         strict=True)), f"stamp {stamp}"
        found += len(a.detections)
    assert found > 0, "the scene should give detections to compare"


def test_composed_processor_takes_frames_from_other_processes(rclpy_context, recording,
                                                               tmp_path):
    """Processor and detector composed, the raw frames published by this process: the
    composed processor's DDS reader passes them on (deserialized), the detector gets the
    temperatures in process, and both outputs reach this process over DDS."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.io.sources import RecordingSource
    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.ros.qos import reliable_qos, sensor_qos
    from thermal_perception.runner import Pipeline

    node = rclpy_context.create_node("outside_camera", namespace="/outside")
    temperatures: list = []
    detections: list = []
    node.create_subscription(Image, "image_temperature", temperatures.append, sensor_qos())
    node.create_subscription(ThermalDetectionArray, "detections", detections.append,
                             reliable_qos())
    raw = node.create_publisher(Image, "image_raw", sensor_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    counts = RecordingSource(str(recording[0])).read(0.0).counts  # a scene frame
    sent: list[int] = []
    with Pipeline(REPO / "config" / "uav_sar.yaml", "outside", only=["processor", "detector"],
                  log_dir=tmp_path, composed=True) as pipeline:
        def publish_some() -> bool:
            stamp_ns = 1_700_000_000_000_000_000 + len(sent) * 66_000_000
            sent.append(stamp_ns)
            msg = array_to_image(counts, "mono16", frame_id="outside_frame")
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
            raw.publish(msg)
            spin_until(executor, lambda: False, 0.07)
            return len(temperatures) >= 5 and len(detections) >= 5

        ok = spin_until(executor, publish_some, 60.0)
        failed = pipeline.failed()
    executor.shutdown()
    node.destroy_node()
    assert ok, f"{len(temperatures)} temperatures, {len(detections)} detections; {failed}"
    stamps = {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in temperatures}
    assert stamps <= set(sent)
    assert all(m.header.frame_id == "outside_frame" for m in temperatures + detections)
    assert {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in detections} <= set(sent)


def test_intra_process_hand_off(rclpy_context):
    """In one process: the subscriber gets an equal copy of the published message (not the
    publisher's reused buffer), DDS is skipped while nobody outside listens, and once a DDS
    subscriber exists its copy of a handed-over message is dropped, not processed twice."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.ros import intra_process
    from thermal_perception.ros.qos import sensor_qos

    with intra_process.IntraProcessBus():
        a = rclpy_context.create_node("intra_a", namespace="/intra")
        b = rclpy_context.create_node("intra_b", namespace="/intra")
        pub = intra_process.publisher(a, Image, "frames", sensor_qos())
        got: list = []
        sub = intra_process.subscription(b, Image, "frames", got.append, sensor_qos())
    assert intra_process.active_bus() is None
    executor = SingleThreadedExecutor()
    executor.add_node(a)
    executor.add_node(b)
    msg = Image()
    for i in range(3):
        array_to_image(np.full((4, 5), i, np.uint16), "mono16", msg=msg)
        msg.header.stamp.sec = i + 1
        pub.publish(msg)
    assert [m.header.stamp.sec for m in got] == [1, 2, 3]
    assert got[0] is not msg and got[0].data is not msg.data
    assert [bytes(m.data)[0] for m in got] == [0, 1, 2]  # copies, not the reused buffer
    assert pub.published_dds == 0 and sub.handed_over == 3
    outside = rclpy_context.create_node("intra_outside", namespace="/intra")
    seen: list = []
    outside.create_subscription(Image, "frames", seen.append, sensor_qos())
    executor.add_node(outside)
    assert spin_until(executor, lambda: pub.get_subscription_count() >= 2, 10.0)
    for i in range(4, 8):
        msg.header.stamp.sec = i
        pub.publish(msg)
        spin_until(executor, lambda: False, 0.05)
    assert spin_until(executor, lambda: len(seen) >= 4, 10.0)
    spin_until(executor, lambda: False, 0.3)
    assert pub.published_dds == 4
    assert [m.header.stamp.sec for m in got] == [1, 2, 3, 4, 5, 6, 7]  # once each
    assert sub.dropped_duplicates == 4 and sub.from_dds == 0
    executor.shutdown()
    for node in (a, b, outside):
        node.destroy_node()
