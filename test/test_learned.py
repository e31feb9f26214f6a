"""The learned detector: input normalisation, output decoding, box scores, label files, and
the shipped model on real drone thermal images (data/hit_uav_sample, HIT-UAV test split)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from thermal_perception.core.detection.model_io import (
    Boxes,
    centernet_targets,
    decode_centernet,
    decode_yolo,
    normalise_frame,
    padded_shape,
    scales_for,
)
from thermal_perception.core.detection.types import gsd_from_altitude, gsd_from_view
from thermal_perception.evaluation.boxes import (
    average_precision,
    evaluate_boxes,
    false_detections,
    iou_matrix,
)
from thermal_perception.io.labels import (
    LabelError,
    LabelledImage,
    read_coco,
    read_dataset,
    write_coco,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "hit_uav_sample"
SHIPPED = REPO / "thermal_perception" / "models" / "thermal_detector.onnx"
DRONE = REPO / "thermal_perception" / "models" / "thermal_detector_drone.onnx"


# -- normalisation ---------------------------------------------------------------------------

def test_normalise_8bit_is_a_percentile_stretch() -> None:
    img = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    x = normalise_frame(img, low=0.0, high=100.0, sample_step=1)
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x[0], np.arange(256) / 255.0, atol=1e-6)


def test_normalise_temperature_nan_inf_and_uniform_scene() -> None:
    t = np.full((40, 50), 20.0, np.float32)
    t[5:10, 5:10] = 36.0
    t[0, 0], t[0, 1], t[0, 2] = np.nan, np.inf, -np.inf
    x = normalise_frame(t, sample_step=1)
    assert np.isfinite(x).all() and x[0, 0] == 0.0 and x[0, 1] == 0.0 and x[0, 2] == 0.0
    assert x[7, 7] == 1.0 and x[20, 20] == 0.0
    flat = normalise_frame(np.full((8, 8), 20.0, np.float32))  # min span: noise not stretched
    np.testing.assert_allclose(flat, 0.5)
    assert not normalise_frame(np.full((8, 8), np.nan, np.float32)).any()


def test_normalise_same_scene_as_8bit_or_celsius_agrees() -> None:
    """A radiometric frame and its linear 8-bit rendering normalise to the same input."""
    rng = np.random.default_rng(1)
    t = (15.0 + 10.0 * rng.random((64, 80))).astype(np.float32)
    lo, hi = float(t.min()), float(t.max())
    as8 = np.round((t - lo) / (hi - lo) * 255.0).astype(np.uint8)
    a = normalise_frame(t, sample_step=1)
    b = normalise_frame(as8, sample_step=1)
    assert np.abs(a - b).max() < 0.02


def test_padded_shape() -> None:
    assert padded_shape(512, 640) == (512, 640)
    assert padded_shape(120, 160) == (128, 160)
    assert padded_shape(1, 1) == (32, 32)


# -- decoding ---------------------------------------------------------------------------------

boxes_strategy = st.lists(
    st.tuples(st.integers(4, 280), st.integers(4, 220), st.integers(4, 40),
              st.integers(4, 40), st.integers(0, 2)), min_size=1, max_size=6)


def _spec_boxes(spec: list[tuple[int, ...]], shape: tuple[int, int], stride: int
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """Boxes (xyxy, clipped to ``shape``) and classes of a ``boxes_strategy`` example, or None
    when two share a centre cell (one box per centre cell can be represented)."""
    boxes = np.asarray([[x, y, min(x + w, shape[1]), min(y + h, shape[0])]
                        for x, y, w, h, _ in spec], np.float64)
    cells = {(int(0.5 * (b[0] + b[2]) / stride), int(0.5 * (b[1] + b[3]) / stride))
             for b in boxes}
    if len(cells) < len(boxes):
        return None
    return boxes, np.asarray([c for *_, c in spec], np.intp)


@given(boxes_strategy)
def test_targets_decode_back_to_their_boxes(spec: list[tuple[int, ...]]) -> None:
    """Perfect predictions (the training targets) decode to the labelled boxes."""
    stride, shape = 4, (256, 320)
    example = _spec_boxes(spec, shape, stride)
    if example is None:
        return
    boxes, classes = example
    heat, size, off, mask = centernet_targets(boxes, classes, 3, (64, 80), stride)
    assert int(mask.sum()) == len(boxes)
    out = decode_centernet(heat, size, off, stride, 0.99, shape)
    assert len(out) == len(boxes)
    ious = iou_matrix(out.xyxy, boxes)
    assert (ious.max(axis=1) > 0.999).all()
    assert sorted(out.classes.tolist()) == sorted(classes.tolist())
    assert np.allclose(out.scores, 1.0)


def _box_at(size, off, stride, row, col, image_shape):
    """The box ``decode_centernet`` gives for a heatmap peak at cell (row, col) alone."""
    heat = np.zeros((1, *size.shape[1:]), np.float32)
    heat[0, row, col] = 1.0
    return decode_centernet(heat, size, off, stride, 0.5, image_shape).xyxy[0]


def test_targets_around_centre_known_answer() -> None:
    """A 12 x 20 px person at stride 4 (3 x 5 cells): with ``around=1`` the 8 cells round the
    centre cell regress the same box at half weight; the heatmap is unchanged."""
    box = np.array([[40.0, 60.0, 52.0, 80.0]])  # centre (46, 70) px = cell (11.5, 17.5)
    plain = centernet_targets(box, np.array([0]), 1, (32, 32), 4)
    heat, size, off, mask = centernet_targets(box, np.array([0]), 1, (32, 32), 4, around=1)
    np.testing.assert_array_equal(heat, plain[0])
    assert mask[17, 11] == 1.0 and mask.sum() == pytest.approx(1 + 8 * 0.5)
    assert np.count_nonzero(mask) == 9
    np.testing.assert_allclose(off[:, 16, 10], [1.5, 1.5])  # centre - cell, in cells
    np.testing.assert_allclose(off[:, 18, 12], [-0.5, -0.5])
    for row, col in zip(*np.nonzero(mask), strict=True):
        np.testing.assert_allclose(_box_at(size, off, 4, row, col, (128, 128)), box[0],
                                   atol=1e-4)
    # a box narrower than a cell: only cells whose middle lies inside it regress it
    thin = centernet_targets(np.array([[41.0, 60.0, 43.0, 80.0]]), np.array([0]), 1,
                             (32, 32), 4, around=1)[3]
    assert sorted(zip(*np.nonzero(thin), strict=True)) == [(16, 10), (17, 10), (18, 10)]


def test_box_vote_known_answer() -> None:
    """Box voting: the peak's box is the heatmap-weighted mean of the boxes its 3x3 cells
    decode, among those overlapping the peak's box by at least ``vote_iou``; 0 is off."""
    stride = 4
    heat = np.zeros((1, 8, 8), np.float32)
    size = np.full((2, 8, 8), np.log(16.0), np.float32)  # 16 x 16 px everywhere
    off = np.zeros((2, 8, 8), np.float32)
    heat[0, 4, 4], heat[0, 4, 5], heat[0, 3, 3] = 0.8, 0.4, 0.2  # peak and two neighbours
    off[:, 4, 4] = 0.5  # the peak decodes [10, 10, 26, 26]
    off[:, 4, 5] = (-0.25, 0.5)  # centre (19, 18) px, 20 px: [9, 8, 29, 28], IoU 0.64
    size[:, 4, 5] = np.log(20.0)
    off[:, 3, 3] = (0.5, 0.5)  # [6, 6, 22, 22]: IoU 144 / 368 = 0.39
    plain = decode_centernet(heat, size, off, stride, 0.5, (32, 32))
    np.testing.assert_allclose(plain.xyxy[0], [10, 10, 26, 26])
    assert len(plain) == 1 and plain.scores[0] == pytest.approx(0.8)
    strict = decode_centernet(heat, size, off, stride, 0.5, (32, 32), vote_iou=0.5)
    mean = (0.8 * np.array([10, 10, 26, 26]) + 0.4 * np.array([9, 8, 29, 28])) / 1.2
    np.testing.assert_allclose(strict.xyxy[0], mean, atol=1e-4)
    assert strict.scores[0] == pytest.approx(0.8)  # voting moves boxes, not scores
    loose = decode_centernet(heat, size, off, stride, 0.5, (32, 32), vote_iou=0.3)
    mean = (0.8 * np.array([10, 10, 26, 26]) + 0.4 * np.array([9, 8, 29, 28])
            + 0.2 * np.array([6, 6, 22, 22])) / 1.4
    np.testing.assert_allclose(loose.xyxy[0], mean, atol=1e-4)
    alone = decode_centernet(heat, size, off, stride, 0.5, (32, 32), vote_iou=0.9)
    np.testing.assert_allclose(alone.xyxy[0], [10, 10, 26, 26], atol=1e-4)


@given(boxes_strategy)
def test_box_vote_keeps_perfect_targets(spec: list[tuple[int, ...]]) -> None:
    """Targets trained around the centre (``around=1``) decode to the labelled boxes with box
    voting too: the neighbours that vote regress the same box, and the IoU gate keeps out
    those that regress another box or none (a box smaller than a cell)."""
    stride, shape = 4, (256, 320)
    example = _spec_boxes(spec, shape, stride)
    if example is None:
        return
    boxes, classes = example
    if (np.triu(iou_matrix(boxes, boxes), 1) >= 0.5).any():
        return  # a neighbour regressing another box that overlaps this much would vote
    heat, size, off, _ = centernet_targets(boxes, classes, 3, (64, 80), stride, around=1)
    out = decode_centernet(heat, size, off, stride, 0.99, shape, vote_iou=0.5)
    assert len(out) == len(boxes)
    assert (iou_matrix(out.xyxy, boxes).max(axis=1) > 0.999).all()


@given(boxes_strategy)
def test_targets_around_every_weighted_cell_decodes_a_labelled_box(
        spec: list[tuple[int, ...]]) -> None:
    """With neighbourhood regression each weighted cell decodes to one labelled box, centre
    cells (weight 1) to their own, one per box."""
    stride = 4
    boxes = np.asarray([[x, y, min(x + w, 320), min(y + h, 256)] for x, y, w, h, _ in spec],
                       np.float64)
    classes = np.asarray([c for *_, c in spec], np.intp)
    cells = {(int(0.5 * (b[0] + b[2]) / stride), int(0.5 * (b[1] + b[3]) / stride))
             for b in boxes}
    if len(cells) < len(boxes):
        return
    _, size, off, mask = centernet_targets(boxes, classes, 3, (64, 80), stride, around=1)
    assert np.count_nonzero(mask == 1.0) == len(boxes)
    for row, col in zip(*np.nonzero(mask), strict=True):
        decoded = _box_at(size, off, stride, row, col, (256, 320))
        assert iou_matrix(decoded[None], boxes).max() > 0.999


def test_decode_yolo_nms_and_both_orientations() -> None:
    # two overlapping person boxes (one kept), one car, one below threshold
    cand = np.array([[50, 50, 10, 20, 0.9, 0.1], [51, 50, 10, 20, 0.8, 0.1],
                     [150, 100, 30, 15, 0.05, 0.7], [10, 10, 5, 5, 0.1, 0.05]], np.float32)
    for head in (cand.T[None], cand[None]):  # (1, 4 + C, N) and (1, N, 4 + C)
        b = decode_yolo(head, 0.25, (200, 300), num_classes=2)
        assert len(b) == 2
        assert b.classes.tolist() == [0, 1] and b.scores[0] == pytest.approx(0.9)
        np.testing.assert_allclose(b.xyxy[0], [45, 40, 55, 60])
    with pytest.raises(ValueError, match="YOLO head"):
        decode_yolo(np.zeros((1, 3, 3)), 0.5, (10, 10))


# -- scores -----------------------------------------------------------------------------------

def test_average_precision_known_answers() -> None:
    # 2 labelled; detections TP, FP, TP: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    assert average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == \
        pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert average_precision(np.array([1.0]), np.array([1.0])) == 1.0


def _two_people_and_an_empty_image() -> tuple[list[LabelledImage], list[Boxes]]:
    """Two labelled people and an ignore region on one image, none on the other; detections:
    0.9 on a person, 0.8 a second box on it, 0.7 in the ignore region, 0.4 on nothing, and
    0.6 on the empty image."""
    item = LabelledImage(Path("a.jpg"), 100, 100, boxes=[(10, 10, 20, 30), (50, 50, 60, 70)],
                         labels=["person", "person"], ignore=[(80, 80, 100, 100)])
    empty = LabelledImage(Path("b.jpg"), 100, 100)
    pred = Boxes(np.array([[10, 10, 20, 30], [11, 10, 21, 30], [85, 85, 90, 90],
                           [30, 30, 40, 40]], np.float32),
                 np.array([0.9, 0.8, 0.7, 0.4], np.float32), np.zeros(4, np.intp))
    pred_empty = Boxes(np.array([[5, 5, 15, 25]], np.float32), np.array([0.6], np.float32),
                       np.zeros(1, np.intp))
    return [item, empty], [pred, pred_empty]


def test_evaluate_boxes_matching_ignore_and_thresholds() -> None:
    items, preds = _two_people_and_an_empty_image()
    r = evaluate_boxes(items, preds, ["person"], {"person": 0.5})
    p = r["classes"]["person"]
    # 0.9 TP; 0.8 duplicate FP; 0.7 in the ignore region: left out; 0.6 FP; 0.4 below 0.5
    assert p["true_pos"] == 1 and p["false_pos"] == 2
    assert p["precision"] == pytest.approx(1 / 3) and p["recall"] == pytest.approx(0.5)
    assert p["false_per_empty_image"] == pytest.approx(1.0)
    assert 0.0 < p["ap50"] <= 0.5


def test_false_detections_are_those_the_scores_count_false() -> None:
    """Known answer (the case above): the duplicate box on a found person and the box on the
    image without people; not the one in the ignore region, not the one below threshold."""
    items, preds = _two_people_and_an_empty_image()
    false = false_detections(items, preds, ["person"], {"person": 0.5})
    assert [(f.image, f.xyxy, f.score, f.on_empty) for f in false] == [
        (0, (11.0, 10.0, 21.0, 30.0), pytest.approx(0.8), False),
        (1, (5.0, 5.0, 15.0, 25.0), pytest.approx(0.6), True)]


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(4, 30),
                          st.integers(4, 30), st.integers(0, 1)), max_size=6),
       st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(4, 30),
                          st.integers(4, 30), st.integers(0, 1),
                          st.floats(0.05, 1.0)), max_size=10),
       st.floats(0.1, 0.9))
def test_false_detections_count_what_evaluate_boxes_counts(labelled, found, threshold) -> None:
    """Invariant: per class, as many false detections as ``evaluate_boxes`` counts false
    positives at the same thresholds, and those on images without the class add up to its
    false-per-empty-image count."""
    classes = ["person", "vehicle"]
    half = len(labelled) // 2  # two images: labels split between them
    items = [LabelledImage(Path(f"{i}.jpg"), 100, 100,
                           boxes=[(x, y, x + w, y + h) for x, y, w, h, _ in part],
                           labels=[classes[c] for *_, c in part], ignore=[(90, 90, 100, 100)])
             for i, part in enumerate((labelled[:half], labelled[half:]))]
    preds = [Boxes(np.array([(x, y, x + w, y + h) for x, y, w, h, *_ in part],
                            np.float32).reshape(-1, 4),
                   np.array([s for *_, s in part], np.float32),
                   np.array([c for *_, c, _ in part], np.intp))
             for part in (found[:len(found) // 2], found[len(found) // 2:])]
    r = evaluate_boxes(items, preds, classes, threshold)["classes"]
    false = false_detections(items, preds, classes, threshold)
    for name in classes:
        mine = [f for f in false if f.label == name]
        assert len(mine) == r[name]["false_pos"]
        if r[name]["images_without"]:
            assert sum(f.on_empty for f in mine) == pytest.approx(
                r[name]["false_per_empty_image"] * r[name]["images_without"])
    assert [f.score for f in false] == sorted((f.score for f in false), reverse=True)


def test_evaluate_boxes_size_bins_known_answer() -> None:
    """COCO's size rule: labelled boxes of other sizes, and unmatched detections of other
    sizes, count neither way."""
    item = LabelledImage(Path("a.jpg"), 100, 100, boxes=[(10, 10, 20, 22), (50, 50, 60, 90)],
                         labels=["person", "person"])  # longer sides 12 and 40 px
    pred = Boxes(np.array([[10, 10, 20, 22], [50, 50, 60, 90], [30, 0, 34, 8],
                           [0, 60, 40, 100]], np.float32),  # 12, 40, 8, 40 px; the last two
                 np.array([0.9, 0.8, 0.7, 0.6], np.float32), np.zeros(4, np.intp))  # false

    def counts(size_px):
        r = evaluate_boxes([item], [pred], ["person"], 0.5, size_px=size_px)["classes"]["person"]
        return r["labelled"], r["true_pos"], r["false_pos"]

    assert counts(None) == (2, 2, 2)
    assert counts((0, 16)) == (1, 1, 1)
    assert counts((32, 64)) == (1, 1, 1)
    assert counts((16, 32)) == (0, 0, 0)


@given(st.lists(st.tuples(st.integers(0, 90), st.integers(0, 90), st.integers(1, 80),
                          st.integers(1, 80)), max_size=8))
def test_size_bins_share_out_every_labelled_box(spec: list[tuple[int, int, int, int]]) -> None:
    """Every labelled box falls in exactly one of the eval's size bins; a bin's true
    positives are never more than its labelled boxes."""
    from thermal_perception.evaluation.dataset import SIZE_BINS_PX

    boxes = [(x, y, x + w, y + h) for x, y, w, h in spec]
    item = LabelledImage(Path("a.jpg"), 200, 200, boxes=boxes, labels=["person"] * len(boxes))
    pred = Boxes(np.asarray(boxes, np.float32).reshape(-1, 4),
                 np.linspace(0.9, 0.5, len(boxes)).astype(np.float32),
                 np.zeros(len(boxes), np.intp))
    total = 0
    for lo, hi in SIZE_BINS_PX:
        r = evaluate_boxes([item], [pred], ["person"], 0.4, size_px=(lo, hi))["classes"]["person"]
        assert r["true_pos"] <= r["labelled"]
        total += r["labelled"]
    assert total == len(boxes)


# -- label files ------------------------------------------------------------------------------

def test_coco_round_trip_and_clear_errors(tmp_path: Path) -> None:
    items = [LabelledImage(tmp_path / "x.png", 64, 48, boxes=[(1.0, 2.0, 11.0, 22.0)],
                           labels=["vehicle"], ignore=[(30.0, 30.0, 40.0, 40.0)],
                           altitude_m=80.0, pitch_deg=45.0)]
    write_coco(items, tmp_path / "labels.json", relative_to=tmp_path)
    back = read_dataset(tmp_path)
    assert back[0].boxes == items[0].boxes and back[0].labels == ["vehicle"]
    assert back[0].ignore == items[0].ignore and back[0].altitude_m == 80.0
    with pytest.raises(LabelError, match=r"labels\.json"):
        read_dataset(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "labels.json").write_text("{}")
    with pytest.raises(LabelError, match="not a COCO label file"):
        read_coco(tmp_path / "bad")


def test_sample_dataset_is_complete() -> None:
    items = read_dataset(SAMPLE)
    assert len(items) == 48 and all(it.path.is_file() for it in items)
    assert sum(lab == "person" for it in items for lab in it.labels) == 189
    assert {it.extra["light"] for it in items} == {"day", "night"}
    assert all(it.altitude_m and it.pitch_deg for it in items)
    img = cv2.imread(str(items[0].path), cv2.IMREAD_UNCHANGED)
    assert img.shape == (512, 640) and img.dtype == np.uint8


# -- the shipped model --------------------------------------------------------------------------

needs_model = pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped model")


@pytest.mark.parametrize("model, selected_on", [(SHIPPED, "all validation sets"),
                                                (DRONE, "hit-uav")])
def test_shipped_model_card_is_consistent(model: Path, selected_on: str) -> None:
    """Both shipped models: cards that say how they were made; the drone model's epoch was
    chosen on HIT-UAV's val split alone (the general model's card predates the
    ``selected_on`` record: its epoch was chosen by the score over every val set)."""
    assert model.is_file(), f"{model} is missing"
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["training"].get("selected_on", "all validation sets") == selected_on
    assert card["layout"] == "centernet"
    assert card["classes"] == ["person", "vehicle", "bicycle", "animal"]
    assert card["scales"] == [1.0, 0.5] and card["reduced_min_px"] > 0
    assert set(card["flip_scales"]) <= set(card["scales"])
    choice = card["training"]["inference_choice"]  # chosen on the val splits, all recorded
    assert {(c["reduced_min_px"], tuple(c["flip_scales"]), c["reduced_from_person_px"])
            for c in choice["candidates"]} >= {
        (card["reduced_min_px"], tuple(card["flip_scales"]), card["reduced_from_person_px"])}
    assert card["reduced_from_person_px"] > 0  # scale awareness on: drone frames at scale 1
    assert set(card["thresholds"]) == set(card["classes"])
    assert card["training"]["train_split"] == "train"
    assert card["training"]["selection_split"] == "val"  # never the test split
    assert model.stat().st_size < 20e6


@needs_model
def test_shipped_model_on_real_drone_images() -> None:
    """On the 48 held-out HIT-UAV test images (8-bit, relative): people and vehicles found.
    The floors sit below the measured figures (docs/detection.md, the model card) so that
    only a real regression fails."""
    from thermal_perception.evaluation.dataset import DatasetEvalOptions, run_dataset_eval

    r = run_dataset_eval(DatasetEvalOptions(dataset=SAMPLE), progress=False)
    assert r["input"] == ["relative (8-bit)"]
    person, vehicle = r["overall"]["person"], r["overall"]["vehicle"]
    # measured (docs, the general model fine-tuned 2026-12-07): person AP50 0.833, P 0.821,
    # R 0.778; vehicle AP50 0.890 (an early model before scale awareness: AP50 0.736, P 0.702)
    assert person["ap50"] >= 0.64 and person["precision"] >= 0.66 and person["recall"] >= 0.6
    assert vehicle["ap50"] >= 0.72


def test_drone_model_on_real_drone_images() -> None:
    """The drone model (``model_path: drone``: the epoch best on HIT-UAV val alone, flip test
    at full scale) on the same 48 held-out frames. Floors below the measured figures."""
    from thermal_perception.evaluation.dataset import DatasetEvalOptions, run_dataset_eval

    r = run_dataset_eval(DatasetEvalOptions(dataset=SAMPLE, model_path=Path("drone")),
                         progress=False)
    person, vehicle, bicycle = (r["overall"][c] for c in ("person", "vehicle", "bicycle"))
    # measured (docs, the drone model's fourth stage with its rescorer, 2026-12-07): person
    # AP50 0.854, P 0.866, R 0.820 (without the rescorer 0.852, 0.864, 0.804); vehicle AP50
    # 0.899; bicycle 0.892
    assert person["ap50"] >= 0.72 and person["precision"] >= 0.74 and person["recall"] >= 0.66
    assert vehicle["ap50"] >= 0.78 and bicycle["ap50"] >= 0.7


@needs_model
def test_eval_draws_its_false_detections(tmp_path: Path) -> None:
    """``eval --false-sheet N``: the N highest-scoring false detections, as the report counts
    them, drawn as one picture of crops (six per row) and listed in dataset_eval.json."""
    from thermal_perception.evaluation.dataset import (
        SHEET_COLUMNS,
        SHEET_TILE_PX,
        DatasetEvalOptions,
        run_dataset_eval,
    )

    r = run_dataset_eval(DatasetEvalOptions(dataset=SAMPLE, limit=16, out=tmp_path,
                                            false_sheet=7), progress=False)
    f = r["false_detections"]
    assert f["count"] == sum(c["false_pos"] for c in r["overall"].values())
    assert f["count"] >= 7  # measured on these 16 frames: more than that
    scores = [d["score"] for d in f["drawn"]]
    assert len(scores) == 7 and scores == sorted(scores, reverse=True)
    assert all(d["score"] >= r["overall"][d["label"]]["threshold"] for d in f["drawn"])
    sheet = cv2.imread(f["sheet"])
    assert sheet.shape == (2 * SHEET_TILE_PX, SHEET_COLUMNS * SHEET_TILE_PX, 3)
    assert sheet[:SHEET_TILE_PX].std() > 10 and not sheet[SHEET_TILE_PX:, SHEET_TILE_PX:].any()
    saved = json.loads((tmp_path / "dataset_eval.json").read_text())
    assert saved["false_detections"]["drawn"] == f["drawn"]
    # the precision-recall curves: ending where the report's counts end, drawn as a picture
    person = r["overall"]["person"]
    curve = person["curve"]
    assert curve["score"] == sorted(curve["score"], reverse=True)
    points = list(zip(curve["recall"], curve["score"], strict=True))
    above = [rc for rc, sc in points if sc >= person["threshold"]]
    below = [rc for rc, sc in points if sc < person["threshold"]]
    assert above and below  # the curve runs past the shipped threshold (down to the AP floor)
    assert max(above) <= person["recall"] + 1e-9 <= min(below) + 2e-9
    picture = cv2.imread(r["pr_curves"])
    assert picture.shape == (520, 640, 3) and picture.std() > 10
    assert saved["pr_curves"] == r["pr_curves"]


def test_pr_curve_known_answer() -> None:
    """Precision and recall after each detection in falling score order, thinned evenly
    with the last kept; the curve a report carries agrees with its AP50 counts."""
    from thermal_perception.evaluation.boxes import pr_curve

    c = pr_curve(np.array([0.7, 0.9, 0.8]), np.array([True, True, False]), 2)
    assert c == {"recall": [0.5, 0.5, 1.0], "precision": [1.0, 0.5, 2 / 3],
                 "score": [0.9, 0.8, 0.7]}
    many = pr_curve(np.linspace(1, 0, 1001), np.ones(1001, bool), 1001, points=200)
    assert len(many["recall"]) == 200 and many["recall"][0] == pytest.approx(1 / 1001)
    assert many["recall"][-1] == 1.0 and many["score"][-1] == 0.0
    assert pr_curve(np.zeros(0), np.zeros(0, bool), 3) == {"recall": [], "precision": [],
                                                          "score": []}


@needs_model
def test_eval_ap50_curve_reaches_below_the_shipped_thresholds() -> None:
    """The eval's AP50 takes the model's boxes down to AP_SCORE_FLOOR (as the trainer
    validates); precision, recall and F1 stay those at the shipped thresholds: the same as
    scoring only the boxes the shipped detector keeps, whose AP50 can only be lower."""
    from thermal_perception.core.detection.model import LearnedDetector
    from thermal_perception.evaluation.dataset import (
        EVAL_CLASSES,
        DatasetEvalOptions,
        item_gsd_m,
        run_dataset_eval,
    )
    from thermal_perception.io.dataset_images import read_dataset_image

    items = read_dataset(SAMPLE, "test")[:12]
    r = run_dataset_eval(DatasetEvalOptions(dataset=SAMPLE, limit=12), progress=False)
    det = LearnedDetector()
    thresholds = dict(zip(det.classes, det.thresholds.tolist(), strict=True))
    remap = np.asarray([EVAL_CLASSES.index(c) for c in det.classes])
    preds = []
    for it in items:
        b = det.boxes(read_dataset_image(it)[0], item_gsd_m(it))  # as eval: scale awareness
        preds.append(Boxes(b.xyxy, b.scores, remap[b.classes]))
    cut = evaluate_boxes(items, preds, EVAL_CLASSES, thresholds)["classes"]
    for c in ("person", "vehicle", "bicycle"):
        full, shipped = r["overall"][c], cut[c]
        assert (full["true_pos"], full["false_pos"]) == (shipped["true_pos"],
                                                         shipped["false_pos"])
        assert full["ap50"] >= shipped["ap50"] - 1e-9
    assert r["overall"]["person"]["ap50"] > cut["person"]["ap50"]  # the floor adds recall


@needs_model
@pytest.mark.parametrize("dataset, floors", [
    # measured (docs, 2026-12-07 fine-tune): person P 1.0 R 1.0, animal P 0.692 R 0.818
    ("thermal_dogs_people", {"person": (0.75, 0.8), "animal": (0.55, 0.7)}),
    # measured: person P 0.760 R 0.452 (before the fine-tune P 0.649 R 0.571; drone-only 0.24/0.14)
    ("tno_people", {"person": (0.45, 0.4)}),
    # measured: animal (cheetahs) P 0.930 R 0.946 (stage 4, before cheetahs: P 0.909 R 0.714)
    ("thermal_cheetah", {"animal": (0.8, 0.8)}),
])
def test_shipped_model_on_real_side_on_images(dataset, floors) -> None:
    """Held-out real side-on frames nobody here made (test split of Thermal Dogs and People,
    a Seek phone camera's false-colour JPEGs; TNO frames labelled by hand here; Thermal
    Cheetah's held-out clips): people and animals found at ground level. Floors below the
    measured figures."""
    from thermal_perception.evaluation.dataset import DatasetEvalOptions, run_dataset_eval

    r = run_dataset_eval(DatasetEvalOptions(dataset=REPO / "data" / dataset), progress=False)
    for label, (precision, recall) in floors.items():
        s = r["overall"][label]
        assert s["precision"] >= precision and s["recall"] >= recall, (label, s)


@needs_model
def test_learned_detector_relative_and_radiometric_input() -> None:
    from thermal_perception.core.detection.model import LearnedDetector

    det = LearnedDetector(threads=1)
    items = read_dataset(SAMPLE)
    item = max(items, key=lambda it: it.labels.count("person"))
    img = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
    rel = det.detect(img, gsd_m=0.1, radiometric=False)
    assert rel and all(math.isnan(d.max_c) for d in rel)  # no Celsius made up
    # the same frame as temperatures (linear, 10..40 C): the same boxes, with temperatures
    temp = (10.0 + img.astype(np.float32) * (30.0 / 255.0))
    rad = det.detect(temp, gsd_m=0.1)
    assert {d.bbox for d in rad} == {d.bbox for d in rel}
    assert all(np.isfinite(d.max_c) and np.isfinite(d.area_m2) for d in rad)
    # the same scene 70 K hotter normalises the same, so the same boxes come back; people at
    # 80 C and more are down-weighted by the temperature rule, not dropped
    cool = {d.bbox: d.confidence for d in rad if d.label == "person"}
    hot = {d.bbox: d.confidence for d in det.detect(temp + 70.0, 0.1) if d.label == "person"}
    assert cool and hot.keys() == cool.keys()
    for bbox, confidence in hot.items():
        assert confidence == pytest.approx(cool[bbox] * det.implausible_factor, rel=1e-5)


@needs_model
def test_plausibility_factors_only_judge_people_with_finite_pixels() -> None:
    """The second opinion the detector and the dataset evaluation share: a person box at
    -5 C is down-weighted, one at 33 C is not; a vehicle at -5 C and a person box of NaN
    pixels only are left alone (no temperature, no opinion)."""
    from thermal_perception.core.detection.model import LearnedDetector
    from thermal_perception.core.detection.model_io import Boxes

    det = LearnedDetector(threads=1)
    frame = np.full((64, 96), -5.0, np.float32)
    frame[10:30, 10:20] = 33.0  # a warm person
    frame[40:60, 70:90] = np.nan  # a box without a finite pixel
    person, vehicle = det.classes.index("person"), det.classes.index("vehicle")
    boxes = Boxes(np.asarray([[10, 10, 20, 30], [30, 10, 45, 40], [30, 10, 45, 40],
                              [70.5, 40.2, 89.7, 59.9]], np.float32),
                  np.full(4, 0.9, np.float32),
                  np.asarray([person, person, vehicle, person], np.intp))
    factors = det.plausibility_factors(frame, boxes)
    assert factors.tolist() == [1.0, det.implausible_factor, 1.0, 1.0]


def test_learned_detector_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    from thermal_perception.core.detection.model import LearnedDetector

    with pytest.raises(FileNotFoundError, match="ONNX model file not found"):
        LearnedDetector(tmp_path / "missing.onnx")
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        LearnedDetector(bad, classes=("person",))
    if SHIPPED.is_file():
        with pytest.raises(ValueError, match="provider"):
            LearnedDetector(provider="NoSuchProvider")
        with pytest.raises(ValueError, match="classes must be detector labels"):
            LearnedDetector(classes=("unicorn",))


def test_resolve_model_names_and_paths(tmp_path: Path) -> None:
    """A shipped model by name, the general one by default, anything else as a path (a
    missing file is the detector's clear error, above)."""
    from thermal_perception.core.detection.model import SHIPPED_MODELS, resolve_model

    assert resolve_model(None) == resolve_model("") == SHIPPED == SHIPPED_MODELS["general"]
    assert resolve_model("drone") == SHIPPED_MODELS["drone"] != SHIPPED
    assert resolve_model(Path("drone")) == SHIPPED_MODELS["drone"]  # as the CLI passes it
    assert resolve_model(tmp_path / "mine.onnx") == tmp_path / "mine.onnx"
    assert resolve_model("mine.onnx") == Path("mine.onnx")


@needs_model
def test_scales_give_boxes_in_frame_pixels() -> None:
    """A frame run at half scale gives its boxes in the frame's pixels: the 2x-enlarged frame
    at scale 0.5 finds what the frame finds at scale 1, at twice the coordinates; running
    both scales merges their boxes (no duplicates of one object)."""
    from thermal_perception.core.detection.model import LearnedDetector
    from thermal_perception.core.detection.model_io import nms_classwise

    item = max(read_dataset(SAMPLE), key=lambda it: it.labels.count("person"))
    img = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
    # no flip test in either (the card's runs it at scale 1 only): the same network on the same
    # pixels, once at scale 1 and once at 0.5 of the enlarged frame
    one = LearnedDetector(threads=1, scales=(1.0,), flip_scales=()).boxes(img)
    half = LearnedDetector(threads=1, scales=(0.5,), reduced_min_px=0.0, flip_scales=()).boxes(
        cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR))
    assert len(one) >= 5
    ious = iou_matrix(2.0 * one.xyxy, half.xyxy)
    assert (ious.max(axis=1) >= 0.6).mean() >= 0.8
    both = LearnedDetector(threads=1, scales=(1.0, 0.5)).boxes(img)
    assert len(both) >= len(one)
    assert len(nms_classwise(both)) == len(both)  # already merged
    # boxes of the reduced scale are kept only from reduced_min_px frame pixels up
    only_half = LearnedDetector(threads=1, scales=(0.5,), reduced_min_px=30.0).boxes(img)
    sides = np.maximum(only_half.xyxy[:, 2] - only_half.xyxy[:, 0],
                       only_half.xyxy[:, 3] - only_half.xyxy[:, 1])
    assert np.all(sides >= 30.0)
    with pytest.raises(ValueError, match="scales must be"):
        LearnedDetector(scales=(0.0,))


def test_gsd_from_view_known_answers() -> None:
    # slant range to the centre of the view: 100 m up at 30 deg below the horizon is 200 m
    assert gsd_from_view(100.0, 30.0, 772.0) == pytest.approx(200.0 / 772.0, rel=1e-12)
    assert gsd_from_view(60.0, 90.0, 772.0) == gsd_from_altitude(60.0, 772.0)
    # near the horizon the range is held at that of 11.5 deg (sin 0.2): 5x the altitude
    assert gsd_from_view(50.0, 3.0, 500.0) == pytest.approx(250.0 / 500.0, rel=1e-12)
    for pitch in (0.0, -10.0, 91.0):
        with pytest.raises(ValueError, match="pitch_deg"):
            gsd_from_view(50.0, pitch, 500.0)
    with pytest.raises(ValueError, match="altitude_m > 0"):
        gsd_from_view(0.0, 45.0, 500.0)


def test_scales_for_known_answers() -> None:
    both = (1.0, 0.5)
    # a 1.8 m person at 0.1 m per pixel is 18 px: no need for the half scale
    assert scales_for(both, 0.1, 32.0) == (1.0,)
    assert scales_for(both, 1.8 / 32.0, 32.0) == both  # exactly 32 px: still run
    assert scales_for(both, 0.02, 32.0) == both  # 90 px people: the half scale finds them
    for unknown in (None, math.nan, math.inf, 0.0, -1.0):
        assert scales_for(both, unknown, 32.0) == both
    assert scales_for(both, 0.1, 0.0) == both  # scale awareness off
    assert scales_for((1.25, 1.0, 0.5), 0.1, 32.0) == (1.25, 1.0)
    assert scales_for((0.5,), 0.1, 32.0) == (0.5,)  # never no scale at all


@given(st.lists(st.sampled_from((0.25, 0.5, 0.75, 1.0, 1.25, 1.5)), min_size=1, max_size=4,
                unique=True),
       st.floats(0.001, 10.0), st.floats(0.001, 10.0), st.floats(0.0, 500.0))
def test_scales_for_keeps_an_ordered_subset_and_is_monotone(
        scales: list[float], gsd_a: float, gsd_b: float, from_px: float) -> None:
    """A subset of the scales in their order, every scale >= 1 kept, and a finer ground
    sample distance (larger people) never runs fewer scales than a coarser one."""
    scales_t = tuple(scales)
    fine, coarse = sorted((gsd_a, gsd_b))
    got_fine, got_coarse = scales_for(scales_t, fine, from_px), scales_for(scales_t, coarse,
                                                                              from_px)
    for got in (got_fine, got_coarse):
        assert got and list(got) == [s for s in scales_t if s in got]
        assert all(s in got for s in scales_t if s >= 1.0) or got == scales_t
    assert set(got_coarse) <= set(got_fine)


def test_detector_parameters_pick_the_model_and_its_flip_test() -> None:
    """The node's parameters (settings.detector): model_path names a shipped model, and
    model_flip_test: false turns off the flip test its card chose."""
    from thermal_perception.settings.detector import PARAMS, detectors_from

    values = {spec.name: spec.default for spec in PARAMS} | {"people_detector": "model",
                                                            "model_path": "drone"}
    card = json.loads(DRONE.with_suffix(".json").read_text())
    assert card["flip_scales"]  # the drone card chose the flip test
    flipped, _ = detectors_from(values)
    assert flipped.flip_scales == tuple(card["flip_scales"])
    plain, _ = detectors_from(values | {"model_flip_test": False})
    assert plain.flip_scales == ()
    general, _ = detectors_from(values | {"model_path": ""})  # its own card's flip test
    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert general.flip_scales == tuple(card["flip_scales"])
    assert general.thresholds.tolist() != flipped.thresholds.tolist()
    general, _ = detectors_from(values | {"model_path": "", "model_flip_test": False})
    assert general.flip_scales == ()


@needs_model
def test_learned_detector_scale_awareness() -> None:
    """Given a ground sample distance at which no person could need the half scale, the
    detector runs the frame at full scale only (the same boxes as a detector of scale 1);
    with a fine one, or none, it runs both (issue 18 item 5)."""
    from thermal_perception.core.detection.model import LearnedDetector

    item = max(read_dataset(SAMPLE), key=lambda it: it.labels.count("person"))
    img = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
    # every half-scale box kept (no size floor), so the half scale's work shows
    aware = LearnedDetector(threads=1, scales=(1.0, 0.5), reduced_from_person_px=32.0,
                            reduced_min_px=0.0)
    one = LearnedDetector(threads=1, scales=(1.0,)).boxes(img)
    both = LearnedDetector(threads=1, scales=(1.0, 0.5), reduced_from_person_px=0.0,
                           reduced_min_px=0.0).boxes(img)
    assert len(both) > len(one)  # the half scale adds boxes on this drone frame
    for gsd, want in ((0.1, one), (0.01, both), (None, both)):
        got = aware.boxes(img, gsd)
        np.testing.assert_array_equal(got.xyxy, want.xyxy)
        np.testing.assert_array_equal(got.scores, want.scores)
    # detect() passes its gsd_m on: 18 px people, scale 1 only
    assert len(aware.detect(img, gsd_m=0.1, radiometric=False)) == int(
        np.count_nonzero(one.scores >= aware.thresholds[one.classes]))
    with pytest.raises(ValueError, match="reduced_from_person_px"):
        LearnedDetector(reduced_from_person_px=-1.0)


def test_average_flipped_known_answers() -> None:
    """The mirrored pass's outputs are mirrored back over the frame's columns and averaged;
    the padding columns are left as the unmirrored pass gave them."""
    from thermal_perception.core.detection.model_io import average_flipped

    rng = np.random.default_rng(0)
    heat, size = rng.random((1, 2, 3, 6), np.float32), rng.random((1, 2, 3, 6), np.float32)
    frame_cols = 4  # the last two columns are padding
    mirrored_heat, mirrored_size = heat.copy(), size.copy()
    mirrored_heat[..., :frame_cols] = heat[..., frame_cols - 1::-1]
    mirrored_size[..., :frame_cols] = size[..., frame_cols - 1::-1]
    # a network that sees the mirrored frame as the mirror image: the average is the original
    h, s = average_flipped(heat, size, mirrored_heat, mirrored_size, frame_cols)
    np.testing.assert_allclose(h, heat, rtol=1e-6)
    np.testing.assert_allclose(s, size, rtol=1e-6)
    # a mirrored pass of zeros halves the frame's columns and leaves the padding alone
    h, _ = average_flipped(heat, size, np.zeros_like(heat), np.zeros_like(size), frame_cols)
    np.testing.assert_allclose(h[..., :frame_cols], heat[..., :frame_cols] / 2, rtol=1e-6)
    np.testing.assert_array_equal(h[..., frame_cols:], heat[..., frame_cols:])


@needs_model
def test_flip_test_is_symmetric_and_checked() -> None:
    """With the flip test a peak scores about as its mirror image: a mirrored frame gives
    about the same scores and mirrored boxes. Not exactly: the network's stride-2 layers
    sample a mirrored frame on a grid shifted by a pixel, and offsets come from the
    unmirrored pass."""
    from thermal_perception.core.detection.model import LearnedDetector

    item = max(read_dataset(SAMPLE), key=lambda it: it.labels.count("person"))
    img = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
    assert img.shape[1] % 32 == 0  # no padding: the mirror sees the same frame
    det = LearnedDetector(threads=1, scales=(1.0,), flip_scales=(1.0,))
    a, b = det.boxes(img), det.boxes(img[:, ::-1].copy())
    assert len(a) >= 5 and len(a) == len(b)
    np.testing.assert_allclose(np.sort(a.scores), np.sort(b.scores), atol=0.02)
    mirrored = b.xyxy.copy()
    mirrored[:, [0, 2]] = img.shape[1] - b.xyxy[:, [2, 0]]
    best = iou_matrix(a.xyxy, mirrored).max(axis=1)
    assert (best >= 0.5).all() and best.mean() >= 0.85, best
    plain = LearnedDetector(threads=1, scales=(1.0,), flip_scales=())
    assert not np.allclose(np.sort(plain.boxes(img).scores)[-5:], np.sort(a.scores)[-5:])
    with pytest.raises(ValueError, match="flip_scales"):
        LearnedDetector(scales=(1.0,), flip_scales=(0.5,))
    # the card's flip test applies at the scales run only
    assert LearnedDetector(DRONE, scales=(0.5,)).flip_scales == ()  # its card: 1.0 only
    general = json.loads(SHIPPED.with_suffix(".json").read_text())["flip_scales"]
    assert LearnedDetector(scales=(0.5,)).flip_scales == tuple(s for s in general if s == 0.5)


def test_box_mot_known_answers() -> None:
    """CLEAR MOT by hand: one object tracked for 3 frames, its track changes once (a switch),
    a false track, a miss, and a false track inside an ignore region (not counted)."""
    from thermal_perception.evaluation.boxes import BoxMot

    m = BoxMot()
    a = [10, 10, 30, 50]
    m.update([a], [7], [[11, 10, 31, 50]], [1])                     # match, track 1
    m.update([a], [7], [[10, 11, 30, 51], [100, 100, 120, 140]], [1, 2])  # match + false
    m.update([a], [7], [[10, 10, 30, 50]], [3])                     # match, switch 1 -> 3
    m.update([a], [7], [[200, 0, 220, 40]], [4], ignore=[[190, 0, 230, 50]])  # miss; ignored
    assert (m.gt, m.tp, m.fn, m.fp, m.idsw, m.frames) == (4, 3, 1, 1, 1, 4)
    assert m.mota == pytest.approx(1.0 - 3 / 4)
    # a kept correspondence wins over a better-overlapping newcomer (no switch)
    k = BoxMot()
    k.update([a], [1], [[12, 10, 32, 50]], [5])
    k.update([a], [1], [[12, 10, 32, 50], [10, 10, 30, 50]], [5, 6])
    assert (k.idsw, k.fp, k.tp) == (0, 1, 2)
    # objects without identities count for FN/FP only
    n = BoxMot()
    n.update([a], [None], [a], [1])
    n.update([a], [None], [a], [2])
    assert n.idsw == 0 and n.mota == 1.0


def test_track_ids_round_trip_and_sequence_tracking(tmp_path: Path) -> None:
    """COCO ``track_id`` survives write/read; the dataset eval tracks the labelled TNO
    sequences and reports MOTA with their identities."""
    from thermal_perception.evaluation.dataset import DatasetEvalOptions, run_dataset_eval

    items = read_dataset(REPO / "data" / "tno_people")
    seq = [it for it in items if it.sequence]
    assert len(seq) == 26 and all(i == 1 for it in seq for i in it.box_ids)
    write_coco(seq, tmp_path / "labels.json", relative_to=tmp_path.anchor)
    back = read_dataset(tmp_path / "labels.json")
    assert [it.box_ids for it in back] == [it.box_ids for it in seq]
    if SHIPPED.is_file():
        r = run_dataset_eval(DatasetEvalOptions(dataset=REPO / "data" / "tno_people"),
                             progress=False)
        m = r["tracking"]["classes"]["person"]
        assert m["gt"] == 22 and m["frames"] == 26 and set(r["tracking"]["sequences"]) == {
            "Nato_camp_sequence", "Tree_sequence", "thermal_74xx"}
        assert m["tp"] + m["fn"] == m["gt"] and -1.0 <= m["mota"] <= 1.0


def test_eval_false_sheet_needs_an_out_folder(capsys: pytest.CaptureFixture[str]) -> None:
    """A clear error, before any image is read, instead of a picture drawn nowhere."""
    from thermal_perception.cli import main

    assert main(["eval", "--dataset", str(SAMPLE), "--false-sheet", "5"]) == 2
    assert "--false-sheet N needs N >= 0 and --out" in capsys.readouterr().err


def test_down_to_scales_every_threshold_and_keeps_the_options() -> None:
    from thermal_perception.core.detection.model import LearnedDetector

    shipped = LearnedDetector("drone", flip_scales=(), scales=(1.0,), box_vote_iou=0.5)
    low = shipped.down_to(0.05)
    np.testing.assert_allclose(low.thresholds.min(), 0.05, rtol=1e-6)
    np.testing.assert_allclose(low.thresholds / shipped.thresholds,
                               0.05 / shipped.thresholds.min(), rtol=1e-6)  # one factor
    assert (low.flip_scales, low.scales, low.box_vote_iou) == ((), (1.0,), 0.5)
    assert (low.rescorer is None) == (shipped.rescorer is None)
    assert low.path == shipped.path
    assert low.down_to(0.05) is low and shipped.down_to(0.99) is shipped  # already there
    # on a frame, the lower thresholds keep every box the shipped ones keep, and more
    frame = np.random.default_rng(3).normal(20.0, 2.0, (128, 160)).astype(np.float32)
    frame[40:60, 70:78] = 34.0
    assert len(low.boxes(frame, 0.1)) >= len(shipped.boxes(frame, 0.1))
