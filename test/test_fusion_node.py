"""The fusion node in this process, fed over DDS by a probe: it fuses what is valid and, for
bad input (wrong encodings, sizes, broken clouds, NaN temperatures, stamps going back, a
stalled stream), keeps running and says what happened on /diagnostics."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import requires_ros
from test_pipeline_e2e import spin_until as spin_executor_until

pytestmark = requires_ros

W, H = 80, 64


@pytest.fixture()
def harness(rclpy_context):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

    from thermal_perception.msg import LocatedDetectionArray
    from thermal_perception.nodes.fusion import FusionNode
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    ns = f"/fusion_test_{time.monotonic_ns() % 100000}"
    node = FusionNode(namespace=ns, parameter_overrides=[
        Parameter("overlay_depth_m", value=10.0),
        Parameter("lidar_extrinsics", value=[0.0] * 6)])  # lidar frame = thermal optical frame
    probe = rclpy_context.create_node("probe", namespace=ns)
    pubs = {
        "temperature": probe.create_publisher(Image, "image_temperature", sensor_qos()),
        "info": probe.create_publisher(CameraInfo, "camera_info", reliable_qos()),
        "rgb": probe.create_publisher(Image, "rgb/image_raw", sensor_qos()),
        "rgb_info": probe.create_publisher(CameraInfo, "rgb/camera_info", reliable_qos()),
        "cloud": probe.create_publisher(PointCloud2, "lidar/points", sensor_qos()),
    }
    got = {"overlay": [], "points": [], "located": [], "diagnostics": [], "jpeg": []}
    probe.create_subscription(Image, "overlay", got["overlay"].append, sensor_qos())
    probe.create_subscription(CompressedImage, "overlay/compressed", got["jpeg"].append,
                              sensor_qos())
    probe.create_subscription(PointCloud2, "points_thermal", got["points"].append, sensor_qos())
    probe.create_subscription(LocatedDetectionArray, "detections_located",
                              got["located"].append, reliable_qos())
    probe.create_subscription(
        DiagnosticArray, "/diagnostics",
        lambda m: got["diagnostics"].extend(s for s in m.status
                                            if s.name.startswith(f"{ns[1:]}/fusion")
                                            or s.name.endswith("fusion: fusion")), 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)

    def spin_until(condition, timeout_s=10.0):
        return spin_executor_until(executor, condition, timeout_s)

    yield node, pubs, got, spin_until
    executor.shutdown()
    node.destroy_node()
    probe.destroy_node()


def info(width, height, f=60.0):
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    msg.k = [f, 0.0, (width - 1) / 2, 0.0, f, (height - 1) / 2, 0.0, 0.0, 1.0]
    msg.d = [0.0] * 5
    return msg


def stamped(msg, t_ns, frame="thermal"):
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t_ns, 1_000_000_000)
    msg.header.frame_id = frame
    return msg


def hovering(t_ns, latitude, longitude, altitude, imu_frame="thermal"):
    """A GPS fix and a level IMU attitude facing north (ENU yaw +90 deg) stamped ``t_ns``."""
    from sensor_msgs.msg import Imu, NavSatFix, NavSatStatus

    fix = stamped(NavSatFix(latitude=latitude, longitude=longitude, altitude=altitude), t_ns)
    fix.status.status = NavSatStatus.STATUS_FIX
    imu = stamped(Imu(), t_ns, imu_frame)
    imu.orientation.z = imu.orientation.w = float(np.sqrt(0.5))
    return fix, imu


def geolocation_probe(rclpy_context, node, ns):
    """A probe beside a fusion ``node`` in namespace ``ns``: publishers of camera_info,
    gps/fix, imu/data and detections, the detections_located it receives, and a spin_until
    over both nodes (the executor to shut down after)."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Imu, NavSatFix

    from thermal_perception.msg import LocatedDetectionArray, ThermalDetectionArray
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    probe = rclpy_context.create_node("geolocation_probe", namespace=ns)
    pubs = {"info": probe.create_publisher(type(info(W, H)), "camera_info", reliable_qos()),
            "fix": probe.create_publisher(NavSatFix, "gps/fix", sensor_qos()),
            "imu": probe.create_publisher(Imu, "imu/data", sensor_qos()),
            "det": probe.create_publisher(ThermalDetectionArray, "detections",
                                          reliable_qos())}
    located: list = []
    probe.create_subscription(LocatedDetectionArray, "detections_located", located.append,
                              reliable_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)

    def spin_until(condition, timeout_s=10.0):
        return spin_executor_until(executor, condition, timeout_s)

    return probe, pubs, located, executor, spin_until


def temperature_image(t_ns, value=20.0, encoding="32FC1"):
    from thermal_perception.io.image_encoding import array_to_image

    image = np.full((H, W), value, np.float32)
    image[20:40, 30:50] = 35.0
    msg = array_to_image(image, "32FC1")
    msg.encoding = encoding
    return stamped(msg, t_ns)


def cloud(t_ns, n=500):
    from std_msgs.msg import Header

    from thermal_perception.core.fusion.pointcloud import THERMAL_POINT_DTYPE
    from thermal_perception.ros.pointcloud2 import array_to_cloud

    rng = np.random.default_rng(0)
    points = np.zeros(n, THERMAL_POINT_DTYPE)
    points["x"], points["y"] = rng.uniform(-4, 4, n), rng.uniform(-3, 3, n)
    points["z"] = 10.0
    header = Header(frame_id="lidar")
    header.stamp.sec, header.stamp.nanosec = divmod(t_ns, 1_000_000_000)
    return array_to_cloud(points, header)


def test_valid_inputs_are_fused(harness):
    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.ros.pointcloud2 import cloud_to_array

    node, pubs, got, spin_until = harness
    pubs["info"].publish(info(W, H))
    pubs["rgb_info"].publish(info(W * 2, H * 2, f=120.0))
    spin_until(lambda: node.thermal_camera is not None and node.rgb_camera is not None)
    for k in range(5):
        t = (k + 1) * 100_000_000
        pubs["temperature"].publish(temperature_image(t))
        rgb = np.full((H * 2, W * 2, 3), 80, np.uint8)
        pubs["rgb"].publish(stamped(array_to_image(rgb, "rgb8"), t + 1_000_000, "rgb"))
        pubs["cloud"].publish(cloud(t + 2_000_000))
    assert spin_until(lambda: got["overlay"] and got["points"])
    points = cloud_to_array(got["points"][-1])
    warm = (points["temperature"] == 35.0)
    assert warm.any() and (points["temperature"][~warm] == 20.0).all()
    assert got["overlay"][-1].width == W and got["overlay"][-1].encoding == "bgr8"
    assert spin_until(lambda: got["jpeg"])  # and as JPEG, image_transport's way
    assert got["jpeg"][-1].format == "bgr8; jpeg compressed bgr8"
    assert got["jpeg"][-1].header.stamp in [m.header.stamp for m in got["overlay"]]


def test_bad_inputs_are_reported_and_the_node_keeps_running(harness):
    from sensor_msgs.msg import PointCloud2

    from thermal_perception.io.image_encoding import array_to_image

    node, pubs, got, spin_until = harness
    pubs["info"].publish(info(W, H))
    pubs["rgb_info"].publish(info(W * 2, H * 2, f=120.0))
    spin_until(lambda: node.thermal_camera is not None and node.rgb_camera is not None)
    t = 1_000_000_000
    pubs["temperature"].publish(temperature_image(t, encoding="mono16"))  # wrong encoding
    wrong_size = array_to_image(np.zeros((10, 10), np.float32), "32FC1")
    pubs["temperature"].publish(stamped(wrong_size, t + 1))  # not the camera_info size
    broken = cloud(t)
    broken.row_step = 3  # inconsistent layout
    pubs["cloud"].publish(broken)
    pubs["cloud"].publish(PointCloud2())  # empty, no fields
    pubs["rgb"].publish(stamped(array_to_image(np.zeros((5, 5), np.uint16), "mono16"), t))
    pubs["rgb"].publish(stamped(array_to_image(np.zeros((7, 7, 3), np.uint8), "bgr8"), t))
    pubs["info"].publish(info(0, 0))  # invalid camera_info
    nan = temperature_image(t + 2, value=np.nan)
    pubs["temperature"].publish(nan)
    pubs["cloud"].publish(cloud(t + 3))
    assert spin_until(lambda: node.counts["rejected"] >= 6, 10.0), node.counts
    assert spin_until(lambda: any(s.level == b"\x01" for s in got["diagnostics"]), 5.0)
    # still fusing afterwards: NaN temperatures stay NaN, others are sampled
    for k in range(3):
        stamp = t + (k + 1) * 100_000_000
        pubs["temperature"].publish(temperature_image(stamp))
        pubs["cloud"].publish(cloud(stamp))
    assert spin_until(lambda: len(got["points"]) >= 2, 10.0)


def test_stamps_going_back_reset_the_buffers(harness):
    node, pubs, got, spin_until = harness
    pubs["info"].publish(info(W, H))
    spin_until(lambda: node.thermal_camera is not None)
    for t in (50_000_000_000, 50_100_000_000, 10_000_000_000, 10_100_000_000):  # a bag loops
        pubs["temperature"].publish(temperature_image(t))
        pubs["cloud"].publish(cloud(t))
        spin_until(lambda: False, 0.2)
    assert spin_until(lambda: len(got["points"]) >= 3, 10.0)
    assert node.inputs["image_temperature"].time_resets == 1
    assert node.projections.latest_ns == 10_100_000_000  # the old time line is gone


def test_stalled_stream_goes_stale_on_diagnostics(harness):
    _, pubs, got, spin_until = harness
    pubs["info"].publish(info(W, H))
    for k in range(5):
        pubs["temperature"].publish(temperature_image((k + 1) * 100_000_000))
        spin_until(lambda: False, 0.05)
    assert spin_until(lambda: any("stale" in s.message for s in got["diagnostics"]), 8.0)


@pytest.mark.parametrize("kind", ["yaml", "geotiff", "utm"])
def test_detections_are_geolocated_on_a_terrain_file(rclpy_context, tmp_path, kind):
    """GPS + IMU + a terrain file with a 50 m plateau (a YAML and its grid, or a GeoTIFF in
    WGS84 longitude/latitude or in UTM): a detection at the image centre of a nadir camera is
    placed on the plateau, below the UAV."""
    import yaml
    from rclpy.parameter import Parameter

    from thermal_perception.core.fusion import GeoOrigin
    from thermal_perception.core.fusion.geolocation import enu_to_geodetic
    from thermal_perception.msg import ThermalDetection
    from thermal_perception.msg import ThermalDetectionArray as Detections
    from thermal_perception.nodes.fusion import FusionNode

    origin = GeoOrigin(47.0, 8.0, 500.0)
    np.save(tmp_path / "dem.npy", np.full((41, 41), 550.0))  # 50 m above the first fix's datum
    lat, lon, _ = enu_to_geodetic([-200.0, -200.0, 0.0], origin)
    (tmp_path / "terrain.yaml").write_text(yaml.safe_dump(
        {"heights": "dem.npy", "latitude_deg": float(lat), "longitude_deg": float(lon),
         "resolution_m": 10.0}))
    terrain = tmp_path / "terrain.yaml"
    if kind == "geotiff":  # 31 x 41 one-arc-second cells around the origin
        from test_terrain import DLAT, DLON, write_geotiff

        terrain = write_geotiff(tmp_path / "dem.tif", np.full((31, 41), 550.0),
                                origin.latitude_deg + 15.5 * DLAT,
                                origin.longitude_deg - 20.5 * DLON)
    if kind == "utm":  # 41 x 41 cells of 10 m of UTM zone 32N around the origin
        pyproj = pytest.importorskip("pyproj")
        from test_terrain import UTM32N, write_projected_geotiff

        x, y = pyproj.Transformer.from_crs(4326, UTM32N, always_xy=True).transform(
            origin.longitude_deg, origin.latitude_deg)
        terrain = write_projected_geotiff(tmp_path / "utm.tif", np.full((41, 41), 550.0),
                                          y + 205.0, x - 205.0, 10.0)
    ns = f"/terrain_{time.monotonic_ns() % 100000}"
    node = FusionNode(namespace=ns, parameter_overrides=[
        Parameter("terrain_file", value=str(terrain)),
        Parameter("lidar_enabled", value=False), Parameter("overlay_enabled", value=False)])
    probe, pubs, got, executor, spin_until = geolocation_probe(rclpy_context, node, ns)
    try:
        pubs["info"].publish(info(W, H))
        assert spin_until(lambda: node.thermal_camera is not None)
        for k in range(3):  # hovering 120 m above the origin, level, facing north
            fix, imu = hovering((k + 1) * 100_000_000, origin.latitude_deg,
                                origin.longitude_deg, origin.altitude_m + 120.0)
            pubs["fix"].publish(fix)
            pubs["imu"].publish(imu)
        assert spin_until(lambda: len(node.fixes) == 3 and len(node.attitudes) == 3)
        d = ThermalDetection(label="person", centroid_x=(W - 1) / 2, centroid_y=(H - 1) / 2,
                             x1=1, y1=1)
        pubs["det"].publish(stamped(Detections(detections=[d]), 200_000_000))
        assert spin_until(lambda: got)
        located = got[-1].detections[0]
        assert located.altitude_m == pytest.approx(550.0, abs=0.01)  # on the plateau
        assert located.latitude_deg == pytest.approx(origin.latitude_deg, abs=1e-7)
        assert located.longitude_deg == pytest.approx(origin.longitude_deg, abs=1e-7)
        assert 0 < located.horizontal_sigma_m < 10
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
