#!/usr/bin/env python3
"""Post-training int8 quantization of a detector (onnxruntime's static QDQ quantization), for
CPUs where the float model is too slow: weights int8 per output channel, activations uint8
with ranges calibrated on training frames fed exactly as the detector feeds them
(``LearnedDetector.model_inputs``: the same normalisation, every scale of the card). The card
is copied next to the output with a ``quantization`` record (source file and its SHA-256,
calibration frames, method, seed); its thresholds are the float model's.

    python tools/quantize_detector.py --model general --data /data/hit-uav \\
        --out out/thermal_detector_int8.onnx

Needs the training extra (``onnx``; ``pip install -r requirements/train.txt``); the quantized
model runs anywhere the float one does (onnxruntime only). Prints the float and int8 model's
time per frame on one core, measured in the same run on the calibration frames, and their
ratio. Measured on the shipped general model (MODEL_CARD.md, "Tried and not shipped"): 1.21x
faster, HIT-UAV val AP50 person 0.828 -> 0.826, vehicle 0.908 -> 0.896, bicycle 0.711 ->
0.699; check your own model with ``thermal-perception eval --dataset D --split val --model
OUT.onnx`` before using it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from thermal_perception.core.detection.model import LearnedDetector, load_card, resolve_model
from thermal_perception.io.dataset_images import read_dataset_image
from thermal_perception.io.labels import read_dataset

METHODS = ("MinMax", "Percentile", "Entropy")


def calibration_frames(data: list[tuple[Path, str | None]], split: str, count: int,
                       seed: int) -> list[np.ndarray]:
    """``count`` frames drawn (``seed``) from the ``split`` of the datasets ``data`` ((folder,
    palette) pairs), as ``eval`` reads them."""
    items = [(it, palette) for folder, palette in data for it in read_dataset(folder, split)]
    if not items:
        raise SystemExit(f"no {split!r} images in {[str(f) for f, _ in data]}")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(items), min(count, len(items)), replace=False)
    return [read_dataset_image(*items[k])[0] for k in sorted(picked.tolist())]


def calibration_inputs(detector: LearnedDetector, frames: list[np.ndarray]
                       ) -> list[np.ndarray]:
    """The detector's inputs for ``frames`` at every scale of its card (copies)."""
    return [x.copy() for frame in frames
            for _, x, _ in detector.model_inputs(frame, detector.scales)]


def quantize(model: Path, inputs: list[np.ndarray], out: Path, method: str = "MinMax",
             exclude: tuple[str, ...] = ()) -> None:
    """Write the int8 (QDQ) model of ``model`` calibrated on ``inputs`` to ``out``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rest = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.rest, None)
            return None if x is None else {"image": x}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # the input's height and width are symbolic: onnx's own shape inference suffices
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=list(exclude),
                        calibrate_method=getattr(CalibrationMethod, method))


def time_both(float_model: Path, int8_model: Path, frames: list[np.ndarray]) -> dict:
    """p50/p99 ms per frame of both models through ``LearnedDetector.boxes`` on one core,
    interleaved frame by frame (a noisy machine slows both alike)."""
    detectors = {"float": LearnedDetector(float_model, threads=1),
                 "int8": LearnedDetector(int8_model, threads=1)}
    times: dict[str, list[float]] = {k: [] for k in detectors}
    for frame in frames:
        for name, detector in detectors.items():
            t0 = time.perf_counter()
            detector.boxes(frame)
            times[name].append((time.perf_counter() - t0) * 1e3)
    out = {k: {"p50": float(np.percentile(v, 50)), "p99": float(np.percentile(v, 99))}
           for k, v in times.items()}
    out["ratio_p50"] = out["float"]["p50"] / out["int8"]["p50"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="general",
                    help="a shipped model's name (general, drone) or an .onnx file with its card")
    ap.add_argument("--data", action="append", required=True, metavar="DIR[:PALETTE]",
                    help="dataset folder for calibration (repeatable; :PALETTE as for eval)")
    ap.add_argument("--split", default="train", help="split the calibration frames come from")
    ap.add_argument("--images", type=int, default=64, help="calibration frames")
    ap.add_argument("--method", choices=METHODS, default="MinMax")
    ap.add_argument("--exclude", default="", help="comma-separated node names kept float")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timed", type=int, default=40, help="frames timed (0: no timing)")
    ap.add_argument("--out", type=Path, required=True, help="the int8 .onnx to write")
    a = ap.parse_args(argv)
    if a.images < 1 or a.timed < 0:
        ap.error("--images must be >= 1 and --timed >= 0")
    source = resolve_model(a.model)
    data = [(Path(d.rsplit(":", 1)[0]), d.rsplit(":", 1)[1]) if ":" in d else (Path(d), None)
            for d in a.data]
    frames = calibration_frames(data, a.split, a.images, a.seed)
    inputs = calibration_inputs(LearnedDetector(source), frames)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    exclude = tuple(n for n in a.exclude.split(",") if n)
    quantize(source, inputs, a.out, a.method, exclude)
    card = load_card(source)
    card["quantization"] = {
        "source": source.name, "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "format": "QDQ, weights int8 per channel, activations uint8",
        "calibration": {"data": [str(d) for d in a.data], "split": a.split,
                        "frames": a.images, "inputs": len(inputs), "seed": a.seed,
                        "method": a.method, "excluded_nodes": list(exclude)},
        "thresholds": "the float model's (not tuned again)"}
    a.out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    if a.timed:  # the int8 model loads with its card
        frames = frames[:a.timed]
        card["quantization"]["timing_on_calibration_frames_ms"] = timing = time_both(
            source, a.out, frames)
        print(f"float {timing['float']['p50']:.1f} / {timing['float']['p99']:.1f} ms p50/p99, "
              f"int8 {timing['int8']['p50']:.1f} / {timing['int8']['p99']:.1f}: "
              f"{timing['ratio_p50']:.2f}x at p50 (one core, {len(frames)} frames)")
    a.out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e3:.0f} kB) and its card")
    return 0


if __name__ == "__main__":
    sys.exit(main())
