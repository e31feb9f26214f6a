"""Fusion node parameters and the core objects built from them (pure Python)."""

from __future__ import annotations

import math
from typing import Any

from thermal_perception.core.display.render import COLORMAPS
from thermal_perception.core.fusion.cot import parse_address
from thermal_perception.core.fusion.geolocation import PoseNoise
from thermal_perception.core.fusion.geometry import RigidTransform
from thermal_perception.core.fusion.pointcloud import OcclusionSettings
from thermal_perception.core.fusion.registration import OVERLAY_MODES
from thermal_perception.core.fusion.terrain import TerrainFile, load_terrain
from thermal_perception.ros.params import ParamSpec
from thermal_perception.settings import RELIABILITY_CHOICES

HALF_PI = math.pi / 2
#: Lidar looking along the thermal camera's optical axis, at the camera (x y z roll pitch yaw).
LIDAR_ALONG_OPTICAL_AXIS = [0.0, 0.0, 0.0, HALF_PI, -HALF_PI, 0.0]
#: Thermal camera under a UAV looking straight down, image top towards the nose.
NADIR_CAMERA_MOUNT = [0.0, 0.0, 0.0, math.pi, 0.0, -HALF_PI]
IDENTITY_POSE = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]

EXTRINSICS_SOURCES = ("parameters", "tf")

_POSE_HELP = "[x, y, z, roll, pitch, yaw] in m and rad (fixed axes, as tf2 and URDF)"

PARAMS = (
    ParamSpec("overlay_enabled", True, "Publish 'overlay': RGB registered onto the thermal "
              "image (needs rgb/image_raw and rgb/camera_info)."),
    ParamSpec("overlay_mode", "blend", "blend: alpha mix; edges: thermal colours with the RGB "
              "image's outlines.", choices=OVERLAY_MODES),
    ParamSpec("overlay_alpha", 0.5, "Weight of the thermal image in 'blend'.", 0.0, 1.0),
    ParamSpec("overlay_depth_m", 10.0, "Distance of the scene plane used to register RGB onto "
              "thermal, m (the altitude above ground for a nadir UAV camera).", 0.1, 100000.0),
    ParamSpec("extrinsics_source", "parameters", "Where the sensors' poses come from. "
              "parameters: rgb_extrinsics(_file), lidar_extrinsics(_file) and camera_mount; "
              "tf: the robot's transform tree through tf2_ros (a ROS 2 install's), between "
              "the frames in the messages' headers: the RGB image's and the lidar cloud's "
              "frames in the thermal image's (latest), the thermal frame in imu/data's frame "
              "(or base_frame) at each detection's stamp (gimbals); outputs wait, and "
              "diagnostics say which "
              "transform is missing, until tf has it.", choices=EXTRINSICS_SOURCES,
              read_only=True),
    ParamSpec("base_frame", "base_link", "With extrinsics_source tf: the frame whose attitude "
              "imu/data gives when its messages name none (REP 145: the IMU message's "
              "frame_id, else this); the thermal camera's pose is looked up in it."),
    ParamSpec("rgb_extrinsics", list(IDENTITY_POSE),
              f"Pose of the RGB optical frame in the thermal optical frame, {_POSE_HELP}."),
    ParamSpec("rgb_extrinsics_file", "", "Extrinsics YAML of `thermal-perception calibrate "
              "extrinsics` (T_thermal_rgb); replaces rgb_extrinsics when set."),
    ParamSpec("overlay_jpeg_quality", 80, "JPEG quality of overlay/compressed "
              "(sensor_msgs/CompressedImage, as image_transport's compressed plugin; encoded "
              "only while subscribed).", 1, 100),
    ParamSpec("colormap", "ironbow", "Colours of the thermal image in the overlay.",
              choices=COLORMAPS),
    ParamSpec("lidar_enabled", True, "Publish 'points_thermal' from lidar/points."),
    ParamSpec("lidar_extrinsics", list(LIDAR_ALONG_OPTICAL_AXIS),
              f"Pose of the lidar frame in the thermal optical frame, {_POSE_HELP}."),
    ParamSpec("lidar_extrinsics_file", "", "Extrinsics YAML (TransformStamped layout: parent "
              "= thermal optical frame, child = lidar frame); replaces lidar_extrinsics."),
    ParamSpec("keep_unseen_points", False, "Keep lidar points the camera does not see "
              "(temperature NaN) in points_thermal."),
    ParamSpec("occlusion_window_px", 5, "Z-buffer window for hidden lidar points, pixels (odd).",
              1, 51),
    ParamSpec("occlusion_tolerance_m", 0.3, "Depth margin before a lidar point counts as "
              "hidden behind a nearer one, m.", 0.0, 100.0),
    ParamSpec("geolocation_enabled", True, "Geolocate detections from gps/fix and imu/data."),
    ParamSpec("camera_mount", list(NADIR_CAMERA_MOUNT),
              f"Pose of the thermal optical frame in base_link, {_POSE_HELP}."),
    ParamSpec("ground_altitude_m", 0.0, "Height of flat ground, m above the WGS84 ellipsoid "
              "(the GPS altitude datum).", -500.0, 9000.0),
    ParamSpec("terrain_file", "", "Terrain YAML with a height grid, or a GeoTIFF DEM in WGS84 "
              "or a projection with an EPSG code such as UTM (see "
              "thermal_perception/core/fusion/terrain.py): geolocate on it instead of flat "
              "ground."),
    ParamSpec("ground_from_first_fix", False, "Take the ground height from the first GPS fix "
              "(the vehicle starts on the ground)."),
    ParamSpec("gps_sigma_m", 1.5, "GPS horizontal 1-sigma, m (when the fix has no covariance).",
              0.0, 1000.0),
    ParamSpec("gps_vertical_sigma_m", 3.0, "GPS vertical 1-sigma, m.", 0.0, 1000.0),
    ParamSpec("attitude_sigma_deg", 0.5, "Roll/pitch 1-sigma, deg.", 0.0, 45.0),
    ParamSpec("yaw_sigma_deg", 2.0, "Yaw 1-sigma, deg.", 0.0, 180.0),
    ParamSpec("geojson_path", "", "Write located detections as GeoJSON here ('' = no file)."),
    ParamSpec("kml_path", "", "Write located detections as KML here ('' = no file)."),
    ParamSpec("geo_write_interval_s", 5.0, "Rewrite the GeoJSON/KML files this often, s.",
              0.1, 3600.0),
    ParamSpec("cot_address", "", "Send located detections as Cursor on Target events (UDP) "
              "to host:port, for TAK clients (ATAK listens on 239.2.3.1:6969, a multicast "
              "group); '' = off.", read_only=True),
    ParamSpec("cot_type", "a-u-G", "CoT type of the markers (a-u-G: unknown, ground)."),
    ParamSpec("cot_stale_s", 60.0, "A marker goes stale this long after it is sent (by the "
              "wall clock; its start is the detection's stamp, which may be older in a "
              "replay), s.", 1.0, 86400.0),
    ParamSpec("cot_min_interval_s", 1.0, "At most one event per tracked object this often, "
              "s.", 0.0, 3600.0),
    ParamSpec("cot_ttl", 1, "Multicast time-to-live of the CoT packets (hops).", 1, 255,
              read_only=True),
    ParamSpec("sync_slop_s", 0.05, "Largest stamp difference of matched thermal, RGB and "
              "lidar messages, s.", 0.0, 10.0),
    ParamSpec("sync_queue_size", 10, "Messages per stream waiting for a match.", 1, 1000),
    ParamSpec("pose_max_gap_s", 0.5, "Largest gap of GPS/IMU messages around a detection to "
              "interpolate its pose, s.", 0.01, 60.0),
    ParamSpec("image_reliability", "reliable", "QoS reliability of the image topics.",
              choices=RELIABILITY_CHOICES, read_only=True),
)


def pose_from(values: list[float], name: str) -> RigidTransform:
    """A transform from [x, y, z, roll, pitch, yaw]; ValueError naming the parameter."""
    if len(values) != 6 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} needs 6 finite values [x, y, z, roll, pitch, yaw], "
                         f"got {list(values)}")
    return RigidTransform.from_rpy(values[3], values[4], values[5], values[:3])


def extrinsics_from(values: dict[str, Any], name: str) -> RigidTransform:
    """``rgb`` or ``lidar`` extrinsics: from the ``<name>_extrinsics_file`` when set (a YAML
    of :func:`~thermal_perception.core.fusion.lens_calibration.write_extrinsics`), else from the
    ``<name>_extrinsics`` pose list. ValueError says what is wrong."""
    path = values[f"{name}_extrinsics_file"]
    if path:
        from thermal_perception.core.fusion.lens_files import read_extrinsics

        try:
            transform, _, _ = read_extrinsics(path)
        except OSError as exc:
            raise ValueError(f"{name}_extrinsics_file {path!r}: {exc}") from exc
        return transform
    return pose_from(values[f"{name}_extrinsics"], f"{name}_extrinsics")


def check_combination(values: dict[str, Any]) -> str | None:
    for name in ("rgb_extrinsics", "lidar_extrinsics", "camera_mount"):
        try:
            pose_from(values[name], name)
        except ValueError as exc:
            return str(exc)
    for name in ("rgb", "lidar"):
        try:
            extrinsics_from(values, name)
        except ValueError as exc:
            return str(exc)
    try:
        terrain_from(values)
    except ValueError as exc:
        return str(exc)
    if values["occlusion_window_px"] % 2 == 0:
        return "occlusion_window_px must be odd"
    if values["cot_address"].strip():
        try:
            parse_address(values["cot_address"])
        except ValueError as exc:
            return f"cot_address: {exc}"
    if not values["cot_type"].strip():
        return "cot_type must not be empty (a-u-G: unknown, ground)"
    if not values["base_frame"].strip():
        return "base_frame must name a frame (REP 105: base_link)"
    return None


def terrain_from(values: dict[str, Any]) -> TerrainFile | None:
    """The terrain file of ``terrain_file`` (None when not set); ValueError says why not."""
    path = values["terrain_file"]
    if not path:
        return None
    try:
        return load_terrain(path)
    except OSError as exc:
        raise ValueError(f"terrain_file {path!r}: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"terrain_file: {exc}") from exc


def occlusion_from(values: dict[str, Any]) -> OcclusionSettings:
    return OcclusionSettings(window_px=values["occlusion_window_px"],
                             tolerance_m=values["occlusion_tolerance_m"])


def noise_from(values: dict[str, Any]) -> PoseNoise:
    return PoseNoise(horizontal_m=values["gps_sigma_m"], vertical_m=values["gps_vertical_sigma_m"],
                     roll_pitch_deg=values["attitude_sigma_deg"], yaw_deg=values["yaw_sigma_deg"])
