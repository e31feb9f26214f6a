"""Procedural scenes with ground truth: temperature, emissivity, class label and geometry per cell.

A scene is a map of a plane at a given sample distance (GSD, m per cell): the ground seen from
above (UAV search and rescue, road, fire) or a building facade seen head-on (the map is the wall
plane). Coordinates are metres from the map's top-left corner, x right and y down; cell
(col, row) covers ``[col, col + 1) * gsd_m`` by ``[row, row + 1) * gsd_m``, so the continuous cell
coordinates of :meth:`SceneTruth.world_to_cell` follow the OpenCV convention (integer
coordinates at cell centres). Headings are degrees from +x towards +y (clockwise on the map as
displayed).

Temperatures and emissivities (8-14 um) are typical values, documented at each constant. Sources
of the ranges: emissivity tables of the Optris and FLIR application notes; ASHRAE Handbook
Fundamentals and ISO 6946 (surface resistances) for building envelopes; Rees, "Physical
Principles of Remote Sensing", for natural surface temperatures; the search-and-rescue and
wildfire thermal imaging literature for people and flames. Where a value is marked 'typical' it
is a plausible choice for testing, not a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.constants import zero_Celsius

if TYPE_CHECKING:
    from thermal_perception.core.physics import BandRadianceTable

# Class labels of the truth maps. Values of the first eight are fixed (stored data and other
# modules use them); new classes are appended with new values.
LABELS: dict[str, int] = {
    "terrain": 0,
    "vegetation": 1,
    "water": 2,
    "road": 3,
    "person": 4,
    "animal": 5,
    "vehicle": 6,
    "fire": 7,
    "wall": 8,
    "window": 9,           # glass and its frame
    "metal": 10,           # low-emissivity building metal: flashings, gutters, downpipes
    "thermal_bridge": 11,  # slab edges, lintels, radiator niches, air leaks
    "burned": 12,          # hot burned ground behind a fire front
    "door": 13,
    "sidewalk": 14,
    "lane_marking": 15,
    "roof": 16,            # building roofs seen from above
}

#: Views of a scene: "nadir" (map = ground plane, height_m up from it) or "facade" (map = wall
#: plane, height_m = relief towards the viewer, negative in recesses).
VIEWS = ("nadir", "facade")

# Surface temperature offsets from the air temperature, K, and emissivities (8-14 um).
# (offset_day, offset_night, emissivity)
SURFACES: dict[str, tuple[float, float, float]] = {
    "terrain": (6.0, -3.0, 0.95),     # bare soil / grass: warmer than air by day
    "vegetation": (1.0, -1.5, 0.98),  # transpiring canopy stays near air temperature
    "water": (-2.0, 2.0, 0.98),       # lags the air: cooler by day, warmer at night
    "road": (14.0, 2.0, 0.93),        # asphalt stores heat; tables give 0.93-0.96
    "sidewalk": (10.0, 1.0, 0.92),    # concrete paving, lighter than asphalt (tables: 0.92-0.95)
    # White road paint reflects more sunlight than asphalt (albedo ~0.5 vs ~0.1), so it runs
    # ~6 K cooler by day and like asphalt at night; paint emissivity ~0.90 (typical).
    "lane_marking": (8.0, 2.0, 0.90),
}
SURFACE_TEXTURE_K = 1.2   # rms of the fine temperature texture of land surfaces, K (typical)
WATER_TEXTURE_K = 0.3     # water mixes: weaker texture, K (typical)
OBJECT_TEXTURE_K = 0.3    # rms texture on people, animals and vehicles, K (typical)
TEXTURE_SCALE_M = 0.5     # correlation length of that texture, m (typical)
# Apparent clear-sky temperature (8-14 um) reflected by horizontal surfaces, offset from the
# air temperature, K: the window band sees a cold sky (typical -15 K by day, -20 K at night).
SKY_OFFSET_K = {"day": -15.0, "night": -20.0}

# Land cover (SAR and fire scenes): thresholds in units of the std of unit random fields.
LAND_COVER_SCALE_M = 15.0      # patches tens of metres across (typical rural mosaic)
VEGETATION_THRESHOLD = 0.6     # ~27 % of the area vegetated
WATER_THRESHOLD = 1.3          # ~10 % of the area water (on a field of twice the scale)
CANOPY_HEIGHT_M = (3.0, 10.0)  # shrubs at patch edges to trees in patch cores (typical)
CANOPY_RISE = 1.5              # cover-field units from a patch edge to full canopy height
# SAR road: a two-lane country road (half width one lane) along a gentle curve across the
# map, its centre line in this band of the map height, meandering by this fraction of it.
SAR_ROAD_BAND = (0.3, 0.7)
SAR_ROAD_MEANDER = 0.08
STANDING_PROBABILITY = 0.5     # SAR people standing (else lying)
SAR_MOVING_PROBABILITY = 0.5   # SAR vehicles driving (else parked, cold)

# People and animals. Clothed/skin apparent surface 30-34 deg C in mild weather (SAR thermal
# imaging literature); the head (skin/hair) ~1 K warmer than clothing. Skin emissivity 0.98.
PERSON_SURFACE_C = (30.0, 34.0)
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
ANIMAL_SURFACE_C = (28.0, 35.0)  # fur-covered mammals (insulating coat: cooler than skin)
# Deer (1.6 x 0.5 m, shoulder ~1.0 m) and boar / large dog (1.0 x 0.4 m, ~0.8 m), typical.
ANIMAL_SIZES_M = ((1.6, 0.5, 1.0), (1.0, 0.4, 0.8))
ANIMAL_HEAD_M = (0.3, 0.2)       # head footprint, m
ANIMAL_HEAD_OFFSET = 0.3         # head centre past the body's front end, fraction of its length
FUR_EMISSIVITY = 0.98
# A cell that holds the centre of a sub-cell object is still marked: centre-to-cell-centre
# distance is at most half the cell diagonal.
HALF_CELL_DIAGONAL = math.sqrt(0.5)

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
VEHICLE_SPEED_MPS = (8.0, 14.0)   # urban traffic, 30-50 km/h
PARKED_WARM_PROBABILITY = 0.4     # share of parked cars that arrived recently
PARKED_WARMTH = (0.3, 0.7)        # their engine/tyre heat left, fraction of running excess

# Fires. Flame cores 500-900 deg C in LWIR (wildfire thermography; luminous flames are hotter
# but not opaque), flame depth 1-3 m and height 1-3 m for surface fires (typical), emissivity
# ~0.9 of a deep sooty flame. Hot burned ground 60-200 deg C behind the front, cooling with the
# time since burning (here: the distance behind the active front); charred ground ~0.95.
FLAME_C = (500.0, 900.0)
FLAME_TEXTURE = 0.25           # flame temperature texture, fraction of the flame range
FLAME_DEPTH_M = (1.0, 3.0)
FLAME_MIN_CELLS = 1.5          # flame band at least this many cells deep (coarse maps)
FLAME_HEIGHT_M = (1.0, 3.0)
FLAME_EMISSIVITY = 0.90
FLANK_COS = -0.3               # flames on the head and flanks; the upwind back has burnt out
BURNED_C = (60.0, 200.0)
BURNED_TEXTURE_K = 3.0
BURNED_COOLING_M = 5.0         # e-folding distance of the burned-ground excess, m (typical)
CHAR_EMISSIVITY = 0.95         # char/ash (tables: carbon 0.8-0.96)
FIRE_RADIUS_M = (6.0, 20.0)    # burned area radius of an active fire (typical, small fires)
FIRE_MAX_MAP_FRACTION = 0.25   # radius at most this fraction of the smaller map side
HEAD_ELONGATION = 0.3          # burned area stretched downwind (fires run with the wind)
PERIMETER_ROUGHNESS = 0.15     # irregularity of the perimeter, fraction of the radius
PERIMETER_HARMONICS = range(2, 6)  # its angular harmonics (2 to 5 bumps round the fire)
FIRE_MIN_CELLS = 4.0           # a fire at least this many cells in radius (coarse maps)
PLACEMENT_TRIES = 20           # tries to place a person clear of the fires
FIRE_CLEARANCE = 1.6           # people kept this many (outer) radii from a fire centre
SAR_FIRE_RADIUS_M = 2.0        # the optional small fire of the SAR scene
SAR_FLAME_DEPTH_FRACTION = 0.5  # its flames at most half its radius deep
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
TREE_CROWN_RADIUS_M = (2.0, 3.5)
TREE_HEIGHT_M = (5.0, 10.0)
CROWN_BASE_FRACTION = 0.6      # crown edge at this fraction of the tree height
CROWN_LOBES = 0.15             # irregularity of the crown outline, fraction of the radius
CROWN_LOBE_COUNT = (3, 7)      # lobes round a crown (upper bound exclusive)
HOUSE_LENGTH_M = (8.0, 15.0)   # footprint along the street
HOUSE_DEPTH_M = (8.0, 12.0)
HOUSE_GAP_M = (3.0, 8.0)
EAVE_HEIGHT_M = (5.0, 7.0)     # two storeys
RIDGE_RISE_M = (2.0, 3.0)      # gable roof ridge above the eaves
# Roofs: dark roofing in sun +15..25 K; at night radiative cooling 3..6 K below air under a
# clear sky (typical); tiles/felt emissivity ~0.9.
ROOF_OFFSET_K = {"day": (15.0, 25.0), "night": (-6.0, -3.0)}
ROOF_EMISSIVITY = 0.90

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


@dataclass
class SceneTruth:
    """Ground truth of a scene.

    Attributes
    ----------
    temperature_k : (H, W) float32, K, kinetic surface temperature.
    emissivity : (H, W) float32, 0..1 (8-14 um).
    labels : (H, W) uint8, values of :data:`LABELS`.
    gsd_m : sample distance, m per cell.
    air_temperature_c : air temperature, deg C.
    sky_temperature_c : apparent temperature of the surroundings reflected by the surfaces
        (the sky for nadir views), deg C.
    objects : placed objects, dicts with at least ``label``, ``centre_m`` (x, y) m from the
        top-left corner, ``centre_px`` (x, y) continuous cell coordinates, ``size_m`` (length
        along the heading, width across) m, ``height_m`` the object's own height m,
        ``heading_deg`` and ``temperature_c``.
    height_m : (H, W) float32, m, surface height above the ground plane (nadir view) or relief
        towards the viewer (facade view); zeros if not given.
    path_transmission : (H, W) float32 or None, transmission 0..1 of a layer (smoke) between the
        scene and the camera; None: no layer.
    path_temperature_k : (H, W) float32 or None, K, temperature of that layer.
    view : "nadir" or "facade", see :data:`VIEWS`.
    """

    temperature_k: NDArray[np.float32]
    emissivity: NDArray[np.float32]
    labels: NDArray[np.uint8]
    gsd_m: float
    air_temperature_c: float
    sky_temperature_c: float
    objects: list[dict] = field(default_factory=list)
    height_m: NDArray[np.float32] = field(default=None)  # type: ignore[assignment]
    path_transmission: NDArray[np.float32] | None = None
    path_temperature_k: NDArray[np.float32] | None = None
    view: str = "nadir"

    def __post_init__(self) -> None:
        shape = self.labels.shape
        if self.height_m is None:
            self.height_m = np.zeros(shape, np.float32)
        if (self.path_transmission is None) != (self.path_temperature_k is None):
            raise ValueError("give path_transmission and path_temperature_k together")
        maps = (self.temperature_k, self.emissivity, self.height_m, self.path_transmission,
                self.path_temperature_k)
        if any(m is not None and m.shape != shape for m in maps):
            raise ValueError(f"all maps must have the shape of labels {shape}")
        if self.gsd_m <= 0:
            raise ValueError(f"gsd_m must be > 0, got {self.gsd_m}")
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {self.view!r}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape  # type: ignore[return-value]

    def world_to_cell(self, x_m: ArrayLike, y_m: ArrayLike
                      ) -> tuple[NDArray | float, NDArray | float]:
        """Continuous cell coordinates (col, row) of a point at (x_m, y_m), m.

        Integer coordinates are cell centres (OpenCV convention): the point lies in cell
        ``(round(col), round(row))``.
        """
        col = np.asarray(x_m, np.float64) / self.gsd_m - 0.5
        row = np.asarray(y_m, np.float64) / self.gsd_m - 0.5
        return _scalar(col), _scalar(row)

    def cell_to_world(self, col: ArrayLike, row: ArrayLike
                      ) -> tuple[NDArray | float, NDArray | float]:
        """Point (x, y), m from the top-left corner, at continuous cell coordinates (col, row)."""
        x = (np.asarray(col, np.float64) + 0.5) * self.gsd_m
        y = (np.asarray(row, np.float64) + 0.5) * self.gsd_m
        return _scalar(x), _scalar(y)

    def leaving_radiance(self, table: BandRadianceTable) -> NDArray[np.float32]:
        """Band radiance leaving the scene towards the camera, before the atmosphere, W/(m^2 sr).

        ``eps B(T) + (1 - eps) B(T_sky)``, then through the path layer if there is one:
        ``tau L + (1 - tau) B(T_path)``. ``table`` gives the band radiance ``B`` (anything
        with ``radiance(temperature_k)``).
        """
        eps = self.emissivity.astype(np.float64)
        sky = float(table.radiance(self.sky_temperature_c + zero_Celsius))
        radiance = eps * table.radiance(self.temperature_k.astype(np.float64)) + (1.0 - eps) * sky
        if self.path_transmission is not None and self.path_temperature_k is not None:
            tau = self.path_transmission.astype(np.float64)
            radiance = tau * radiance + (1.0 - tau) * table.radiance(
                self.path_temperature_k.astype(np.float64))
        return np.asarray(radiance, np.float32)


def _scalar(x: NDArray) -> NDArray | float:
    return float(x) if x.ndim == 0 else x


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float
                  ) -> NDArray[np.float32]:
    """Zero-mean, unit-std random field with correlation length ``scale_px``.

    Large scales are drawn on a coarse grid and upsampled (bicubic), so the cost does not grow
    with the correlation length.
    """
    factor = max(1.0, scale_px / 4.0)
    coarse = shape if factor == 1.0 else (max(4, int(np.ceil(shape[0] / factor)) + 2),
                                          max(4, int(np.ceil(shape[1] / factor)) + 2))
    noise = rng.standard_normal(coarse, dtype=np.float32)
    sigma = max(scale_px / factor, 0.5)
    noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=sigma, sigmaY=sigma,
                             borderType=cv2.BORDER_REFLECT)
    if factor > 1.0:
        noise = cv2.resize(noise, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    std = float(noise.std())
    return (noise - float(noise.mean())) / std if std > 0 else noise


# --------------------------------------------------------------------------------------------
# Drawing: objects are painted into their bounding-box window, never into full-size masks.
# --------------------------------------------------------------------------------------------

@dataclass
class _Window:
    """Cells of a bounding box and their local coordinates, m: u along the heading, v across
    (to the right of the heading as displayed)."""

    rows: slice
    cols: slice
    u: NDArray[np.float32]
    v: NDArray[np.float32]

    @property
    def region(self) -> tuple[slice, slice]:
        return self.rows, self.cols

    def ellipse(self, length_m: float, width_m: float, gsd_m: float,
                u0: float = 0.0, v0: float = 0.0) -> NDArray[np.bool_]:
        """Cells inside an ellipse of axes (length, width) centred at (u0, v0); the cell of the
        centre always counts, so sub-cell objects stay in the truth."""
        du, dv = self.u - np.float32(u0), self.v - np.float32(v0)
        inside = (du / (0.5 * length_m)) ** 2 + (dv / (0.5 * width_m)) ** 2 <= 1.0
        return inside | (np.hypot(du, dv) <= HALF_CELL_DIAGONAL * gsd_m)


def _values(value: float | NDArray, sel: NDArray[np.bool_]) -> float | NDArray:
    return value[sel] if isinstance(value, np.ndarray) and value.ndim else value


class _Canvas:
    """Truth maps under construction, with temperatures in deg C."""

    def __init__(self, shape: tuple[int, int], gsd_m: float, rng: np.random.Generator) -> None:
        self.gsd_m = float(gsd_m)
        self.temperature_c = np.zeros(shape, np.float32)
        self.emissivity = np.ones(shape, np.float32)
        self.labels = np.zeros(shape, np.uint8)
        self.height_m = np.zeros(shape, np.float32)
        self.texture = _smooth_noise(rng, shape, max(1.0, TEXTURE_SCALE_M / gsd_m))
        self.objects: list[dict] = []

    @property
    def size_m(self) -> tuple[float, float]:
        """Map width and height, m."""
        return self.labels.shape[1] * self.gsd_m, self.labels.shape[0] * self.gsd_m

    def window(self, centre_m: tuple[float, float], radius_m: float,
               heading_deg: float = 0.0) -> _Window | None:
        """Window of the cells within ``radius_m`` (box) of ``centre_m``; None if off the map."""
        g = self.gsd_m
        h, w = self.labels.shape
        cx, cy = centre_m
        c0 = max(0, math.floor((cx - radius_m) / g))
        c1 = min(w, math.floor((cx + radius_m) / g) + 1)
        r0 = max(0, math.floor((cy - radius_m) / g))
        r1 = min(h, math.floor((cy + radius_m) / g) + 1)
        if c0 >= c1 or r0 >= r1:
            return None
        dx = ((np.arange(c0, c1) + 0.5) * g - cx).astype(np.float32)[None, :]
        dy = ((np.arange(r0, r1) + 0.5) * g - cy).astype(np.float32)[:, None]
        a = math.radians(heading_deg)
        c, s = np.float32(math.cos(a)), np.float32(math.sin(a))
        return _Window(slice(r0, r1), slice(c0, c1), dx * c + dy * s, dy * c - dx * s)

    def paint(self, mask: NDArray[np.bool_], *, label: str, temperature_c: float | NDArray,
              emissivity: float | NDArray, height_m: float | NDArray, texture_k: float = 0.0,
              window: _Window | None = None) -> None:
        """Set the cells of ``mask`` (window-shaped, or map-shaped if ``window`` is None).

        Array values have the shape of ``mask``; ``texture_k`` adds that rms of fine texture, K.
        """
        region = window.region if window is not None else (slice(None), slice(None))
        temperature = self.temperature_c[region]
        temperature[mask] = _values(temperature_c, mask)
        if texture_k:
            temperature[mask] += np.float32(texture_k) * self.texture[region][mask]
        self.emissivity[region][mask] = _values(emissivity, mask)
        self.height_m[region][mask] = _values(height_m, mask)
        self.labels[region][mask] = LABELS[label]

    def ground_height(self, centre_m: tuple[float, float]) -> float:
        """Height of the surface an object placed at a point stands on, m: the current height
        there (a kerb), or 0 under vegetation (it stands on the ground below the canopy)."""
        h, w = self.labels.shape
        col = min(max(int(centre_m[0] / self.gsd_m), 0), w - 1)
        row = min(max(int(centre_m[1] / self.gsd_m), 0), h - 1)
        if self.labels[row, col] == LABELS["vegetation"]:
            return 0.0
        return float(self.height_m[row, col])

    def add_object(self, label: str, centre_m: tuple[float, float], size_m: tuple[float, float],
                   height_m: float, heading_deg: float, temperature_c: float,
                   **extra: Any) -> dict:
        cx, cy = float(centre_m[0]), float(centre_m[1])
        obj = {"label": label, "centre_m": (cx, cy),
               "centre_px": (cx / self.gsd_m - 0.5, cy / self.gsd_m - 0.5),
               "size_m": (float(size_m[0]), float(size_m[1])), "height_m": float(height_m),
               "heading_deg": float(heading_deg) % 360.0, "temperature_c": float(temperature_c),
               **extra}
        self.objects.append(obj)
        return obj

    def fill_ground(self, air_c: float, night: bool) -> None:
        """Temperature and emissivity of every cell from its label and :data:`SURFACES`."""
        n = max(LABELS.values()) + 1
        offset = np.zeros(n, np.float32)
        eps = np.ones(n, np.float32)
        amplitude = np.zeros(n, np.float32)
        for name, (day_k, night_k, e) in SURFACES.items():
            offset[LABELS[name]] = night_k if night else day_k
            eps[LABELS[name]] = e
            amplitude[LABELS[name]] = WATER_TEXTURE_K if name == "water" else SURFACE_TEXTURE_K
        self.temperature_c[...] = (air_c + offset[self.labels]) + amplitude[self.labels] \
            * self.texture
        self.emissivity[...] = eps[self.labels]

    def truth(self, air_c: float, sky_c: float, *, view: str = "nadir",
              path: tuple[NDArray[np.float32], NDArray[np.float32]] | None = None) -> SceneTruth:
        return SceneTruth(
            temperature_k=self.temperature_c + np.float32(zero_Celsius),
            emissivity=self.emissivity, labels=self.labels, gsd_m=self.gsd_m,
            air_temperature_c=float(air_c), sky_temperature_c=float(sky_c),
            objects=self.objects, height_m=self.height_m,
            path_transmission=None if path is None else path[0],
            path_temperature_k=None if path is None else path[1], view=view)


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """Uniform in [low, high]; the midpoint if the range is empty (a map smaller than the
    object's margins)."""
    return float(rng.uniform(low, high)) if high > low else 0.5 * (low + high)


def _check_args(width: int, height: int, gsd_m: float, time_of_day: str) -> None:
    if time_of_day not in ("day", "night"):
        raise ValueError(f"time_of_day must be 'day' or 'night', got {time_of_day!r}")
    if gsd_m <= 0 or width < 8 or height < 8:
        raise ValueError("need gsd_m > 0 and a map of at least 8x8 cells")


def _land_cover(canvas: _Canvas, rng: np.random.Generator, water: bool = True) -> None:
    """Terrain, vegetation patches with canopy heights and (optionally) water."""
    shape = canvas.labels.shape
    scale = max(2.0, LAND_COVER_SCALE_M / canvas.gsd_m)
    cover = _smooth_noise(rng, shape, scale)
    vegetation = cover > VEGETATION_THRESHOLD
    canvas.labels[vegetation] = LABELS["vegetation"]
    rise = np.clip((cover[vegetation] - VEGETATION_THRESHOLD) / CANOPY_RISE, 0.0, 1.0)
    canvas.height_m[vegetation] = CANOPY_HEIGHT_M[0] + (CANOPY_HEIGHT_M[1]
                                                        - CANOPY_HEIGHT_M[0]) * rise
    if water:
        wet = _smooth_noise(rng, shape, 2.0 * scale) > WATER_THRESHOLD
        canvas.labels[wet] = LABELS["water"]
        canvas.height_m[wet] = 0.0


# --------------------------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------------------------

def _paint_person(canvas: _Canvas, centre_m: tuple[float, float], heading_deg: float,
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


def _paint_animal(canvas: _Canvas, centre_m: tuple[float, float], heading_deg: float,
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


def _paint_vehicle(canvas: _Canvas, rng: np.random.Generator, centre_m: tuple[float, float],
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


def _paint_fire(canvas: _Canvas, rng: np.random.Generator, centre_m: tuple[float, float],
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


def _paint_tree(canvas: _Canvas, rng: np.random.Generator, centre_m: tuple[float, float],
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


def _paint_house(canvas: _Canvas, rng: np.random.Generator, centre_m: tuple[float, float],
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


def _smoke_layer(shape: tuple[int, int], gsd_m: float, fires: list[dict], air_c: float,
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
    puffs = np.maximum(1.0 + SMOKE_TURBULENCE * _smooth_noise(rng, (ch, cw), SMOKE_PUFF_CELLS), 0.0)
    depth *= puffs
    heat *= puffs
    transmission = np.exp(-np.minimum(depth, max_depth)).astype(np.float32)
    excess = np.divide(heat, depth, out=np.zeros_like(depth), where=depth > 0)
    temperature = (air_c + zero_Celsius + excess).astype(np.float32)
    return (cv2.resize(transmission, (w, h), interpolation=cv2.INTER_LINEAR),
            cv2.resize(temperature, (w, h), interpolation=cv2.INTER_LINEAR))


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
    _check_args(width, height, gsd_m, time_of_day)
    rng = np.random.default_rng(seed)
    night = time_of_day == "night"
    canvas = _Canvas((height, width), gsd_m, rng)
    _land_cover(canvas, rng)
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
        spot = (_uniform(rng, margin, w_m - margin), _uniform(rng, margin, h_m - margin))
        _paint_person(canvas, spot, rng.uniform(0, 360), posture, rng.uniform(*PERSON_SURFACE_C))
    for _ in range(animals):
        size = ANIMAL_SIZES_M[rng.integers(len(ANIMAL_SIZES_M))]
        _paint_animal(canvas, (_uniform(rng, size[0], w_m - size[0]),
                               _uniform(rng, size[0], h_m - size[0])),
                      rng.uniform(0, 360), size, rng.uniform(*ANIMAL_SURFACE_C))
    for _ in range(vehicles):
        col = rng.uniform(0, width - 1)
        slope = road_amp * 2 * np.pi / width * np.cos(2 * np.pi * col / width + road_phase)
        heading = math.degrees(math.atan(slope)) + 180.0 * int(rng.integers(2))
        moving = bool(rng.random() < SAR_MOVING_PROBABILITY)
        _paint_vehicle(canvas, rng, ((col + 0.5) * gsd_m, (float(road_y(col)) + 0.5) * gsd_m),
                       heading, "car", air_c=air_temperature_c, night=night,
                       warmth=1.0 if moving else 0.0, bare_metal=False,
                       speed_mps=rng.uniform(*VEHICLE_SPEED_MPS) if moving else 0.0)
    if fire:
        r = SAR_FIRE_RADIUS_M
        _paint_fire(canvas, rng, (_uniform(rng, r, w_m - r), _uniform(rng, r, h_m - r)), r,
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
    _check_args(width, height, gsd_m, time_of_day)
    if lanes < 1:
        raise ValueError(f"need at least one lane, got {lanes}")
    rng = np.random.default_rng(seed)
    night = time_of_day == "night"
    canvas = _Canvas((height, width), gsd_m, rng)
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
    crosswalk_x = _uniform(rng, CROSSWALK_SPAN[0] * w_m,
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
            _paint_house(canvas, rng, (x0 + 0.5 * length, front + side * 0.5 * depth), length,
                         depth, air_c=air_temperature_c, night=night)
            x0 += length + rng.uniform(*HOUSE_GAP_M)
        yard_mid = front - side * 0.5 * FRONT_YARD_M
        for _ in range(trees):
            _paint_tree(canvas, rng, (rng.uniform(0.0, w_m), yard_mid), yard_c)

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
            _paint_vehicle(canvas, rng, (sx + rng.uniform(-SLOT_JITTER_M, SLOT_JITTER_M), sy),
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
            spot = (_uniform(rng, margin, w_m - margin),
                    rng.uniform(lo + margin, lo + SIDEWALK_WIDTH_M - margin))
            heading = 180.0 * int(rng.integers(2))
        _paint_person(canvas, spot, heading + rng.normal(0.0, PEDESTRIAN_HEADING_SPREAD_DEG),
                      "standing", rng.uniform(*PERSON_SURFACE_C))
    return canvas.truth(air_temperature_c, air_temperature_c + SKY_OFFSET_K[time_of_day])


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
    _check_args(width, height, gsd_m, time_of_day)
    rng = np.random.default_rng(seed)
    phase = time_of_day
    canvas = _Canvas((height, width), gsd_m, rng)
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
    _check_args(width, height, gsd_m, time_of_day)
    rng = np.random.default_rng(seed)
    night = time_of_day == "night"
    canvas = _Canvas((height, width), gsd_m, rng)
    _land_cover(canvas, rng, water=False)
    canvas.fill_ground(air_temperature_c, night)
    w_m, h_m = canvas.size_m
    wind = rng.uniform(0.0, 360.0) if wind_deg is None else float(wind_deg)
    max_radius = FIRE_MAX_MAP_FRACTION * min(w_m, h_m)
    placed: list[dict] = []
    for _ in range(fires):
        radius = max(min(rng.uniform(*FIRE_RADIUS_M), max_radius), FIRE_MIN_CELLS * gsd_m)
        centre = (_uniform(rng, radius, w_m - radius), _uniform(rng, radius, h_m - radius))
        fire = _paint_fire(canvas, rng, centre, radius, wind + rng.normal(0.0, WIND_JITTER_DEG),
                           rng.uniform(*FLAME_DEPTH_M))
        if fire is not None:
            placed.append(fire)
    for _ in range(people):
        for _try in range(PLACEMENT_TRIES):
            spot = (rng.uniform(0.0, w_m), rng.uniform(0.0, h_m))
            if all(math.dist(spot, f["centre_m"]) > FIRE_CLEARANCE * f["radius_m"] * (
                    1.0 + HEAD_ELONGATION + 2.0 * PERIMETER_ROUGHNESS) for f in placed):
                _paint_person(canvas, spot, rng.uniform(0, 360), "standing",
                              rng.uniform(*PERSON_SURFACE_C))
                break
    path = _smoke_layer(canvas.labels.shape, gsd_m, placed, air_temperature_c, rng) \
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
