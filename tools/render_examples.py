#!/usr/bin/env python3
"""Example frames with the shipped detector's boxes, side by side, for the README.

    python tools/render_examples.py --out docs/detector_side_on.png \\
        data/thermal_dogs_people:test:IMG_0009 data/tno_people:test:kaptein_1654

Each frame is ``DATASET:SPLIT:NAME`` (NAME: the start of the image file's name); labelled boxes
red, detections in their label's colour (green person, magenta vehicle, yellow bicycle, ...),
scaled to one ``--height``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from thermal_perception.core.detection.model import LearnedDetector
from thermal_perception.core.detection.model_io import Boxes
from thermal_perception.evaluation.dataset import EVAL_CLASSES, item_gsd_m, render_boxes
from thermal_perception.io.dataset_images import read_dataset_image
from thermal_perception.io.labels import read_dataset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("frames", nargs="+", metavar="DATASET:SPLIT:NAME")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--height", type=int, default=320)
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args(argv)
    det = LearnedDetector(args.model)
    thresholds = dict(zip(det.classes, det.thresholds.tolist(), strict=True))
    remap = np.asarray([EVAL_CLASSES.index(c) for c in det.classes], np.intp)
    tiles = []
    for spec in args.frames:
        dataset, split, name = spec.rsplit(":", 2)
        items = [it for it in read_dataset(dataset, split) if it.path.name.startswith(name)]
        if not items:
            raise SystemExit(f"{spec}: no image of {dataset} ({split}) starts with {name!r}")
        item = items[0]
        image, radiometric = read_dataset_image(item)
        b = det.boxes(image, item_gsd_m(item))  # as eval: scale awareness, second opinion
        if radiometric:
            b = Boxes(b.xyxy, (b.scores * det.plausibility_factors(image, b)).astype(np.float32),
                      b.classes)
        bgr = render_boxes(image, item, Boxes(b.xyxy, b.scores, remap[b.classes]), thresholds)
        scale = args.height / bgr.shape[0]
        tiles.append(cv2.resize(bgr, (round(bgr.shape[1] * scale), args.height),
                                interpolation=cv2.INTER_NEAREST if scale > 1 else
                                cv2.INTER_AREA))
        tiles.append(np.full((args.height, 6, 3), 255, np.uint8))
    cv2.imwrite(str(args.out), np.hstack(tiles[:-1]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
