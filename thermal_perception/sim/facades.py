"""A building facade seen head-on, with ground truth: walls, windows, doors, metal and thermal
bridges of a heated building in winter, for inspection (the map is the wall plane).

Temperatures from the indoor and outdoor air through the surface resistances of ASHRAE Handbook
Fundamentals and ISO 6946; emissivities from the Optris and FLIR tables. Values marked
'typical' are plausible choices for testing, not measurements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass
from thermal_perception.sim.canvas import Canvas, check_args
from thermal_perception.sim.truth import LABELS, SceneTruth

# Building facade (the map is the wall plane; ground at the map's bottom edge). Typical
# European residential dimensions.
STOREY_HEIGHT_M = (2.8, 3.3)   # floor to floor

BAY_WIDTH_M = (2.6, 3.6)       # window axis spacing

FACADE_END_MARGIN_M = 1.0

WINDOW_WIDTH_M = (1.0, 1.5)

WINDOW_HEIGHT_M = (1.3, 1.5)

SILL_HEIGHT_M = 0.9            # above the floor

FRAME_WIDTH_M = 0.07

MULLION_MIN_WIDTH_M = 1.2      # wider windows have two leaves (a central mullion)

LINTEL_HEIGHT_M = 0.25

LINTEL_BEARING_M = 0.15        # lintel reaches this far past the opening on each side

SLAB_EDGE_M = 0.25             # floor slab edge band below each floor level

DOOR_SIZE_M = (1.0, 2.1)

RADIATOR_ZONE_M = (0.15, 0.80)  # radiator niche under the sill, above the floor

RADIATOR_NICHE_FRACTION = 0.5

SILL_FLASHING_M = 0.05

SILL_OVERHANG_M = 0.05

GUTTER_M = 0.15

DOWNPIPE_M = 0.10

WINDOW_SPREAD_K = 0.3          # window-to-window glass temperature spread, K

FACADE_TEXTURE_K = {"day": 1.0, "night": 0.2}  # sun and wind make day texture stronger

# Relief towards the viewer, m: reveals of windows and door, protruding sills and gutter.
WINDOW_RELIEF_M = -0.15

FRAME_RELIEF_M = -0.10

DOOR_RELIEF_M = -0.20

SILL_RELIEF_M = 0.05

GUTTER_RELIEF_M = 0.20

DOWNPIPE_RELIEF_M = 0.10

WALL_EMISSIVITY = 0.93         # render/brick (tables: 0.93)

GLASS_EMISSIVITY = 0.84        # float glass outer pane (tables: 0.84-0.92)

FRAME_EMISSIVITY = 0.90        # PVC / painted wood

DOOR_EMISSIVITY = 0.90         # painted wood/steel

FACADE_METAL_EMISSIVITY = (0.1, 0.3)  # aluminium / galvanised steel, bright to weathered

# Outer surface excess over the air from heat flowing out: U * R_se * (T_in - T_out) with
# R_se = 0.04 m^2 K/W (ISO 6946): wall U ~0.6 -> 0.03, double glazing U ~2 -> 0.08, frames
# U ~3 -> 0.12, doors U ~2.5 -> 0.10 W/(m^2 K).
WALL_SURFACE_FACTOR = 0.03

GLASS_SURFACE_FACTOR = 0.08

FRAME_SURFACE_FACTOR = 0.12

DOOR_SURFACE_FACTOR = 0.10

# Thermal bridges (typical, chosen so that a 20 K indoor-outdoor difference gives the 2-6 K
# reported by building thermography), radiator niches (thinner wall, hot radiator) 2-3 K and
# air leaks 3-8 K.
BRIDGE_FACTOR = (0.1, 0.3)

RADIATOR_FACTOR = (0.10, 0.15)

LEAK_FACTOR = (0.15, 0.40)

LEAK_SIGMA_M = (0.15, 0.30)

LEAK_RISE = 2.0                # warm air rises: plume this many times taller than wide

LEAK_LABEL_LEVEL = 0.3         # leak cells above this fraction of the peak are labelled

LEAK_EXTENT_SIGMAS = 3.0       # plume drawn out to this many sigmas

# Offsets from the air by day (sunlit facade) and at night (radiative cooling under a clear
# sky), K (typical). Glass and thin metal follow the air more closely than the wall.
WALL_OFFSET_K = {"day": 8.0, "night": -1.0}

GLASS_OFFSET_FACADE_K = {"day": 3.0, "night": -1.5}

METAL_OFFSET_K = {"day": 2.0, "night": -1.0}

# A vertical wall reflects half sky, half ground: warmer than the zenith sky (typical).
FACADE_REFLECTED_OFFSET_K = {"day": -8.0, "night": -15.0}

def make_building_scene(width: int, height: int, gsd_m: float, *, seed: int = 0,
                        time_of_day: str = "day", air_temperature_c: float = 15.0,
                        indoor_temperature_c: float = 20.0, heat_leaks: int = 3) -> SceneTruth:
    """A building facade seen head-on: the map is the wall plane, ground at its bottom edge.

    Storeys of windows (glass reflecting the cold sky, warmer frames), a door, thermal bridges
    (floor slab edges, window lintels, radiator niches), air leaks at window/door corners, and
    low-emissivity metal (sill flashings, gutter, downpipe) that reflects the surroundings.
    Heat flow scales with ``indoor - air``: a winter night (air 0 deg C, indoor 20 deg C) shows
    bridges 2-6 K warmer than the wall. ``height_m`` is the relief towards the viewer (negative
    in the window and door reveals); ``sky_temperature_c`` the reflected surroundings.

    Parameters
    ----------
    width, height : map size, cells.
    gsd_m : sample distance on the wall, m per cell.
    seed, time_of_day, air_temperature_c : as :func:`make_sar_scene` (day: sunlit facade).
    indoor_temperature_c : heated interior, deg C.
    heat_leaks : number of air leaks at window or door corners (labelled even without heat
        flow: they are defects of the building).
    """
    check_args(width, height, gsd_m, time_of_day)
    rng = np.random.default_rng(seed)
    phase = time_of_day
    canvas = Canvas((height, width), gsd_m, rng)
    w_m, h_m = canvas.size_m
    flow = max(0.0, indoor_temperature_c - air_temperature_c)  # drives the surface excesses

    def surface_c(offset_k: dict[str, float], factor: float) -> float:
        return air_temperature_c + offset_k[phase] + factor * flow

    wall_c = surface_c(WALL_OFFSET_K, WALL_SURFACE_FACTOR)
    texture_k = FACADE_TEXTURE_K[phase]
    canvas.paint(np.ones((height, width), bool), label="wall", temperature_c=wall_c,
                 emissivity=WALL_EMISSIVITY, height_m=0.0, texture_k=texture_k)

    # Layout as 1-D row/column coordinates; 2-D masks are their outer products.
    x = (np.arange(width) + 0.5) * gsd_m
    z = h_m - (np.arange(height) + 0.5) * gsd_m  # height above the ground, m
    storey = rng.uniform(*STOREY_HEIGHT_M)
    n_storeys = int(h_m // storey)
    level = np.floor(z / storey).astype(np.int64)
    zf = z - level * storey  # height above the storey's floor
    in_storey = level < n_storeys
    bay = rng.uniform(*BAY_WIDTH_M)
    n_bays = max(0, int((w_m - 2.0 * FACADE_END_MARGIN_M) // bay))
    x0 = 0.5 * (w_m - n_bays * bay)
    bay_index = np.floor((x - x0) / bay).astype(np.int64)
    in_bay = (bay_index >= 0) & (bay_index < n_bays)
    xb = x - x0 - (bay_index + 0.5) * bay  # from the bay axis
    win_w = min(rng.uniform(*WINDOW_WIDTH_M), bay - 2.0 * LINTEL_BEARING_M)
    win_h = rng.uniform(*WINDOW_HEIGHT_M)
    win_top = SILL_HEIGHT_M + win_h
    door_bay = int(rng.integers(n_bays)) if n_bays and n_storeys else -1
    door_zone = (level == 0)[:, None] & (bay_index == door_bay)[None, :]
    # Per-window values gathered onto the map through (storey, bay) indices.
    li = np.clip(level, 0, max(n_storeys - 1, 0))[:, None]
    bi = np.clip(bay_index, 0, max(n_bays - 1, 0))[None, :]
    shape_w = (max(n_storeys, 1), max(n_bays, 1))

    col_win = in_bay & (np.abs(xb) <= 0.5 * win_w)
    row_win = in_storey & (zf >= SILL_HEIGHT_M) & (zf < win_top)
    bridge_c = wall_c + rng.uniform(*BRIDGE_FACTOR) * flow
    lintel_c = wall_c + rng.uniform(*BRIDGE_FACTOR) * flow
    slab = in_storey & (zf >= storey - SLAB_EDGE_M)
    canvas.paint(np.broadcast_to(slab[:, None], canvas.labels.shape), label="thermal_bridge",
                 temperature_c=bridge_c, emissivity=WALL_EMISSIVITY, height_m=0.0,
                 texture_k=texture_k)
    lintel = ((in_storey & (zf >= win_top) & (zf < win_top + LINTEL_HEIGHT_M))[:, None]
              & (in_bay & (np.abs(xb) <= 0.5 * win_w + LINTEL_BEARING_M))[None, :] & ~door_zone)
    lintel |= (((level == 0) & (zf >= DOOR_SIZE_M[1]) & (zf < DOOR_SIZE_M[1] + LINTEL_HEIGHT_M))
               [:, None] & (np.abs(xb) <= 0.5 * DOOR_SIZE_M[0] + LINTEL_BEARING_M)[None, :]
               & door_zone)
    canvas.paint(lintel, label="thermal_bridge", temperature_c=lintel_c,
                 emissivity=WALL_EMISSIVITY, height_m=0.0, texture_k=texture_k)
    niche_on = rng.random(shape_w) < RADIATOR_NICHE_FRACTION
    niche_c = wall_c + rng.uniform(*RADIATOR_FACTOR, shape_w) * flow
    niche = ((in_storey & (zf >= RADIATOR_ZONE_M[0]) & (zf < RADIATOR_ZONE_M[1]))[:, None]
             & col_win[None, :] & niche_on[li, bi] & ~door_zone)
    canvas.paint(niche, label="thermal_bridge", temperature_c=niche_c[li, bi],
                 emissivity=WALL_EMISSIVITY, height_m=0.0, texture_k=texture_k)

    # Windows: frame band (and a mullion on wide windows) around the glass.
    window = row_win[:, None] & col_win[None, :] & ~door_zone
    col_frame = np.abs(xb) > 0.5 * win_w - FRAME_WIDTH_M
    if win_w >= MULLION_MIN_WIDTH_M:
        col_frame |= np.abs(xb) < 0.5 * FRAME_WIDTH_M
    row_frame = (zf < SILL_HEIGHT_M + FRAME_WIDTH_M) | (zf >= win_top - FRAME_WIDTH_M)
    frame = window & (col_frame[None, :] | row_frame[:, None])
    glass_c = surface_c(GLASS_OFFSET_FACADE_K, GLASS_SURFACE_FACTOR) + rng.normal(
        0.0, WINDOW_SPREAD_K, shape_w)
    canvas.paint(frame, label="window", temperature_c=surface_c(WALL_OFFSET_K,
                                                                FRAME_SURFACE_FACTOR),
                 emissivity=FRAME_EMISSIVITY, height_m=FRAME_RELIEF_M, texture_k=texture_k)
    canvas.paint(window & ~frame, label="window", temperature_c=glass_c[li, bi],
                 emissivity=GLASS_EMISSIVITY, height_m=WINDOW_RELIEF_M)
    door = ((level == 0) & (zf < DOOR_SIZE_M[1]))[:, None] \
        & (np.abs(xb) <= 0.5 * DOOR_SIZE_M[0])[None, :] & door_zone
    door_c = surface_c(WALL_OFFSET_K, DOOR_SURFACE_FACTOR)
    canvas.paint(door, label="door", temperature_c=door_c, emissivity=DOOR_EMISSIVITY,
                 height_m=DOOR_RELIEF_M, texture_k=texture_k)

    # Bare metal: sill flashings, the gutter along the eaves, a downpipe in the end margin.
    metal_c = surface_c(METAL_OFFSET_K, 0.0)
    metal_eps = rng.uniform(*FACADE_METAL_EMISSIVITY)
    sills = ((in_storey & (zf >= SILL_HEIGHT_M - SILL_FLASHING_M) & (zf < SILL_HEIGHT_M))[:, None]
             & (in_bay & (np.abs(xb) <= 0.5 * win_w + SILL_OVERHANG_M))[None, :] & ~door_zone)
    canvas.paint(sills, label="metal", temperature_c=metal_c, emissivity=metal_eps,
                 height_m=SILL_RELIEF_M)
    gutter = z > h_m - GUTTER_M
    pipe_x = 0.5 * x0
    pipe = (np.abs(x - pipe_x) < 0.5 * DOWNPIPE_M) if x0 > DOWNPIPE_M else np.zeros(width, bool)
    canvas.paint(np.broadcast_to(pipe[None, :], canvas.labels.shape) & ~gutter[:, None],
                 label="metal", temperature_c=metal_c, emissivity=metal_eps,
                 height_m=DOWNPIPE_RELIEF_M)
    canvas.paint(np.broadcast_to(gutter[:, None], canvas.labels.shape), label="metal",
                 temperature_c=metal_c, emissivity=metal_eps, height_m=GUTTER_RELIEF_M)
    canvas.add_object("metal", (0.5 * w_m, 0.5 * GUTTER_M), (w_m, GUTTER_M),
                      GUTTER_RELIEF_M, 0.0, metal_c, kind="gutter")
    if pipe.any():
        canvas.add_object("metal", (pipe_x, 0.5 * (h_m + GUTTER_M)), (h_m - GUTTER_M, DOWNPIPE_M),
                          DOWNPIPE_RELIEF_M, 90.0, metal_c, kind="downpipe")

    # Openings as objects (centre, (width, height) on the wall).
    openings: list[tuple[float, float, float]] = []  # (x, y of the top edge, half width)
    for s in range(n_storeys):
        for b in range(n_bays):
            cx = x0 + (b + 0.5) * bay
            if s == 0 and b == door_bay:
                top_y = h_m - DOOR_SIZE_M[1]
                canvas.add_object("door", (cx, h_m - 0.5 * DOOR_SIZE_M[1]), DOOR_SIZE_M,
                                  DOOR_RELIEF_M, 0.0, door_c)
                openings.append((cx, top_y, 0.5 * DOOR_SIZE_M[0]))
                continue
            top_y = h_m - s * storey - win_top
            canvas.add_object("window", (cx, top_y + 0.5 * win_h), (win_w, win_h),
                              WINDOW_RELIEF_M, 0.0, float(glass_c[s, b]), storey=s, bay=b)
            openings.append((cx, top_y, 0.5 * win_w))

    # Air leaks: warm plumes rising from a top corner of an opening.
    for i in rng.permutation(len(openings))[:heat_leaks]:
        cx, top_y, half = openings[i]
        sigma = rng.uniform(*LEAK_SIGMA_M)
        peak = rng.uniform(*LEAK_FACTOR) * flow
        corner = (cx + half * (1 if rng.random() < 0.5 else -1), top_y - LEAK_RISE * sigma)
        win = canvas.window(corner, LEAK_EXTENT_SIGMAS * LEAK_RISE * sigma)
        if win is None:
            continue
        plume = np.exp(-0.5 * ((win.u / sigma) ** 2 + (win.v / (LEAK_RISE * sigma)) ** 2))
        canvas.temperature_c[win.region] += (peak * plume).astype(np.float32)
        labels = canvas.labels[win.region]
        labels[(plume > LEAK_LABEL_LEVEL) & (labels == LABELS["wall"])] = LABELS["thermal_bridge"]
        canvas.add_object("thermal_bridge", corner, (2 * LEAK_RISE * sigma, 2 * sigma), 0.0,
                          90.0, wall_c + peak, kind="heat_leak")
    return canvas.truth(air_temperature_c, air_temperature_c + FACADE_REFLECTED_OFFSET_K[phase],
                        view="facade")
