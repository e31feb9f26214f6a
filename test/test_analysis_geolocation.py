"""Offline analysis places detections on the ground when the bag has GPS, IMU and camera_info
(and at the platform's fix without an IMU); the IMU/GPS interpolation it uses."""

from __future__ import annotations

import csv
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from thermal_perception.analysis import AnalysisOptions, analyze_bag
from thermal_perception.analysis.outputs import GpsTrack, ImuTrack
from thermal_perception.core.fusion import GeoOrigin
from thermal_perception.core.fusion.geolocation import geodetic_to_enu
from thermal_perception.core.fusion.geometry import RigidTransform
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.io import messages
from thermal_perception.io.bag import BagWriter
from thermal_perception.sim.record import START_NS
from thermal_perception.sim.simulator import ThermalSimulator

WIDTH, HEIGHT, FRAMES, RATE_HZ = 160, 128, 12, 30.0
FRAME_ID = "thermal_camera_optical_frame"
LAT0, LON0, ALT0 = 47.3769, 8.5417, 500.0  # GPS track start: deg, deg, ellipsoid m
DEG_PER_FRAME = 1e-6
HEIGHT_AGL = 100.0  # the tests' ground is ALT0 - HEIGHT_AGL
FACING_NORTH = Rotation.from_euler("z", 90, degrees=True).as_quat()  # REP 103 yaw +90 deg
KML = "{http://www.opengis.net/kml/2.2}"


def write_flight(path: Path, imu: bool = True,
                 tf_static: list[tuple[str, str, RigidTransform]] | None = None,
                 tf: list[tuple[str, str, RigidTransform, int]] | None = None) -> Path:
    """A simulated uav_sar bag (as test_analysis's) with camera_info, a NavSatFix track and,
    optionally, a level IMU facing north (the GPS and IMU at every frame's stamp) and one
    /tf_static message of (parent, child, T_parent_child) and /tf messages of (parent, child,
    T_parent_child, stamp ns)."""
    profile = get_profile("boson640").with_size(WIDTH, HEIGHT)
    sim = ThermalSimulator(profile, "uav_sar", seed=0)
    with BagWriter(path, storage="sqlite3") as bag:
        store = bag.typestore
        types = store.types
        bag.add_topic("/thermal/image_raw", "sensor_msgs/msg/Image")
        bag.add_topic("/thermal/camera_info", "sensor_msgs/msg/CameraInfo")
        bag.add_topic("/gps/fix", "sensor_msgs/msg/NavSatFix")
        if imu:
            bag.add_topic("/imu/data", "sensor_msgs/msg/Imu")
        def edge(parent, child, t, stamp):
            (x, y, z), (qx, qy, qz, qw) = t.translation, t.quaternion
            return types["geometry_msgs/msg/TransformStamped"](
                header=messages.header(store, stamp, parent), child_frame_id=child,
                transform=types["geometry_msgs/msg/Transform"](
                    translation=types["geometry_msgs/msg/Vector3"](x=x, y=y, z=z),
                    rotation=types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw)))

        if tf_static is not None:
            bag.add_topic("/tf_static", "tf2_msgs/msg/TFMessage")
            bag.write_message("/tf_static", START_NS, types["tf2_msgs/msg/TFMessage"](
                transforms=[edge(*e, START_NS) for e in tf_static]))
        if tf is not None:
            bag.add_topic("/tf", "tf2_msgs/msg/TFMessage")
            for parent, child, t, stamp in tf:
                bag.write_message("/tf", stamp, types["tf2_msgs/msg/TFMessage"](
                    transforms=[edge(parent, child, t, stamp)]))
        for i in range(FRAMES):
            stamp = START_NS + round(i / RATE_HZ * messages.NS_PER_S)
            bag.write_message("/thermal/image_raw", stamp, messages.image(
                store, sim.counts(i / RATE_HZ), "mono16", stamp, FRAME_ID))
            bag.write_message("/thermal/camera_info", stamp,
                              messages.camera_info(store, profile, stamp, FRAME_ID))
            bag.write_message("/gps/fix", stamp, types["sensor_msgs/msg/NavSatFix"](
                header=messages.header(store, stamp, "gps"),
                status=types["sensor_msgs/msg/NavSatStatus"](status=0, service=1),
                latitude=LAT0 + i * DEG_PER_FRAME, longitude=LON0 + i * DEG_PER_FRAME,
                altitude=ALT0, position_covariance=np.zeros(9), position_covariance_type=0))
            if imu:
                x, y, z, w = FACING_NORTH
                vector = types["geometry_msgs/msg/Vector3"]
                bag.write_message("/imu/data", stamp, types["sensor_msgs/msg/Imu"](
                    header=messages.header(store, stamp, "base_link"),
                    orientation=types["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w),
                    orientation_covariance=np.zeros(9),
                    angular_velocity=vector(x=0.0, y=0.0, z=0.0),
                    angular_velocity_covariance=np.zeros(9),
                    linear_acceleration=vector(x=0.0, y=0.0, z=9.81),
                    linear_acceleration_covariance=np.zeros(9)))
    return path


def analyse(bag: Path, out: Path, **options) -> tuple:
    result = analyze_bag(bag, AnalysisOptions(
        out=out, detector="test_analysis:hot_blobs", progress=False, video=False, bag=False,
        report=False, **options))
    folder = Path(result.out_dir)
    geo = json.loads((folder / "detections.geojson").read_text())
    points = [f for f in geo["features"] if f["geometry"]["type"] == "Point"]
    with open(folder / "detections.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return result, points, rows


def test_detections_are_placed_on_the_ground(tmp_path):
    bag = write_flight(tmp_path / "flight")
    result, points, rows = analyse(bag, tmp_path / "out", ground_altitude_m=ALT0 - HEIGHT_AGL)
    assert result.status == "ok", result.errors
    assert result.imu_topic == "/imu/data"
    assert result.detections > 0 and result.geolocated == result.detections
    assert len(points) == len(rows) == result.detections
    # Expected by hand: level nadir camera facing north, 100 m above the ground: image top =
    # north, image right = east; offset = (pixel - principal point) * 100 m / f.
    f = get_profile("boson640").with_size(WIDTH, HEIGHT).focal_length_px
    cx, cy = (WIDTH - 1) / 2, (HEIGHT - 1) / 2
    for point, row in zip(points, rows, strict=True):
        assert point["properties"]["position_source"] == "ground_geolocation"
        u, v = float(row["centroid_x"]), float(row["centroid_y"])
        frame = int(row["frame"])
        platform = GeoOrigin(LAT0 + frame * DEG_PER_FRAME, LON0 + frame * DEG_PER_FRAME,
                             ALT0 - HEIGHT_AGL)
        lon, lat, alt = point["geometry"]["coordinates"]
        offset = geodetic_to_enu(lat, lon, alt, platform)
        expected = [(u - cx) * HEIGHT_AGL / f, (cy - v) * HEIGHT_AGL / f, 0.0]
        np.testing.assert_allclose(offset, expected, atol=0.01)
        assert float(row["ground_latitude"]) == pytest.approx(lat)
        assert float(row["latitude"]) == pytest.approx(platform.latitude_deg)  # platform kept
        # sigma: at least the GNSS 1.5 m per axis, at most a few metres at 100 m
        sigma = point["properties"]["sigma_m"]
        assert 1.5 <= sigma < 6.0 and float(row["ground_sigma_m"]) == pytest.approx(sigma)
    kml = ET.parse(Path(result.out_dir) / "detections.kml").getroot()
    first = kml.find(f".//{KML}Placemark/{KML}Point/{KML}coordinates").text.split(",")
    assert [float(c) for c in first[:2]] == pytest.approx(points[0]["geometry"]["coordinates"][:2])


def test_without_imu_or_above_ground_detections_stay_at_the_platform(tmp_path):
    # no IMU: the existing behaviour, platform positions
    _, points, rows = analyse(write_flight(tmp_path / "no_imu", imu=False), tmp_path / "a")
    assert points and all(p["properties"]["position_source"] == "platform_gps" for p in points)
    assert all(row["ground_latitude"] == "" for row in rows)
    # IMU, but the default ground is the first fix (the flight starts on the ground) and the
    # GPS altitude never changes: the camera is on the ground, nothing can be placed
    result, points, _ = analyse(write_flight(tmp_path / "flat"), tmp_path / "b")
    assert result.geolocated == 0
    assert all(p["properties"]["position_source"] == "platform_gps" for p in points)
    assert any("--ground-altitude" in w for w in result.warnings)
    # --takeoff-height says the first fix was 100 m above the ground
    result, points, _ = analyse(tmp_path / "flat", tmp_path / "c", takeoff_height_m=HEIGHT_AGL)
    assert result.geolocated == result.detections > 0
    bad = analyze_bag(tmp_path / "flat", AnalysisOptions(
        out=tmp_path / "d", detector="test_analysis:hot_blobs", progress=False, video=False,
        bag=False, report=False, camera_mount=(0.0, 1.0)))
    assert bad.status == "failed" and "camera_mount needs 6" in bad.errors[0]


def test_imu_and_gps_interpolation():
    imu = ImuTrack()
    imu.add(0, Rotation.from_euler("z", 0, degrees=True).as_quat())
    imu.add(1_000_000_000, Rotation.from_euler("z", 90, degrees=True).as_quat())
    imu.add(2_000_000_000, (0.0, 0.0, 0.0, 0.0))  # invalid: ignored
    q = imu.at(np.array([500_000_000, 1_200_000_000, 2_000_000_000], np.int64))
    yaw = Rotation.from_quat(q[:2]).as_euler("xyz", degrees=True)[:, 2]
    np.testing.assert_allclose(yaw, [45.0, 90.0], atol=1e-9)
    assert np.isnan(q[2]).all()  # 1 s from the last sample
    gps = GpsTrack()
    gps.add(0, 47.0, 8.0, 500.0)
    gps.add(1_000_000_000, 47.001, 8.002, 510.0)
    at = gps.interpolated(np.array([250_000_000, 5_000_000_000], np.int64))
    np.testing.assert_allclose(at[0], [47.00025, 8.0005, 502.5])
    assert np.isnan(at[1]).all()
    assert math.isnan(GpsTrack().interpolated(np.array([0], np.int64))[0, 0])


#: A camera on a gimbal, tilted 0.3 rad from nadir and 10 cm ahead of the IMU (x y z r p y).
TILTED_MOUNT = (0.1, 0.0, -0.05, math.pi, 0.3, -math.pi / 2)


def test_camera_mount_comes_from_the_bags_tf_static(tmp_path):
    """base_link -> gimbal -> camera in /tf_static places the detections as the same pose
    given as the camera_mount option does; transforms that do not reach the camera's frame
    leave the default (nadir) mount, with a warning."""
    mount = RigidTransform.from_rpy(*TILTED_MOUNT[3:], TILTED_MOUNT[:3])
    gimbal = RigidTransform.from_rpy(0.0, 0.0, 0.2, [0.1, 0.0, -0.02])  # T_base_gimbal
    tree = [("base_link", "gimbal"), ("gimbal", FRAME_ID)]
    bag = write_flight(tmp_path / "gimbal", tf_static=[
        (*tree[0], gimbal), (*tree[1], gimbal.inverse() @ mount),
        ("base_link", "lidar", RigidTransform.identity())])  # a sibling, not on the path
    ground = ALT0 - HEIGHT_AGL
    from_tf, tf_points, _ = analyse(bag, tmp_path / "a", ground_altitude_m=ground)
    assert from_tf.status == "ok", from_tf.errors
    assert from_tf.camera_mount == f"/tf_static: {FRAME_ID!r} in 'base_link'"
    given, given_points, _ = analyse(bag, tmp_path / "b", ground_altitude_m=ground,
                                     camera_mount=TILTED_MOUNT)
    assert given.camera_mount == "option"
    assert from_tf.geolocated == given.geolocated == from_tf.detections > 0
    for a, b in zip(tf_points, given_points, strict=True):
        assert a["geometry"]["coordinates"] == pytest.approx(b["geometry"]["coordinates"],
                                                             abs=1e-9)
    # the tilt matters: the nadir mount puts them elsewhere
    _, nadir_points, _ = analyse(write_flight(tmp_path / "nadir"), tmp_path / "c",
                                 ground_altitude_m=ground)
    assert tf_points[0]["geometry"]["coordinates"] != pytest.approx(
        nadir_points[0]["geometry"]["coordinates"], abs=1e-6)
    # a tree without the camera's frame: the default mount, and the report says why
    lone = write_flight(tmp_path / "lone", tf_static=[("base_link", "lidar", gimbal)])
    result, points, _ = analyse(lone, tmp_path / "d", ground_altitude_m=ground)
    assert result.camera_mount.startswith("default")
    assert any("no transform connects" in w and FRAME_ID in w for w in result.warnings)
    for a, b in zip(points, nadir_points, strict=True):
        assert a["geometry"]["coordinates"] == pytest.approx(b["geometry"]["coordinates"],
                                                             abs=1e-9)


def test_a_moving_mount_comes_from_the_bags_tf_at_each_frame(tmp_path):
    """A gimbal on /tf (samples every 50 ms across the flight): each frame's mount is looked
    up at its stamp (here a gimbal holding still: the same places as the option); /tf samples
    far from the frames leave their detections unplaced, said in a warning."""
    mount = RigidTransform.from_rpy(*TILTED_MOUNT[3:], TILTED_MOUNT[:3])
    gimbal = RigidTransform.from_rpy(0.0, 0.0, 0.2, [0.1, 0.0, -0.02])
    stamps = [START_NS + k * 50_000_000 for k in range(-2, 12)]  # the flight is 0.4 s
    ground = ALT0 - HEIGHT_AGL
    bag = write_flight(tmp_path / "tf", tf_static=[("gimbal", FRAME_ID,
                                                    gimbal.inverse() @ mount)],
                       tf=[("base_link", "gimbal", gimbal, t) for t in stamps])
    result, points, _ = analyse(bag, tmp_path / "a", ground_altitude_m=ground)
    assert result.camera_mount == (f"/tf and /tf_static: {FRAME_ID!r} in 'base_link', at "
                                   "each frame's stamp")
    _, given, _ = analyse(bag, tmp_path / "b", ground_altitude_m=ground,
                          camera_mount=TILTED_MOUNT)
    assert result.geolocated == result.detections > 0
    for a, b in zip(points, given, strict=True):
        assert a["geometry"]["coordinates"] == pytest.approx(b["geometry"]["coordinates"],
                                                             abs=1e-9)
    later = write_flight(tmp_path / "late", tf_static=[("gimbal", FRAME_ID,
                                                        gimbal.inverse() @ mount)],
                         tf=[("base_link", "gimbal", gimbal, START_NS + 60 * 10**9)])
    result, points, _ = analyse(later, tmp_path / "c", ground_altitude_m=ground)
    assert result.geolocated == 0 and result.detections > 0
    assert any("no camera mount in the bag's /tf near their stamp" in w
               for w in result.warnings)
