#!/usr/bin/env python3
"""Train the shipped thermal object detector (people, vehicles, bicycles, animals) on the CPU.

A small centre-point network (CenterNet-style: a class heatmap, log box size and centre
offset at stride 4) on one normalised channel (``core/detection/model_io.normalise_frame``, the same
function inference uses), trained on random crops of full-resolution frames, exported to ONNX
for onnxruntime. Data: HIT-UAV (CC BY 4.0, drone views), plus any ``--extra`` labelled folders
(:func:`thermal_perception.io.labels.read_dataset`: YOLO, COCO; e.g. the public-domain
Roboflow "Thermal Dogs and People", side-on people and dogs, drawn in Seek's Spectra palette:
``--extra DIR:seek_spectra``). Each set's ``train`` split trains; its ``val`` split chooses the
epoch and the score thresholds; no ``test`` split is ever read here.

    pip install -r requirements/train.txt        # torch (CPU build), onnx; not in make test
    git clone https://github.com/suojiashun/HIT-UAV-Infrared-Thermal-Dataset /data/hit-uav
    python tools/train_detector.py --data /data/hit-uav --out thermal_perception/models

Fixed seeds (numpy, torch, crop order); two CPU threads; channels-last tensors, and with
``--precision bf16`` the convolutions in bfloat16 (CPUs with AVX512-BF16 or AMX: about twice
the speed of float32; the loss, validation and the exported weights stay float32); ``--ema``
validates and keeps a moving average of the weights; ``--hard-negatives P`` crops images
around the boxes the network finds that the evaluation would count false (mined again every
``--mine-every`` epochs; the drone model's fourth stage). Writes ``thermal_detector.onnx``,
``thermal_detector.json`` (class names, layout, stride, per-class thresholds, the training
record) and ``train_log.csv`` to ``--out``; with ``--keep-best-on SET`` also the epoch best on
that val set alone under ``--out/SET/`` (the drone model: ``--keep-best-on hit-uav``).
Progress with tqdm.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from thermal_perception.core.detection.model_io import (
    INPUT_MULTIPLE,
    centernet_targets,
    decode_centernet,
    merge_scales,
    normalise_frame,
    padded_shape,
    scales_for,
)
from thermal_perception.evaluation.boxes import AP_SCORE_FLOOR
from thermal_perception.evaluation.dataset import item_gsd_m
from thermal_perception.io.dataset_images import read_dataset_image
from thermal_perception.io.labels import LabelledImage, read_dataset, read_hit_uav

CLASSES = ("person", "vehicle", "bicycle", "animal")
#: Random scale range of a crop: HIT-UAV's frames (people of 5-40 px) and the extra sets
#: (hand-held, people up to the whole frame: made smaller more often than larger).
SCALES = {"hit-uav": (0.7, 1.4), "extra": (0.2, 0.8)}
STRIDE = 4
#: Scale awareness (``core/detection/model_io.scales_for``): the reduced scales run only when a
#: standing person at the frame's centre would be at least this tall at full scale, px, or
#: when the geometry is unknown (the side-on sets). Val cannot choose it: its drone frames put
#: a person at 10-23 px and the side-on ones say no geometry, so any value above 23 scores
#: the same. 32: in an oblique view people near the bottom edge are up to twice the centre's
#: size, so this keeps the half scale wherever people could reach the 64 px it finds.
REDUCED_FROM_PERSON_PX = 32.0


def build_model(width: float = 1.0, blocks: int = 0):
    """The network (torch): a strided backbone to 1/32, top-down fusion back to 1/4, three
    heads. Depthwise-separable blocks past the stem keep it near 0.5 GMAC at 640x512.

    ``blocks`` residual depthwise-separable blocks are added at 1/8, 1/16 (two each),
    1/32 and after the fusion at 1/8 and 1/4 (one each); their last batch norm starts at
    zero, so a network deepened from an earlier run's weights (``--init``) starts as exactly
    that run's function and training only adds to it (+0.05 M parameters, +25% MACs per block).
    """
    import torch
    from torch import nn

    def cbr(cin, cout, stride=1):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def dws(cin, cout, stride=1):
        return nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True))

    class Residual(nn.Module):
        """x + (depthwise 3x3, BN, ReLU, pointwise, BN with zero scale): identity at start."""

        def __init__(self, ch: int) -> None:
            super().__init__()
            self.branch = nn.Sequential(
                nn.Conv2d(ch, ch, 3, 1, 1, groups=ch, bias=False), nn.BatchNorm2d(ch),
                nn.ReLU(inplace=True), nn.Conv2d(ch, ch, 1, bias=False), nn.BatchNorm2d(ch))
            nn.init.zeros_(self.branch[4].weight)

        def forward(self, x):
            return x + self.branch(x)

    def residuals(ch: int, n: int):
        return nn.Sequential(*(Residual(ch) for _ in range(n))) if n else nn.Identity()

    c = [16, 32, 64, 96, 128]
    c = [max(8, round(k * width / 8) * 8) for k in c]
    neck = max(8, round(48 * width / 8) * 8)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.s2 = cbr(1, c[0], 2)
            self.s4 = nn.Sequential(cbr(c[0], c[1], 2), dws(c[1], c[1]))
            self.s8 = nn.Sequential(dws(c[1], c[2], 2), dws(c[2], c[2]))
            self.s16 = nn.Sequential(dws(c[2], c[3], 2), dws(c[3], c[3]), dws(c[3], c[3]))
            self.s32 = nn.Sequential(dws(c[3], c[4], 2), dws(c[4], c[4]))
            # deepening (``blocks``): new modules, so an earlier run's keys load unchanged
            self.r8, self.r16 = residuals(c[2], 2 * blocks), residuals(c[3], 2 * blocks)
            self.r32 = residuals(c[4], blocks)
            self.rf8, self.rf4 = residuals(neck, blocks), residuals(neck, blocks)
            self.l32 = nn.Conv2d(c[4], neck, 1)
            self.l16 = nn.Conv2d(c[3], neck, 1)
            self.l8 = nn.Conv2d(c[2], neck, 1)
            self.l4 = nn.Conv2d(c[1], neck, 1)
            self.f16, self.f8, self.f4 = dws(neck, neck), dws(neck, neck), dws(neck, neck)
            self.head = dws(neck, neck)
            self.heat = nn.Conv2d(neck, len(CLASSES), 1)
            self.size = nn.Conv2d(neck, 2, 1)
            self.offset = nn.Conv2d(neck, 2, 1)
            nn.init.constant_(self.heat.bias, -4.6)  # prior 0.01: stable focal loss at start
            nn.init.constant_(self.size.bias, 2.5)

        def forward(self, x):
            up = nn.functional.interpolate
            x4 = self.s4(self.s2(x))
            x8 = self.r8(self.s8(x4))
            x16 = self.r16(self.s16(x8))
            x32 = self.r32(self.s32(x16))
            p = self.l32(x32)
            p = self.f16(self.l16(x16) + up(p, scale_factor=2.0, mode="nearest"))
            p = self.rf8(self.f8(self.l8(x8) + up(p, scale_factor=2.0, mode="nearest")))
            p = self.f4(self.l4(x4) + up(p, scale_factor=2.0, mode="nearest"))
            p = self.head(self.rf4(p))
            # bf16 training (--precision): the sigmoid and the outputs in float32 (a no-op
            # in float32 and in the ONNX export)
            heat, size, off = (t if t.dtype == torch.float32 else t.float()
                               for t in (self.heat(p), self.size(p), self.offset(p)))
            return torch.sigmoid(heat), size, off

    return Net()


# -- data ------------------------------------------------------------------------------------

def load_split(root: Path, split: str, palette: str | None = None, source: str = "hit-uav"
               ) -> tuple[list[LabelledImage], list[np.ndarray]]:
    """One split's labelled items (``extra['set']`` = ``source``) and their 8-bit images."""
    from tqdm import tqdm

    items = read_hit_uav(root, split) if source == "hit-uav" else read_dataset(root, split)
    images = []
    for it in tqdm(items, desc=f"reading {root.name} {split}", unit="image"):
        img, radiometric = read_dataset_image(it, palette)
        if radiometric or img.dtype != np.uint8:
            raise SystemExit(f"{it.path}: training reads 8-bit images only")
        it.extra["set"] = source
        images.append(img)
    return items, images


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photometric changes a camera, an AGC or a radiometric conversion could make: gain and
    offset, gamma, inverted gamma, blur, noise (Lepton-class), JPEG-free. Returns float32."""
    x = img.astype(np.float32) / 255.0
    if rng.random() < 0.5:
        x = np.power(np.clip(x, 0, 1), rng.uniform(0.6, 1.6))
    x = x * rng.uniform(0.6, 1.3) + rng.uniform(-0.15, 0.15)
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.2))
    if rng.random() < 0.5:
        x = x + rng.normal(0.0, rng.uniform(0.005, 0.03), x.shape).astype(np.float32)
    return x * 255.0  # back to the 8-bit scale: normalise_frame stretches it again


def _overlaps(region: tuple[float, float, float, float], boxes: list) -> bool:
    x0, y0, x1, y1 = region
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes)


def copy_paste(img: np.ndarray, boxes: np.ndarray, classes: np.ndarray,
               rng: np.random.Generator, ignore: list | tuple = (), max_objects: int = 6,
               max_side: float = 40.0, margin: int = 3
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small-object copy-paste (Kisantal et al. 2019) within one frame: up to
    ``max_objects`` labelled objects whose longer side is at most ``max_side`` px are copied,
    with ``margin`` px of their surroundings faded in linearly, to random places of the same
    frame (same camera gain, so no seam of another frame's AGC) where they touch no labelled
    box, ignore region or earlier copy. Returns a new uint8 image and the boxes (N, 4) and
    classes (N,) with the copies' appended; ``img`` is not changed."""
    h, w = img.shape
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    classes = np.asarray(classes, np.intp)
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    small = np.flatnonzero(sides <= max_side)
    if small.size == 0:
        return img.copy(), boxes, classes
    out = img.astype(np.float32)
    occupied = [tuple(b) for b in boxes] + [tuple(b) for b in ignore]
    new_boxes, new_classes = [], []
    for k in rng.choice(small, size=min(max_objects, small.size), replace=False):
        x0, y0, x1, y1 = boxes[k]
        sx0, sy0 = max(0, math.floor(x0) - margin), max(0, math.floor(y0) - margin)
        sx1, sy1 = min(w, math.ceil(x1) + margin), min(h, math.ceil(y1) + margin)
        pw, ph = sx1 - sx0, sy1 - sy0
        if pw >= w or ph >= h or pw < 1 or ph < 1:
            continue
        for _ in range(10):
            tx, ty = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
            if not _overlaps((tx, ty, tx + pw, ty + ph), occupied):
                break
        else:
            continue
        ramp = [np.clip((np.minimum(np.arange(n), n - 1 - np.arange(n)) + 1.0) / (margin + 1.0),
                        0.0, 1.0) for n in (ph, pw)]
        alpha = np.outer(*ramp).astype(np.float32)
        dst = out[ty:ty + ph, tx:tx + pw]
        dst += alpha * (img[sy0:sy1, sx0:sx1].astype(np.float32) - dst)
        occupied.append((tx, ty, tx + pw, ty + ph))
        new_boxes.append((tx + x0 - sx0, ty + y0 - sy0, tx + x1 - sx0, ty + y1 - sy0))
        new_classes.append(classes[k])
    if new_boxes:
        boxes = np.vstack([boxes, np.asarray(new_boxes)])
        classes = np.concatenate([classes, np.asarray(new_classes, np.intp)])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), boxes, classes


def sample_crop(item: LabelledImage, img: np.ndarray, crop: tuple[int, int],
                rng: np.random.Generator, paste: float = 0.0,
                focus: tuple[float, float] | None = None, vflip: float = 0.0):
    """A random crop (random scale from :data:`SCALES`, horizontal flip; the extra sets also
    a random aspect change 0.8-1.25, as their images were stretched square) and its boxes.
    HIT-UAV frames get :func:`copy_paste` first with probability ``paste`` and are turned
    upside down with probability ``vflip`` (a drone's view has no up; a side-on view has).
    ``focus`` (x, y px of ``img``): the crop is placed at random among the places that hold
    that point at least 8 px inside it (where the scaled frame allows; a hard negative, see
    :func:`mine_hard_negatives`)."""
    ch, cw = crop
    extra = item.extra.get("set", "hit-uav") != "hit-uav"
    boxes = np.asarray(item.boxes, np.float64).reshape(-1, 4)
    classes = np.asarray([CLASSES.index(lab) for lab in item.labels], np.intp)
    if paste and not extra and rng.random() < paste:
        img, boxes, classes = copy_paste(img, boxes, classes, rng, item.ignore)
    lo, hi = SCALES["extra" if extra else "hit-uav"]
    scale = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    aspect = math.exp(rng.uniform(-0.22, 0.22)) if extra else 1.0
    h, w = img.shape
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale * aspect))
    big = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1
                     else cv2.INTER_LINEAR)
    fx, fy = sw / w, sh / h  # the resize's own factors: the rounded size, not the draw
    if focus is None:
        y0 = int(rng.integers(0, max(1, sh - ch + 1)))
        x0 = int(rng.integers(0, max(1, sw - cw + 1)))
    else:
        y0 = _offset_holding(focus[1] * fy, ch, sh, rng)
        x0 = _offset_holding(focus[0] * fx, cw, sw, rng)
    patch = np.zeros((ch, cw), np.uint8)
    view = big[y0:y0 + ch, x0:x0 + cw]
    patch[:view.shape[0], :view.shape[1]] = view
    boxes = boxes * [fx, fy, fx, fy]
    boxes -= [x0, y0, x0, y0]
    cx = 0.5 * (boxes[:, 0] + boxes[:, 2])
    cy = 0.5 * (boxes[:, 1] + boxes[:, 3])
    inside = (cx >= 0) & (cx < view.shape[1]) & (cy >= 0) & (cy < view.shape[0])
    boxes, classes = boxes[inside], classes[inside]
    np.clip(boxes[:, 0::2], 0, cw, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, ch, out=boxes[:, 1::2])
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
        boxes = np.stack([cw - boxes[:, 2], boxes[:, 1], cw - boxes[:, 0], boxes[:, 3]], 1) \
            if boxes.size else boxes
    if vflip and not extra and rng.random() < vflip:
        patch = patch[::-1]
        boxes = np.stack([boxes[:, 0], ch - boxes[:, 3], boxes[:, 2], ch - boxes[:, 1]], 1) \
            if boxes.size else boxes
    return np.ascontiguousarray(patch), boxes, classes


def _offset_holding(p: float, size: int, full: int, rng: np.random.Generator,
                    margin: float = 8.0) -> int:
    """A random crop start (0 .. full - size) along one axis that puts the point ``p`` at
    least ``margin`` px inside a crop of ``size`` px, or the nearest start when none can."""
    top = max(0, full - size)
    lo = min(top, max(0, math.ceil(p + margin - size)))
    hi = max(lo, min(top, math.floor(p - margin)))
    return int(rng.integers(lo, hi + 1))


def mine_hard_negatives(net, items, images, threshold: float) -> list[np.ndarray]:
    """Each training image's hard negatives: the centres (K, 2; x, y px) of the boxes the
    network finds at full scale with a score of at least ``threshold`` that overlap no
    labelled box of their class at IoU 0.5 (the evaluation's false detections, except that a
    second box on an object already found, which it also counts false, is not mined), leaving
    out those centred in an ignore region as the evaluation does. An image listed more than
    once is run once."""
    from thermal_perception.evaluation.boxes import centred_in, iou_matrix

    done: dict[int, np.ndarray] = {}
    found = []
    for it, img in zip(items, images, strict=True):
        if id(img) not in done:
            b = predict(net, img, threshold)
            labels = np.asarray(it.boxes, np.float64).reshape(-1, 4)
            classes = np.asarray([CLASSES.index(lab) for lab in it.labels], np.intp)
            false = np.ones(len(b), bool)
            if len(b) and labels.size:
                iou = iou_matrix(b.xyxy, labels)
                false = ~((iou >= 0.5) & (b.classes[:, None] == classes[None, :])).any(1)
            false &= ~centred_in(b.xyxy, it.ignore)
            done[id(img)] = 0.5 * (b.xyxy[false, :2] + b.xyxy[false, 2:]).astype(np.float64)
        found.append(done[id(img)])
    return found


def batch(items, images, order, crop, rng, paste: float = 0.0, around: int = 0,
          hard: list[np.ndarray] | None = None, hard_p: float = 0.0, vflip: float = 0.0):
    """A training batch of the images ``order`` names; with ``hard`` (from
    :func:`mine_hard_negatives`) an image that has hard negatives is cropped around one of
    them with probability ``hard_p``."""
    xs, heats, sizes, offs, masks = [], [], [], [], []
    out_shape = (crop[0] // STRIDE, crop[1] // STRIDE)
    for i in order:
        focus = None
        if hard_p and hard is not None and len(hard[i]) and rng.random() < hard_p:
            focus = tuple(hard[i][rng.integers(len(hard[i]))])
        patch, boxes, classes = sample_crop(items[i], images[i], crop, rng, paste, focus, vflip)
        xs.append(normalise_frame(augment(patch, rng)))
        h, s, o, m = centernet_targets(boxes, classes, len(CLASSES), out_shape, STRIDE,
                                       around=around)
        heats.append(h)
        sizes.append(s)
        offs.append(o)
        masks.append(m)
    return (np.stack(xs)[:, None], np.stack(heats), np.stack(sizes), np.stack(offs),
            np.stack(masks))


def focal_loss(pred, gt):
    """CenterNet's penalty-reduced pixel-wise focal loss (alpha 2, beta 4)."""
    import torch

    pred = pred.clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    neg = 1.0 - pos
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred ** 2 * (1 - gt) ** 4 * neg
    n = pos.sum().clamp(min=1.0)
    return -(pos_loss.sum() + neg_loss.sum()) / n


def giou_loss(p_size, p_off, size, off, weight, stride: int = STRIDE):
    """Mean of 1 - GIoU (Rezatofighi et al., CVPR 2019) between the box each weighted cell
    decodes (``p_off``: centre in cells from the cell, ``p_size``: log width/height, px) and
    its target box, weighted by ``weight`` (B, 1, h, w; the regression mask). Both boxes are
    taken relative to the same cell, so only their offsets and sizes matter: it scores a
    one-pixel error on an 11-pixel person as the IoU it costs, where the L1 losses score it
    the same on a 60-pixel car."""
    import torch

    def corners(s, o):
        half = 0.5 * torch.exp(s.clamp(-2.0, 8.0)) / stride
        return (o[:, 0] - half[:, 0], o[:, 1] - half[:, 1], o[:, 0] + half[:, 0],
                o[:, 1] + half[:, 1])

    px0, py0, px1, py1 = corners(p_size, p_off)
    gx0, gy0, gx1, gy1 = corners(size, off)
    inter = ((torch.minimum(px1, gx1) - torch.maximum(px0, gx0)).clamp(min=0)
             * (torch.minimum(py1, gy1) - torch.maximum(py0, gy0)).clamp(min=0))
    union = (px1 - px0) * (py1 - py0) + (gx1 - gx0) * (gy1 - gy0) - inter
    hull = ((torch.maximum(px1, gx1) - torch.minimum(px0, gx0))
            * (torch.maximum(py1, gy1) - torch.minimum(py0, gy0)))
    giou = inter / union.clamp(min=1e-6) - (hull - union) / hull.clamp(min=1e-6)
    w = weight[:, 0]
    return ((1.0 - giou) * w).sum() / w.sum().clamp(min=1.0)


# -- validation -------------------------------------------------------------------------------

def predict(net, image: np.ndarray, threshold: float, scales: tuple[float, ...] = (1.0,),
            gsd_m: float | None = None):
    """Boxes as the shipped detector finds them (``LearnedDetector.boxes``): the normalised
    frame run at each scale that ``scales_for`` keeps for ``gsd_m``, boxes merged per class."""
    import torch

    scales = scales_for(scales, gsd_m, REDUCED_FROM_PERSON_PX)
    h, w = image.shape
    norm = normalise_frame(image)
    found = []
    for scale in scales:
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        x = np.zeros((1, 1, *padded_shape(sh, sw, INPUT_MULTIPLE)), np.float32)
        x[0, 0, :sh, :sw] = norm if scale == 1.0 else cv2.resize(
            norm, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        with torch.no_grad():
            heat, size, off = (t.numpy() for t in net(torch.from_numpy(x)))
        found.append(decode_centernet(heat[0], size[0], off[0], STRIDE, threshold, (sh, sw)))
    return merge_scales(found, scales, (h, w))


def validate(net, items, images, threshold: float = AP_SCORE_FLOOR,
             scales: tuple[float, ...] = (1.0,)) -> tuple[dict, dict, float]:
    """The report on all validation images, one per set, and the selection score: the mean
    over sets of each set's mean AP50 over the classes it labels (so a small side-on set
    weighs as much as HIT-UAV)."""
    from thermal_perception.evaluation.boxes import evaluate_boxes

    preds = [predict(net, img, threshold, scales, item_gsd_m(it))
             for it, img in zip(items, images, strict=True)]
    per_set, score = selection_score(items, preds)
    return evaluate_boxes(items, preds, CLASSES), per_set, score


def set_score(report: dict) -> float:
    """One set's mean AP50 over the classes it labels."""
    labelled = [c for c in CLASSES if report["classes"][c]["labelled"]]
    return float(np.mean([report["classes"][c]["ap50"] for c in labelled]))


def write_model(net, out: Path, record: dict, val_items, val_images,
                scales: tuple[float, ...], width: float, blocks: int) -> None:
    """Export ``net`` to ``out``: ``thermal_detector.onnx``, the torch weights (for ``--init``;
    not shipped) and ``thermal_detector.json``, its card, with per-class score thresholds of
    best F1 on the validation split."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    net.eval()
    report, per_set, score = validate(net, val_items, val_images, threshold=AP_SCORE_FLOOR,
                                      scales=scales)
    thresholds = {c: report["classes"][c]["best_f1_threshold"] for c in CLASSES}
    onnx_path = out / "thermal_detector.onnx"
    net = net.to(memory_format=torch.contiguous_format)
    export_onnx(net, onnx_path)
    torch.save({"state_dict": net.state_dict(), "width": width, "blocks": blocks},
               out / "thermal_detector.pt")
    card = {
        "format": "thermal_perception detector 1",
        "layout": "centernet", "stride": STRIDE, "input_multiple": INPUT_MULTIPLE,
        "input": "image (1, 1, H, W) float32: core.detection.model_io.normalise_frame of the "
                 "frame, padded right/bottom with 0 to a multiple of 32",
        "outputs": ["heatmap (1, C, H/4, W/4) sigmoid", "size (1, 2, H/4, W/4) log w, h px",
                    "offset (1, 2, H/4, W/4) cells"],
        "classes": list(CLASSES), "thresholds": thresholds, "scales": list(scales),
        "reduced_from_person_px": REDUCED_FROM_PERSON_PX,
        "training": dict(
            record,
            val={c: {k: report["classes"][c][k] for k in ("ap50", "precision", "recall", "f1")}
                 for c in CLASSES},
            val_score=score,
            val_per_set={n: {c: r["classes"][c]["ap50"] for c in CLASSES
                             if r["classes"][c]["labelled"]} for n, r in per_set.items()}),
    }
    (out / "thermal_detector.json").write_text(json.dumps(card, indent=1))
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB)")


def selection_score(items: list[LabelledImage], preds: list) -> tuple[dict, float]:
    """The report of each set (``extra['set']``) and the selection score: the mean over sets
    of each set's mean AP50 over the classes it labels (so a small side-on set weighs as much
    as HIT-UAV)."""
    from thermal_perception.evaluation.boxes import evaluate_boxes

    per_set, means = {}, []
    for name in dict.fromkeys(it.extra.get("set", "hit-uav") for it in items):
        idx = [k for k, it in enumerate(items) if it.extra.get("set", "hit-uav") == name]
        r = evaluate_boxes([items[k] for k in idx], [preds[k] for k in idx], CLASSES)
        per_set[name] = r
        means.append(set_score(r))
    return per_set, float(np.mean(means))


# -- main -------------------------------------------------------------------------------------

def git_commit(path: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def export_onnx(net, path: Path) -> None:
    import torch

    net.eval()
    dummy = torch.zeros(1, 1, 512, 640)
    torch.onnx.export(net, (dummy,), str(path), input_names=["image"],
                      output_names=["heatmap", "size", "offset"], opset_version=17,
                      dynamic_axes={"image": {2: "height", 3: "width"},
                                    "heatmap": {2: "h4", 3: "w4"}, "size": {2: "h4", 3: "w4"},
                                    "offset": {2: "h4", 3: "w4"}}, dynamo=False)


def state_from_onnx(net, path: Path, calibration: np.ndarray) -> float:
    """Load the weights of an exported ``thermal_detector.onnx`` into ``net`` (built with the
    same width and blocks), for ``--init`` when the run's ``thermal_detector.pt`` is not at
    hand. Returns the largest difference of the outputs from onnxruntime's on ``calibration``.

    The export folded each batch norm into the convolution before it (weight W, bias b), so
    the norm's own scale and statistics are gone. They are rebuilt so that the network in
    evaluation gives exactly the ONNX model's outputs and in training (batch statistics)
    nearly so: the convolution keeps W; its norm gets the mean m and variance v of W*x over
    ``calibration`` (N, 1, H, W) as running statistics, scale sqrt(v + eps) and shift b + m.
    The ONNX convolutions are matched to the network's in the order they run, each shape
    checked; a network that does not fit raises SystemExit."""
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import numpy_helper
    from torch import nn

    model = onnx.load(str(path))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    onnx_convs = [n for n in model.graph.node if n.op_type == "Conv"]
    # the network's convolutions in the order they run, each with the norm that follows it
    norm_after = {}
    for seq in net.modules():
        if isinstance(seq, nn.Sequential):
            kids = list(seq)
            norm_after.update({id(a): b for a, b in itertools.pairwise(kids)
                               if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d)})
    order: list = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod))
             for m in net.modules() if isinstance(m, nn.Conv2d)]
    net.eval()
    with torch.no_grad():
        net(torch.from_numpy(calibration[:1]))
    for h in hooks:
        h.remove()
    if len(order) != len(onnx_convs):
        raise SystemExit(f"{path}: {len(onnx_convs)} convolutions, the network has "
                         f"{len(order)} (--width/--blocks of that model?)")
    fused = []
    with torch.no_grad():
        for conv, node in zip(order, onnx_convs, strict=True):
            w = weights[node.input[1]]
            b = weights[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise SystemExit(f"{path}: convolution {node.name} is {w.shape}, the "
                                 f"network's is {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(np.array(w)))
            norm = norm_after.get(id(conv))
            if norm is None:
                conv.bias.copy_(torch.from_numpy(np.array(b)))
                continue
            # first the identity norm plus the folded bias: the ONNX model's function
            norm.weight.fill_(1.0)
            norm.bias.copy_(torch.from_numpy(np.array(b)))
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)
            fused.append((conv, norm))
        sums = {id(c): [0.0, 0.0, 0] for c, _ in fused}

        def record(mod, inputs, out):
            o = out.double()
            s = sums[id(mod)]
            s[0] = s[0] + o.sum((0, 2, 3))
            s[1] = s[1] + (o * o).sum((0, 2, 3))
            s[2] += o.shape[0] * o.shape[2] * o.shape[3]

        hooks = [c.register_forward_hook(record) for c, _ in fused]
        for i in range(0, len(calibration), 8):
            net(torch.from_numpy(calibration[i:i + 8]))
        for h in hooks:
            h.remove()
        for conv, norm in fused:
            s1, s2, n = sums[id(conv)]
            mean = s1 / n
            var = (s2 / n - mean * mean).clamp(min=0.0)
            norm.running_mean.copy_(mean.float())
            norm.running_var.copy_(var.float())
            norm.weight.copy_(torch.sqrt(var + norm.eps).float())
            norm.bias.add_(mean.float())
        x = np.ascontiguousarray(calibration[:1])
        ours = [t.numpy() for t in net(torch.from_numpy(x))]
    theirs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"image": x})
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs, strict=True))
    if diff > 1e-3:
        raise SystemExit(f"{path}: the rebuilt network differs from the ONNX model by {diff}")
    return diff


def _module(model):
    """The network inside an ``AveragedModel`` (``--ema``), or the network itself."""
    return getattr(model, "module", model)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="HIT-UAV checkout")
    ap.add_argument("--extra", action="append", default=[], metavar="DIR[:PALETTE]",
                    help="another labelled set (YOLO or COCO folder with train/val splits), "
                         "with the palette its colour images were drawn with")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5],
                    help="image scales the detector runs (validation and the card): 1 0.5")
    ap.add_argument("--extra-repeat", type=int, default=4,
                    help="times each extra training image is seen per epoch (4)")
    ap.add_argument("--out", type=Path, default=Path("thermal_perception/models"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, nargs=2, default=(320, 384), metavar=("H", "W"))
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-every", type=int, default=3)
    ap.add_argument("--val-from", type=int, default=1,
                    help="first epoch validated (and so eligible to be kept); the last always is")
    ap.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                    help="validate, keep and export an exponential moving average of the "
                         "weights with this decay per step (e.g. 0.999; 0: the weights as "
                         "trained): steadier from epoch to epoch than the weights themselves")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                    help="arithmetic of the training steps: bf16 autocasts the convolutions "
                         "(about 2x faster on CPUs with bfloat16 instructions)")
    ap.add_argument("--data-commit", default=None,
                    help="the dataset repository's commit (default: git rev-parse in --data)")
    ap.add_argument("--width", type=float, default=1.0, help="channel multiplier of the network")
    ap.add_argument("--blocks", type=int, default=0,
                    help="residual blocks per place added to the network (build_model); with "
                         "--init from a shallower run they start as identities")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this checkpoint: thermal_detector.pt of an earlier run, or a "
                         "thermal_detector.onnx (state_from_onnx; same --width and --blocks)")
    ap.add_argument("--copy-paste", type=float, default=0.0, metavar="P",
                    help="probability that a HIT-UAV training frame gets copies of its small "
                         "objects pasted elsewhere in it (copy_paste; 0: never)")
    ap.add_argument("--regress-around", type=int, default=0, metavar="CELLS",
                    help="also train the size and offset at the cells within this many cells "
                         "of a box centre (inside the box, half weight) to give the box, so a "
                         "peak one cell off still decodes it (centernet_targets; 0: centre "
                         "cell only)")
    ap.add_argument("--giou", type=float, default=0.0, metavar="WEIGHT",
                    help="add WEIGHT x the GIoU loss of the decoded boxes (giou_loss) to the L1 "
                         "losses of offset and size (0: L1 only)")
    ap.add_argument("--hard-negatives", type=float, default=0.0, metavar="P",
                    help="crop a training image around one of its hard negatives (boxes the "
                         "network finds that the evaluation would count false) with this "
                         "probability; mined at the start and every --mine-every epochs")
    ap.add_argument("--mine-threshold", type=float, default=0.3, metavar="SCORE",
                    help="lowest score of a mined hard negative")
    ap.add_argument("--vflip", type=float, default=0.0, metavar="P",
                    help="turn HIT-UAV crops upside down with this probability (drone views)")
    ap.add_argument("--mine-every", type=int, default=8, metavar="EPOCHS")
    ap.add_argument("--keep-best-on", action="append", default=[], metavar="SET",
                    help="also keep the epoch with the best mean AP50 on this validation set "
                         "alone (e.g. hit-uav: a card for drone views), written to OUT/SET/")
    ap.add_argument("--limit", type=int, default=0, help="train on this many images (smoke)")
    ap.add_argument("--time-limit-min", type=float, default=110.0,
                    help="stop after the first epoch that ends past this (the schedule is not "
                         "shortened: choose --epochs to fit)")
    args = ap.parse_args(argv)

    import torch
    from tqdm import tqdm

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    items, images = load_split(args.data, "train")
    val_items, val_images = load_split(args.data, "val")
    if args.limit:
        items, images = items[:args.limit], images[:args.limit]
        val_items, val_images = val_items[:max(20, args.limit // 4)], \
            val_images[:max(20, args.limit // 4)]
    extras = []
    for spec in args.extra:
        folder, _, palette = spec.partition(":")
        name = Path(folder).name
        tr_items, tr_images = load_split(Path(folder), "train", palette or None, name)
        va_items, va_images = load_split(Path(folder), "val", palette or None, name)
        items += tr_items * args.extra_repeat
        images += tr_images * args.extra_repeat
        val_items += va_items
        val_images += va_images
        extras.append({"folder": folder, "palette": palette or None, "set": name,
                       "train_images": len(tr_items), "val_images": len(va_items),
                       "commit": git_commit(Path(folder))})
    # a set --keep-best-on names must have val images: say so now, not after the first val
    val_sets = ["hit-uav", *(e["set"] for e in extras if e["val_images"])]
    unknown = [name for name in args.keep_best_on if name not in val_sets]
    if unknown:
        raise SystemExit(f"--keep-best-on {', '.join(unknown)}: no such validation set "
                         f"(have {', '.join(val_sets)})")
    net = build_model(args.width, args.blocks)
    if args.init is not None and args.init.suffix == ".onnx":
        # the training crops of a generator of its own, so the run's draws stay as they were
        calib_rng = np.random.default_rng(args.seed + 1_000_003)
        calib = batch(items, images, calib_rng.permutation(len(items))[:64], tuple(args.crop),
                      calib_rng)[0]
        diff = state_from_onnx(net, args.init, calib)
        print(f"--init {args.init}: rebuilt from the ONNX model (outputs within {diff:.1e})")
    elif args.init is not None:
        saved = torch.load(args.init, map_location="cpu")
        if saved.get("blocks", 0) > args.blocks:
            raise SystemExit(f"{args.init} has {saved['blocks']} residual blocks per place; "
                             f"--blocks {args.blocks} cannot hold them")
        state = saved["state_dict"]
        own = net.state_dict()
        for key in ("heat.weight", "heat.bias"):  # an earlier run with fewer classes
            if state[key].shape != own[key].shape:
                grown = own[key].clone()
                k = state[key].shape[0]
                grown[:k] = state[key]
                grown[k:] = state[key][:1]  # new classes start as "person" (warm bodies)
                state[key] = grown
        missing, unexpected = net.load_state_dict(state, strict=False)
        new = [k for k in missing if ".branch." not in k]  # only Residual blocks may be new
        if new or unexpected:
            raise SystemExit(f"{args.init} does not fit this network: missing {new}, "
                             f"unexpected {unexpected}")
    params = sum(p.numel() for p in net.parameters())
    net = net.to(memory_format=torch.channels_last)  # depthwise convolutions ~1.4x faster
    # the model validated and kept: the weights, or their moving average (batch-norm
    # statistics averaged too)
    kept = net if not args.ema else torch.optim.swa_utils.AveragedModel(
        net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema), use_buffers=True)
    print(f"model: {params / 1e3:.0f} k parameters; {len(items)} training images, "
          f"{len(val_items)} validation images")
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(items) / args.batch)
    total = args.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total,
                                                pct_start=0.1)
    log_path = args.out / "train_log.csv"
    log = csv.writer(log_path.open("w", newline=""))
    log.writerow(["epoch", "loss", "heat", "size", "offset", "giou", "seconds",
                  *(f"val_{c}_ap50" for c in CLASSES), "val_score"])
    # what each selection keeps: "" (the selection score over all sets) and --keep-best-on
    chosen: dict[str, dict] = {name: {"score": -1.0} for name in ["", *args.keep_best_on]}
    started = time.monotonic()
    hard = None
    for epoch in range(1, args.epochs + 1):
        if args.hard_negatives and (epoch - 1) % args.mine_every == 0:
            kept.eval()
            hard = mine_hard_negatives(kept, items, tqdm(images, desc="mining hard negatives",
                                                          unit="image"), args.mine_threshold)
            print(f"epoch {epoch}: {sum(map(len, hard))} hard negatives on "
                  f"{sum(1 for h in hard if len(h))} of {len(hard)} training images")
        net.train()
        order = rng.permutation(len(items))
        sums = np.zeros(5)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{args.epochs}", unit="batch")
        for step in bar:
            idx = order[step * args.batch:(step + 1) * args.batch]
            x, heat, size, off, mask = (torch.from_numpy(a) for a in
                                        batch(items, images, idx, tuple(args.crop), rng,
                                              args.copy_paste, args.regress_around,
                                              hard, args.hard_negatives, args.vflip))
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                p_heat, p_size, p_off = net(x)
            m = mask[:, None]
            n = m.sum().clamp(min=1.0)
            l_heat = focal_loss(p_heat, heat)
            l_size = (torch.abs(p_size - size) * m).sum() / n
            l_off = (torch.abs(p_off - off) * m).sum() / n
            loss = l_heat + 0.5 * l_size + l_off
            l_giou = giou_loss(p_size, p_off, size, off, m) if args.giou else torch.zeros(())
            loss = loss + args.giou * l_giou
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            sched.step()
            if kept is not net:
                kept.update_parameters(net)
            sums += [loss.item(), l_heat.item(), l_size.item(), l_off.item(), l_giou.item()]
            bar.set_postfix(loss=f"{sums[0] / (step + 1):.3f}")
        bar.close()
        elapsed = time.monotonic() - started
        row = [epoch, *(sums / steps_per_epoch).round(4), round(elapsed)]
        last = epoch == args.epochs or elapsed > args.time_limit_min * 60
        if (epoch % args.val_every == 0 and epoch >= args.val_from) or last:
            kept.eval()
            report, per_set, score = validate(kept, val_items, val_images,
                                              scales=tuple(args.scales))
            aps = [report["classes"][c]["ap50"] for c in CLASSES]
            row += [round(a, 4) for a in aps] + [round(score, 4)]
            print(f"epoch {epoch}: val score {score:.3f}; AP50 " + ", ".join(
                f"{c} {a:.3f}" for c, a in zip(CLASSES, aps, strict=True)) + "; " + ", ".join(
                f"{n} person {r['classes']['person']['ap50']:.3f}"
                for n, r in per_set.items()))
            for name, keep in chosen.items():
                value = score if not name else set_score(per_set[name])
                if value > keep["score"]:
                    keep.update(score=value, epoch=epoch, state={
                        k: v.clone() for k, v in _module(kept).state_dict().items()})
        log.writerow(row)
        if last:
            break
    train_s = time.monotonic() - started
    record = {
        "data": "HIT-UAV (Suo et al., Scientific Data 10, 227, 2023), CC BY 4.0, "
                "https://github.com/suojiashun/HIT-UAV-Infrared-Thermal-Dataset",
        "data_commit": args.data_commit or git_commit(args.data), "extra": extras,
        "extra_repeat": args.extra_repeat, "train_split": "train",
        "train_images": len(items), "selection_split": "val", "epochs_run": epoch,
        "seed": args.seed, "crop": list(args.crop),
        "batch": args.batch, "lr": args.lr, "precision": args.precision, "ema": args.ema,
        "copy_paste": args.copy_paste, "regress_around": args.regress_around,
        "giou": args.giou, "hard_negatives": args.hard_negatives, "vflip": args.vflip,
        "mine_threshold": args.mine_threshold, "mine_every": args.mine_every,
        "width": args.width, "blocks": args.blocks,
        "init": str(args.init) if args.init else None, "threads": args.threads,
        "train_seconds": round(train_s), "parameters": params,
        "torch": torch.__version__,
        "command": "python tools/train_detector.py " + " ".join(argv or sys.argv[1:]),
    }
    for name, keep in chosen.items():
        out = args.out / name if name else args.out
        net = _module(kept)
        net.load_state_dict(keep["state"])
        write_model(net, out, dict(record, best_epoch=keep["epoch"],
                                   selected_on=name or "all validation sets"),
                    val_items, val_images, tuple(args.scales), args.width, args.blocks)
        print(f"trained {epoch} epochs in {train_s / 60:.1f} min; kept epoch {keep['epoch']} "
              f"(best on {name or 'the selection score'}) in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
