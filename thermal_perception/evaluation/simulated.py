"""Evaluation of detection and tracking against the simulator's ground truth.

Pure numpy + OpenCV + SciPy; no ROS imports. Truth objects come from the simulated world: each
object of ``world.objects`` (stable identity = its index) owns the cells of its label's
connected component that contains its centre (people, animals, vehicles; for fires the flames
and the burned ground). A frame's truth is the view of that object map at the camera offset,
the same nearest-cell sampling as the simulator's label truth.

Metrics
-------
* Detection, per class: detections are matched one-to-one to truth objects of their class by
  centroid distance (Hungarian assignment, gated at the larger of ``gate_px`` and half the
  truth's box diagonal). Only *evaluable* truths count: at least ``min_size_px`` across (largest
  footprint side / GSD), ``min_visible_fraction`` of their cells in view, and a thermal
  contrast of at least ``min_contrast_k`` (apparent temperature over the 80th percentile of
  the surroundings: a person lying on sun-warmed asphalt at its temperature is invisible in
  any thermal image; ``min_contrast_k=-inf`` counts them too). Detections on
  non-evaluable truths (cut by the frame edge, too small) are ignored, others unmatched are
  false positives. Precision, recall and F1 over a sequence.
* Fire: a visible fire (at least ``min_fire_px`` flame pixels in view) is found if a fire
  detection's box overlaps its footprint's box; fire detections overlapping no fire are false
  alarms.
* Tracking (warm bodies, class-agnostic): MOTA = 1 - (FN + FP + IDSW) / GT over the confirmed
  tracker outputs; an identity switch is a truth object matched to a track id other than the
  one it last had.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.constants import zero_Celsius
from scipy.optimize import linear_sum_assignment

from thermal_perception.core.detection import Detection, HotspotDetector, WarmBodyDetector
from thermal_perception.core.detection.tracking import MultiObjectTracker
from thermal_perception.evaluation.boxes import MotCounts
from thermal_perception.sim.truth import LABELS as TRUTH_LABELS
from thermal_perception.sim.truth import SceneTruth

__all__ = [
    "WARM_BODY_LABELS",
    "ClassCounts",
    "MotAccumulator",
    "SceneObjectIndex",
    "TruthObject",
    "combine_reports",
    "evaluate_sequence",
    "match_by_distance",
    "object_contrast_k",
    "score_fire",
    "score_warm_bodies",
    "world_object_map",
]

#: Truth and detection classes of the warm-body detector.
WARM_BODY_LABELS = ("person", "animal")
#: Object classes with an identity map (fires: flames and burned ground).
OBJECT_LABELS = ("person", "animal", "vehicle", "fire")
DEFAULT_GATE_PX = 3.0        # smallest matching distance, pixels (a small body's centroid)
DEFAULT_MIN_SIZE_PX = 4.0    # "at least 4 px across"
DEFAULT_VISIBLE_FRACTION = 0.5  # objects mostly in view are evaluated, the rest ignored
DEFAULT_MIN_FIRE_PX = 3      # a fire counts once this many flame pixels are in view
DEFAULT_MARGIN_PX = 2        # bilinear sampling and blur reach this far into the frame
# An object warmer than 80 % of its surroundings by less than this (apparent, at the camera) is
# camouflaged: the ground texture (~1.2 K rms) hides it from any thermal detector, K.
DEFAULT_MIN_CONTRAST_K = 1.0
SURROUND_M = 0.5             # width of the surroundings ring of an object, m
SURROUND_PERCENTILE = 80.0   # "warmer than most of its surroundings"
_FORBIDDEN = 1e9
_FIRE_MARGIN_PX = 1          # a pixel's radiance mixes the cells within one cell of it
_PER_100 = 100.0


def world_object_map(world: SceneTruth, labels: Iterable[str] = OBJECT_LABELS
                     ) -> NDArray[np.int32]:
    """Cells of each world object: 0 = none, ``i + 1`` = ``world.objects[i]``.

    Each object owns the connected component (8-connected) of its label that contains its
    centre cell; touching objects of the same class split the component by nearest centre.
    Components without a centre (the centre painted over) go to the nearest object of the
    class. Fire objects own their flames and burned ground.
    """
    ids = np.zeros(world.shape, np.int32)
    h, w = world.shape
    for name in labels:
        members = [i for i, o in enumerate(world.objects) if o["label"] == name]
        if not members:
            continue
        mask = world.labels == TRUTH_LABELS[name]
        if name == "fire":
            mask |= world.labels == TRUTH_LABELS["burned"]
        n, comp = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
        if n <= 1:
            continue
        centres = np.array([world.objects[i]["centre_px"] for i in members], np.float64)
        cells = np.clip(np.rint(centres).astype(np.int64), 0, [w - 1, h - 1])
        owner = comp[cells[:, 1], cells[:, 0]]
        lut = np.zeros(n, np.int32)
        shared = []
        for k in range(1, n):
            inside = np.flatnonzero(owner == k)
            if len(inside) == 1:
                lut[k] = members[inside[0]] + 1
            else:
                shared.append((k, inside))
        ids_comp = lut[comp]
        if shared:
            slices = ndimage.find_objects(comp)
            for k, inside in shared:
                sl = slices[k - 1]
                rows, cols = np.nonzero(comp[sl] == k)
                rows = rows + sl[0].start
                cols = cols + sl[1].start
                cand = inside if len(inside) else np.arange(len(members))
                d = ((cols[:, None] - centres[cand, 0]) ** 2
                     + (rows[:, None] - centres[cand, 1]) ** 2)
                ids_comp[rows, cols] = np.asarray(members)[cand[d.argmin(axis=1)]] + 1
        ids[mask] = ids_comp[mask]
    return ids


def object_contrast_k(ids: NDArray[np.int32], apparent_c: NDArray[np.float32],
                      ring_px: int) -> NDArray[np.float64]:
    """Thermal contrast of every object of an id map (see :func:`world_object_map`), K.

    Mean apparent temperature of the object's cells minus the 80th percentile of the cells
    within ``ring_px`` around it (other objects included: a car beside a person is part of
    what the person must stand out from). Entry ``i`` is object id ``i``
    (entry 0 unused, NaN); objects without surroundings get +inf.
    """
    n = int(ids.max()) + 1
    out = np.full(n, np.nan)
    kernel = np.ones((2 * ring_px + 1,) * 2, np.uint8)
    for k, sl in enumerate(ndimage.find_objects(ids), start=1):
        if sl is None:
            continue
        rows = slice(max(0, sl[0].start - ring_px), sl[0].stop + ring_px)
        cols = slice(max(0, sl[1].start - ring_px), sl[1].stop + ring_px)
        win = ids[rows, cols]
        cells = win == k
        ring = (cv2.dilate(cells.view(np.uint8), kernel) > 0) & ~cells
        temps = apparent_c[rows, cols]
        out[k] = (float(temps[cells].mean()) - float(np.percentile(temps[ring],
                                                                   SURROUND_PERCENTILE))
                  if ring.any() else math.inf)
    return out


@dataclass
class TruthObject:
    """A world object as seen in one frame.

    Attributes
    ----------
    object_index : index in ``world.objects`` (stable identity).
    label : 'person', 'animal', 'vehicle' or 'fire'.
    centroid : (x, y) of its visible cells, pixels.
    bbox : (x0, y0, x1, y1) of its visible cells, pixels (x1, y1 exclusive).
    area_px : visible cells.
    visible_fraction : visible cells / all its cells in the world.
    size_px : largest footprint side over the GSD, pixels.
    flame_px : flame cells in view (fires), else 0.
    contrast_k : apparent temperature of the object over the 80th percentile of its
        surroundings, K (see :func:`object_contrast_k`).
    evaluable : counted by the metrics (else matches to it are ignored).
    """

    object_index: int
    label: str
    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]
    area_px: int
    visible_fraction: float
    size_px: float
    flame_px: int = 0
    contrast_k: float = math.inf
    evaluable: bool = True


class SceneObjectIndex:
    """Object identities of a simulator's world, and the objects in view at a time.

    Parameters
    ----------
    simulator : a :class:`~thermal_perception.sim.simulator.ThermalSimulator` (anything with
        ``world``, ``gsd_m``, ``profile`` and ``camera_offset_px(time_s)``).
    min_size_px, min_visible_fraction, min_fire_px : evaluability rules (module docstring).
    margin_px : objects this close outside the frame are listed too, as not evaluable.
    min_contrast_k : bodies and vehicles with a smaller thermal contrast (apparent, over the
        80th percentile of their surroundings) are camouflaged and not evaluable, K; 0 or
        -inf keeps them all.
    """

    def __init__(self, simulator, *, min_size_px: float = DEFAULT_MIN_SIZE_PX,
                 min_visible_fraction: float = DEFAULT_VISIBLE_FRACTION,
                 min_fire_px: int = DEFAULT_MIN_FIRE_PX,
                 margin_px: int = DEFAULT_MARGIN_PX,
                 min_contrast_k: float = DEFAULT_MIN_CONTRAST_K) -> None:
        if not (min_size_px >= 0 and 0 <= min_visible_fraction <= 1 and min_fire_px >= 1
                and margin_px >= 0):
            raise ValueError("need min_size_px >= 0, min_visible_fraction in [0, 1], "
                             "min_fire_px >= 1 and margin_px >= 0")
        self.margin_px = int(margin_px)
        self.simulator = simulator
        self.world: SceneTruth = simulator.world
        self.ids = world_object_map(self.world)
        n = len(self.world.objects) + 1
        self.world_px = np.bincount(self.ids.ravel(), minlength=n)
        self.min_size_px = float(min_size_px)
        self.min_visible_fraction = float(min_visible_fraction)
        self.min_fire_px = int(min_fire_px)
        self._flame = TRUTH_LABELS["fire"]
        self.min_contrast_k = float(min_contrast_k)
        apparent_c = (np.asarray(simulator.table.temperature_k(simulator.world_radiance))
                      - zero_Celsius).astype(np.float32)
        ring_px = max(1, math.ceil(SURROUND_M / simulator.gsd_m))
        self.contrast_k = np.full(n, np.inf)
        contrast = object_contrast_k(self.ids, apparent_c, ring_px)
        self.contrast_k[:contrast.size] = contrast

    def view_origin(self, time_s: float) -> tuple[int, int]:
        """Top-left world cell of the view at ``time_s`` (the simulator's nearest sampling)."""
        x, y = self.simulator.camera_offset_px(time_s)
        return round(x), round(y)

    def objects_in_view(self, time_s: float) -> list[TruthObject]:
        """Truth objects with a cell in the frame at ``time_s``, or within ``margin_px`` of it.

        Objects just outside (in the margin) are listed as not evaluable: the simulator's
        bilinear radiance blurs them one pixel into the frame, so detections on them are
        ignored rather than false positives. Centroids and boxes are frame pixels (a margin
        object's box may start at -1).
        """
        sim = self.simulator
        x0, y0 = self.view_origin(time_s)
        h, w = sim.profile.height, sim.profile.width
        m = self.margin_px
        wh, ww = self.ids.shape
        px0, py0 = max(0, x0 - m), max(0, y0 - m)
        ids_p = self.ids[py0:min(wh, y0 + h + m), px0:min(ww, x0 + w + m)]
        ids = self.ids[y0:y0 + h, x0:x0 + w]
        labels = self.world.labels[y0:y0 + h, x0:x0 + w]
        n = len(self.world.objects) + 1
        counts = np.bincount(ids.ravel(), minlength=n)
        flames = np.bincount(ids.ravel(), weights=(labels == self._flame).ravel(), minlength=n)
        present = np.flatnonzero(np.bincount(ids_p.ravel(), minlength=n)[1:]) + 1
        if present.size == 0:
            return []
        centres = ndimage.center_of_mass(np.ones_like(ids_p, np.float32), ids_p, present)
        slices = ndimage.find_objects(ids_p, max_label=int(present.max()))
        dx, dy = px0 - x0, py0 - y0  # padded window -> frame pixels
        gsd = float(sim.gsd_m)
        out = []
        for k, (cy, cx) in zip(present, centres, strict=True):
            obj = self.world.objects[k - 1]
            sl = slices[k - 1]
            size_px = max(obj["size_m"]) / gsd
            visible = counts[k] / max(self.world_px[k], 1)
            if obj["label"] == "fire":
                evaluable = flames[k] >= self.min_fire_px
            else:
                evaluable = (size_px >= self.min_size_px and visible >= self.min_visible_fraction
                             and self.contrast_k[k] >= self.min_contrast_k)
            out.append(TruthObject(
                object_index=int(k - 1), label=obj["label"],
                centroid=(float(cx) + dx, float(cy) + dy),
                bbox=(sl[1].start + dx, sl[0].start + dy, sl[1].stop + dx, sl[0].stop + dy),
                area_px=int(counts[k]), visible_fraction=float(visible), size_px=size_px,
                flame_px=int(flames[k]), contrast_k=float(self.contrast_k[k]),
                evaluable=bool(evaluable and counts[k] > 0)))
        return out


# ---------------------------------------------------------------------------------------------
# Matching and counting
# ---------------------------------------------------------------------------------------------

def match_by_distance(detections: Sequence[Detection], truths: Sequence[TruthObject],
                      gate_px: float = DEFAULT_GATE_PX) -> list[tuple[int, int]]:
    """One-to-one (detection index, truth index) pairs of least total centroid distance.

    A pair is allowed if the distance is at most ``max(gate_px, half the truth's box
    diagonal)``, pixels.
    """
    if not detections or not truths:
        return []
    d = np.array([det.centroid for det in detections], np.float64)
    t = np.array([tr.centroid for tr in truths], np.float64)
    gate = np.array([max(gate_px, 0.5 * math.hypot(tr.bbox[2] - tr.bbox[0],
                                                    tr.bbox[3] - tr.bbox[1])) for tr in truths])
    cost = np.linalg.norm(d[:, None, :] - t[None, :, :], axis=2)
    forbidden = cost > gate[None, :]
    cost[forbidden] = _FORBIDDEN
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if not forbidden[r, c]]


@dataclass
class ClassCounts:
    """True/false positives and false negatives of one class over a sequence."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        """TP / (TP + FP); NaN without detections."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        """TP / (TP + FN); NaN without truths."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else math.nan

    def add(self, other: ClassCounts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def as_dict(self) -> dict[str, float]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": self.precision,
                "recall": self.recall, "f1": self.f1}


def _score(detections: Sequence[Detection], truths: Sequence[TruthObject],
           ignore: Sequence[TruthObject], gate_px: float
           ) -> tuple[ClassCounts, list[tuple[int, int]]]:
    """Counts of ``detections`` against evaluable ``truths``; unmatched detections matched to
    ``ignore`` (non-evaluable truths) are not false positives."""
    pairs = match_by_distance(detections, truths, gate_px)
    matched = {i for i, _ in pairs}
    rest = [d for i, d in enumerate(detections) if i not in matched]
    ignored = len(match_by_distance(rest, ignore, gate_px))
    return ClassCounts(tp=len(pairs), fp=len(rest) - ignored, fn=len(truths) - len(pairs)), pairs


def score_warm_bodies(detections: Sequence[Detection], truths: Sequence[TruthObject],
                      gate_px: float = DEFAULT_GATE_PX) -> dict[str, ClassCounts]:
    """Per-class counts ('person', 'animal') and class-agnostic ones ('warm_body') of one
    frame. A detection of one class on a truth of the other is a false positive of its class
    (and the truth a false negative of its own)."""
    bodies = [t for t in truths if t.label in WARM_BODY_LABELS]
    ignore = [t for t in bodies if not t.evaluable]
    out = {}
    for label in WARM_BODY_LABELS:
        dets = [d for d in detections if d.label == label]
        evaluable = [t for t in bodies if t.evaluable and t.label == label]
        # A detection on an evaluable truth of the other class is a false positive here.
        out[label], _ = _score(dets, evaluable, ignore, gate_px)
    dets = [d for d in detections if d.label in WARM_BODY_LABELS]
    out["warm_body"], _ = _score(dets, [t for t in bodies if t.evaluable], ignore, gate_px)
    return out


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int],
              margin: int = 0) -> bool:
    """Boxes (x0, y0, x1, y1) overlap, ``b`` grown by ``margin`` pixels."""
    return (a[0] < b[2] + margin and b[0] - margin < a[2] and a[1] < b[3] + margin
            and b[1] - margin < a[3])


def score_fire(detections: Sequence[Detection], truths: Sequence[TruthObject]
               ) -> tuple[ClassCounts, int]:
    """Fire counts of one frame: (TP/FN over evaluable fires, FP = false alarms), and the
    number of fire detections."""
    fires = [t for t in truths if t.label == "fire"]
    dets = [d for d in detections if d.label == "fire"]
    found = sum(1 for t in fires if t.evaluable
                and any(_overlaps(d.bbox, t.bbox, _FIRE_MARGIN_PX) for d in dets))
    missed = sum(1 for t in fires if t.evaluable) - found
    alarms = sum(1 for d in dets
                 if not any(_overlaps(d.bbox, t.bbox, _FIRE_MARGIN_PX) for t in fires))
    return ClassCounts(tp=found, fp=alarms, fn=missed), len(dets)


@dataclass
class MotAccumulator(MotCounts):
    """CLEAR-MOT counts of tracked warm bodies (class-agnostic) over a sequence."""

    gate_px: float = DEFAULT_GATE_PX
    last_track: dict[int, int] = field(default_factory=dict)
    track_ids: set[int] = field(default_factory=set)

    def update(self, truths: Sequence[TruthObject], tracked: Sequence[Detection]) -> None:
        """Add one frame: its truths and the tracker's confirmed outputs."""
        bodies = [t for t in truths if t.label in WARM_BODY_LABELS]
        evaluable = [t for t in bodies if t.evaluable]
        dets = [d for d in tracked if d.label in WARM_BODY_LABELS]
        counts, pairs = _score(dets, evaluable, [t for t in bodies if not t.evaluable],
                               self.gate_px)
        for di, ti in pairs:
            obj, tid = evaluable[ti].object_index, dets[di].track_id
            if self.last_track.get(obj, tid) != tid:
                self.idsw += 1
            self.last_track[obj] = tid
        self.track_ids.update(d.track_id for d in dets)
        self.frames += 1
        self.gt += len(evaluable)
        self.tp += counts.tp
        self.fn += counts.fn
        self.fp += counts.fp

    def as_dict(self) -> dict[str, float]:
        return {**{k: getattr(self, k) for k in self.COUNTS}, "mota": self.mota,
                "idsw_per_100_frames": _PER_100 * self.idsw / self.frames if self.frames
                else math.nan, "tracks": len(self.track_ids)}


# ---------------------------------------------------------------------------------------------
# Sequences
# ---------------------------------------------------------------------------------------------

def evaluate_sequence(simulator, converter, warm_body: WarmBodyDetector | None = None,
                      hotspot: HotspotDetector | None = None,
                      tracker: MultiObjectTracker | None = None, *, frames: int = 40,
                      rate_hz: float = 10.0, start_s: float = 0.0, ego_motion: bool = True,
                      min_size_px: float = DEFAULT_MIN_SIZE_PX,
                      min_visible_fraction: float = DEFAULT_VISIBLE_FRACTION,
                      min_fire_px: int = DEFAULT_MIN_FIRE_PX,
                      min_contrast_k: float = DEFAULT_MIN_CONTRAST_K,
                      gate_px: float = DEFAULT_GATE_PX,
                      index: SceneObjectIndex | None = None) -> dict:
    """Run detection (and tracking) over a simulated sequence and score it.

    Parameters
    ----------
    simulator : a ThermalSimulator (frames from ``counts(t)``, truth from its world).
    converter : counts -> deg C, e.g. ``CountsToTemperature(sim.calibration, sim.table)``.
    warm_body, hotspot : detectors to run (None: skipped).
    tracker : tracks all detections (None: no tracking metrics).
    frames : number of frames; rate_hz : frame rate, Hz; start_s : time of the first, s.
    ego_motion : give the tracker and the hotspot history the camera's shift between frames
        (from the simulator's camera path: in a real system from odometry or registration).
    min_size_px, min_visible_fraction, min_fire_px, min_contrast_k, gate_px : see the module
        docstring.
    index : a prebuilt :class:`SceneObjectIndex` of ``simulator`` (its rules then apply).

    Returns
    -------
    dict with ``frames``, ``gsd_m``, ``detection`` (per class: tp, fp, fn, precision, recall,
    f1; 'fire' adds ``false_alarm_frames`` and ``detections``), ``tracked`` (the same for the
    tracker's labelled outputs), ``tracking`` (gt, fn, fp, idsw, mota, idsw_per_100_frames,
    tracks) and ``timing_ms`` (mean per frame of each stage).
    """
    if frames < 1 or not rate_hz > 0:
        raise ValueError(f"need frames >= 1 and rate_hz > 0, got {frames} and {rate_hz}")
    if index is None:
        index = SceneObjectIndex(simulator, min_size_px=min_size_px,
                                 min_visible_fraction=min_visible_fraction,
                                 min_fire_px=min_fire_px, min_contrast_k=min_contrast_k)
    gsd = float(simulator.gsd_m)
    dt = 1.0 / rate_hz
    det_counts = {k: ClassCounts() for k in (*WARM_BODY_LABELS, "warm_body", "fire")}
    trk_counts = {k: ClassCounts() for k in (*WARM_BODY_LABELS, "warm_body")}
    mot = MotAccumulator(gate_px=gate_px)
    fire_alarm_frames = fire_detections = 0
    timing = {"warm_body": 0.0, "hotspot": 0.0, "tracker": 0.0}
    previous = simulator.camera_offset_px(start_s)
    for i in range(frames):
        t_s = start_s + i * dt
        temperature = converter(simulator.counts(t_s))
        offset = simulator.camera_offset_px(t_s)
        ego = (previous[0] - offset[0], previous[1] - offset[1]) if ego_motion else (0.0, 0.0)
        previous = offset
        truths = index.objects_in_view(t_s)
        detections: list[Detection] = []
        if warm_body is not None:
            t0 = time.perf_counter()
            bodies = warm_body.detect(temperature, gsd)
            timing["warm_body"] += time.perf_counter() - t0
            detections += bodies
            for k, c in score_warm_bodies(bodies, truths, gate_px).items():
                det_counts[k].add(c)
        if hotspot is not None:
            t0 = time.perf_counter()
            hot = hotspot.detect(temperature, gsd, ego_shift_px=ego)
            timing["hotspot"] += time.perf_counter() - t0
            detections += hot
            fire, n_fire = score_fire(hot, truths)
            det_counts["fire"].add(fire)
            fire_alarm_frames += fire.fp > 0
            fire_detections += n_fire
        if tracker is not None:
            t0 = time.perf_counter()
            tracked = tracker.update(detections, dt, ego_shift_px=ego)
            timing["tracker"] += time.perf_counter() - t0
            mot.update(truths, tracked)
            for k, c in score_warm_bodies(tracked, truths, gate_px).items():
                trk_counts[k].add(c)
    detection = {k: c.as_dict() for k, c in det_counts.items()}
    detection["fire"].update(false_alarm_frames=fire_alarm_frames, detections=fire_detections)
    return {
        "frames": frames, "gsd_m": gsd,
        "detection": detection,
        "tracked": {k: c.as_dict() for k, c in trk_counts.items()} if tracker else {},
        "tracking": mot.as_dict() if tracker else {},
        "timing_ms": {k: 1e3 * v / frames for k, v in timing.items()},
    }


def combine_reports(reports: Sequence[dict]) -> dict:
    """Sum the counts of several :func:`evaluate_sequence` reports and recompute the rates."""
    if not reports:
        raise ValueError("no reports to combine")
    frames = sum(r["frames"] for r in reports)

    def counts(section: str) -> dict:
        keys = {k for r in reports for k in r[section]}
        out = {}
        for k in sorted(keys):
            total = ClassCounts()
            extra: dict[str, int] = {}
            for r in reports:
                c = r[section].get(k)
                if c is None:
                    continue
                total.add(ClassCounts(c["tp"], c["fp"], c["fn"]))
                for name in ("false_alarm_frames", "detections"):
                    if name in c:
                        extra[name] = extra.get(name, 0) + c[name]
            out[k] = {**total.as_dict(), **extra}
        return out

    tracking: dict = {}
    tracked_reports = [r["tracking"] for r in reports if r["tracking"]]
    if tracked_reports:
        mot = MotAccumulator()
        for t in tracked_reports:
            mot.add(t)
        tracking = mot.as_dict()
        tracking["tracks"] = sum(t["tracks"] for t in tracked_reports)
    return {
        "frames": frames, "sequences": len(reports),
        "detection": counts("detection"), "tracked": counts("tracked"), "tracking": tracking,
        "timing_ms": {k: sum(r["timing_ms"][k] * r["frames"] for r in reports) / frames
                      for k in reports[0]["timing_ms"]},
    }
