"""A second opinion on a detector's boxes: a small patch classifier (ONNX, onnxruntime).

The detector's network sees a whole frame at a quarter of its resolution; the classifier sees
each box of the classes it serves at full resolution with its surroundings: a square crop
``context`` times the box's longer side (at least ``min_crop_px`` frame pixels), centred on
the box, resampled (bilinear) to ``crop_px`` x ``crop_px`` from the detector's own
normalised frame (:func:`.model_io.normalise_frame`, zero outside the frame), and the box's
log width and height in frame pixels. Its probability ``p`` that the crop holds the class joins the
detector's score ``s`` as a weighted geometric mean:

    score = s ** detector_weight * p ** (1 - detector_weight)

so it can lower a false box's score and raise a true one's, never beyond ``s **
detector_weight``. Trained by ``tools/train_rescorer.py`` on the detector's own boxes on the
training split (true and false as the evaluation counts them); described in the detector's
model card under ``rescorer``::

    "rescorer": {"model": "thermal_rescorer_drone.onnx", "classes": ["person"],
                 "crop_px": 32, "context": 3.0, "min_crop_px": 24, "detector_weight": 0.9,
                 "requires_gsd": true}

``requires_gsd``: the classifier runs only on frames whose ground sample distance is known
(the detector's ``gsd_m``): a rescorer trained on drone views, where it is always known,
stays out of side-on frames, where it has not learnt what a person looks like (the drone
model's rescorer lowers side-on people's AP50 on the phone frames' val split, 0.820 -> 0.708).

The ONNX model's inputs: ``crops`` (N, 1, crop_px, crop_px) float32 and ``sizes`` (N, 2)
float32; its output: (N,) logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from thermal_perception.core.detection.model_io import Boxes, onnx_session


@dataclass(frozen=True)
class RescorerCard:
    """The ``rescorer`` entry of a detector's model card (see the module docstring)."""

    model: Path                 # the classifier's .onnx file
    classes: tuple[str, ...]    # the detector classes whose boxes it rescores
    crop_px: int = 32           # crop side fed to the classifier, px
    context: float = 3.0        # crop side / the box's longer side
    min_crop_px: float = 24.0   # the smallest crop side, frame px
    detector_weight: float = 0.9  # exponent of the detector's score in the combined score
    requires_gsd: bool = False  # run only on frames whose ground sample distance is known

    @classmethod
    def from_card(cls, entry: dict[str, Any], card_dir: Path) -> RescorerCard:
        """Read and check a card's ``rescorer`` entry (``model`` relative to ``card_dir``)."""
        try:
            card = cls(model=card_dir / str(entry["model"]),
                       classes=tuple(str(c) for c in entry["classes"]),
                       crop_px=int(entry.get("crop_px", 32)),
                       context=float(entry.get("context", 3.0)),
                       min_crop_px=float(entry.get("min_crop_px", 24.0)),
                       detector_weight=float(entry.get("detector_weight", 0.9)),
                       requires_gsd=bool(entry.get("requires_gsd", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the model card's rescorer entry is malformed ({exc!r}): it "
                             f"needs 'model' and 'classes'") from None
        if not card.classes or not 8 <= card.crop_px <= 256 or not 1.0 <= card.context <= 10.0 \
                or not 1.0 <= card.min_crop_px <= 1024.0 or not 0.0 <= card.detector_weight <= 1.0:
            raise ValueError(f"the model card's rescorer entry is out of range: {entry} (need "
                             f"classes, 8 <= crop_px <= 256, 1 <= context <= 10, "
                             f"1 <= min_crop_px <= 1024, 0 <= detector_weight <= 1)")
        return card


def crop_boxes(norm: NDArray[np.float32], xyxy: NDArray, crop_px: int, context: float,
               min_crop_px: float, out: NDArray[np.float32] | None = None
               ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The classifier's inputs for the boxes ``xyxy`` (N, 4, frame px) on the normalised
    frame ``norm`` (H, W): crops (N, 1, crop_px, crop_px), zero outside the frame, and the
    boxes' log width and height (N, 2), each side at least 1 px. ``out`` (M >= N crops) is
    filled and a view of it returned (one buffer per stream)."""
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    n = len(boxes)
    if out is None or len(out) < n or out.shape[1:] != (1, crop_px, crop_px):
        out = np.empty((n, 1, crop_px, crop_px), np.float32)
    crops = out[:n]
    wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 1.0)
    centre = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    scale = crop_px / np.maximum(context * wh.max(axis=1), min_crop_px)
    for k in range(n):  # one affine warp per box (a few per frame), not per pixel
        s = scale[k]
        m = np.array([[s, 0.0, 0.5 * crop_px - s * centre[k, 0]],
                      [0.0, s, 0.5 * crop_px - s * centre[k, 1]]], np.float64)
        # bilinear both ways: warpAffine documents no area filter (INTER_AREA is not among
        # its interpolations), and the shipped rescorers were trained on exactly these crops
        cv2.warpAffine(norm, m, (crop_px, crop_px), dst=crops[k, 0], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return crops, np.log(wh).astype(np.float32)


def combine(detector: NDArray, classifier: NDArray, detector_weight: float
            ) -> NDArray[np.float32]:
    """``detector ** w * classifier ** (1 - w)`` (scores in 0..1)."""
    d = np.clip(np.asarray(detector, np.float64), 0.0, 1.0)
    c = np.clip(np.asarray(classifier, np.float64), 0.0, 1.0)
    return (d ** detector_weight * c ** (1.0 - detector_weight)).astype(np.float32)


class PatchRescorer:
    """Runs a :class:`RescorerCard`'s classifier on the boxes of its classes."""

    def __init__(self, card: RescorerCard, class_names: Sequence[str],
                 provider: str = "CPUExecutionProvider", threads: int = 1) -> None:
        unknown = [c for c in card.classes if c not in class_names]
        if unknown:
            raise ValueError(f"the rescorer serves classes {unknown} the detector does not "
                             f"have ({list(class_names)})")
        if not card.model.is_file():
            raise FileNotFoundError(f"rescorer ONNX model not found: {card.model}")
        self.session = onnx_session(card.model, provider, threads)
        names = [i.name for i in self.session.get_inputs()]
        if names != ["crops", "sizes"]:
            raise ValueError(f"{card.model}: a rescorer takes inputs ['crops', 'sizes'], "
                             f"this one {names}")
        self.card = card
        self.class_ids = np.asarray([list(class_names).index(c) for c in card.classes], np.intp)
        self._crops: NDArray[np.float32] | None = None

    def probabilities(self, norm: NDArray[np.float32], xyxy: NDArray) -> NDArray[np.float64]:
        """The classifier's probability for each box (N, 4) on the normalised frame."""
        if not len(xyxy):
            return np.zeros(0)
        c = self.card
        if self._crops is None or len(self._crops) < len(xyxy):
            self._crops = np.empty((max(64, 2 * len(xyxy)), 1, c.crop_px, c.crop_px),
                                   np.float32)  # grows rarely: once per stream in practice
        crops, sizes = crop_boxes(norm, xyxy, c.crop_px, c.context, c.min_crop_px,
                                  out=self._crops)
        logits = self.session.run(None, {"crops": crops, "sizes": sizes})[0]
        return 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64).reshape(-1)))

    def applies(self, gsd_m: float | None) -> bool:
        """Whether to rescore a frame of ground sample distance ``gsd_m`` (None: unknown)."""
        return not self.card.requires_gsd or (gsd_m is not None and gsd_m > 0)

    def floor(self, threshold: float) -> float:
        """The lowest detector score that can reach ``threshold`` after rescoring."""
        w = self.card.detector_weight
        return float(threshold ** (1.0 / w)) if w > 0 else 0.0

    def rescore(self, norm: NDArray[np.float32], boxes: Boxes) -> Boxes:
        """``boxes`` with the scores of the served classes combined with the classifier's."""
        mine = np.flatnonzero(np.isin(boxes.classes, self.class_ids))
        if not len(mine):
            return boxes
        scores = boxes.scores.copy()
        p = self.probabilities(norm, boxes.xyxy[mine])
        scores[mine] = combine(scores[mine], p, self.card.detector_weight)
        return Boxes(boxes.xyxy, scores, boxes.classes)
