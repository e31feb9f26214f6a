"""Output stage of the analysis: the processed bag, the video, ROI measurements, and at the end
the tables (CSV, Parquet), the geolocated detections (GeoJSON, KML), the report and the
summary.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from thermal_perception.analysis.bag_reading import BagSource
from thermal_perception.analysis.bag_writing import (
    ProcessedBagWriter,
    SerialWorker,
    atomic_write_text,
)
from thermal_perception.analysis.detect import (
    AUTO,
    DetectionRecord,
    detections_message,
)
from thermal_perception.analysis.options import (
    DETECTIONS_TYPE,
    HISTOGRAM_BINS,
    IMAGE_TYPE,
    NS_PER_S,
    STATUS_FAILED,
    STATUS_OK,
    STATUS_PARTIAL,
)
from thermal_perception.analysis.outputs import (
    FRAME_COLUMNS,
    STATE_PROCESSED,
    STATE_REJECTED,
    STATE_SHUTTER,
    VideoOutput,
    detection_columns,
    detection_rows,
    draw_detections,
    write_csv,
    write_geojson,
    write_kml,
    write_parquet,
)
from thermal_perception.analysis.read_stage import BagFrame, bag_name
from thermal_perception.settings.detector import backend_advice


class OutputStage:
    """Output stage of :class:`~.analyze.BagAnalysis`.
    Sets ``bag_writer``, ``video``, ``outputs_worker``, ``measure_worker`` and
    ``need_temperature``; writes everything under ``out_dir``.
    """

    def _setup_outputs(self, source: BagSource) -> None:
        o = self.options
        if o.bag:
            storage = o.storage if o.storage != "same" else (
                source.storage if source.storage in ("sqlite3", "mcap") else "sqlite3")
            self.bag_writer = ProcessedBagWriter(self.out_dir / "processed_bag", storage,
                                                 source, source.topics, o.backlog * 8,
                                                 compression=o.bag_compression)
            self.bag_writer.add_topic(self.names["image_temperature"], IMAGE_TYPE)
            self.bag_writer.add_topic(self.names["image_display"], IMAGE_TYPE)
            self.bag_writer.add_topic(self.names["detections"], DETECTIONS_TYPE)
            self.result.warnings += self.bag_writer.problems
        if o.video:
            self.video = VideoOutput(self.out_dir / "video.mp4", self._frame_rate_hz(source))
        if o.bag or o.video:
            self.outputs_worker = SerialWorker("images", o.backlog)
        self.measure_worker = SerialWorker("measurement", o.backlog)
        # Like the node, compute only what is used: without images to write, ROIs or an
        # emissivity map, the statistics need no temperature image (detection needs one on
        # the frames it runs on).
        self.need_temperature = bool(self.outputs_worker is not None or len(self.rois)
                                     or self.emissivity_map is not None)

    def _measure_rois(self, index: int, temperature: NDArray[np.float32]) -> list[Any]:
        if not len(self.rois):
            return []
        stats = self.rois.stats(temperature)
        states = self.alarms.update(stats).states
        self.roi_rows += [(index, s.name, s.max_c, s.mean_c, s.min_c, s.valid_count,
                           states.get(s.name, "")) for s in stats]
        return stats

    def _emit(self, temperature: NDArray[np.float32], frame: BagFrame,
              found: list[DetectionRecord], roi_stats: list[Any]) -> None:
        from thermal_perception.io import messages
        from thermal_perception.settings.processor import display_image

        try:
            bag = self.bag_writer
            names = self.names
            if bag is not None:
                store = bag.typestore
                header = messages.header(store, frame.stamp_ns, frame.frame_id)
                bag.write_message(names["image_temperature"], frame.bag_ns, messages.image(
                    store, temperature, "32FC1", frame.stamp_ns, frame.frame_id), IMAGE_TYPE)
            image = display_image(self.renderer, temperature, self.values, self.rois,
                                  roi_stats, self.alarms.states)
            if bag is not None:
                bag.write_message(names["image_display"], frame.bag_ns, messages.image(
                    store, image, "bgr8", frame.stamp_ns, frame.frame_id), IMAGE_TYPE)
                bag.write_message(names["detections"], frame.bag_ns,
                                  detections_message(store, header, found), DETECTIONS_TYPE)
            if self.video is not None:
                draw_detections(image, found)
                self.video.write(image)
        finally:
            self.temperature_pool.put(temperature)

    def _close_outputs(self) -> None:
        """Finish the measurement and image stages, the video and the processed bag."""
        t0 = time.perf_counter()
        try:
            if self.measure_worker is not None:
                if self.detect_process is not None:  # the frames waiting for detections
                    self.measure_worker.submit(self._resolve, 0)
                error = self.measure_worker.close()
                if error is not None:
                    self.error(f"measurement failed: {type(error).__name__}: {error}")
        finally:
            if self.detect_process is not None:  # ended and joined after the tables
                self.detect_process.stop()
        if self.outputs_worker is not None:
            error = self.outputs_worker.close()
            if error is not None:
                self.error(f"writing images failed: {type(error).__name__}: {error}")
        if self.video is not None:
            try:
                if self.video.finish():
                    self.result.outputs["video"] = str(self.video.path)
            except Exception as exc:
                self.video.abort()
                self.error(f"video: {exc}")
        t1 = time.perf_counter()
        if self.bag_writer is not None:
            try:
                self.bag_writer.finish()
                self.result.outputs["processed_bag"] = str(self.bag_writer.target)
                self.result.processed_bag_bytes_per_frame = round(
                    self.bag_writer.size_bytes() / max(1, self.result.frames_processed))
            except Exception as exc:
                self.bag_writer.abort()
                self.error(f"processed bag: {exc}")
        self.result.timings_s.update({"flush_images_s": t1 - t0,
                                      "flush_bag_s": time.perf_counter() - t1})

    def _finish(self, started: float) -> None:
        r = self.result
        if self.source is not None:
            for problem in self.source.problems:
                self.error(problem)
            self.source.close()
        rows = self.rows
        r.frames = len(rows)
        r.frames_processed = sum(row.state == STATE_PROCESSED for row in rows)
        r.frames_shutter = sum(row.state == STATE_SHUTTER for row in rows)
        r.frames_rejected = sum(row.state == STATE_REJECTED for row in rows)
        r.ffc_count = self.chain.state.ffc_count if hasattr(self, "chain") else 0
        r.detections = len(self.detections)
        if len(rows) > 1:
            stamps = np.array([row.stamp_ns for row in rows], np.int64)
            period = float(np.median(np.diff(stamps))) if len(stamps) > 1 else 0.0
            r.duration_s = max(float(stamps[-1] - stamps[0]) + period, 0.0) / NS_PER_S
        elif rows and hasattr(self, "profile"):
            r.duration_s = 1.0 / self.profile.rate_hz
        if r.loop_s > 0:
            r.fps = r.frames / r.loop_s
            r.realtime_factor = r.duration_s / r.loop_s
        if (self.camera_profile_seen and hasattr(self, "values")
                and self.camera_profile_seen != self.values["camera_profile"]):
            r.warnings.append(f"the camera reports profile '{self.camera_profile_seen}', the "
                              f"parameters use '{self.values['camera_profile']}'")
        if getattr(self, "detector", None) is not None and self.options.detector == AUTO:
            advice = backend_advice(self.detector_values, self.frame_source_seen)
            if advice:
                r.warnings.append(advice)
        if rows and getattr(self, "stats", None) is not None:
            self._note_correction_range()
        t0 = time.perf_counter()
        nothing_read = not rows  # a bag that could not be read: only summary.json says so
        if not nothing_read:
            self._write_tables()
        r.errors = self.errors + ([f"... and {self.error_count - len(self.errors)} more errors"]
                                  if self.error_count > len(self.errors) else [])
        if r.frames_processed == 0:
            r.status = STATUS_FAILED
            if not r.errors:
                r.errors.append("no frame could be processed")
        else:
            r.status = STATUS_PARTIAL if r.errors else STATUS_OK
        r.timings_s["tables_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        r.outputs["summary"] = str(self.out_dir / "summary.json")
        if self.options.report and not nothing_read:
            self._write_report()
        r.timings_s["report_s"] = time.perf_counter() - t0
        r.wall_s = time.perf_counter() - started
        atomic_write_text(self.out_dir / "summary.json",
                          json.dumps(r.to_json(), indent=2, default=str) + "\n")

    def _write_report(self) -> None:
        from thermal_perception.analysis.report import write_report

        r = self.result
        r.outputs["report"] = str(self.out_dir / "report.html")
        try:
            write_report(self.out_dir / "report.html", r, self.rows, self.detections,
                         self.stats.histogram(HISTOGRAM_BINS) if self.stats else None,
                         self.gps, getattr(self, "values", {}))
        except Exception as exc:
            del r.outputs["report"]
            r.errors.append(f"report: {type(exc).__name__}: {exc}")
            if r.status == STATUS_OK:
                r.status = STATUS_PARTIAL

    def _mount_from_tf(self) -> Any:
        """``T_imu_camera`` from the bag's transform tree (the IMU's frame to the thermal
        frames'), a function of the frame's stamp when a transform on the way moves (/tf: a
        gimbal); None (a warning says why) when the bag's transforms do not connect them."""
        r, tree = self.result, self.transforms
        if not len(tree):
            return None
        topics = " and ".join(sorted(t.topic for t in self.tf_topics))
        try:
            mount = tree.lookup(self.imu_frame, self.camera_frame)
        except (LookupError, ValueError) as exc:
            r.warnings.append(f"{topics}: {exc}; camera mount: looking straight down")
            return None
        r.camera_mount = f"{topics}: {self.camera_frame!r} in {self.imu_frame!r}" + (
            ", at each frame's stamp" if tree.dynamic else "")
        if not tree.dynamic:
            return mount
        return lambda stamp_ns: tree.lookup(self.imu_frame, self.camera_frame, stamp_ns)

    def _ground_positions(self) -> NDArray[np.float64] | None:
        """(D, 4) ground latitude, longitude (deg), ellipsoid height (m) and horizontal 1-sigma
        (m) of the detections, or None when the bag lacks an IMU orientation or camera_info.

        The centroid pixel of each detection is cast onto flat ground (height from the options)
        from the frame's GPS position (interpolated between fixes) and IMU orientation
        (interpolated), through the camera_info camera at ``camera_mount``; sigma from the
        default :class:`~thermal_perception.core.fusion.geolocation.PoseNoise` (linearized). Rows of
        detections that cannot be placed (no fix or orientation near the frame, ray above the
        horizon) are NaN.
        """
        from thermal_perception.core.fusion import GeoOrigin
        from thermal_perception.core.fusion.geolocation import (
            FlatTerrain,
            PoseNoise,
            camera_mount,
            camera_pose_enu,
            geodetic_to_enu,
            locate_geodetic,
        )
        from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform

        r, o = self.result, self.options
        if not self.imu_topic or not self.detections:
            return None
        if not len(self.imu):
            r.warnings.append(f"IMU topic {self.imu.topic} has no orientation: detections at "
                              "the platform position")
            return None
        info = self.camera_info
        if info is None:
            r.warnings.append("no camera_info for the thermal camera: detections at the "
                              "platform position")
            return None
        camera = CameraModel.from_camera_info(info.width, info.height, list(info.k),
                                              list(info.d), info.distortion_model)
        m = o.camera_mount
        if m is not None:
            mount = RigidTransform.from_rpy(m[3], m[4], m[5], m[:3])
            r.camera_mount = "option"
        else:
            mount = self._mount_from_tf()
            if mount is None:
                mount = camera_mount()
                r.camera_mount = "default (nadir, image top forward)"
        first = int(np.argmin(self.gps.stamps_ns))
        ground_alt = o.ground_altitude_m if o.ground_altitude_m is not None else \
            self.gps.altitude_m[first] - o.takeoff_height_m
        origin = GeoOrigin(self.gps.latitude[first], self.gps.longitude[first], ground_alt)
        terrain, noise = FlatTerrain(0.0), PoseNoise()
        out = np.full((len(self.detections), 4), np.nan)
        frame_of = np.array([index for index, _ in self.detections])
        stamps = np.array([row.stamp_ns for row in self.rows], np.int64)
        used = np.unique(frame_of)
        fixes = self.gps.interpolated(stamps[used])
        attitudes = self.imu.at(stamps[used])
        positions = geodetic_to_enu(fixes[:, 0], fixes[:, 1], fixes[:, 2], origin)
        below = no_mount = 0
        for frame, position, q in zip(used, positions, attitudes, strict=True):
            if not (np.all(np.isfinite(position)) and np.all(np.isfinite(q))):
                continue
            if position[2] <= 0:
                below += 1
                continue
            if callable(mount):  # a moving mount: its pose at the frame's stamp
                try:
                    pose = mount(int(stamps[frame]))
                except LookupError:
                    no_mount += 1
                    continue
            else:
                pose = mount
            T = camera_pose_enu(position, q, pose)
            picks = np.flatnonzero(frame_of == frame)
            uv = [(self.detections[k][1].centroid_x, self.detections[k][1].centroid_y)
                  for k in picks]
            out[picks] = locate_geodetic(camera, T, uv, terrain, origin, noise,
                                         method="linearized")
        r.geolocated = int(np.isfinite(out[:, 0]).sum())
        if below:
            r.warnings.append(f"{below} frames with detections have the GPS at or below the "
                              f"ground ({ground_alt:.1f} m; see --ground-altitude): their "
                              "detections are at the platform position")
        if no_mount:
            r.warnings.append(f"{no_mount} frames with detections have no camera mount in the "
                              "bag's /tf near their stamp: their detections are at the "
                              "platform position")
        if r.geolocated < len(self.detections):
            r.warnings.append(f"{len(self.detections) - r.geolocated} of "
                              f"{len(self.detections)} detections could not be placed on the "
                              "ground: at the platform position in the GeoJSON/KML")
        return out

    def _write_tables(self) -> None:
        r, rows = self.result, self.rows
        if len(self.gps) and rows:
            positions = self.gps.at(np.array([row.stamp_ns for row in rows], np.int64))
            for row, (lat, lon, alt) in zip(rows, positions, strict=True):
                row.latitude, row.longitude, row.altitude_m = float(lat), float(lon), float(alt)
        frame_rows = [tuple(getattr(row, c) for c in FRAME_COLUMNS) for row in rows]
        ground = self._ground_positions() if len(self.gps) else None
        det_rows = detection_rows(rows, self.detections, ground)
        tables = {"frames": (list(FRAME_COLUMNS), frame_rows),
                  "detections": (detection_columns(), det_rows)}
        if self.roi_rows:
            tables["rois"] = (["frame", "roi", "max_c", "mean_c", "min_c", "valid_count",
                               "alarm_state"], self.roi_rows)
        for name, (columns, table) in tables.items():
            write_csv(self.out_dir / f"{name}.csv", columns, table)
            r.outputs[f"{name}_csv"] = str(self.out_dir / f"{name}.csv")
            if write_parquet(self.out_dir / f"{name}.parquet", columns, table):
                r.outputs[f"{name}_parquet"] = str(self.out_dir / f"{name}.parquet")
        if len(self.gps):
            name = bag_name(self.bag)
            placed = write_geojson(self.out_dir / "detections.geojson", rows, self.detections,
                                   name, ground)
            write_kml(self.out_dir / "detections.kml", rows, self.detections, name, ground)
            r.outputs["geojson"] = str(self.out_dir / "detections.geojson")
            r.outputs["kml"] = str(self.out_dir / "detections.kml")
            if placed < len(self.detections):
                r.warnings.append(f"{len(self.detections) - placed} detections have no GPS fix "
                                  "within 2 s and are not in the GeoJSON/KML")
        elif self.gps.topic:
            r.warnings.append(f"GPS topic {self.gps.topic} has no valid fix: no GeoJSON/KML")
        else:
            r.warnings.append("no GPS (sensor_msgs/NavSatFix) topic: no detections.geojson or "
                              "detections.kml written")
