#!/usr/bin/env python3
"""Re-split Roboflow's "Thermal Cheetah" by video clip, for training and an honest hold-out.

The dataset (Roboflow, brad-dwyer/thermal-cheetah v1, CC BY 4.0: cheetahs and zoo visitors,
hand-held Seek Compact XR, white-hot, stretched to 640x640; YOLO labels ``cheetah``,
``human``) is 113 frames of 11 short videos (``PIR-206_<clip>_mov``) and 16 stills
(``IMG_<n>``). Roboflow's own train/valid/test splits put frames of one clip on both sides,
so its test split is not held out. Here each clip (and each run of stills taken seconds
apart) goes whole to one split, by the fixed table below:

    git clone https://github.com/Abdulrehman786302/Cheetah-detection-from-thermal-images cheetah
    git -C cheetah checkout 1c0be1a488c340650a0fb4b1c44ea27dc41397af
    python tools/prepare_thermal_cheetah.py cheetah/data /data/thermal-cheetah

The output is a YOLO folder (``train``, ``valid``, ``test``, ``data.yaml``) that
``tools/train_detector.py --extra`` and ``thermal-perception eval --dataset`` read.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

#: clip or still group -> split. Test: clips 13 and 19, stills 4-7; val: clips 14 and 21,
#: stills 10-13; the rest trains.
TEST = {"PIR-206_13", "PIR-206_19", "IMG_0004", "IMG_0005", "IMG_0006", "IMG_0007"}
VAL = {"PIR-206_14", "PIR-206_21", "IMG_0010", "IMG_0011", "IMG_0013"}
_SOURCE = re.compile(r"^(?P<src>PIR-206_\d+|IMG_\d+)_(?:mov|jpe?g)")


def split_of(name: str) -> str:
    """The split of an exported image file name (``PIR-206_8_mov-12_jpg.rf.<hash>.jpg``)."""
    m = _SOURCE.match(name)
    if m is None:
        raise SystemExit(f"{name}: not a Thermal Cheetah export name (PIR-206_<clip>_mov-... "
                         "or IMG_<n>_jpeg...)")
    src = m["src"]
    return "test" if src in TEST else "valid" if src in VAL else "train"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="the dataset's data/ folder (Roboflow export)")
    ap.add_argument("out", type=Path, help="folder to write (YOLO layout)")
    args = ap.parse_args(argv)
    images = sorted(args.source.glob("*/images/*.jpg"))
    if not images:
        raise SystemExit(f"{args.source}: no */images/*.jpg (expected the export's data/ folder)")
    counts = {"train": 0, "valid": 0, "test": 0}
    for image in images:
        split = split_of(image.name)
        label = image.parent.parent / "labels" / (image.stem + ".txt")
        for kind, path in (("images", image), ("labels", label)):
            dest = args.out / split / kind
            dest.mkdir(parents=True, exist_ok=True)
            if path.is_file():
                shutil.copy2(path, dest / path.name)
        counts[split] += 1
    (args.out / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 2\n"
        "names: ['cheetah', 'human']\n")
    print(f"{args.out}: " + ", ".join(f"{k} {v} images" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
