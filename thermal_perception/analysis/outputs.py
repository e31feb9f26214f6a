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

from thermal_perception.analysis.bag_writing import atomic_write_text
from thermal_perception.analysis.detect import DetectionRecord
from thermal_perception.core.display.isotherm import draw_detections as draw_boxes

NS_PER_S = 1_000_000_000
FLOAT_FORMAT = ".10g"
GPS_MAX_GAP_S = 2.0  # a frame farther than this from every fix gets no position
IMU_MAX_GAP_S = 0.5  # a frame farther than this from every IMU orientation gets none
POSITION_NOTE = ("position of the platform (GPS fix of the frame), not of the detected object: "
                 "ground geolocation is not done")
GROUND_NOTE = ("position on the ground: the detection's centroid pixel cast onto flat ground "
               "from the GPS position and IMU orientation of the frame (sigma_m: horizontal "
               "1-sigma, m)")
FRAME_COLUMNS = ("frame", "stamp_ns", "time_s", "state", "ffc_applied", "ffc_count",
                 "fpa_temperature_c", "min_c", "max_c", "mean_c", "p99_c", "invalid_fraction",
                 "detections", "bad_pixels", "processing_ms", "latitude", "longitude",
                 "altitude_m")
POSITION_COLUMNS = ("latitude", "longitude", "altitude_m")
#: Ground position of a detection (NaN/empty when not geolocated): degrees, ellipsoid m, m.
GROUND_COLUMNS = ("ground_latitude", "ground_longitude", "ground_altitude_m", "ground_sigma_m")
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

    def interpolated(self, stamps_ns: NDArray[np.int64]) -> NDArray[np.float64]:
        """(N, 3) latitude, longitude, altitude linearly interpolated between the fixes around
        each stamp (the end fixes beyond them); NaN rows as :meth:`at` (longitudes are not
        unwrapped across +-180 degrees)."""
        out = self.at(stamps_ns)
        ok = np.isfinite(out[:, 0])
        if ok.any():
            order = np.argsort(self.stamps_ns, kind="stable")
            t = np.asarray(self.stamps_ns, np.float64)[order]
            for k, values in enumerate((self.latitude, self.longitude, self.altitude_m)):
                out[ok, k] = np.interp(np.asarray(stamps_ns, np.float64)[ok], t,
                                       np.asarray(values, np.float64)[order])
        return out


@dataclass
class ImuTrack:
    """``sensor_msgs/Imu`` orientations in time order: stamp ns, quaternion (x, y, z, w) of the
    IMU (taken as ``base_link``) in ENU (REP 145)."""

    topic: str = ""
    stamps_ns: list[int] = field(default_factory=list)
    quaternions: list[tuple[float, float, float, float]] = field(default_factory=list)

    def add(self, stamp_ns: int, xyzw: Sequence[float]) -> None:
        q = np.asarray(xyzw, np.float64)
        if q.shape == (4,) and np.all(np.isfinite(q)) and np.linalg.norm(q) > 0.5:
            self.stamps_ns.append(stamp_ns)
            self.quaternions.append(tuple(float(v) for v in q / np.linalg.norm(q)))

    def __len__(self) -> int:
        return len(self.stamps_ns)

    def at(self, stamps_ns: NDArray[np.int64]) -> NDArray[np.float64]:
        """(N, 4) orientations at the stamps, spherically interpolated between the samples
        around each (the end samples beyond them); NaN rows where the nearest sample is more
        than :data:`IMU_MAX_GAP_S` away."""
        from scipy.spatial.transform import Rotation, Slerp

        stamps = np.asarray(stamps_ns, np.int64)
        out = np.full((len(stamps), 4), np.nan)
        if not len(self) or not len(stamps):
            return out
        t, index = np.unique(np.asarray(self.stamps_ns, np.int64), return_index=True)
        rotations = Rotation.from_quat(np.asarray(self.quaternions)[index])
        right = np.clip(np.searchsorted(t, stamps), 0, len(t) - 1)
        left = np.clip(right - 1, 0, len(t) - 1)
        gap = np.minimum(np.abs(t[left] - stamps), np.abs(t[right] - stamps))
        close = gap <= IMU_MAX_GAP_S * NS_PER_S
        if len(t) == 1:
            out[close] = rotations.as_quat()[0]
        elif close.any():
            times = np.clip(stamps[close], t[0], t[-1]).astype(np.float64)
            out[close] = Slerp(t.astype(np.float64), rotations)(times).as_quat()
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
                   detections: Sequence[tuple[int, DetectionRecord]],
                   ground: NDArray[np.float64] | None = None) -> list[tuple[Any, ...]]:
    """Rows of detections.csv: frame, stamp, time, the detection's fields, platform position,
    ground position (``ground``: (D, 4) rows of :data:`GROUND_COLUMNS`; None: unknown)."""
    rows = []
    unknown = (math.nan,) * len(GROUND_COLUMNS)
    for k, (index, det) in enumerate(detections):
        f = frames[index]
        located = unknown if ground is None else tuple(float(v) for v in ground[k])
        rows.append((f.frame, f.stamp_ns, f.time_s, *det.row(), f.latitude, f.longitude,
                     f.altitude_m, *located))
    return rows


def detection_columns() -> list[str]:
    """Columns of detections.csv."""
    return [*DETECTION_PREFIX, *DetectionRecord.columns(), *POSITION_COLUMNS, *GROUND_COLUMNS]


def _on_ground(ground: NDArray[np.float64] | None, k: int) -> bool:
    return ground is not None and bool(np.all(np.isfinite(ground[k, :2])))


def _ground_point(ground: NDArray[np.float64], k: int) -> list[float]:
    lat, lon, alt = (float(v) for v in ground[k, :3])
    return [lon, lat, alt] if math.isfinite(alt) else [lon, lat]


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
                  detections: Sequence[tuple[int, DetectionRecord]], bag_name: str,
                  ground: NDArray[np.float64] | None = None) -> int:
    """GeoJSON FeatureCollection: one Point per detection, on the ground where ``ground``
    (see :func:`detection_rows`) has its position, else at its frame's platform position,
    and the platform's track as a LineString. Returns the number of detection features."""
    features: list[dict[str, Any]] = []
    for k, (index, det) in enumerate(detections):
        f = frames[index]
        if _on_ground(ground, k):
            props = _properties(f, det)
            props.update(position_source="ground_geolocation", position_note=GROUND_NOTE,
                         sigma_m=float(ground[k, 3]) if math.isfinite(ground[k, 3]) else None)
            features.append({"type": "Feature",
                             "geometry": {"type": "Point", "coordinates": _ground_point(
                                 ground, k)},
                             "properties": props})
        elif math.isfinite(f.latitude):
            features.append({"type": "Feature",
                             "geometry": {"type": "Point", "coordinates": _lon_lat_alt(f)},
                             "properties": _properties(f, det)})
    placed = len(features)
    track = [_lon_lat_alt(f) for f in frames if math.isfinite(f.latitude)]
    if len(track) >= 2:
        features.append({"type": "Feature",
                         "geometry": {"type": "LineString", "coordinates": track},
                         "properties": {"kind": "platform_track", "bag": bag_name}})
    note = GROUND_NOTE if ground is not None and np.isfinite(ground[:, 0]).any() \
        else POSITION_NOTE
    collection = {"type": "FeatureCollection", "name": f"{bag_name} detections",
                  "position_note": note, "features": features}
    atomic_write_text(path, json.dumps(collection, indent=1, allow_nan=False) + "\n")
    return placed


def write_kml(path: Path, frames: Sequence[FrameRow],
              detections: Sequence[tuple[int, DetectionRecord]], bag_name: str,
              ground: NDArray[np.float64] | None = None) -> None:
    """KML: a Placemark per detection (on the ground where ``ground`` has its position, else at
    the platform position), and the platform track."""

    def coordinates(f: FrameRow) -> str:
        return ",".join(format(v, FLOAT_FORMAT) for v in _lon_lat_alt(f))

    located = ground is not None and bool(np.isfinite(ground[:, 0]).any())
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', f'<kml xmlns="{KML_NS}">', "<Document>",
             f"<name>{escape(bag_name)} detections</name>",
             f"<description>{escape(GROUND_NOTE if located else POSITION_NOTE)}</description>"]
    for k, (index, det) in enumerate(detections):
        f = frames[index]
        if _on_ground(ground, k):
            where = ",".join(format(v, FLOAT_FORMAT) for v in _ground_point(ground, k))
            note = f"{GROUND_NOTE}; sigma {ground[k, 3]:.1f} m"
        elif math.isfinite(f.latitude):
            where, note = coordinates(f), POSITION_NOTE
        else:
            continue
        name = f"{det.label} #{det.track_id}" if det.track_id else det.label
        text = (f"frame {f.frame}, t = {f.time_s:.3f} s, confidence {det.confidence:.2f}, "
                f"max {det.max_c:.1f} C, mean {det.mean_c:.1f} C; {note}")
        parts += ["<Placemark>", f"<name>{escape(name)}</name>",
                  f"<description>{escape(text)}</description>",
                  f"<Point><coordinates>{where}</coordinates></Point>", "</Placemark>"]
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
