"""Tests for core.detection.tracking: Kalman tracks, gated assignment, ego-motion,
identities; tracking quality on simulated moving sequences."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from thermal_perception.core.detection import Detection, HotspotDetector, WarmBodyDetector
from thermal_perception.core.detection.tracking import MultiObjectTracker, TrackerConfig
from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.calibration import CountsToTemperature
from thermal_perception.core.physics.camera import CameraProfile, get_profile
from thermal_perception.evaluation.simulated import combine_reports, evaluate_sequence
from thermal_perception.sim.simulator import ThermalSimulator

DT_S = 0.1  # 10 Hz frames


def det(x: float, y: float, label: str = "person", confidence: float = 0.9) -> Detection:
    return Detection(label=label, confidence=confidence, bbox=(int(x) - 2, int(y) - 2,
                     int(x) + 3, int(y) + 3), centroid=(x, y), max_c=32.0, mean_c=31.0,
                     area_px=12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"gate_px": 0.0}, "gate_px must be > 0"),
    ({"confirm_hits": 0}, "confirm_hits >= 1"),
    ({"max_misses": -1}, "max_misses >= 0"),
    ({"measurement_std_px": -1.0}, "measurement_std_px"),
])
def test_config_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackerConfig(**kwargs)


def test_update_rejects_bad_dt() -> None:
    with pytest.raises(ValueError, match="dt_s"):
        MultiObjectTracker().update([], -0.1)


def test_constant_velocity_track_is_confirmed_and_estimates_velocity() -> None:
    tracker = MultiObjectTracker(TrackerConfig(confirm_hits=3))
    velocity = (50.0, -20.0)  # px/s
    outputs = []
    for i in range(20):
        x, y = 20.0 + velocity[0] * i * DT_S, 80.0 + velocity[1] * i * DT_S
        outputs.append(tracker.update([det(x, y)], DT_S))
    assert [len(o) for o in outputs[:3]] == [0, 0, 1], "confirmed at the third hit"
    ids = {d.track_id for o in outputs for d in o}
    assert ids == {1}, f"one identity, got {ids}"
    (track,) = tracker.tracks
    vx, vy = track.velocity
    assert abs(vx - velocity[0]) < 1.0 and abs(vy - velocity[1]) < 1.0, \
        f"velocity ({vx:.2f}, {vy:.2f}) px/s, truth {velocity}"
    assert outputs[-1][0].centroid == pytest.approx((20.0 + 50.0 * 1.9, 80.0 - 20.0 * 1.9))


def test_ego_motion_keeps_static_people_on_their_tracks() -> None:
    """The camera moves: static scene content shifts by 7 px per frame. With the shift given,
    three static people keep ids 1-3 in a 3-px gate; without it, nothing associates."""
    world = [(40.0, 50.0), (90.0, 60.0), (140.0, 45.0)]
    shift = (-7.0, 2.0)
    config = TrackerConfig(gate_px=3.0)
    with_ego, without = MultiObjectTracker(config), MultiObjectTracker(config)
    ids_with, ids_without = [], []
    for i in range(15):
        frame = [det(x + shift[0] * i, y + shift[1] * i) for x, y in world]
        ids_with.append([d.track_id for d in with_ego.update(frame, DT_S, ego_shift_px=shift)])
        ids_without.append([d.track_id for d in without.update(frame, DT_S)])
    assert ids_with[0] == [] and all(ids == [1, 2, 3] for ids in ids_with[1:]), f"{ids_with}"
    assert all(ids == [] for ids in ids_without), f"without ego-motion: {ids_without}"


def test_crossing_objects_keep_their_ids() -> None:
    tracker = MultiObjectTracker()
    history: dict[int, list[float]] = {}
    for i in range(30):
        a = det(10.0 + 4.0 * i, 50.0)       # moving right
        b = det(130.0 - 4.0 * i, 52.0)      # moving left, crossing at i = 15
        for d in tracker.update([a, b], DT_S):
            history.setdefault(d.track_id, []).append(d.centroid[0])
    assert sorted(history) == [1, 2], f"ids {sorted(history)}"
    for xs in history.values():
        steps = np.sign(np.diff(xs))
        assert abs(steps.sum()) == len(steps), f"a track changed direction: {xs}"


def test_class_groups_and_label_vote() -> None:
    """Person/animal flips stay on one track and report the voted label; a fire at the same
    place is another track."""
    tracker = MultiObjectTracker()
    labels = ["person", "person", "animal", "person", "animal", "person"]
    outs = [tracker.update([det(50.0, 50.0, lab), det(50.5, 50.0, "fire")], DT_S)
            for lab in labels]
    body = [[d for d in o if d.label in ("person", "animal")] for o in outs]
    assert all(len(b) == 1 for b in body[1:]), f"{outs}"
    assert {b[0].track_id for b in body[1:]} == {1}
    assert [b[0].label for b in body[1:]] == ["person"] * 5, "voted label"
    fires = {d.track_id for o in outs for d in o if d.label == "fire"}
    assert fires == {2}, f"fire track ids {fires}"
    raw = MultiObjectTracker(TrackerConfig(vote_labels=False))
    last = [raw.update([det(50.0, 50.0, lab)], DT_S) for lab in labels][-2]
    assert last[0].label == "animal"


def test_tracks_coast_through_misses_then_are_deleted() -> None:
    config = TrackerConfig(max_misses=3)
    tracker = MultiObjectTracker(config)
    for _ in range(3):
        tracker.update([det(30.0, 30.0)], DT_S)
    for _ in range(3):  # three misses: still alive
        assert tracker.update([], DT_S) == []
    (back,) = tracker.update([det(30.0, 30.0)], DT_S)
    assert back.track_id == 1
    for _ in range(4):  # four misses: deleted
        tracker.update([], DT_S)
    assert tracker.tracks == []
    tracker.update([det(30.0, 30.0)], DT_S)
    (new,) = tracker.update([det(30.0, 30.0)], DT_S)
    assert new.track_id == 2, "ids are never reused"
    tracker.reset()
    tracker.update([det(30.0, 30.0)], DT_S)
    assert tracker.update([det(30.0, 30.0)], DT_S)[0].track_id == 1


# -- tracking quality on simulated sequences --------------------------------------------------

@functools.lru_cache(maxsize=1)
def band_table(profile: CameraProfile) -> BandRadianceTable:
    """The band radiance table, built once (0.4 s) for all simulated sequences."""
    return BandRadianceTable(profile.band_m)


@pytest.mark.parametrize("speed_mps", [4.0, 8.0])
def test_tracking_quality_on_moving_sar_sequences(speed_mps: float) -> None:
    """UAV at 4 and 8 m/s over the SAR scene (35 m, 320 x 256 boson640 optics), day and
    night, 40 frames at 10 Hz each: MOTA and identity switches per 100 frames."""
    profile = get_profile("boson640").with_size(320, 256)
    reports = []
    for tod, seed in (("day", 61), ("night", 62)):
        sim = ThermalSimulator(profile, "uav_sar", altitude_m=35.0, speed_mps=speed_mps,
                               seed=seed, time_of_day=tod, table=band_table(profile),
                               scene_options={"people": 30, "animals": 12, "vehicles": 4})
        reports.append(evaluate_sequence(
            sim, CountsToTemperature(sim.calibration, sim.table), WarmBodyDetector(),
            HotspotDetector(), MultiObjectTracker(), frames=40, rate_hz=1.0 / DT_S))
    total = combine_reports(reports)
    t = total["tracking"]
    numbers = (f"{speed_mps} m/s: MOTA {t['mota']:.3f} (gt {t['gt']}, fn {t['fn']}, "
               f"fp {t['fp']}, idsw {t['idsw']}), id switches per 100 frames "
               f"{t['idsw_per_100_frames']:.2f}, tracks {t['tracks']}")
    assert t["gt"] >= 200, f"too few objects to judge: {numbers}"
    assert t["mota"] >= 0.85, numbers
    assert t["idsw_per_100_frames"] <= 2.0, numbers
