"""The view's ROS side: one node subscribed to the pipeline's topics, handing plain values
to a :class:`thermal_perception.view.model.ViewModel` (which knows nothing of ROS).

Topics (relative to the node's namespace): ``image_display``, ``image_temperature``,
``image_temperature_sigma`` (optional), ``detections``, ``roi_stats``, ``status``,
``detections_located``, ``gps/fix`` and ``/diagnostics``; the ROI outlines come from the
processor's ``rois`` parameter (asked every few seconds through its parameter service).
"""

from __future__ import annotations

import math
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.srv import GetParameters
from rclpy.node import Node
from sensor_msgs.msg import Image, NavSatFix

from thermal_perception.io.image_encoding import image_to_array
from thermal_perception.msg import (
    LocatedDetectionArray,
    RoiStatisticsArray,
    ThermalDetectionArray,
    ThermalStatus,
)
from thermal_perception.ros.qos import reliable_qos, sensor_qos
from thermal_perception.view.model import ViewModel


def stamp_ns(header: Any) -> int:
    """A header's stamp in ns."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _num(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


class ViewSource(Node):
    """Subscriber of the pipeline's topics for the browser view.

    Parameters
    ----------
    model : receives the data.
    namespace : the pipeline's namespace (``/thermal``).
    image_reliability : QoS reliability of the image topics, as the pipeline's.
    sigma : also subscribe to ``image_temperature_sigma`` (the processor computes it only
        when someone subscribes).
    """

    def __init__(self, model: ViewModel, namespace: str = "/thermal",
                 image_reliability: str = "reliable", sigma: bool = True,
                 node_name: str = "thermal_view") -> None:
        super().__init__(node_name, namespace=namespace)
        self.model = model
        image_qos = sensor_qos(image_reliability, depth=2)
        self.create_subscription(Image, "image_display", self._on_display, image_qos)
        self.create_subscription(Image, "image_temperature", self._on_temperature, image_qos)
        if sigma:
            self.create_subscription(Image, "image_temperature_sigma", self._on_sigma,
                                     image_qos)
        self.create_subscription(ThermalDetectionArray, "detections", self._on_detections,
                                 reliable_qos())
        self.create_subscription(RoiStatisticsArray, "roi_stats", self._on_rois, reliable_qos())
        self.create_subscription(ThermalStatus, "status", self._on_status, reliable_qos())
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics,
                                 reliable_qos())
        self.create_subscription(LocatedDetectionArray, "detections_located", self._on_located,
                                 reliable_qos())
        self.create_subscription(NavSatFix, "gps/fix", self._on_fix, sensor_qos("reliable"))
        self._params = self.create_client(GetParameters, "processor/get_parameters")
        self._params_pending = False
        self.create_timer(3.0, self._ask_rois)

    def _on_display(self, msg: Image) -> None:
        self.model.on_display(stamp_ns(msg.header), msg.header.frame_id, image_to_array(msg))

    def _on_temperature(self, msg: Image) -> None:
        self.model.on_temperature(stamp_ns(msg.header), msg.header.frame_id,
                                  image_to_array(msg, copy=True))

    def _on_sigma(self, msg: Image) -> None:
        self.model.on_sigma(stamp_ns(msg.header), image_to_array(msg, copy=True))

    def _on_detections(self, msg: ThermalDetectionArray) -> None:
        items = [{"label": d.label, "confidence": _num(d.confidence), "track_id": int(d.track_id),
                  "box": [int(d.x0), int(d.y0), int(d.x1), int(d.y1)],
                  "max_c": _num(d.max_temperature_c), "mean_c": _num(d.mean_temperature_c),
                  "area_m2": _num(d.area_m2)} for d in msg.detections]
        self.model.on_detections(stamp_ns(msg.header), items)

    def _on_rois(self, msg: RoiStatisticsArray) -> None:
        regions = [{"name": r.name, "shape": r.shape, "min_c": _num(r.min_c),
                    "max_c": _num(r.max_c), "mean_c": _num(r.mean_c),
                    "max_xy": [int(r.max_x), int(r.max_y)], "alarm_state": r.alarm_state,
                    "alarm_rule": r.alarm_rule} for r in msg.regions]
        self.model.on_roi_stats(stamp_ns(msg.header), regions)

    def _on_status(self, msg: ThermalStatus) -> None:
        self.model.on_status({
            "source": msg.source, "camera_profile": msg.camera_profile,
            "fpa_temperature_c": _num(msg.fpa_temperature_c), "ffc_state": int(msg.ffc_state),
            "shutter_closed": bool(msg.shutter_closed), "ffc_count": int(msg.ffc_count),
            "frame_count": int(msg.frame_count), "dropped_frames": int(msg.dropped_frames),
            "frame_rate_hz": _num(msg.frame_rate_hz), "camera_serial": msg.camera_serial,
            "stamp_ns": stamp_ns(msg.header)})

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        self.model.on_diagnostics([{"name": s.name, "level": int.from_bytes(s.level, "little")
                                    if isinstance(s.level, bytes) else int(s.level),
                                    "message": s.message} for s in msg.status])

    def _on_located(self, msg: LocatedDetectionArray) -> None:
        items = [{"label": d.detection.label, "track_id": int(d.detection.track_id),
                  "lat": float(d.latitude_deg), "lon": float(d.longitude_deg),
                  "alt": float(d.altitude_m), "sigma_m": _num(d.horizontal_sigma_m),
                  "max_c": _num(d.detection.max_temperature_c)} for d in msg.detections]
        self.model.on_located(stamp_ns(msg.header), items)

    def _on_fix(self, msg: NavSatFix) -> None:
        self.model.on_fix(stamp_ns(msg.header), float(msg.latitude), float(msg.longitude),
                          float(msg.altitude))

    def _ask_rois(self) -> None:
        if self._params_pending or not self._params.service_is_ready():
            return
        self._params_pending = True
        future = self._params.call_async(GetParameters.Request(names=["rois"]))
        future.add_done_callback(self._got_rois)

    def _got_rois(self, future: Any) -> None:
        self._params_pending = False
        result = future.result()
        if result is not None and result.values:
            self.model.on_roi_strings(list(result.values[0].string_array_value))
