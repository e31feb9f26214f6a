"""Box detection scores against labelled images: precision, recall, F1 and AP50 per class.

Matching as in PASCAL VOC and COCO: per image and class, detections best score first, each to
the unmatched labelled box of highest IoU if that IoU is at least ``iou`` (0.5); a detection
whose centre lies in an *ignore* region (e.g. HIT-UAV's "DontCare") and that matches nothing
is left out instead of counted as false. AP is the area under the precision-recall curve with
precision made monotone (all-point interpolation, VOC 2010 onwards). Pure numpy. Tracking on
labelled sequences: :class:`BoxMot` (CLEAR MOT, MOTA).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from thermal_perception.core.detection.model_io import Boxes, longer_side
from thermal_perception.io.labels import LabelledImage

AP_SCORE_FLOOR = 0.05  # the lowest score of the boxes an AP50 curve is made of (eval, training)


def iou_matrix(a: NDArray, b: NDArray) -> NDArray[np.float64]:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), xyxy."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def centred_in(xyxy: NDArray, regions: NDArray) -> NDArray[np.bool_]:
    """Whether each box of ``xyxy`` (N, 4) has its centre inside any of ``regions`` (M, 4;
    xyxy, x1/y1 exclusive): how an ignore region leaves a detection uncounted."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    regions = np.asarray(regions, np.float64).reshape(-1, 4)
    cx = 0.5 * (xyxy[:, 0] + xyxy[:, 2])
    cy = 0.5 * (xyxy[:, 1] + xyxy[:, 3])
    return ((cx[:, None] >= regions[None, :, 0]) & (cx[:, None] < regions[None, :, 2])
            & (cy[:, None] >= regions[None, :, 1])
            & (cy[:, None] < regions[None, :, 3])).any(axis=1)


def match_image(pred_xyxy: NDArray, pred_scores: NDArray, gt: NDArray, ignore: NDArray,
                 iou: float, size_px: tuple[float, float] | None = None
                 ) -> tuple[NDArray[np.float64], NDArray[np.bool_], int, NDArray[np.intp]]:
    """Scores and true-positive flags of one image's detections of one class (ignored ones
    dropped), the number of labelled boxes scored, and the index in ``pred_*`` of each
    score. With ``size_px`` = (lo, hi) only labelled boxes whose longer side is in [lo, hi)
    are scored, as COCO scores its size ranges: a detection that matches one of the other
    labelled boxes, or that matches none and is itself outside the range, counts neither
    way."""
    order = np.argsort(-pred_scores, kind="stable")
    pred_xyxy, pred_scores = pred_xyxy[order], pred_scores[order]
    scored = np.ones(len(gt), bool)
    outside = np.zeros(len(pred_scores), bool)
    if size_px is not None:
        lo, hi = size_px
        side = longer_side(gt)
        scored = (side >= lo) & (side < hi)
        pside = longer_side(pred_xyxy)
        outside = (pside < lo) | (pside >= hi)
    ious = iou_matrix(pred_xyxy, gt)
    taken = ~scored  # boxes out of the range are never matched as true positives
    scores, tps, kept = [], [], []
    in_ignore = centred_in(pred_xyxy, ignore)
    for k in range(len(pred_scores)):
        j = -1
        if len(gt):
            cand = np.where(taken, -1.0, ious[k])
            j = int(np.argmax(cand))
            if cand[j] < iou:
                j = -1
        if j >= 0:
            taken[j] = True
            scores.append(pred_scores[k])
            tps.append(True)
            kept.append(order[k])
        elif not (in_ignore[k] or outside[k]
                  or (len(gt) and np.any(ious[k][~scored] >= iou))):
            scores.append(pred_scores[k])
            tps.append(False)
            kept.append(order[k])
    return (np.asarray(scores, np.float64), np.asarray(tps, bool), int(scored.sum()),
            np.asarray(kept, np.intp))


def average_precision(recall: NDArray, precision: NDArray) -> float:
    """All-point interpolated AP from a PR curve ordered by falling score."""
    if recall.size == 0:
        return 0.0
    r = np.concatenate([[0.0], recall, [recall[-1]]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.sum((r[1:] - r[:-1]) * p[1:]))


def _ranked(scores: NDArray, tps: NDArray, n_gt: int
            ) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:
    """Detections in falling score order (stable): their scores, cumulative true and false
    positives, and the recall and precision after each."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    s, tp = np.asarray(scores)[order], np.asarray(tps, bool)[order]
    ctp = np.cumsum(tp)
    cfp = np.cumsum(~tp)
    return s, ctp, cfp, ctp / max(n_gt, 1), ctp / np.maximum(ctp + cfp, 1)


def class_scores(scores: NDArray, tps: NDArray, n_gt: int,
                 threshold: float | None = None) -> dict[str, Any]:
    """AP50, and precision/recall/F1 at ``threshold`` (None: at the best-F1 score)."""
    s, ctp, cfp, recall, precision = _ranked(scores, tps, n_gt)
    ap = average_precision(recall, precision) if n_gt else float("nan")
    f1 = np.where(precision + recall > 0, 2 * precision * recall
                  / np.where(precision + recall > 0, precision + recall, 1.0), 0.0)
    best = int(np.argmax(f1)) if f1.size else -1
    best_threshold = float(s[best]) if best >= 0 else 1.0
    t = best_threshold if threshold is None else threshold
    k = int(np.searchsorted(-s, -t, side="right"))  # detections with score >= t
    tp_t = int(ctp[k - 1]) if k else 0
    fp_t = int(cfp[k - 1]) if k else 0
    p_t = tp_t / (tp_t + fp_t) if tp_t + fp_t else (1.0 if n_gt == 0 else 0.0)
    r_t = tp_t / n_gt if n_gt else float("nan")
    f_t = 2 * p_t * r_t / (p_t + r_t) if n_gt and p_t + r_t > 0 else 0.0
    return {"ap50": ap, "precision": p_t, "recall": r_t, "f1": f_t, "threshold": t,
            "best_f1_threshold": best_threshold, "labelled": n_gt, "true_pos": tp_t,
            "false_pos": fp_t}


def pr_curve(scores: NDArray, tps: NDArray, n_gt: int, points: int = 200
             ) -> dict[str, list[float]]:
    """The precision-recall curve for plots: ``recall``, ``precision`` and the ``score``
    threshold after each detection in falling score order (as :func:`class_scores` counts
    them), thinned to at most ``points`` evenly spaced ones (the last always kept)."""
    s, _, _, recall, precision = _ranked(scores, tps, n_gt)
    keep = np.unique(np.linspace(0, len(s) - 1, min(points, len(s))).round().astype(int)) \
        if len(s) else np.zeros(0, int)
    return {"recall": recall[keep].tolist(), "precision": precision[keep].tolist(),
            "score": s[keep].tolist()}


def evaluate_boxes(items: Sequence[LabelledImage], predictions: Sequence[Boxes],
                   classes: Sequence[str], thresholds: Mapping[str, float] | float | None = None,
                   iou: float = 0.5, size_px: tuple[float, float] | None = None,
                   curves: bool = False) -> dict[str, Any]:
    """Scores of ``predictions`` (one :class:`Boxes` per image, class indices into
    ``classes``) against ``items``. ``thresholds``: per class or one score at which P, R and
    F1 are given (None: each class's best-F1 score). Also counts false detections of each
    class on images that hold none of it (``false_per_empty_image``). ``size_px`` = (lo, hi):
    only objects whose longer side is in [lo, hi) px (see :func:`match_image`). ``curves``:
    each labelled class also gets its ``curve`` (:func:`pr_curve`)."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(items)} labelled images but {len(predictions)} predictions")
    out: dict[str, Any] = {"images": len(items), "classes": {}}
    for ci, name in enumerate(classes):
        all_scores, all_tps, n_gt, empty_images, empty_false = [], [], 0, 0, 0
        for item, pred in zip(items, predictions, strict=True):
            gt = np.asarray([b for b, lab in zip(item.boxes, item.labels, strict=True)
                             if lab == name], np.float64).reshape(-1, 4)
            ignore = np.asarray(item.ignore, np.float64).reshape(-1, 4)
            mine = pred.classes == ci
            s, tp, n, _ = match_image(pred.xyxy[mine], pred.scores[mine], gt, ignore, iou,
                                       size_px)
            all_scores.append(s)
            all_tps.append(tp)
            n_gt += n
            if not n:
                empty_images += 1
                t = _threshold(thresholds, name)
                empty_false += int(np.sum(s >= t)) if t is not None else 0
        scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
        tps = np.concatenate(all_tps) if all_tps else np.zeros(0, bool)
        report = class_scores(scores, tps, n_gt, _threshold(thresholds, name))
        if curves and n_gt:
            report["curve"] = pr_curve(scores, tps, n_gt)
        report["images_without"] = empty_images
        report["false_per_empty_image"] = (empty_false / empty_images
                                           if empty_images and thresholds is not None
                                           else float("nan"))
        out["classes"][name] = report
    return out


@dataclass(frozen=True)
class FalseDetection:
    """A detection :func:`evaluate_boxes` counts false at its class threshold."""

    image: int                                # index into the items scored
    xyxy: tuple[float, float, float, float]  # pixels
    label: str
    score: float
    on_empty: bool                            # the image holds no labelled box of the class


def false_detections(items: Sequence[LabelledImage], predictions: Sequence[Boxes],
                     classes: Sequence[str], thresholds: Mapping[str, float] | float,
                     iou: float = 0.5) -> list[FalseDetection]:
    """Every detection at or above its class threshold that :func:`evaluate_boxes` counts
    false (no labelled box of its class at ``iou``, or a second box on one already found;
    centred in an ignore region: not counted), highest score first."""
    out = []
    for i, (item, pred) in enumerate(zip(items, predictions, strict=True)):
        ignore = np.asarray(item.ignore, np.float64).reshape(-1, 4)
        for ci, name in enumerate(classes):
            t = _threshold(thresholds, name)
            mine = np.flatnonzero(pred.classes == ci)
            if t is None or not len(mine):
                continue
            gt = np.asarray([b for b, lab in zip(item.boxes, item.labels, strict=True)
                             if lab == name], np.float64).reshape(-1, 4)
            s, tp, _, kept = match_image(pred.xyxy[mine], pred.scores[mine], gt, ignore, iou)
            for k in np.flatnonzero(~tp & (s >= t)):
                out.append(FalseDetection(i, tuple(float(v) for v in pred.xyxy[mine[kept[k]]]),
                                          name, float(s[k]), not len(gt)))
    return sorted(out, key=lambda f: -f.score)


def _threshold(thresholds: Mapping[str, float] | float | None, name: str) -> float | None:
    if thresholds is None:
        return None
    if isinstance(thresholds, Mapping):
        return thresholds.get(name)
    return float(thresholds)


@dataclass
class MotCounts:
    """CLEAR MOT counts over a sequence (Bernardin and Stiefelhagen 2008): labelled objects,
    matches, misses, false tracks, identity switches, frames; shared by the box scorer below
    and the simulator's centroid scorer (``core.evaluation.MotAccumulator``)."""

    gt: int = 0
    tp: int = 0
    fn: int = 0
    fp: int = 0
    idsw: int = 0
    frames: int = 0

    COUNTS = ("gt", "tp", "fn", "fp", "idsw", "frames")

    @property
    def mota(self) -> float:
        """1 - (FN + FP + IDSW) / GT; NaN without labelled objects."""
        return 1.0 - (self.fn + self.fp + self.idsw) / self.gt if self.gt else float("nan")

    def add(self, counts: Mapping[str, float]) -> None:
        """Add another sequence's counts (an ``as_dict()``)."""
        for key in self.COUNTS:
            setattr(self, key, getattr(self, key) + int(counts[key]))


@dataclass
class BoxMot(MotCounts):
    """CLEAR MOT counts of a tracker's boxes against labelled boxes, frame by frame (Bernardin
    and Stiefelhagen 2008): a labelled box and a track correspond at IoU >= ``iou``;
    correspondences of the previous frame are kept while their IoU holds, the rest are
    assigned for the largest total IoU (Hungarian, SciPy). An identity switch is a labelled
    object whose track differs from its previous one; objects without a labelled identity
    (``None``) count for FN and FP, never for switches. Tracks whose centre lies in an ignore
    region and that match nothing are not false."""

    iou: float = 0.5
    last: dict[int, int] = field(default_factory=dict)   # labelled id -> track id
    tracks: set[int] = field(default_factory=set)

    def update(self, gt_xyxy: NDArray, gt_ids: Sequence[int | None], tracks_xyxy: NDArray,
               track_ids: Sequence[int], ignore: NDArray | None = None) -> None:
        """Add one frame: labelled boxes (N, 4) with identities, track boxes (M, 4) with ids."""
        from scipy.optimize import linear_sum_assignment

        gt = np.asarray(gt_xyxy, np.float64).reshape(-1, 4)
        tr = np.asarray(tracks_xyxy, np.float64).reshape(-1, 4)
        ious = iou_matrix(gt, tr)
        pairs: list[tuple[int, int]] = []
        free_g, free_t = set(range(len(gt))), set(range(len(tr)))
        for g, oid in enumerate(gt_ids):  # keep last frame's correspondences that still hold
            if oid is None or oid not in self.last:
                continue
            t = next((k for k in free_t if track_ids[k] == self.last[oid]), None)
            if t is not None and ious[g, t] >= self.iou:
                pairs.append((g, t))
                free_g.discard(g)
                free_t.discard(t)
        if free_g and free_t:
            gi, ti = sorted(free_g), sorted(free_t)
            sub = ious[np.ix_(gi, ti)]
            rows, cols = linear_sum_assignment(-np.where(sub >= self.iou, sub, 0.0))
            for r, c in zip(rows, cols, strict=True):
                if sub[r, c] >= self.iou:
                    pairs.append((gi[r], ti[c]))
                    free_g.discard(gi[r])
                    free_t.discard(ti[c])
        for g, t in pairs:
            oid = gt_ids[g]
            if oid is not None:
                if oid in self.last and self.last[oid] != track_ids[t]:
                    self.idsw += 1
                self.last[oid] = track_ids[t]
        fp = 0
        ig = np.asarray(ignore if ignore is not None else [], np.float64).reshape(-1, 4)
        for t in free_t:
            cx, cy = 0.5 * (tr[t, 0] + tr[t, 2]), 0.5 * (tr[t, 1] + tr[t, 3])
            if not np.any((cx >= ig[:, 0]) & (cx < ig[:, 2]) & (cy >= ig[:, 1]) & (cy < ig[:, 3])):
                fp += 1
        self.tracks.update(int(k) for k in track_ids)
        self.frames += 1
        self.gt += len(gt)
        self.tp += len(pairs)
        self.fn += len(free_g)
        self.fp += fp

    def as_dict(self) -> dict[str, float]:
        return {**{k: getattr(self, k) for k in self.COUNTS}, "mota": self.mota,
                "tracks": len(self.tracks)}
