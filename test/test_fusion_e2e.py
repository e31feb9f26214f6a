"""The uav_sar pipeline end to end over DDS: simulated driver (thermal + RGB, lidar, GPS, IMU),
processor, detector and fusion. Checks the overlay, the temperature point cloud, the located
detections against the simulator's truth and the GeoJSON file written at shutdown."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import REPO, requires_ros
from test_detector_e2e import seed_with_people
from test_pipeline_e2e import spin_until

pytestmark = requires_ros

WIDTH, HEIGHT, ALTITUDE_M = 320, 256, 30.0


def run_fusion_pipeline(rclpy_context, config: str, namespace: str, overrides: dict,
                        log_dir, done) -> tuple[dict, list[str], bool]:
    """Start the nodes of ``config``, collect overlay, points_thermal and detections_located
    on a probe until ``done(got)`` or a timeout; returns what arrived, failures and success."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image, PointCloud2

    from thermal_perception.msg import LocatedDetectionArray
    from thermal_perception.ros.qos import reliable_qos, sensor_qos
    from thermal_perception.runner import Pipeline

    node = rclpy_context.create_node(f"{namespace}_probe", namespace=f"/{namespace}")
    got = {"overlay": [], "points": [], "located": []}
    node.create_subscription(Image, "overlay", got["overlay"].append, sensor_qos())
    node.create_subscription(PointCloud2, "points_thermal", got["points"].append, sensor_qos())
    node.create_subscription(LocatedDetectionArray, "detections_located", got["located"].append,
                             reliable_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    with Pipeline(REPO / "config" / config, namespace, overrides, log_dir=log_dir) as pipeline:
        ok = spin_until(executor, lambda: done(got), 90.0)
        failed = pipeline.failed()
    executor.shutdown()
    node.destroy_node()
    return got, failed, ok


@pytest.fixture(scope="module")
def fused(rclpy_context, tmp_path_factory):
    seed, _ = seed_with_people()
    out = tmp_path_factory.mktemp("fusion")
    overrides = {"driver": {"width": WIDTH, "height": HEIGHT, "rate_hz": 10.0, "seed": seed,
                            "speed_mps": 0.0, "altitude_m": ALTITUDE_M, "rgb_rate_hz": 5.0,
                            "lidar_rate_hz": 5.0},
                 "detector": {"altitude_m": ALTITUDE_M},
                 "fusion": {"overlay_depth_m": ALTITUDE_M,
                            "geojson_path": str(out / "detections.geojson"),
                            "kml_path": str(out / "detections.kml")}}

    def done(got) -> bool:
        people = any(np.isfinite(d.latitude_deg) for m in got["located"][-3:]
                     for d in m.detections if d.detection.label == "person")
        return len(got["overlay"]) >= 3 and len(got["points"]) >= 3 and people

    got, failed, ok = run_fusion_pipeline(rclpy_context, "uav_sar.yaml", "uav", overrides,
                                          tmp_path_factory.mktemp("logs"), done)
    if not ok:
        pytest.fail(f"fusion outputs missing ({ {k: len(v) for k, v in got.items()} }):\n"
                    + "\n".join(failed))
    return got, seed, out


def test_overlay_is_on_the_thermal_grid(fused):
    got, _, _ = fused
    image = got["overlay"][-1]
    assert image.encoding == "bgr8" and (image.width, image.height) == (WIDTH, HEIGHT)
    assert image.header.frame_id == "thermal_camera_optical_frame"
    pixels = np.frombuffer(bytes(image.data), np.uint8)
    assert pixels.std() > 5  # a picture, not a blank


def test_points_carry_temperatures_of_the_ground(fused):
    from thermal_perception.ros.pointcloud2 import cloud_to_array

    got, _, _ = fused
    msg = got["points"][-1]
    assert msg.header.frame_id == "lidar_link"
    cloud = cloud_to_array(msg)
    assert set(cloud.dtype.names) == {"x", "y", "z", "intensity", "temperature"}
    assert len(cloud) > 1000
    t = cloud["temperature"]
    assert np.isfinite(t).all()  # unseen points are dropped by default
    assert 0.0 < np.median(t) < 45.0  # a sunny rural scene at 15 C air
    # The lidar looks down from the camera's height: ranges near the altitude.
    ranges = np.sqrt(cloud["x"] ** 2 + cloud["y"] ** 2 + cloud["z"] ** 2)
    assert abs(np.median(ranges) - ALTITUDE_M) < 5.0


def test_people_are_geolocated_where_the_scene_has_them(fused):
    from thermal_perception.core.fusion import GeoOrigin
    from thermal_perception.core.fusion.geolocation import geodetic_to_enu
    from thermal_perception.core.physics.camera import get_profile
    from thermal_perception.sim.sensors import SIM_ORIGIN
    from thermal_perception.sim.simulator import ThermalSimulator

    got, seed, _ = fused
    sim = ThermalSimulator(get_profile("boson640").with_size(WIDTH, HEIGHT),
                           altitude_m=ALTITUDE_M, speed_mps=0.0, seed=seed)
    truth = np.array([(o["centre_m"][0], -o["centre_m"][1]) for o in sim.world.objects
                      if o["label"] == "person"])
    origin = GeoOrigin(*SIM_ORIGIN)
    errors = []
    for msg in got["located"][-3:]:
        for d in msg.detections:
            if d.detection.label != "person" or not math.isfinite(d.latitude_deg):
                continue
            enu = geodetic_to_enu(d.latitude_deg, d.longitude_deg, d.altitude_m, origin)
            errors.append(np.min(np.hypot(*(truth - np.asarray(enu)[:2]).T)))
            assert 0 < d.horizontal_sigma_m < 20
            assert abs(d.altitude_m - SIM_ORIGIN[2]) < 0.5  # on the ground
    assert errors and max(errors) < 2.0, errors


def test_geojson_and_kml_are_written_at_shutdown(fused):
    import xml.etree.ElementTree as ET

    import geojson

    _, _, out = fused
    text = (out / "detections.geojson").read_text()
    assert geojson.loads(text).is_valid  # RFC 7946 structure
    data = json.loads(text)
    assert data["type"] == "FeatureCollection" and data["features"]
    assert "crs" not in data
    lon, lat = data["features"][0]["geometry"]["coordinates"][:2]
    assert abs(lat - 47.3769) < 0.01 and abs(lon - 8.5417) < 0.01  # [lon, lat] order
    ET.parse(out / "detections.kml")


def test_vehicle_fusion_config_runs(rclpy_context, tmp_path):
    """config/vehicle_fusion.yaml (road scene, edge-transfer overlay, lidar, no geolocation)."""
    got, failed, ok = run_fusion_pipeline(
        rclpy_context, "vehicle_fusion.yaml", "car",
        {"driver": {"width": 320, "height": 256, "rate_hz": 10.0}}, tmp_path,
        lambda got: len(got["overlay"]) >= 2 and len(got["points"]) >= 2
        and len(got["located"]) >= 2)
    assert ok, f"{ {k: len(v) for k, v in got.items()} }\n" + "\n".join(failed)
    # no geolocation on the vehicle: latitude stays NaN
    assert all(math.isnan(d.latitude_deg) for m in got["located"] for d in m.detections)
