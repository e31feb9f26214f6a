"""Procedural scenes with ground truth (:class:`~.truth.SceneTruth`): search and rescue, road,
building facade, fire and blackbody scenes, by name through :func:`make_scene`.

Temperatures and emissivities (8-14 um) are typical values, documented at each constant.
Sources of the ranges: emissivity tables of the Optris and FLIR application notes; ASHRAE
Handbook Fundamentals and ISO 6946 (surface resistances) for building envelopes; Rees,
"Physical Principles of Remote Sensing", for natural surface temperatures. Where a value is
marked 'typical' it is a plausible choice for testing, not a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.constants import zero_Celsius

if TYPE_CHECKING:
    pass
from thermal_perception.sim.canvas import SURFACES, Canvas, check_args, land_cover, uniform
from thermal_perception.sim.facades import make_building_scene
from thermal_perception.sim.objects import (
    HEAD_ELONGATION,
    PERIMETER_ROUGHNESS,
    PERSON_POSTURES,
    VEHICLE_TYPES,
    paint_animal,
    paint_fire,
    paint_house,
    paint_person,
    paint_tree,
    paint_vehicle,
    smoke_layer,
)
from thermal_perception.sim.truth import LABELS, SceneTruth

# Apparent clear-sky temperature (8-14 um) reflected by horizontal surfaces, offset from the
# air temperature, K: the window band sees a cold sky (typical -15 K by day, -20 K at night).
SKY_OFFSET_K = {"day": -15.0, "night": -20.0}

# SAR road: a two-lane country road (half width one lane) along a gentle curve across the
# map, its centre line in this band of the map height, meandering by this fraction of it.
SAR_ROAD_BAND = (0.3, 0.7)

SAR_ROAD_MEANDER = 0.08

STANDING_PROBABILITY = 0.5     # SAR people standing (else lying)

SAR_MOVING_PROBABILITY = 0.5   # SAR vehicles driving (else parked, cold)

# People and animals. Clothed/skin apparent surface 30-34 deg C in mild weather (SAR thermal
# imaging literature); the head (skin/hair) ~1 K warmer than clothing. Skin emissivity 0.98.
PERSON_SURFACE_C = (30.0, 34.0)

ANIMAL_SURFACE_C = (28.0, 35.0)  # fur-covered mammals (insulating coat: cooler than skin)

# Deer (1.6 x 0.5 m, shoulder ~1.0 m) and boar / large dog (1.0 x 0.4 m, ~0.8 m), typical.
ANIMAL_SIZES_M = ((1.6, 0.5, 1.0), (1.0, 0.4, 0.8))

VEHICLE_SPEED_MPS = (8.0, 14.0)   # urban traffic, 30-50 km/h

PARKED_WARM_PROBABILITY = 0.4     # share of parked cars that arrived recently

PARKED_WARMTH = (0.3, 0.7)        # their engine/tyre heat left, fraction of running excess

FLAME_DEPTH_M = (1.0, 3.0)

FIRE_RADIUS_M = (6.0, 20.0)    # burned area radius of an active fire (typical, small fires)

FIRE_MAX_MAP_FRACTION = 0.25   # radius at most this fraction of the smaller map side

FIRE_MIN_CELLS = 4.0           # a fire at least this many cells in radius (coarse maps)

PLACEMENT_TRIES = 20           # tries to place a person clear of the fires

FIRE_CLEARANCE = 1.6           # people kept this many (outer) radii from a fire centre

SAR_FIRE_RADIUS_M = 2.0        # the optional small fire of the SAR scene

SAR_FLAME_DEPTH_FRACTION = 0.5  # its flames at most half its radius deep

WIND_JITTER_DEG = 10.0         # local wind direction spread between fires

# Road scene (right-hand traffic; the road runs along x). Lane 3.5 m, parallel-parking lane
# 2.5 m, sidewalk 2.5 m with a 0.15 m kerb, front yards 9 m (typical urban street).
LANE_WIDTH_M = 3.5

PARKING_WIDTH_M = 2.5

SIDEWALK_WIDTH_M = 2.5

KERB_HEIGHT_M = 0.15

FRONT_YARD_M = 9.0

ROAD_OFFSET_FRACTION = 0.05    # road centre jitter, fraction of the map height

MARKING_WIDTH_M = 0.15         # line width (typical 0.10-0.15 m)

DASH_M = (3.0, 9.0)            # lane divider dash and gap (US 10 ft / 30 ft)

ZEBRA_STRIPE_M = 0.5           # zebra bars 0.5 m, gaps 0.5 m

CROSSWALK_WIDTH_M = 3.0

CROSSWALK_CLEARANCE_M = 3.0    # no vehicles this close to the crosswalk

CROSSWALK_SPAN = (0.1, 0.9)    # crosswalk placed within this part of the map width

MOVING_SLOT_M = 9.0            # vehicle slots along a lane (length + gap), m

PARKING_SLOT_M = 6.0           # parallel-parking bay (typical 5.5-6.5 m)

SLOT_JITTER_M = 1.0

CROSSING_FRACTION = 0.25       # share of pedestrians on the crosswalk

PEDESTRIAN_HEADING_SPREAD_DEG = 15.0

HOUSE_LENGTH_M = (8.0, 15.0)   # footprint along the street

HOUSE_DEPTH_M = (8.0, 12.0)

HOUSE_GAP_M = (3.0, 8.0)

# --------------------------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------------------------

def make_sar_scene(width: int, height: int, gsd_m: float, *, seed: int = 0,
                   time_of_day: str = "day", air_temperature_c: float = 15.0,
                   people: int = 12, animals: int = 6, vehicles: int = 2,
                   fire: bool = False) -> SceneTruth:
    """A UAV search-and-rescue scene: terrain, vegetation, water, a road, people, animals.

    Parameters
    ----------
    width, height : map size, cells.
    gsd_m : ground sample distance, m per cell (altitude * pixel pitch / focal length).
    seed : random seed; the same arguments give the same scene.
    time_of_day : "day" or "night" (sets the surface contrasts).
    air_temperature_c : air temperature, deg C.
    people, animals, vehicles : number of each placed (standing/lying people, deer-sized
        animals, cars on the road).
    fire : add a small burning patch (several hundred deg C; no smoke layer).
    """
    check_args(width, height, gsd_m, time_of_day)
    rng = np.random.default_rng(seed)
    night = time_of_day == "night"
    canvas = Canvas((height, width), gsd_m, rng)
    land_cover(canvas, rng)
    # A road crossing the map: a band around a gently curving line (in cells).
    road_y0 = height * rng.uniform(*SAR_ROAD_BAND)
    road_amp, road_phase = SAR_ROAD_MEANDER * height, rng.uniform(0, 2 * np.pi)

    def road_y(col: NDArray | float) -> NDArray | float:
        return road_y0 + road_amp * np.sin(2 * np.pi * col / width + road_phase)

    road = np.abs(np.arange(height, dtype=np.float32)[:, None]
                  - road_y(np.arange(width, dtype=np.float32))[None, :]) \
        < max(1.0, LANE_WIDTH_M / gsd_m)
    canvas.labels[road] = LABELS["road"]
    canvas.height_m[road] = 0.0
    canvas.fill_ground(air_temperature_c, night)

    w_m, h_m = canvas.size_m
    for _ in range(people):
        posture = "standing" if rng.random() < STANDING_PROBABILITY else "lying"
        margin = 0.5 * PERSON_POSTURES[posture][0]
        spot = (uniform(rng, margin, w_m - margin), uniform(rng, margin, h_m - margin))
        paint_person(canvas, spot, rng.uniform(0, 360), posture, rng.uniform(*PERSON_SURFACE_C))
    for _ in range(animals):
        size = ANIMAL_SIZES_M[rng.integers(len(ANIMAL_SIZES_M))]
        paint_animal(canvas, (uniform(rng, size[0], w_m - size[0]),
                               uniform(rng, size[0], h_m - size[0])),
                      rng.uniform(0, 360), size, rng.uniform(*ANIMAL_SURFACE_C))
    for _ in range(vehicles):
        col = rng.uniform(0, width - 1)
        slope = road_amp * 2 * np.pi / width * np.cos(2 * np.pi * col / width + road_phase)
        heading = math.degrees(math.atan(slope)) + 180.0 * int(rng.integers(2))
        moving = bool(rng.random() < SAR_MOVING_PROBABILITY)
        paint_vehicle(canvas, rng, ((col + 0.5) * gsd_m, (float(road_y(col)) + 0.5) * gsd_m),
                       heading, "car", air_c=air_temperature_c, night=night,
                       warmth=1.0 if moving else 0.0, bare_metal=False,
                       speed_mps=rng.uniform(*VEHICLE_SPEED_MPS) if moving else 0.0)
    if fire:
        r = SAR_FIRE_RADIUS_M
        paint_fire(canvas, rng, (uniform(rng, r, w_m - r), uniform(rng, r, h_m - r)), r,
                    rng.uniform(0, 360), SAR_FLAME_DEPTH_FRACTION * r)
    return canvas.truth(air_temperature_c, air_temperature_c + SKY_OFFSET_K[time_of_day])


def make_road_scene(width: int, height: int, gsd_m: float, *, seed: int = 0,
                    time_of_day: str = "day", air_temperature_c: float = 15.0,
                    lanes: int = 4, moving_vehicles: int = 6, parked_vehicles: int = 6,
                    pedestrians: int = 12, trees: int = 8) -> SceneTruth:
    """A street seen from above (nadir), running along x; right-hand traffic.

    Cross-section from the centre line outwards: travel lanes with dashed dividers and a double
    centre line, parallel-parking lanes behind solid edge lines, raised sidewalks, front yards
    with trees, gable-roofed houses. A zebra crosswalk crosses the travel lanes. Cars, SUVs and
    vans move in the lanes (hot engine bay, warm tyres) or are parked (cold, or recently parked
    and still warm); pedestrians walk on the sidewalks or cross.

    Parameters
    ----------
    width, height : map size, cells.
    gsd_m : ground sample distance, m per cell.
    seed, time_of_day, air_temperature_c : as :func:`make_sar_scene`.
    lanes : travel lanes (half in each direction; the extra one goes down the map).
    moving_vehicles, parked_vehicles, pedestrians, trees : numbers to place (vehicles up to the
        free slots of the lanes that lie on the map; trees per side).
    """
    check_args(width, height, gsd_m, time_of_day)
    if lanes < 1:
        raise ValueError(f"need at least one lane, got {lanes}")
    rng = np.random.default_rng(seed)
    night = time_of_day == "night"
    canvas = Canvas((height, width), gsd_m, rng)
    w_m, h_m = canvas.size_m
    up_lanes, down_lanes = lanes // 2, lanes - lanes // 2
    centre = 0.5 * h_m + rng.uniform(-1.0, 1.0) * ROAD_OFFSET_FRACTION * h_m
    top, bottom = centre - up_lanes * LANE_WIDTH_M, centre + down_lanes * LANE_WIDTH_M
    kerb_top, kerb_bottom = top - PARKING_WIDTH_M, bottom + PARKING_WIDTH_M
    walk_top, walk_bottom = kerb_top - SIDEWALK_WIDTH_M, kerb_bottom + SIDEWALK_WIDTH_M

    # Ground: per-row cross-section, then markings from row x column patterns.
    y = (np.arange(height) + 0.5) * gsd_m
    x = (np.arange(width) + 0.5) * gsd_m
    row_label = np.full(height, LABELS["terrain"], np.uint8)
    row_label[(y >= kerb_top) & (y < kerb_bottom)] = LABELS["road"]
    sidewalk = ((y >= walk_top) & (y < kerb_top)) | ((y >= kerb_bottom) & (y < walk_bottom))
    row_label[sidewalk] = LABELS["sidewalk"]
    canvas.labels[...] = row_label[:, None]
    canvas.height_m[...] = np.where(sidewalk, KERB_HEIGHT_M, 0.0).astype(np.float32)[:, None]

    def line(y0: float) -> NDArray[np.bool_]:
        return np.abs(y - y0) < 0.5 * MARKING_WIDTH_M

    solid = line(top) | line(bottom)
    if up_lanes and down_lanes:
        solid |= line(centre - MARKING_WIDTH_M) | line(centre + MARKING_WIDTH_M)
    dashed = np.zeros(height, bool)
    for k in range(1, up_lanes):
        dashed |= line(centre - k * LANE_WIDTH_M)
    for k in range(1, down_lanes):
        dashed |= line(centre + k * LANE_WIDTH_M)
    dash_on = (x + rng.uniform(0, sum(DASH_M))) % sum(DASH_M) < DASH_M[0]
    crosswalk_x = uniform(rng, CROSSWALK_SPAN[0] * w_m,
                           CROSSWALK_SPAN[1] * w_m - CROSSWALK_WIDTH_M)
    in_crosswalk = (x >= crosswalk_x) & (x < crosswalk_x + CROSSWALK_WIDTH_M)
    zebra = (y >= top) & (y < bottom) & ((y - top) % (2 * ZEBRA_STRIPE_M) < ZEBRA_STRIPE_M)
    marking = (solid[:, None] | (dashed[:, None] & dash_on[None, :])
               | (zebra[:, None] & in_crosswalk[None, :]))
    canvas.labels[marking] = LABELS["lane_marking"]
    canvas.fill_ground(air_temperature_c, night)

    # Houses beyond the front yards, then trees in the yards.
    yard_c = SURFACES["vegetation"][1 if night else 0] + air_temperature_c
    for side, front in ((-1, walk_top - FRONT_YARD_M), (1, walk_bottom + FRONT_YARD_M)):
        x0 = -rng.uniform(0.0, HOUSE_LENGTH_M[1])
        while x0 < w_m:
            length, depth = rng.uniform(*HOUSE_LENGTH_M), rng.uniform(*HOUSE_DEPTH_M)
            paint_house(canvas, rng, (x0 + 0.5 * length, front + side * 0.5 * depth), length,
                         depth, air_c=air_temperature_c, night=night)
            x0 += length + rng.uniform(*HOUSE_GAP_M)
        yard_mid = front - side * 0.5 * FRONT_YARD_M
        for _ in range(trees):
            paint_tree(canvas, rng, (rng.uniform(0.0, w_m), yard_mid), yard_c)

    # Vehicles in slots clear of the crosswalk: parked on both sides, moving in the lanes.
    def slots(y_lane: float, pitch: float, heading: float) -> list[tuple[float, float, float]]:
        longest = max(v[0] for v in VEHICLE_TYPES.values())
        xs = np.arange(0.5 * longest + SLOT_JITTER_M, w_m - 0.5 * longest - SLOT_JITTER_M, pitch)
        clear = np.abs(xs - (crosswalk_x + 0.5 * CROSSWALK_WIDTH_M)) > (
            0.5 * CROSSWALK_WIDTH_M + CROSSWALK_CLEARANCE_M + 0.5 * longest)
        on_map = 0.0 < y_lane < h_m
        return [(float(xx), y_lane, heading) for xx in xs[clear]] if on_map else []

    kinds = list(VEHICLE_TYPES)
    parking = slots(kerb_top + 0.5 * PARKING_WIDTH_M, PARKING_SLOT_M, 180.0) \
        + slots(bottom + 0.5 * PARKING_WIDTH_M, PARKING_SLOT_M, 0.0)
    traffic = [s for k in range(up_lanes)
               for s in slots(centre - (k + 0.5) * LANE_WIDTH_M, MOVING_SLOT_M, 180.0)]
    traffic += [s for k in range(down_lanes)
                for s in slots(centre + (k + 0.5) * LANE_WIDTH_M, MOVING_SLOT_M, 0.0)]
    for pool, count, moving in ((parking, parked_vehicles, False),
                                (traffic, moving_vehicles, True)):
        for i in rng.permutation(len(pool))[:count]:
            sx, sy, heading = pool[i]
            if moving:
                warmth = 1.0
            elif rng.random() < PARKED_WARM_PROBABILITY:
                warmth = rng.uniform(*PARKED_WARMTH)
            else:
                warmth = 0.0
            paint_vehicle(canvas, rng, (sx + rng.uniform(-SLOT_JITTER_M, SLOT_JITTER_M), sy),
                           heading, kinds[rng.integers(len(kinds))], air_c=air_temperature_c,
                           night=night, warmth=warmth, bare_metal=True,
                           speed_mps=rng.uniform(*VEHICLE_SPEED_MPS) if moving else 0.0)

    # Pedestrians: on the sidewalks, some on the crosswalk.
    margin = 0.5 * PERSON_POSTURES["standing"][1]
    for _ in range(pedestrians):
        if rng.random() < CROSSING_FRACTION:
            spot = (rng.uniform(crosswalk_x + margin, crosswalk_x + CROSSWALK_WIDTH_M - margin),
                    rng.uniform(top + margin, bottom - margin))
            heading = 90.0 + 180.0 * int(rng.integers(2))
        else:
            lo = walk_top if rng.random() < 0.5 else kerb_bottom
            spot = (uniform(rng, margin, w_m - margin),
                    rng.uniform(lo + margin, lo + SIDEWALK_WIDTH_M - margin))
            heading = 180.0 * int(rng.integers(2))
        paint_person(canvas, spot, heading + rng.normal(0.0, PEDESTRIAN_HEADING_SPREAD_DEG),
                      "standing", rng.uniform(*PERSON_SURFACE_C))
    return canvas.truth(air_temperature_c, air_temperature_c + SKY_OFFSET_K[time_of_day])

def make_fire_scene(width: int, height: int, gsd_m: float, *, seed: int = 0,
                    time_of_day: str = "day", air_temperature_c: float = 15.0,
                    fires: int = 2, wind_deg: float | None = None, smoke: bool = True,
                    people: int = 2) -> SceneTruth:
    """Terrain and vegetation with fires seen from above, under their smoke plumes.

    Each fire: a burned area stretched downwind, a flaming front (500-900 deg C, label 'fire')
    on its head and flanks, hot burned ground (60-200 deg C, label 'burned') behind it, and a
    smoke plume downwind as the path layer (transmission 0.3..1, smoke air + 20..100 K).

    Parameters
    ----------
    width, height : map size, cells.
    gsd_m : ground sample distance, m per cell.
    seed, time_of_day, air_temperature_c : as :func:`make_sar_scene`.
    fires : number of fires.
    wind_deg : direction the wind blows towards, deg from +x towards +y; None: random.
    smoke : add the smoke layer (``path_transmission``, ``path_temperature_k``).
    people : people placed clear of the fires (evacuees, fire crews).
    """
    check_args(width, height, gsd_m, time_of_day)
    rng = np.random.default_rng(seed)
    night = time_of_day == "night"
    canvas = Canvas((height, width), gsd_m, rng)
    land_cover(canvas, rng, water=False)
    canvas.fill_ground(air_temperature_c, night)
    w_m, h_m = canvas.size_m
    wind = rng.uniform(0.0, 360.0) if wind_deg is None else float(wind_deg)
    max_radius = FIRE_MAX_MAP_FRACTION * min(w_m, h_m)
    placed: list[dict] = []
    for _ in range(fires):
        radius = max(min(rng.uniform(*FIRE_RADIUS_M), max_radius), FIRE_MIN_CELLS * gsd_m)
        centre = (uniform(rng, radius, w_m - radius), uniform(rng, radius, h_m - radius))
        fire = paint_fire(canvas, rng, centre, radius, wind + rng.normal(0.0, WIND_JITTER_DEG),
                           rng.uniform(*FLAME_DEPTH_M))
        if fire is not None:
            placed.append(fire)
    for _ in range(people):
        for _try in range(PLACEMENT_TRIES):
            spot = (rng.uniform(0.0, w_m), rng.uniform(0.0, h_m))
            if all(math.dist(spot, f["centre_m"]) > FIRE_CLEARANCE * f["radius_m"] * (
                    1.0 + HEAD_ELONGATION + 2.0 * PERIMETER_ROUGHNESS) for f in placed):
                paint_person(canvas, spot, rng.uniform(0, 360), "standing",
                              rng.uniform(*PERSON_SURFACE_C))
                break
    path = smoke_layer(canvas.labels.shape, gsd_m, placed, air_temperature_c, rng) \
        if smoke and placed else None
    return canvas.truth(air_temperature_c, air_temperature_c + SKY_OFFSET_K[time_of_day],
                        path=path)


def make_blackbody_scene(width: int, height: int, gsd_m: float, *, seed: int = 0,
                        time_of_day: str = "day", air_temperature_c: float = 15.0,
                        temperature_c: float = 35.0) -> SceneTruth:
    """A uniform blackbody reference filling the view (emissivity 1), for calibration
    sequences (two-point NUC, NETD). ``seed`` and ``time_of_day`` are accepted for a common
    signature and change nothing."""
    if time_of_day not in ("day", "night"):
        raise ValueError(f"time_of_day must be 'day' or 'night', got {time_of_day!r}")
    del seed  # a blackbody is the same for every seed
    shape = (height, width)
    return SceneTruth(
        temperature_k=np.full(shape, temperature_c + zero_Celsius, np.float32),
        emissivity=np.ones(shape, np.float32), labels=np.zeros(shape, np.uint8),
        gsd_m=float(gsd_m), air_temperature_c=float(air_temperature_c),
        sky_temperature_c=float(air_temperature_c), objects=[])


#: Scene builders by name; all take ``(width, height, gsd_m, *, seed, time_of_day,
#: air_temperature_c, ...)``.
SCENE_BUILDERS: dict[str, Callable[..., SceneTruth]] = {
    "uav_sar": make_sar_scene,
    "road": make_road_scene,
    "building": make_building_scene,
    "fire": make_fire_scene,
    "blackbody": make_blackbody_scene,
}


def make_scene(name: str, width: int, height: int, gsd_m: float, **kwargs: Any) -> SceneTruth:
    """Build the scene ``name`` (a key of :data:`SCENE_BUILDERS`) with its keyword arguments."""
    try:
        builder = SCENE_BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown scene {name!r}; valid names: {sorted(SCENE_BUILDERS)}") \
            from None
    return builder(width, height, gsd_m, **kwargs)
