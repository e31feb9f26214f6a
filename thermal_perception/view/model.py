"""The view's state, fed with plain values (by the ROS subscriber or a test) and offered to
the pages through a :class:`~thermal_perception.view.hub.ViewHub` (and optionally to a
Foxglove server). No ROS here: the ROS layer converts messages into these calls.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from thermal_perception.view.frames import (
    FFC_STATES,
    LocalMap,
    RateMeter,
    TemperatureHistory,
    encode_jpeg,
    roi_outlines,
)
from thermal_perception.view.hub import ViewHub
from thermal_perception.view.protocol import pack_frame, text_message


class Sink(Protocol):
    """Another consumer of the same data (the Foxglove server)."""

    def display(self, stamp_ns: int, frame_id: str, bgr: NDArray[np.uint8]) -> None: ...
    def temperature(self, stamp_ns: int, frame_id: str, image_c: NDArray[np.float32]) -> None: ...
    def detections(self, stamp_ns: int, items: list[dict[str, Any]]) -> None: ...
    def location(self, stamp_ns: int, kind: str, lat: float, lon: float, alt: float,
                 label: str) -> None: ...


def _now_ns() -> int:
    return time.time_ns()


class ViewModel:
    """Everything the page shows. Methods are called from the data thread.

    Parameters
    ----------
    hub : where the pages get their messages.
    jpeg_quality : 1..100, of the frames sent to the pages.
    health_period_s : how often stream health is sent, s.
    sinks : other consumers (Foxglove), given the same data.
    """

    def __init__(self, hub: ViewHub, jpeg_quality: int = 85, health_period_s: float = 0.5,
                 sinks: list[Sink] | None = None) -> None:
        self.hub = hub
        self.jpeg_quality = jpeg_quality
        self.health_period_s = health_period_s
        self.sinks = list(sinks or [])
        self.temperatures = TemperatureHistory()
        self.map = LocalMap()
        self.meters = {name: RateMeter() for name in ("display", "temperature", "detections")}
        self.status: dict[str, Any] = {}
        self.outlines: list[dict[str, Any]] = []
        self.frame_seq = 0
        self.glass_to_glass_ms: list[float] = []  # reported by pages (acks), last 2000
        self._last_health = 0.0
        self._last_display: tuple[int, NDArray[np.uint8]] | None = None
        self._lock = threading.Lock()

    # -- inputs ---------------------------------------------------------------------------
    def on_display(self, stamp_ns: int, frame_id: str, bgr: NDArray[np.uint8]) -> None:
        """A display image (bgr8 or mono8, as the processor publishes it)."""
        now = _now_ns()
        self._last_display = (stamp_ns, bgr)
        self.meters["display"].add(time.monotonic(), (now - stamp_ns) / 1e6)
        for sink in self.sinks:
            sink.display(stamp_ns, frame_id, bgr)
        if self.hub.wants("frame"):
            self.frame_seq += 1
            # stamp_ns as a string (JavaScript numbers hold 2**53), stamp_ms for latencies
            header = {"seq": self.frame_seq, "stamp_ns": str(stamp_ns),
                      "stamp_ms": stamp_ns / 1e6, "frame_id": frame_id,
                      "width": int(bgr.shape[1]), "height": int(bgr.shape[0]),
                      "received_ns": now}
            jpeg = encode_jpeg(bgr, self.jpeg_quality)
            header["encoded_ns"] = _now_ns()
            self.hub.publish("frame", pack_frame(header, jpeg))
        self._maybe_health()

    def on_temperature(self, stamp_ns: int, frame_id: str, image_c: NDArray[np.float32]) -> None:
        """A 32FC1 temperature image, deg C (kept for pixel look-ups)."""
        self.meters["temperature"].add(time.monotonic(), (_now_ns() - stamp_ns) / 1e6)
        self.temperatures.add_temperature(stamp_ns, image_c)
        for sink in self.sinks:
            sink.temperature(stamp_ns, frame_id, image_c)

    def on_sigma(self, stamp_ns: int, sigma_k: NDArray[np.float32]) -> None:
        """A 32FC1 one-sigma uncertainty image, K."""
        self.temperatures.add_sigma(stamp_ns, sigma_k)

    def on_detections(self, stamp_ns: int, items: list[dict[str, Any]]) -> None:
        """Detections of one frame: dicts with label, confidence, track_id, box [x0, y0, x1,
        y1] (px, end-exclusive), max_c, mean_c (deg C), area_m2."""
        self.meters["detections"].add(time.monotonic(), (_now_ns() - stamp_ns) / 1e6)
        for sink in self.sinks:
            sink.detections(stamp_ns, items)
        self.hub.publish("detections", text_message("detections", stamp_ns=stamp_ns,
                                                    items=items))

    def on_roi_strings(self, roi_strings: list[str]) -> None:
        """The processor's ``rois`` parameter (outlines to draw)."""
        self.outlines = roi_outlines(roi_strings)

    def on_roi_stats(self, stamp_ns: int, regions: list[dict[str, Any]]) -> None:
        """ROI statistics of one frame (name, min/max/mean deg C, alarm_state, alarm_rule)."""
        shapes = {o["name"]: o for o in self.outlines}
        merged = [{**r, "outline": shapes.get(r["name"])} for r in regions]
        self.hub.publish("rois", text_message("rois", stamp_ns=stamp_ns, regions=merged))

    def on_status(self, status: dict[str, Any]) -> None:
        """The driver's ThermalStatus as a dict (ffc_state as its number)."""
        status = dict(status)
        status["ffc_state_name"] = FFC_STATES.get(int(status.get("ffc_state", 0)), "unknown")
        self.status = status
        self._maybe_health()

    def on_diagnostics(self, entries: list[dict[str, Any]]) -> None:
        """/diagnostics entries: name, level (0 OK, 1 WARN, 2 ERROR, 3 STALE), message."""
        self.hub.publish("diagnostics", text_message("diagnostics", entries=entries))

    def on_fix(self, stamp_ns: int, lat: float, lon: float, alt: float) -> None:
        """The platform's GPS fix (degrees, ellipsoid height m)."""
        self.map.add_fix(lat, lon, alt)
        for sink in self.sinks:
            sink.location(stamp_ns, "gps", lat, lon, alt, "uav")

    def on_located(self, stamp_ns: int, items: list[dict[str, Any]]) -> None:
        """Geolocated detections: label, track_id, lat, lon, alt, sigma_m, max_c."""
        for item in items:
            self.map.add_detection(item["label"], int(item["track_id"]), item["lat"],
                                   item["lon"], item["alt"], item["sigma_m"],
                                   item.get("max_c"), stamp_ns)
            for sink in self.sinks:
                sink.location(stamp_ns, "detection", item["lat"], item["lon"], item["alt"],
                              f"{item['label']} {item['track_id']}")
        self.hub.publish("map", text_message("map", **self.map.snapshot()))

    def on_ack_latency(self, latency_ms: float) -> None:
        """Capture -> drawn latency of a frame, as a page measured it, ms."""
        with self._lock:
            self.glass_to_glass_ms.append(latency_ms)
            del self.glass_to_glass_ms[:-2000]

    # -- outputs --------------------------------------------------------------------------
    def probe(self, x: int, y: int, stamp_ns: int | None) -> str:
        """The ``probe`` reply (JSON text) for pixel (x, y) of the frame at ``stamp_ns``."""
        found = self.temperatures.lookup(x, y, stamp_ns)
        if found["stamp_ns"] is not None:
            found["stamp_ns"] = str(found["stamp_ns"])  # exact in JavaScript
        return text_message("probe", **found)

    def snapshot_jpeg(self) -> tuple[int, bytes] | None:
        """(capture stamp ns, JPEG) of the newest display image; None before the first."""
        last = self._last_display
        return None if last is None else (last[0], encode_jpeg(last[1], self.jpeg_quality))

    def health(self) -> dict[str, Any]:
        """Stream health: rates (Hz), latencies (ms), the driver's status, pages' drops."""
        with self._lock:
            g2g = list(self.glass_to_glass_ms[-300:])
        display = self.meters["display"]
        return {
            "display_rate_hz": display.rate_hz(),
            "temperature_rate_hz": self.meters["temperature"].rate_hz(),
            "detections_rate_hz": self.meters["detections"].rate_hz(),
            "latency_display_ms": display.latency_ms(50),
            "latency_display_p90_ms": display.latency_ms(90),
            "glass_to_glass_p50_ms": float(np.percentile(g2g, 50)) if g2g else None,
            "frames_received": display.count,
            "status": self.status,
            "pages": self.hub.stats(),
        }

    def _maybe_health(self) -> None:
        now = time.monotonic()
        if now - self._last_health >= self.health_period_s:
            self._last_health = now
            self.hub.publish("health", text_message("health", **self.health()))
