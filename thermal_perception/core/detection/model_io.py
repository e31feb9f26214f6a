"""Learned object detection on thermal frames: input normalisation and decoding of a model's
outputs (pure numpy/OpenCV; the ONNX session lives in :mod:`.model`).

One normalisation serves every kind of input, so one model serves radiometric cameras and
8-bit video alike (:func:`normalise_frame`): a robust linear stretch of the frame's own values
(the ``low``..``high`` percentiles of its finite pixels to 0..1, white-hot). On an 8-bit AGC'd
frame (the training data, e.g. HIT-UAV) it is close to the identity; on a temperature image in
deg C it is the linear AGC of a camera core. A minimum span keeps a uniform scene's noise from
being stretched to full contrast: ``min_span`` in the input's unit (K for temperature, grey
levels for 8-bit).

Two output layouts are decoded:

- ``centernet`` (the model we ship, ``tools/train_detector.py``): three outputs at stride S,
  ``heatmap`` (1, C, H/S, W/S) of class scores 0..1 (after a sigmoid), ``size`` (1, 2, H/S,
  W/S) of log box width and height in input pixels, ``offset`` (1, 2, H/S, W/S) of the centre's
  sub-cell position in cells. Peaks are local maxima of the heatmap over 3x3 cells.
  With the flip test (:func:`average_flipped`, as CenterNet's authors evaluate), the mirrored
  frame's heatmap and sizes are mirrored back and averaged with the frame's before decoding.
- ``yolo``: one output (1, 4 + C, N) (or (1, N, 4 + C)) of ``cx, cy, w, h`` in input pixels
  and C class scores, as YOLOv5/v8-style exports write it; boxes are kept by class-wise NMS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

LAYOUTS = ("centernet", "yolo")
INPUT_MULTIPLE = 32  # the shipped network downsamples by 32: inputs are padded to a multiple


@dataclass(frozen=True)
class Boxes:
    """Decoded detections: ``xyxy`` (N, 4) float pixels of the original frame (x1, y1
    exclusive), ``scores`` (N,) 0..1, ``classes`` (N,) int class indices."""

    xyxy: NDArray[np.float32]
    scores: NDArray[np.float32]
    classes: NDArray[np.intp]

    def __len__(self) -> int:
        return int(self.scores.size)


def empty_boxes() -> Boxes:
    return Boxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.intp))


def normalise_frame(image: NDArray, low: float = 0.5, high: float = 99.5,
                    min_span: float | None = None, out: NDArray[np.float32] | None = None,
                    sample_step: int = 4) -> NDArray[np.float32]:
    """Frame -> float32 (H, W) in 0..1 for the model (see the module docstring).

    Parameters
    ----------
    image : (H, W) array: deg C (float) or grey levels/counts (integer).
    low, high : percentiles of the finite pixels mapped to 0 and 1.
    min_span : smallest ``high - low`` span stretched to full range, in the input's unit;
        None: 4.0 for float input (K), 24 for uint8 and 64 for wider integers (levels).
    out : optional output buffer (float32, same shape).
    sample_step : percentiles from every ``sample_step``-th row and column (speed).

    NaN and inf pixels map to 0. A frame with no finite pixel gives all zeros.
    """
    a = np.asarray(image)
    if a.ndim != 2:
        raise ValueError(f"need a (H, W) image, got shape {a.shape}")
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"need 0 <= low < high <= 100, got {low}, {high}")
    if min_span is None:
        min_span = 4.0 if a.dtype.kind == "f" else (24.0 if a.dtype == np.uint8 else 64.0)
    if out is None:
        out = np.empty(a.shape, np.float32)
    sample = a[::sample_step, ::sample_step]
    if a.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        out.fill(0.0)
        return out
    lo, hi = (float(v) for v in np.percentile(sample, (low, high)))
    span = hi - lo
    if not span >= min_span:  # (at 3e38, mid - span / 2 == mid: keep the span itself)
        lo, span = 0.5 * (lo + hi) - 0.5 * min_span, min_span
    with np.errstate(invalid="ignore", over="ignore"):
        np.subtract(a, lo, out=out, casting="unsafe")
        out *= np.float32(1.0 / span)
    # fmax/fmin return the non-NaN operand: NaN -> 0, -inf -> 0, +inf -> 1 ...
    np.fmax(out, 0.0, out=out)
    np.fmin(out, 1.0, out=out)
    if a.dtype.kind == "f":  # ... but an invalid pixel is no information: 0, as NaN
        out[~np.isfinite(a)] = 0.0
    return out


def onnx_session(path: Path, provider: str, threads: int) -> Any:
    """An onnxruntime session of the model at ``path`` on ``provider`` with ``threads`` intra-op
    threads (one inter-op thread); ValueError when the provider is not available here or the
    file is not a loadable ONNX model. onnxruntime is imported here: a second of start-up only
    when a model is used."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    available = ort.get_available_providers()
    if provider not in available:
        raise ValueError(f"onnxruntime provider {provider} is not available here "
                         f"(available: {available})")
    try:
        return ort.InferenceSession(str(path), options, providers=[provider])
    except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail...)
        raise ValueError(f"{path}: not a loadable ONNX model ({type(exc).__name__}: "
                         f"{exc})") from None


def padded_shape(height: int, width: int, multiple: int = INPUT_MULTIPLE) -> tuple[int, int]:
    """The input size a frame is padded to (bottom and right) for a network of this stride."""
    return (-(-height // multiple) * multiple, -(-width // multiple) * multiple)


def _peaks(heat: NDArray[np.float32], threshold: float, max_detections: int
           ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]:
    """Local 3x3 maxima of each class map at or above ``threshold``: class, row, col, score,
    best first, at most ``max_detections``."""
    classes, rows, cols, scores = [], [], [], []
    kernel = np.ones((3, 3), np.uint8)
    for c in range(heat.shape[0]):
        h = np.ascontiguousarray(heat[c], dtype=np.float32)
        peak = (h >= threshold) & (h >= cv2.dilate(h, kernel))
        r, q = np.nonzero(peak)
        classes.append(np.full(r.size, c, np.intp))
        rows.append(r)
        cols.append(q)
        scores.append(h[r, q])
    cls, row, col = np.concatenate(classes), np.concatenate(rows), np.concatenate(cols)
    score = np.concatenate(scores).astype(np.float32)
    order = np.argsort(-score, kind="stable")[:max_detections]
    return cls[order], row[order], col[order], score[order]


def decode_centernet(heatmap: NDArray, size: NDArray, offset: NDArray, stride: int,
                     threshold: float, image_shape: tuple[int, int],
                     max_detections: int = 300, vote_iou: float = 0.0) -> Boxes:
    """Boxes from centre-point outputs (see the module docstring); coordinates clipped to the
    original ``image_shape`` (H, W).

    ``vote_iou`` > 0 (box voting): each peak's box is the mean of the boxes decoded at the
    3x3 cells around it, weighted by their heatmap score of the peak's class, among the cells
    whose box overlaps the peak's own by at least this IoU (the peak's always does). For a
    model trained to regress the box at a centre's neighbours too (``centernet_targets``
    ``around``), it averages up to nine estimates of a box instead of taking one: on a person
    11 px wide one pixel of error costs a tenth of its IoU. The IoU gate keeps out cells that
    were not trained on the box (outside it, or another object's). 0: the peak's own box."""
    heat = np.asarray(heatmap, np.float32).reshape(heatmap.shape[-3:])
    wh = np.asarray(size, np.float32).reshape(2, *heat.shape[1:])
    off = np.asarray(offset, np.float32).reshape(2, *heat.shape[1:])
    cls, row, col, score = _peaks(heat, threshold, max_detections)
    if score.size == 0:
        return empty_boxes()
    xyxy = _cell_boxes(wh, off, row, col, stride)
    if vote_iou > 0:
        _, rows, cols = heat.shape
        total = np.zeros_like(xyxy)
        weight = np.zeros(score.size, np.float64)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                r, c = row + dy, col + dx
                inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
                r, c = np.clip(r, 0, rows - 1), np.clip(c, 0, cols - 1)
                box = _cell_boxes(wh, off, r, c, stride)
                w = heat[cls, r, c].astype(np.float64) * (
                    inside & (_paired_iou(box, xyxy) >= vote_iou))
                total += w[:, None] * box
                weight += w
        voted = weight > 0  # the peak votes for itself unless its score is 0
        xyxy[voted] = total[voted] / weight[voted, None]
    return _clipped(Boxes(xyxy.astype(np.float32), score, cls), image_shape)


def _cell_boxes(wh: NDArray, off: NDArray, row: NDArray, col: NDArray, stride: int
                ) -> NDArray[np.float64]:
    """The boxes (N, 4) xyxy px that the cells (``row``, ``col``) decode."""
    cx = (col + off[0, row, col].astype(np.float64)) * stride
    cy = (row + off[1, row, col].astype(np.float64)) * stride
    w = np.exp(np.clip(wh[0, row, col].astype(np.float64), -2.0, 8.0))
    h = np.exp(np.clip(wh[1, row, col].astype(np.float64), -2.0, 8.0))
    return np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)


def _paired_iou(a: NDArray, b: NDArray) -> NDArray[np.float64]:
    """IoU of each box of ``a`` (N, 4) with the box of ``b`` (N, 4) in the same row."""
    inter = (np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
             * np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None))
    union = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0])
             * (b[:, 3] - b[:, 1]) - inter)
    return inter / np.maximum(union, 1e-12)


def average_flipped(heatmap: NDArray, size: NDArray, heatmap_flipped: NDArray,
                    size_flipped: NDArray, width_cells: int) -> tuple[NDArray, NDArray]:
    """Heatmap and size outputs (1, C, H', W') and (1, 2, H', W') averaged with those of the
    left-right mirrored input, mirrored back over the first ``width_cells`` output columns (the
    frame's; the rest is padding). Offsets are taken from the unmirrored pass only."""
    heat = np.array(heatmap, np.float32, copy=True)
    wh = np.array(size, np.float32, copy=True)
    heat[..., :width_cells] += heatmap_flipped[..., width_cells - 1::-1]
    wh[..., :width_cells] += size_flipped[..., width_cells - 1::-1]
    heat[..., :width_cells] *= 0.5
    wh[..., :width_cells] *= 0.5
    return heat, wh


def decode_yolo(output: NDArray, threshold: float, image_shape: tuple[int, int],
                iou_threshold: float = 0.5, max_detections: int = 300,
                num_classes: int | None = None) -> Boxes:
    """Boxes from a YOLO-style head (1, 4 + C, N) or (1, N, 4 + C): ``cx, cy, w, h`` in input
    pixels then C class scores 0..1; class-wise non-maximum suppression at ``iou_threshold``.
    The orientation is the axis of length ``4 + num_classes`` (None: the shorter axis)."""
    a = np.asarray(output, np.float32)
    a = a.reshape(a.shape[-2:]) if a.ndim == 3 else a
    if a.ndim != 2 or max(a.shape) < 5:
        raise ValueError(f"need a YOLO head of shape (1, 4 + C, N), got {np.shape(output)}")
    if num_classes is not None:
        if 4 + num_classes not in a.shape:
            raise ValueError(f"YOLO head {np.shape(output)} has no axis of 4 + {num_classes}")
        if a.shape[0] != 4 + num_classes:
            a = a.T
    elif a.shape[0] > a.shape[1]:  # (N, 4 + C): many candidates, few columns
        a = a.T
    scores_all = a[4:]
    cls = np.argmax(scores_all, axis=0)
    score = scores_all[cls, np.arange(a.shape[1])]
    keep = score >= threshold
    cx, cy, w, h = (a[i, keep] for i in range(4))
    cls, score = cls[keep], score[keep]
    if score.size == 0:
        return empty_boxes()
    xyxy = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)
    merged = nms_classwise(Boxes(xyxy.astype(np.float32), score.astype(np.float32),
                                 cls.astype(np.intp)), iou_threshold, max_detections)
    return _clipped(merged, image_shape)


def nms_classwise(boxes: Boxes, iou_threshold: float = 0.5, max_detections: int = 300
                  ) -> Boxes:
    """Greedy non-maximum suppression per class (OpenCV's ``dnn.NMSBoxes``): of boxes of one
    class overlapping by IoU above ``iou_threshold`` the best scored is kept; best first."""
    if len(boxes) == 0:
        return boxes
    xyxy = boxes.xyxy.astype(np.float32)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    kept = []
    for c in np.unique(boxes.classes):
        idx = np.flatnonzero(boxes.classes == c)
        chosen = cv2.dnn.NMSBoxes(xywh[idx].tolist(), boxes.scores[idx].tolist(), 0.0,
                                  iou_threshold)
        kept.extend(idx[np.asarray(chosen, np.intp).reshape(-1)].tolist())
    k = np.asarray(kept, np.intp)
    k = k[np.argsort(-boxes.scores[k], kind="stable")][:max_detections]
    return Boxes(xyxy[k], boxes.scores[k].astype(np.float32), boxes.classes[k].astype(np.intp))


def longer_side(xyxy: NDArray) -> NDArray[np.float64]:
    """Longer side of each box (N, 4) xyxy, px."""
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    return np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])


#: Height of a standing person, m: the size the learned detector's scale awareness expects.
PERSON_HEIGHT_M = 1.8


def scales_for(scales: tuple[float, ...], gsd_m: float | None,
               reduced_from_person_px: float) -> tuple[float, ...]:
    """The image scales to run on a frame (scale awareness, issue 18 item 5). The scales
    below 1 find people and animals too large for the network at full scale (64 px and more);
    they are left out when the camera's geometry says no person can be that large: when a
    standing person (:data:`PERSON_HEIGHT_M`) at ``gsd_m`` (m per pixel at the frame's centre,
    from altitude and pitch) would be shorter than ``reduced_from_person_px`` pixels. Unknown
    geometry (``gsd_m`` None or not finite and positive) or ``reduced_from_person_px`` 0:
    every scale. Scales of 1 and above are always run."""
    if not reduced_from_person_px or gsd_m is None or not (math.isfinite(gsd_m) and gsd_m > 0):
        return scales
    if PERSON_HEIGHT_M / gsd_m >= reduced_from_person_px:
        return scales
    kept = tuple(s for s in scales if s >= 1.0)
    return kept or scales


def merge_scales(found: list[Boxes], scales: tuple[float, ...], image_shape: tuple[int, int],
                 reduced_min_px: float = 0.0) -> Boxes:
    """One frame's boxes from its runs at ``scales`` (``found[k]`` in the pixels of the frame
    resized by ``scales[k]``): back to frame pixels (H, W = ``image_shape``); of scales below 1
    only boxes at least ``reduced_min_px`` long on their longer side; merged per class."""
    h, w = image_shape
    out = []
    for b, scale in zip(found, scales, strict=True):
        if scale != 1.0 and len(b):
            xyxy = np.clip(b.xyxy / np.float32(scale), 0.0, [w, h, w, h]).astype(np.float32)
            keep = longer_side(xyxy) >= (reduced_min_px if scale < 1.0 else 0.0)
            b = Boxes(xyxy[keep], b.scores[keep], b.classes[keep])
        out.append(b)
    if len(out) == 1:
        return out[0]
    return nms_classwise(Boxes(np.concatenate([b.xyxy for b in out]),
                               np.concatenate([b.scores for b in out]),
                               np.concatenate([b.classes for b in out])))


def _clipped(boxes: Boxes, image_shape: tuple[int, int]) -> Boxes:
    h, w = image_shape
    xyxy = boxes.xyxy.copy()
    np.clip(xyxy[:, 0::2], 0.0, float(w), out=xyxy[:, 0::2])
    np.clip(xyxy[:, 1::2], 0.0, float(h), out=xyxy[:, 1::2])
    keep = (xyxy[:, 2] - xyxy[:, 0] >= 1.0) & (xyxy[:, 3] - xyxy[:, 1] >= 1.0)
    return Boxes(xyxy[keep], boxes.scores[keep], boxes.classes[keep])


def gaussian_radius(width: float, height: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius (cells or pixels, as the box) within which a shifted corner pair
    still overlaps the box by ``min_overlap`` IoU; the training target's spread."""
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 * b1 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 * b2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 * b3 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def centernet_targets(boxes: NDArray, classes: NDArray, num_classes: int,
                      out_shape: tuple[int, int], stride: int, around: int = 0,
                      around_weight: float = 0.5,
                      ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32],
                                 NDArray[np.float32]]:
    """Training targets for :func:`decode_centernet`: heatmap (C, h, w) with a Gaussian peak
    of 1 at each box centre, size (2, h, w) log width/height in pixels, offset (2, h, w), and a
    mask (h, w) of regression weights: 1 at the centre cells. ``boxes`` (N, 4) xyxy pixels,
    ``classes`` (N,) ints.

    ``around`` > 0 also trains the cells within ``around`` cells of a centre whose middle lies
    inside the box (weight ``around_weight``) to regress the same box: size as at the centre,
    offset ``centre - cell`` in cells (so -``around``..``around`` + 1), so a peak found one cell
    off the labelled centre still decodes the labelled box (TTFNet-style area regression,
    limited to the neighbourhood). A centre cell always keeps its own object; a cell near two
    centres takes the nearer one."""
    h, w = out_shape
    heat = np.zeros((num_classes, h, w), np.float32)
    size = np.zeros((2, h, w), np.float32)
    off = np.zeros((2, h, w), np.float32)
    mask = np.zeros((h, w), np.float32)
    claimed = np.full((h, w), np.inf)  # distance (cells) to the object a cell regresses; -1 centre
    neighbours = [(dy, dx) for dy in range(-around, around + 1)
                  for dx in range(-around, around + 1) if dy or dx]
    for (x0, y0, x1, y1), c in zip(np.asarray(boxes, np.float64), np.asarray(classes),
                                   strict=True):
        bw, bh = x1 - x0, y1 - y0
        if bw < 1 or bh < 1:
            continue
        cx, cy = 0.5 * (x0 + x1) / stride, 0.5 * (y0 + y1) / stride
        ix, iy = int(cx), int(cy)
        if not (0 <= ix < w and 0 <= iy < h):
            continue
        radius = max(0.0, gaussian_radius(bw / stride, bh / stride))
        sigma = max(radius / 3.0, 0.35)
        r = max(1, math.ceil(3 * sigma))
        ys, xs = np.ogrid[-r:r + 1, -r:r + 1]
        g = np.exp(-(xs * xs + ys * ys) / (2 * sigma * sigma)).astype(np.float32)
        top, bottom = min(iy, r), min(h - iy, r + 1)
        left, right = min(ix, r), min(w - ix, r + 1)
        region = heat[c, iy - top:iy + bottom, ix - left:ix + right]
        np.maximum(region, g[r - top:r + bottom, r - left:r + right], out=region)
        log_wh = (math.log(bw), math.log(bh))
        size[:, iy, ix] = log_wh
        off[:, iy, ix] = (cx - ix, cy - iy)
        mask[iy, ix] = 1.0
        claimed[iy, ix] = -1.0
        for dy, dx in neighbours:
            jy, jx = iy + dy, ix + dx
            if not (0 <= jx < w and 0 <= jy < h):
                continue
            if not (x0 <= (jx + 0.5) * stride <= x1 and y0 <= (jy + 0.5) * stride <= y1):
                continue
            d = math.hypot(cx - jx - 0.5, cy - jy - 0.5)
            if d >= claimed[jy, jx]:
                continue
            claimed[jy, jx] = d
            size[:, jy, jx] = log_wh
            off[:, jy, jx] = (cx - jx, cy - jy)
            mask[jy, jx] = around_weight
    return heat, size, off, mask
