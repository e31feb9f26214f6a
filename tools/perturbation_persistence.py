#!/usr/bin/env python3
"""How persistent are a shipped model's people on real frames under small perturbations?

A proxy for what a tracker's confirmation (the detector node publishes a track after
``track_confirm_hits`` = 3 hits) would do to false people, where no labelled video exists
(HIT-UAV's numbered frames are sparse samples of their flights): each val frame's person
boxes at the card's thresholds are matched to the labels (IoU 0.5, as ``eval`` counts them),
then the frame is run ``--copies`` more times, each shifted by a random sub-pixel amount (up
to ``--shift`` px, as a hovering drone's camera moves between frames) with fresh sensor noise
(``--noise`` grey levels, 1 sigma), and a box counts a hit in each copy that has a person box
overlapping it by IoU >= 0.3. Printed: how many true and false people would survive
confirmation after N hits of the copies + 1, and false people per frame without people.
Real video varies more (parallax, AGC, people moving), so this bounds what confirmation can
remove from false people that persist even in nearly identical frames. Only ``val`` is read.

    python tools/perturbation_persistence.py --data /data/hit-uav --model drone
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from thermal_perception.core.detection.model import LearnedDetector
from thermal_perception.evaluation.boxes import iou_matrix, match_image
from thermal_perception.evaluation.dataset import item_gsd_m
from thermal_perception.io.dataset_images import read_dataset_image
from thermal_perception.io.labels import read_dataset


def perturbed(frame: np.ndarray, rng: np.random.Generator, shift: float, noise: float
              ) -> tuple[np.ndarray, float, float]:
    """``frame`` (8-bit levels as float32) moved by a random (dx, dy) within ``shift`` px
    (bilinear, edges replicated), plus Gaussian noise of ``noise`` levels; and (dx, dy)."""
    h, w = frame.shape
    dx, dy = rng.uniform(-shift, shift, 2)
    moved = cv2.warpAffine(frame, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    moved += rng.normal(0.0, noise, moved.shape).astype(np.float32)
    return np.clip(moved, 0.0, 255.0), float(dx), float(dy)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="HIT-UAV checkout or dataset")
    ap.add_argument("--model", default="drone", help="shipped model name or ONNX path")
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--shift", type=float, default=2.0, help="px")
    ap.add_argument("--noise", type=float, default=1.5, help="grey levels, 1 sigma")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from tqdm import tqdm

    rng = np.random.default_rng(args.seed)
    det = LearnedDetector(args.model)
    person = det.classes.index("person")
    items = read_dataset(args.data, "val")
    found = []  # (true, on a frame without people, hits)

    def people(frame: np.ndarray, gsd: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes (N, 4) and scores at the card's threshold."""
        b = det.boxes(frame, gsd)
        keep = (b.classes == person) & (b.scores >= det.thresholds[person])
        return b.xyxy[keep], b.scores[keep]

    for it in tqdm(items, desc="frames", unit="frame"):
        img, _ = read_dataset_image(it, None)
        frame, gsd = img.astype(np.float32), item_gsd_m(it)
        xyxy, scores = people(frame, gsd)
        if not len(xyxy):
            continue
        gt = np.asarray([b for b, lab in zip(it.boxes, it.labels, strict=True)
                         if lab == "person"], np.float64).reshape(-1, 4)
        ignore = np.asarray(it.ignore, np.float64).reshape(-1, 4)
        _, tp, _, kept = match_image(xyxy, scores, gt, ignore, 0.5)
        xyxy = xyxy[kept]
        hits = np.zeros(len(xyxy), int)
        for _ in range(args.copies):
            moved, dx, dy = perturbed(frame, rng, args.shift, args.noise)
            other, _ = people(moved, gsd)
            if len(other):
                hits += (iou_matrix(xyxy, other - [dx, dy, dx, dy]) >= 0.3).any(1)
        found += [(bool(t), not len(gt), int(h)) for t, h in zip(tp, hits, strict=True)]
    rows = np.asarray(found, int).reshape(-1, 3)
    true, empty = rows[:, 0] == 1, (rows[:, 0] == 0) & (rows[:, 1] == 1)
    n_empty = sum(1 for it in items if "person" not in it.labels)
    print(f"{args.data} val, model {args.model}: {true.sum()} true and {(~true).sum()} false "
          f"people at the card's threshold ({empty.sum()} on the {n_empty} frames without "
          f"people); {args.copies} copies shifted <= {args.shift} px, noise {args.noise}")
    for need in range(1, args.copies + 2):
        kept = rows[:, 2] + 1 >= need  # the frame itself is the first hit
        print(f"confirmed after {need} of {args.copies + 1}: true people {kept[true].sum()}"
              f"/{true.sum()}, false {kept[~true].sum()}/{(~true).sum()}, false people per "
              f"frame without people {kept[empty].sum() / max(n_empty, 1):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
