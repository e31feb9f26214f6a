"""Faults over real DDS (issue 9): the processor and detector nodes keep running and say so on
/diagnostics when their input stalls and resumes, when stamps come twice, out of order or go
back in time, and when the NUC calibration file is missing or corrupt, at start and at
runtime. The nodes run in this process (so their counters can be read), the frames and
parameter requests travel over DDS from a probe node."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from conftest import requires_ros

pytestmark = requires_ros

WIDTH, HEIGHT = 64, 48
OK, WARN, ERROR = 0, 1, 2


@dataclass
class Harness:
    """A probe node and the nodes under test on one executor; /diagnostics recorded."""

    executor: Any
    probe: Any
    nodes: list = field(default_factory=list)
    diagnostics: list = field(default_factory=list)  # (name, level, message), in order

    def spin(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def spin_until(self, condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)
            if condition():
                return True
        return False

    @classmethod
    def open(cls, rclpy_context: Any, probe_name: str) -> Harness:
        """A probe node on a new executor, recording /diagnostics."""
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor

        probe = rclpy_context.create_node(probe_name)
        executor = SingleThreadedExecutor()
        executor.add_node(probe)
        h = cls(executor, probe)

        def on_diagnostics(msg: DiagnosticArray) -> None:
            h.diagnostics.extend((s.name, s.level[0], s.message) for s in msg.status)

        probe.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 50)
        return h

    def add(self, node: Any) -> Any:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def statuses(self, name: str, since: int = 0) -> list[tuple[int, str]]:
        return [(lvl, msg) for n, lvl, msg in self.diagnostics[since:] if n == name]

    def wait_status(self, name: str, level: int, words: str = "", since: int = 0,
                    timeout_s: float = 15.0) -> bool:
        """Wait for a status of ``name`` at ``level`` whose message contains ``words``."""
        return self.spin_until(lambda: any(
            lvl == level and words in msg for lvl, msg in self.statuses(name, since)), timeout_s)

    def close(self) -> None:
        for node in self.nodes:
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()
        self.probe.destroy_node()


@pytest.fixture
def harness(rclpy_context):
    h = Harness.open(rclpy_context, "faults_probe")
    yield h
    h.close()


def processor(name: str, namespace: str, **params: Any) -> Any:
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.processor import ProcessorNode

    return ProcessorNode(namespace=namespace, cli_args=["--ros-args", "-r", f"__node:={name}"],
                         parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


def detector(name: str, namespace: str, **params: Any) -> Any:
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.detector import DetectorNode

    params = {"gsd_m": 0.2, **params}  # known ground sample distance: detection is OK
    return DetectorNode(namespace=namespace, cli_args=["--ros-args", "-r", f"__node:={name}"],
                        parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


def raw_counts() -> np.ndarray:
    """A 64x48 raw frame of the simulated camera."""
    from thermal_perception.core.physics.camera import get_profile
    from thermal_perception.sim.simulator import ThermalSimulator

    sim = ThermalSimulator(get_profile("boson640").with_size(WIDTH, HEIGHT), speed_mps=0.0,
                           seed=5)
    return sim.counts(0.0).copy()


def temperature_image() -> np.ndarray:
    """A 64x48 temperature image (deg C) with one hot spot."""
    image = np.full((HEIGHT, WIDTH), 15.0, np.float32)
    image[20:26, 30:36] = 300.0
    return image


def stamped(array: np.ndarray, encoding: str, stamp_s: float) -> Any:
    from thermal_perception.io.image_encoding import array_to_image

    msg = array_to_image(array, encoding)
    msg.header.stamp.sec = int(stamp_s)
    msg.header.stamp.nanosec = round((stamp_s - int(stamp_s)) * 1e9)
    return msg


def test_publisher_stall_goes_stale_and_back_to_ok(harness):
    """Frames stop for a few seconds, then resume: both nodes keep running, /diagnostics goes
    WARN (stale) and back to OK."""
    from sensor_msgs.msg import Image

    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    h = harness
    proc = h.add(processor("proc_stall", "/stall"))
    det = h.add(detector("det_stall", "/stall"))
    pub = h.probe.create_publisher(Image, "/stall/image_raw", sensor_qos())
    got = {"temperature": 0, "detections": 0}
    h.probe.create_subscription(Image, "/stall/image_temperature",
                                lambda _: got.__setitem__("temperature", got["temperature"] + 1),
                                sensor_qos())
    h.probe.create_subscription(ThermalDetectionArray, "/stall/detections",
                                lambda _: got.__setitem__("detections", got["detections"] + 1),
                                reliable_qos())
    counts = raw_counts()
    state = {"publishing": True}

    def tick() -> None:
        if state["publishing"]:
            now = h.probe.get_clock().now().nanoseconds * 1e-9
            pub.publish(stamped(counts, "mono16", now))

    h.probe.create_timer(0.05, tick)
    assert h.wait_status("proc_stall: processing", OK, timeout_s=30.0), h.diagnostics[-6:]
    assert h.wait_status("det_stall: detection", OK, timeout_s=15.0), h.diagnostics[-6:]
    assert got["temperature"] > 0 and got["detections"] > 0

    state["publishing"] = False  # the stall
    mark = len(h.diagnostics)
    assert h.wait_status("proc_stall: processing", WARN, "stale", since=mark, timeout_s=10.0)
    assert h.wait_status("det_stall: detection", WARN, "stale", since=mark, timeout_s=5.0)
    before = dict(got)

    state["publishing"] = True  # the source comes back
    mark = len(h.diagnostics)
    assert h.wait_status("proc_stall: processing", OK, since=mark, timeout_s=10.0)
    assert h.wait_status("det_stall: detection", OK, since=mark, timeout_s=5.0)
    assert got["temperature"] > before["temperature"] + 5
    assert got["detections"] > before["detections"] + 5
    assert proc.input.received == proc.frames_in and det.input.received > 0


def test_duplicate_out_of_order_and_backward_stamps(harness):
    """Duplicates and slightly older stamps are dropped and counted; a stamp far in the past
    (a looping recording) restarts the stream; the nodes keep going and /diagnostics says so,
    then returns to OK."""
    from sensor_msgs.msg import Image

    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    h = harness
    proc = h.add(processor("proc_stamps", "/stamps"))
    det = h.add(detector("det_stamps", "/stamps_det"))
    raw_pub = h.probe.create_publisher(Image, "/stamps/image_raw", sensor_qos())
    temp_pub = h.probe.create_publisher(Image, "/stamps_det/image_temperature", sensor_qos())
    out: dict[str, list[float]] = {"temperature": [], "detections": []}

    def stamp_of(msg: Any) -> float:
        return round(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, 3)

    h.probe.create_subscription(Image, "/stamps/image_temperature",
                                lambda m: out["temperature"].append(stamp_of(m)), sensor_qos())
    h.probe.create_subscription(ThermalDetectionArray, "/stamps_det/detections",
                                lambda m: out["detections"].append(stamp_of(m)), reliable_qos())
    assert h.spin_until(lambda: raw_pub.get_subscription_count() > 0
                        and temp_pub.get_subscription_count() > 0
                        and proc.temperature_pub.get_subscription_count() > 0
                        and det.detections_pub.get_subscription_count() > 0, 20.0)
    stamps = [100.0, 100.1, 100.1, 100.05, 100.2, 100.3, 50.0, 50.1, 50.2]
    accepted = [100.0, 100.1, 100.2, 100.3, 50.0, 50.1, 50.2]
    counts, temperature = raw_counts(), temperature_image()
    mark = len(h.diagnostics)
    for i, stamp in enumerate(stamps, start=1):  # one at a time: DDS keeps them in order
        raw_pub.publish(stamped(counts, "mono16", stamp))
        temp_pub.publish(stamped(temperature, "32FC1", stamp))
        assert h.spin_until(lambda i=i: proc.frames_in >= i and det.input.received >= i, 10.0)
    assert h.spin_until(lambda: len(out["temperature"]) >= len(accepted)
                        and len(out["detections"]) >= len(accepted), 10.0)
    assert out["temperature"] == accepted
    assert out["detections"] == accepted
    for node in (proc, det):
        assert (node.input.duplicates, node.input.out_of_order, node.input.time_resets) == \
            (1, 1, 1)

    def reported(name: str) -> str:
        return " | ".join(msg for lvl, msg in h.statuses(name, mark) if lvl == WARN)

    for name in ("proc_stamps: processing", "det_stamps: detection"):
        assert h.spin_until(lambda name=name: all(
            w in reported(name) for w in ("duplicate stamps", "out-of-order stamps",
                                          "went back")), 10.0), reported(name)
    # keep the frames coming: the warnings clear
    mark = len(h.diagnostics)
    state = {"stamp": 60.0}

    def tick() -> None:
        state["stamp"] += 0.05
        raw_pub.publish(stamped(counts, "mono16", state["stamp"]))
        temp_pub.publish(stamped(temperature, "32FC1", state["stamp"]))

    h.probe.create_timer(0.05, tick)
    assert h.wait_status("proc_stamps: processing", OK, since=mark, timeout_s=10.0)
    assert h.wait_status("det_stamps: detection", OK, since=mark, timeout_s=5.0)


def write_corrupt_nuc(base) -> None:
    """A NUC table whose YAML header is valid but whose arrays file is garbage."""
    from thermal_perception.core.correction.nuc import NucTable

    NucTable.identity((HEIGHT, WIDTH)).save(base)
    base.with_name(base.name + ".npz").write_bytes(b"PK\x03\x04 not a zip archive")


def test_nuc_file_missing_or_corrupt_at_start_and_runtime(harness, tmp_path):
    """A missing NUC file at start: ERROR on /diagnostics, frames still processed
    (uncorrected). At runtime over the parameter service: a corrupt or missing file is
    rejected with the reason, the old value and table kept, WARN, then OK; a good file clears
    the ERROR."""
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from sensor_msgs.msg import Image

    from thermal_perception.core.correction.nuc import NucTable
    from thermal_perception.ros.qos import sensor_qos

    h = harness
    missing = str(tmp_path / "missing_nuc")
    proc = h.add(processor("proc_nuc", "/nuc", nuc_file=missing))
    name = "proc_nuc: processing"
    pub = h.probe.create_publisher(Image, "/nuc/image_raw", sensor_qos())
    got = {"temperature": 0}
    h.probe.create_subscription(Image, "/nuc/image_temperature",
                                lambda _: got.__setitem__("temperature", got["temperature"] + 1),
                                sensor_qos())
    counts = raw_counts()
    h.probe.create_timer(0.05, lambda: pub.publish(stamped(
        counts, "mono16", h.probe.get_clock().now().nanoseconds * 1e-9)))
    assert h.wait_status(name, ERROR, "missing", timeout_s=30.0), h.diagnostics[-4:]
    assert h.spin_until(lambda: got["temperature"] >= 5, 15.0), "no frames while in ERROR"

    client = AsyncParameterClient(h.probe, "/nuc/proc_nuc")
    assert client.wait_for_services(timeout_sec=15.0)

    def set_nuc(path: str) -> Any:
        future = client.set_parameters([Parameter("nuc_file", value=path)])
        assert h.spin_until(future.done, 15.0), "parameter service did not answer"
        return future.result().results[0]

    good = tmp_path / "good_nuc"
    NucTable.identity((HEIGHT, WIDTH)).save(good)
    assert set_nuc(str(good)).successful
    mark = len(h.diagnostics)
    assert h.wait_status(name, OK, since=mark), "ERROR did not clear with a good NUC file"
    table = proc.chain.table

    corrupt = tmp_path / "corrupt_nuc"
    write_corrupt_nuc(corrupt)
    for path, words in ((str(corrupt), "corrupt"), (str(tmp_path / "gone"), "missing")):
        mark, frames = len(h.diagnostics), got["temperature"]
        result = set_nuc(path)
        assert not result.successful and words in result.reason
        assert proc.get_parameter("nuc_file").value == str(good)  # the old value kept
        assert proc.chain.table is table  # and the table in use
        assert h.wait_status(name, WARN, "parameter change rejected", since=mark)
        assert h.wait_status(name, OK, since=mark)
        assert got["temperature"] > frames  # still processing


def test_corrupt_nuc_file_at_start_is_an_error_not_a_crash(rclpy_context, tmp_path):
    corrupt = tmp_path / "corrupt_nuc"
    write_corrupt_nuc(corrupt)
    (tmp_path / "bad_yaml.yaml").write_text("format: [unclosed\n")
    (tmp_path / "bad_yaml.npz").write_bytes(b"")
    for path, words in ((corrupt, "corrupt"), (tmp_path / "bad_yaml", "corrupt")):
        node = processor("proc_corrupt", "/corrupt", nuc_file=str(path))
        try:
            status = node._diagnostics()[0]
            assert status.level[0] == ERROR and words in status.message
            assert node.chain.table is None or node.chain.state.nuc_source != str(path)
        finally:
            node.destroy_node()


def test_wholly_invalid_frames_are_counted_on_every_frame(harness):
    """All-zero counts (outside the radiometric model) give all-NaN temperature images: each
    such frame is counted, not one in 30 (issue 19 item 4), /diagnostics says so, and good
    frames after them come out in full and clear the warning."""
    from sensor_msgs.msg import Image

    from thermal_perception.ros.qos import sensor_qos

    h = harness
    proc = h.add(processor("proc_invalid", "/invalid"))
    pub = h.probe.create_publisher(Image, "/invalid/image_raw", sensor_qos())
    got: list[float] = []
    h.probe.create_subscription(
        Image, "/invalid/image_temperature",
        lambda m: got.append(float(np.isfinite(np.frombuffer(m.data, np.float32)).mean())),
        sensor_qos())
    assert h.spin_until(lambda: pub.get_subscription_count() > 0
                        and proc.temperature_pub.get_subscription_count() > 0, 20.0)
    zeros, counts = np.zeros((HEIGHT, WIDTH), np.uint16), raw_counts()
    mark = len(h.diagnostics)
    for i in range(7):  # one at a time: every one of them is counted
        pub.publish(stamped(zeros, "mono16", 10.0 + 0.1 * i))
        assert h.spin_until(lambda i=i: proc.frames_out >= i + 1, 10.0)
    assert proc.invalid_frames == 7 and proc.invalid_fraction == 1.0
    assert h.wait_status("proc_invalid: processing", WARN, "no valid pixel", since=mark,
                         timeout_s=5.0), h.statuses("proc_invalid: processing", mark)
    mark = len(h.diagnostics)
    for i in range(30):
        pub.publish(stamped(counts, "mono16", 20.0 + 0.05 * i))
        assert h.spin_until(lambda i=i: proc.frames_out >= 8 + i, 10.0)
    assert h.spin_until(lambda: len(got) >= 37, 10.0)
    assert got[:7] == [0.0] * 7 and min(got[7:37]) > 0.99
    assert proc.invalid_frames == 7
    assert h.wait_status("proc_invalid: processing", OK, since=mark, timeout_s=5.0)


@pytest.mark.parametrize("wait_s", [0.05, 0.0])
def test_a_frame_waits_for_its_status_at_most_status_wait_s(harness, wait_s):
    """Once statuses flow, a frame whose status is missing waits for it at most status_wait_s
    (0: not at all), then is processed as a scene frame and counted; it is not held until the
    next frame arrives."""
    from sensor_msgs.msg import Image

    from thermal_perception.msg import ThermalStatus
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    h = harness
    ns = f"/wait{int(wait_s * 1000)}"
    proc = h.add(processor("proc_wait", ns, status_wait_s=wait_s))
    image_pub = h.probe.create_publisher(Image, f"{ns}/image_raw", sensor_qos())
    status_pub = h.probe.create_publisher(ThermalStatus, f"{ns}/status", reliable_qos())
    got: list[tuple[int, float]] = []  # (stamp sec, arrival time)
    h.probe.create_subscription(
        Image, f"{ns}/image_temperature",
        lambda m: got.append((m.header.stamp.sec, time.monotonic())), sensor_qos())
    assert h.spin_until(lambda: image_pub.get_subscription_count() > 0
                        and status_pub.get_subscription_count() > 0, 10.0)
    counts = raw_counts()

    status = ThermalStatus()
    status.header.stamp.sec = 100
    status.fpa_temperature_c = 30.0
    status_pub.publish(status)  # statuses flow: frames now wait for theirs
    assert h.spin_until(lambda: len(proc.status_at) == 1, 5.0)
    image_pub.publish(stamped(counts, "mono16", 100.0))
    assert h.spin_until(lambda: len(got) == 1, 5.0)

    sent = time.monotonic()
    image_pub.publish(stamped(counts, "mono16", 101.0))  # its status never comes
    assert h.spin_until(lambda: len(got) == 2, 5.0), "the frame was held"
    assert got[1][0] == 101
    if wait_s:  # it did wait for its status first
        assert got[1][1] - sent >= wait_s * 0.9
    assert proc.status_timeouts == (1 if wait_s else 0)
    assert proc.waiting_for_status is None
