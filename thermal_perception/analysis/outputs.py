"""Files of the offline analysis: CSV (and Parquet) tables, GeoJSON and KML of detections,
and the annotated video. Every file is written under a temporary name and renamed into place,
so an interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import cv2
import numpy as np
from numpy.typing import NDArray

from thermal_perception.analysis.bagio import atomic_write_text
from thermal_perception.analysis.detect import DetectionRecord
from thermal_perception.core.isotherm import draw_detections as draw_boxes

NS_PER_S = 1_000_000_000
FLOAT_FORMAT = ".10g"
GPS_MAX_GAP_S = 2.0  # a frame farther than this from every fix gets no position
POSITION_NOTE = ("position of the platform (GPS fix of the frame), not of the detected object: "
                 "ground geolocation is not done")
FRAME_COLUMNS = ("frame", "stamp_ns", "time_s", "state", "ffc_applied", "ffc_count",
                 "fpa_temperature_c", "min_c", "max_c", "mean_c", "p99_c", "invalid_fraction",
                 "detections", "bad_pixels", "processing_ms", "latitude", "longitude",
                 "altitude_m")
POSITION_COLUMNS = ("latitude", "longitude", "altitude_m")
DETECTION_PREFIX = ("frame", "stamp_ns", "time_s")
STATE_PROCESSED, STATE_SHUTTER, STATE_REJECTED = "processed", "shutter", "rejected"
# Box colours by label, BGR.
KML_NS = "http://www.opengis.net/kml/2.2"


@dataclass
class FrameRow:
    """One row of frames.csv (temperatures deg C, times from the first frame, s)."""

    frame: int
    stamp_ns: int
    time_s: float
    state: str
    ffc_applied: int
    ffc_count: int
    fpa_temperature_c: float
    min_c: float = math.nan
    max_c: float = math.nan
    mean_c: float = math.nan
    p99_c: float = math.nan
    invalid_fraction: float = math.nan
    detections: int = 0
    bad_pixels: int = 0
    processing_ms: float = math.nan
    latitude: float = math.nan
    longitude: float = math.nan
    altitude_m: float = math.nan


@dataclass
class GpsTrack:
    """NavSatFix positions in time order: receive/stamp time ns, degrees, metres."""

    topic: str = ""
    stamps_ns: list[int] = field(default_factory=list)
    latitude: list[float] = field(default_factory=list)
    longitude: list[float] = field(default_factory=list)
    altitude_m: list[float] = field(default_factory=list)

    def add(self, stamp_ns: int, latitude: float, longitude: float, altitude_m: float) -> None:
        if math.isfinite(latitude) and math.isfinite(longitude):
            self.stamps_ns.append(stamp_ns)
            self.latitude.append(latitude)
            self.longitude.append(longitude)
            self.altitude_m.append(altitude_m)

    def __len__(self) -> int:
        return len(self.stamps_ns)

    def at(self, stamps_ns: NDArray[np.int64]) -> NDArray[np.float64]:
        """(N, 3) latitude, longitude, altitude of the fix nearest each stamp (NaN rows where
        the nearest fix is more than :data:`GPS_MAX_GAP_S` away)."""
        out = np.full((len(stamps_ns), 3), np.nan)
        if not len(self) or not len(stamps_ns):
            return out
        order = np.argsort(self.stamps_ns, kind="stable")
        t = np.asarray(self.stamps_ns, np.int64)[order]
        fixes = np.column_stack([self.latitude, self.longitude, self.altitude_m])[order]
        right = np.clip(np.searchsorted(t, stamps_ns), 0, len(t) - 1)
        left = np.clip(right - 1, 0, len(t) - 1)
        nearest = np.where(np.abs(t[left] - stamps_ns) <= np.abs(t[right] - stamps_ns),
                           left, right)
        close = np.abs(t[nearest] - stamps_ns) <= GPS_MAX_GAP_S * NS_PER_S
        out[close] = fixes[nearest[close]]
        return out


def _cell(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return "" if not math.isfinite(value) else format(float(value), FLOAT_FORMAT)
    return value


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """CSV with a header; NaN as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(v) for v in row] for row in rows)
    atomic_write_text(path, buffer.getvalue())


def write_parquet(path: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bool:
    """Parquet copy of a table when pyarrow is installed; returns whether it was written."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)})
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return True


def detection_rows(frames: Sequence[FrameRow],
                   detections: Sequence[tuple[int, DetectionRecord]]) -> list[tuple[Any, ...]]:
    """Rows of detections.csv: frame, stamp, time, the detection's fields, platform position."""
    rows = []
    for index, det in detections:
        f = frames[index]
        rows.append((f.frame, f.stamp_ns, f.time_s, *det.row(), f.latitude, f.longitude,
                     f.altitude_m))
    return rows


def detection_columns() -> list[str]:
    """Columns of detections.csv."""
    return [*DETECTION_PREFIX, *DetectionRecord.columns(), *POSITION_COLUMNS]


def _properties(frame: FrameRow, det: DetectionRecord) -> dict[str, Any]:
    props: dict[str, Any] = {"frame": frame.frame, "stamp_ns": frame.stamp_ns,
                             "time_s": frame.time_s}
    for name, value in zip(DetectionRecord.columns(), det.row(), strict=True):
        props[name] = None if isinstance(value, float) and not math.isfinite(value) else value
    props["position_source"] = "platform_gps"
    props["position_note"] = POSITION_NOTE
    return props


def _lon_lat_alt(frame: FrameRow) -> list[float]:
    point = [frame.longitude, frame.latitude]
    if math.isfinite(frame.altitude_m):
        point.append(frame.altitude_m)
    return point


def write_geojson(path: Path, frames: Sequence[FrameRow],
                  detections: Sequence[tuple[int, DetectionRecord]], bag_name: str) -> int:
    """GeoJSON FeatureCollection: one Point per detection at its frame's platform position,
    and the platform's track as a LineString. Returns the number of detection features."""
    features: list[dict[str, Any]] = []
    for index, det in detections:
        f = frames[index]
        if math.isfinite(f.latitude):
            features.append({"type": "Feature",
                             "geometry": {"type": "Point", "coordinates": _lon_lat_alt(f)},
                             "properties": _properties(f, det)})
    placed = len(features)
    track = [_lon_lat_alt(f) for f in frames if math.isfinite(f.latitude)]
    if len(track) >= 2:
        features.append({"type": "Feature",
                         "geometry": {"type": "LineString", "coordinates": track},
                         "properties": {"kind": "platform_track", "bag": bag_name}})
    collection = {"type": "FeatureCollection", "name": f"{bag_name} detections",
                  "position_note": POSITION_NOTE, "features": features}
    atomic_write_text(path, json.dumps(collection, indent=1, allow_nan=False) + "\n")
    return placed


def write_kml(path: Path, frames: Sequence[FrameRow],
              detections: Sequence[tuple[int, DetectionRecord]], bag_name: str) -> None:
    """KML: a Placemark per detection at the platform position, and the platform track."""

    def coordinates(f: FrameRow) -> str:
        return ",".join(format(v, FLOAT_FORMAT) for v in _lon_lat_alt(f))

    parts = ['<?xml version="1.0" encoding="UTF-8"?>', f'<kml xmlns="{KML_NS}">', "<Document>",
             f"<name>{escape(bag_name)} detections</name>",
             f"<description>{escape(POSITION_NOTE)}</description>"]
    for index, det in detections:
        f = frames[index]
        if not math.isfinite(f.latitude):
            continue
        name = f"{det.label} #{det.track_id}" if det.track_id else det.label
        text = (f"frame {f.frame}, t = {f.time_s:.3f} s, confidence {det.confidence:.2f}, "
                f"max {det.max_c:.1f} C, mean {det.mean_c:.1f} C; {POSITION_NOTE}")
        parts += ["<Placemark>", f"<name>{escape(name)}</name>",
                  f"<description>{escape(text)}</description>",
                  f"<Point><coordinates>{coordinates(f)}</coordinates></Point>", "</Placemark>"]
    track = [coordinates(f) for f in frames if math.isfinite(f.latitude)]
    if len(track) >= 2:
        parts += ["<Placemark>", "<name>platform track</name>",
                  f"<LineString><coordinates>{' '.join(track)}</coordinates></LineString>",
                  "</Placemark>"]
    parts += ["</Document>", "</kml>"]
    atomic_write_text(path, "\n".join(parts) + "\n")


def draw_detections(bgr: NDArray[np.uint8], detections: Sequence[DetectionRecord]) -> None:
    """Boxes and labels (``label #track max C``) on a BGR image, in place."""
    draw_boxes(bgr, ((d.label, d.x0, d.y0, d.x1, d.y1, d.track_id, d.max_c)
                     for d in detections))


class VideoOutput:
    """MP4 (``mp4v``) of BGR frames, written to a temporary name and renamed by
    :meth:`finish`.

    Parameters
    ----------
    path : the final ``.mp4`` path.
    fps : frame rate of the video, Hz.
    """

    FOURCC = "mp4v"

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.stem}.partial{path.suffix}")
        self.fps = fps
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None

    def write(self, bgr: NDArray[np.uint8]) -> None:
        """Append one frame (all frames must have the size of the first)."""
        if self._writer is None:
            height, width = bgr.shape[:2]
            self._writer = cv2.VideoWriter(str(self.partial),
                                           cv2.VideoWriter_fourcc(*self.FOURCC), self.fps,
                                           (width, height))
            if not self._writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write {self.FOURCC} video to {self.partial}")
        self._writer.write(bgr)
        self.frames += 1

    def finish(self) -> bool:
        """Close and move into place; False when no frame was written."""
        if self._writer is None:
            return False
        self._writer.release()
        self._writer = None
        os.replace(self.partial, self.path)
        return True

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        with contextlib.suppress(OSError):
            os.unlink(self.partial)
