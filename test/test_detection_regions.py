"""Tests of the detectors' fast paths: work on rectangles around candidate pixels must give the
results of the whole image, the percentile filter those of SciPy, the windowed hot-pixel
distance those of an exact distance transform; and the offline analysis' predicted tracks
between detection frames."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

import thermal_perception.core.detection.background as background
import thermal_perception.core.detection.hotspot as hotspot
import thermal_perception.core.detection.warm_body as warm_body
from thermal_perception.analysis import AnalysisOptions, analyze_bag
from thermal_perception.analysis.detect import CoreDetector
from thermal_perception.core.detection import (
    Detection,
    HotspotDetector,
    WarmBodyConfig,
    WarmBodyDetector,
)
from thermal_perception.core.physics.calibration import CountsToTemperature
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.sim.record import SimulationOptions, simulate_to_bag
from thermal_perception.sim.simulator import ThermalSimulator

SAR_OPTIONS = {"people": 30, "animals": 12, "vehicles": 4}


def frames(scene: str, altitude_m: float, seed: int, count: int = 4, size=(320, 256),
           **kwargs) -> tuple[list[np.ndarray], float]:
    """Temperature frames (deg C, NaN where invalid) of a simulated flight and its GSD."""
    profile = get_profile("boson640").with_size(*size)
    sim = ThermalSimulator(profile, scene, altitude_m=altitude_m, speed_mps=6.0, seed=seed,
                           **kwargs)
    convert = CountsToTemperature(sim.calibration, sim.table)
    return [convert(sim.counts(i / 10.0)) for i in range(count)], sim.gsd_m


def whole_image(mask: np.ndarray, margin_px: int, max_share: float = 1.0):
    """One region covering the image: the detectors' work done on the whole of it."""
    h, w = mask.shape
    return [(slice(0, h), slice(0, w), None)]


def as_tuples(found: list[Detection]) -> list[tuple]:
    return [(d.label, d.confidence, d.bbox, d.centroid, d.max_c, d.mean_c, d.area_px,
             d.area_m2, d.saturated_px) for d in found]


SCENES = [  # (scene, altitude m, seed, simulator options): day, night, fire, defects
    ("uav_sar", 40.0, 1, {"scene_options": SAR_OPTIONS}),
    ("uav_sar", 30.0, 2, {"scene_options": SAR_OPTIONS, "time_of_day": "night"}),
    ("uav_sar", 25.0, 3, {"scene_options": SAR_OPTIONS, "fire": True, "defects": True}),
    ("fire", 40.0, 4, {}),
    ("road", 40.0, 5, {}),
]


@pytest.mark.parametrize(("scene", "altitude", "seed", "options"), SCENES)
def test_rectangles_give_the_detections_of_the_whole_image(monkeypatch, scene, altitude,
                                                           seed, options):
    images, gsd = frames(scene, altitude, seed, **options)
    runs = {}
    for mode in ("rectangles", "rectangles, partial opening", "whole image"):
        with monkeypatch.context() as m:
            if mode == "whole image":
                m.setattr(warm_body, "candidate_regions", whole_image)
                m.setattr(hotspot, "candidate_regions", whole_image)
            elif mode == "rectangles, partial opening":  # opening on rectangles only
                m.setattr(warm_body, "_PARTIAL_OPENING_SHARE", 1.0)
            bodies, hot = WarmBodyDetector(), HotspotDetector()
            runs[mode] = [(as_tuples(bodies.detect(t, gsd)), as_tuples(hot.detect(t, gsd)))
                          for t in images]
    assert sum(len(b) + len(h) for b, h in runs["whole image"]) > 0
    assert runs["rectangles"] == runs["whole image"]
    assert runs["rectangles, partial opening"] == runs["whole image"]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 90), st.integers(1, 90), st.floats(0.03, 0.3), st.integers(0, 2**31),
       st.booleans())
def test_rectangles_match_the_whole_image_on_random_scenes(height, width, gsd, seed,
                                                           with_nans):
    """Any size (tiny ones too), warm blobs, hot spots, fires and NaNs near each other."""
    rng = np.random.default_rng(seed)
    t = (15.0 + cv2.GaussianBlur(rng.standard_normal((height, width)), (0, 0), 1.5)
         ).astype(np.float32)
    for value, count in ((33.0, 12), (70.0, 3), (160.0, 2)):  # bodies, engines, flames
        for _ in range(count):
            y, x = rng.integers(0, height), rng.integers(0, width)
            r = int(rng.integers(0, 4))
            t[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = value + rng.normal()
    if with_nans:
        t[rng.random((height, width)) < 0.01] = np.nan
    runs = []
    for regions in (background.candidate_regions, whole_image):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(warm_body, "candidate_regions", regions)
            m.setattr(hotspot, "candidate_regions", regions)
            bodies, hot = WarmBodyDetector(), HotspotDetector()
            runs.append([(as_tuples(bodies.detect(t, gsd)), as_tuples(hot.detect(t, gsd)))
                         for _ in range(2)])
    assert runs[0] == runs[1]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.floats(0.0, 100.0), st.integers(0, 2**31))
def test_percentile_filter_matches_scipy(height, width, percentile, seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 6, (height, width)).astype(np.float32)  # many ties
    expected = ndimage.percentile_filter(image, percentile, size=5, mode="nearest")
    assert np.array_equal(background.percentile_5x5(image, percentile), expected)


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 70), st.integers(8, 70), st.integers(1, 12), st.floats(0.002, 0.05),
       st.integers(0, 2**31))
def test_regions_cover_their_groups_with_margins_and_keep_groups_apart(height, width, margin,
                                                                        density, seed):
    rng = np.random.default_rng(seed)
    mask = (rng.random((height, width)) < density).astype(np.uint8)
    regions = background.candidate_regions(mask, margin)
    ys, xs = np.nonzero(mask)
    group = np.full(ys.size, -1)
    for g, (rows, cols, own) in enumerate(regions):
        for i, (y, x) in enumerate(zip(ys, xs, strict=True)):
            inside = rows.start <= y < rows.stop and cols.start <= x < cols.stop
            mine = inside and (own is None or own[(y - rows.start) // background.TILE,
                                                  (x - cols.start) // background.TILE])
            if mine:
                assert group[i] == -1, "a pixel in two groups"
                group[i] = g
                # the margin around it lies in the rectangle (or outside the image)
                assert rows.start <= max(0, y - margin) and min(height, y + margin + 1) \
                    <= rows.stop
                assert cols.start <= max(0, x - margin) and min(width, x + margin + 1) \
                    <= cols.stop
    assert (group >= 0).all(), "every pixel is in a group"
    for i in range(ys.size):  # pixels of different groups are more than 2 margins apart
        other = group != group[i]
        chebyshev = np.maximum(np.abs(ys[other] - ys[i]), np.abs(xs[other] - xs[i]))
        assert (chebyshev > 2 * margin).all()


def test_regions_of_an_empty_mask_and_the_share_limit():
    assert background.candidate_regions(np.zeros((40, 50), np.uint8), 3) == []
    full = np.ones((40, 50), np.uint8)
    assert background.candidate_regions(full, 3, max_share=0.5) is None
    assert len(background.candidate_regions(full, 3)) == 1


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.02, 0.3), st.integers(0, 30))
def test_hot_pixel_distance_matches_an_exact_distance_transform(seed, gsd, n_hot):
    """The windowed search gives what the precise distance transform (Felzenszwalb's exact
    Euclidean transform in OpenCV) gives at the rounded points."""
    rng = np.random.default_rng(seed)
    h, w = 90, 120
    t = np.full((h, w), 20.0, np.float32)
    t[rng.integers(0, h, n_hot), rng.integers(0, w, n_hot)] = 80.0
    points = rng.uniform([-3.0, -3.0], [w + 2.0, h + 2.0], (12, 2))
    detector = WarmBodyDetector(WarmBodyConfig(hot_exclusion_m=4.0))
    detector._buf.ensure((h, w))
    got = detector._near_hot(t, np.zeros((h, w), bool), points, gsd)
    hot = t >= detector.config.hot_c
    if not hot.any():
        assert not got.any()
        return
    dist = cv2.distanceTransform((~hot).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    xi = np.clip(np.rint(points[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.rint(points[:, 1]).astype(int), 0, h - 1)
    assert np.array_equal(got, dist[yi, xi] * gsd <= 4.0)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 100.0), st.floats(0.0, 100.0), st.floats(-50.0, 50.0))
def test_principal_axes_match_numpy(sxx, syy, sxy):
    small, large, axis = warm_body._principal_axes(sxx, syy, sxy)
    evals, evecs = np.linalg.eigh(np.array([[sxx, sxy], [sxy, syy]]))
    scale = max(1.0, abs(evals[1]))
    assert small == pytest.approx(evals[0], abs=1e-12 * scale)
    assert large == pytest.approx(evals[1], abs=1e-12 * scale)
    assert math.hypot(*axis) == pytest.approx(1.0)
    if evals[1] - evals[0] > 1e-6 * scale:  # a unique axis, up to its sign
        assert abs(axis[0] * evecs[0, 1] + axis[1] * evecs[1, 1]) == pytest.approx(1.0)


# -- offline analysis: tracks predicted between detection frames -----------------------------

def test_predicted_tracks_move_at_their_velocity():
    detector = CoreDetector({"track_confirm_hits": 1, "warm_bodies": False})
    det = Detection("fire", 0.9, (10, 20, 14, 26), (12.0, 23.0), 400.0, 300.0, 24)

    class Stub:  # a hotspot detector that finds the same fire moving 30 px/s to the right
        def __init__(self) -> None:
            self.x = 0.0

        def reset(self) -> None: ...

        def detect(self, t, gsd, ego):
            self.x += 3.0
            return [Detection(det.label, det.confidence, (10 + int(self.x), 20, 14 + int(self.x),
                                                          26), (12.0 + self.x, 23.0), 400.0,
                              300.0, 24)]

    detector._hot = Stub()
    image = np.zeros((8, 8), np.float32)
    for _ in range(6):
        found = detector(image, 0.1, None, (0.0, 0.0))
    assert len(found) == 1 and found[0].track_id == 1
    vx = detector._tracker.tracks[0].velocity[0]
    assert vx == pytest.approx(30.0, rel=0.2)  # the Kalman filter has learnt the motion
    moved = detector.predict(0.05)
    assert moved[0].centroid_x == pytest.approx(found[0].centroid_x + 0.05 * vx)
    assert moved[0].centroid_y == pytest.approx(found[0].centroid_y)
    assert moved[0].x0 - found[0].x0 == round(0.05 * vx)
    assert (moved[0].track_id, moved[0].label, moved[0].max_c) == (1, "fire", 400.0)
    assert CoreDetector({"tracking": False}).predict(0.05) == []


def test_analysis_detecting_every_third_frame_predicts_the_frames_between(tmp_path):
    bag = tmp_path / "bag"
    simulate_to_bag(SimulationOptions(out=bag, frames=24, width=320, height=256,
                                      altitude_m=30.0, rate_hz=30.0, truth=False),
                    progress=False)
    fast = {"video": False, "bag": False, "report": False, "progress": False,
            "altitude_m": 30.0}
    every = analyze_bag(bag, AnalysisOptions(out=tmp_path / "every", **fast))
    third = analyze_bag(bag, AnalysisOptions(out=tmp_path / "third", detect_every=3, **fast))
    assert every.status == third.status == "ok", (every.errors, third.errors)
    assert "one frame in 3" in third.detection_note and "predicted" in third.detection_note
    assert every.detections > 0 and third.detections > 0
    rows = (tmp_path / "third" / "bag" / "frames.csv").read_text().splitlines()
    header = rows[0].split(",")
    counts = [int(r.split(",")[header.index("detections")]) for r in rows[1:]]
    # confirmed tracks are reported on the frames between detection frames too
    assert any(c > 0 for i, c in enumerate(counts) if i % 3)
