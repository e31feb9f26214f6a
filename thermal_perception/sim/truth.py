"""The ground truth of a simulated scene: per cell temperature, emissivity, class label and
height, and the objects in it (:class:`SceneTruth`); the class labels and views.

A scene is a map of a plane at a given sample distance (GSD, m per cell): the ground seen from
above (UAV search and rescue, road, fire) or a building facade seen head-on (the map is the
wall plane). Coordinates are metres from the map's top-left corner, x right and y down; cell
(col, row) covers ``[col, col + 1) * gsd_m`` by ``[row, row + 1) * gsd_m``, so the continuous
cell coordinates of :meth:`SceneTruth.world_to_cell` follow the OpenCV convention (integer
coordinates at cell centres). Headings are degrees from +x towards +y (clockwise on the map as
displayed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
        return scalar(col), scalar(row)

    def cell_to_world(self, col: ArrayLike, row: ArrayLike
                      ) -> tuple[NDArray | float, NDArray | float]:
        """Point (x, y), m from the top-left corner, at continuous cell coordinates (col, row)."""
        x = (np.asarray(col, np.float64) + 0.5) * self.gsd_m
        y = (np.asarray(row, np.float64) + 0.5) * self.gsd_m
        return scalar(x), scalar(y)

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


def scalar(x: NDArray) -> NDArray | float:
    return float(x) if x.ndim == 0 else x
