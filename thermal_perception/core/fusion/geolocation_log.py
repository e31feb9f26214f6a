"""The mission log of geolocated detections, written as GeoJSON (RFC 7946) and KML 2.2
(atomically, as the mission goes), one feature per detection with its position, uncertainty,
class, track and temperature. Positions WGS84 degrees and metres; times UTC.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

KML_NS = "http://www.opengis.net/kml/2.2"
NS_PER_S = 1_000_000_000

# --- mission log: GeoJSON and KML --------------------------------------------------------------

@dataclass(frozen=True)
class GeoDetection:
    """One located detection: time ns (UTC epoch), WGS84 degrees / ellipsoid height m,
    horizontal 1-sigma m, temperature deg C."""

    stamp_ns: int
    label: str
    track_id: int
    confidence: float
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    sigma_m: float
    max_temperature_c: float

    @property
    def time_iso(self) -> str:
        """ISO 8601 UTC time, microseconds, ``Z`` suffix."""
        seconds, ns = divmod(int(self.stamp_ns), NS_PER_S)
        t = datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=ns // 1000)
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    @property
    def position(self) -> list[float]:
        """[longitude, latitude(, altitude)] (RFC 7946 order); no altitude when unknown."""
        point = [round(self.longitude_deg, 9), round(self.latitude_deg, 9)]
        if math.isfinite(self.altitude_m):
            point.append(round(self.altitude_m, 3))
        return point


def _json_number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class GeoDetectionLog:
    """Located detections of a mission, written as GeoJSON (RFC 7946) and KML 2.2.

    GeoJSON: a FeatureCollection (WGS84, [longitude, latitude, ellipsoid height]) of one Point
    per detection (properties ``label, track_id, confidence, time, stamp_ns, sigma_m,
    max_temperature_c``) and one LineString per track (``track_id > 0``) with two or more
    detections, in time order. KML: the same as Placemarks; points are clamped to the ground
    (KML heights are above sea level, not the ellipsoid), the height is in the description.

    geojson_path, kml_path : output files (None: not written). Written atomically (temporary
        file in the same folder, then renamed), so a reader never sees a partial file.
    write_interval_s : least time between rewrites by :meth:`flush_if_due`, s.
    name : document name inside both files.
    """

    def __init__(self, geojson_path: str | Path | None, kml_path: str | Path | None,
                 write_interval_s: float = 5.0, name: str = "thermal detections") -> None:
        if not (math.isfinite(write_interval_s) and write_interval_s >= 0):
            raise ValueError(f"write_interval_s must be >= 0 s, got {write_interval_s}")
        self.geojson_path = Path(geojson_path) if geojson_path else None
        self.kml_path = Path(kml_path) if kml_path else None
        self.write_interval_s = float(write_interval_s)
        self.name = name
        self.detections: list[GeoDetection] = []
        self._last_write_s: float | None = None
        self._dirty = False

    def __len__(self) -> int:
        return len(self.detections)

    def add(self, stamp_ns: int, label: str, track_id: int, confidence: float,
            latitude_deg: float, longitude_deg: float, altitude_m: float, sigma_m: float,
            max_temperature_c: float) -> None:
        """Record one detection (see :class:`GeoDetection` for units). Latitude/longitude must
        be finite and in range; a NaN altitude, sigma or temperature is written as unknown."""
        lat, lon = float(latitude_deg), float(longitude_deg)
        if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90.0
                and abs(lon) <= 180.0):
            raise ValueError(f"detection position must be finite, latitude in [-90, 90] and "
                             f"longitude in [-180, 180] degrees; got ({lat}, {lon})")
        self.detections.append(GeoDetection(
            int(stamp_ns), str(label), int(track_id), float(confidence), lat, lon,
            float(altitude_m), float(sigma_m), float(max_temperature_c)))
        self._dirty = True

    def flush_if_due(self, now_s: float) -> bool:
        """Write the files when there is something new and ``write_interval_s`` has passed
        since the last write (or nothing was written yet, or the clock went back); returns
        whether they were written. ``now_s`` is any clock in seconds (e.g. ROS time)."""
        if not self._dirty:
            return False
        last = self._last_write_s
        if last is not None and 0.0 <= now_s - last < self.write_interval_s:
            return False
        self.write()
        self._last_write_s = float(now_s)
        return True

    def write(self) -> None:
        """Write both files now (atomically)."""
        if self.geojson_path is not None:
            _atomic_write(self.geojson_path, json.dumps(self.geojson(), indent=1,
                                                        allow_nan=False) + "\n")
        if self.kml_path is not None:
            _atomic_write(self.kml_path, self.kml())
        self._dirty = False

    def _tracks(self) -> dict[int, list[GeoDetection]]:
        tracks: dict[int, list[GeoDetection]] = {}
        for det in self.detections:
            if det.track_id > 0:
                tracks.setdefault(det.track_id, []).append(det)
        return {k: sorted(v, key=lambda d: d.stamp_ns) for k, v in sorted(tracks.items())
                if len(v) >= 2}

    def geojson(self) -> dict[str, Any]:
        """The GeoJSON FeatureCollection as a dict."""
        features: list[dict[str, Any]] = []
        for det in self.detections:
            features.append({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": det.position},
                "properties": {"label": det.label, "track_id": det.track_id,
                               "confidence": _json_number(det.confidence),
                               "time": det.time_iso, "stamp_ns": det.stamp_ns,
                               "sigma_m": _json_number(det.sigma_m),
                               "max_temperature_c": _json_number(det.max_temperature_c)}})
        for track_id, dets in self._tracks().items():
            points = [d.position for d in dets]
            if min(len(p) for p in points) == 2:  # one position without height: all 2-D
                points = [p[:2] for p in points]
            features.append({
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": points},
                "properties": {"kind": "track", "track_id": track_id, "label": dets[-1].label,
                               "start": dets[0].time_iso, "end": dets[-1].time_iso,
                               "detections": len(dets)}})
        return {"type": "FeatureCollection", "name": self.name, "features": features}

    def kml(self) -> str:
        """The KML 2.2 document as text."""

        def coordinates(det: GeoDetection) -> str:
            return ",".join(format(v, ".10g") for v in det.position)

        def number(value: float, unit: str, fmt: str) -> str:
            return f"{value:{fmt}} {unit}" if math.isfinite(value) else "unknown"

        parts = ['<?xml version="1.0" encoding="UTF-8"?>', f'<kml xmlns="{KML_NS}">',
                 "<Document>", f"<name>{escape(self.name)}</name>"]
        for det in self.detections:
            title = f"{det.label} #{det.track_id}" if det.track_id > 0 else det.label
            text = (f"{det.time_iso}; confidence {det.confidence:.2f}; max "
                    f"{number(det.max_temperature_c, 'C', '.1f')}; horizontal sigma "
                    f"{number(det.sigma_m, 'm', '.1f')}; ellipsoid height "
                    f"{number(det.altitude_m, 'm', '.1f')}")
            parts += ["<Placemark>", f"<name>{escape(title)}</name>",
                      f"<description>{escape(text)}</description>",
                      f"<TimeStamp><when>{det.time_iso}</when></TimeStamp>",
                      f"<Point><coordinates>{coordinates(det)}</coordinates></Point>",
                      "</Placemark>"]
        for track_id, dets in self._tracks().items():
            parts += ["<Placemark>", f"<name>{escape(dets[-1].label)} track {track_id}</name>",
                      f"<TimeSpan><begin>{dets[0].time_iso}</begin>"
                      f"<end>{dets[-1].time_iso}</end></TimeSpan>",
                      "<LineString><tessellate>1</tessellate><coordinates>"
                      + " ".join(coordinates(d) for d in dets)
                      + "</coordinates></LineString>", "</Placemark>"]
        parts += ["</Document>", "</kml>"]
        return "\n".join(parts) + "\n"
