"""UAV geolocation: image pixels -> points on the ground -> WGS84, with their uncertainty.

Frames (see :mod:`.geometry`): the world is a local East-North-Up tangent plane (``map``) whose
origin is a :class:`GeoOrigin`; ``base_link`` is x forward, y left, z up; cameras are given by
their optical frame (x right, y down, z forward). Geodetic positions are WGS84
latitude/longitude, degrees, and height above the WGS84 ellipsoid, m (as
``sensor_msgs/NavSatFix.altitude``); the conversions are pymap3d's (geodetic -> ECEF -> ENU and
back, WGS84 ellipsoid).

The ground is either flat (:class:`FlatTerrain`, a plane ``z = altitude_m`` in the ENU frame)
or a height grid (:class:`TerrainGrid`). A pixel's viewing ray from the camera centre is
intersected with it: a ray/plane intersection for the plane; for the grid the ray is sampled at
half-cell steps across the grid, and the first crossing below the surface is refined by
bisection. Rays that never reach the ground (above the horizon, off the grid, camera under the
surface) give NaN.

Lengths in metres, angles in radians unless a name says ``_deg``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pymap3d
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from thermal_perception.core.fusion.geometry import R_OPTICAL_LINK, CameraModel, RigidTransform

#: Bisection stops when the bracket along the ray is shorter than this, m.
BISECTION_TOLERANCE_M = 1e-4
#: Most samples along one ray when marching over a terrain grid.
MAX_MARCH_STEPS = 4096
#: A ray whose first sample is at most this far below the surface touches it there, m.
TOUCH_TOLERANCE_M = 1e-6
#: The height band searched is widened by this, so that flat grids bracket their surface, m.
SLAB_MARGIN_M = 0.01
#: Rays x samples evaluated at once when marching (bounds the memory of one pass).
MARCH_CHUNK = 2_000_000
#: A Monte Carlo covariance needs at least this fraction of its samples to hit the ground.
MIN_HIT_FRACTION = 0.5

# --- geodetic <-> local ENU ------------------------------------------------------------------

@dataclass(frozen=True)
class GeoOrigin:
    """Origin of the local ENU frame (``map``): WGS84 latitude/longitude, degrees, and height
    above the ellipsoid, m."""

    latitude_deg: float
    longitude_deg: float
    altitude_m: float

    def __post_init__(self) -> None:
        lat, lon, alt = self.latitude_deg, self.longitude_deg, self.altitude_m
        if not (math.isfinite(lat) and math.isfinite(lon) and math.isfinite(alt)):
            raise ValueError(f"geo origin must be finite, got ({lat}, {lon}, {alt})")
        if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 180.0:
            raise ValueError(f"geo origin latitude must be in [-90, 90] and longitude in "
                             f"[-180, 180] degrees, got ({lat}, {lon})")


def geodetic_to_enu(latitude_deg: ArrayLike, longitude_deg: ArrayLike, altitude_m: ArrayLike,
                    origin: GeoOrigin) -> NDArray[np.float64]:
    """East, north, up (..., 3), m, of WGS84 positions (degrees, ellipsoid height m; the
    three broadcast together) in the ENU frame of ``origin``."""
    lat, lon, alt = np.broadcast_arrays(*(np.asarray(a, np.float64)
                                          for a in (latitude_deg, longitude_deg, altitude_m)))
    with np.errstate(invalid="ignore"):
        if np.any(np.abs(lat) > 90.0):
            raise ValueError("latitude must be in [-90, 90] degrees")
    e, n, u = pymap3d.geodetic2enu(lat, lon, alt, origin.latitude_deg, origin.longitude_deg,
                                   origin.altitude_m)
    return np.stack([np.asarray(e), np.asarray(n), np.asarray(u)], axis=-1)


def enu_to_geodetic(enu: ArrayLike, origin: GeoOrigin
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """WGS84 latitude, longitude (degrees, longitude in (-180, 180]) and ellipsoid height (m)
    of ENU points (..., 3), m, of the frame of ``origin``; each of shape (...)."""
    p = np.asarray(enu, np.float64)
    if p.ndim == 0 or p.shape[-1] != 3:
        raise ValueError(f"ENU points need a last axis of 3, got shape {p.shape}")
    lat, lon, alt = pymap3d.enu2geodetic(p[..., 0], p[..., 1], p[..., 2], origin.latitude_deg,
                                         origin.longitude_deg, origin.altitude_m)
    return np.asarray(lat, np.float64), np.asarray(lon, np.float64), np.asarray(alt, np.float64)


# --- poses -------------------------------------------------------------------------------------

def camera_mount(translation: ArrayLike = (0.0, 0.0, 0.0), roll: float = 0.0,
                 pitch: float = math.pi / 2, yaw: float = 0.0) -> RigidTransform:
    """``T_base_camera`` (camera optical frame -> ``base_link``) of a camera whose link frame
    (x along the optical axis) sits at ``translation`` (m, in ``base_link``) with fixed-axis
    ``roll, pitch, yaw`` (rad, as a URDF joint ``rpy``).

    The default, pitch = +90 deg, is a camera looking straight down (nadir) with the top of
    the image towards the front of the vehicle and the image's right towards its right:
    optical z = -z_base, optical x = -y_base, optical y = -x_base. Pitch 0 looks forward."""
    link = RigidTransform.from_rpy(roll, pitch, yaw, translation)
    return link @ RigidTransform(R_OPTICAL_LINK.T)


def camera_pose_enu(position_enu: ArrayLike, orientation_xyzw: ArrayLike,
                    T_base_camera: RigidTransform) -> RigidTransform:
    """``T_enu_camera`` (camera optical frame -> ENU) from the vehicle pose.

    position_enu : (3,) ``base_link`` origin in the ENU frame, m.
    orientation_xyzw : (4,) quaternion of ``base_link`` in ENU, as ``sensor_msgs/Imu``
        orientation per REP 145 / REP 103 (identity = level, facing east; yaw counter-clockwise
        from east). Need not be exactly unit length.
    T_base_camera : camera optical frame -> ``base_link`` (see :func:`camera_mount`).
    """
    p = np.asarray(position_enu, np.float64)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise ValueError(f"position must be 3 finite values, m; got {p}")
    return RigidTransform.from_quaternion(orientation_xyzw, p) @ T_base_camera


# --- terrain -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FlatTerrain:
    """Level ground at ``altitude_m``: its height as the ENU frame's z, m."""

    altitude_m: float = 0.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.altitude_m):
            raise ValueError(f"terrain altitude must be finite, got {self.altitude_m}")


@dataclass(frozen=True)
class TerrainGrid:
    """Ground heights on a regular grid of the ENU frame.

    heights_m : (H, W) heights as the ENU frame's z, m; ``heights_m[i, j]`` is the height at
        east ``origin_enu[0] + j * resolution_m``, north ``origin_enu[1] + i * resolution_m``
        (row index grows northwards). NaN marks cells without data.
    origin_enu : (east, north) of the centre of cell (0, 0), m.
    resolution_m : cell size, m.
    Heights between cell centres are bilinear; outside the centres' hull they are NaN.
    """

    heights_m: NDArray[np.float64]
    origin_enu: tuple[float, float] = (0.0, 0.0)
    resolution_m: float = 1.0
    _range: tuple[float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        h = np.asarray(self.heights_m, np.float64)
        origin = np.asarray(self.origin_enu, np.float64)
        if h.ndim != 2 or h.shape[0] < 2 or h.shape[1] < 2:
            raise ValueError(f"terrain heights must be a 2-D grid of at least 2x2, got shape "
                             f"{h.shape}")
        if not np.isfinite(h).any() or np.isinf(h).any():
            raise ValueError("terrain heights must be finite or NaN (no data), not all NaN")
        if origin.shape != (2,) or not np.all(np.isfinite(origin)):
            raise ValueError(f"terrain origin must be 2 finite values (east, north), got "
                             f"{self.origin_enu}")
        if not (math.isfinite(self.resolution_m) and self.resolution_m > 0):
            raise ValueError(f"terrain resolution must be > 0 m, got {self.resolution_m}")
        h = h.copy()
        h.flags.writeable = False
        object.__setattr__(self, "heights_m", h)
        object.__setattr__(self, "origin_enu", (float(origin[0]), float(origin[1])))
        object.__setattr__(self, "_range", (float(np.nanmin(h)), float(np.nanmax(h))))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(east min, east max, north min, north max) of the cell centres, m."""
        x0, y0 = self.origin_enu
        rows, cols = self.heights_m.shape
        return (x0, x0 + (cols - 1) * self.resolution_m,
                y0, y0 + (rows - 1) * self.resolution_m)

    @property
    def height_range(self) -> tuple[float, float]:
        """Lowest and highest height of the grid, m."""
        return self._range

    def height_at(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
        """Bilinear height (m) at ENU east ``x``, north ``y`` (m; broadcast together); NaN
        outside the grid or next to a cell without data."""
        xa, ya = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
        rows, cols = self.heights_m.shape
        col = (xa - self.origin_enu[0]) / self.resolution_m
        row = (ya - self.origin_enu[1]) / self.resolution_m
        with np.errstate(invalid="ignore"):
            inside = (col >= 0) & (col <= cols - 1) & (row >= 0) & (row <= rows - 1)
        c = np.where(inside, col, 0.0)
        r = np.where(inside, row, 0.0)
        c0 = np.minimum(np.floor(c).astype(np.intp), cols - 2)
        r0 = np.minimum(np.floor(r).astype(np.intp), rows - 2)
        fc, fr = c - c0, r - r0
        h = self.heights_m
        top = h[r0, c0] * (1 - fc) + h[r0, c0 + 1] * fc
        bottom = h[r0 + 1, c0] * (1 - fc) + h[r0 + 1, c0 + 1] * fc
        return np.where(inside, top * (1 - fr) + bottom * fr, np.nan)


Terrain = FlatTerrain | TerrainGrid


def _intersect_flat(origins: NDArray[np.float64], dirs: NDArray[np.float64],
                    terrain: FlatTerrain, max_range_m: float) -> NDArray[np.float64]:
    height = origins[:, 2] - terrain.altitude_m
    dz = dirs[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = height / -dz
        hit = (height > 0) & (dz < 0) & (s <= max_range_m)
    out = np.full_like(origins, np.nan)
    out[hit] = origins[hit] + s[hit, None] * dirs[hit]
    out[hit, 2] = terrain.altitude_m
    return out


def _slab(o: NDArray[np.float64], d: NDArray[np.float64], lo: float, hi: float
          ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Ray parameter interval in which ``lo <= o + s d <= hi`` (empty: start > end)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t1, t2 = (lo - o) / d, (hi - o) / d
    parallel = np.abs(d) < 1e-12
    inside = (o >= lo) & (o <= hi)
    start = np.where(parallel, np.where(inside, -np.inf, np.inf), np.minimum(t1, t2))
    end = np.where(parallel, np.where(inside, np.inf, -np.inf), np.maximum(t1, t2))
    return start, end


def _intersect_grid(origins: NDArray[np.float64], dirs: NDArray[np.float64],
                    terrain: TerrainGrid, max_range_m: float) -> NDArray[np.float64]:
    xmin, xmax, ymin, ymax = terrain.bounds
    hmin, hmax = terrain.height_range
    parts = [_slab(origins[:, 0], dirs[:, 0], xmin, xmax),
             _slab(origins[:, 1], dirs[:, 1], ymin, ymax),
             _slab(origins[:, 2], dirs[:, 2], hmin - SLAB_MARGIN_M, hmax + SLAB_MARGIN_M)]
    s0 = np.maximum.reduce([p[0] for p in parts] + [np.zeros(len(origins))])
    s1 = np.minimum.reduce([p[1] for p in parts] + [np.full(len(origins), max_range_m)])
    valid = np.isfinite(s0) & np.isfinite(s1) & (s1 >= s0)
    out = np.full_like(origins, np.nan)
    idx = np.flatnonzero(valid)
    if not idx.size:
        return out
    # samples: half a cell apart horizontally, at least the two ends of the interval
    horizontal = np.hypot(dirs[idx, 0], dirs[idx, 1])
    span = s1[idx] - s0[idx]
    need = np.ceil(span * horizontal / (0.5 * terrain.resolution_m)).astype(np.int64) + 1
    steps = int(np.clip(need.max(), 2, MAX_MARCH_STEPS))
    fractions = np.linspace(0.0, 1.0, steps)
    chunk = max(1, MARCH_CHUNK // steps)
    for begin in range(0, idx.size, chunk):
        sel = idx[begin:begin + chunk]
        o, d = origins[sel], dirs[sel]
        s = s0[sel, None] + (s1[sel] - s0[sel])[:, None] * fractions
        p = o[:, None, :] + s[..., None] * d[:, None, :]
        f = p[..., 2] - terrain.height_at(p[..., 0], p[..., 1])  # > 0 above the ground
        with np.errstate(invalid="ignore"):
            below = f <= 0
        first = np.argmax(below, axis=1)
        rows = np.arange(len(sel))
        any_below = below[rows, first]
        f_first = f[rows, first]
        touch = any_below & (first == 0) & (f_first >= -TOUCH_TOLERANCE_M)
        prev = np.maximum(first - 1, 0)
        with np.errstate(invalid="ignore"):
            cross = any_below & (first >= 1) & (f[rows, prev] > 0)
        lo, hi = s[rows, prev], s[rows, first]
        f_lo, f_hi = f[rows, prev], f_first
        # bisection on the bracketing samples (NaN heights count as above the ground), then
        # one secant step inside the final bracket (exact where the surface is linear there)
        iterations = int(np.ceil(np.log2(max(np.max(hi - lo, initial=0.0), 1e-12)
                                         / BISECTION_TOLERANCE_M))) + 1
        for _ in range(max(iterations, 0)):
            mid = 0.5 * (lo + hi)
            q = o + mid[:, None] * d
            fm = q[:, 2] - terrain.height_at(q[:, 0], q[:, 1])
            with np.errstate(invalid="ignore"):
                down = fm <= 0
            hi, f_hi = np.where(down, mid, hi), np.where(down, fm, f_hi)
            lo, f_lo = np.where(down, lo, mid), np.where(down, f_lo, fm)
        with np.errstate(invalid="ignore", divide="ignore"):
            secant = lo + (hi - lo) * f_lo / (f_lo - f_hi)
        secant = np.where(np.isfinite(secant) & (secant >= lo) & (secant <= hi), secant,
                          0.5 * (lo + hi))
        s_hit = np.where(touch, s[:, 0], secant)
        ok = touch | cross
        out[sel[ok]] = o[ok] + s_hit[ok, None] * d[ok]
    return out


def intersect_rays(origins: ArrayLike, directions: ArrayLike, terrain: Terrain,
                   max_range_m: float = math.inf) -> NDArray[np.float64]:
    """First ground points (N, 3), ENU m, of rays from ``origins`` (N, 3), m, along
    ``directions`` (N, 3, need not be unit); NaN rows where a ray does not reach the ground
    within ``max_range_m`` of its origin (measured along unit directions)."""
    o = np.asarray(origins, np.float64).reshape(-1, 3)
    d = np.asarray(directions, np.float64).reshape(-1, 3)
    if o.shape != d.shape:
        raise ValueError(f"origins {o.shape} and directions {d.shape} differ in shape")
    if not max_range_m > 0:
        raise ValueError(f"max_range_m must be > 0, got {max_range_m}")
    norm = np.linalg.norm(d, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = d / norm
    good = np.all(np.isfinite(o), axis=1) & np.all(np.isfinite(d), axis=1)
    out = np.full_like(o, np.nan)
    if not good.any():
        return out
    if isinstance(terrain, FlatTerrain):
        out[good] = _intersect_flat(o[good], d[good], terrain, max_range_m)
    elif isinstance(terrain, TerrainGrid):
        out[good] = _intersect_grid(o[good], d[good], terrain, max_range_m)
    else:
        raise ValueError(f"terrain must be FlatTerrain or TerrainGrid, got "
                         f"{type(terrain).__name__}")
    return out


def _pixels(uv: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(uv, np.float64)
    if p.ndim == 1 and p.shape == (2,):
        p = p[None]
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"pixel coordinates must have shape (N, 2), got {p.shape}")
    return p


def _rays(camera: CameraModel, uv: NDArray[np.float64]) -> NDArray[np.float64]:
    """Optical-frame unit rays of pixels (..., 2); NaN for non-finite pixels."""
    flat = uv.reshape(-1, 2)
    out = np.full((len(flat), 3), np.nan)
    good = np.all(np.isfinite(flat), axis=1)
    if good.any():
        out[good] = camera.rays(flat[good])
    return out.reshape(*uv.shape[:-1], 3)


def geolocate_pixels(camera: CameraModel, T_enu_camera: RigidTransform, uv: ArrayLike,
                     terrain: Terrain, max_range_m: float = math.inf) -> NDArray[np.float64]:
    """Ground points (N, 3), ENU m, seen at pixels ``uv`` (N, 2) (OpenCV pixel coordinates,
    distortion removed through ``camera``) from the camera pose ``T_enu_camera`` (optical
    frame -> ENU). NaN rows where the ray does not reach the ground: above the horizon, off
    the terrain grid, farther than ``max_range_m``, or a non-finite pixel."""
    pixels = _pixels(uv)
    if not pixels.size:
        return np.zeros((0, 3))
    dirs = _rays(camera, pixels) @ T_enu_camera.rotation.T
    origins = np.broadcast_to(T_enu_camera.translation, dirs.shape)
    return intersect_rays(origins, dirs, terrain, max_range_m)


# --- uncertainty -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PoseNoise:
    """1-sigma errors of the inputs of geolocation.

    horizontal_m : GNSS position error per horizontal axis (east and north), m.
    vertical_m : height error of the camera above the terrain, m.
    roll_pitch_deg : tilt error about each horizontal axis, degrees.
    yaw_deg : heading error, degrees.
    pixel : pixel position error per image axis, pixels.
    """

    horizontal_m: float = 1.5
    vertical_m: float = 3.0
    roll_pitch_deg: float = 0.5
    yaw_deg: float = 2.0
    pixel: float = 0.5

    def __post_init__(self) -> None:
        for name in ("horizontal_m", "vertical_m", "roll_pitch_deg", "yaw_deg", "pixel"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"PoseNoise.{name} must be finite and >= 0, got {value}")

    @property
    def sigmas(self) -> NDArray[np.float64]:
        """(8,) sigmas of east, north, up (m), rotations about east, north, up (rad), u, v
        (pixels)."""
        tilt, yaw = math.radians(self.roll_pitch_deg), math.radians(self.yaw_deg)
        return np.array([self.horizontal_m, self.horizontal_m, self.vertical_m,
                         tilt, tilt, yaw, self.pixel, self.pixel])


def _perturbed_points(camera: CameraModel, T: RigidTransform, uv: NDArray[np.float64],
                      terrain: Terrain, params: NDArray[np.float64],
                      pixel_noise: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ground points (S, N, 3) under S pose perturbations ``params`` (S, 6: ENU offset m,
    world-frame rotation vector rad) and pixel offsets ``pixel_noise`` (S, N, 2)."""
    rot = Rotation.from_rotvec(params[:, 3:6]).as_matrix() @ T.rotation  # (S, 3, 3)
    centre = T.translation + params[:, :3]                                 # (S, 3)
    rays = _rays(camera, uv[None] + pixel_noise)                           # (S, N, 3)
    dirs = np.einsum("sij,snj->sni", rot, rays)
    origins = np.broadcast_to(centre[:, None, :], dirs.shape)
    pts = intersect_rays(origins.reshape(-1, 3), dirs.reshape(-1, 3), terrain)
    return pts.reshape(dirs.shape)


def geolocation_covariance(camera: CameraModel, T_enu_camera: RigidTransform, uv: ArrayLike,
                           terrain: Terrain, noise: PoseNoise, samples: int = 64, seed: int = 0,
                           method: Literal["monte_carlo", "linearized"] = "monte_carlo",
                           nominal: ArrayLike | None = None) -> NDArray[np.float64]:
    """East/north covariance (N, 2, 2), m^2, of the ground points of pixels ``uv`` (N, 2).

    The inputs' errors are independent and Gaussian (:class:`PoseNoise`): camera position,
    rotations about the ENU axes through the camera centre (tilt about east and north with
    ``roll_pitch_deg``, heading about up with ``yaw_deg``; for a roughly level vehicle these
    are its roll/pitch and yaw errors), and the pixel position.

    method "monte_carlo": ``samples`` random poses (seeded by ``seed``), the same for every
    pixel; the sample covariance of the points that reach the ground (NaN where fewer than
    half of them do). "linearized": deterministic central differences of one sigma in each
    of the 8 inputs, ``C = sum_k J_k J_k^T`` (exact for a locally linear problem; ignores
    ``samples`` and ``seed``). Rows whose nominal point is NaN are NaN. ``nominal``: the
    ground points of ``uv`` from :func:`geolocate_pixels` with the same arguments, when the
    caller has them (else computed here).
    """
    pixels = _pixels(uv)
    n = len(pixels)
    if not n:
        return np.zeros((0, 2, 2))
    nominal = geolocate_pixels(camera, T_enu_camera, pixels, terrain) if nominal is None \
        else np.asarray(nominal, np.float64)
    sig = noise.sigmas
    if method == "monte_carlo":
        if samples < 3:
            raise ValueError(f"Monte Carlo covariance needs samples >= 3, got {samples}")
        rng = np.random.default_rng(seed)
        params = rng.standard_normal((samples, 6)) * sig[:6]
        pixel_noise = rng.standard_normal((samples, n, 2)) * sig[6:]
        xy = _perturbed_points(camera, T_enu_camera, pixels, terrain, params,
                               pixel_noise)[..., :2]
        hit = np.all(np.isfinite(xy), axis=2)                         # (S, N)
        count = hit.sum(axis=0)
        mean = np.where(hit[..., None], xy, 0.0).sum(axis=0) / np.maximum(count, 1)[:, None]
        dev = np.where(hit[..., None], xy - mean, 0.0)
        cov = np.einsum("sni,snj->nij", dev, dev) / np.maximum(count - 1, 1)[:, None, None]
        bad = count < max(3, math.ceil(MIN_HIT_FRACTION * samples))
    elif method == "linearized":
        steps = np.diag(sig)                                           # (8, 8)
        steps = np.concatenate([steps, -steps])                        # (16, 8)
        pixel_noise = np.broadcast_to(steps[:, None, 6:], (16, n, 2))
        xy = _perturbed_points(camera, T_enu_camera, pixels, terrain, steps[:, :6],
                               pixel_noise)[..., :2]
        jac = 0.5 * (xy[:8] - xy[8:])                                  # (8, N, 2), sigma-scaled
        cov = np.einsum("kni,knj->nij", jac, jac)
        bad = ~np.all(np.isfinite(jac), axis=(0, 2))
    else:
        raise ValueError(f"method must be 'monte_carlo' or 'linearized', got {method!r}")
    bad |= ~np.all(np.isfinite(nominal), axis=1)
    cov[bad] = np.nan
    return cov


def horizontal_sigma_m(cov: ArrayLike) -> NDArray[np.float64]:
    """Horizontal 1-sigma (N,), m, of east/north covariances (N, 2, 2), m^2: the square root
    of the larger eigenvalue (the semi-major axis of the 1-sigma error ellipse), so no
    direction has a larger standard deviation. NaN covariances give NaN."""
    c = np.asarray(cov, np.float64)
    if c.ndim < 2 or c.shape[-2:] != (2, 2):
        raise ValueError(f"covariances must have shape (N, 2, 2), got {c.shape}")
    a, b, d = c[..., 0, 0], 0.5 * (c[..., 0, 1] + c[..., 1, 0]), c[..., 1, 1]
    major = 0.5 * (a + d) + np.sqrt(0.25 * (a - d) ** 2 + b ** 2)
    return np.sqrt(np.maximum(major, 0.0))


def locate_geodetic(camera: CameraModel, T_enu_camera: RigidTransform, uv: ArrayLike,
                    terrain: Terrain, origin: GeoOrigin, noise: PoseNoise,
                    **covariance: Any) -> NDArray[np.float64]:
    """Ground positions of pixels ``uv`` (N, 2) as rows of latitude, longitude (deg),
    ellipsoid height (m) and horizontal 1-sigma (m): :func:`geolocate_pixels`, then
    :func:`geolocation_covariance` (``covariance``: its ``samples``, ``seed``, ``method``) and
    :func:`horizontal_sigma_m`, in the geodetic frame of ``origin``. (N, 4); NaN rows for
    pixels whose ray does not reach the ground."""
    enu = geolocate_pixels(camera, T_enu_camera, uv, terrain)
    cov = geolocation_covariance(camera, T_enu_camera, uv, terrain, noise, nominal=enu,
                                 **covariance)
    lat, lon, alt = enu_to_geodetic(enu, origin)
    return np.column_stack([lat, lon, alt, horizontal_sigma_m(cov)]).reshape(-1, 4)
