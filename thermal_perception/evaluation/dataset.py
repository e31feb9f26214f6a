"""``thermal-perception eval --dataset DIR``: detection scored on real labelled thermal images.

Reads a labelled dataset (:mod:`thermal_perception.io.labels`: a COCO ``labels.json`` folder
such as ``data/hit_uav_sample``, or a HIT-UAV checkout and one of its splits), runs a people
backend on every image and prints precision, recall, F1 (at the backend's thresholds) and AP50
per class (the learned backend's AP50 over every box scoring at least ``AP_SCORE_FLOOR``, as
the trainer validates, not only those above the shipped thresholds), for the whole set and
per altitude, camera pitch and day/night bin where the images say them, and per object
size (the box's longer side: < 16, 16-32, 32-64, >= 64 px; labelled boxes of other sizes,
and detections of other sizes that match nothing, count neither way, as COCO scores sizes).
8-bit images are relative input (no temperatures); the ``warm_body`` backend gets them mapped
linearly to ``--relative-c`` (as a user of it would have to). Where an image says its altitude
and pitch (HIT-UAV), both backends get the ground sample distance from them and ``--focal-px``,
as the detector node gets it from altitude and ``camera_info``: the warm-body sizes need it, and
the learned backend's scale awareness chooses the image scales it runs by it. ``false_sheet``
draws the highest-scoring false detections (those the scores count false) as one picture of
crops around them, for seeing what the detector mistakes.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from thermal_perception.core.detection.model_io import Boxes, empty_boxes
from thermal_perception.core.detection.types import gsd_from_view
from thermal_perception.evaluation.boxes import (
    AP_SCORE_FLOOR,
    BoxMot,
    FalseDetection,
    evaluate_boxes,
    false_detections,
)
from thermal_perception.evaluation.plots import plot_pr_curves
from thermal_perception.io.dataset_images import read_dataset_image
from thermal_perception.io.labels import LabelledImage, read_dataset

#: Focal length of HIT-UAV's camera, px: 640 px across a 45 deg field of view.
HIT_UAV_FOCAL_PX = 772.0
EVAL_CLASSES = ("person", "vehicle", "bicycle", "animal")
# size bins, longer side of the box in px (people 4 to 200 px: issue 16)
SIZE_BINS_PX = ((0.0, 16.0), (16.0, 32.0), (32.0, 64.0), (64.0, math.inf))


@dataclass
class DatasetEvalOptions:
    dataset: Path
    split: str = "test"
    backend: str = "model"             # "model" or "warm_body"
    model_path: Path | None = None     # None: the shipped model
    relative_c: tuple[float, float] = (-10.0, 40.0)  # warm_body: 0..255 -> these deg C
    focal_px: float = HIT_UAV_FOCAL_PX  # GSD from altitude and pitch (HIT-UAV's camera)
    render: int = 0                    # this many example images with boxes into out/
    out: Path | None = None
    limit: int = 0
    palette: str | None = None         # false-colour images: the palette that drew them
    scales: tuple[float, ...] | None = None  # model: image scales run (None: the card's)
    flip_test: bool = True             # model: the card's flip test (False: none)
    rescore: bool = True               # model: the card's rescorer, if it has one
    false_sheet: int = 0               # this many false detections drawn into out/ (crops)


def item_gsd_m(item: LabelledImage, focal_px: float = HIT_UAV_FOCAL_PX) -> float | None:
    """Sample distance at the image's centre, m per pixel, from its altitude and pitch
    (nadir when no pitch is given; :func:`gsd_from_view`), or None when no altitude is."""
    if not item.altitude_m or item.altitude_m <= 0:
        return None
    return gsd_from_view(item.altitude_m, item.pitch_deg or 90.0, focal_px)


def _bins(item: LabelledImage) -> list[str]:
    out = []
    if item.altitude_m is not None:
        out.append("altitude <= 80 m" if item.altitude_m <= 80 else "altitude >= 90 m")
    if item.pitch_deg is not None:
        out.append("pitch >= 60 deg (near nadir)" if item.pitch_deg >= 60
                   else "pitch <= 50 deg (oblique)")
    if "light" in item.extra:
        out.append(str(item.extra["light"]))
    return out


class _WarmBodyBackend:
    classes = ("person", "animal")

    def __init__(self, o: DatasetEvalOptions) -> None:
        from thermal_perception.core.detection import WarmBodyDetector

        self.detector = WarmBodyDetector()
        self.o = o

    def boxes(self, image: np.ndarray, radiometric: bool, item: LabelledImage) -> Boxes:
        lo, hi = self.o.relative_c
        t = image.astype(np.float32) if radiometric else \
            (lo + image.astype(np.float32) * ((hi - lo) / 255.0))
        gsd = item_gsd_m(item, self.o.focal_px)
        if gsd is None:
            return empty_boxes()
        found = [d for d in self.detector.detect(t, gsd) if d.label in self.classes]
        if not found:
            return empty_boxes()
        return Boxes(np.asarray([d.bbox for d in found], np.float32),
                     np.asarray([d.confidence for d in found], np.float32),
                     np.asarray([EVAL_CLASSES.index(d.label) for d in found], np.intp))


class _ModelBackend:
    def __init__(self, o: DatasetEvalOptions) -> None:
        from thermal_perception.core.detection.model import LearnedDetector

        flips = None if o.flip_test else ()
        shipped = LearnedDetector(o.model_path, scales=o.scales, flip_scales=flips,
                                  rescore=o.rescore)
        self.classes = shipped.classes
        self.focal_px = o.focal_px
        # P, R and F1 at the shipped thresholds; the boxes down to AP_SCORE_FLOOR for AP50
        self.thresholds = dict(zip(self.classes, shipped.thresholds.tolist(), strict=True))
        self.detector = shipped.down_to(AP_SCORE_FLOOR)

    def boxes(self, image: np.ndarray, radiometric: bool, item: LabelledImage) -> Boxes:
        b = self.detector.boxes(image, item_gsd_m(item, self.focal_px))
        if radiometric:  # the temperature second opinion, as detect() applies it
            factors = self.detector.plausibility_factors(image, b)
            b = Boxes(b.xyxy, (b.scores * factors).astype(np.float32),
                      b.classes)
        remap = np.asarray([EVAL_CLASSES.index(c) for c in self.classes], np.intp)
        return Boxes(b.xyxy, b.scores, remap[b.classes])


def run_dataset_eval(o: DatasetEvalOptions, progress: bool = True) -> dict[str, Any]:
    """Scores per class, overall and per bin, plus timing (see the module docstring)."""
    items = read_dataset(o.dataset, o.split)
    if o.limit:
        items = items[:o.limit]
    if o.backend == "model":
        backend: Any = _ModelBackend(o)
        thresholds = backend.thresholds
    elif o.backend == "warm_body":
        backend = _WarmBodyBackend(o)
        thresholds = 0.3  # the detector node's min_confidence
    else:
        raise ValueError(f"backend must be 'model' or 'warm_body', got {o.backend!r}")
    preds, times_ms, kinds = [], [], set()
    rendered = []
    for i, item in enumerate(tqdm(items, desc=f"eval {Path(o.dataset).name}", unit="image",
                                  disable=not progress)):
        image, radiometric = read_dataset_image(item, o.palette)
        kinds.add("radiometric" if radiometric else "relative (8-bit)")
        t0 = time.perf_counter()
        b = backend.boxes(image, radiometric, item)
        times_ms.append((time.perf_counter() - t0) * 1e3)
        preds.append(b)
        if o.out is not None and i < o.render:
            rendered.append(_render(image, item, b, thresholds, o.out))
    classes = [c for c in EVAL_CLASSES if c in backend.classes or
               any(c in it.labels for it in items)]
    report: dict[str, Any] = {
        "dataset": str(o.dataset), "split": o.split, "backend": o.backend,
        "input": sorted(kinds), "images": len(items),
        "overall": evaluate_boxes(items, preds, EVAL_CLASSES, thresholds,
                                  curves=o.out is not None)["classes"],
        "bins": {}, "classes": classes,
        "ms_per_image": {"p50": float(np.percentile(times_ms, 50)) if times_ms else math.nan,
                         "p99": float(np.percentile(times_ms, 99)) if times_ms else math.nan},
        "rendered": [str(p) for p in rendered],
    }
    report["tracking"] = track_sequences(items, preds, thresholds)
    names = sorted({b for it in items for b in _bins(it)})
    for name in names:
        idx = [k for k, it in enumerate(items) if name in _bins(it)]
        report["bins"][name] = {"images": len(idx), **evaluate_boxes(
            [items[k] for k in idx], [preds[k] for k in idx], EVAL_CLASSES,
            thresholds)["classes"]}
    for lo, hi in SIZE_BINS_PX:  # every image, the objects of one size (COCO's rule)
        name = f"objects < {hi:.0f} px" if lo == 0 else (
            f"objects >= {lo:.0f} px" if math.isinf(hi) else f"objects {lo:.0f}-{hi:.0f} px")
        report["bins"][name] = {"images": len(items), **evaluate_boxes(
            items, preds, EVAL_CLASSES, thresholds, size_px=(lo, hi))["classes"]}
    if o.out is not None and o.false_sheet:
        false = false_detections(items, preds, EVAL_CLASSES, thresholds)
        report["false_detections"] = {"count": len(false), "on_images_without_class": sum(
            f.on_empty for f in false), "drawn": [
            {"image": str(items[f.image].path), "label": f.label, "score": f.score,
             "xyxy": list(f.xyxy), "on_image_without_class": f.on_empty}
            for f in false[:o.false_sheet]]}
        if false:
            o.out.mkdir(parents=True, exist_ok=True)
            path = o.out / "false_detections.png"
            cv2.imwrite(str(path), false_sheet(items, false[:o.false_sheet], o.palette))
            report["false_detections"]["sheet"] = str(path)
    if o.out is not None:
        o.out.mkdir(parents=True, exist_ok=True)
        report["pr_curves"] = str(plot_pr_curves(
            report["overall"], classes, o.out / "pr_curves.png",
            f"{Path(o.dataset).name} ({o.split}, {len(items)} images): " + (
                f"model {Path(str(o.model_path or 'general')).stem}" if o.backend == "model"
                else o.backend)))
        (o.out / "dataset_eval.json").write_text(json.dumps(report, indent=1, default=float))
    return report


LABELLED_BGR = (80, 80, 255)  # labelled boxes in the pictures (red)
FRAME_STEP_S = 0.1  # time per frame number of a labelled sequence (datasets rarely say)


def track_sequences(items: list[LabelledImage], preds: list[Boxes], thresholds: Any
                    ) -> dict[str, Any]:
    """MOTA per class over the labelled sequences (images with ``sequence`` and ``frame``):
    the detections above their thresholds through the detector node's tracker (its default
    parameters), frame by frame, scored by :class:`BoxMot`. Empty without sequences."""
    from thermal_perception.core.detection import Detection
    from thermal_perception.settings.detector import PARAMS, tracker_from

    sequences: dict[str, list[int]] = {}
    for k, it in enumerate(items):
        if it.sequence is not None and it.frame is not None:
            sequences.setdefault(str(it.sequence), []).append(k)
    values = {spec.name: spec.default for spec in PARAMS}
    totals: dict[str, BoxMot] = {}
    per_sequence: dict[str, dict[str, Any]] = {}
    for name, idx in sorted(sequences.items()):
        idx.sort(key=lambda k: items[k].frame)
        labels = sorted({lab for k in idx for lab in items[k].labels})
        tracker = tracker_from(values)
        mots = {lab: BoxMot() for lab in labels}
        previous = items[idx[0]].frame
        for k in idx:
            item, b = items[k], preds[k]
            detections = []
            for (x0, y0, x1, y1), score, ci in zip(b.xyxy, b.scores, b.classes, strict=True):
                label = EVAL_CLASSES[int(ci)]
                t = thresholds.get(label, 1.0) if isinstance(thresholds, dict) else thresholds
                if score < t:
                    continue
                box = (math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1))
                detections.append(Detection(
                    label=label, confidence=float(score), bbox=box,
                    centroid=(0.5 * float(x0 + x1), 0.5 * float(y0 + y1)), max_c=math.nan,
                    mean_c=math.nan, area_px=(box[2] - box[0]) * (box[3] - box[1])))
            tracked = tracker.update(detections, FRAME_STEP_S * max(1, item.frame - previous))
            previous = item.frame
            ids = item.box_ids if len(item.box_ids) == len(item.boxes) else \
                [None] * len(item.boxes)
            for lab, mot in mots.items():
                mine = [j for j, x in enumerate(item.labels) if x == lab]
                found = [d for d in tracked if d.label == lab]
                mot.update([item.boxes[j] for j in mine], [ids[j] for j in mine],
                           [d.bbox for d in found], [d.track_id for d in found], item.ignore)
        per_sequence[name] = {lab: mot.as_dict() for lab, mot in mots.items()}
        for lab, mot in mots.items():
            total = totals.setdefault(lab, BoxMot())
            total.add(mot.as_dict())
            total.tracks.update((name, t) for t in mot.tracks)
    return {"classes": {lab: mot.as_dict() for lab, mot in totals.items()},
            "sequences": per_sequence} if sequences else {}


def _render(image: np.ndarray, item: LabelledImage, b: Boxes, thresholds: Any,
            out: Path) -> Path:
    """The image with labelled boxes (red) and detections (label colours) as a PNG."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{Path(item.path).stem}_boxes.png"
    cv2.imwrite(str(path), render_boxes(image, item, b, thresholds))
    return path


def render_boxes(image: np.ndarray, item: LabelledImage, b: Boxes, thresholds: Any
                 ) -> np.ndarray:
    """BGR picture of ``image`` (white-hot, percentile AGC) with the labelled boxes (red) and
    the detections above their class threshold (label colours)."""
    from thermal_perception.core.display.isotherm import draw_detections
    from thermal_perception.core.display.render import DisplayRenderer

    frame = image.astype(np.float32)
    bgr = DisplayRenderer(agc="percentile", colormap="white_hot").render(frame)
    for x0, y0, x1, y1 in item.boxes:
        cv2.rectangle(bgr, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), LABELLED_BGR, 1)
    keep = []
    for (x0, y0, x1, y1), s, c in zip(b.xyxy, b.scores, b.classes, strict=True):
        name = EVAL_CLASSES[c]
        t = thresholds.get(name, 1.0) if isinstance(thresholds, dict) else thresholds
        if s >= t:
            keep.append((name, int(x0), int(y0), math.ceil(x1), math.ceil(y1), 0,
                         math.nan))
    draw_detections(bgr, keep)
    return bgr


SHEET_TILE_PX = 192  # side of one crop of the false-detection sheet
SHEET_COLUMNS = 6


def false_sheet(items: list[LabelledImage], false: list[FalseDetection],
                palette: str | None = None) -> np.ndarray:
    """BGR picture of ``false`` (in order, ``SHEET_COLUMNS`` per row): per detection a square
    crop around it, three times its longer side and at least 48 px (padded black at the
    image's edges), white-hot, with the labelled boxes (red) and the false box (its label's
    colour), captioned with its label and score (top) and the image's name (bottom)."""
    from thermal_perception.core.display.isotherm import DEFAULT_BOX_BGR, LABEL_COLORS_BGR
    from thermal_perception.core.display.render import DisplayRenderer

    if not false:
        raise ValueError("no false detections to draw")
    # no smoothing: each crop's window from its own image, not blended with the one before
    renderer = DisplayRenderer(agc="percentile", colormap="white_hot", smoothing=0.0)
    tiles = []
    for f in false:
        image, _ = read_dataset_image(items[f.image], palette)
        x0, y0, x1, y1 = f.xyxy
        half = max(24, round(1.5 * max(x1 - x0, y1 - y0)))
        cx, cy = round(0.5 * (x0 + x1)), round(0.5 * (y0 + y1))
        zoom = SHEET_TILE_PX / (2 * half)
        bgr = cv2.copyMakeBorder(renderer.render(image.astype(np.float32)), half, half, half,
                                 half, cv2.BORDER_CONSTANT)
        tile = cv2.resize(bgr[cy:cy + 2 * half, cx:cx + 2 * half],
                          (SHEET_TILE_PX, SHEET_TILE_PX), interpolation=cv2.INTER_NEAREST)
        # the boxes drawn at the tile's zoom (x1, y1 exclusive): labelled red, the false one
        for b, colour in [*((lb, LABELLED_BGR) for lb in items[f.image].boxes),
                          (f.xyxy, LABEL_COLORS_BGR.get(f.label, DEFAULT_BOX_BGR))]:
            cv2.rectangle(tile, (round((b[0] - cx + half) * zoom),
                                 round((b[1] - cy + half) * zoom)),
                          (round((b[2] - cx + half) * zoom) - 1,
                           round((b[3] - cy + half) * zoom) - 1), colour, 1)
        for text, y in ((f"{f.label} {f.score:.2f}", 0),
                        (Path(items[f.image].path).stem[:30], SHEET_TILE_PX - 14)):
            cv2.rectangle(tile, (0, y), (SHEET_TILE_PX - 1, y + 13), (0, 0, 0), -1)
            cv2.putText(tile, text, (2, y + 10), cv2.FONT_HERSHEY_PLAIN, 0.8,
                        (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    blank = np.zeros((SHEET_TILE_PX, SHEET_TILE_PX, 3), np.uint8)
    tiles += [blank] * (-len(tiles) % SHEET_COLUMNS)
    return np.vstack([np.hstack(tiles[i:i + SHEET_COLUMNS])
                      for i in range(0, len(tiles), SHEET_COLUMNS)])


def format_dataset_report(r: dict[str, Any]) -> list[str]:
    lines = [f"{r['dataset']} ({r['split']}, {r['images']} images, input "
             f"{', '.join(r['input'])}), backend {r['backend']}; "
             f"{r['ms_per_image']['p50']:.1f} ms per image (p50), "
             f"{r['ms_per_image']['p99']:.1f} ms (p99)",
             f"{'subset':32s} {'class':9s} {'labelled':>8s} {'P':>6s} {'R':>6s} {'F1':>6s} "
             f"{'AP50':>6s}"]
    for name, scores in [("all images", r["overall"]), *r["bins"].items()]:
        for c in r["classes"]:
            s = scores[c]
            if not s["labelled"]:
                continue
            lines.append(f"{name:32s} {c:9s} {s['labelled']:8d} {s['precision']:6.3f} "
                         f"{s['recall']:6.3f} {s['f1']:6.3f} {s['ap50']:6.3f}")
    tracking = r.get("tracking") or {}
    for label, m in tracking.get("classes", {}).items():
        lines.append(f"tracking over {len(tracking['sequences'])} labelled sequences "
                     f"({m['frames']} frames): {label} MOTA {m['mota']:.3f} (labelled "
                     f"{m['gt']}, missed {m['fn']}, false {m['fp']}, identity switches "
                     f"{m['idsw']}, {m['tracks']} tracks)")
    p = r["overall"].get("person", {})
    if p.get("images_without"):
        lines.append(f"false people per image on the {p['images_without']} images without "
                     f"people: {p['false_per_empty_image']:.3f}")
    return lines
