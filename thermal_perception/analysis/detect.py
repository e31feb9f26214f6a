"""Pluggable detection and tracking for the offline analysis.

A detector here is any object with ``reset()`` and ``__call__(temperature_c, dt_s, gsd_m,
ego_shift_px) -> list[DetectionRecord]``. :func:`make_detector` builds one from a spec:

* ``"auto"``: the package's classical detectors (``thermal_perception.core.detection``:
  HotspotDetector and WarmBodyDetector, tracked by ``core.tracking.MultiObjectTracker``),
  configured by the detector node's parameters, when they are importable; else none;
* ``"none"``: no detection (detection outputs are written empty);
* ``"MODULE:FACTORY"``: ``FACTORY()`` from an importable module returns the detector.

The ego-motion of the camera (shift of static scene content between frames, pixels) can be
estimated by phase correlation of downsampled frames (:class:`EgoMotion`; off by default,
since the live detector node does not use it).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields, replace
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

AUTO, NONE = "auto", "none"
EGO_DOWNSAMPLE = 4  # phase correlation on frames shrunk by this factor (speed)
EGO_MIN_RESPONSE = 0.05  # weaker correlation peaks are no reliable shift: (0, 0) instead


@dataclass
class DetectionRecord:
    """One detection of a frame (fields as in ThermalDetection.msg).

    Pixels x right, y down; bbox x1, y1 exclusive; temperatures deg C; area_m2 NaN when the
    ground sample distance is unknown; track_id 0 when untracked.
    """

    label: str
    confidence: float
    x0: int
    y0: int
    x1: int
    y1: int
    centroid_x: float
    centroid_y: float
    max_c: float
    mean_c: float
    area_px: int
    area_m2: float = math.nan
    track_id: int = 0

    @classmethod
    def columns(cls) -> list[str]:
        """Field names, in order."""
        return [f.name for f in fields(cls)]

    def row(self) -> tuple[Any, ...]:
        """Field values, in :meth:`columns` order."""
        return astuple(self)


def record_from(obj: Any) -> DetectionRecord:
    """DetectionRecord of a ``core.detection.Detection`` (or any object with its fields:
    ``bbox`` (x0, y0, x1, y1) and ``centroid`` (x, y), or the flat x0 ... centroid_y)."""
    bbox = getattr(obj, "bbox", None) or (obj.x0, obj.y0, obj.x1, obj.y1)
    centroid = getattr(obj, "centroid", None) or (obj.centroid_x, obj.centroid_y)
    return DetectionRecord(
        label=str(obj.label), confidence=float(obj.confidence),
        x0=int(bbox[0]), y0=int(bbox[1]), x1=int(bbox[2]), y1=int(bbox[3]),
        centroid_x=float(centroid[0]), centroid_y=float(centroid[1]),
        max_c=float(getattr(obj, "max_c", math.nan)),
        mean_c=float(getattr(obj, "mean_c", math.nan)),
        area_px=int(getattr(obj, "area_px", 0)),
        area_m2=float(getattr(obj, "area_m2", math.nan)),
        track_id=int(getattr(obj, "track_id", 0) or 0))


class Detector(Protocol):
    """What the analysis calls per frame."""

    name: str

    def reset(self) -> None: ...

    def __call__(self, temperature_c: NDArray[np.float32], dt_s: float, gsd_m: float | None,
                 ego_shift_px: tuple[float, float]) -> list[DetectionRecord]: ...


class CoreDetector:
    """The package's detectors and tracker, configured and run as the live detector node does
    (``thermal_perception.nodes.detector``): hotspots/fire, then warm bodies, detections below
    ``min_confidence`` dropped, then tracking (only confirmed tracks are reported).

    Parameters
    ----------
    values : the detector node's parameter values (:data:`.params.DETECTOR_DEFAULTS`).

    Warm bodies are only looked for when the ground sample distance is known (their size
    gates are in metres); hotspots and fire always.
    """

    name = "core"

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        from thermal_perception.analysis.params import DETECTOR_DEFAULTS
        from thermal_perception.core.detection import kernels as detection_kernels
        from thermal_perception.settings.detector import detectors_from, needs_gsd

        self.values = {**DETECTOR_DEFAULTS, **(values or {})}
        self._bodies, self._hot = detectors_from(self.values)
        self.needs_gsd = needs_gsd(self._bodies)
        detection_kernels.warm_up()  # compiled before the first frame (a node's loads aside)
        self.reset()

    def reset(self) -> None:
        from thermal_perception.settings.detector import tracker_from

        self._hot.reset()
        self._tracker = tracker_from(self.values) if self.values["tracking"] else None
        self.tracked: list[Tracked] = []  # reported tracks, image velocity px/s

    @property
    def tracking(self) -> bool:
        """Whether detections are tracked (then :meth:`predict` has something to move)."""
        return self._tracker is not None

    def describe(self) -> str:
        v = self.values
        people = "WarmBodyDetector" if v.get("people_detector", "warm_body") == "warm_body" \
            else f"LearnedDetector ({self._bodies.path.name})"
        parts = [name for name, key in (("HotspotDetector", "hotspots"),
                                        (people, "warm_bodies")) if v[key]]
        text = " + ".join(parts) or "no detector enabled"
        return text + (" with MultiObjectTracker (confirmed tracks)" if v["tracking"] else "")

    def __call__(self, temperature_c: NDArray[np.float32], dt_s: float, gsd_m: float | None,
                 ego_shift_px: tuple[float, float]) -> list[DetectionRecord]:
        v = self.values
        found = []
        if v["hotspots"]:
            found += self._hot.detect(temperature_c, gsd_m, ego_shift_px)
        if v["warm_bodies"] and (gsd_m is not None or not self.needs_gsd):
            found += self._bodies.detect(temperature_c, gsd_m)
        found = [d for d in found if d.confidence >= v["min_confidence"]]
        if self._tracker is not None:
            found = self._tracker.update(found, max(dt_s, 0.0), ego_shift_px)
            # For predict(): each reported track's image velocity, its own plus the camera's.
            ego_x, ego_y = (ego_shift_px[0] / dt_s, ego_shift_px[1] / dt_s) if dt_s > 0 \
                else (0.0, 0.0)
            velocity = {t.track_id: t.velocity for t in self._tracker.tracks if t.track_id}
            records = [record_from(d) for d in found]
            self.tracked = [(r, velocity[r.track_id][0] + ego_x, velocity[r.track_id][1] + ego_y)
                            for r in records]
            return [replace(r) for r in records]
        return [record_from(d) for d in found]

    def predict(self, elapsed_s: float) -> list[DetectionRecord]:
        """The tracks reported at the last detection, moved on by ``elapsed_s`` seconds at
        their image velocity (pixels/s; constant-velocity prediction, as the tracker's
        Kalman filters make), for the frames between detection frames. Temperatures, areas
        and confidences are those of the last detection; empty without tracking."""
        return predict_tracks(self.tracked, elapsed_s)


Tracked = tuple[DetectionRecord, float, float]  # a reported track, image velocity x, y (px/s)


def predict_tracks(tracked: Sequence[Tracked], elapsed_s: float) -> list[DetectionRecord]:
    """New records of ``tracked`` moved on by ``elapsed_s`` seconds at their image velocity
    (pixels/s): boxes by whole pixels, centroids exactly (see :meth:`CoreDetector.predict`)."""
    out = []
    for det, vx, vy in tracked:
        record = replace(det)
        dx, dy = vx * elapsed_s, vy * elapsed_s
        ix, iy = round(dx), round(dy)
        record.x0, record.x1 = record.x0 + ix, record.x1 + ix
        record.y0, record.y1 = record.y0 + iy, record.y1 + iy
        record.centroid_x += dx
        record.centroid_y += dy
        out.append(record)
    return out


class CallableDetector:
    """Adapter for a user detector: a callable ``f(temperature_c) -> detections`` or an object
    with ``detect(temperature_c, ...)``; detections are converted by :func:`record_from`."""

    def __init__(self, target: Any, name: str) -> None:
        self.target = target
        self.name = name

    def reset(self) -> None:
        reset = getattr(self.target, "reset", None)
        if callable(reset):
            reset()

    def __call__(self, temperature_c: NDArray[np.float32], dt_s: float, gsd_m: float | None,
                 ego_shift_px: tuple[float, float]) -> list[DetectionRecord]:
        detect = getattr(self.target, "detect", None)
        found = detect(temperature_c) if callable(detect) else self.target(temperature_c)
        return [d if isinstance(d, DetectionRecord) else record_from(d) for d in found]


def core_detection_available() -> bool:
    """Whether ``thermal_perception.core.detection`` (detectors and tracking) imports."""
    try:
        importlib.import_module("thermal_perception.core.detection")
    except ImportError:
        return False
    return True


def make_detector(spec: str, values: dict[str, Any] | None = None
                  ) -> tuple[Detector | None, str]:
    """Detector for ``spec`` ("auto", "none" or "MODULE:FACTORY") and a note for the report;
    ``values`` are the detector node's parameters (for "auto").

    Raises ValueError for a factory that cannot be imported."""
    if spec == NONE:
        return None, "detection disabled (--detector none)"
    if spec == AUTO:
        if not core_detection_available():
            return None, ("detection not available (thermal_perception.core.detection is not "
                          "importable): detection outputs are empty")
        detector = CoreDetector(values)
        return detector, detector.describe()
    module_name, _, attr = spec.partition(":")
    if not (module_name and attr):
        raise ValueError(f"--detector expects auto, none or MODULE:FACTORY, got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"detector {spec!r} cannot be imported: {exc}") from exc
    target = factory()
    detector = target if isinstance(target, CoreDetector) else CallableDetector(target, spec)
    return detector, f"detector {spec}"


class EgoMotion:
    """Shift of static scene content between consecutive frames, pixels (x right, y down), by
    phase correlation of frames downsampled by :data:`EGO_DOWNSAMPLE`."""

    def __init__(self) -> None:
        self._previous: NDArray[np.float32] | None = None
        self._window: NDArray[np.float32] | None = None

    def reset(self) -> None:
        self._previous = None

    def update(self, temperature_c: NDArray[np.float32]) -> tuple[float, float]:
        """Shift since the previous frame ((0, 0) for the first one or a weak peak)."""
        height, width = temperature_c.shape
        size = (max(width // EGO_DOWNSAMPLE, 1), max(height // EGO_DOWNSAMPLE, 1))
        small = cv2.resize(temperature_c, size, interpolation=cv2.INTER_AREA)
        finite = np.isfinite(small)
        fill = float(small[finite].mean()) if finite.any() else 0.0
        small = np.where(finite, small - fill, np.float32(0.0)).astype(np.float32)
        if self._window is None or self._window.shape != small.shape:
            self._window = cv2.createHanningWindow(size, cv2.CV_32F)
            self._previous = None
        previous, self._previous = self._previous, small
        if previous is None:
            return (0.0, 0.0)
        (dx, dy), response = cv2.phaseCorrelate(previous, small, self._window)
        if not response >= EGO_MIN_RESPONSE:
            return (0.0, 0.0)
        return (float(dx) * EGO_DOWNSAMPLE, float(dy) * EGO_DOWNSAMPLE)


def detections_message(store: Any, header: Any, detections: Sequence[DetectionRecord]) -> Any:
    """thermal_perception/msg/ThermalDetectionArray of ``detections`` (rosbags typestore)."""
    types = store.types
    item = types["thermal_perception/msg/ThermalDetection"]
    return types["thermal_perception/msg/ThermalDetectionArray"](header=header, detections=[
        item(label=d.label, confidence=float(d.confidence), track_id=int(d.track_id),
             x0=int(d.x0), y0=int(d.y0), x1=int(d.x1), y1=int(d.y1),
             centroid_x=float(d.centroid_x), centroid_y=float(d.centroid_y),
             max_temperature_c=float(d.max_c), mean_temperature_c=float(d.mean_c),
             area_px=int(d.area_px), area_m2=float(d.area_m2))
        for d in detections])
