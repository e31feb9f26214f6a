"""The real driver node over DDS with a fake V4L2 Lepton (``device: fake:<file>``, the test
device of io/v4l2.py): frames arrive without their telemetry lines, with the telemetry's FPA
and housing temperatures in the status; the camera disappears (its file is renamed, as a
/dev/video node vanishes on unplug), /diagnostics goes ERROR while the node keeps running;
the camera comes back, /diagnostics returns to OK and frames flow again. This is also the
"camera disappears and returns" fault test of issue #9."""

from __future__ import annotations

import time

import numpy as np
import pytest
import yaml
from conftest import requires_ros
from test_pipeline_e2e import spin_until, to_array
from test_v4l2_source import lepton_buffer

pytestmark = requires_ros

RATE = 15.0
OK, ERROR = b"\x00", b"\x02"


def camera_statuses(arrays):
    return [s for a in arrays for s in a.status
            if s.name.endswith(": camera") and s.hardware_id.startswith("v4l2:")]


@pytest.fixture(scope="module")
def lepton_file(tmp_path_factory):
    """Six PureThermal Y16 buffers (160x122: image and two telemetry lines) as a .npy stack."""
    rng = np.random.default_rng(5)
    images = rng.integers(1000, 16000, (6, 120, 160), dtype=np.uint16)
    buffers = [np.frombuffer(lepton_buffer(im, 500 + i), "<u2").reshape(122, 160)
               for i, im in enumerate(images)]
    path = tmp_path_factory.mktemp("fake_camera") / "lepton.npy"
    np.save(path, np.stack(buffers))
    return path, images


def test_camera_lost_and_back_over_dds(rclpy_context, lepton_file, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from std_srvs.srv import Trigger

    from thermal_perception.msg import ThermalStatus
    from thermal_perception.ros.qos import reliable_qos, sensor_qos
    from thermal_perception.runner import Pipeline

    path, images = lepton_file
    params = tmp_path / "driver.yaml"
    params.write_text(yaml.safe_dump({"/**/driver": {"ros__parameters": {
        "source": "v4l2", "device": f"fake:{path}", "camera_profile": "lepton35",
        "rate_hz": RATE, "frame_id": "lepton_optical_frame",
        "lepton_radiometry": "tlinear_0.01"}}}))
    node = rclpy_context.create_node("v4l2_probe", namespace="/v4l2")
    got = {"image": [], "status": [], "diagnostics": []}
    arrival: list[float] = []

    def on_image(msg):
        got["image"].append(msg)
        arrival.append(time.time())

    node.create_subscription(Image, "image_raw", on_image, sensor_qos())
    node.create_subscription(ThermalStatus, "status", got["status"].append, reliable_qos())
    node.create_subscription(DiagnosticArray, "/diagnostics", got["diagnostics"].append, 10)
    client = node.create_client(Trigger, "trigger_ffc")
    executor = SingleThreadedExecutor()
    executor.add_node(node)

    def camera_level(level: bytes, since: int = 0, text: str = ""):
        return [s for s in camera_statuses(got["diagnostics"][since:])
                if s.level == level and text in s.message]

    with Pipeline(params, "v4l2", log_dir=tmp_path / "logs") as pipeline:
        try:
            started = spin_until(executor, lambda: len(got["image"]) >= 10 and got["status"]
                                 and camera_level(OK), 60.0)
            assert started, f"no frames from the fake camera: {pipeline.failed()}"
            # 1. frames: the image without telemetry lines, capture stamps, telemetry status
            msg = got["image"][-1]
            assert (msg.width, msg.height, msg.encoding) == (160, 120, "mono16")
            assert msg.header.frame_id == "lepton_optical_frame"
            assert any(np.array_equal(to_array(msg), im) for im in images)
            stamps = [m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for m in got["image"]]
            assert np.all(np.diff(stamps) > 0)
            assert all(0.0 <= a - s < 2.0 for a, s in zip(arrival, stamps, strict=True))
            status = got["status"][-1]
            assert status.source == f"v4l2:fake:{path}"
            assert status.fpa_temperature_c == pytest.approx(29.0, abs=1e-4)  # 302.15 K
            assert status.housing_temperature_c == pytest.approx(25.5, abs=1e-4)  # 298.65 K
            # a fake camera has no UVC extension unit: TLinear not set, and /diagnostics says so
            assert spin_until(executor, lambda: any(
                kv.key == "lepton_radiometry" and "no UVC extension unit" in kv.value
                for st in camera_statuses(got["diagnostics"]) for kv in st.values), 5.0)
            # trigger_ffc cannot reach a Lepton's shutter here: it says so, never pretends
            future = client.call_async(Trigger.Request())
            assert spin_until(executor, future.done, 10.0), "trigger_ffc did not answer"
            answer = future.result()
            assert not answer.success and "UVC extension" in answer.message
            assert got["status"][-1].ffc_count == 0

            # 2. unplugged: ERROR on /diagnostics, no frames, the node keeps publishing
            path.rename(path.with_suffix(".unplugged"))
            since = len(got["diagnostics"])
            assert spin_until(executor, lambda: camera_level(ERROR, since, "disconnected"),
                              20.0), "no ERROR on /diagnostics after the camera vanished"
            spin_until(executor, lambda: False, 0.5)  # frames in flight arrive
            frames_when_lost, diagnostics_when_lost = len(got["image"]), len(got["diagnostics"])
            spin_until(executor, lambda: False, 2.0)
            assert len(got["image"]) == frames_when_lost, "frames while unplugged"
            assert len(camera_statuses(got["diagnostics"][diagnostics_when_lost:])) >= 1
            assert not pipeline.failed(), "the driver died with its camera"
            lost = camera_level(ERROR, since, "disconnected")[-1]
            assert {kv.key: kv.value for kv in lost.values}["connected"] == "False"

            # 3. plugged in again: OK and frames
            path.with_suffix(".unplugged").rename(path)
            since = len(got["diagnostics"])
            assert spin_until(executor, lambda: camera_level(OK, since, "streaming")
                              and len(got["image"]) >= frames_when_lost + 10, 30.0), \
                f"no recovery: {[s.message for s in camera_statuses(got['diagnostics'][-3:])]}"
            back = camera_level(OK, since, "streaming")[-1]
            values = {kv.key: kv.value for kv in back.values}
            assert values["reconnects"] == "1" and values["connected"] == "True"
            assert got["status"][-1].fpa_temperature_c == pytest.approx(29.0, abs=1e-4)
        finally:
            executor.shutdown()
            node.destroy_node()
            if path.with_suffix(".unplugged").exists():
                path.with_suffix(".unplugged").rename(path)
