"""Terrain models from files, for geolocation over hills (a digital elevation model).

A terrain file is a small YAML next to (or naming) a height grid:

    heights: dem.npy            # .npy, or a single-channel 16-bit/float TIFF or PNG
    latitude_deg: 47.3700       # WGS84 position of the centre of the SOUTH-WEST cell
    longitude_deg: 8.5400
    resolution_m: 5.0           # cell size, m (square cells, rows along north)
    height_offset_m: 0.0        # added to every height, m: e.g. the geoid undulation, to turn
                                # heights above mean sea level into ellipsoid heights (GPS)
    height_scale: 1.0           # multiplies the stored values first (e.g. 0.1 for decimetres)
    row_order: north_up         # north_up: row 0 is the northern edge (images, GeoTIFF);
                                # south_up: row 0 is the southern edge
    nodata: -9999               # optional: this stored value marks cells without data

A GeoTIFF in WGS84 longitude/latitude (EPSG:4326, as SRTM and Copernicus DEM tiles come), or in
a projection in metres named by its EPSG code (UTM zones, national grids: lidar DEMs; read with
pyproj, the optional ``geo`` extra), needs no position in the YAML: ``heights: dem.tif`` alone
reads the corner and cell size from its GeoTIFF tags (``height_offset_m``, ``height_scale`` and
``nodata`` still apply; the file's own no-data value, GDAL's tag, too), and ``terrain_file``
may name the ``.tif`` itself. Its cells are resampled (bilinear; a cell with a missing
neighbour stays missing) onto square cells as fine as its finer axis, along the mission frame's
axes, each the ENU height of the ground there (the earth's curvature included). A tile over 50
km across is refused: crop it to the mission area (``gdal_translate -projwin``); so is one in a
user-defined projection or in feet: reproject it (``gdalwarp -t_srs EPSG:4326``).

Paths are relative to the YAML file. The grid becomes a
:class:`~thermal_perception.core.fusion.geolocation.TerrainGrid` in the local ENU frame of a mission
(:func:`terrain_grid`); over a few kilometres the tangent plane's curvature error stays below a
metre (d^2 / 2R: 0.3 m at 2 km).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from numpy.typing import NDArray

from thermal_perception.core.fusion.geolocation import (
    GeoOrigin,
    TerrainGrid,
    enu_to_geodetic,
    geodetic_to_enu,
)

ROW_ORDERS = ("north_up", "south_up")
GEOTIFF_SUFFIXES = (".tif", ".tiff")
# GeoTIFF 1.1 (OGC 19-008r4) tags and keys, and GDAL's no-data tag
MODEL_PIXEL_SCALE_TAG, MODEL_TIEPOINT_TAG, GEO_KEY_DIRECTORY_TAG = 33550, 33922, 34735
GDAL_NODATA_TAG = 42113
GT_MODEL_TYPE_KEY, GT_RASTER_TYPE_KEY, GEOGRAPHIC_TYPE_KEY = 1024, 1025, 2048
PROJECTED_TYPE_KEY, PROJ_LINEAR_UNITS_KEY = 3072, 3076
MODEL_TYPE_PROJECTED, MODEL_TYPE_GEOGRAPHIC, RASTER_PIXEL_IS_POINT = 1, 2, 2
WGS84_EPSG, USER_DEFINED, LINEAR_METRE = 4326, 32767, 9001


@dataclass(frozen=True)
class GeoTiffGrid:
    """A GeoTIFF's heights as stored (row 0 the northern edge) and where its cells are, in
    its coordinate system ``epsg``: the centre of the north-west cell (``west``, ``north``) and
    the cell size (``dx``, ``dy``): degrees of longitude and latitude for EPSG:4326, metres
    (easting, northing) for a projection."""

    heights: NDArray
    north: float
    west: float
    dx: float
    dy: float
    nodata: float | None
    epsg: int = WGS84_EPSG

    def to_geodetic(self, x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
        """(latitude, longitude) in degrees of the tile's coordinates (x, y)."""
        if self.epsg == WGS84_EPSG:
            return np.asarray(y, np.float64), np.asarray(x, np.float64)
        lon, lat = _transformer(self.epsg, inverse=True).transform(x, y)
        return np.asarray(lat, np.float64), np.asarray(lon, np.float64)

    def from_geodetic(self, lat: NDArray, lon: NDArray) -> tuple[NDArray, NDArray]:
        """The tile's coordinates (x, y) of WGS84 (latitude, longitude) in degrees."""
        if self.epsg == WGS84_EPSG:
            return np.asarray(lon, np.float64), np.asarray(lat, np.float64)
        x, y = _transformer(self.epsg).transform(lon, lat)
        return np.asarray(x, np.float64), np.asarray(y, np.float64)


def _transformer(epsg: int, inverse: bool = False) -> Any:
    """pyproj's WGS84 -> EPSG:``epsg`` transformer (x = easting/longitude first), or the
    reverse; ValueError when pyproj is missing or does not know the code."""
    try:
        from pyproj import CRS, Transformer
        from pyproj.exceptions import CRSError
    except ImportError:
        raise ValueError(f"a GeoTIFF in EPSG:{epsg} needs pyproj (pip install pyproj, or the "
                         f"package's [geo] extra), or reproject it to WGS84 first (gdalwarp "
                         f"-t_srs EPSG:4326)") from None
    try:
        crs = CRS.from_epsg(epsg)
    except CRSError as exc:
        raise ValueError(f"EPSG:{epsg} is not a coordinate system PROJ knows ({exc})") from None
    if inverse:
        return Transformer.from_crs(crs, CRS.from_epsg(WGS84_EPSG), always_xy=True)
    return Transformer.from_crs(CRS.from_epsg(WGS84_EPSG), crs, always_xy=True)


@dataclass(frozen=True)
class TerrainFile:
    """A loaded terrain file: heights (rows growing northwards, m above the ellipsoid after
    offset and scale; NaN = no data), south-west cell centre and cell size. From a GeoTIFF,
    ``geographic`` holds its degree grid (heights as ``heights_m``, rows as stored) and
    ``resolution_m`` the size of the square cells it is resampled to in a mission's frame."""

    heights_m: NDArray[np.float64]
    latitude_deg: float
    longitude_deg: float
    resolution_m: float
    source: str = ""
    geographic: GeoTiffGrid | None = None


def _number(doc: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def read_geotiff(path: str | Path) -> GeoTiffGrid:
    """Heights and georeferencing of a single-band GeoTIFF in WGS84 longitude/latitude or a
    projection in metres named by its EPSG code (read with Pillow); ValueError says what it
    lacks."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GeoTIFF {path} not found")
    try:
        with Image.open(path) as image:
            tags = dict(image.tag_v2)
            raw = np.asarray(image)
    except (OSError, AttributeError) as exc:  # AttributeError: not a TIFF (no tag_v2)
        raise ValueError(f"{path}: not a readable TIFF ({exc})") from None
    scale, tie = tags.get(MODEL_PIXEL_SCALE_TAG), tags.get(MODEL_TIEPOINT_TAG)
    keys = tags.get(GEO_KEY_DIRECTORY_TAG)
    if scale is None or tie is None or keys is None:
        raise ValueError(f"{path}: not a GeoTIFF (no ModelPixelScale, ModelTiepoint or "
                         "GeoKeyDirectory tag); give latitude_deg, longitude_deg and "
                         "resolution_m in a terrain YAML instead")
    # GeoKeyDirectory: a header of 4 shorts, then (key, location, count, value) per key
    geo = {int(keys[k]): int(keys[k + 3]) for k in range(4, len(keys) - 3, 4)
           if int(keys[k + 1]) == 0}
    model_type = geo.get(GT_MODEL_TYPE_KEY)
    epsg = geo.get(PROJECTED_TYPE_KEY) if model_type == MODEL_TYPE_PROJECTED else \
        geo.get(GEOGRAPHIC_TYPE_KEY, WGS84_EPSG)
    units = geo.get(PROJ_LINEAR_UNITS_KEY, LINEAR_METRE)
    if model_type not in (MODEL_TYPE_PROJECTED, MODEL_TYPE_GEOGRAPHIC) or epsg in (
            None, USER_DEFINED) or (model_type == MODEL_TYPE_GEOGRAPHIC and epsg != WGS84_EPSG) \
            or (model_type == MODEL_TYPE_PROJECTED and units != LINEAR_METRE):
        raise ValueError(f"{path}: GeoTIFFs in WGS84 longitude/latitude (EPSG:4326) or in a "
                         f"projection in metres with an EPSG code are read; this one has model "
                         f"type {model_type}, coordinate system {epsg} ({USER_DEFINED}: "
                         f"user-defined) and linear units {units} ({LINEAR_METRE}: metre): "
                         "reproject it first (gdalwarp -t_srs EPSG:4326)")
    if len(tie) < 6 or len(scale) < 2 or not (scale[0] > 0 and scale[1] > 0):
        raise ValueError(f"{path}: bad ModelTiepoint {tie} or ModelPixelScale {scale}")
    if raw.ndim != 2 or raw.dtype.kind not in "iuf":
        raise ValueError(f"{path}: the heights must be one numeric band, got shape "
                         f"{raw.shape} {raw.dtype}")
    i, j, x, y = float(tie[0]), float(tie[1]), float(tie[3]), float(tie[4])
    dx, dy = float(scale[0]), float(scale[1])
    # the tie point is a cell's corner (PixelIsArea, the default) or its centre (PixelIsPoint)
    half = 0.0 if geo.get(GT_RASTER_TYPE_KEY) == RASTER_PIXEL_IS_POINT else 0.5
    nodata = tags.get(GDAL_NODATA_TAG)
    try:
        nodata_value = float(str(nodata).strip("\x00 ")) if nodata is not None else None
    except ValueError:
        raise ValueError(f"{path}: GDAL no-data tag {nodata!r} is not a number") from None
    if model_type == MODEL_TYPE_PROJECTED:
        _transformer(int(epsg))  # pyproj present and the code known, or a clear error now
    return GeoTiffGrid(raw, y - (half - j) * dy, x + (half - i) * dx, dx, dy, nodata_value,
                       int(epsg))


MAX_GEOTIFF_EXTENT_M = 50_000.0  # a larger tile: crop it (one frame's flat-earth limits)


def _resample_into(terrain: TerrainFile, origin: GeoOrigin) -> TerrainGrid:
    """A GeoTIFF terrain on square cells of ``terrain.resolution_m`` along the ENU axes of
    ``origin``, over the tile's bounding box; each cell's height is the ENU up of the ground
    there (the earth's curvature included). Bilinear in the tile's grid; a cell with a
    missing source neighbour, or off the tile, is NaN."""
    from scipy.ndimage import map_coordinates

    grid = terrain.geographic
    assert grid is not None
    heights = terrain.heights_m
    rows, cols = heights.shape
    lats, lons = grid.to_geodetic(
        grid.west + np.array([0.0, cols - 1.0, 0.0, cols - 1.0]) * grid.dx,
        grid.north - np.array([0.0, 0.0, rows - 1.0, rows - 1.0]) * grid.dy)
    corners = geodetic_to_enu(lats, lons, origin.altitude_m, origin)
    res = terrain.resolution_m
    e0, n0 = corners[:, 0].min(), corners[:, 1].min()
    n_cols = math.floor((corners[:, 0].max() - e0) / res) + 1
    n_rows = math.floor((corners[:, 1].max() - n0) / res) + 1
    east, north = np.meshgrid(e0 + np.arange(n_cols) * res, n0 + np.arange(n_rows) * res)
    lat, lon, _ = enu_to_geodetic(np.stack([east, north, np.zeros_like(east)], -1), origin)
    x, y = grid.from_geodetic(lat, lon)
    where = []
    for index, size in (((grid.north - y) / grid.dy, rows), ((x - grid.west) / grid.dx, cols)):
        # cells on the tile's outer centres but for rounding: within a twentieth of a cell
        edge = (index > -0.05) & (index < size - 0.95)
        where.append(np.where(edge, np.clip(index, 0.0, size - 1.0), index))
    valid = np.isfinite(heights)
    filled = map_coordinates(np.where(valid, heights, 0.0), where, order=1, mode="constant")
    weight = map_coordinates(valid.astype(np.float64), where, order=1, mode="constant")
    ground = np.where(weight > 1.0 - 1e-6, filled, np.nan)
    up = geodetic_to_enu(lat, lon, np.where(np.isfinite(ground), ground, 0.0), origin)[..., 2]
    return TerrainGrid(np.where(np.isfinite(ground), up, np.nan), (float(e0), float(n0)), res)


def load_terrain(path: str | Path) -> TerrainFile:
    """Read a terrain YAML and its height grid, or a GeoTIFF alone; ValueError or OSError say
    what is wrong."""
    source = Path(path)
    if source.suffix.lower() in GEOTIFF_SUFFIXES:
        return _terrain_from_geotiff(source, {}, source)
    try:
        doc = yaml.safe_load(source.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict) or "heights" not in doc:
        raise ValueError(f"{source}: expected a mapping with 'heights', 'latitude_deg', "
                         "'longitude_deg' and 'resolution_m'")
    grid_path = (source.parent / str(doc["heights"])).resolve()
    if grid_path.suffix.lower() in GEOTIFF_SUFFIXES and not any(
            k in doc for k in ("latitude_deg", "longitude_deg", "resolution_m")):
        return _terrain_from_geotiff(grid_path, doc, source)
    lat = _number(doc, "latitude_deg", str(source))
    lon = _number(doc, "longitude_deg", str(source))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{source}: latitude/longitude out of range ({lat}, {lon})")
    resolution = _number(doc, "resolution_m", str(source))
    if resolution <= 0:
        raise ValueError(f"{source}: resolution_m must be > 0, got {resolution}")
    offset = _number(doc, "height_offset_m", str(source), 0.0)
    scale = _number(doc, "height_scale", str(source), 1.0)
    order = doc.get("row_order", "north_up")
    if order not in ROW_ORDERS:
        raise ValueError(f"{source}: row_order must be one of {list(ROW_ORDERS)}, got {order!r}")
    if grid_path.suffix.lower() == ".npy":
        raw = np.load(grid_path, allow_pickle=False)
    else:
        if not grid_path.is_file():
            raise FileNotFoundError(f"{source}: height grid {grid_path} not found")
        raw = cv2.imread(str(grid_path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise ValueError(f"{source}: cannot read the height grid {grid_path}")
    if raw.ndim != 2 or raw.dtype.kind not in "iuf":
        raise ValueError(f"{source}: the height grid must be one numeric channel, got "
                         f"shape {raw.shape} {raw.dtype}")
    heights = raw.astype(np.float64)
    if "nodata" in doc:
        heights[raw == doc["nodata"]] = np.nan
    heights = heights * scale + offset
    if order == "north_up":
        heights = heights[::-1]
    return TerrainFile(np.ascontiguousarray(heights), lat, lon, resolution, str(source))


def _terrain_from_geotiff(path: Path, doc: dict[str, Any], source: Path) -> TerrainFile:
    """A GeoTIFF's terrain, with the YAML ``doc``'s ``nodata``, ``height_scale`` and
    ``height_offset_m`` (none: the file's no-data value, scale 1, offset 0)."""
    grid = read_geotiff(path)
    heights = grid.heights.astype(np.float64)
    for nodata in (grid.nodata, doc.get("nodata")):
        if nodata is not None:
            heights[grid.heights == nodata] = np.nan
    heights = heights * _number(doc, "height_scale", str(source), 1.0) + \
        _number(doc, "height_offset_m", str(source), 0.0)
    rows, cols = heights.shape
    if rows < 2 or cols < 2:
        raise ValueError(f"{path}: need at least 2 x 2 cells, got {rows} x {cols}")
    # the south-west cell's centre, and the ground size of a cell at the tile's west edge
    sw_y, mid_y = grid.north - (rows - 1) * grid.dy, grid.north - 0.5 * (rows - 1) * grid.dy
    (lat_sw, lat_mid, lat_n, lat_e), (lon_sw, lon_mid, lon_n, lon_e) = grid.to_geodetic(
        np.array([grid.west, grid.west, grid.west, grid.west + grid.dx]),
        np.array([sw_y, mid_y, mid_y + grid.dy, mid_y]))
    centre = GeoOrigin(float(lat_mid), float(lon_mid), 0.0)
    step = geodetic_to_enu([lat_n, lat_e], [lon_n, lon_e], 0.0, centre)
    cell_north, cell_east = float(np.hypot(*step[0, :2])), float(np.hypot(*step[1, :2]))
    # square cells as fine as the finer axis; the tile's extent, m
    resolution = min(cell_north, cell_east)
    extent = max((rows - 1) * cell_north, (cols - 1) * cell_east)
    if extent > MAX_GEOTIFF_EXTENT_M:
        raise ValueError(f"{path}: the tile spans {extent / 1e3:.0f} km; crop it to the mission "
                         f"area (at most {MAX_GEOTIFF_EXTENT_M / 1e3:.0f} km, e.g. gdal_translate "
                         "-projwin WEST NORTH EAST SOUTH)")
    return TerrainFile(np.ascontiguousarray(heights), float(lat_sw), float(lon_sw), resolution,
                       str(source), geographic=grid)


def terrain_grid(terrain: TerrainFile, origin: GeoOrigin) -> TerrainGrid:
    """The terrain in the ENU frame of ``origin``: heights as ENU z (ellipsoid height minus the
    origin's), cell (0, 0) at the south-west cell's ENU position. A GeoTIFF's is resampled
    along the frame's axes (:func:`_resample_into`)."""
    if terrain.geographic is not None:
        return _resample_into(terrain, origin)
    east, north, _ = np.asarray(geodetic_to_enu(terrain.latitude_deg, terrain.longitude_deg,
                                                origin.altitude_m, origin), np.float64)
    return TerrainGrid(terrain.heights_m - origin.altitude_m, (float(east), float(north)),
                       terrain.resolution_m)
