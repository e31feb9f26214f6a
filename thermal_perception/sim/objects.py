"""Objects of simulated scenes, painted into a :class:`~.canvas.Canvas`: people, animals,
vehicles, fires and smoke, trees and houses.

Temperatures and emissivities (8-14 um) are typical values, documented at each constant.
Sources of the ranges: emissivity tables of the Optris and FLIR application notes; the search-
and-rescue and wildfire thermal imaging literature for people and flames; thermography of cars.
Where a value is marked 'typical' it is a plausible choice for testing, not a measurement.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.constants import zero_Celsius

if TYPE_CHECKING:
    pass
from thermal_perception.sim.canvas import (
    HALF_CELL_DIAGONAL,
    SURFACE_TEXTURE_K,
    SURFACES,
    Canvas,
    smooth_noise,
)

OBJECT_TEXTURE_K = 0.3    # rms texture on people, animals and vehicles, K (typical)

HEAD_EXCESS_K = 1.0

HEAD_RADIUS_M = 0.10

SKIN_EMISSIVITY = 0.98

# Footprint (along the heading, across it) and own height, m: a standing person seen from above
# is the shoulders (~0.3 x 0.5 m) at ~0.82 of the stature (anthropometric typical); a lying one
# is ~1.8 x 0.5 m and ~0.3 m high.
PERSON_POSTURES: dict[str, tuple[float, float, float]] = {
    "standing": (0.3, 0.5, 1.7),
    "lying": (1.8, 0.5, 0.3),
}

SHOULDER_HEIGHT_FRACTION = 0.82

ANIMAL_HEAD_M = (0.3, 0.2)       # head footprint, m

ANIMAL_HEAD_OFFSET = 0.3         # head centre past the body's front end, fraction of its length

FUR_EMISSIVITY = 0.98

# Vehicles: (length, width, height), m, typical European car segments.
VEHICLE_TYPES: dict[str, tuple[float, float, float]] = {
    "car": (4.5, 1.8, 1.45),
    "suv": (4.7, 1.9, 1.70),
    "van": (5.3, 2.0, 2.10),
}

# Top view, as fractions of the length from the front: hood (engine bay) ends, windscreen
# ends, roof ends, rear window ends; the boot is the rest (typical sedan/hatchback proportions).
VEHICLE_PART_ENDS = (0.26, 0.40, 0.80, 0.90)

# Surface height along the length (fraction from the front) as a fraction of the roof height.
VEHICLE_PROFILE_F = (0.0, 0.26, 0.40, 0.80, 0.90, 1.0)

VEHICLE_PROFILE_H = (0.62, 0.68, 1.0, 1.0, 0.75, 0.70)

PILLAR_M = 0.12             # A/C pillars and roof edge beside the glass, m

BUMPER_M = 0.08             # chrome/bare-metal bumper strip seen from above, m

BUMPER_HEIGHT_M = 0.5

ROOF_RAIL_INSET_M = (0.18, 0.25)  # roof rails: band from the body side inwards, m

ROOF_RAIL_PROBABILITY = 0.3

WHEELBASE_FRACTION = 0.6    # wheelbase / length (2.7 m on a 4.5 m car)

TYRE_LENGTH_M = 0.65        # tyre diameter: tread visible beside the wheel arch

TYRE_VISIBLE_M = 0.18       # tread width visible at the body side (slightly oblique views)

TYRE_TOP_M = 0.65

# Engine heat on the hood: a Gaussian around the engine block (~0.7 x 0.9 m) at 13 % of the
# length from the front; the core (gain x profile >= 1) reaches the engine-bay temperature.
ENGINE_CENTRE_FRACTION = 0.13

ENGINE_SIGMA_M = (0.35, 0.45)

ENGINE_CORE_GAIN = 1.5

ENGINE_RUNNING_C = (70.0, 90.0)   # engine bay of a running engine (thermography of cars)

TYRE_RUNNING_C = (35.0, 45.0)     # tyres of a car in traffic

TYRE_SHADE_OFFSET_K = {"day": 3.0, "night": 0.0}  # tyres of a cold car: shaded, near air

# Painted body: sunlit +5..20 K by day (darker colours hotter), radiative cooling to the clear
# sky -3..-1 K at night (dew/frost on roofs). Glass: less absorbed sun, more sky cooling.
BODY_OFFSET_K = {"day": (5.0, 20.0), "night": (-3.0, -1.0)}

GLASS_OFFSET_K = {"day": (2.0, 8.0), "night": (-4.0, -2.0)}

PAINT_EMISSIVITY = 0.90           # automotive paint (tables: 0.90-0.95)

VEHICLE_GLASS_EMISSIVITY = 0.85   # glass (Optris table: 0.85)

RUBBER_EMISSIVITY = 0.95          # tyres (tables: 0.95)

BARE_METAL_EMISSIVITY = (0.1, 0.3)  # chrome/aluminium trim: polished ~0.1, weathered ~0.3

# Fires. Flame cores 500-900 deg C in LWIR (wildfire thermography; luminous flames are hotter
# but not opaque), flame depth 1-3 m and height 1-3 m for surface fires (typical), emissivity
# ~0.9 of a deep sooty flame. Hot burned ground 60-200 deg C behind the front, cooling with the
# time since burning (here: the distance behind the active front); charred ground ~0.95.
FLAME_C = (500.0, 900.0)

FLAME_TEXTURE = 0.25           # flame temperature texture, fraction of the flame range

FLAME_MIN_CELLS = 1.5          # flame band at least this many cells deep (coarse maps)

FLAME_HEIGHT_M = (1.0, 3.0)

FLAME_EMISSIVITY = 0.90

FLANK_COS = -0.3               # flames on the head and flanks; the upwind back has burnt out

BURNED_C = (60.0, 200.0)

BURNED_TEXTURE_K = 3.0

BURNED_COOLING_M = 5.0         # e-folding distance of the burned-ground excess, m (typical)

CHAR_EMISSIVITY = 0.95         # char/ash (tables: carbon 0.8-0.96)

HEAD_ELONGATION = 0.3          # burned area stretched downwind (fires run with the wind)

PERIMETER_ROUGHNESS = 0.15     # irregularity of the perimeter, fraction of the radius

PERIMETER_HARMONICS = range(2, 6)  # its angular harmonics (2 to 5 bumps round the fire)

# Smoke plume, as an absorbing/emitting layer: LWIR penetrates smoke far better than visible
# light; a dense plume near the source transmits ~0.3 (typical), thinning downwind as it
# spreads (Gaussian plume, half-angle ~12 deg). The smoke is air + 20..100 K, hottest near
# the fire, cooling by mixing over tens of metres.
SMOKE_MIN_TRANSMISSION = 0.3

SMOKE_SPREAD_DEG = 12.0

SMOKE_SOURCE_OFFSET = 0.7      # plume source downwind of the fire centre, fraction of radius

SMOKE_SOURCE_WIDTH = 0.5       # plume sigma at the source, fraction of the fire radius

SMOKE_EXCESS_K = (20.0, 100.0)

SMOKE_COOLING_M = 40.0

SMOKE_TURBULENCE = 0.3         # relative rms of the optical depth (puffs)

SMOKE_GRID_M = 1.0             # smoke is smooth: computed on a grid of this spacing, m

SMOKE_PUFF_CELLS = 4.0         # puff size, smoke-grid cells (a few metres)

TREE_CROWN_RADIUS_M = (2.0, 3.5)

TREE_HEIGHT_M = (5.0, 10.0)

CROWN_BASE_FRACTION = 0.6      # crown edge at this fraction of the tree height

CROWN_LOBES = 0.15             # irregularity of the crown outline, fraction of the radius

CROWN_LOBE_COUNT = (3, 7)      # lobes round a crown (upper bound exclusive)

EAVE_HEIGHT_M = (5.0, 7.0)     # two storeys

RIDGE_RISE_M = (2.0, 3.0)      # gable roof ridge above the eaves

# Roofs: dark roofing in sun +15..25 K; at night radiative cooling 3..6 K below air under a
# clear sky (typical); tiles/felt emissivity ~0.9.
ROOF_OFFSET_K = {"day": (15.0, 25.0), "night": (-6.0, -3.0)}

ROOF_EMISSIVITY = 0.90

# --------------------------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------------------------

def paint_person(canvas: Canvas, centre_m: tuple[float, float], heading_deg: float,
                  posture: str, temperature_c: float) -> dict | None:
    """A person seen from above: clothing ellipse and a warmer head."""
    length, width, stature = PERSON_POSTURES[posture]
    win = canvas.window(centre_m, 0.5 * max(length, width) + canvas.gsd_m, heading_deg)
    if win is None:
        return None
    base = canvas.ground_height(centre_m)
    body = win.ellipse(length, width, canvas.gsd_m)
    head_u = 0.0 if posture == "standing" else 0.5 * length - HEAD_RADIUS_M
    head = win.ellipse(2 * HEAD_RADIUS_M, 2 * HEAD_RADIUS_M, canvas.gsd_m, u0=head_u) & body
    body_height = stature * (SHOULDER_HEIGHT_FRACTION if posture == "standing" else 1.0)
    canvas.paint(body, label="person", temperature_c=np.where(
        head, temperature_c + HEAD_EXCESS_K, temperature_c), emissivity=SKIN_EMISSIVITY,
        height_m=np.where(head, base + stature, base + body_height), texture_k=OBJECT_TEXTURE_K,
        window=win)
    return canvas.add_object("person", centre_m, (length, width), stature, heading_deg,
                             temperature_c, posture=posture)


def paint_animal(canvas: Canvas, centre_m: tuple[float, float], heading_deg: float,
                  size_m: tuple[float, float, float], temperature_c: float) -> dict | None:
    """A quadruped seen from above: body ellipse and a head ahead of it."""
    length, width, height = size_m
    head_l, head_w = ANIMAL_HEAD_M
    win = canvas.window(centre_m, 0.5 * length + head_l + canvas.gsd_m, heading_deg)
    if win is None:
        return None
    base = canvas.ground_height(centre_m)
    body = win.ellipse(length, width, canvas.gsd_m)
    head_u = 0.5 * length + ANIMAL_HEAD_OFFSET * head_l
    head = win.ellipse(head_l, head_w, canvas.gsd_m, u0=head_u) & ~body
    canvas.paint(body | head, label="animal", temperature_c=temperature_c,
                 emissivity=FUR_EMISSIVITY, height_m=base + height, texture_k=OBJECT_TEXTURE_K,
                 window=win)
    return canvas.add_object("animal", centre_m, (length + head_l, width), height, heading_deg,
                             temperature_c)


def paint_vehicle(canvas: Canvas, rng: np.random.Generator, centre_m: tuple[float, float],
                   heading_deg: float, kind: str, *, air_c: float, night: bool, warmth: float,
                   bare_metal: bool, speed_mps: float = 0.0) -> dict | None:
    """A vehicle seen from above, front towards ``heading_deg``.

    Parts: painted body, windscreen and rear window, the hood over the engine, tyre treads at
    the wheel arches and (if ``bare_metal``) bumper strips and roof rails of bare metal.
    ``warmth`` is the fraction of the running engine/tyre excess left: 1 moving, 0 cold.
    """
    length, width, height = VEHICLE_TYPES[kind]
    phase = "night" if night else "day"
    win = canvas.window(centre_m, 0.5 * math.hypot(length, width) + canvas.gsd_m, heading_deg)
    if win is None:
        return None
    u, v = win.u, win.v
    body = (np.abs(u) <= 0.5 * length) & (np.abs(v) <= 0.5 * width)
    body |= np.hypot(u, v) <= HALF_CELL_DIAGONAL * canvas.gsd_m
    f = (0.5 * length - u) / length  # 0 at the front, 1 at the rear
    hood_end, screen_end, roof_end, rear_end = VEHICLE_PART_ENDS

    body_c = air_c + rng.uniform(*BODY_OFFSET_K[phase])
    glass_c = air_c + rng.uniform(*GLASS_OFFSET_K[phase])
    engine_c = body_c + warmth * (rng.uniform(*ENGINE_RUNNING_C) - body_c)
    cold_tyre_c = air_c + TYRE_SHADE_OFFSET_K[phase]
    tyre_c = cold_tyre_c + warmth * (rng.uniform(*TYRE_RUNNING_C) - cold_tyre_c)

    engine = np.exp(-0.5 * (((f - ENGINE_CENTRE_FRACTION) * length / ENGINE_SIGMA_M[0]) ** 2
                            + (v / ENGINE_SIGMA_M[1]) ** 2))
    hood = f < hood_end
    temperature = body_c + np.where(
        hood, (engine_c - body_c) * np.minimum(ENGINE_CORE_GAIN * engine, 1.0), 0.0)
    emissivity = np.full(u.shape, PAINT_EMISSIVITY, np.float32)
    surface = height * np.interp(f, VEHICLE_PROFILE_F, VEHICLE_PROFILE_H)

    inner = np.abs(v) <= 0.5 * width - PILLAR_M
    glass = inner & (((f >= hood_end) & (f < screen_end)) | ((f >= roof_end) & (f < rear_end)))
    temperature = np.where(glass, glass_c, temperature)
    emissivity[glass] = VEHICLE_GLASS_EMISSIVITY

    wheel_u = 0.5 * WHEELBASE_FRACTION * length
    tyres = ((np.abs(np.abs(u) - wheel_u) <= 0.5 * TYRE_LENGTH_M)
             & (np.abs(v) >= 0.5 * width - TYRE_VISIBLE_M))
    temperature = np.where(tyres, tyre_c, temperature)
    emissivity[tyres] = RUBBER_EMISSIVITY
    surface = np.where(tyres, TYRE_TOP_M, surface)

    metal_eps = rng.uniform(*BARE_METAL_EMISSIVITY)
    rails = bool(rng.random() < ROOF_RAIL_PROBABILITY)
    if bare_metal:
        bumpers = np.abs(u) >= 0.5 * length - BUMPER_M
        emissivity[bumpers] = metal_eps
        surface = np.where(bumpers, BUMPER_HEIGHT_M, surface)
        if rails:
            rail = ((np.abs(v) >= 0.5 * width - ROOF_RAIL_INSET_M[1])
                    & (np.abs(v) <= 0.5 * width - ROOF_RAIL_INSET_M[0])
                    & (f >= screen_end) & (f < roof_end))
            emissivity[rail] = metal_eps
    canvas.paint(body, label="vehicle", temperature_c=temperature, emissivity=emissivity,
                 height_m=surface, texture_k=OBJECT_TEXTURE_K, window=win)
    return canvas.add_object(
        "vehicle", centre_m, (length, width), height, heading_deg, body_c, kind=kind,
        engine_temperature_c=float(engine_c), tyre_temperature_c=float(tyre_c),
        moving=speed_mps > 0, speed_mps=float(speed_mps))


def paint_fire(canvas: Canvas, rng: np.random.Generator, centre_m: tuple[float, float],
                radius_m: float, wind_deg: float, flame_depth_m: float) -> dict | None:
    """A fire seen from above: burned area stretched downwind, a flaming front on its head and
    flanks, hot burned ground behind it. Returns the fire object (with its smoke source)."""
    outer = radius_m * (1.0 + HEAD_ELONGATION + 2.0 * PERIMETER_ROUGHNESS)
    win = canvas.window(centre_m, outer + canvas.gsd_m, wind_deg)
    if win is None:
        return None
    u, v = win.u, win.v
    theta = np.arctan2(v, u)  # 0 downwind
    cos_t = np.cos(theta)
    boundary = radius_m * (1.0 + HEAD_ELONGATION * cos_t)
    for k in PERIMETER_HARMONICS:
        boundary = boundary + radius_m * PERIMETER_ROUGHNESS / k * np.cos(
            k * theta + rng.uniform(0.0, 2.0 * np.pi))
    depth = boundary - np.hypot(u, v)  # m behind the perimeter
    burned = depth > 0
    band = max(flame_depth_m, FLAME_MIN_CELLS * canvas.gsd_m)
    flames = burned & (depth < band) & (cos_t > FLANK_COS)
    if not flames.any():
        return None
    tex = canvas.texture[win.region]
    # Time since burning ~ distance behind the active front; the upwind back burnt first.
    age_m = depth + 0.5 * radius_m * (1.0 - cos_t)
    burned_c = np.clip(BURNED_C[0] + (BURNED_C[1] - BURNED_C[0]) * np.exp(-age_m / BURNED_COOLING_M)
                       + BURNED_TEXTURE_K * tex, *BURNED_C)
    canvas.paint(burned & ~flames, label="burned", temperature_c=burned_c,
                 emissivity=CHAR_EMISSIVITY, height_m=0.0, window=win)
    core = 1.0 - np.abs(2.0 * depth / band - 1.0)  # 1 mid-band, 0 at its edges
    peak_c = rng.uniform(*FLAME_C)
    strength = np.clip(core + FLAME_TEXTURE * tex, 0.0, 1.0)
    canvas.paint(flames, label="fire", temperature_c=FLAME_C[0] + (peak_c - FLAME_C[0]) * strength,
                 emissivity=FLAME_EMISSIVITY,
                 height_m=FLAME_HEIGHT_M[0] + (FLAME_HEIGHT_M[1] - FLAME_HEIGHT_M[0]) * strength,
                 window=win)
    a = math.radians(wind_deg)
    source = (centre_m[0] + SMOKE_SOURCE_OFFSET * radius_m * math.cos(a),
              centre_m[1] + SMOKE_SOURCE_OFFSET * radius_m * math.sin(a))
    return canvas.add_object(
        "fire", centre_m, (2.0 * radius_m * (1.0 + HEAD_ELONGATION), 2.0 * radius_m),
        FLAME_HEIGHT_M[1], wind_deg, peak_c, radius_m=float(radius_m),
        flame_depth_m=float(band), smoke_source_m=source)


def paint_tree(canvas: Canvas, rng: np.random.Generator, centre_m: tuple[float, float],
                temperature_c: float) -> dict | None:
    """A tree crown seen from above: lobed outline, dome-shaped canopy height."""
    radius = rng.uniform(*TREE_CROWN_RADIUS_M)
    top = rng.uniform(*TREE_HEIGHT_M)
    win = canvas.window(centre_m, radius * (1.0 + CROWN_LOBES) + canvas.gsd_m)
    if win is None:
        return None
    theta = np.arctan2(win.v, win.u)
    lobes = int(rng.integers(*CROWN_LOBE_COUNT))
    rim = radius * (1.0 + CROWN_LOBES * np.cos(lobes * theta + rng.uniform(0.0, 2.0 * np.pi)))
    rho = np.hypot(win.u, win.v) / rim
    crown = rho <= 1.0
    dome = CROWN_BASE_FRACTION + (1.0 - CROWN_BASE_FRACTION) * np.sqrt(
        np.clip(1.0 - rho**2, 0.0, 1.0))
    canvas.paint(crown, label="vegetation", temperature_c=temperature_c,
                 emissivity=SURFACES["vegetation"][2], height_m=top * dome,
                 texture_k=SURFACE_TEXTURE_K, window=win)
    return canvas.add_object("vegetation", centre_m, (2 * radius, 2 * radius), top, 0.0,
                             temperature_c, kind="tree")


def paint_house(canvas: Canvas, rng: np.random.Generator, centre_m: tuple[float, float],
                 length_m: float, depth_m: float, *, air_c: float, night: bool) -> dict | None:
    """A house seen from above: a gable roof with its ridge along x."""
    eave = rng.uniform(*EAVE_HEIGHT_M)
    ridge = eave + rng.uniform(*RIDGE_RISE_M)
    roof_c = air_c + rng.uniform(*ROOF_OFFSET_K["night" if night else "day"])
    win = canvas.window(centre_m, 0.5 * max(length_m, depth_m) + canvas.gsd_m)
    if win is None:
        return None
    footprint = (np.abs(win.u) <= 0.5 * length_m) & (np.abs(win.v) <= 0.5 * depth_m)
    slope = 1.0 - np.abs(win.v) / (0.5 * depth_m)
    canvas.paint(footprint, label="roof", temperature_c=roof_c, emissivity=ROOF_EMISSIVITY,
                 height_m=eave + (ridge - eave) * slope, texture_k=SURFACE_TEXTURE_K,
                 window=win)
    return canvas.add_object("roof", centre_m, (length_m, depth_m), ridge, 0.0, roof_c,
                             kind="house")


def smoke_layer(shape: tuple[int, int], gsd_m: float, fires: list[dict], air_c: float,
                 rng: np.random.Generator) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Transmission and temperature (K) of the smoke plumes of ``fires`` (Gaussian plumes
    downwind of each source, with turbulent puffs), computed on a coarse grid and upsampled."""
    h, w = shape
    step = max(1, int(SMOKE_GRID_M / gsd_m))
    ch, cw = max(2, math.ceil(h / step)), max(2, math.ceil(w / step))
    # Coarse node centres in metres, matching cv2.resize's pixel-centre alignment.
    xs = ((np.arange(cw) + 0.5) * (w / cw) * gsd_m)[None, :]
    ys = ((np.arange(ch) + 0.5) * (h / ch) * gsd_m)[:, None]
    depth = np.zeros((ch, cw))
    heat = np.zeros((ch, cw))
    max_depth = -math.log(SMOKE_MIN_TRANSMISSION)
    spread = math.tan(math.radians(SMOKE_SPREAD_DEG))
    for fire in fires:
        sx, sy = fire["smoke_source_m"]
        a = math.radians(fire["heading_deg"])
        s = (xs - sx) * math.cos(a) + (ys - sy) * math.sin(a)  # downwind distance, m
        n = (ys - sy) * math.cos(a) - (xs - sx) * math.sin(a)  # crosswind distance, m
        sigma0 = max(SMOKE_SOURCE_WIDTH * fire["radius_m"], gsd_m)
        sigma = sigma0 + np.maximum(s, 0.0) * spread
        upwind = np.exp(-0.5 * (np.minimum(s, 0.0) / sigma0) ** 2)
        d = max_depth * (sigma0 / sigma) * np.exp(-0.5 * (n / sigma) ** 2) * upwind
        excess = SMOKE_EXCESS_K[0] + (SMOKE_EXCESS_K[1] - SMOKE_EXCESS_K[0]) * np.exp(
            -np.maximum(s, 0.0) / SMOKE_COOLING_M)
        depth += d
        heat += d * excess
    puffs = np.maximum(1.0 + SMOKE_TURBULENCE * smooth_noise(rng, (ch, cw), SMOKE_PUFF_CELLS), 0.0)
    depth *= puffs
    heat *= puffs
    transmission = np.exp(-np.minimum(depth, max_depth)).astype(np.float32)
    excess = np.divide(heat, depth, out=np.zeros_like(depth), where=depth > 0)
    temperature = (air_c + zero_Celsius + excess).astype(np.float32)
    return (cv2.resize(transmission, (w, h), interpolation=cv2.INTER_LINEAR),
            cv2.resize(temperature, (w, h), interpolation=cv2.INTER_LINEAR))
