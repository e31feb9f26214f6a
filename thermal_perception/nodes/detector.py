"""Detector node: hotspots and fire, people and animals in temperature images, tracked.

Subscribes ``image_temperature`` (32FC1, deg C), ``camera_info`` (focal length for the ground
sample distance) and, optionally, ``altitude`` (std_msgs/Float64, m above ground); publishes
``detections`` (thermal_perception/ThermalDetectionArray, same header as the image) and
``image_detections`` (bgr8, boxes and labels on the colourised image, only when subscribed).

A camera that gives only grey levels (8-bit AGC video of a hobby or analogue thermal camera,
a Boson in 8-bit mode, through any V4L2 driver) feeds ``image_relative`` (mono8/mono16 or
8UC1/16UC1) instead: the learned backend (``people_detector: model``) finds people, animals
and vehicles there as on temperatures (one normalisation, ``core/detection/model_io``); their
temperatures are NaN, and hotspots and the warm-body backend, which need degrees, stay off.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float64

from thermal_perception.core.detection import Detection, gsd_from_view
from thermal_perception.core.detection.model import LearnedDetector
from thermal_perception.core.display.isotherm import draw_detections
from thermal_perception.core.display.render import DisplayRenderer
from thermal_perception.io.image_encoding import (
    ImageConversionError,
    array_to_image,
    image_oddity,
    image_to_array,
)
from thermal_perception.io.messages import header_ns
from thermal_perception.msg import ThermalDetection, ThermalDetectionArray, ThermalStatus
from thermal_perception.ros import diagnostics, intra_process
from thermal_perception.ros.params import ParameterSet
from thermal_perception.ros.qos import reliable_qos, sensor_qos
from thermal_perception.ros.stream_health import TIME_RESET, StreamHealth
from thermal_perception.settings.detector import (
    DETECTORS,
    PARAMS,
    TRACKER,
    backend_advice,
    detectors_from,
    needs_gsd,
    tracker_from,
)


def to_msg(d: Detection) -> ThermalDetection:
    """ThermalDetection of a core Detection."""
    x0, y0, x1, y1 = (max(0, int(v)) for v in d.bbox)
    return ThermalDetection(
        label=d.label, confidence=float(d.confidence), track_id=int(d.track_id), x0=x0, y0=y0,
        x1=x1, y1=y1, centroid_x=float(d.centroid[0]), centroid_y=float(d.centroid[1]),
        max_temperature_c=float(d.max_c), mean_temperature_c=float(d.mean_c),
        area_px=int(d.area_px), area_m2=float(d.area_m2))


#: grey-level encodings image_relative takes (AGC video: levels, not temperatures)
RELATIVE_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1")

#: a frame up to this share of max_rate_hz's period before its slot is taken (stamps jitter:
#: 30 Hz frames at max_rate_hz 10 give every third)
RATE_SLACK = 0.1


class DetectorNode(Node):
    """Finds and tracks what matters in temperature images."""

    def __init__(self, **node_args: Any) -> None:
        super().__init__("detector", **node_args)
        self.params = ParameterSet(self, PARAMS, on_change=self._on_change)
        p = self.params
        self.bodies, self.hot = detectors_from(p.values)
        self.tracker = tracker_from(p.values)
        self.renderer = DisplayRenderer(agc="percentile", colormap=p["colormap"],
                                        smoothing=0.8)
        qos = sensor_qos(p["image_reliability"])
        self.detections_pub = intra_process.publisher(self, ThermalDetectionArray, "detections",
                                                      reliable_qos())
        self.image_pub = self.create_publisher(Image, "image_detections", qos)
        # keep-last input_queue_depth: a detector slower than the camera takes the newest
        # frame instead of falling behind (bench/detector_rate.py)
        self.image_sub = intra_process.subscription(
            self, Image, "image_temperature", self._on_image,
            sensor_qos(p["image_reliability"], depth=p["input_queue_depth"]))
        self.relative_sub = self.create_subscription(
            Image, "image_relative", self._on_relative,
            sensor_qos(p["image_reliability"], depth=p["input_queue_depth"]))
        intra_process.subscription(self, CameraInfo, "camera_info", self._on_info,
                                   reliable_qos())
        self.create_subscription(Float64, "altitude", self._on_altitude, reliable_qos())
        # the driver's status says where frames come from: advice if the backend does not suit
        self.create_subscription(ThermalStatus, "status", self._on_status, reliable_qos())
        self.frame_source = ""
        self.advice = ""
        self.focal_px = math.nan
        self.altitude_topic_m = math.nan
        self.image_msg = Image()
        self.input = StreamHealth()  # rate, staleness, duplicate and out-of-order stamps
        self.reported_param_rejections = 0
        self.frames = self.rejected = 0
        self.relative_frames = 0  # of them, grey levels (image_relative)
        self._levels = np.empty((0, 0), np.float32)
        self.skipped_by_rate = 0  # frames left out by max_rate_hz
        self.last_detect_ns: int | None = None  # stamp of the last frame detected on
        self.next_slot_ns: int | None = None  # max_rate_hz: when the next frame is due
        self.last_reject = ""
        self.odd_frames = 0  # used, with something odd about them (NaN pixels, extra data)
        self.finite_mask = np.empty((0, 0), bool)
        self.last_oddity = ""
        self.counts: dict[str, int] = {}
        self.processing_ms = math.nan
        self.diagnostics = diagnostics.DiagnosticsPublisher(self, self._diagnostics)

    def _on_change(self, values: dict[str, Any]) -> None:
        if not hasattr(self, "tracker"):
            return
        if any(values[n] != self.params[n] for n in DETECTORS):
            self.bodies, self.hot = detectors_from(values)
        self._advise(values)
        if any(values[n] != self.params[n] for n in TRACKER):
            self.tracker = tracker_from(values)
        if values["colormap"] != self.params["colormap"]:
            self.renderer = DisplayRenderer(agc="percentile", colormap=values["colormap"],
                                            smoothing=0.8)

    def _on_info(self, msg: CameraInfo) -> None:
        self.focal_px = float(msg.k[0]) if msg.k[0] > 0 else math.nan

    def _on_status(self, msg: ThermalStatus) -> None:
        if msg.source != self.frame_source:
            self.frame_source = msg.source
            self._advise(self.params.values)

    def _advise(self, values: dict[str, Any]) -> None:
        advice = backend_advice(values, self.frame_source)
        if advice and advice != self.advice:
            self.get_logger().warning(advice)
        self.advice = advice

    def _on_altitude(self, msg: Float64) -> None:
        self.altitude_topic_m = float(msg.data)

    def gsd_m(self) -> float | None:
        """Ground sample distance, m per pixel, or None when unknown."""
        p = self.params
        if p["gsd_m"] > 0:
            return p["gsd_m"]
        altitude = p["altitude_m"] or self.altitude_topic_m
        if math.isfinite(altitude) and altitude > 0 and math.isfinite(self.focal_px):
            return gsd_from_view(altitude, p["camera_pitch_deg"], self.focal_px)
        return None

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self.last_reject = reason
        self.get_logger().warning(f"rejected image: {reason}", throttle_duration_sec=5.0)

    def _array(self, msg: Image) -> np.ndarray | None:
        """The image's pixels, or None (rejected with the reason) when it has none."""
        try:
            array = image_to_array(msg)
        except ImageConversionError as exc:
            self._reject(str(exc))
            return None
        if array.size == 0:
            self._reject("empty image")
            return None
        return array

    def _on_relative(self, msg: Image) -> None:
        """Grey levels, not temperatures: the learned backend only."""
        start = time.perf_counter()
        self.input.arrived()
        if msg.encoding not in RELATIVE_ENCODINGS:
            self._reject(f"image_relative encoding '{msg.encoding}' is not one of "
                         f"{list(RELATIVE_ENCODINGS)} (grey levels)")
            return
        if not isinstance(self.bodies, LearnedDetector):
            self._reject("image_relative holds grey levels, not temperatures: only "
                         "people_detector 'model' detects on them (the warm-body backend "
                         "and hotspots need degrees; use image_temperature)")
            return
        levels = self._array(msg)
        if levels is None:
            return
        self.relative_frames += 1
        self._detect(msg, levels, start, radiometric=False)

    def _on_image(self, msg: Image) -> None:
        start = time.perf_counter()
        self.input.arrived()
        if msg.encoding != "32FC1":
            self._reject(f"encoding '{msg.encoding}' is not 32FC1 temperatures (grey levels: "
                         "publish them on image_relative)")
            return
        temperature = self._array(msg)
        if temperature is None:
            return
        if self.finite_mask.shape != temperature.shape:  # a buffer per stream, as the
            self.finite_mask = np.empty(temperature.shape, bool)  # processor's invalid mask
        np.isfinite(temperature, out=self.finite_mask)
        finite = int(np.count_nonzero(self.finite_mask))
        if finite == 0:
            self._reject(f"no finite temperature in the {temperature.shape[1]}x"
                         f"{temperature.shape[0]} image (all NaN or inf)")
            return
        oddities = [o for o in (image_oddity(msg),) if o]
        if finite < temperature.size:  # the detectors leave them out (tested)
            oddities.append(f"{temperature.size - finite} of {temperature.size} pixels are "
                            "NaN or inf (left out of detection)")
        if oddities:
            self.odd_frames += 1
            self.last_oddity = "; ".join(oddities)
            self.get_logger().warning(f"image used as it is, but: {self.last_oddity}",
                                      throttle_duration_sec=5.0)
        self._detect(msg, temperature, start, radiometric=True)

    def _detect(self, msg: Image, frame: np.ndarray, start: float, radiometric: bool) -> None:
        """Stamp checks, the rate cap, detection, tracking and publishing of one frame (deg C
        when ``radiometric``, else grey levels)."""
        stamp = self.input.check_stamp(header_ns(msg.header))
        if not stamp.accepted:  # counted, logged, WARN on /diagnostics
            self.get_logger().warning(f"dropped image: {stamp.verdict.replace('_', '-')} stamp",
                                      throttle_duration_sec=5.0)
            return
        if stamp.verdict == TIME_RESET:  # tracks from the old timeline mean nothing now
            self.get_logger().warning("input stamps went back in time: tracks restarted")
            self.tracker = tracker_from(self.params.values)
            self.last_detect_ns = self.next_slot_ns = None
        p = self.params
        t_ns = header_ns(msg.header)
        if p["max_rate_hz"] > 0:  # slots every period, kept in phase: a frame lost in
            period_ns = 1e9 / p["max_rate_hz"]  # transport does not lower the rate
            slot = self.next_slot_ns
            if slot is not None and t_ns < slot - RATE_SLACK * period_ns:
                self.skipped_by_rate += 1
                return
            base = slot if slot is not None and t_ns - slot < period_ns else t_ns
            self.next_slot_ns = int(base + period_ns)
        since_s = None if self.last_detect_ns is None else (t_ns - self.last_detect_ns) * 1e-9
        self.last_detect_ns = t_ns
        gsd = self.gsd_m()
        found: list[Detection] = []
        if p["hotspots"] and radiometric:
            found += self.hot.detect(frame, gsd)
        if p["warm_bodies"] and not radiometric:  # the learned backend (checked above)
            found += self.bodies.detect(frame, gsd, radiometric=False)
        elif p["warm_bodies"] and (gsd is not None or not needs_gsd(self.bodies)):
            found += self.bodies.detect(frame, gsd)  # warm-body sizes need m per pixel
        found = [d for d in found if d.confidence >= p["min_confidence"]]
        if p["tracking"]:  # the time since the last frame detected on, skipped ones included
            found = self.tracker.update(found, max(0.0, since_s or 0.0))
        out = ThermalDetectionArray(header=msg.header)
        out.detections = [to_msg(d) for d in found]
        self.detections_pub.publish(out)
        if self.image_pub.get_subscription_count() > 0:
            if not radiometric:  # the renderer takes float32: one buffer per stream
                if self._levels.shape != frame.shape:
                    self._levels = np.empty(frame.shape, np.float32)
                np.copyto(self._levels, frame, casting="unsafe")
            image = self.renderer.render(frame if radiometric else self._levels)
            draw_detections(image, ((d.label, *d.bbox, d.track_id, d.max_c) for d in found))
            array_to_image(image, "bgr8", header=msg.header, msg=self.image_msg)
            self.image_pub.publish(self.image_msg)
        self.frames += 1
        for d in found:
            self.counts[d.label] = self.counts.get(d.label, 0) + 1
        elapsed_ms = (time.perf_counter() - start) * 1e3
        self.processing_ms = elapsed_ms if self.frames == 1 else \
            0.9 * self.processing_ms + 0.1 * elapsed_ms

    def _diagnostics(self) -> list:
        gsd = self.gsd_m()
        values = {"frames": self.frames, "rejected_frames": self.rejected,
                  "skipped_by_max_rate": self.skipped_by_rate,
                  "relative_frames": self.relative_frames,
                  "odd_frames": self.odd_frames,
                  "processing_ms": self.processing_ms,
                  "gsd_m": gsd if gsd is not None else "unknown", **self.input.values(),
                  "frame_source": self.frame_source or "unknown (no status)",
                  "parameter_changes_rejected": self.params.rejections,
                  "last_parameter_rejection": self.params.last_rejection,
                  **{f"detections_{k}": v for k, v in sorted(self.counts.items())}}
        stamp_problems = self.input.stamp_problems()
        new_param_rejection = self.params.rejections > self.reported_param_rejections
        self.reported_param_rejections = self.params.rejections
        if self.input.stale():
            level, message = diagnostics.WARN, (f"stale: no temperature images for "
                                                f"{self.input.silence_s():.1f} s")
        elif self.last_reject:
            level, message = diagnostics.WARN, f"rejected image: {self.last_reject}"
            self.last_reject = ""
        elif stamp_problems:
            level, message = diagnostics.WARN, stamp_problems
        elif self.last_oddity:
            level, message = diagnostics.WARN, f"image used as it is, but: {self.last_oddity}"
            self.last_oddity = ""
        elif new_param_rejection:
            level, message = diagnostics.WARN, ("parameter change rejected: "
                                                f"{self.params.last_rejection}")
        elif not self.frames:
            level, message = diagnostics.WARN, "no temperature images received"
        elif gsd is None and self.params["warm_bodies"] and needs_gsd(self.bodies):
            level, message = diagnostics.WARN, ("ground sample distance unknown: people and "
                                                "animal detection off (set altitude_m, gsd_m "
                                                "or publish 'altitude')")
        elif self.advice:
            level, message = diagnostics.OK, f"detecting; advice: {self.advice}"
        else:
            level, message = diagnostics.OK, "detecting"
        return [diagnostics.status(f"{self.get_name()}: detection", level, message, values)]


def main(args: list[str] | None = None) -> None:
    """Entry point of ``ros2 run thermal_perception detector``."""
    from thermal_perception.ros.spin import spin_node

    spin_node(DetectorNode, args)


if __name__ == "__main__":
    main()
