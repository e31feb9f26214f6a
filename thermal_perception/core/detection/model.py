"""The learned detector backend: an ONNX model run by onnxruntime (CPU by default).

:class:`LearnedDetector` has the interface of the warm-body detector (``detect(frame,
gsd_m) -> list[Detection]``), so tracking, alarms, fusion and geolocation take its detections
unchanged. It runs the model we ship (``thermal_perception/models/thermal_detector.onnx``,
trained by ``tools/train_detector.py``; see its model card ``MODEL_CARD.md``) or a user's own
export: a *model card* JSON next to the ``.onnx`` file (same name, ``.json``) names the output
``layout`` (``centernet`` or ``yolo``, see :mod:`.model_io`), the ``classes`` (detector labels:
person, animal, vehicle, bicycle...), per-class score ``thresholds`` and, for centernet, the
``stride``. Without a card, a single-output model is read as ``yolo`` with classes given by the
caller.

Input of either kind (:func:`.model_io.normalise_frame`): a temperature image in deg C
(``radiometric=True``, the detector node's 32FC1 input), or an 8-bit/relative image (AGC'd
video, JPEG datasets). Boxes on relative input carry NaN temperatures: no Celsius is made up.

On radiometric input the box's temperature is a second opinion (:meth:`plausibility`): a
"person" whose warmest pixels (90th percentile in the box) lie outside ``person_c`` (default
0..50 deg C: clothed and distant people read 9-45 deg C in real FLIR photos) has its
confidence multiplied by ``implausible_factor``; it is kept, so a caller can still see it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from thermal_perception.core.detection.model_io import (
    INPUT_MULTIPLE,
    LAYOUTS,
    Boxes,
    average_flipped,
    decode_centernet,
    decode_yolo,
    merge_scales,
    normalise_frame,
    onnx_session,
    padded_shape,
    scales_for,
)
from thermal_perception.core.detection.rescore import PatchRescorer, RescorerCard
from thermal_perception.core.detection.types import LABELS, Detection

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
#: The models we ship, by name: ``general`` (drone and side-on views; chosen on every
#: validation set) and ``drone`` (the same training, the epoch chosen on the drone views'
#: validation split alone; see ``MODEL_CARD.md``).
SHIPPED_MODELS = {"general": MODELS_DIR / "thermal_detector.onnx",
                  "drone": MODELS_DIR / "thermal_detector_drone.onnx"}
SHIPPED_MODEL = SHIPPED_MODELS["general"]
PROVIDERS = ("CPUExecutionProvider", "CUDAExecutionProvider", "OpenVINOExecutionProvider",
             "TensorrtExecutionProvider", "CoreMLExecutionProvider")


def resolve_model(model: str | Path | None) -> Path:
    """The .onnx file of ``model``: a shipped model's name (:data:`SHIPPED_MODELS`; empty or
    None: ``general``) or a path."""
    if not model:
        return SHIPPED_MODEL
    return SHIPPED_MODELS.get(str(model), Path(model))


def load_card(model_path: Path) -> dict[str, Any]:
    """The model card next to ``model_path`` (``.json``), or {} when there is none."""
    card = model_path.with_suffix(".json")
    if not card.is_file():
        return {}
    try:
        return json.loads(card.read_text())
    except ValueError as exc:
        raise ValueError(f"{card}: not a JSON model card ({exc})") from None


class LearnedDetector:
    """Detections from an ONNX model (see the module docstring).

    Parameters
    ----------
    model_path : the .onnx file, or a shipped model's name (``general``, ``drone``); None:
        ``general``.
    threshold_scale : multiplies the card's per-class thresholds (1: as validated).
    provider : onnxruntime execution provider (CPU by default).
    threads : onnxruntime intra-op threads (1: leaves the other core to the pipeline).
    classes, layout : override the card (needed for a card-less YOLO export).
    person_c : (low, high) deg C band of plausible person temperatures on radiometric input.
    implausible_factor : confidence multiplier of a person outside that band.
    scales : image scales the frame is run at, boxes merged (None: the card's ``scales``,
        else 1 only); 0.5 finds people too close for the network's receptive field.
    reduced_min_px : at scales below 1, boxes shorter than this on their longer side (frame
        pixels) are dropped: small objects are found better at full scale (None: the card's
        ``reduced_min_px``, else 0).
    reduced_from_person_px : scale awareness: the scales below 1 are run only when a standing
        person would be at least this many pixels tall at full scale given the frame's ground
        sample distance (``gsd_m`` of :meth:`boxes`, :meth:`detect`), or when it is unknown
        (:func:`.model_io.scales_for`; None: the card's ``reduced_from_person_px``, else 0:
        always).
    flip_scales : scales also run on the mirrored frame, heatmaps averaged (``centernet``
        layout; None: the card's ``flip_scales``, else none). Costs one more inference each.
    box_vote_iou : box voting (``centernet`` layout): a peak's box is the score-weighted mean
        of the boxes its 3x3 neighbour cells decode that overlap it by at least this IoU
        (:func:`.model_io.decode_centernet` ``vote_iou``; None: the card's ``box_vote_iou``,
        else 0: off).
    rescore : apply the card's ``rescorer`` (a patch classifier's second opinion on the boxes
        of some classes, :mod:`.rescore`) when the card has one.
    """

    def __init__(self, model_path: str | Path | None = None, threshold_scale: float = 1.0,
                 provider: str = "CPUExecutionProvider", threads: int = 1,
                 classes: tuple[str, ...] | None = None, layout: str | None = None,
                 person_c: tuple[float, float] = (0.0, 50.0),
                 implausible_factor: float = 0.3,
                 scales: tuple[float, ...] | None = None,
                 reduced_min_px: float | None = None,
                 flip_scales: tuple[float, ...] | None = None,
                 reduced_from_person_px: float | None = None,
                 box_vote_iou: float | None = None, rescore: bool = True) -> None:
        # what down_to() rebuilds this detector from
        self._options = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        path = resolve_model(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model file not found: {path}")
        card = load_card(path)
        if card.get("layout") == "centernet" and not classes and not card.get("classes"):
            raise ValueError(f"{path}: the model card names no classes")
        self.layout = layout or card.get("layout", "yolo")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        self.classes = tuple(classes or card.get("classes", ()))
        unknown = [c for c in self.classes if c not in LABELS]
        if unknown or not self.classes:
            raise ValueError(f"{path}: classes must be detector labels {LABELS}, got "
                             f"{list(self.classes) or 'none'} (give them in the model card)")
        if provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {PROVIDERS}, got {provider!r}")
        if not 0.0 < threshold_scale <= 10.0 or threads < 0 or not 0 <= implausible_factor <= 1:
            raise ValueError("need 0 < threshold_scale <= 10, threads >= 0 and "
                             "0 <= implausible_factor <= 1")
        thresholds = card.get("thresholds", {})
        self.thresholds = np.asarray([min(1.0, float(thresholds.get(c, 0.3)) * threshold_scale)
                                      for c in self.classes], np.float32)
        self.stride = int(card.get("stride", 4))
        self.multiple = int(card.get("input_multiple", INPUT_MULTIPLE))
        self.person_c = (float(person_c[0]), float(person_c[1]))
        self.scales = tuple(float(v) for v in (scales or card.get("scales") or (1.0,)))
        self.reduced_min_px = float(card.get("reduced_min_px", 0.0) if reduced_min_px is None
                                    else reduced_min_px)
        self.reduced_from_person_px = float(
            card.get("reduced_from_person_px", 0.0) if reduced_from_person_px is None
            else reduced_from_person_px)
        if not 0.0 <= self.reduced_from_person_px <= 10000.0:
            raise ValueError(f"reduced_from_person_px must be 0..10000 px, got "
                             f"{self.reduced_from_person_px}")
        if not all(0.1 <= v <= 2.0 for v in self.scales) or len(self.scales) > 4:
            raise ValueError(f"scales must be 1 to 4 image scales in 0.1..2, got "
                             f"{list(self.scales)}")
        if flip_scales is None:  # the card's, at the scales run
            flip_scales = tuple(v for v in card.get("flip_scales", ()) if v in self.scales)
        self.flip_scales = tuple(float(v) for v in flip_scales)
        if any(v not in self.scales for v in self.flip_scales) or (
                self.flip_scales and self.layout != "centernet"):
            raise ValueError(f"flip_scales must be among the scales {list(self.scales)} and "
                             f"need the centernet layout, got {list(self.flip_scales)}")
        self.box_vote_iou = float(card.get("box_vote_iou", 0.0) if box_vote_iou is None
                                  else box_vote_iou)
        if not 0.0 <= self.box_vote_iou <= 1.0:
            raise ValueError(f"box_vote_iou must be 0..1 (0: no box voting), got "
                             f"{self.box_vote_iou}")
        self.implausible_factor = float(implausible_factor)
        self.session = onnx_session(path, provider, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.path = path
        self.rescorer: PatchRescorer | None = None
        if rescore and card.get("rescorer"):
            self.rescorer = PatchRescorer(RescorerCard.from_card(card["rescorer"], path.parent),
                                          self.classes, provider, threads)
        # boxes are decoded down to the score from which rescoring can still reach the
        # lowest threshold, and cut at that threshold after it
        self._cut = float(self.thresholds.min())
        self._floor = self.rescorer.floor(self._cut) if self.rescorer else self._cut
        self._inputs: dict[float, NDArray[np.float32]] = {}
        self._mirrored: dict[float, NDArray[np.float32]] = {}  # flip-test inputs, by scale
        self._norm: NDArray[np.float32] | None = None

    def down_to(self, floor: float) -> LearnedDetector:
        """This detector with every threshold scaled so that the lowest is ``floor`` (the
        boxes an AP curve is made of: ``evaluation.boxes.AP_SCORE_FLOOR``); itself when its
        lowest threshold is already at or below it. Same card, options and rescorer."""
        low = float(self.thresholds.min())
        if low <= floor * (1.0 + 1e-6):  # (thresholds are float32)
            return self
        options = dict(self._options)
        options["threshold_scale"] = options["threshold_scale"] * floor / low
        return LearnedDetector(**options)

    def boxes(self, frame: NDArray, gsd_m: float | None = None) -> Boxes:
        """The model's boxes on ``frame`` (H, W), before the per-class thresholds' last cut
        (the lowest class threshold is applied). With several ``scales`` (the card's, or the
        caller's: e.g. ``(1.0, 0.5)`` also finds people too close for the model's receptive
        field) the frame is run at each and the boxes merged per class (IoU 0.5); given the
        ground sample distance ``gsd_m`` (m per pixel at the frame's centre), only the scales
        :func:`.model_io.scales_for` keeps for it. With a ``rescorer`` in the card, the boxes
        of its classes carry the combined score (:mod:`.rescore`) where it applies (a
        rescorer trained on drone views: only with ``gsd_m`` known)."""
        h, w = np.shape(frame)
        found = []
        scales = scales_for(self.scales, gsd_m, self.reduced_from_person_px)
        rescorer = self.rescorer if self.rescorer is not None and self.rescorer.applies(
            gsd_m) else None
        low = self._floor if rescorer is not None else self._cut
        for scale, x, (sh, sw) in self.model_inputs(frame, scales):
            outputs = self.session.run(None, {self.input_name: x})
            if scale in self.flip_scales:
                outputs = self._flip_test(scale, x, outputs, sh, sw)
            found.append(self._decode(outputs, (sh, sw), low))
        merged = merge_scales(found, scales, (h, w), self.reduced_min_px)
        if rescorer is None or self._norm is None:
            return merged
        b = rescorer.rescore(self._norm, merged)
        keep = b.scores >= self._cut
        return Boxes(b.xyxy[keep], b.scores[keep], b.classes[keep])

    def model_inputs(self, frame: NDArray, scales: Sequence[float]
                     ) -> Iterator[tuple[float, NDArray[np.float32], tuple[int, int]]]:
        """The network's inputs for ``frame`` (H, W) as :meth:`boxes` runs it: per scale, the
        scale, the normalised frame resized and zero-padded to the input multiple (1, 1, H',
        W') and the resized size (h, w) inside it. The arrays are buffers reused for the next
        frame (allocated once per stream size): copy one to keep it."""
        a = np.asarray(frame)
        h, w = a.shape
        if self._norm is None or self._norm.shape != (h, w):
            self._norm = np.empty((h, w), np.float32)  # once per stream size
            self._inputs, self._mirrored = {}, {}
        normalise_frame(a, out=self._norm)
        for scale in scales:
            sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
            x = self._inputs.get(scale)
            if x is None:
                x = self._inputs[scale] = np.zeros((1, 1, *padded_shape(sh, sw, self.multiple)),
                                                   np.float32)
            if scale == 1.0:
                x[0, 0, :h, :w] = self._norm
            else:
                cv2.resize(self._norm, (sw, sh), dst=x[0, 0, :sh, :sw],
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            yield scale, x, (sh, sw)

    def _flip_test(self, scale: float, x: NDArray[np.float32], outputs: list[NDArray],
                   height: int, width: int) -> list[NDArray]:
        """``outputs`` averaged with those of the mirrored frame (the first ``width`` columns
        of ``x``; its padding stays where it is)."""
        mirrored = self._mirrored.get(scale)
        if mirrored is None:
            mirrored = self._mirrored[scale] = np.zeros_like(x)
        mirrored[0, 0, :height, :width] = x[0, 0, :height, width - 1::-1]
        heat_f, size_f = self.session.run(None, {self.input_name: mirrored})[:2]
        heat, size = average_flipped(outputs[0], outputs[1], heat_f, size_f,
                                     -(-width // self.stride))
        return [heat, size, *outputs[2:]]

    def _decode(self, outputs: list[NDArray], shape: tuple[int, int], low: float) -> Boxes:
        if self.layout == "centernet":
            heat, size, offset = outputs[:3]
            return decode_centernet(heat[0], size[0], offset[0], self.stride, low, shape,
                                    vote_iou=self.box_vote_iou)
        return decode_yolo(outputs[0], low, shape, num_classes=len(self.classes))

    def detect(self, frame: NDArray, gsd_m: float | None = None,
               radiometric: bool = True) -> list[Detection]:
        """Detections on one frame: deg C when ``radiometric``, else relative levels (boxes
        then carry NaN temperatures and no plausibility check). ``gsd_m`` (m per pixel, None:
        unknown) chooses the scales run (:meth:`boxes`) and gives each box its area in m^2."""
        a = np.asarray(frame)
        if a.ndim != 2 or a.size == 0:
            raise ValueError(f"need a non-empty (H, W) image, got shape {a.shape}")
        b = self.boxes(a, gsd_m)
        keep = b.scores >= self.thresholds[b.classes]
        out = []
        for (x0, y0, x1, y1), score, ci in zip(b.xyxy[keep], b.scores[keep], b.classes[keep],
                                               strict=True):
            bx = (math.floor(x0), math.floor(y0), math.ceil(x1),
                  math.ceil(y1))
            label = self.classes[int(ci)]
            area = (bx[2] - bx[0]) * (bx[3] - bx[1])
            max_c = mean_c = math.nan
            factor = 1.0
            if radiometric:
                finite = _finite_pixels(a, bx)
                if finite.size:
                    max_c, mean_c = float(finite.max()), float(finite.mean())
                if label == "person":
                    factor = self._person_factor(finite)
            out.append(Detection(
                label=label, confidence=float(np.clip(score, 0.0, 1.0)) * float(factor),
                bbox=bx, centroid=(0.5 * float(x0 + x1), 0.5 * float(y0 + y1)), max_c=max_c,
                mean_c=mean_c, area_px=area,
                area_m2=area * gsd_m * gsd_m if gsd_m else math.nan))
        return out

    def plausibility_factors(self, frame_c: NDArray, boxes: Boxes) -> NDArray[np.float64]:
        """Per box of ``boxes`` on the deg C ``frame_c``: :meth:`plausibility` of its finite
        pixels for a "person" (1 when it has none), 1 for every other class. The one place
        the second opinion is applied: :meth:`detect` and the dataset evaluation use it."""
        factors = np.ones(len(boxes.scores))
        for k, (xyxy, ci) in enumerate(zip(boxes.xyxy, boxes.classes, strict=True)):
            if self.classes[int(ci)] == "person":
                factors[k] = self._person_factor(_finite_pixels(frame_c, xyxy))
        return factors

    def _person_factor(self, finite_c: NDArray[np.float32]) -> float:
        """:meth:`plausibility` of a person box's finite pixels; 1 when it has none."""
        return self.plausibility(finite_c) if finite_c.size else 1.0

    def plausibility(self, box_c: NDArray[np.float32]) -> float:
        """1, or ``implausible_factor`` when a person's box is too cold or too hot to be one:
        its 90th percentile (the body, not the background around it) outside ``person_c``."""
        warm = float(np.percentile(box_c, 90.0))
        low, high = self.person_c
        return 1.0 if low <= warm <= high else self.implausible_factor


def _finite_pixels(frame: NDArray, xyxy) -> NDArray[np.float32]:
    """The finite pixels (float32) of ``frame`` inside the box ``(x0, y0, x1, y1)``, its
    edges rounded outwards to whole pixels."""
    x0, y0, x1, y1 = xyxy
    patch = frame[math.floor(y0):math.ceil(y1), math.floor(x0):math.ceil(x1)]
    patch = patch.astype(np.float32, copy=False)
    return patch[np.isfinite(patch)]
