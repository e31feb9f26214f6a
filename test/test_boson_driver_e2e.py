"""The real driver node over DDS with a fake V4L2 Boson (640x512 Y16, ``device: fake:<file>``)
and a simulated Boson control port on a pseudo-terminal (``serial_port``), opened by the driver
process through pyserial like a real /dev/ttyACM0: ``trigger_ffc`` succeeds once the camera
acknowledged bosonRunFFC (and the fake saw it), the FPA temperature read over serial reaches
``status`` and /diagnostics; when the camera stops answering, trigger_ffc fails with the reason,
/diagnostics goes ERROR and the node keeps running."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import requires_ros
from test_pipeline_e2e import spin_until

pytestmark = requires_ros

OK, ERROR = b"\x00", b"\x02"


def boson_statuses(arrays, level: bytes | None = None):
    return [s for a in arrays for s in a.status
            if s.name.endswith(": boson control") and (level is None or s.level == level)]


def test_trigger_ffc_runs_the_boson_ffc_over_dds(rclpy_context, tmp_path):
    pytest.importorskip("serial")
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from std_srvs.srv import Trigger

    from thermal_perception.io import boson_protocol as bp
    from thermal_perception.io.boson_fake import FakeBosonCamera, FakeBosonPty
    from thermal_perception.msg import ThermalStatus
    from thermal_perception.ros.qos import reliable_qos
    from thermal_perception.runner import Pipeline

    frames = np.random.default_rng(3).integers(20000, 30000, (3, 512, 640), dtype=np.uint16)
    video = tmp_path / "boson.npy"
    np.save(video, frames)
    camera = FakeBosonCamera(serial_number=424242, fpa_temperature_c=41.5)
    pty = FakeBosonPty(camera)
    params = tmp_path / "driver.yaml"
    params.write_text(yaml.safe_dump({"/**/driver": {"ros__parameters": {
        "source": "v4l2", "device": f"fake:{video}", "camera_profile": "boson640",
        "rate_hz": 10.0, "serial_port": pty.port, "boson_ffc_mode": "manual",
        "boson_gain_mode": "high", "boson_poll_interval_s": 0.2}}}))
    node = rclpy_context.create_node("boson_probe", namespace="/boson")
    got = {"status": [], "diagnostics": []}
    node.create_subscription(ThermalStatus, "status", got["status"].append, reliable_qos())
    node.create_subscription(DiagnosticArray, "/diagnostics", got["diagnostics"].append, 10)
    client = node.create_client(Trigger, "trigger_ffc")
    executor = SingleThreadedExecutor()
    executor.add_node(node)

    def call() -> Trigger.Response:
        future = client.call_async(Trigger.Request())
        assert spin_until(executor, future.done, 10.0), "trigger_ffc did not answer"
        return future.result()

    with Pipeline(params, "boson", log_dir=tmp_path / "logs") as pipeline:
        try:
            assert spin_until(executor, lambda: boson_statuses(got["diagnostics"], OK)
                              and got["status"] and client.service_is_ready(), 60.0), \
                f"no Boson control: {pipeline.failed()} {camera.violations}"
            values = {kv.key: kv.value for kv in boson_statuses(got["diagnostics"], OK)[-1].values}
            assert values["serial_number"] == "424242" and values["ffc_mode"] == "manual"
            assert camera.ffc_mode == bp.FFC_MODES["manual"]
            assert spin_until(executor, lambda: got["status"][-1].fpa_temperature_c == 41.5,
                              5.0), "FPA temperature not in status"
            # the camera's serial number rides on status, for the processor's per-camera
            # correction table
            assert got["status"][-1].camera_serial == "424242"

            # trigger_ffc: success only after the camera acknowledged bosonRunFFC
            response = call()
            assert response.success, response.message
            assert "acknowledged" in response.message
            assert camera.ffc_count == 1 and bp.BOSON_RUN_FFC in camera.functions()
            assert spin_until(executor, lambda: got["status"][-1].ffc_count == 1, 5.0)
            assert camera.violations == []

            # the camera stops answering: a failed trigger with the reason, ERROR, still alive
            pty.unplug()
            response = call()
            assert not response.success
            assert "no answer" in response.message or "not connected" in response.message
            since = len(got["diagnostics"])
            assert spin_until(executor, lambda: boson_statuses(got["diagnostics"][since:],
                                                               ERROR), 15.0)
            assert "does not answer" in boson_statuses(got["diagnostics"], ERROR)[-1].message
            assert not pipeline.failed(), "the driver died with its Boson control"
            frames_before = len(got["status"])
            assert spin_until(executor, lambda: len(got["status"]) > frames_before + 5, 5.0)

            # back: OK again and FFCs work
            pty.replug()
            since = len(got["diagnostics"])
            assert spin_until(executor, lambda: boson_statuses(got["diagnostics"][since:], OK),
                              20.0), "no recovery"
            assert call().success and camera.ffc_count == 2
        finally:
            executor.shutdown()
            node.destroy_node()
            pty.close()
