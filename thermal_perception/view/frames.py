"""What the page draws, computed without ROS: JPEG frames, temperatures under a pixel, ROI
outlines, stream health and a local map of geolocated detections.

Units: temperatures in deg C, uncertainties in K, times in ns (stamps) or ms (latencies),
positions on the map in metres east and north of the first fix.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from thermal_perception.core.measure import BoxRoi, PolygonRoi, SpotRoi, parse_roi


def encode_jpeg(image: NDArray[np.uint8], quality: int = 85) -> bytes:
    """JPEG bytes of a bgr8 (H, W, 3) or mono8 (H, W) image; ``quality`` 1..100."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 mono or bgr image, got {image.dtype} {image.shape}")
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


class TemperatureHistory:
    """The last few temperature images (32FC1, deg C) and their sigma images (K), by capture
    stamp, so that a pixel of the frame the page shows is read from that very frame.

    Memory is bounded: ``depth`` frames (640x512 float32: 1.3 MB each, twice with sigma).
    Thread-safe: frames arrive on the ROS thread, probes on the server's.
    """

    def __init__(self, depth: int = 8) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth = depth
        self._frames: OrderedDict[int, NDArray[np.float32]] = OrderedDict()
        self._sigma: OrderedDict[int, NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _put(store: OrderedDict[int, NDArray[np.float32]], stamp_ns: int,
             image: NDArray[np.float32], depth: int) -> None:
        store[stamp_ns] = image
        store.move_to_end(stamp_ns)
        while len(store) > depth:
            store.popitem(last=False)

    def add_temperature(self, stamp_ns: int, temperature_c: NDArray[np.float32]) -> None:
        """Keep a temperature image, deg C, (H, W); the array is kept, not copied."""
        with self._lock:
            self._put(self._frames, int(stamp_ns), temperature_c, self.depth)

    def add_sigma(self, stamp_ns: int, sigma_k: NDArray[np.float32]) -> None:
        """Keep the one-sigma uncertainty image, K, of the frame captured at ``stamp_ns``."""
        with self._lock:
            self._put(self._sigma, int(stamp_ns), sigma_k, self.depth)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._sigma.clear()

    def lookup(self, x: int, y: int, stamp_ns: int | None = None) -> dict[str, Any]:
        """Temperature (deg C) and sigma (K) at pixel (x right, y down).

        Reads the frame captured at ``stamp_ns`` when it is still kept, else the newest
        (``exact`` says which). Returns ``{"x", "y", "stamp_ns", "exact", "temperature_c",
        "sigma_k", "width", "height"}``; temperature and sigma are None when unknown (no frame,
        NaN pixel, no sigma image); ``error`` says why a value is missing.
        """
        with self._lock:
            if not self._frames:
                return {"x": x, "y": y, "stamp_ns": None, "exact": False,
                        "temperature_c": None, "sigma_k": None, "error": "no temperature yet"}
            exact = stamp_ns is not None and stamp_ns in self._frames
            stamp = stamp_ns if exact else next(reversed(self._frames))
            image = self._frames[stamp]
            sigma = self._sigma.get(stamp)
        height, width = image.shape[:2]
        result: dict[str, Any] = {"x": x, "y": y, "stamp_ns": stamp, "exact": exact,
                                  "width": width, "height": height,
                                  "temperature_c": None, "sigma_k": None}
        if not (0 <= x < width and 0 <= y < height):
            result["error"] = f"pixel ({x}, {y}) outside the {width}x{height} image"
            return result
        value = float(image[y, x])
        if math.isfinite(value):
            result["temperature_c"] = value
        else:
            result["error"] = "invalid pixel (saturated or bad)"
        if sigma is not None and sigma.shape == image.shape and math.isfinite(float(sigma[y, x])):
            result["sigma_k"] = float(sigma[y, x])
        return result


def roi_outlines(roi_strings: Iterable[str]) -> list[dict[str, Any]]:
    """Outlines of the processor's ``rois`` parameter strings, for drawing.

    Each: ``{"name", "shape", ...}`` with ``x, y, radius`` (spot, px), ``box: [x0, y0, x1,
    y1]`` (end-exclusive px) or ``points: [[x, y], ...]`` (polygon). Unparsable or empty
    strings are skipped (the processor refuses them anyway).
    """
    outlines: list[dict[str, Any]] = []
    for text in roi_strings:
        if not str(text).strip():
            continue
        try:
            roi = parse_roi(str(text))
        except ValueError:
            continue
        if isinstance(roi, SpotRoi):
            outlines.append({"name": roi.name, "shape": "spot", "x": roi.x, "y": roi.y,
                             "radius": roi.radius_px})
        elif isinstance(roi, BoxRoi):
            outlines.append({"name": roi.name, "shape": "box",
                             "box": [roi.x0, roi.y0, roi.x1, roi.y1]})
        elif isinstance(roi, PolygonRoi):
            outlines.append({"name": roi.name, "shape": "polygon",
                             "points": [list(v) for v in roi.vertices]})
    return outlines


@dataclass
class RateMeter:
    """Rate (Hz) and latency (ms) of a stream over the last ``window`` messages."""

    window: int = 60
    _arrivals: deque[float] = field(default_factory=deque)
    _latencies: deque[float] = field(default_factory=deque)
    count: int = 0

    def add(self, arrival_s: float, latency_ms: float | None = None) -> None:
        """One message, arrived at ``arrival_s`` (monotonic s), ``latency_ms`` after capture."""
        self.count += 1
        self._arrivals.append(arrival_s)
        if latency_ms is not None and math.isfinite(latency_ms):
            self._latencies.append(latency_ms)
        while len(self._arrivals) > self.window:
            self._arrivals.popleft()
        while len(self._latencies) > self.window:
            self._latencies.popleft()

    def rate_hz(self) -> float | None:
        if len(self._arrivals) < 2 or self._arrivals[-1] <= self._arrivals[0]:
            return None
        return (len(self._arrivals) - 1) / (self._arrivals[-1] - self._arrivals[0])

    def latency_ms(self, percentile: float = 50.0) -> float | None:
        if not self._latencies:
            return None
        return float(np.percentile(np.fromiter(self._latencies, float), percentile))


FFC_STATES = {0: "idle", 1: "imminent", 2: "in progress", 3: "complete"}


class LocalMap:
    """Geolocated points on a flat local map: metres east and north of the first position
    given (the UAV's first GPS fix, or the first detection), by pymap3d's ENU conversion.

    Keeps at most ``max_track`` platform positions and the last position of at most
    ``max_objects`` detections (by track id; untracked ones replace each other per label).
    """

    def __init__(self, max_track: int = 600, max_objects: int = 200) -> None:
        self.origin: tuple[float, float, float] | None = None
        self.track: deque[tuple[float, float]] = deque(maxlen=max_track)
        self.objects: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.max_objects = max_objects

    def _enu(self, lat_deg: float, lon_deg: float, alt_m: float) -> tuple[float, float]:
        import pymap3d

        if self.origin is None:
            self.origin = (lat_deg, lon_deg, alt_m)
        east, north, _ = pymap3d.geodetic2enu(lat_deg, lon_deg, alt_m, *self.origin)
        return round(float(east), 2), round(float(north), 2)

    def add_fix(self, lat_deg: float, lon_deg: float, alt_m: float = 0.0) -> None:
        """A position of the platform (degrees WGS84, ellipsoid height m); NaN is ignored."""
        if math.isfinite(lat_deg) and math.isfinite(lon_deg):
            self.track.append(self._enu(lat_deg, lon_deg, alt_m if math.isfinite(alt_m) else 0))

    def add_detection(self, label: str, track_id: int, lat_deg: float, lon_deg: float,
                      alt_m: float, sigma_m: float, temperature_c: float | None,
                      stamp_ns: int) -> None:
        """A geolocated detection; NaN positions are ignored."""
        if not (math.isfinite(lat_deg) and math.isfinite(lon_deg)):
            return
        east, north = self._enu(lat_deg, lon_deg, alt_m if math.isfinite(alt_m) else 0.0)
        key = f"{label}#{track_id}" if track_id else label
        self.objects[key] = {"label": label, "track_id": track_id, "east_m": east,
                             "north_m": north, "sigma_m": sigma_m, "lat": lat_deg,
                             "lon": lon_deg, "temperature_c": temperature_c,
                             "stamp_ns": stamp_ns}
        self.objects.move_to_end(key)
        while len(self.objects) > self.max_objects:
            self.objects.popitem(last=False)

    def snapshot(self) -> dict[str, Any]:
        """``{"origin": [lat, lon, alt] | None, "track": [[e, n], ...], "objects": [...]}``."""
        return {"origin": list(self.origin) if self.origin else None,
                "track": [list(p) for p in self.track],
                "objects": list(self.objects.values())}
