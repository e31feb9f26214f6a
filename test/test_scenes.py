"""Scene generators: reproducibility, map types, promised content, physical plausibility and
geometry of the truth (no ROS needed)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.constants import zero_Celsius

from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.sim.facades import make_building_scene
from thermal_perception.sim.scenes import (
    SCENE_BUILDERS,
    make_fire_scene,
    make_road_scene,
    make_sar_scene,
    make_scene,
)
from thermal_perception.sim.truth import LABELS, SceneTruth

# Small maps that still hold every promised element: (width, height, gsd_m).
SIZES = {
    "uav_sar": (300, 240, 0.1),
    "road": (520, 480, 0.1),    # 52 x 48 m: street cross-section 42 m plus house fronts
    "building": (300, 240, 0.05),  # 15 x 12 m facade: 4 storeys of 4 bays
    "fire": (240, 240, 0.25),   # 60 x 60 m
}
PROMISED = {
    "uav_sar": {"terrain", "vegetation", "road", "person", "animal", "vehicle"},
    "road": {"road", "sidewalk", "lane_marking", "vehicle", "person", "vegetation", "roof"},
    "building": {"wall", "window", "metal", "thermal_bridge", "door"},
    "fire": {"fire", "burned"},
}
OBJECT_KEYS = {"label", "centre_m", "centre_px", "size_m", "height_m", "heading_deg",
               "temperature_c"}
FIXED_LABELS = {"terrain": 0, "vegetation": 1, "water": 2, "road": 3, "person": 4, "animal": 5,
                "vehicle": 6, "fire": 7}


@pytest.fixture(scope="module")
def table() -> BandRadianceTable:
    return BandRadianceTable()


_CACHE: dict[tuple, SceneTruth] = {}


def scene(name: str, seed: int = 0, **kwargs) -> SceneTruth:
    """Scenes are built once per arguments (read-only use in the tests)."""
    key = (name, seed, tuple(sorted(kwargs.items())))
    if key not in _CACHE:
        _CACHE[key] = make_scene(name, *SIZES[name], seed=seed, **kwargs)
    return _CACHE[key]


def celsius(s: SceneTruth, label: str) -> np.ndarray:
    return s.temperature_k[s.labels == LABELS[label]] - zero_Celsius


def test_registry_and_labels():
    assert set(SCENE_BUILDERS) == {"uav_sar", "road", "building", "fire", "blackbody"}
    assert {k: LABELS[k] for k in FIXED_LABELS} == FIXED_LABELS
    assert len(set(LABELS.values())) == len(LABELS)
    assert max(LABELS.values()) <= np.iinfo(np.uint8).max
    for new in ("wall", "window", "metal", "thermal_bridge", "burned"):
        assert LABELS[new] > max(FIXED_LABELS.values())


def test_unknown_scene_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="uav_sar") as err:
        make_scene("moon", 64, 64, 0.1)
    assert all(name in str(err.value) for name in SCENE_BUILDERS)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_reproducible_for_a_seed_and_different_for_another(name):
    a = scene(name, seed=3)
    b = make_scene(name, *SIZES[name], seed=3)
    c = scene(name, seed=4)
    for field in ("temperature_k", "emissivity", "labels", "height_m", "path_transmission",
                  "path_temperature_k"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None and y is None) or np.array_equal(x, y), field
    assert a.objects == b.objects
    assert not np.array_equal(a.temperature_k, c.temperature_k)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_maps_types_and_ranges(name):
    s = scene(name)
    shape = (SIZES[name][1], SIZES[name][0])
    assert s.shape == shape
    for arr, dtype in ((s.temperature_k, np.float32), (s.emissivity, np.float32),
                       (s.labels, np.uint8), (s.height_m, np.float32)):
        assert arr.shape == shape and arr.dtype == dtype
    assert np.all((s.emissivity > 0.0) & (s.emissivity <= 1.0))
    assert np.all(np.isfinite(s.temperature_k)) and np.all(np.isfinite(s.height_m))
    assert float(s.temperature_k.min()) > 200.0
    assert set(np.unique(s.labels).tolist()) <= set(LABELS.values())
    assert s.gsd_m == SIZES[name][2]
    assert s.view == ("facade" if name == "building" else "nadir")


@pytest.mark.parametrize("name", sorted(SIZES))
def test_promised_labels_present(name):
    present = {k for k, v in LABELS.items() if (scene(name).labels == v).any()}
    assert PROMISED[name] <= present, PROMISED[name] - present


@pytest.mark.parametrize("name", sorted(SIZES))
def test_objects_keep_metres_and_pixels_consistent(name):
    s = scene(name)
    assert s.objects
    for obj in s.objects:
        assert obj.keys() >= OBJECT_KEYS
        assert obj["label"] in LABELS
        x, y = s.cell_to_world(*obj["centre_px"])
        assert (x, y) == pytest.approx(obj["centre_m"], abs=1e-9)
        assert np.allclose(np.add(obj["centre_px"], 0.5) * s.gsd_m, obj["centre_m"])
        assert min(obj["size_m"]) > 0.0 and 0.0 <= obj["heading_deg"] < 360.0


@settings(max_examples=50, deadline=None)
@given(x=st.floats(-1e4, 1e4), y=st.floats(-1e4, 1e4), gsd=st.floats(1e-3, 10.0))
def test_world_cell_round_trip(x, y, gsd):
    s = SceneTruth(np.zeros((8, 8), np.float32), np.ones((8, 8), np.float32),
                   np.zeros((8, 8), np.uint8), gsd, 15.0, 0.0, [])
    assert s.cell_to_world(*s.world_to_cell(x, y)) == pytest.approx((x, y), rel=1e-9, abs=1e-9)


def test_world_cell_convention_and_arrays():
    s = scene("uav_sar")
    col, row = s.world_to_cell(np.array([0.0, 0.05, 0.1]), np.array([0.25, 0.15, 0.0]))
    assert np.allclose(col, [-0.5, 0.0, 0.5]) and np.allclose(row, [2.0, 1.0, -0.5])
    assert s.world_to_cell(0.05, 0.05) == (0.0, 0.0)  # centre of cell (0, 0)


def test_scene_truth_defaults_and_checks():
    shape = (10, 12)
    s = SceneTruth(np.full(shape, 300.0, np.float32), np.ones(shape, np.float32),
                   np.zeros(shape, np.uint8), 0.1, 15.0, 0.0, [])
    assert s.height_m.shape == shape and s.height_m.dtype == np.float32 and not s.height_m.any()
    assert s.path_transmission is None and s.path_temperature_k is None
    with pytest.raises(ValueError, match="shape"):
        SceneTruth(np.zeros((4, 4), np.float32), np.ones(shape, np.float32),
                   np.zeros(shape, np.uint8), 0.1, 15.0, 0.0, [])
    with pytest.raises(ValueError, match="together"):
        SceneTruth(s.temperature_k, s.emissivity, s.labels, 0.1, 15.0, 0.0, [],
                   path_transmission=np.ones(shape, np.float32))


def test_blackbody_is_uniform():
    from thermal_perception.sim.scenes import make_blackbody_scene

    bb = make_blackbody_scene(32, 24, 0.01, temperature_c=42.0)
    assert np.all(bb.temperature_k == np.float32(42.0 + zero_Celsius))
    assert np.all(bb.emissivity == 1.0) and bb.path_transmission is None


@pytest.mark.parametrize("builder", list(SCENE_BUILDERS.values()))
def test_time_of_day_is_checked(builder):
    with pytest.raises(ValueError, match="time_of_day"):
        builder(64, 64, 0.1, time_of_day="dusk")


# -- plausibility --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["uav_sar", "road"])
@pytest.mark.parametrize("time_of_day", ["day", "night"])
def test_people_surface_temperature(name, time_of_day):
    t = celsius(scene(name, time_of_day=time_of_day), "person")
    assert t.size and float(t.min()) >= 28.0 and float(t.max()) <= 37.0


def test_road_vehicles_engines_tyres_and_materials():
    s = scene("road")
    vehicles = [o for o in s.objects if o["label"] == "vehicle"]
    moving = [o for o in vehicles if o["moving"]]
    assert moving and any(not o["moving"] for o in vehicles)
    for o in moving:
        assert 70.0 <= o["engine_temperature_c"] <= 90.0
        assert 35.0 <= o["tyre_temperature_c"] <= 45.0
        assert o["speed_mps"] > 0.0
    car = s.labels == LABELS["vehicle"]
    t = s.temperature_k[car] - zero_Celsius
    assert 65.0 < float(t.max()) < 95.0  # hot engine bays
    eps = s.emissivity[car]
    assert np.isclose(eps, 0.90).any() and np.isclose(eps, 0.85).any()  # paint, glass
    assert (eps <= 0.3).any()  # bare metal reflecting the sky
    assert np.all(s.height_m[car] > 0.0)
    road = s.labels == LABELS["road"]
    marking = s.labels == LABELS["lane_marking"]
    assert np.all(s.emissivity[marking] < s.emissivity[road].min())
    assert 0.93 <= float(s.emissivity[road].min()) <= 0.95
    assert np.all(s.height_m[road] == 0.0)
    assert np.all(s.height_m[s.labels == LABELS["sidewalk"]] > 0.0)


@pytest.mark.parametrize("name", ["uav_sar", "road", "fire"])
def test_heights_of_people_vehicles_buildings_and_flames(name):
    s = scene(name, fire=True) if name == "uav_sar" else scene(name)
    for label in ("person", "animal", "vehicle", "roof", "fire"):
        sel = s.labels == LABELS[label]
        if sel.any():
            assert np.all(s.height_m[sel] > 0.0), label
    assert np.all(s.height_m >= 0.0)
    for obj in s.objects:
        assert obj["height_m"] > 0.0
    standing = [o for o in s.objects if o.get("posture") == "standing"]
    assert all(o["height_m"] == pytest.approx(1.7) for o in standing)


def test_fire_flames_burned_ground_and_smoke():
    s = scene("fire")
    flames, burned = celsius(s, "fire"), celsius(s, "burned")
    assert float(flames.min()) > 400.0 and float(flames.max()) <= 900.0
    assert float(burned.min()) >= 60.0 and float(burned.max()) <= 200.0
    tau, t_path = s.path_transmission, s.path_temperature_k
    assert tau is not None and t_path is not None
    assert tau.dtype == np.float32 and t_path.dtype == np.float32
    assert float(tau.min()) >= 0.3 - 1e-6 and float(tau.max()) <= 1.0
    assert float(tau.min()) < 0.6  # a dense plume near a source
    smoky = tau < 0.95
    excess = t_path[smoky] - (s.air_temperature_c + zero_Celsius)
    assert smoky.any() and float(excess.min()) >= 20.0 - 1e-3 and float(excess.max()) <= 100.0
    no_smoke = make_fire_scene(*SIZES["fire"], smoke=False)
    assert no_smoke.path_transmission is None


def test_sar_fire_option_has_flames_but_no_smoke():
    s = scene("uav_sar", fire=True)
    assert float(celsius(s, "fire").min()) > 400.0 and (s.labels == LABELS["burned"]).any()
    assert s.path_transmission is None


@pytest.mark.parametrize("name", ["uav_sar", "road", "building"])
def test_only_the_fire_scene_has_a_path_layer(name):
    assert scene(name).path_transmission is None and scene(name).path_temperature_k is None


def test_building_winter_night_bridges_windows_and_metal(table):
    s = scene("building", time_of_day="night", air_temperature_c=0.0)
    wall = float(np.median(celsius(s, "wall")))
    bridge = float(np.median(celsius(s, "thermal_bridge")))
    assert 2.0 <= bridge - wall <= 6.0
    # Windows reflect the cold sky: colder than the wall in apparent radiance.
    eps, t_k = s.emissivity.astype(float), s.temperature_k.astype(float)
    apparent = eps * table.radiance(t_k) + (1 - eps) * table.radiance(
        s.sky_temperature_c + zero_Celsius)
    glass = (s.labels == LABELS["window"]) & (s.emissivity < 0.85)
    assert np.median(apparent[glass]) < np.median(apparent[s.labels == LABELS["wall"]])
    assert np.allclose(apparent, s.leaving_radiance(table), rtol=1e-5)
    assert 0.1 <= float(s.emissivity[s.labels == LABELS["metal"]].max()) <= 0.3
    assert float(np.median(s.emissivity[glass])) == pytest.approx(0.84)
    assert np.all(s.height_m[glass] < 0.0)  # recessed behind the reveal


def test_building_heat_flow_follows_indoor_outdoor_difference():
    warm = make_building_scene(*SIZES["building"], time_of_day="night", air_temperature_c=20.0)
    cold = scene("building", time_of_day="night", air_temperature_c=0.0)

    def bridge_excess(s: SceneTruth) -> float:
        return float(np.median(celsius(s, "thermal_bridge")) - np.median(celsius(s, "wall")))

    assert abs(bridge_excess(warm)) < 0.5 < bridge_excess(cold)


def test_smoke_lowers_the_radiance_of_a_hot_fire(table):
    s = scene("fire")
    clear = SceneTruth(s.temperature_k, s.emissivity, s.labels, s.gsd_m, s.air_temperature_c,
                       s.sky_temperature_c, s.objects)
    hot = (s.labels == LABELS["fire"]) & (s.path_transmission < 0.9)
    assert hot.any()  # flames at the plume source
    assert np.all(s.leaving_radiance(table)[hot] < clear.leaving_radiance(table)[hot])
    cool = (s.labels == LABELS["vegetation"]) & (s.path_transmission < 0.9)
    assert np.all(s.leaving_radiance(table)[cool] > clear.leaving_radiance(table)[cool])


def test_make_scene_matches_the_builders():
    for name, builder in (("road", make_road_scene), ("uav_sar", make_sar_scene)):
        a = make_scene(name, 128, 96, 0.2, seed=5)
        b = builder(128, 96, 0.2, seed=5)
        assert np.array_equal(a.temperature_k, b.temperature_k)
