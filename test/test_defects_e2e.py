"""End to end over DDS with a raw (un-corrected) camera: fixed-pattern noise, FPA drift and
bad pixels in the driver; automatic FFC at start; the processor's flat-field correction and
bad-pixel replacement bring the temperatures back to the scene's truth. A missing NUC file is
reported as an error while the node keeps running."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO, requires_ros
from test_pipeline_e2e import spin_until, to_array

pytestmark = requires_ros

WIDTH, HEIGHT = 160, 128
DRIVER = {"width": WIDTH, "height": HEIGHT, "rate_hz": 15.0, "speed_mps": 0.0, "seed": 21,
          "sensor_defects": True, "auto_ffc": True, "ffc_duration_s": 0.4}


@pytest.fixture(scope="module")
def run(rclpy_context, tmp_path_factory):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.msg import ThermalStatus
    from thermal_perception.ros.qos import reliable_qos, sensor_qos
    from thermal_perception.runner import Pipeline

    processor = {"nuc_file": str(tmp_path_factory.mktemp("nuc") / "missing")}
    pipeline = Pipeline(REPO / "config" / "thermal_pipeline.yaml", "defects",
                        {"driver": DRIVER, "processor": processor},
                        log_dir=tmp_path_factory.mktemp("logs")).start()
    node = rclpy_context.create_node("defects_probe", namespace="/defects")
    got = {"temperature": [], "status": [], "diagnostics": []}
    node.create_subscription(Image, "image_temperature", got["temperature"].append, sensor_qos())
    node.create_subscription(ThermalStatus, "status", got["status"].append, reliable_qos())
    node.create_subscription(DiagnosticArray, "/diagnostics", got["diagnostics"].append, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    ok = spin_until(executor, lambda: len(got["temperature"]) >= 15 and any(
        s.ffc_count >= 1 for s in got["status"]), 60.0)
    if not ok:
        pipeline.stop()
        pytest.fail("no temperature frames:\n" + "\n".join(pipeline.failed()))
    # The automatic FFC at start may end before the processor is subscribed: one more FFC,
    # requested now that frames flow, makes sure the processor sees the shutter.
    from std_srvs.srv import Trigger

    client = node.create_client(Trigger, "trigger_ffc")
    assert client.wait_for_service(timeout_sec=20.0)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done, 20.0) and future.result().success
    n = len(got["temperature"])
    assert spin_until(executor, lambda: any(s.ffc_count >= 2 for s in got["status"])
                      and len(got["temperature"]) >= n + 15, 30.0)
    yield node, executor, got
    executor.shutdown()
    node.destroy_node()
    pipeline.stop()


def test_ffc_corrects_raw_output(run):
    from thermal_perception.core.physics.camera import get_profile
    from thermal_perception.sim.simulator import ThermalSimulator

    _, executor, got = run
    assert any(s.ffc_count >= 1 for s in got["status"]), "the driver ran no FFC"
    n = len(got["temperature"])  # frames well after the FFC
    assert spin_until(executor, lambda: len(got["temperature"]) >= n + 10, 20.0)
    profile = get_profile("boson640").with_size(WIDTH, HEIGHT)
    sim = ThermalSimulator(profile, speed_mps=0.0, seed=DRIVER["seed"], defects=True)
    frames = np.stack([to_array(m) for m in got["temperature"][-10:]])
    error = frames.mean(axis=0) - sim.truth(0.0).apparent_temperature_c
    good = ~sim.sensor.defects.bad & np.isfinite(error)
    # before correction the same pixels are off by about 2 K rms (test_processing_chain)
    assert abs(float(error[good].mean())) < 0.1
    assert float(error[good].std()) < 0.3
    bad = sim.sensor.defects.dead | sim.sensor.defects.hot
    assert np.isfinite(frames[-1][bad]).all(), "stuck pixels were not replaced"


def test_missing_nuc_file_is_an_error_on_diagnostics(run):
    _, executor, got = run

    def reported() -> bool:
        return any(s.level == b"\x02" and "missing" in s.message
                   for a in got["diagnostics"] for s in a.status
                   if s.name.endswith("processing"))

    assert spin_until(executor, reported, 10.0)
    values = {kv.key: kv.value for a in got["diagnostics"] for s in a.status
              if s.name.endswith("processing") for kv in s.values}
    assert int(values["ffc_count"]) >= 1
