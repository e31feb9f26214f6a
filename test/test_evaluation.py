"""Tests for thermal_perception.evaluation.simulated: truth objects from the simulator, matching,
per-class counts, fire scoring, CLEAR-MOT counts, sequence reports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thermal_perception.core.detection import Detection, HotspotDetector, WarmBodyDetector
from thermal_perception.core.detection.tracking import MultiObjectTracker
from thermal_perception.core.physics.calibration import CountsToTemperature
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.evaluation.simulated import (
    ClassCounts,
    MotAccumulator,
    SceneObjectIndex,
    TruthObject,
    combine_reports,
    evaluate_sequence,
    match_by_distance,
    object_contrast_k,
    score_fire,
    score_warm_bodies,
    world_object_map,
)
from thermal_perception.sim.simulator import ThermalSimulator
from thermal_perception.sim.truth import LABELS


@pytest.fixture(scope="module")
def sim() -> ThermalSimulator:
    """A small SAR scene with a fire: 160 x 128 boson640 optics at 30 m (GSD 0.175 m)."""
    profile = get_profile("boson640").with_size(160, 128)
    return ThermalSimulator(profile, "uav_sar", altitude_m=30.0, speed_mps=6.0, seed=7,
                            fire=True, scene_options={"people": 12, "animals": 4})


def det(x: float, y: float, label: str = "person", track_id: int = 0) -> Detection:
    return Detection(label=label, confidence=0.9, bbox=(int(x) - 1, int(y) - 1, int(x) + 2,
                     int(y) + 2), centroid=(x, y), max_c=31.0, mean_c=30.0, area_px=9,
                     track_id=track_id)


def truth(x: float, y: float, label: str = "person", index: int = 0, evaluable: bool = True,
          half: int = 2) -> TruthObject:
    return TruthObject(object_index=index, label=label, centroid=(x, y),
                       bbox=(int(x) - half, int(y) - half, int(x) + half + 1, int(y) + half + 1),
                       area_px=(2 * half + 1) ** 2, visible_fraction=1.0, size_px=2 * half + 1,
                       evaluable=evaluable)


# -- truth from the simulator -----------------------------------------------------------------

def test_world_object_map_gives_each_object_its_cells(sim: ThermalSimulator) -> None:
    world = sim.world
    ids = world_object_map(world)
    counts = np.bincount(ids.ravel(), minlength=len(world.objects) + 1)
    for i, obj in enumerate(world.objects):
        cells = ids == i + 1
        if not cells.any():
            continue  # painted over by a later object
        allowed = [LABELS[obj["label"]]] + ([LABELS["burned"]] if obj["label"] == "fire" else [])
        assert np.isin(world.labels[cells], allowed).all(), f"object {i} ({obj['label']})"
    owned = sum(counts[i + 1] > 0 for i in range(len(world.objects)))
    assert owned >= len(world.objects) - 2, \
        f"only {owned} of {len(world.objects)} objects own cells"
    for name in ("person", "animal", "vehicle"):
        mask = world.labels == LABELS[name]
        assert (ids[mask] > 0).mean() > 0.99, f"{name} cells without an owner"


def test_objects_in_view_match_the_simulator_truth(sim: ThermalSimulator) -> None:
    index = SceneObjectIndex(sim)
    seen = set()
    for t_s in (0.0, 1.3, 4.2):
        labels = sim.truth(t_s).labels
        for obj in index.objects_in_view(t_s):
            seen.add(obj.label)
            if obj.area_px == 0:
                assert not obj.evaluable, "objects just outside the frame are not evaluable"
                continue
            x0, y0, x1, y1 = obj.bbox
            patch = labels[max(0, y0):y1, max(0, x0):x1]
            wanted = [LABELS[obj.label]] + ([LABELS["burned"]] if obj.label == "fire" else [])
            assert np.isin(patch, wanted).any(), f"{obj} not in the truth labels at {t_s} s"
            assert 0.0 < obj.visible_fraction <= 1.0
            assert obj.size_px == pytest.approx(max(sim.world.objects[obj.object_index]["size_m"])
                                                / sim.gsd_m)
    assert {"person", "animal"} <= seen, f"classes seen {seen}"


def test_object_contrast_known_answer() -> None:
    ids = np.zeros((9, 9), np.int32)
    ids[3:6, 3:6] = 1
    apparent = np.full((9, 9), 20.0, np.float32)
    apparent[3:6, 3:6] = 31.0
    apparent[0, :] = 25.0  # outside the 1-px ring: no effect
    contrast = object_contrast_k(ids, apparent, ring_px=1)
    assert contrast[1] == pytest.approx(11.0), f"contrast {contrast[1]} K"
    apparent[2, 2:7] = 30.0  # one side of the ring (5 of 16 cells) nearly as warm
    assert object_contrast_k(ids, apparent, ring_px=1)[1] == pytest.approx(1.0)


def test_camouflaged_objects_are_not_evaluable(sim: ThermalSimulator) -> None:
    everything = SceneObjectIndex(sim, min_contrast_k=-math.inf)
    strict = SceneObjectIndex(sim, min_contrast_k=1e3)
    bodies = [o for o in everything.objects_in_view(0.0) if o.label in ("person", "animal")]
    assert bodies and all(np.isfinite(o.contrast_k) for o in bodies)
    assert not any(o.evaluable for o in strict.objects_in_view(0.0) if o.label != "fire")
    with pytest.raises(ValueError, match="min_visible_fraction"):
        SceneObjectIndex(sim, min_visible_fraction=1.5)


# -- matching and counting --------------------------------------------------------------------

def test_match_by_distance_is_optimal_and_gated() -> None:
    truths = [truth(10.0, 10.0), truth(14.0, 10.0)]
    # Greedy would give the first detection to truth 1 (1.5 px) and leave truth 0 unmatched
    # (4.5 px > gate); the optimum matches both.
    dets = [det(12.5, 10.0), det(15.5, 10.0)]
    assert sorted(match_by_distance(dets, truths, gate_px=3.0)) == [(0, 0), (1, 1)]
    assert match_by_distance([det(30.0, 30.0)], truths, gate_px=3.0) == []
    assert match_by_distance([], truths) == [] and match_by_distance(dets, []) == []


def test_class_counts_known_answers() -> None:
    c = ClassCounts(tp=8, fp=2, fn=1)
    assert c.precision == pytest.approx(0.8) and c.recall == pytest.approx(8 / 9)
    assert c.f1 == pytest.approx(2 * 0.8 * (8 / 9) / (0.8 + 8 / 9))
    empty = ClassCounts()
    assert math.isnan(empty.precision) and math.isnan(empty.recall) and math.isnan(empty.f1)
    c.add(ClassCounts(1, 1, 1))
    assert (c.tp, c.fp, c.fn) == (9, 3, 2)


def test_score_warm_bodies_per_class_and_ignored_truths() -> None:
    truths = [truth(10.0, 10.0, "person", 0), truth(40.0, 10.0, "animal", 1),
              truth(70.0, 10.0, "person", 2, evaluable=False)]
    dets = [det(10.5, 10.0, "person"), det(40.0, 10.5, "person"), det(70.0, 10.0, "animal"),
            det(100.0, 100.0, "animal")]
    counts = score_warm_bodies(dets, truths)
    person, animal, body = counts["person"], counts["animal"], counts["warm_body"]
    assert (person.tp, person.fp, person.fn) == (1, 1, 0), "a person on an animal is an FP"
    assert (animal.tp, animal.fp, animal.fn) == (0, 1, 1), "on an ignored truth: not an FP"
    assert (body.tp, body.fp, body.fn) == (2, 1, 0)


def test_score_fire_recall_and_false_alarms() -> None:
    fires = [TruthObject(5, "fire", (20.0, 20.0), (10, 10, 30, 30), 400, 1.0, 40.0, flame_px=50),
             TruthObject(6, "fire", (80.0, 20.0), (70, 10, 90, 30), 400, 1.0, 40.0, flame_px=1,
                         evaluable=False)]
    on_fire = det(29.5, 29.5, "fire")  # box (28, 28)-(31, 31): overlaps the first fire
    beside = det(31.5, 20.0, "fire")   # box starts at x = 30: touches it (1 px margin)
    alarm = det(50.0, 60.0, "fire")
    engine = det(50.0, 70.0, "hotspot")
    counts, n = score_fire([on_fire, beside, alarm, engine], fires)
    assert (counts.tp, counts.fn, counts.fp, n) == (1, 0, 1, 3)
    counts, _ = score_fire([], fires)
    assert (counts.tp, counts.fn, counts.fp) == (0, 1, 0)


def test_mot_accumulator_counts_identity_switches() -> None:
    mot = MotAccumulator()
    for i in range(10):
        tid = 1 if i < 5 else 2  # the track of object 0 is replaced half way
        tracked = [det(10.0 + i, 10.0, track_id=tid)]
        if i == 7:
            tracked.append(det(60.0, 60.0, track_id=3))  # a false track
        truths = [truth(10.0 + i, 10.0, index=0), truth(40.0, 40.0, index=1)]
        mot.update(truths, tracked)
    report = mot.as_dict()
    assert (report["gt"], report["fn"], report["fp"], report["idsw"]) == (20, 10, 1, 1)
    assert report["mota"] == pytest.approx(1.0 - 12 / 20)
    assert report["idsw_per_100_frames"] == pytest.approx(10.0) and report["tracks"] == 3


def test_evaluate_sequence_report_and_combination(sim: ThermalSimulator) -> None:
    converter = CountsToTemperature(sim.calibration, sim.table)
    with pytest.raises(ValueError, match="frames >= 1"):
        evaluate_sequence(sim, converter, frames=0)
    report = evaluate_sequence(sim, converter, WarmBodyDetector(), HotspotDetector(),
                               MultiObjectTracker(), frames=6, rate_hz=10.0)
    assert report["frames"] == 6 and report["gsd_m"] == pytest.approx(sim.gsd_m)
    assert set(report["detection"]) == {"person", "animal", "warm_body", "fire"}
    assert {"mota", "idsw", "idsw_per_100_frames"} <= set(report["tracking"])
    assert all(v >= 0 for v in report["timing_ms"].values())
    both = combine_reports([report, report])
    assert both["frames"] == 12 and both["sequences"] == 2
    for name in ("person", "warm_body", "fire"):
        assert both["detection"][name]["tp"] == 2 * report["detection"][name]["tp"]
    assert both["tracking"]["gt"] == 2 * report["tracking"]["gt"]
    if report["tracking"]["gt"]:
        assert both["tracking"]["mota"] == pytest.approx(report["tracking"]["mota"])
    with pytest.raises(ValueError, match="no reports"):
        combine_reports([])
