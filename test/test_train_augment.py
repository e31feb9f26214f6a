"""The trainer's numpy parts (tools/train_detector.py; no torch needed): the copy-paste
augmentation (copies land inside the frame on free ground, carry their object's pixels and
class, and the frame they came from is left as it was), crops around hard negatives and the
selection score; the torch parts where the training extra is installed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]


def _trainer():
    if "train_detector" in sys.modules:
        return sys.modules["train_detector"]
    spec = importlib.util.spec_from_file_location("train_detector",
                                                  REPO / "tools" / "train_detector.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_detector"] = module
    spec.loader.exec_module(module)
    return module


def _boxes_overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_copy_paste_known_answer() -> None:
    """One 10x20 px object on a flat frame: its copy sits elsewhere with the same pixels in
    its core (the faded margin lies outside the box), the class comes along."""
    tool = _trainer()
    img = np.full((128, 160), 50, np.uint8)
    img[40:60, 30:40] = 200
    boxes, classes = np.array([[30.0, 40.0, 40.0, 60.0]]), np.array([2])
    out, new_boxes, new_classes = tool.copy_paste(img, boxes, classes,
                                                  np.random.default_rng(3))
    assert (img[40:60, 30:40] == 200).all() and np.count_nonzero(img != 50) == 200  # untouched
    assert new_boxes.shape == (2, 4) and list(new_classes) == [2, 2]
    x0, y0, x1, y1 = new_boxes[1].astype(int)
    assert (x1 - x0, y1 - y0) == (10, 20) and not _boxes_overlap(new_boxes[1], boxes[0])
    assert (out[y0:y1, x0:x1] == 200).all()
    assert np.count_nonzero(out != 50) == 400  # the copy's margin is flat ground: no seam
    # nothing small enough to copy: the frame and labels come back unchanged
    big = np.array([[0.0, 0.0, 100.0, 90.0]])
    same, b2, c2 = tool.copy_paste(img, big, np.array([1]), np.random.default_rng(0))
    assert (same == img).all() and b2.shape == (1, 4) and list(c2) == [1]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 150), st.integers(0, 110), st.integers(2, 45),
                          st.integers(2, 45), st.integers(0, 3)), min_size=0, max_size=12),
       st.integers(0, 2**16))
def test_copy_paste_invariants(spec, seed) -> None:
    tool = _trainer()
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (128, 160), dtype=np.uint8)
    boxes = np.array([[x, y, min(160, x + w), min(128, y + h)] for x, y, w, h, _ in spec],
                     np.float64).reshape(-1, 4)
    classes = np.array([c for *_, c in spec], np.intp)
    before = img.copy()
    out, new_boxes, new_classes = tool.copy_paste(img, boxes, classes, rng)
    assert (img == before).all() and out.dtype == np.uint8 and out.shape == img.shape
    n = len(boxes)
    assert (new_boxes[:n] == boxes).all() and (new_classes[:n] == classes).all()
    copies = new_boxes[n:]
    assert len(copies) <= 6
    assert (copies[:, :2] >= 0).all() and (copies[:, 2] <= 160).all() \
        and (copies[:, 3] <= 128).all()
    for k, c in enumerate(copies):  # on free ground: no labelled box and no other copy
        assert not any(_boxes_overlap(c, b) for b in boxes)
        assert not any(_boxes_overlap(c, d) for d in copies[k + 1:])
    # each copy has the size and class of a small labelled object
    sizes = {(round(b[2] - b[0], 6), round(b[3] - b[1], 6), int(cl))
             for b, cl in zip(boxes, classes, strict=True) if max(b[2] - b[0], b[3] - b[1]) <= 40}
    for c, cl in zip(copies, new_classes[n:], strict=True):
        assert (round(c[2] - c[0], 6), round(c[3] - c[1], 6), int(cl)) in sizes


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 639), st.integers(0, 511), st.integers(0, 2**16),
       st.sampled_from(["hit-uav", "thermal-dogs-people"]))
def test_a_crop_around_a_hard_negative_holds_it(fx, fy, seed, source) -> None:
    """Whatever the random scale (and, for the side-on sets, aspect) and flip, a crop asked to
    hold a point holds it: a 2x2 px box there comes back inside the crop, with the patch's
    pixels the frame's (the bright mark sits in the box)."""
    from thermal_perception.io.labels import LabelledImage

    tool = _trainer()
    img = np.full((512, 640), 40, np.uint8)
    img[max(0, fy - 1):fy + 1, max(0, fx - 1):fx + 1] = 250
    box = (max(0, fx - 1), max(0, fy - 1), fx + 1, fy + 1)
    item = LabelledImage(path=Path("x.png"), width=640, height=512, boxes=[box], labels=["person"],
                         extra={"set": source})
    patch, boxes, classes = tool.sample_crop(item, img, (320, 384), np.random.default_rng(seed),
                                             focus=(fx, fy))
    assert patch.shape == (320, 384) and boxes.shape == (1, 4) and list(classes) == [0]
    x0, y0, x1, y1 = boxes[0]
    assert 0 <= x0 < x1 <= 384 and 0 <= y0 < y1 <= 320
    cx, cy = int(0.5 * (x0 + x1)), int(0.5 * (y0 + y1))
    # the resampled mark (area-averaged when the crop shrinks it) is brighter than the ground
    assert patch[max(0, cy - 2):cy + 3, max(0, cx - 2):cx + 3].max() > 40


def test_offset_holding_known_answers() -> None:
    """One axis of the crop placement: the start lets the point sit >= 8 px inside; a point
    too near the frame's edge for that gets the nearest start; a crop as large as the frame
    starts at 0."""
    tool = _trainer()
    rng = np.random.default_rng(0)
    starts = {tool._offset_holding(300.0, 100, 640, rng) for _ in range(400)}
    assert min(starts) == 208 and max(starts) == 292  # 300 + 8 - 100 .. 300 - 8
    assert {tool._offset_holding(2.0, 100, 640, rng) for _ in range(50)} == {0}
    assert {tool._offset_holding(638.0, 100, 640, rng) for _ in range(50)} == {540}
    assert {tool._offset_holding(50.0, 640, 640, rng) for _ in range(20)} == {0}


def test_mined_hard_negatives_are_what_the_evaluation_counts_false() -> None:
    """A network whose heatmap has three peaks: one on a labelled person (a true positive,
    not mined), one on a labelled vehicle but called person (false: mined), one on bare ground
    (mined), and one in an ignore region (not mined)."""
    torch = pytest.importorskip("torch")
    from thermal_perception.io.labels import LabelledImage

    tool = _trainer()
    peaks = {(20, 30, 0), (60, 40, 0), (100, 80, 0), (140, 20, 0)}  # cell x, y, class

    class Fixed(torch.nn.Module):
        def forward(self, x):
            n, _, h, w = x.shape
            heat = torch.zeros(n, len(tool.CLASSES), h // 4, w // 4)
            for cx, cy, c in peaks:
                heat[:, c, cy, cx] = 0.9
            size = torch.full((n, 2, h // 4, w // 4), float(np.log(12.0)))
            return heat, size, torch.zeros(n, 2, h // 4, w // 4)

    def box(cx, cy):  # the 12x12 px box the network reports at cell (cx, cy)
        x, y = 4 * cx, 4 * cy
        return (x - 6.0, y - 6.0, x + 6.0, y + 6.0)

    item = LabelledImage(path=Path("x.png"), width=640, height=512,
                         boxes=[box(20, 30), box(60, 40)],
                         labels=["person", "vehicle"], ignore=[(540, 60, 600, 100)])
    img = np.random.default_rng(1).integers(0, 255, (512, 640)).astype(np.uint8)
    hard = tool.mine_hard_negatives(Fixed(), [item, item], [img, img], threshold=0.3)
    assert len(hard) == 2 and hard[0] is hard[1]  # the same image is run once
    got = sorted(map(tuple, np.round(hard[0]).astype(int)))
    assert got == [(240, 160), (400, 320)]
    assert tool.mine_hard_negatives(Fixed(), [item], [img], threshold=0.95)[0].shape == (0, 2)


def test_selection_score_weighs_each_set_by_the_classes_it_labels() -> None:
    """The trainer's selection score (and ``--keep-best-on SET``'s per-set score): each set's
    mean AP50 over the classes it labels, then the mean over sets. Known answer: a drone set
    with a person found and a vehicle missed (AP50 1 and 0: 0.5) and a side-on set with its one
    animal found (1.0) give 0.75, whatever the sets' sizes."""
    from thermal_perception.core.detection.model_io import Boxes
    from thermal_perception.io.labels import LabelledImage

    tool = _trainer()
    person, animal = tool.CLASSES.index("person"), tool.CLASSES.index("animal")
    drone = [LabelledImage(Path(f"d{k}.png"), 640, 512, [(10, 10, 30, 40), (100, 100, 160, 140)],
                           ["person", "vehicle"]) for k in range(3)]
    side = [LabelledImage(Path("s.png"), 640, 512, [(200, 100, 400, 300)], ["animal"],
                          extra={"set": "side"})]
    found = Boxes(np.array([[10.0, 10, 30, 40]]), np.array([0.9]), np.array([person]))
    animal_found = Boxes(np.array([[200.0, 100, 400, 300]]), np.array([0.8]),
                         np.array([animal]))
    per_set, score = tool.selection_score(drone + side, [found] * 3 + [animal_found])
    assert list(per_set) == ["hit-uav", "side"]
    assert tool.set_score(per_set["hit-uav"]) == 0.5
    assert tool.set_score(per_set["side"]) == 1.0
    assert score == 0.75
    assert per_set["hit-uav"]["classes"]["vehicle"]["ap50"] == 0.0


def test_giou_loss_known_answers() -> None:
    """``giou_loss`` (``--giou``) against GIoU worked by hand: 16 x 16 px boxes at stride 4,
    the prediction shifted by 8 px (IoU 1/3, hull = union: loss 2/3) and by 24 px (disjoint:
    IoU 0, hull 40 x 16 px, GIoU -128/640: loss 1.2); cells of weight 0 do not count. Needs
    torch (the training extra): skipped without it."""
    torch = pytest.importorskip("torch")
    giou_loss = _trainer().giou_loss
    size = torch.full((1, 2, 2, 2), float(np.log(16.0)))
    off = torch.zeros((1, 2, 2, 2))
    weight = torch.zeros((1, 1, 2, 2))
    weight[0, 0, 0, 0] = 1.0
    assert giou_loss(size, off, size, off, weight).item() == pytest.approx(0.0, abs=1e-6)
    for shift_cells, expected in ((2.0, 2.0 / 3.0), (6.0, 1.2)):
        moved = off.clone()
        moved[:, 0] += shift_cells
        moved[0, 0, 1, 1] = 100.0  # a cell of weight 0: ignored
        assert giou_loss(size, moved, size, off, weight).item() == pytest.approx(expected,
                                                                                 rel=1e-5)


def test_state_from_onnx_gives_the_exported_function() -> None:
    """``--init`` from a shipped ONNX model (``state_from_onnx``): the export folded each batch
    norm into its convolution; the rebuilt network gives onnxruntime's outputs in evaluation
    (on a frame of another size than the calibration's too) and, in training, on the
    calibration batch itself (its batch statistics are the rebuilt running ones). A network
    of another depth is refused. Needs torch and onnx (the training extra): skipped without."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import onnxruntime as ort

    tool = _trainer()
    model = REPO / "thermal_perception" / "models" / "thermal_detector_drone.onnx"
    rng = np.random.default_rng(3)
    calib = rng.normal(0.0, 1.0, (8, 1, 64, 96)).astype(np.float32)
    net = tool.build_model(1.0, 1)
    assert tool.state_from_onnx(net, model, calib) < 1e-4
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    frame = rng.normal(0.0, 1.0, (1, 1, 96, 128)).astype(np.float32)
    net.eval()
    with torch.no_grad():
        ours = [t.numpy() for t in net(torch.from_numpy(frame))]
    for a, b in zip(ours, session.run(None, {"image": frame}), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    with torch.no_grad():
        evaluated = [t.numpy() for t in net(torch.from_numpy(calib))]
        net.train()  # (a forward in training moves the running statistics: evaluated first)
        trained = [t.numpy() for t in net(torch.from_numpy(calib))]
    for a, b in zip(trained, evaluated, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    with pytest.raises(SystemExit, match="convolutions"):
        tool.state_from_onnx(tool.build_model(1.0, 0), model, calib)


@settings(max_examples=40, deadline=None)
@given(st.integers(20, 619), st.integers(20, 491), st.integers(0, 2**16))
def test_upside_down_crops_keep_their_boxes_on_the_object(fx, fy, seed) -> None:
    """``vflip=1``: a drone frame's crop is turned upside down and its box with it (the bright
    mark still sits in the box, now below the crop's middle if it was above it); a side-on
    frame's crop, cut by the same random draws, is never turned."""
    from thermal_perception.io.labels import LabelledImage

    tool = _trainer()
    img = np.full((512, 640), 40, np.uint8)
    img[fy - 2:fy + 2, fx - 2:fx + 2] = 250
    box = (fx - 2, fy - 2, fx + 2, fy + 2)
    for source in ("hit-uav", "thermal-dogs-people"):
        item = LabelledImage(path=Path("x.png"), width=640, height=512, boxes=[box],
                             labels=["person"], extra={"set": source})
        plain, b0, _ = tool.sample_crop(item, img, (320, 384), np.random.default_rng(seed),
                                        focus=(fx, fy))
        turned, b1, _ = tool.sample_crop(item, img, (320, 384), np.random.default_rng(seed),
                                         focus=(fx, fy), vflip=1.0)
        if source != "hit-uav":
            assert np.array_equal(turned, plain) and np.allclose(b1, b0)
            continue
        assert np.array_equal(turned, plain[::-1])
        assert np.allclose(b1, [[b0[0, 0], 320 - b0[0, 3], b0[0, 2], 320 - b0[0, 1]]])
        x0, y0, x1, y1 = b1[0]
        cx, cy = int(0.5 * (x0 + x1)), int(0.5 * (y0 + y1))
        assert turned[max(0, cy - 2):cy + 3, max(0, cx - 2):cx + 3].max() > 40
