#!/usr/bin/env python3
"""Train a detector's second opinion: a small patch classifier that rescores its boxes.

The detector (``--detector``, an ONNX model with its card, run exactly as users run it:
``LearnedDetector`` with the card's scales, flip test and box voting, no rescorer) is run over
the ``train`` and ``val`` splits of ``--data``; each of its boxes of ``--classes`` scoring at
least ``--floor`` becomes a crop (``core/detection/rescore.crop_boxes``: the box with its
surroundings, ``--context`` times its longer side, from the detector's own normalised frame)
labelled true or false as the evaluation counts it (IoU 0.5 with a labelled box of the class,
first box on it; second boxes are false); the labelled boxes of the train split, each jittered
by 10 % of its size, are added as positives ``--jitter-positives`` times. A CNN of about 74k
parameters learns which crops are true (binary cross-entropy, AdamW, one-cycle schedule,
horizontal flips and gain/offset jitter; fixed seeds, two CPU threads), is exported to ONNX
(inputs ``crops`` and ``sizes``, output logits) and the combined score's weight
(``core/detection/rescore.combine``) is chosen on the ``val`` split: the detector weight with the
best mean AP50 over the classes (ties within 0.002 go to the larger weight, the smaller
change). No ``test`` split is read.

    pip install -r requirements/train.txt
    python tools/train_rescorer.py --data /data/hit-uav --detector drone --out run_rescorer

Writes ``thermal_rescorer.onnx``, ``rescorer.json`` (the card's ``rescorer`` entry and the
training record: data commit, seed, epochs, val AUC per epoch, the weight table) and, with
``--card``, a copy of the detector's ``.onnx`` and card with the entry added to ``--out``:
then run ``tools/tune_inference.py --card`` on it to choose the thresholds again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train_detector import git_commit

from thermal_perception.core.detection.model import LearnedDetector, resolve_model
from thermal_perception.core.detection.model_io import Boxes, normalise_frame
from thermal_perception.core.detection.rescore import combine, crop_boxes
from thermal_perception.evaluation.boxes import (
    AP_SCORE_FLOOR,
    evaluate_boxes,
    match_image,
)
from thermal_perception.evaluation.dataset import item_gsd_m
from thermal_perception.io.dataset_images import read_dataset_image
from thermal_perception.io.labels import read_dataset

WEIGHTS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)  # detector weights tried on val
TIE = 0.002
JITTER = 0.1  # positives' box jitter, fraction of their size (1 sigma)
BATCH = 128


def mine(detector: LearnedDetector, items, classes: tuple[str, ...], floor: float,
         crop_px: int, context: float, min_crop_px: float, jitter_positives: int,
         rng: np.random.Generator, desc: str) -> dict[str, np.ndarray]:
    """Crops, log sizes, labels (1 true), detector scores (-1: a jittered label), class
    index, image index and box of every candidate of ``classes`` scoring >= ``floor``."""
    from tqdm import tqdm

    ids = [detector.classes.index(c) for c in classes]
    out: dict[str, list] = {k: [] for k in ("crops", "sizes", "labels", "scores", "classes",
                                            "images", "xyxy")}
    for i, item in enumerate(tqdm(items, desc=desc, unit="image")):
        image, _ = read_dataset_image(item, None)
        frame = image.astype(np.float32)
        b = detector.boxes(frame, item_gsd_m(item))
        norm = normalise_frame(frame)
        ignore = np.asarray(item.ignore, np.float64).reshape(-1, 4)
        for k, ci in enumerate(ids):
            gt = np.asarray([bb for bb, lab in zip(item.boxes, item.labels, strict=True)
                             if lab == classes[k]], np.float64).reshape(-1, 4)
            mine_ = b.classes == ci
            s, tp, _, kept = match_image(b.xyxy[mine_], b.scores[mine_], gt, ignore, 0.5)
            xyxy = b.xyxy[mine_][kept][s >= floor]
            labels, scores = tp[s >= floor].astype(np.float32), s[s >= floor]
            for _ in range(jitter_positives):
                size = np.tile(gt[:, 2:] - gt[:, :2], 2)
                xyxy = np.concatenate([xyxy, gt + rng.normal(0.0, JITTER, gt.shape) * size])
                labels = np.concatenate([labels, np.ones(len(gt), np.float32)])
                scores = np.concatenate([scores, -np.ones(len(gt))])
            if not len(xyxy):
                continue
            crops, sizes = crop_boxes(norm, xyxy, crop_px, context, min_crop_px)
            for key, v in (("crops", crops.copy()), ("sizes", sizes), ("labels", labels),
                           ("scores", scores), ("classes", np.full(len(xyxy), k)),
                           ("images", np.full(len(xyxy), i)), ("xyxy", xyxy)):
                out[key].append(v)
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}


def build_net(width: int = 16):
    """The classifier: six 3x3 conv-BN-ReLU layers (two stride-2), global mean, and a
    two-layer head that also reads the box's log width and height."""
    import torch
    from torch import nn

    def block(i: int, o: int, stride: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU(inplace=True))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.body = nn.Sequential(block(1, w, 1), block(w, w, 1), block(w, 2 * w, 2),
                                      block(2 * w, 2 * w, 1), block(2 * w, 4 * w, 2),
                                      block(4 * w, 4 * w, 1), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
            self.head = nn.Sequential(nn.Linear(4 * w + 2, 32), nn.ReLU(inplace=True),
                                      nn.Linear(32, 1))

        def forward(self, crops, sizes):
            return self.head(torch.cat([self.body(crops), sizes], 1))[:, 0]

    return Net()


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U over average ranks)."""
    from scipy.stats import rankdata

    pos = labels > 0.5
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if not n1 or not n0:
        return float("nan")
    r = rankdata(scores)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def train(train_set: dict, val_set: dict, epochs: int, lr: float, seed: int) -> tuple:
    """The trained network and its val AUC per epoch."""
    import torch
    from tqdm import tqdm

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    net = build_net()
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    steps = -(-len(train_set["labels"]) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps)
    x_t = torch.from_numpy(train_set["crops"])
    f_t = torch.from_numpy(train_set["sizes"])
    y_t = torch.from_numpy(train_set["labels"])
    x_v, f_v = torch.from_numpy(val_set["crops"]), torch.from_numpy(val_set["sizes"])
    loss_fn = torch.nn.BCEWithLogitsLoss()
    history = []
    for epoch in range(epochs):
        net.train()
        order = torch.from_numpy(rng.permutation(len(y_t)))
        total = 0.0
        for k in tqdm(range(0, len(order), BATCH), desc=f"epoch {epoch}", unit="batch",
                      leave=False):
            idx = order[k:k + BATCH]
            x = x_t[idx]
            if rng.random() < 0.5:
                x = torch.flip(x, [3])
            gain = torch.from_numpy(rng.normal(1.0, 0.1, (len(idx), 1, 1, 1)).astype(np.float32))
            offset = torch.from_numpy(rng.normal(0.0, 0.05, (len(idx), 1, 1, 1))
                                      .astype(np.float32))
            loss = loss_fn(net(x * gain + offset, f_t[idx]), y_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        net.eval()
        with torch.no_grad():
            p = torch.sigmoid(net(x_v, f_v)).numpy()
        history.append({"epoch": epoch, "loss": total / len(y_t),
                        "val_auc": auc(val_set["labels"], p),
                        "val_auc_detector": auc(val_set["labels"], val_set["scores"])})
        print(f"epoch {epoch}: loss {history[-1]['loss']:.4f}, val AUC {history[-1]['val_auc']:.4f}"
              f" (detector's score {history[-1]['val_auc_detector']:.4f})", flush=True)
    return net, history, p


def export(net, path: Path, crop_px: int) -> None:
    import torch

    net.eval()
    torch.onnx.export(net, (torch.zeros(2, 1, crop_px, crop_px), torch.zeros(2, 2)), str(path),
                      input_names=["crops", "sizes"], output_names=["logits"], opset_version=17,
                      dynamic_axes={"crops": {0: "n"}, "sizes": {0: "n"}, "logits": {0: "n"}},
                      dynamo=False)


def weight_table(items, val_set: dict, p: np.ndarray, classes: tuple[str, ...]) -> list[dict]:
    """Per detector weight, the val AP50 of each class (and person F1 and false boxes per
    image without the class at the best-F1 score) of the candidates rescored by it."""
    rows = []
    for w in WEIGHTS:
        scores = combine(val_set["scores"], p, w)
        preds = []
        for i in range(len(items)):
            m = val_set["images"] == i
            preds.append(Boxes(val_set["xyxy"][m].astype(np.float32), scores[m],
                               val_set["classes"][m].astype(np.intp)))
        best = evaluate_boxes(items, preds, classes)["classes"]
        at = evaluate_boxes(items, preds, classes, {c: best[c]["best_f1_threshold"]
                                                     for c in classes})["classes"]
        rows.append({"detector_weight": w, **{c: {
            "ap50": best[c]["ap50"], "f1": best[c]["f1"], "precision": best[c]["precision"],
            "recall": best[c]["recall"],
            "false_per_empty_image": at[c]["false_per_empty_image"]} for c in classes},
            "mean_ap50": float(np.mean([best[c]["ap50"] for c in classes]))})
        print(f"detector weight {w:.2f}: " + ", ".join(
            f"{c} AP50 {best[c]['ap50']:.4f} F1 {best[c]['f1']:.4f} false/empty "
            f"{at[c]['false_per_empty_image']:.3f}" for c in classes), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="labelled set with train and val")
    ap.add_argument("--detector", default="drone", help="shipped name or .onnx with card")
    ap.add_argument("--classes", nargs="+", default=["person"])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--floor", type=float, default=0.1, help="lowest detector score trained on")
    ap.add_argument("--crop-px", type=int, default=32)
    ap.add_argument("--context", type=float, default=3.0)
    ap.add_argument("--min-crop-px", type=float, default=24.0)
    ap.add_argument("--jitter-positives", type=int, default=1)
    ap.add_argument("--requires-gsd", action=argparse.BooleanOptionalAction, default=True,
                    help="rescore only frames whose ground sample distance is known (a drone "
                         "set's views: the side-on frames it never saw keep their scores)")
    ap.add_argument("--card", action="store_true",
                    help="also write the detector and its card with this rescorer to --out")
    args = ap.parse_args(argv)
    t0 = time.time()
    path = resolve_model(args.detector)
    probe = LearnedDetector(path, rescore=False)
    if not args.floor < float(probe.thresholds.min()):
        raise SystemExit(f"--floor {args.floor} must be below the detector's lowest "
                         f"threshold {float(probe.thresholds.min()):.3f}")
    detector = probe.down_to(AP_SCORE_FLOOR)
    classes = tuple(args.classes)
    unknown = [c for c in classes if c not in detector.classes]
    if unknown:
        raise SystemExit(f"--classes {unknown}: the detector has {list(detector.classes)}")
    rng = np.random.default_rng(args.seed)
    shape = (args.crop_px, args.context, args.min_crop_px)
    train_items = read_dataset(args.data, "train")
    val_items = read_dataset(args.data, "val")
    train_set = mine(detector, train_items, classes, args.floor, *shape, args.jitter_positives,
                     rng, "train candidates")
    val_set = mine(detector, val_items, classes, AP_SCORE_FLOOR, *shape, 0, rng,
                   "val candidates")
    print(f"{len(train_set['labels'])} training crops ({int(train_set['labels'].sum())} true), "
          f"{len(val_set['labels'])} val crops ({int(val_set['labels'].sum())} true)",
          flush=True)
    net, history, p = train(train_set, val_set, args.epochs, args.lr, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "thermal_rescorer.onnx"
    export(net, onnx_path, args.crop_px)
    table = weight_table(val_items, val_set, p, classes)
    best = max(r["mean_ap50"] for r in table)
    chosen = max((r for r in table if r["mean_ap50"] >= best - TIE),
                 key=lambda r: r["detector_weight"])
    entry = {"model": onnx_path.name, "classes": list(classes), "crop_px": args.crop_px,
             "context": args.context, "min_crop_px": args.min_crop_px,
             "detector_weight": chosen["detector_weight"],
             "requires_gsd": args.requires_gsd}
    record = {"rescorer": entry, "training": {
        "command": " ".join(["python", "tools/train_rescorer.py", *(argv or sys.argv[1:])]),
        "detector": str(path), "data": str(args.data), "data_commit": git_commit(args.data),
        "seed": args.seed, "epochs": args.epochs, "lr": args.lr, "floor": args.floor,
        "jitter_positives": args.jitter_positives,
        "train_crops": len(train_set["labels"]),
        "train_true": int(train_set["labels"].sum()), "val_crops": len(val_set["labels"]),
        "history": history, "weights_on_val": table, "minutes": (time.time() - t0) / 60}}
    (args.out / "rescorer.json").write_text(json.dumps(record, indent=1, default=float))
    if args.card:
        card = json.loads(path.with_suffix(".json").read_text())
        card["rescorer"] = entry
        card.setdefault("training", {})["rescorer"] = record["training"] | {"history": None}
        shutil.copy(path, args.out / path.name)
        (args.out / path.with_suffix(".json").name).write_text(json.dumps(card, indent=1))
    print(f"chosen detector weight {chosen['detector_weight']} (val mean AP50 "
          f"{chosen['mean_ap50']:.4f}, without the rescorer {table[0]['mean_ap50']:.4f}); "
          f"{(time.time() - t0) / 60:.1f} min; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
