"""Terrain files: YAML + height grid -> TerrainGrid in a mission's ENU frame; geolocation over
a hill agrees with the hill's known height; bad files say why."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from thermal_perception.core.fusion import GeoOrigin, geolocate_pixels
from thermal_perception.core.fusion.geolocation import (
    camera_mount,
    camera_pose_enu,
    enu_to_geodetic,
)
from thermal_perception.core.fusion.geometry import CameraModel
from thermal_perception.core.fusion.terrain import load_terrain, terrain_grid

ORIGIN = GeoOrigin(47.3769, 8.5417, 420.0)


def write_dem(tmp_path, heights, name="dem.npy", **extra):
    if name.endswith(".npy"):
        np.save(tmp_path / name, heights)
    else:
        cv2.imwrite(str(tmp_path / name), heights)
    lat, lon, _ = enu_to_geodetic([-500.0, -500.0, 0.0], ORIGIN)  # south-west cell centre
    doc = {"heights": name, "latitude_deg": float(lat), "longitude_deg": float(lon),
           "resolution_m": 10.0, **extra}
    (tmp_path / "terrain.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path / "terrain.yaml"


def test_grid_is_placed_and_oriented(tmp_path):
    north_up = np.zeros((101, 101), np.float32)
    north_up[0, :] = 700.0  # the northern edge, as an image's top row
    grid = terrain_grid(load_terrain(write_dem(tmp_path, north_up)), ORIGIN)
    x0, x1, y0, y1 = grid.bounds
    assert abs(x0 + 500) < 0.05 and abs(y0 + 500) < 0.05
    assert abs(x1 - 500) < 0.1 and abs(y1 - 500) < 0.1
    assert grid.height_at(0.0, 500.0 - 1e-6) == pytest.approx(700.0 - 420.0, abs=1e-3)
    assert grid.height_at(0.0, 0.0) == pytest.approx(-420.0)


def test_geolocation_on_a_hill_from_a_16_bit_tiff(tmp_path):
    """A ridge 50 m high (decimetres in a 16-bit TIFF, 420 m datum offset): the camera's ray
    meets it where the hill's analytic height says."""
    xs = np.arange(101) * 10.0 - 500.0
    east, north = np.meshgrid(xs, xs[::-1])  # north-up rows
    hill_m = 50.0 * np.exp(-(east ** 2 + north ** 2) / (2 * 150.0 ** 2))
    path = write_dem(tmp_path, np.round(hill_m * 10).astype(np.uint16), "dem.tif",
                     height_scale=0.1, height_offset_m=420.0)
    grid = terrain_grid(load_terrain(path), ORIGIN)
    camera = CameraModel(640, 512, [[700.0, 0, 319.5], [0, 700.0, 255.5], [0, 0, 1]])
    T = camera_pose_enu([-80.0, 30.0, 150.0], [0, 0, 0, 1], camera_mount())
    uv = np.array([[100.0, 100.0], [319.5, 255.5], [600.0, 400.0]])
    points = geolocate_pixels(camera, T, uv, grid)
    expected = 50.0 * np.exp(-(points[:, 0] ** 2 + points[:, 1] ** 2) / (2 * 150.0 ** 2))
    np.testing.assert_allclose(points[:, 2], expected, atol=0.3)  # grid + decimetre steps
    assert points[:, 2].max() > 20.0  # on the hill, not the flat datum


@pytest.mark.parametrize("change, message", [
    ({"resolution_m": 0}, "resolution_m"),
    ({"latitude_deg": 123.0}, "out of range"),
    ({"row_order": "east_up"}, "row_order"),
    ({"heights": "missing.tif"}, "not found"),
])
def test_bad_terrain_files(tmp_path, change, message):
    path = write_dem(tmp_path, np.zeros((4, 4), np.float32))
    doc = yaml.safe_load(path.read_text()) | change
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises((ValueError, OSError), match=message):
        load_terrain(path)


def test_nodata_cells_become_nan(tmp_path):
    heights = np.full((5, 5), 430.0, np.float32)
    heights[2, 2] = -9999
    terrain = load_terrain(write_dem(tmp_path, heights, nodata=-9999))
    assert np.isnan(terrain.heights_m[2, 2]) and np.isfinite(terrain.heights_m).sum() == 24
