"""The patch classifier's second opinion (core/detection/rescore.py): crops, the combined
score, the card entry."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermal_perception.core.detection.model_io import Boxes
from thermal_perception.core.detection.model_io import normalise_frame as normalise
from thermal_perception.core.detection.rescore import RescorerCard, combine, crop_boxes


def test_crop_is_the_box_with_its_surroundings_known_answer() -> None:
    # a 10 x 20 px bright box centred at (100, 60): with context 3 the crop spans 60 px
    # (3 x the longer side) around its centre, so at 30 px the box fills 5 x 10 px there
    norm = np.zeros((128, 160), np.float32)
    norm[50:70, 95:105] = 1.0
    crops, sizes = crop_boxes(norm, np.array([[95.0, 50.0, 105.0, 70.0]]), 30, 3.0, 24.0)
    assert crops.shape == (1, 1, 30, 30)
    bright = crops[0, 0] > 0.5
    rows, cols = np.flatnonzero(bright.any(axis=1)), np.flatnonzero(bright.any(axis=0))
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (10, 19, 13, 17)
    np.testing.assert_allclose(crops[0, 0].sum(), 50.0, rtol=0.02)  # area kept: 200 / 4
    np.testing.assert_allclose(sizes, np.log([[10.0, 20.0]]), rtol=1e-6)


def test_small_boxes_get_the_minimum_crop_and_the_border_is_zero() -> None:
    norm = np.ones((64, 64), np.float32)
    # a 2 x 2 px box in the corner: the crop is min_crop_px = 24 px wide, half off the frame
    crops, sizes = crop_boxes(norm, np.array([[0.0, 0.0, 2.0, 2.0]]), 24, 3.0, 24.0)
    c = crops[0, 0]
    assert c[:11, :].max() == 0.0 and c[:, :11].max() == 0.0  # outside the frame: zero
    assert c[13:, 13:].min() == 1.0
    # a degenerate (zero-width) box is measured as 1 px, not log(0)
    _, sizes = crop_boxes(norm, np.array([[5.0, 5.0, 5.0, 9.0]]), 24, 3.0, 24.0)
    np.testing.assert_allclose(sizes, [[0.0, np.log(4.0)]])


def test_crop_buffer_is_reused() -> None:
    norm = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    buf = np.empty((8, 1, 16, 16), np.float32)
    boxes = np.array([[5.0, 5.0, 15.0, 20.0], [30.0, 10.0, 40.0, 30.0]])
    crops, _ = crop_boxes(norm, boxes, 16, 2.0, 8.0, out=buf)
    assert crops.base is buf and len(crops) == 2
    fresh, _ = crop_boxes(norm, boxes, 16, 2.0, 8.0)
    np.testing.assert_array_equal(crops, fresh)
    empty, sizes = crop_boxes(norm, np.zeros((0, 4)), 16, 2.0, 8.0, out=buf)
    assert empty.shape == (0, 1, 16, 16) and sizes.shape == (0, 2)


def test_combine_known_answers() -> None:
    np.testing.assert_allclose(combine([0.5, 0.8], [1.0, 0.2], 1.0), [0.5, 0.8])
    np.testing.assert_allclose(combine([0.5, 0.8], [1.0, 0.2], 0.0), [1.0, 0.2])
    np.testing.assert_allclose(combine([0.25], [1.0], 0.5), [0.5])  # sqrt(0.25 * 1)
    np.testing.assert_allclose(combine([0.4], [0.1], 0.9), [0.4 ** 0.9 * 0.1 ** 0.1], rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.01, 1.0))
def test_combined_score_stays_within_its_bound(s: float, p: float, w: float, t: float) -> None:
    c = float(combine([s], [p], w)[0])
    assert 0.0 <= c <= s ** w + 1e-6  # the classifier raises a score at most to s ** w
    assert min(s, p) - 1e-6 <= c <= max(s, p) + 1e-6  # a weighted geometric mean
    # the decode floor: a box below threshold ** (1 / w) cannot reach the threshold
    if w > 0 and s < t ** (1.0 / w) - 1e-9:
        assert c < t + 1e-6


def test_card_entry_is_checked(tmp_path: Path) -> None:
    card = RescorerCard.from_card({"model": "r.onnx", "classes": ["person"],
                                   "detector_weight": 0.8}, tmp_path)
    assert card.model == tmp_path / "r.onnx" and card.classes == ("person",)
    assert (card.crop_px, card.context, card.detector_weight) == (32, 3.0, 0.8)
    assert not card.requires_gsd  # unless the card says so, it rescores every frame
    with pytest.raises(ValueError, match="needs 'model' and 'classes'"):
        RescorerCard.from_card({"classes": ["person"]}, tmp_path)
    for bad in ({"crop_px": 4}, {"detector_weight": 1.5}, {"context": 0.5}, {"classes": []}):
        with pytest.raises(ValueError, match="out of range"):
            RescorerCard.from_card({"model": "r.onnx", "classes": ["person"], **bad}, tmp_path)


# -- the shipped drone model's rescorer ------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "hit_uav_sample"
DRONE = REPO / "thermal_perception" / "models" / "thermal_detector_drone.onnx"
GSD_M = 0.1  # m per pixel: a drone view at about 80 m (HIT-UAV's camera)


def _sample_frame(item) -> np.ndarray:
    from thermal_perception.io.dataset_images import read_dataset_image

    return read_dataset_image(item, None)[0].astype(np.float32)


def _sample_frames(n: int) -> list[np.ndarray]:
    from thermal_perception.io.labels import read_dataset

    return [_sample_frame(it) for it in read_dataset(SAMPLE, "test")[:n]]


def test_drone_rescorer_changes_people_only_as_combine_says() -> None:
    """Through ``LearnedDetector``: the drone model's person boxes carry the combined score of
    the detector's own score and the classifier's probability of their crop; vehicles and
    bicycles keep the detector's score; with ``rescore=False`` the detector's alone."""
    from thermal_perception.core.detection.model import LearnedDetector

    with_ = LearnedDetector("drone", threshold_scale=0.2)
    without = LearnedDetector("drone", threshold_scale=0.1, rescore=False)  # decodes more
    assert with_.rescorer is not None and without.rescorer is None
    w = with_.rescorer.card.detector_weight
    person = with_.classes.index("person")
    checked = changed = 0
    for frame in _sample_frames(6):
        a, b = with_.boxes(frame, GSD_M), without.boxes(frame, GSD_M)
        b = Boxes(*(v[b.scores >= with_._floor] for v in (b.xyxy, b.scores, b.classes)))
        p = with_.rescorer.probabilities(with_._norm, b.xyxy)
        expected = np.where(b.classes == person, combine(b.scores, p, w), b.scores)
        kept = expected >= with_._cut
        np.testing.assert_array_equal(a.xyxy, b.xyxy[kept])
        np.testing.assert_allclose(a.scores, expected[kept], rtol=1e-5)
        checked += int(np.sum(b.classes[kept] == person))
        changed += int(np.sum(np.abs(a.scores - b.scores[kept]) > 1e-3))
    assert checked >= 20 and changed >= checked // 2  # it does change the people's scores


def test_drone_rescorer_stays_out_of_frames_without_geometry() -> None:
    """Trained on drone views (ground sample distance always known), the drone model's
    rescorer leaves a frame of unknown geometry (a side-on camera) to the detector: the same
    boxes and scores as without it."""
    from thermal_perception.core.detection.model import LearnedDetector

    with_ = LearnedDetector("drone", threshold_scale=0.2)
    without = LearnedDetector("drone", threshold_scale=0.2, rescore=False)
    assert with_.rescorer is not None and with_.rescorer.card.requires_gsd
    assert not with_.rescorer.applies(None) and with_.rescorer.applies(GSD_M)
    for frame in _sample_frames(3):
        a, b = with_.boxes(frame), without.boxes(frame)
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.scores, b.scores)
        assert len(a.scores) and a.scores.min() >= with_._cut


def test_rescorer_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    from thermal_perception.core.detection.rescore import PatchRescorer

    card = json.loads(DRONE.with_suffix(".json").read_text())["rescorer"]
    ok = RescorerCard.from_card(card, DRONE.parent)
    with pytest.raises(ValueError, match="does not have"):
        PatchRescorer(ok, ("vehicle", "bicycle"))
    with pytest.raises(FileNotFoundError, match="not found"):
        PatchRescorer(RescorerCard.from_card({**card, "model": "missing.onnx"}, tmp_path),
                      ("person",))
    # the detector's own network is no rescorer: its inputs are named otherwise
    with pytest.raises(ValueError, match="takes inputs"):
        PatchRescorer(RescorerCard.from_card({**card, "model": DRONE.name}, DRONE.parent),
                      ("person",))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        PatchRescorer(RescorerCard.from_card({**card, "model": junk.name}, tmp_path),
                      ("person",))


# -- the trainer's data: labelled as the evaluation counts them (no torch needed) --------------

def _trainer():
    import sys

    sys.path.insert(0, str(REPO / "tools"))
    import train_rescorer

    return train_rescorer


def test_trainer_labels_its_crops_as_the_evaluation_counts_them() -> None:
    """On 8 held-out sample frames: the crops the trainer mines are the detector's person boxes
    down to the floor, true exactly where ``evaluate_boxes`` counts them true; each jittered
    label adds a true crop; the crops are those ``crop_boxes`` makes."""
    from thermal_perception.core.detection.model import LearnedDetector
    from thermal_perception.evaluation.boxes import evaluate_boxes
    from thermal_perception.evaluation.dataset import item_gsd_m
    from thermal_perception.io.labels import read_dataset

    tr = _trainer()
    items = read_dataset(SAMPLE, "test")[:8]
    detector = LearnedDetector("drone", rescore=False, threshold_scale=0.2)
    got = tr.mine(detector, items, ("person",), 0.1, 32, 4.0, 24.0, 0,
                  np.random.default_rng(0), "test")
    preds = []
    for it in items:
        frame = _sample_frame(it)
        b = detector.boxes(frame, item_gsd_m(it))
        keep = (b.classes == 0) & (b.scores >= 0.1)
        preds.append(Boxes(b.xyxy[keep], b.scores[keep], np.zeros(int(keep.sum()), np.intp)))
    report = evaluate_boxes(items, preds, ["person"], 0.1)["classes"]["person"]
    assert len(got["labels"]) == report["true_pos"] + report["false_pos"] > 20
    assert int(got["labels"].sum()) == report["true_pos"]
    assert np.all(got["scores"] >= 0.1)
    labelled = sum(lab == "person" for it in items for lab in it.labels)
    jittered = tr.mine(detector, items, ("person",), 0.1, 32, 4.0, 24.0, 1,
                       np.random.default_rng(0), "test")
    assert len(jittered["labels"]) == len(got["labels"]) + labelled
    assert int(jittered["labels"].sum()) == report["true_pos"] + labelled
    first = got["images"] == 0
    crops, _ = crop_boxes(normalise(_sample_frame(items[0])), got["xyxy"][first], 32, 4.0, 24.0)
    np.testing.assert_array_equal(got["crops"][first], crops)


def test_trainer_auc_agrees_with_counting_pairs() -> None:
    tr = _trainer()
    rng = np.random.default_rng(5)
    labels = (rng.random(300) < 0.3).astype(np.float32)
    scores = np.round(rng.random(300) + 0.5 * labels, 1)  # ties too
    pos, neg = scores[labels > 0.5], scores[labels < 0.5]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert tr.auc(labels, scores) == pytest.approx(pairs, abs=1e-12)
    assert math.isnan(tr.auc(np.ones(3), np.arange(3.0)))
