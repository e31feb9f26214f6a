#!/usr/bin/env python3
"""Make data/hit_uav_sample: a stratified sample of HIT-UAV's *test* split (evaluation only)
with its labels as COCO JSON, for the tests and ``thermal-perception eval --dataset``.

    python tools/make_hit_uav_sample.py --data /path/to/HIT-UAV-Infrared-Thermal-Dataset

Six images per stratum of (day/night) x (pitch >= 60 / <= 50 deg) x (altitude <= 80 / >= 90
m), drawn with a fixed seed; the images are copied unchanged.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from thermal_perception.io.labels import read_hit_uav, write_coco


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("data/hit_uav_sample"))
    ap.add_argument("--per-stratum", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    items = read_hit_uav(args.data, "test")
    rng = np.random.default_rng(args.seed)
    strata: dict[tuple, list] = {}
    for it in items:
        key = (it.extra.get("light"), (it.pitch_deg or 90) >= 60, (it.altitude_m or 0) <= 80)
        strata.setdefault(key, []).append(it)
    chosen = []
    for key in sorted(strata, key=str):
        group = sorted(strata[key], key=lambda it: it.path.name)
        pick = rng.choice(len(group), size=min(args.per_stratum, len(group)), replace=False)
        chosen += [group[i] for i in sorted(pick)]
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    for it in chosen:
        dst = args.out / "images" / it.path.name
        shutil.copyfile(it.path, dst)
        it.path = dst
        it.extra["split"] = "test"
    write_coco(chosen, args.out / "labels.json", relative_to=args.out)
    n = sum(len(it.boxes) for it in chosen)
    print(f"wrote {len(chosen)} images, {n} boxes to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
