"""End to end over real DDS: driver and processor in their own processes (as launch starts
them), checked against the simulated scene's ground truth."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import REPO, requires_ros
from scipy import ndimage

pytestmark = requires_ros

WIDTH, HEIGHT, RATE = 320, 256, 15.0
DRIVER = {"width": WIDTH, "height": HEIGHT, "rate_hz": RATE, "speed_mps": 0.0, "seed": 7,
          "frame_id": "test_thermal_optical", "altitude_m": 40.0, "air_temperature_c": 12.0,
          "ffc_duration_s": 0.5}


def spin_until(executor, condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
        if condition():
            return True
    return False


@pytest.fixture(scope="module")
def simulator():
    """The simulator the driver runs, rebuilt here for its truth (same profile and seed)."""
    from thermal_perception.core.physics.camera import get_profile
    from thermal_perception.sim.simulator import ThermalSimulator

    profile = get_profile("boson640").with_size(WIDTH, HEIGHT)
    return ThermalSimulator(profile, altitude_m=DRIVER["altitude_m"], speed_mps=0.0,
                            seed=DRIVER["seed"], air_temperature_c=DRIVER["air_temperature_c"])


@pytest.fixture(scope="module")
def pipeline(rclpy_context, simulator, tmp_path_factory):
    """driver + processor, the processor set for terrain (emissivity 0.95) seen through 40 m
    of air reflecting the sky, as a user would configure it for the scene."""
    from thermal_perception.runner import Pipeline

    processor = {"emissivity": 0.95, "reflected_temperature_c": simulator.world.sky_temperature_c,
                 "atmosphere_temperature_c": DRIVER["air_temperature_c"],
                 "distance_m": DRIVER["altitude_m"], "relative_humidity": 0.5,
                 "rois": ["box centre 100 80 220 176", "spot corner 5 5 2 above=500"]}
    logs = tmp_path_factory.mktemp("logs")
    with Pipeline(REPO / "config" / "thermal_pipeline.yaml", "e2e",
                  {"driver": DRIVER, "processor": processor}, log_dir=logs) as running:
        yield running


@pytest.fixture(scope="module")
def probe(rclpy_context, pipeline):
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    from thermal_perception.msg import RoiStatisticsArray, ThermalStatus
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    node = rclpy_context.create_node("e2e_probe", namespace="/e2e")
    got = {"temperature": [], "info": [], "status": [], "display": [], "sigma": [],
           "rois": [], "jpeg": []}
    node.create_subscription(CompressedImage, "image_display/compressed", got["jpeg"].append,
                             sensor_qos())
    node.create_subscription(Image, "image_temperature", got["temperature"].append, sensor_qos())
    node.create_subscription(Image, "image_display", got["display"].append, sensor_qos())
    node.create_subscription(Image, "image_temperature_sigma", got["sigma"].append,
                             sensor_qos())
    node.create_subscription(CameraInfo, "camera_info", got["info"].append, reliable_qos())
    node.create_subscription(RoiStatisticsArray, "roi_stats", got["rois"].append,
                             reliable_qos())
    node.create_subscription(ThermalStatus, "status", got["status"].append, reliable_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    # every stream matches at discovery on its own: wait for all of them
    started = spin_until(executor, lambda: len(got["temperature"]) >= 12 and got["status"]
                         and got["info"], 60.0)
    if not started:
        pytest.fail("no temperature frames from the pipeline:\n" + "\n".join(pipeline.failed()))
    yield node, executor, got
    executor.shutdown()
    node.destroy_node()


def to_array(msg):
    from thermal_perception.io.image_encoding import image_to_array

    return image_to_array(msg, copy=True)


def test_temperatures_match_scene_truth(probe, simulator):
    """Terrain pixels: published temperature equals the kinetic truth within noise.

    Tolerance: the mean of 10 frames has noise NETD/sqrt(10) = 13 mK per pixel, amplified by
    1/(eps*tau) ~ 1.06; quantisation adds up to 8 mK. The frame-mean error must be < 0.05 K and
    the per-pixel rms < 0.1 K.
    """
    from thermal_perception.sim.truth import LABELS

    _, _, got = probe
    frames = np.stack([to_array(m) for m in got["temperature"][-10:]])
    assert frames.dtype == np.float32 and got["temperature"][-1].encoding == "32FC1"
    measured = frames.mean(axis=0)
    truth = simulator.truth(0.0)
    terrain = ndimage.binary_erosion(truth.labels == LABELS["terrain"], iterations=2)
    assert terrain.sum() > 1000
    error = measured[terrain] - truth.temperature_c[terrain]
    assert abs(float(error.mean())) < 0.05, f"mean error {error.mean():.3f} K"
    assert float(np.sqrt(np.mean(error**2))) < 0.1


def test_stamps_are_capture_times_with_frame_id(probe):
    _, executor, got = probe
    n = len(got["temperature"])  # a fresh window in which all three streams flow
    assert spin_until(executor, lambda: len(got["temperature"]) >= n + 10, 20.0)
    status_stamps = {(s.header.stamp.sec, s.header.stamp.nanosec) for s in got["status"]}
    info_stamps = {(i.header.stamp.sec, i.header.stamp.nanosec) for i in got["info"]}
    stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in got["temperature"]]
    # The processor keeps the capture stamp of the raw frame, which status and camera_info of
    # that frame share. Streams match at discovery one by one, and keep-last queues may drop
    # while the probe does not spin: compare where all three were received.
    first = max(min(status_stamps), min(info_stamps))
    last = min(max(status_stamps), max(info_stamps))
    window = [s for s in stamps if first <= s <= last]
    assert len(window) >= 5
    assert sum(s in status_stamps for s in window) >= 0.9 * len(window)
    assert sum(s in info_stamps for s in window) >= 0.9 * len(window)
    assert all(m.header.frame_id == DRIVER["frame_id"] for m in got["temperature"])
    assert all(i.header.frame_id == DRIVER["frame_id"] for i in got["info"])
    ns = np.array([s * 10**9 + n for s, n in stamps], dtype=np.int64)
    periods = np.diff(ns) * 1e-9
    assert np.all(periods > 0)
    assert float(np.median(periods)) == pytest.approx(1.0 / RATE, rel=0.1)
    info = got["info"][-1]
    assert (info.width, info.height) == (WIDTH, HEIGHT) and info.k[0] > 0


def test_display_image_is_bgr8(probe):
    _, _, got = probe
    assert got["display"], "display image not published although subscribed"
    image = to_array(got["display"][-1])
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
    assert image.std() > 5  # a picture, not a flat frame


def test_compressed_display_is_the_display_as_jpeg(probe):
    """image_display/compressed: image_transport's format, the display's stamp, and pixels
    within JPEG's error of the bgr8 display of the same frame, at a fraction of its size."""
    import cv2

    _, executor, got = probe
    assert spin_until(executor, lambda: len(got["jpeg"]) >= 3, 10.0)
    display = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in got["display"]}
    pairs = [(m, display[(m.header.stamp.sec, m.header.stamp.nanosec)]) for m in got["jpeg"]
             if (m.header.stamp.sec, m.header.stamp.nanosec) in display]
    assert pairs, "no compressed display frame with a raw display frame of the same stamp"
    jpeg, raw = pairs[-1]
    assert jpeg.format == "bgr8; jpeg compressed bgr8"
    assert jpeg.header.frame_id == raw.header.frame_id
    decoded = cv2.imdecode(np.frombuffer(bytes(jpeg.data), np.uint8), cv2.IMREAD_COLOR)
    image = to_array(raw)
    assert decoded.shape == image.shape
    # the same pixels as the display encoded here at the configured quality (80), and close
    # to the display itself (JPEG's loss on a noisy colour-mapped frame with ROI labels)
    ok, ours = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    np.testing.assert_array_equal(decoded, cv2.imdecode(ours, cv2.IMREAD_COLOR))
    assert np.abs(decoded.astype(np.int16) - image.astype(np.int16)).mean() < 8.0
    assert len(jpeg.data) < image.nbytes / 5


def test_uncertainty_image_is_published(probe, simulator):
    """sigma_T per pixel: above the NETD (emissivity 0.95 +- 0.02 and reflected +- 2 K add to
    the noise) and a few kelvin at most for terrain about 30 K warmer than the sky."""
    _, _, got = probe
    assert got["sigma"], "uncertainty image not published although subscribed"
    sigma = to_array(got["sigma"][-1])
    assert sigma.shape == (HEIGHT, WIDTH) and got["sigma"][-1].encoding == "32FC1"
    valid = sigma[np.isfinite(sigma)]
    assert valid.size > 0.99 * sigma.size
    assert float(valid.min()) > simulator.profile.netd_k
    assert float(np.median(valid)) < 3.0


def test_roi_statistics_match_the_temperature_image(probe):
    """roi_stats of a frame equal numpy's statistics of the same published frame."""
    _, executor, got = probe
    assert spin_until(executor, lambda: len(got["rois"]) >= 3, 10.0)
    by_stamp = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in got["temperature"]}
    matched = [r for r in got["rois"]
               if (r.header.stamp.sec, r.header.stamp.nanosec) in by_stamp]
    assert matched
    rois = matched[-1]
    frame = to_array(by_stamp[(rois.header.stamp.sec, rois.header.stamp.nanosec)])
    centre = next(r for r in rois.regions if r.name == "centre")
    region = frame[80:176, 100:220]
    assert centre.pixel_count == region.size and centre.shape == "box"
    assert centre.max_c == pytest.approx(float(np.nanmax(region)), abs=1e-4)
    assert centre.mean_c == pytest.approx(float(np.nanmean(region)), abs=1e-3)
    assert frame[centre.max_y, centre.max_x] == pytest.approx(centre.max_c, abs=1e-4)
    corner = next(r for r in rois.regions if r.name == "corner")
    assert corner.alarm_state == "ok" and "above 500" in corner.alarm_rule


def test_roi_alarm_set_at_runtime_reaches_diagnostics(probe):
    """A new ROI whose threshold the scene exceeds raises a WARN on /diagnostics; a bad ROI
    string is rejected with a reason."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    node, executor, _ = probe
    diagnostics: list = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    client = node.create_client(SetParameters, "processor/set_parameters")
    assert client.wait_for_service(timeout_sec=10.0)

    def set_rois(values: list[str]):
        value = ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=values)
        future = client.call_async(SetParameters.Request(
            parameters=[Parameter(name="rois", value=value)]))
        assert spin_until(executor, future.done, 10.0)
        return future.result().results[0]

    bad = set_rois(["box broken 1 2 3"])
    assert not bad.successful and "4 numbers" in bad.reason
    assert set_rois(["box all 0 0 320 256 above=-50"]).successful

    def alarm_reported() -> bool:
        return any(s.name.endswith("regions of interest") and "alarm in all" in s.message
                   for a in diagnostics for s in a.status)

    assert spin_until(executor, alarm_reported, 10.0)
    assert set_rois([""]).successful
    node.destroy_client(client)


def test_trigger_ffc_flags_frames_and_processor_skips_them(probe):
    from std_srvs.srv import Trigger

    node, executor, got = probe
    client = node.create_client(Trigger, "trigger_ffc")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done, 10.0)
    assert future.result().success, future.result().message
    n_status = len(got["status"])
    assert spin_until(executor, lambda: any(
        s.ffc_state == s.FFC_STATE_COMPLETE for s in got["status"][n_status:]), 10.0)
    recent = got["status"][n_status:]
    closed = {(s.header.stamp.sec, s.header.stamp.nanosec) for s in recent if s.shutter_closed}
    assert len(closed) >= 3  # 0.5 s at 15 Hz
    assert recent[-1].ffc_count >= 1
    assert recent[-1].last_ffc_time.sec > 0
    spin_until(executor, lambda: False, 0.5)
    published = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in got["temperature"]}
    assert not (closed & published), "shutter frames were published as temperatures"
    node.destroy_client(client)


def test_processor_survives_bad_frames_and_reports_them(probe):
    """Wrong encodings and inconsistent sizes are rejected, counted, on /diagnostics, and
    the stream goes on."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from thermal_perception.ros.qos import sensor_qos

    node, executor, got = probe
    diagnostics: list = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    bad_pub = node.create_publisher(Image, "image_raw", sensor_qos())
    wrong_encoding = Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(48))
    short = Image(height=100, width=100, encoding="mono16", step=200, data=bytes(10))

    def rejected_reported() -> bool:
        return any("rejected" in s.message and s.name.endswith("processing")
                   for a in diagnostics for s in a.status)

    deadline = time.monotonic() + 10.0
    while not rejected_reported() and time.monotonic() < deadline:
        bad_pub.publish(wrong_encoding)
        bad_pub.publish(short)
        spin_until(executor, rejected_reported, 0.3)
    assert rejected_reported()
    counts = [s for a in diagnostics for s in a.status if s.name.endswith("processing")]
    values = {kv.key: kv.value for kv in counts[-1].values}
    assert int(values["rejected_frames"]) >= 1
    n = len(got["temperature"])
    assert spin_until(executor, lambda: len(got["temperature"]) > n + 3, 10.0)
    node.destroy_publisher(bad_pub)
