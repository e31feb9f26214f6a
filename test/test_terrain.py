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


# -- GeoTIFF (WGS84 longitude/latitude), georeferenced by its own tags ------------------------

DLON, DLAT = 1.0 / 3600.0, 1.0 / 3600.0  # one arc-second cells, as SRTM's


def write_geotiff(path, heights, north_lat, west_lon, point=False, model_type=2, nodata=None,
                  tags=True, deflate=False):
    """A float32 GeoTIFF written with Pillow: ``north_lat``, ``west_lon`` the north-west
    cell's corner (PixelIsArea) or, with ``point``, its centre (PixelIsPoint); ``deflate``:
    compressed with the floating-point predictor, as Copernicus DEM tiles are."""
    from PIL import Image, TiffImagePlugin

    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    if deflate:
        ifd[317] = 3  # Predictor: floating point
        ifd.tagtype[317] = 3
    if tags:
        ifd[33550] = (DLON, DLAT, 0.0)
        ifd.tagtype[33550] = 12  # DOUBLE
        ifd[33922] = (0.0, 0.0, 0.0, west_lon, north_lat, 0.0)
        ifd.tagtype[33922] = 12
        ifd[34735] = (1, 1, 0, 3, 1024, 0, 1, model_type, 1025, 0, 1, 2 if point else 1,
                      2048, 0, 1, 4326)
        ifd.tagtype[34735] = 3  # SHORT
        if nodata is not None:
            ifd[42113] = str(nodata)
            ifd.tagtype[42113] = 2  # ASCII
    Image.fromarray(np.asarray(heights, np.float32)).save(
        path, tiffinfo=ifd, compression="tiff_adobe_deflate" if deflate else None)
    return path


def plane(lat, lon):
    """Heights (m) linear in latitude and longitude: bilinear resampling reproduces them."""
    return 400.0 + 30000.0 * (lat - ORIGIN.latitude_deg) - 20000.0 * (lon - ORIGIN.longitude_deg)


def geotiff_of_plane(tmp_path, name="dem.tif", **kwargs):
    """60 x 80 one-arc-second cells around ORIGIN (about 1.9 x 1.7 km), heights ``plane``."""
    north, west = ORIGIN.latitude_deg + 30 * DLAT, ORIGIN.longitude_deg - 40 * DLON
    rows, cols = np.mgrid[0:60, 0:80]
    lat, lon = north - (rows + 0.5) * DLAT, west + (cols + 0.5) * DLON  # cell centres
    return write_geotiff(tmp_path / name, plane(lat, lon), north, west, **kwargs)


def test_geotiff_heights_land_where_its_tags_say(tmp_path):
    """Known answer: a GeoTIFF alone, in a mission's ENU frame 1 km from its corner, gives at
    random points the ENU height of the plane's ground there (to 1 cm; the earth's curvature
    included: 4 cm at 700 m), on square cells of the finer axis (one second of longitude at
    47.4 N: 20.9 m)."""
    from thermal_perception.core.fusion.geolocation import geodetic_to_enu

    terrain = load_terrain(geotiff_of_plane(tmp_path))
    assert 20.8 < terrain.resolution_m < 21.0
    grid = terrain_grid(terrain, ORIGIN)
    assert grid.resolution_m == terrain.resolution_m
    rng = np.random.default_rng(3)
    east, north = rng.uniform(-700, 700, 200), rng.uniform(-700, 700, 200)
    lat, lon, _ = enu_to_geodetic(np.stack([east, north, np.zeros(200)], -1), ORIGIN)
    ground_up = geodetic_to_enu(lat, lon, plane(lat, lon), ORIGIN)[:, 2]
    np.testing.assert_allclose(grid.height_at(east, north), ground_up, atol=0.01)
    assert np.isnan(grid.height_at(5000.0, 0.0))  # off the tile
    far = GeoOrigin(ORIGIN.latitude_deg + 0.1, ORIGIN.longitude_deg + 0.1, 0.0)  # 13.5 km off
    e, n, _ = geodetic_to_enu(ORIGIN.latitude_deg, ORIGIN.longitude_deg, 0.0, far)
    assert terrain_grid(terrain, far).height_at(e, n) == pytest.approx(
        geodetic_to_enu(ORIGIN.latitude_deg, ORIGIN.longitude_deg, 400.0, far)[2], abs=0.05)


def test_geotiff_pixel_is_point_and_yaml_settings(tmp_path):
    """A tie point at the cell's centre (PixelIsPoint) places the same cells; a YAML naming the
    GeoTIFF adds its height offset; GDAL's no-data value marks missing cells, and the cells
    resampled from them stay missing."""
    area = load_terrain(geotiff_of_plane(tmp_path))
    north, west = ORIGIN.latitude_deg + 30 * DLAT, ORIGIN.longitude_deg - 40 * DLON
    rows, cols = np.mgrid[0:60, 0:80]
    heights = plane(north - (rows + 0.5) * DLAT, west + (cols + 0.5) * DLON)
    point = load_terrain(write_geotiff(tmp_path / "point.tif", heights, north - 0.5 * DLAT,
                                       west + 0.5 * DLON, point=True))
    np.testing.assert_allclose(point.heights_m, area.heights_m)
    packed = load_terrain(geotiff_of_plane(tmp_path, name="deflate.tif", deflate=True))
    np.testing.assert_array_equal(packed.heights_m, area.heights_m)
    assert (point.latitude_deg, point.longitude_deg) == pytest.approx(
        (area.latitude_deg, area.longitude_deg), abs=1e-9)
    heights[10:20, 30:40] = -32768.0
    write_geotiff(tmp_path / "holes.tif", heights, north, west, nodata=-32768)
    (tmp_path / "t.yaml").write_text("heights: holes.tif\nheight_offset_m: 47.5\n")
    holes = terrain_grid(load_terrain(tmp_path / "t.yaml"), ORIGIN)
    full = terrain_grid(area, ORIGIN)
    assert np.nanmax(np.abs(holes.heights_m - 47.5 - full.heights_m)) < 1e-6
    missing = np.isnan(holes.heights_m) & np.isfinite(full.heights_m)
    assert 50 < missing.sum() < 200  # the 10 x 10 cells of 31 x 21 m, resampled to 21 m
    assert np.nanmax(holes.heights_m) < 500.0 + 47.5  # no -32768 anywhere


@pytest.mark.parametrize("kwargs, message", [
    ({"model_type": 1}, "reproject"),
    ({"tags": False}, "not a GeoTIFF"),
])
def test_geotiffs_we_cannot_place_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_terrain(geotiff_of_plane(tmp_path, **kwargs))


def test_a_geotiff_too_large_for_one_flat_frame_is_refused(tmp_path):
    """2,600 one-second cells east-west (54 km at 47.4 N): crop it, the error says how."""
    path = write_geotiff(tmp_path / "wide.tif", np.zeros((4, 2600)), ORIGIN.latitude_deg,
                         ORIGIN.longitude_deg)
    with pytest.raises(ValueError, match="crop it to the mission area"):
        load_terrain(path)


# -- GeoTIFF in a projection (UTM), georeferenced by its EPSG code ----------------------------

UTM32N = 32632  # WGS84 / UTM zone 32N: central meridian 9 deg E, scale 0.9996 on it
K0, FALSE_EASTING = 0.9996, 500_000.0


def write_projected_geotiff(path, heights, north, west, cell_m, epsg=UTM32N, units=9001):
    """A float32 GeoTIFF in EPSG:``epsg``: ``north``, ``west`` the north-west cell's corner
    (easting, northing, m), square cells of ``cell_m``; ``units`` the GeoTIFF linear units
    code (9001 metre, 9002 foot)."""
    from PIL import Image, TiffImagePlugin

    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[33550] = (cell_m, cell_m, 0.0)
    ifd.tagtype[33550] = 12
    ifd[33922] = (0.0, 0.0, 0.0, west, north, 0.0)
    ifd.tagtype[33922] = 12
    ifd[34735] = (1, 1, 0, 3, 1024, 0, 1, 1, 3072, 0, 1, epsg, 3076, 0, 1, units)
    ifd.tagtype[34735] = 3
    Image.fromarray(np.asarray(heights, np.float32)).save(path, tiffinfo=ifd)
    return path


def utm_tile_on_the_central_meridian(tmp_path, name="utm.tif", **kwargs):
    """120 x 100 cells of 10 m (1.2 x 1.0 km) in UTM 32N around a point of the central
    meridian, heights a plane in easting and northing; that point as a mission origin."""
    pytest.importorskip("pyproj")
    from pyproj import Transformer

    to_utm = Transformer.from_crs(4326, UTM32N, always_xy=True)
    easting, northing = to_utm.transform(9.0, 47.4)
    assert easting == pytest.approx(FALSE_EASTING, abs=1e-6)  # UTM's definition, not pyproj's
    n0 = round(northing / 10.0) * 10.0
    lon0, lat0 = to_utm.transform(FALSE_EASTING, n0, direction="INVERSE")
    assert lon0 == pytest.approx(9.0, abs=1e-12)
    rows, cols = np.mgrid[0:120, 0:100]
    x = FALSE_EASTING - 500.0 + (cols + 0.5) * 10.0
    y = n0 + 600.0 - (rows + 0.5) * 10.0
    heights = 400.0 + 0.05 * (x - FALSE_EASTING) - 0.03 * (y - n0)
    path = write_projected_geotiff(tmp_path / name, heights, n0 + 600.0,
                                   FALSE_EASTING - 500.0, 10.0, **kwargs)
    return path, GeoOrigin(float(lat0), float(lon0), 380.0)


def test_utm_geotiff_heights_land_where_the_projection_puts_them(tmp_path):
    """Known answer from UTM's definition alone: on the central meridian a metre north is
    0.9996 m of northing and the easting is 500 km; a metre east there is 0.9996 m of easting
    (to a millimetre over 500 m). So the plane's ground ENU heights along both axes through
    the origin are known without PROJ; the cells are 10 m of UTM, 10.004 m of ground."""
    from thermal_perception.core.fusion.geolocation import geodetic_to_enu

    path, origin = utm_tile_on_the_central_meridian(tmp_path)
    terrain = load_terrain(path)
    assert terrain.geographic.epsg == UTM32N
    assert 10.0 < terrain.resolution_m < 10.01
    grid = terrain_grid(terrain, origin)
    d = np.linspace(-480.0, 480.0, 25)
    for east, north, height in ((np.zeros_like(d), d, 400.0 - 0.03 * K0 * d),
                                (0.4 * d, np.zeros_like(d), 400.0 + 0.05 * K0 * 0.4 * d)):
        lat, lon, _ = enu_to_geodetic(np.stack([east, north, np.zeros_like(d)], -1), origin)
        up = geodetic_to_enu(lat, lon, height, origin)[:, 2]  # the ground, curvature included
        np.testing.assert_allclose(grid.height_at(east, north), up, atol=0.005)
    assert np.isnan(grid.height_at(0.0, 800.0))  # north of the tile


@pytest.mark.parametrize("kwargs, message", [
    ({"epsg": 32767}, "user-defined"),
    ({"units": 9002}, "reproject it first"),
    ({"epsg": 1234}, "not a coordinate system PROJ knows"),
])
def test_projected_geotiffs_we_cannot_place_are_refused(tmp_path, kwargs, message):
    pytest.importorskip("pyproj")
    path = write_projected_geotiff(tmp_path / "bad.tif", np.zeros((4, 4)), 5.25e6, 5e5, 10.0,
                                   **kwargs)
    with pytest.raises(ValueError, match=message):
        load_terrain(path)


def test_a_projected_geotiff_without_pyproj_says_what_to_install(tmp_path, monkeypatch):
    path = write_projected_geotiff(tmp_path / "utm.tif", np.zeros((4, 4)), 5.25e6, 5e5, 10.0)
    monkeypatch.setitem(__import__("sys").modules, "pyproj", None)  # import pyproj fails
    with pytest.raises(ValueError, match=r"needs pyproj \(pip install pyproj"):
        load_terrain(path)
