"""Drawing simulated scenes: the canvas of truth maps that objects are painted into (each into its
bounding-box window, never into full-size masks), smooth random fields and land cover. Lengths
metres, temperatures deg C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.constants import zero_Celsius

if TYPE_CHECKING:
    pass
from thermal_perception.sim.truth import LABELS, SceneTruth

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

TEXTURE_SCALE_M = 0.5     # correlation length of that texture, m (typical)

# Land cover (SAR and fire scenes): thresholds in units of the std of unit random fields.
LAND_COVER_SCALE_M = 15.0      # patches tens of metres across (typical rural mosaic)

VEGETATION_THRESHOLD = 0.6     # ~27 % of the area vegetated

WATER_THRESHOLD = 1.3          # ~10 % of the area water (on a field of twice the scale)

CANOPY_HEIGHT_M = (3.0, 10.0)  # shrubs at patch edges to trees in patch cores (typical)

CANOPY_RISE = 1.5              # cover-field units from a patch edge to full canopy height

# A cell that holds the centre of a sub-cell object is still marked: centre-to-cell-centre
# distance is at most half the cell diagonal.
HALF_CELL_DIAGONAL = math.sqrt(0.5)

def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float
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
class Window:
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


def cell_values(value: float | NDArray, sel: NDArray[np.bool_]) -> float | NDArray:
    return value[sel] if isinstance(value, np.ndarray) and value.ndim else value


class Canvas:
    """Truth maps under construction, with temperatures in deg C."""

    def __init__(self, shape: tuple[int, int], gsd_m: float, rng: np.random.Generator) -> None:
        self.gsd_m = float(gsd_m)
        self.temperature_c = np.zeros(shape, np.float32)
        self.emissivity = np.ones(shape, np.float32)
        self.labels = np.zeros(shape, np.uint8)
        self.height_m = np.zeros(shape, np.float32)
        self.texture = smooth_noise(rng, shape, max(1.0, TEXTURE_SCALE_M / gsd_m))
        self.objects: list[dict] = []

    @property
    def size_m(self) -> tuple[float, float]:
        """Map width and height, m."""
        return self.labels.shape[1] * self.gsd_m, self.labels.shape[0] * self.gsd_m

    def window(self, centre_m: tuple[float, float], radius_m: float,
               heading_deg: float = 0.0) -> Window | None:
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
        return Window(slice(r0, r1), slice(c0, c1), dx * c + dy * s, dy * c - dx * s)

    def paint(self, mask: NDArray[np.bool_], *, label: str, temperature_c: float | NDArray,
              emissivity: float | NDArray, height_m: float | NDArray, texture_k: float = 0.0,
              window: Window | None = None) -> None:
        """Set the cells of ``mask`` (window-shaped, or map-shaped if ``window`` is None).

        Array values have the shape of ``mask``; ``texture_k`` adds that rms of fine texture, K.
        """
        region = window.region if window is not None else (slice(None), slice(None))
        temperature = self.temperature_c[region]
        temperature[mask] = cell_values(temperature_c, mask)
        if texture_k:
            temperature[mask] += np.float32(texture_k) * self.texture[region][mask]
        self.emissivity[region][mask] = cell_values(emissivity, mask)
        self.height_m[region][mask] = cell_values(height_m, mask)
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


def uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """Uniform in [low, high]; the midpoint if the range is empty (a map smaller than the
    object's margins)."""
    return float(rng.uniform(low, high)) if high > low else 0.5 * (low + high)


def check_args(width: int, height: int, gsd_m: float, time_of_day: str) -> None:
    if time_of_day not in ("day", "night"):
        raise ValueError(f"time_of_day must be 'day' or 'night', got {time_of_day!r}")
    if gsd_m <= 0 or width < 8 or height < 8:
        raise ValueError("need gsd_m > 0 and a map of at least 8x8 cells")


def land_cover(canvas: Canvas, rng: np.random.Generator, water: bool = True) -> None:
    """Terrain, vegetation patches with canopy heights and (optionally) water."""
    shape = canvas.labels.shape
    scale = max(2.0, LAND_COVER_SCALE_M / canvas.gsd_m)
    cover = smooth_noise(rng, shape, scale)
    vegetation = cover > VEGETATION_THRESHOLD
    canvas.labels[vegetation] = LABELS["vegetation"]
    rise = np.clip((cover[vegetation] - VEGETATION_THRESHOLD) / CANOPY_RISE, 0.0, 1.0)
    canvas.height_m[vegetation] = CANOPY_HEIGHT_M[0] + (CANOPY_HEIGHT_M[1]
                                                        - CANOPY_HEIGHT_M[0]) * rise
    if water:
        wet = smooth_noise(rng, shape, 2.0 * scale) > WATER_THRESHOLD
        canvas.labels[wet] = LABELS["water"]
        canvas.height_m[wet] = 0.0
