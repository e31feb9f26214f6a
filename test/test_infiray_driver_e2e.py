"""The real driver and processor nodes over DDS with a fake InfiRay P2 Pro / TC001
(``device: fake:<file>``: recorded YUYV 256x384 buffers built from a known temperature field,
stored as their 2-byte pixels). The profile ``infiray_p2pro`` alone selects the YUYV layout in
the driver and TLinear 1/64 K in the processor: image_raw is the 256x192 thermal half,
image_temperature equals the field within 0.05 K, at the camera's 25 Hz, and /diagnostics
names the layout and the model. No real camera was used (none here)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import requires_ros
from test_infiray import person_field, to_counts
from test_pipeline_e2e import spin_until, to_array

from thermal_perception.io.uvc_frames import encode_infiray

pytestmark = requires_ros

RATE_HZ = 25.0  # the profile's (the cameras' frame rate)


@pytest.fixture(scope="module")
def infiray_file(tmp_path_factory):
    """Five InfiRay buffers (a 30 C person walking across 20 C ground) as (384, 256) words."""
    fields = [person_field(shift) for shift in (-60, -30, 0, 30, 60)]
    buffers = [np.frombuffer(encode_infiray(to_counts(f)), "<u2").reshape(384, 256)
               for f in fields]
    path = tmp_path_factory.mktemp("fake_infiray") / "p2pro.npy"
    np.save(path, np.stack(buffers))
    return path, fields


def test_infiray_temperatures_over_dds(rclpy_context, infiray_file, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.ros.qos import sensor_qos
    from thermal_perception.runner import Pipeline

    path, fields = infiray_file
    params = tmp_path / "infiray.yaml"
    params.write_text(yaml.safe_dump({
        "/**/driver": {"ros__parameters": {
            "source": "v4l2", "device": f"fake:{path}", "camera_profile": "infiray_p2pro",
            "frame_id": "infiray_optical_frame"}},
        "/**/processor": {"ros__parameters": {"camera_profile": "infiray_p2pro"}}}))
    node = rclpy_context.create_node("infiray_probe", namespace="/infiray")
    got = {"raw": [], "temperature": [], "diagnostics": []}
    node.create_subscription(Image, "image_raw", got["raw"].append, sensor_qos())
    node.create_subscription(Image, "image_temperature", got["temperature"].append,
                             sensor_qos())
    node.create_subscription(DiagnosticArray, "/diagnostics", got["diagnostics"].append, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)

    def diagnostic(suffix: str) -> dict[str, str]:
        found = [s for a in got["diagnostics"] for s in a.status if s.name.endswith(suffix)]
        return {kv.key: kv.value for kv in found[-1].values} if found else {}

    with Pipeline(params, "infiray", log_dir=tmp_path / "logs") as pipeline:
        try:
            started = spin_until(executor, lambda: len(got["temperature"]) >= 5
                                 and diagnostic(": camera") and diagnostic(": processing"), 30.0)
            assert started, f"no temperatures from the fake InfiRay: {pipeline.failed()}"
            # a 2 s window at the camera's rate: the frames' own stamps (capture times) give
            # the rate; arrival times only the count delivered (DDS may deliver in bunches)
            first = len(got["temperature"])
            spin_until(executor, lambda: False, 2.0)
            window = got["temperature"][first:]
            stamps = np.array([m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec
                               for m in window])
            rate_hz = (len(stamps) - 1) / (stamps[-1] - stamps[0])
            assert rate_hz == pytest.approx(RATE_HZ, rel=0.1), rate_hz
            assert np.median(np.diff(stamps)) == pytest.approx(1.0 / RATE_HZ, rel=0.1)
            assert len(window) >= 0.8 * 2.0 * RATE_HZ, len(window)  # none lost on the way

            raw = got["raw"][-1]
            assert (raw.width, raw.height, raw.encoding) == (256, 192, "mono16")
            assert raw.header.frame_id == "infiray_optical_frame"
            assert any(np.array_equal(to_array(raw), to_counts(f)) for f in fields)
            for msg in window:
                assert (msg.width, msg.height, msg.encoding) == (256, 192, "32FC1")
                temperature = to_array(msg)
                error_k = min(np.abs(temperature - f).max() for f in fields)
                assert error_k < 0.05, error_k  # rounding to 1/64 K: at most 0.0078 K

            camera = diagnostic(": camera")
            assert camera["stream_format"].startswith("InfiRay P2 Pro/TC001 YUYV 256x384")
            assert camera["connected"] == "True" and camera["telemetry"] == "False"
            processing = diagnostic(": processing")
            assert processing["radiometric_model"] == \
                "tlinear 0.015625 K/count (profile infiray_p2pro)"
        finally:
            executor.shutdown()
            node.destroy_node()
