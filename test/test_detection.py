"""Tests for thermal_perception.core.detection: warm bodies, hotspots, fire (synthetic known
answers, then acceptance on the simulator's SAR and fire scenes)."""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
import pytest

from thermal_perception.core.detection import (
    Detection,
    HotspotConfig,
    HotspotDetector,
    WarmBodyConfig,
    WarmBodyDetector,
    gsd_from_altitude,
    local_background,
)
from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.calibration import CountsToTemperature
from thermal_perception.core.physics.camera import CameraProfile, get_profile
from thermal_perception.evaluation.simulated import (
    SceneObjectIndex,
    combine_reports,
    evaluate_sequence,
)
from thermal_perception.sim.simulator import ThermalSimulator

GSD_M = 0.1           # synthetic scenes: 10 cm per pixel (a 640-px Boson-class core at ~55 m)
GROUND_C = 15.0       # night-time ground, deg C
TEXTURE_K = 0.3       # rms of the synthetic ground texture, K
SUPERSAMPLE = 8       # sub-pixel rendering of the synthetic bodies (partial edge pixels)
SIM_SIZE = (320, 256)  # acceptance runs: boson640 optics at this resolution
SAR_OPTIONS = {"people": 30, "animals": 12, "vehicles": 4}  # denser than the default scene


def ground(shape: tuple[int, int] = (160, 200), seed: int = 0) -> np.ndarray:
    """Night ground at GROUND_C with a smooth texture, deg C float32."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 3.0)
    return (GROUND_C + TEXTURE_K * noise / noise.std()).astype(np.float32)


def paint(image: np.ndarray, centre_px: tuple[float, float], length_m: float, width_m: float,
          angle_deg: float, temperature_c: float, *, box: bool = False,
          head: tuple[float, float] | None = None) -> None:
    """Paint an ellipse (or a box) of the given ground size, with partial edge pixels; an
    optional head ellipse (length, width in m) sticks out of its front end."""
    h, w = image.shape
    s = SUPERSAMPLE
    yy, xx = np.mgrid[0:h * s, 0:w * s]
    x = (xx + 0.5) / s - 0.5 - centre_px[0]
    y = (yy + 0.5) / s - 0.5 - centre_px[1]
    a = math.radians(angle_deg)
    u = (x * math.cos(a) + y * math.sin(a)) * GSD_M
    v = (-x * math.sin(a) + y * math.cos(a)) * GSD_M
    if box:
        inside = (np.abs(u) <= length_m / 2) & (np.abs(v) <= width_m / 2)
    else:
        inside = (u / (length_m / 2)) ** 2 + (v / (width_m / 2)) ** 2 <= 1.0
    if head is not None:
        hu = u - (length_m / 2 + 0.3 * head[0])
        inside |= (hu / (head[0] / 2)) ** 2 + (v / (head[1] / 2)) ** 2 <= 1.0
    cover = cv2.resize(inside.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    image[...] = image * (1.0 - cover) + temperature_c * cover


# -- helpers and validation -------------------------------------------------------------------

def test_gsd_from_altitude_known_answer() -> None:
    profile = get_profile("boson640").with_size(*SIM_SIZE)
    gsd = gsd_from_altitude(40.0, profile.focal_length_px)
    # 320 px over a 50 deg field of view: f = 160 / tan(25 deg) = 343.12 px.
    assert gsd == pytest.approx(40.0 / 343.1211, rel=1e-5), f"gsd {gsd:.6f} m"
    with pytest.raises(ValueError, match="altitude_m > 0"):
        gsd_from_altitude(0.0, 343.0)
    with pytest.raises(ValueError, match="focal_length_px > 0"):
        gsd_from_altitude(40.0, -1.0)


def test_detection_validates_label_and_confidence() -> None:
    kwargs = dict(bbox=(0, 0, 1, 1), centroid=(0.5, 0.5), max_c=30.0, mean_c=30.0, area_px=1)
    assert math.isnan(Detection("person", 0.5, **kwargs).area_m2)
    with pytest.raises(ValueError, match="unknown label"):
        Detection("robot", 0.5, **kwargs)
    with pytest.raises(ValueError, match="confidence"):
        Detection("person", 1.5, **kwargs)


@pytest.mark.parametrize(("factory", "message"), [
    (lambda: WarmBodyConfig(band_c=(40.0, 20.0)), "band_c"),
    (lambda: WarmBodyConfig(contrast_k=0.0), "contrast_k must be > 0"),
    (lambda: WarmBodyConfig(min_area_m2=0.3), "min_area_m2 < standing_max_area_m2"),
    (lambda: WarmBodyConfig(gsd_m=-0.1), "gsd_m must be > 0"),
    (lambda: WarmBodyConfig(background_percentile=80.0), "background_percentile"),
    (lambda: HotspotConfig(fire_c=40.0), "hotspot_min_c < fire_c"),
    (lambda: HotspotConfig(flicker_min_frames=12), "flicker_min_frames"),
    (lambda: HotspotConfig(min_fire_px=0), "min_fire_px"),
])
def test_configs_reject_bad_values(factory, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()


def test_local_background_ignores_small_warm_objects() -> None:
    image = np.full((64, 64), 20.0, np.float32)
    image[30:34, 30:34] = 40.0  # 16 px object, window 400 px
    bg = local_background(image, 20.0)
    assert bg.shape == image.shape and bg.dtype == np.float32
    assert abs(float(bg[31, 31]) - 20.0) < 0.1, f"background under the object {bg[31, 31]:.2f} C"


# -- warm bodies ------------------------------------------------------------------------------

def test_warm_bodies_known_answers() -> None:
    """Standing and lying people, a deer and a boar at 31-32 C on 15 C ground: labels,
    centroids, areas and temperatures; a warm car body and a tyre next to a hot engine are
    not bodies."""
    image = ground()
    paint(image, (40.3, 40.6), 0.5, 0.3, 20.0, 32.0)              # standing person
    paint(image, (120.0, 40.0), 1.8, 0.5, 30.0, 31.0)             # lying person
    paint(image, (50.0, 115.0), 1.6, 0.5, -20.0, 31.0, head=(0.3, 0.2))  # deer
    paint(image, (100.0, 120.0), 1.0, 0.4, 60.0, 31.0, head=(0.3, 0.2))  # boar
    paint(image, (160.0, 110.0), 4.5, 1.8, 0.0, 27.0, box=True)   # car body (warm)
    paint(image, (150.0, 110.0), 0.6, 0.6, 0.0, 80.0)             # its engine
    paint(image, (172.0, 100.0), 0.65, 0.2, 0.0, 38.0, box=True)  # a warm tyre
    detections = WarmBodyDetector().detect(image, GSD_M)
    found = {(round(d.centroid[0]), round(d.centroid[1])): d for d in detections}
    summary = [(d.label, tuple(round(c, 1) for c in d.centroid), round(d.area_m2, 3))
               for d in detections]
    assert len(detections) == 4, f"expected 4 bodies, got {summary}"
    expected = {(40, 41): ("person", 0.118), (120, 40): ("person", 0.707),
                (50, 115): ("animal", None), (100, 120): ("animal", None)}
    for key, (label, area) in expected.items():
        near = [d for k, d in found.items() if abs(k[0] - key[0]) <= 2 and abs(k[1] - key[1]) <= 2]
        assert near, f"nothing near {key}: {summary}"
        det = near[0]
        assert det.label == label, f"{key}: {det.label}, expected {label} ({summary})"
        assert 0.0 < det.confidence <= 1.0
        assert det.max_c <= 32.0 + 4 * TEXTURE_K and det.mean_c > GROUND_C + 8.0, \
            f"{key}: max {det.max_c:.2f} C, mean {det.mean_c:.2f} C"
        if area is not None:
            assert det.area_m2 == pytest.approx(area, rel=0.3), \
                f"{key}: area {det.area_m2:.3f} m^2, footprint {area} m^2"
    standing = next(d for d in detections if d.area_m2 < 0.2)
    err = math.dist(standing.centroid, (40.3, 40.6))
    assert err < 0.3, f"standing person centroid off by {err:.2f} px"
    x0, y0, x1, y1 = standing.bbox
    assert x0 <= 40 < x1 and y0 <= 40 < y1 and x1 - x0 <= 6, f"bbox {standing.bbox}"


def test_warm_body_detector_needs_the_gsd_and_tolerates_nan() -> None:
    image = ground()
    paint(image, (60.0, 60.0), 1.8, 0.5, 0.0, 31.0)
    image[10:12, 10:12] = np.nan  # dead pixels
    with pytest.raises(ValueError, match="ground sample distance"):
        WarmBodyDetector().detect(image)
    detections = WarmBodyDetector(WarmBodyConfig(gsd_m=GSD_M)).detect(image)
    assert [d.label for d in detections] == ["person"], f"{detections}"
    assert np.isfinite(detections[0].area_m2)


def test_warm_body_detector_reuses_its_buffers() -> None:
    det = WarmBodyDetector()
    image = ground()
    det.detect(image, GSD_M)
    buffer = det._buf.background
    det.detect(ground(seed=1), GSD_M)
    assert det._buf.background is buffer, "per-stream buffers must be allocated once"


# -- hotspots and fire ------------------------------------------------------------------------

def test_hotspot_engine_is_not_fire() -> None:
    image = np.full((80, 100), 20.0, np.float32)
    image[30:36, 40:46] = 80.0  # a 6 x 6 px engine bay at 80 C
    (det,) = HotspotDetector().detect(image, GSD_M)
    assert det.label == "hotspot", f"{det}"
    assert det.area_px == 36 and det.area_m2 == pytest.approx(36 * GSD_M**2)
    assert det.max_c == pytest.approx(80.0) and det.mean_c == pytest.approx(80.0)
    assert det.bbox == (40, 30, 46, 36) and det.centroid == pytest.approx((42.5, 32.5))
    assert det.saturated_px == 0


def test_saturation_next_to_hot_pixels_is_fire() -> None:
    image = np.full((80, 100), 20.0, np.float32)
    image[28:37, 38:47] = 120.0     # flame rim, below fire_c
    image[30:35, 40:45] = np.nan    # saturated core
    image[5, 5] = np.nan            # an isolated dead pixel: ignored
    (det,) = HotspotDetector().detect(image, GSD_M)
    assert det.label == "fire" and det.saturated_px == 25, f"{det}"
    assert det.max_c == pytest.approx(HotspotConfig().saturation_c)
    assert det.area_px == 81 and det.confidence > 0.9, f"{det}"


def test_saturated_cluster_at_the_frame_edge_is_fire_without_gsd() -> None:
    image = np.full((80, 100), 20.0, np.float32)
    image[20:32, 0] = np.nan  # a flame entering the view: saturated, sharp against cool ground
    (det,) = HotspotDetector().detect(image)
    assert det.label == "fire" and det.saturated_px == 12, f"{det}"
    assert math.isnan(det.area_m2)


def test_nothing_hot_gives_nothing() -> None:
    assert HotspotDetector().detect(ground(), GSD_M) == []


def flicker_frames(flicker: bool, n: int = 8) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        image = np.full((60, 60), 20.0, np.float32)
        half = 2 if (flicker and i % 2) else 4  # 5x5 or 9x9 px at 120 C
        image[30 - half:31 + half, 30 - half:31 + half] = 120.0
        frames.append(image)
    return frames


@pytest.mark.parametrize(("flicker", "use_flicker", "expected"), [
    (True, True, "fire"), (False, True, "hotspot"), (True, False, "hotspot")])
def test_flicker_promotes_a_hot_blob_to_fire(flicker: bool, use_flicker: bool,
                                             expected: str) -> None:
    detector = HotspotDetector(HotspotConfig(use_flicker=use_flicker))
    labels = [detector.detect(f, GSD_M)[0].label for f in flicker_frames(flicker)]
    assert labels[0] == "hotspot", f"flicker needs a history: {labels}"
    assert labels[-1] == expected, f"labels over the frames: {labels}"
    detector.reset()
    assert detector.detect(flicker_frames(flicker)[0], GSD_M)[0].label == "hotspot"


# -- acceptance on the simulator --------------------------------------------------------------

def make_sim(scene: str, altitude_m: float, time_of_day: str, seed: int, *,
             fire: bool = False, dense: bool = True) -> ThermalSimulator:
    """A simulated sequence; ``dense``: the SAR scene with SAR_OPTIONS."""
    profile = get_profile("boson640").with_size(*SIM_SIZE)
    return ThermalSimulator(profile, scene, altitude_m=altitude_m, speed_mps=6.0, seed=seed,
                            time_of_day=time_of_day, fire=fire, table=band_table(profile),
                            scene_options=SAR_OPTIONS if scene == "uav_sar" and dense else None)


@functools.lru_cache(maxsize=1)
def band_table(profile: CameraProfile) -> BandRadianceTable:
    """The band radiance table, built once (0.4 s) for all simulated sequences."""
    return BandRadianceTable(profile.band_m)


def run(sim: ThermalSimulator, frames: int, *, bodies: bool = True, hotspots: bool = True,
        start_s: float = 0.0, index: SceneObjectIndex | None = None) -> dict:
    converter = CountsToTemperature(sim.calibration, sim.table)
    return evaluate_sequence(sim, converter, WarmBodyDetector() if bodies else None,
                             HotspotDetector() if hotspots else None, frames=frames,
                             rate_hz=10.0, start_s=start_s, index=index)


def first_fire_view_s(index: SceneObjectIndex, step_s: float = 0.5,
                      horizon_s: float = 60.0) -> float:
    """First time on the camera path with a fire in view (fires cover a small part of the
    world, so sequences of the fire tests start there)."""
    for t_s in np.arange(0.0, horizon_s, step_s):
        if any(o.label == "fire" and o.evaluable for o in index.objects_in_view(float(t_s))):
            return float(t_s)
    raise AssertionError("no fire in view on the camera path")


def test_persons_recall_and_precision_on_sar_scenes() -> None:
    """Persons at least 4 px across (boson640 optics at 320 x 256, 30-40 m: standing
    shoulders 5.7-4.3 px), day and night, six scenes: recall >= 0.95 at precision >= 0.9."""
    cases = [(30.0, "day"), (30.0, "night"), (35.0, "day"), (35.0, "night"), (40.0, "day"),
             (40.0, "night")]
    reports = [run(make_sim("uav_sar", alt, tod, 20 + i), 12, hotspots=False)
               for i, (alt, tod) in enumerate(cases)]
    total = combine_reports(reports)["detection"]
    person, animal, body = total["person"], total["animal"], total["warm_body"]
    numbers = (f"person P={person['precision']:.3f} R={person['recall']:.3f} "
               f"F1={person['f1']:.3f} (tp {person['tp']}, fp {person['fp']}, fn {person['fn']}); "
               f"animal P={animal['precision']:.3f} R={animal['recall']:.3f}; "
               f"warm bodies P={body['precision']:.3f} R={body['recall']:.3f}")
    assert person["tp"] + person["fn"] >= 150, f"too few persons to judge: {numbers}"
    assert person["recall"] >= 0.95 and person["precision"] >= 0.9, numbers
    assert body["recall"] >= 0.93 and body["precision"] >= 0.95, numbers


def test_fire_recall_and_no_false_alarm() -> None:
    """Fires (the fire scene; the SAR scene's small fire) found in >= 98 % of the frames that
    show them, day and night; no fire alarm on fire-free SAR scenes with running cars."""
    fires = []
    for scene, alt, tod, seed in (("fire", 60.0, "night", 4), ("fire", 60.0, "day", 2),
                                  ("uav_sar", 40.0, "day", 3), ("uav_sar", 40.0, "night", 4)):
        sim = make_sim(scene, alt, tod, seed, fire=scene == "uav_sar", dense=False)
        index = SceneObjectIndex(sim)
        fires.append(run(sim, 8, bodies=False, start_s=first_fire_view_s(index), index=index))
    free = [run(make_sim("uav_sar", 40.0, tod, seed), 10, bodies=False)
            for tod, seed in (("day", 5), ("night", 6))]
    fire = combine_reports(fires)["detection"]["fire"]
    alarms = combine_reports(free)["detection"]["fire"]
    numbers = (f"fire recall {fire['recall']:.3f} (tp {fire['tp']}, fn {fire['fn']}), "
               f"false alarms on fire scenes {fire['fp']}, on fire-free scenes "
               f"{alarms['fp']} in {alarms['false_alarm_frames']} frames")
    assert fire["tp"] + fire["fn"] >= 24, f"too few fire views to judge: {numbers}"
    assert fire["recall"] >= 0.98, numbers
    assert alarms["detections"] == 0 and fire["fp"] == 0, numbers


def test_fine_ground_sample_distance_is_searched_at_a_bounded_scale():
    """Issue 19 item 10: a frame finer than ``min_work_gsd_m`` (close range, or a wrong
    altitude) is reduced before the search, so the work per frame is bounded, and the
    detections come back in the frame's pixels: the same person seen 4x finer is the same
    detection, 4x larger."""
    import numpy as np

    from thermal_perception.core.detection import WarmBodyDetector

    rng = np.random.default_rng(3)
    t = (15 + rng.normal(0, 0.3, (240, 320))).astype(np.float32)
    t[100:120, 150:170] = 31.0  # 0.4 x 0.4 m at 0.02 m per pixel
    t[10:14, 10:14] = np.nan
    seen: list[tuple[int, int]] = []

    class Spy(WarmBodyDetector):
        def _detect(self, temperature_c, gsd):
            seen.append(temperature_c.shape)
            return super()._detect(temperature_c, gsd)

    det = Spy()
    (coarse,) = det.detect(t, 0.02)
    fine_frame = np.repeat(np.repeat(t, 4, axis=0), 4, axis=1)
    (fine,) = det.detect(fine_frame, 0.005)
    assert seen == [(240, 320), (240, 320)]  # searched at 0.02 m per pixel both times
    assert fine.label == coarse.label == "person"
    assert fine.bbox == tuple(4 * v for v in coarse.bbox)
    assert fine.centroid == pytest.approx(tuple((c + 0.5) * 4 - 0.5 for c in coarse.centroid))
    assert fine.area_px == 16 * coarse.area_px
    assert fine.area_m2 == pytest.approx(coarse.area_m2)
    assert fine.max_c == pytest.approx(coarse.max_c)
    seen.clear()
    assert det.detect(fine_frame, 0.0003) == [] and seen[0][0] <= 240 * 4 * 0.0003 / 0.02 + 1
