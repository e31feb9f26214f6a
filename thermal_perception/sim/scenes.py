"""Procedural scenes with ground truth: temperature, emissivity and class label per cell.

A scene is a nadir map of the ground at a given ground sample distance (GSD, m per cell).
Temperatures follow typical surface values for the time of day (sources: Rees, "Physical
Principles of Remote Sensing", surface temperature ranges; skin 33-35 C and clothing surface
25-32 C in mild weather from the search-and-rescue thermal imaging literature). These are
plausible, documented choices for testing, not measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.constants import zero_Celsius

# Class labels of the truth maps.
LABELS: dict[str, int] = {
    "terrain": 0,
    "vegetation": 1,
    "water": 2,
    "road": 3,
    "person": 4,
    "animal": 5,
    "vehicle": 6,
    "fire": 7,
}

# Surface temperature offsets from the air temperature, K, and emissivities (8-14 um).
# (offset_day, offset_night, emissivity)
SURFACES: dict[str, tuple[float, float, float]] = {
    "terrain": (6.0, -3.0, 0.95),     # bare soil / grass: warmer than air by day
    "vegetation": (1.0, -1.5, 0.98),  # transpiring canopy stays near air temperature
    "water": (-2.0, 2.0, 0.98),       # lags the air: cooler by day, warmer at night
    "road": (14.0, 2.0, 0.93),        # asphalt stores heat
}
PERSON_SURFACE_C = (30.0, 34.0)   # clothed/skin apparent surface, deg C
ANIMAL_SURFACE_C = (28.0, 35.0)   # fur-covered mammals
VEHICLE_BODY_OFFSET_K = 4.0
VEHICLE_ENGINE_C = 75.0
FIRE_C = (450.0, 800.0)


@dataclass
class SceneTruth:
    """Ground truth of a scene.

    temperature_k : (H, W) float32, K, kinetic surface temperature.
    emissivity : (H, W) float32, 0..1.
    labels : (H, W) uint8, values of :data:`LABELS`.
    gsd_m : ground sample distance, m per cell.
    air_temperature_c : deg C, also the reflected (sky) reference of the scene.
    sky_temperature_c : apparent sky temperature reflected by the ground, deg C.
    objects : list of dicts (label, centre_px (x, y), size_m) of placed objects.
    """

    temperature_k: NDArray[np.float32]
    emissivity: NDArray[np.float32]
    labels: NDArray[np.uint8]
    gsd_m: float
    air_temperature_c: float
    sky_temperature_c: float
    objects: list[dict]

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape  # type: ignore[return-value]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float
                  ) -> NDArray[np.float32]:
    """Zero-mean, unit-std random field with correlation length ``scale_px``.

    Large scales are drawn on a coarse grid and upsampled (bicubic), so the cost does not grow
    with the correlation length.
    """
    factor = max(1.0, scale_px / 4.0)
    coarse = shape if factor == 1.0 else (max(4, int(np.ceil(shape[0] / factor)) + 2),
                                          max(4, int(np.ceil(shape[1] / factor)) + 2))
    field = rng.standard_normal(coarse, dtype=np.float32)
    sigma = max(scale_px / factor, 0.5)
    field = cv2.GaussianBlur(field, (0, 0), sigmaX=sigma, sigmaY=sigma,
                             borderType=cv2.BORDER_REFLECT)
    if factor > 1.0:
        field = cv2.resize(field, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    std = float(field.std())
    return (field - float(field.mean())) / std if std > 0 else field


def _stamp_ellipse(mask: NDArray[np.uint8], centre: tuple[float, float],
                   axes_px: tuple[float, float], angle_deg: float) -> None:
    cv2.ellipse(mask, (round(centre[0] * 16), round(centre[1] * 16)),
                (max(1, round(axes_px[0] * 16)), max(1, round(axes_px[1] * 16))),
                angle_deg, 0, 360, 1, thickness=-1, lineType=cv2.LINE_8, shift=4)


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
    people, animals, vehicles : number of each placed (standing/lying people, deer-sized animals).
    fire : add a burning patch (several hundred deg C).
    """
    if time_of_day not in ("day", "night"):
        raise ValueError(f"time_of_day must be 'day' or 'night', got {time_of_day!r}")
    if gsd_m <= 0 or width < 8 or height < 8:
        raise ValueError("need gsd_m > 0 and a map of at least 8x8 cells")
    rng = np.random.default_rng(seed)
    shape = (height, width)
    night = time_of_day == "night"
    labels = np.zeros(shape, np.uint8)
    # Land cover from low-frequency fields, so patches are tens of metres across.
    scale = max(2.0, 15.0 / gsd_m)
    cover = _smooth_noise(rng, shape, scale)
    wet = _smooth_noise(rng, shape, 2.0 * scale)
    labels[cover > 0.6] = LABELS["vegetation"]
    labels[wet > 1.3] = LABELS["water"]
    # A road crossing the map: a band around a gently curving line.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    road_y = height * (0.3 + 0.4 * rng.random()) + 0.08 * height * np.sin(
        2 * np.pi * xx / width + rng.uniform(0, 2 * np.pi))
    labels[np.abs(yy - road_y) < max(1.0, 3.5 / gsd_m)] = LABELS["road"]

    temperature = np.empty(shape, np.float32)
    emissivity = np.empty(shape, np.float32)
    texture = _smooth_noise(rng, shape, max(1.0, 0.5 / gsd_m))
    for name in ("terrain", "vegetation", "water", "road"):
        day_k, night_k, eps = SURFACES[name]
        sel = labels == LABELS[name]
        amplitude = 0.3 if name == "water" else 1.2  # surface texture, K rms
        temperature[sel] = air_temperature_c + (night_k if night else day_k) \
            + amplitude * texture[sel]
        emissivity[sel] = eps

    objects: list[dict] = []

    def place(label: str, count: int, sizes_m: list[tuple[float, float]],
              temp_range_c: tuple[float, float], eps: float) -> None:
        margin = 4
        for _ in range(count):
            length_m, width_m = sizes_m[rng.integers(len(sizes_m))]
            cx = rng.uniform(margin, width - margin)
            cy = rng.uniform(margin, height - margin)
            angle = rng.uniform(0, 180)
            mask = np.zeros(shape, np.uint8)
            _stamp_ellipse(mask, (cx, cy), (length_m / gsd_m / 2, width_m / gsd_m / 2), angle)
            sel = mask.astype(bool)
            if not sel.any():
                continue
            t = rng.uniform(*temp_range_c)
            temperature[sel] = t + 0.4 * texture[sel]
            emissivity[sel] = eps
            labels[sel] = LABELS[label]
            objects.append({"label": label, "centre_px": (float(cx), float(cy)),
                            "size_m": (length_m, width_m), "temperature_c": float(t)})

    # Nadir views: a standing person is about 0.5 x 0.3 m, a lying one 1.8 x 0.5 m.
    place("person", people, [(0.5, 0.35), (1.8, 0.5)], PERSON_SURFACE_C, 0.98)
    place("animal", animals, [(1.6, 0.5), (1.0, 0.4)], ANIMAL_SURFACE_C, 0.98)
    body = air_temperature_c + VEHICLE_BODY_OFFSET_K
    for _ in range(vehicles):
        place("vehicle", 1, [(4.5, 1.8)], (body, body + 1.0), 0.9)
        if objects and objects[-1]["label"] == "vehicle":
            cx, cy = objects[-1]["centre_px"]
            mask = np.zeros(shape, np.uint8)
            _stamp_ellipse(mask, (cx, cy), (0.6 / gsd_m, 0.5 / gsd_m), 0)
            temperature[mask.astype(bool)] = VEHICLE_ENGINE_C
    if fire:
        place("fire", 1, [(3.0, 2.0)], FIRE_C, 0.95)

    sky_c = air_temperature_c - (20.0 if night else 15.0)  # clear sky, 8-14 um apparent
    return SceneTruth(
        temperature_k=(temperature + np.float32(zero_Celsius)).astype(np.float32),
        emissivity=emissivity, labels=labels, gsd_m=float(gsd_m),
        air_temperature_c=float(air_temperature_c), sky_temperature_c=float(sky_c),
        objects=objects,
    )
