"""tools/quantize_detector.py: the int8 model it writes is calibrated on the inputs the
detector really feeds (``LearnedDetector.model_inputs``), loads with its card, and finds what
the float model finds. The quantization needs the training extra (``onnx``): skipped without it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from thermal_perception.core.detection.model import SHIPPED_MODELS, LearnedDetector
from thermal_perception.core.detection.model_io import normalise_frame
from thermal_perception.evaluation.boxes import iou_matrix
from thermal_perception.io.dataset_images import read_dataset_image
from thermal_perception.io.labels import read_dataset

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "hit_uav_sample"


def _tool():
    spec = importlib.util.spec_from_file_location("quantize_detector",
                                                  REPO / "tools" / "quantize_detector.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_inputs_are_the_normalised_frame_at_each_scale() -> None:
    """What boxes() runs: the normalised frame, zero-padded to the input multiple; at scale 0.5
    the frame resized to half (rounded) inside the same padding rule."""
    detector = LearnedDetector("general")
    frame = np.random.default_rng(1).integers(0, 256, (250, 330)).astype(np.uint8)
    got = {s: (x.copy(), hw) for s, x, hw in detector.model_inputs(frame, (1.0, 0.5))}
    norm = np.empty(frame.shape, np.float32)
    normalise_frame(frame, out=norm)
    x, hw = got[1.0]
    assert x.shape == (1, 1, 256, 352) and hw == (250, 330)
    np.testing.assert_array_equal(x[0, 0, :250, :330], norm)
    assert not x[0, 0, 250:].any() and not x[0, 0, :, 330:].any()
    x, hw = got[0.5]
    assert hw == (125, 165) and x.shape == (1, 1, 128, 192)
    assert abs(float(x[0, 0, :125, :165].mean()) - float(norm.mean())) < 0.02
    assert not x[0, 0, 125:].any() and not x[0, 0, :, 165:].any()


def test_quantized_model_finds_what_the_float_model_finds(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime.quantization")
    import onnx

    out = tmp_path / "general_int8.onnx"
    assert _tool().main(["--model", "general", "--data", str(SAMPLE), "--split", "train",
                         "--images", "8", "--timed", "2", "--out", str(out)]) == 0
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    card = json.loads(out.with_suffix(".json").read_text())
    source = SHIPPED_MODELS["general"]
    q = card["quantization"]
    assert q["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert q["calibration"]["frames"] == 8 and q["calibration"]["inputs"] == 16  # two scales
    assert card["thresholds"] == json.loads(source.with_suffix(".json").read_text())[
        "thresholds"]
    float_model, int8_model = LearnedDetector(source), LearnedDetector(out)
    found = missed = 0
    for item in read_dataset(SAMPLE, "test")[8:]:
        image, _ = read_dataset_image(item, None)
        a, b = float_model.detect(image), int8_model.detect(image)
        sure = np.asarray([d.bbox for d in a if d.confidence >= 0.5], float).reshape(-1, 4)
        other = np.asarray([d.bbox for d in b], float).reshape(-1, 4)
        if len(sure):
            hit = (iou_matrix(sure, other) >= 0.5).any(axis=1) if len(other) \
                else np.zeros(len(sure), bool)
            found += int(hit.sum())
            missed += int((~hit).sum())
    assert found >= 40 and missed <= 0.1 * found, (found, missed)

