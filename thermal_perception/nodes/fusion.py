"""Fusion node: thermal with RGB, lidar and pose.

Subscribes (relative names, remap them to the robot's topics):
``image_temperature`` (32FC1, deg C) and ``camera_info`` of the thermal camera, ``detections``
(thermal_perception/ThermalDetectionArray), ``rgb/image_raw`` (bgr8/rgb8/mono8) and
``rgb/camera_info``, ``lidar/points`` (sensor_msgs/PointCloud2), ``gps/fix``
(sensor_msgs/NavSatFix) and ``imu/data`` (sensor_msgs/Imu, orientation of base_link in ENU).

Publishes:
``overlay`` (bgr8 on the thermal pixel grid, thermal header), ``points_thermal`` (PointCloud2 in
the lidar frame with x, y, z, intensity, temperature), ``detections_located``
(thermal_perception/LocatedDetectionArray: 3D position from lidar, latitude/longitude with a
1-sigma from GPS, attitude and flat ground) and, when paths are set, GeoJSON and KML files of
the located detections, rewritten during the mission and at shutdown.

Thermal/RGB and thermal/lidar pairs are matched with approximate-time semantics
(:mod:`thermal_perception.core.fusion.sync`, the behaviour of message_filters); GPS and attitude are
interpolated at the detection's stamp. All geometry lives in the core modules.

The sensors' poses come from parameters or, with ``extrinsics_source: tf``, from the robot's
transform tree (:mod:`thermal_perception.ros.tf_extrinsics`, tf2_ros of a ROS 2 install).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, Imu, NavSatFix, NavSatStatus, PointCloud2

from thermal_perception.core.display.render import DisplayRenderer
from thermal_perception.core.fusion import GeoOrigin
from thermal_perception.core.fusion.cot import CotPoint, CotThrottle, cot_event
from thermal_perception.core.fusion.geolocation import (
    FlatTerrain,
    TerrainGrid,
    camera_pose_enu,
    geodetic_to_enu,
    locate_geodetic,
)
from thermal_perception.core.fusion.geolocation_log import GeoDetectionLog
from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform
from thermal_perception.core.fusion.pointcloud import LidarProjector, box_position, thermal_points
from thermal_perception.core.fusion.registration import Registration, ScenePlane, overlay
from thermal_perception.core.fusion.sync import (
    ApproximateTimeSync,
    StampBuffer,
    interpolate_quaternions,
    interpolate_vectors,
)
from thermal_perception.core.fusion.terrain import terrain_grid
from thermal_perception.io.cot_udp import CotSender
from thermal_perception.io.image_encoding import (
    ImageConversionError,
    array_to_image,
    image_to_array,
)
from thermal_perception.io.messages import header_ns
from thermal_perception.msg import LocatedDetection, LocatedDetectionArray, ThermalDetectionArray
from thermal_perception.ros import diagnostics, intra_process
from thermal_perception.ros.compressed import CompressedPublisher
from thermal_perception.ros.params import ParameterSet
from thermal_perception.ros.pointcloud2 import PointCloudError, array_to_cloud, cloud_xyz
from thermal_perception.ros.qos import reliable_qos, sensor_qos
from thermal_perception.ros.stream_health import TIME_RESET, StreamHealth
from thermal_perception.ros.tf_extrinsics import (
    Tf2Lookup,
    TransformLookup,
    TransformUnavailable,
)
from thermal_perception.settings.fusion import (
    PARAMS,
    check_combination,
    extrinsics_from,
    noise_from,
    occlusion_from,
    pose_from,
    terrain_from,
)

RGB_ENCODINGS = ("bgr8", "rgb8", "mono8")
WARM_MARGIN_K = 2.0  # lidar points of an object: at least its mean temperature minus this
COVARIANCE_SAMPLES = 64


def guarded(callback: Callable[..., None]) -> Callable[..., None]:
    """A subscription callback that reports a failure instead of ending the node."""
    @functools.wraps(callback)
    def run(self: FusionNode, *args: Any) -> None:
        try:
            callback(self, *args)
        except Exception as exc:  # bad input must not stop the node
            self._problem(f"{callback.__name__.lstrip('_')} failed: "
                          f"{type(exc).__name__}: {exc}")
    return run


def camera_model(msg: CameraInfo) -> CameraModel:
    return CameraModel.from_camera_info(msg.width, msg.height, list(msg.k), list(msg.d),
                                        msg.distortion_model)


def _same_pose(pose: RigidTransform, current: RigidTransform | None) -> bool:
    return current is not None and np.array_equal(pose.matrix, current.matrix)


class FusionNode(Node):
    """Aligns thermal with RGB, lidar and pose."""

    def __init__(self, tf_lookup: TransformLookup | None = None, **node_args: Any) -> None:
        """``tf_lookup``: where ``extrinsics_source: tf`` looks transforms up (default: a
        tf2_ros buffer and listener on this node; ValueError when tf2_ros is missing)."""
        super().__init__("fusion", **node_args)
        self.params = ParameterSet(self, PARAMS, validator=check_combination,
                                   on_change=self._on_change)
        p = self.params
        self.tf: TransformLookup | None = None
        if p["extrinsics_source"] == "tf":
            try:
                self.tf = tf_lookup if tf_lookup is not None else Tf2Lookup(self)
            except ValueError:
                super().destroy_node()  # half-built: leave nothing for the context to reap
                raise
        # the transforms the registration and the projector were built with (tf source)
        self._rgb_pose: RigidTransform | None = None
        self.imu_frame = ""  # frame_id of imu/data (its orientation's frame)
        self._lidar_pose: RigidTransform | None = None
        qos = sensor_qos(p["image_reliability"])
        self.overlay_pub = self.create_publisher(Image, "overlay", qos)
        self.overlay_jpeg = CompressedPublisher(self, "overlay", qos)
        self.points_pub = self.create_publisher(PointCloud2, "points_thermal", qos)
        self.located_pub = self.create_publisher(LocatedDetectionArray, "detections_located",
                                                 reliable_qos())
        intra_process.subscription(self, Image, "image_temperature", self._on_temperature, qos)
        intra_process.subscription(self, CameraInfo, "camera_info", self._on_thermal_info,
                                   reliable_qos())
        intra_process.subscription(self, ThermalDetectionArray, "detections", self._on_detections,
                                   reliable_qos())
        self.create_subscription(Image, "rgb/image_raw", self._on_rgb, qos)
        self.create_subscription(CameraInfo, "rgb/camera_info", self._on_rgb_info, reliable_qos())
        self.create_subscription(PointCloud2, "lidar/points", self._on_cloud, qos)
        self.create_subscription(NavSatFix, "gps/fix", self._on_fix, qos)
        self.create_subscription(Imu, "imu/data", self._on_imu, qos)
        self.thermal_camera: CameraModel | None = None
        self.rgb_camera: CameraModel | None = None
        self.registration: Registration | None = None
        self.projector: LidarProjector | None = None
        self.renderer = DisplayRenderer(agc="percentile", colormap=p["colormap"], smoothing=0.8)
        self.overlay_msg, self.cloud_msg = Image(), PointCloud2()
        self.projections = StampBuffer(capacity=30)
        self.fixes = StampBuffer(capacity=500)
        self.attitudes = StampBuffer(capacity=2000)
        self.origin: GeoOrigin | None = None
        self.ground_altitude_m: float | None = None
        self.terrain_file = terrain_from(p.values)
        self.terrain: TerrainGrid | None = None  # the terrain file in the mission's ENU frame
        self._make_syncs(p.values)
        self.geo_log = self._make_log(p.values)
        self.cot: CotSender | None = None
        if p["cot_address"].strip():
            try:
                self.cot = CotSender(p["cot_address"], p["cot_ttl"])
            except ValueError:
                super().destroy_node()
                raise
        self.cot_throttle = CotThrottle(p["cot_min_interval_s"])
        # markers' uids: thermal_perception.<namespace or node name>.<label>.<track>
        self.cot_uid = "thermal_perception." + (
            self.get_namespace().strip("/").replace("/", ".") or self.get_name())
        self.inputs = {name: StreamHealth() for name in (
            "image_temperature", "detections", "rgb/image_raw", "lidar/points", "gps/fix",
            "imu/data")}
        self.counts = {"temperature_images": 0, "overlays": 0, "clouds": 0,
                       "detection_sets": 0, "located": 0, "geolocated": 0, "rejected": 0,
                       "tf_waits": 0, "cot_events": 0}
        self.last_problem = ""
        self.processing_ms: dict[str, float] = {}
        self.diagnostics = diagnostics.DiagnosticsPublisher(self, self._diagnostics)

    # -- configuration --------------------------------------------------------------------

    def _make_syncs(self, values: dict[str, Any]) -> None:
        q, slop = values["sync_queue_size"], values["sync_slop_s"]
        self.rgb_sync = ApproximateTimeSync(2, q, slop, self._on_thermal_rgb)
        self.lidar_sync = ApproximateTimeSync(2, q, slop, self._on_thermal_cloud)

    @staticmethod
    def _make_log(values: dict[str, Any]) -> GeoDetectionLog | None:
        if not (values["geojson_path"] or values["kml_path"]):
            return None
        return GeoDetectionLog(values["geojson_path"] or None, values["kml_path"] or None,
                               write_interval_s=values["geo_write_interval_s"])

    def _on_change(self, values: dict[str, Any]) -> None:
        if not hasattr(self, "counts"):
            return
        changed = {n for n in values if values[n] != self.params[n]}
        if changed & {"sync_queue_size", "sync_slop_s"}:
            self._make_syncs(values)
        if changed & {"overlay_depth_m", "rgb_extrinsics", "rgb_extrinsics_file"}:
            self.registration = None
        if changed & {"lidar_extrinsics", "lidar_extrinsics_file", "occlusion_window_px",
                      "occlusion_tolerance_m"}:
            self.projector = None
        if "colormap" in changed:
            self.renderer = DisplayRenderer(agc="percentile", colormap=values["colormap"],
                                            smoothing=0.8)
        if changed & {"geojson_path", "kml_path", "geo_write_interval_s"}:
            if self.geo_log is not None:
                self.geo_log.write()
            self.geo_log = self._make_log(values)
        if "cot_min_interval_s" in changed:
            self.cot_throttle = CotThrottle(values["cot_min_interval_s"])
        if changed & {"ground_altitude_m", "ground_from_first_fix"}:
            self.ground_altitude_m = None
        if "terrain_file" in changed:
            self.terrain_file, self.terrain = terrain_from(values), None

    def _problem(self, text: str) -> None:
        self.counts["rejected"] += 1
        self.last_problem = text
        self.get_logger().warning(text, throttle_duration_sec=5.0)

    def _timed(self, name: str, start: float) -> None:
        ms = (time.perf_counter() - start) * 1e3
        old = self.processing_ms.get(name)
        self.processing_ms[name] = ms if old is None else 0.9 * old + 0.1 * ms

    # -- inputs ---------------------------------------------------------------------------

    @guarded
    def _on_thermal_info(self, msg: CameraInfo) -> None:
        model = camera_model(msg)  # an invalid one is reported by @guarded
        if model != self.thermal_camera:
            self.thermal_camera = model
            self.registration = self.projector = None

    @guarded
    def _on_rgb_info(self, msg: CameraInfo) -> None:
        model = camera_model(msg)
        if model != self.rgb_camera:
            self.rgb_camera = model
            self.registration = None

    def _restart_time(self) -> None:
        """The thermal stream's time went back (a looping bag, a reset sim clock): forget
        what was buffered on the old time line."""
        self._make_syncs(self.params.values)
        for buffer in (self.projections, self.fixes, self.attitudes):
            buffer.clear()
        self.get_logger().info("image_temperature stamps went back: fusion buffers reset")

    @guarded
    def _on_temperature(self, msg: Image) -> None:
        health = self.inputs["image_temperature"]
        health.arrived()
        if health.check_stamp(header_ns(msg.header)).verdict == TIME_RESET:
            self._restart_time()
        if msg.encoding != "32FC1":
            self._problem(f"image_temperature encoding '{msg.encoding}' is not 32FC1")
            return
        try:
            temperature = image_to_array(msg, copy=True)
        except ImageConversionError as exc:
            self._problem(f"image_temperature rejected: {exc}")
            return
        if self.thermal_camera is not None and temperature.shape != (
                self.thermal_camera.height, self.thermal_camera.width):
            self._problem(f"image_temperature is {temperature.shape[1]}x{temperature.shape[0]}, "
                          f"camera_info says {self.thermal_camera.width}x"
                          f"{self.thermal_camera.height}")
            return
        self.counts["temperature_images"] += 1
        t = header_ns(msg.header)
        item = (msg.header, temperature)
        p = self.params
        if p["overlay_enabled"]:
            self.rgb_sync.add(0, t, item)
        if p["lidar_enabled"]:
            self.lidar_sync.add(0, t, item)

    @guarded
    def _on_rgb(self, msg: Image) -> None:
        self.inputs["rgb/image_raw"].arrived()
        if not self.params["overlay_enabled"]:
            return
        if msg.encoding not in RGB_ENCODINGS:
            self._problem(f"rgb/image_raw encoding '{msg.encoding}' is not one of "
                          f"{list(RGB_ENCODINGS)}")
            return
        try:
            image = image_to_array(msg, copy=True)
        except ImageConversionError as exc:
            self._problem(f"rgb/image_raw rejected: {exc}")
            return
        if msg.encoding == "rgb8":
            image = np.ascontiguousarray(image[..., ::-1])
        elif msg.encoding == "mono8":
            image = np.repeat(image[..., None], 3, axis=2)
        self.rgb_sync.add(1, header_ns(msg.header), (msg.header.frame_id, image))

    @guarded
    def _on_cloud(self, msg: PointCloud2) -> None:
        self.inputs["lidar/points"].arrived()
        if not self.params["lidar_enabled"]:
            return
        try:
            xyz, intensity = cloud_xyz(msg)
        except PointCloudError as exc:
            self._problem(f"lidar/points rejected: {exc}")
            return
        self.lidar_sync.add(1, header_ns(msg.header), (msg.header, xyz, intensity))

    @guarded
    def _on_fix(self, msg: NavSatFix) -> None:
        self.inputs["gps/fix"].arrived()
        if msg.status.status < NavSatStatus.STATUS_FIX or not all(
                math.isfinite(v) for v in (msg.latitude, msg.longitude, msg.altitude)):
            return
        if self.origin is None:
            self.origin = GeoOrigin(msg.latitude, msg.longitude, msg.altitude)
        if self.ground_altitude_m is None:
            self.ground_altitude_m = (msg.altitude if self.params["ground_from_first_fix"]
                                      else self.params["ground_altitude_m"])
        enu = geodetic_to_enu(msg.latitude, msg.longitude, msg.altitude, self.origin)
        self.fixes.add(header_ns(msg.header), np.asarray(enu, np.float64).reshape(3))

    @guarded
    def _on_imu(self, msg: Imu) -> None:
        self.inputs["imu/data"].arrived()
        if msg.header.frame_id:  # REP 145: the orientation is that of this frame
            self.imu_frame = msg.header.frame_id
        q = msg.orientation
        quat = np.array([q.x, q.y, q.z, q.w])
        if msg.orientation_covariance[0] == -1.0 or not np.isfinite(quat).all() \
                or np.linalg.norm(quat) < 0.5:
            return  # no orientation in this IMU message (REP 145)
        self.attitudes.add(header_ns(msg.header), quat / np.linalg.norm(quat))

    # -- overlay --------------------------------------------------------------------------

    @guarded
    def _on_thermal_rgb(self, thermal: tuple[Any, np.ndarray], rgb_item: tuple[str, np.ndarray]
                        ) -> None:
        start = time.perf_counter()
        header, temperature = thermal
        rgb_frame, rgb = rgb_item
        if self.thermal_camera is None or self.rgb_camera is None:
            self.last_problem = "overlay waits for camera_info and rgb/camera_info"
            return
        if self.tf is not None:
            pose = self._tf_lookup(header.frame_id, rgb_frame)
            if pose is None:
                return
            if not _same_pose(pose, self._rgb_pose):  # the RGB camera moved: register again
                self._rgb_pose, self.registration = pose, None
        if self.registration is None:
            p = self.params
            try:
                self.registration = Registration(
                    self.thermal_camera, self.rgb_camera,
                    (self._rgb_pose if self.tf is not None
                     else extrinsics_from(p.values, "rgb")).inverse(),
                    ScenePlane(p["overlay_depth_m"]))
            except ValueError as exc:
                self._problem(f"overlay registration failed: {exc}")
                return
        try:
            rgb_on_thermal = self.registration.rgb_to_thermal_grid(rgb)
        except ValueError as exc:
            self._problem(f"rgb/image_raw does not match rgb/camera_info: {exc}")
            return
        colour = self.renderer.render(temperature)
        p = self.params
        image = overlay(colour, rgb_on_thermal, p["overlay_mode"], p["overlay_alpha"])
        array_to_image(image, "bgr8", header=header, msg=self.overlay_msg)
        self.overlay_pub.publish(self.overlay_msg)
        if self.overlay_jpeg.wanted():
            self.overlay_jpeg.publish(image, header, p["overlay_jpeg_quality"])
        self.counts["overlays"] += 1
        self._timed("overlay", start)

    # -- lidar ----------------------------------------------------------------------------

    @guarded
    def _on_thermal_cloud(self, thermal: tuple[Any, np.ndarray], cloud: tuple) -> None:
        start = time.perf_counter()
        header, temperature = thermal
        cloud_header, xyz, intensity = cloud
        if self.thermal_camera is None:
            self.last_problem = "points_thermal waits for camera_info"
            return
        p = self.params
        if self.tf is not None:
            pose = self._tf_lookup(header.frame_id, cloud_header.frame_id)
            if pose is None:
                return
            if not _same_pose(pose, self._lidar_pose):
                self._lidar_pose, self.projector = pose, None
        if self.projector is None:
            self.projector = LidarProjector(
                self.thermal_camera,
                self._lidar_pose if self.tf is not None else extrinsics_from(p.values, "lidar"),
                occlusion_from(p.values))
        projection = self.projector.project(xyz)
        points = thermal_points(xyz, intensity, temperature, projection,
                                keep_unseen=p["keep_unseen_points"])
        array_to_cloud(points, cloud_header, msg=self.cloud_msg)
        self.points_pub.publish(self.cloud_msg)
        self.projections.add(header_ns(header), (xyz, projection, temperature,
                                                cloud_header.frame_id))
        self.counts["clouds"] += 1
        self._timed("points_thermal", start)

    # -- detections -----------------------------------------------------------------------

    def _tf_lookup(self, target: str, source: str, stamp_ns: int | None = None
                   ) -> RigidTransform | None:
        """``T_target_source`` from tf (the latest, or at ``stamp_ns``); None while tf has
        none, which the node counts and says on diagnostics. Only with the tf source."""
        assert self.tf is not None
        try:
            return self.tf.lookup(target, source, stamp_ns)
        except TransformUnavailable as exc:
            self.counts["tf_waits"] += 1
            self.last_problem = f"waiting for tf: {exc}"
            return None

    def _pose_at(self, t_ns: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Position (ENU, m) and attitude at ``t_ns``: interpolated between the messages around
        it, or, when the next has not arrived yet, the position extrapolated at constant
        velocity and the attitude held (at most ``pose_max_gap_s`` past the newest)."""
        gap = self.params["pose_max_gap_s"]
        fix = self.fixes.samples_for(t_ns, gap)
        att = self.attitudes.samples_for(t_ns, gap)
        if fix is None or att is None:
            return None
        position = interpolate_vectors([fix[0][0], fix[1][0]],
                                       np.stack([fix[0][1], fix[1][1]]), t_ns, extrapolate=True)
        q = interpolate_quaternions([att[0][0], att[1][0]], np.stack([att[0][1], att[1][1]]),
                                    t_ns)
        return position, q

    @guarded
    def _on_detections(self, msg: ThermalDetectionArray) -> None:
        self.inputs["detections"].arrived()
        start = time.perf_counter()
        p = self.params
        t = header_ns(msg.header)
        out = LocatedDetectionArray(header=msg.header)
        located = [LocatedDetection(detection=d, position_x=math.nan, position_y=math.nan,
                                    position_z=math.nan, latitude_deg=math.nan,
                                    longitude_deg=math.nan, altitude_m=math.nan,
                                    horizontal_sigma_m=math.nan) for d in msg.detections]
        if p["lidar_enabled"] and located:
            match = self.projections.nearest(t, p["sync_slop_s"])
            if match is not None:
                xyz, projection, temperature, frame_id = match[1]
                for item in located:
                    d = item.detection
                    found = box_position(xyz, projection, (d.x0, d.y0, d.x1, d.y1), temperature,
                                         d.mean_temperature_c - WARM_MARGIN_K)
                    if found is not None:
                        (item.position_x, item.position_y, item.position_z), n = found
                        item.position_points, item.position_frame_id = n, frame_id
                        self.counts["located"] += 1
        if p["geolocation_enabled"] and located and self.thermal_camera is not None \
                and self.origin is not None:
            self._geolocate(t, msg.header.frame_id, located)
        out.detections = located
        self.located_pub.publish(out)
        self.counts["detection_sets"] += 1
        if self.geo_log is not None:
            try:
                self.geo_log.flush_if_due(time.monotonic())
            except OSError as exc:
                self._problem(f"cannot write GeoJSON/KML: {exc}")
        self._timed("detections", start)

    def _geolocate(self, t_ns: int, camera_frame: str, located: list[LocatedDetection]
                   ) -> None:
        pose = self._pose_at(t_ns)
        if pose is None:
            self.last_problem = "no GPS fix and IMU attitude around the detections' stamp"
            return
        assert self.thermal_camera is not None and self.origin is not None
        p = self.params
        position, q = pose
        if self.tf is None:
            mount = pose_from(p["camera_mount"], "camera_mount")
        else:  # at the detections' stamp (a gimbal moves the camera), in the frame whose
            # attitude imu/data gives
            mount = self._tf_lookup(self.imu_frame or p["base_frame"], camera_frame, t_ns)
            if mount is None:
                return
        T_enu_camera = camera_pose_enu(position, q, mount)
        ground: FlatTerrain | TerrainGrid
        if self.terrain_file is not None:
            if self.terrain is None:
                self.terrain = terrain_grid(self.terrain_file, self.origin)
            ground = self.terrain
        else:
            ground = FlatTerrain(float(self.ground_altitude_m or 0.0) - self.origin.altitude_m)
        uv = np.array([[it.detection.centroid_x, it.detection.centroid_y] for it in located])
        placed = locate_geodetic(self.thermal_camera, T_enu_camera, uv, ground, self.origin,
                                 noise_from(p.values), samples=COVARIANCE_SAMPLES)
        for item, (lat, lon, alt, sigma) in zip(located, placed.tolist(), strict=True):
            if not math.isfinite(lat):  # the ray does not reach the ground
                continue
            item.latitude_deg, item.longitude_deg = lat, lon
            item.altitude_m, item.horizontal_sigma_m = alt, sigma
            self.counts["geolocated"] += 1
            d = item.detection
            if self.cot is not None:
                self._send_cot(t_ns, item)
            if self.geo_log is not None:
                self.geo_log.add(t_ns, d.label, int(d.track_id), float(d.confidence),
                                 item.latitude_deg, item.longitude_deg, item.altitude_m,
                                 item.horizontal_sigma_m, float(d.max_temperature_c))

    def _send_cot(self, t_ns: int, item: LocatedDetection) -> None:
        """The located detection as a Cursor on Target event (one marker per track)."""
        p, d = self.params, item.detection
        label = d.label or "object"
        uid = (f"{self.cot_uid}.{label}.{d.track_id}" if d.track_id else
               f"{self.cot_uid}.{label}.{t_ns}.{d.centroid_x:.0f}.{d.centroid_y:.0f}")
        t_s = t_ns * 1e-9
        if not self.cot_throttle.due(uid, t_s):
            return
        remarks = f"{label}, confidence {d.confidence:.2f}"
        if math.isfinite(d.max_temperature_c):
            remarks += f", max {d.max_temperature_c:.1f} C"
        event = cot_event(uid, CotPoint(item.latitude_deg, item.longitude_deg, item.altitude_m,
                                        item.horizontal_sigma_m),
                          t_s, p["cot_stale_s"], p["cot_type"],
                          callsign=f"{label} {d.track_id}" if d.track_id else label,
                          remarks=remarks + " (thermal_perception)",
                          sent_s=time.time())  # the wall clock: TAK clients judge staleness by it
        assert self.cot is not None
        try:
            self.cot.send(event)
        except OSError as exc:  # no route, full buffer: the detections go on regardless
            self._problem(f"cannot send CoT to {p['cot_address']}: {exc}")
            return
        self.counts["cot_events"] += 1

    # -- health ---------------------------------------------------------------------------

    def _diagnostics(self) -> list:
        p = self.params
        values: dict[str, Any] = dict(self.counts)
        values.update({f"{k}_ms": v for k, v in self.processing_ms.items()})
        for name, sync in (("rgb_sync", self.rgb_sync), ("lidar_sync", self.lidar_sync)):
            c = sync.counters
            values[f"{name}_sets"] = c.matched_sets
            values[f"{name}_unmatched"] = c.overflowed + c.late
            values[f"{name}_duplicates"] = c.duplicates
        values["extrinsics_source"] = p["extrinsics_source"]
        values["gps_fixes"] = len(self.fixes)
        values["attitudes"] = len(self.attitudes)
        for name, health in self.inputs.items():
            values[f"{name}_hz"] = health.rate_hz
        stale = [f"{name} ({health.silence_s():.1f} s)" for name, health in self.inputs.items()
                 if health.stale()]
        missing = []
        if not self.counts["temperature_images"]:
            missing.append("image_temperature")
        if self.thermal_camera is None:
            missing.append("camera_info")
        if p["overlay_enabled"] and self.rgb_camera is None:
            missing.append("rgb/camera_info")
        if p["overlay_enabled"] and not self.rgb_sync.counters.matched_sets:
            missing.append("rgb/image_raw in sync")
        if p["lidar_enabled"] and not self.lidar_sync.counters.matched_sets:
            missing.append("lidar/points in sync")
        if p["geolocation_enabled"] and (not len(self.fixes) or not len(self.attitudes)):
            missing.append("gps/fix and imu/data")
        if self.last_problem:
            level, message = diagnostics.WARN, self.last_problem
            self.last_problem = ""
        elif stale:
            level, message = diagnostics.WARN, "stale: no " + ", ".join(stale)
        elif missing:
            level, message = diagnostics.WARN, "waiting for " + ", ".join(missing)
        else:
            level, message = diagnostics.OK, "fusing"
        return [diagnostics.status(f"{self.get_name()}: fusion", level, message, values)]

    def destroy_node(self) -> None:
        if getattr(self, "cot", None) is not None:
            self.cot.close()
        geo_log = getattr(self, "geo_log", None)  # None when the constructor failed
        if geo_log is not None and len(geo_log):
            try:
                geo_log.write()
            except OSError as exc:
                self.get_logger().error(f"cannot write GeoJSON/KML at shutdown: {exc}")
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Entry point of ``ros2 run thermal_perception fusion``."""
    from thermal_perception.ros.spin import spin_node

    spin_node(FusionNode, args)


if __name__ == "__main__":
    main()
