"""Simulated RGB camera, lidar, GPS and IMU of the thermal simulator's UAV, with geometric truth.

The scene map of a nadir :class:`~thermal_perception.sim.scenes.SceneTruth` becomes 3D points
in a local East-North-Up frame (``map``): cell (col, row) of height h lies at
``x = (col + 0.5) gsd`` east, ``y = -(row + 0.5) gsd`` north, ``z = h`` up. Any pinhole camera
at any pose sees it through :func:`render_pinhole` (cells splatted 2x2 per cell into a z-buffer,
so taller surfaces hide what is behind them); the lidar is a flash lidar rendered the same way
at its own resolution, each return a 3D point with the surface's true temperature.

Platform: the UAV's ``base_link`` flies level at the thermal simulator's altitude, facing north
(yaw +90 deg in ENU), carrying the thermal camera looking straight down with the top of the
image forward; so the simulated thermal frames (drawn as map crops, north up) are exactly what
this camera sees of flat ground. The simulator draws frames as map crops and ignores the
parallax of raised surfaces (trees, people): fusion tests that need exact geometry for raised
surfaces compare against :func:`render_pinhole` views, which include it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.constants import zero_Celsius

from thermal_perception.core.fusion import GeoOrigin
from thermal_perception.core.fusion.geolocation import enu_to_geodetic
from thermal_perception.core.fusion.geometry import R_OPTICAL_LINK, CameraModel, RigidTransform
from thermal_perception.sim.simulator import ThermalSimulator
from thermal_perception.sim.truth import LABELS, SceneTruth

#: ENU origin of simulated flights (WGS84 lat, lon in degrees, ellipsoid height m): a
#: rural search area; the ground of the scene lies at this height.
SIM_ORIGIN = (47.3769, 8.5417, 420.0)
SUPERSAMPLE = 2

#: Rotation base_link <- thermal optical frame of the nadir camera (image top = forward):
#: optical x (image right) = right of the UAV (-y), optical y (image down) = backwards (-x),
#: optical z = down (-z).
R_BASE_NADIR_OPTICAL = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
#: Attitude of base_link in ENU: level, facing north.
UAV_YAW_RAD = math.pi / 2

# Visible colours of the surfaces (BGR, typical daylight albedo look), by label.
PALETTE_BGR: dict[str, tuple[int, int, int]] = {
    "terrain": (70, 120, 110), "vegetation": (40, 95, 45), "water": (90, 60, 30),
    "road": (85, 85, 85), "person": (60, 50, 170), "animal": (50, 80, 120),
    "vehicle": (160, 150, 150), "fire": (40, 140, 250), "wall": (170, 180, 190),
    "window": (110, 90, 70), "metal": (190, 190, 190), "thermal_bridge": (170, 180, 190),
    "burned": (30, 30, 35), "door": (60, 70, 110), "sidewalk": (160, 165, 165),
    "lane_marking": (230, 230, 230), "roof": (60, 70, 140),
}
NIGHT_BRIGHTNESS = 0.06  # RGB at night: little light, mostly sensor noise
RGB_NOISE_DN = 2.0
LIDAR_RANGE_NOISE_M = 0.02  # 1-sigma range noise (typical solid-state lidar: 2 cm)
REFLECTIVITY: dict[str, float] = {"vegetation": 0.45, "water": 0.05, "road": 0.12,
                                  "vehicle": 0.6, "lane_marking": 0.8, "person": 0.35}


@dataclass
class PinholeView:
    """What a pinhole camera sees of a scene.

    cell : (H, W) int64 flat index into the scene maps of the visible cell, -1 where none.
    depth_m : (H, W) float32 depth along the optical axis, m (inf where none).
    points_enu : (H, W, 3) float64 ENU position of the visible surface point, m (NaN where none).
    """

    cell: NDArray[np.int64]
    depth_m: NDArray[np.float32]
    points_enu: NDArray[np.float64]

    def lookup(self, scene_map: NDArray, fill: float = np.nan) -> NDArray:
        """A scene map (e.g. ``temperature_k``) sampled at the visible cells."""
        flat = scene_map.reshape(-1)
        out = flat[np.maximum(self.cell, 0)].astype(np.float64)
        out[self.cell < 0] = fill
        return out


def scene_to_enu(world: SceneTruth, col: NDArray, row: NDArray) -> NDArray[np.float64]:
    """ENU points (..., 3) of continuous cell coordinates on the scene's surface."""
    x, y = world.cell_to_world(col, row)
    ci = np.clip(np.rint(col).astype(np.int64), 0, world.shape[1] - 1)
    ri = np.clip(np.rint(row).astype(np.int64), 0, world.shape[0] - 1)
    return np.stack([x, -np.asarray(y), world.height_m[ri, ci].astype(np.float64)], axis=-1)


def render_pinhole(world: SceneTruth, camera: CameraModel, T_enu_camera: RigidTransform
                   ) -> PinholeView:
    """Z-buffered view of a nadir scene by ``camera`` (optical frame) at ``T_enu_camera``."""
    if world.view != "nadir":
        raise ValueError("render_pinhole draws nadir scenes (maps of the ground)")
    h_img, w_img = camera.height, camera.width
    # Cells that can be seen: the footprint of the image on the ground and on the tallest
    # surface, plus a margin.
    corners = np.array([[0, 0], [w_img - 1, 0], [0, h_img - 1], [w_img - 1, h_img - 1]], float)
    rays = T_enu_camera.rotation @ camera.rays(corners).T
    origin = T_enu_camera.translation
    top = float(world.height_m.max())
    xs, ys = [], []
    for plane_z in (0.0, top):
        down = rays[2] < -1e-6
        if not down.all():
            raise ValueError("render_pinhole needs a camera looking down at the whole image")
        s = (plane_z - origin[2]) / rays[2]
        xs.extend(origin[0] + s * rays[0])
        ys.extend(origin[1] + s * rays[1])
    gsd = world.gsd_m
    c0 = max(int(min(xs) / gsd) - 3, 0)
    c1 = min(int(max(xs) / gsd) + 3, world.shape[1])
    r0 = max(int(-max(ys) / gsd) - 3, 0)
    r1 = min(int(-min(ys) / gsd) + 3, world.shape[0])
    if c1 <= c0 or r1 <= r0:
        raise ValueError("the camera does not see the scene")
    sub = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    cols = (np.arange(c0, c1)[None, :, None] + sub[None, None, :]).repeat(r1 - r0, 0)
    rows = (np.arange(r0, r1)[:, None, None] + sub[None, None, :]).repeat(c1 - c0, 1)
    cols = np.broadcast_to(cols[..., :, None], (*cols.shape, SUPERSAMPLE)).reshape(-1)
    rows = np.broadcast_to(rows[..., None, :], (*rows.shape[:2], SUPERSAMPLE, SUPERSAMPLE)
                           ).reshape(-1)
    cell_col = np.clip(np.rint(cols), 0, world.shape[1] - 1).astype(np.int64)
    cell_row = np.clip(np.rint(rows), 0, world.shape[0] - 1).astype(np.int64)
    enu = scene_to_enu(world, cols, rows)
    cam = T_enu_camera.inverse().apply(enu)
    uv, inside = camera.project(cam)
    u = np.rint(uv[inside, 0]).astype(np.int64)
    v = np.rint(uv[inside, 1]).astype(np.int64)
    pixel = v * w_img + u
    depth = cam[inside, 2]
    cell = (cell_row * world.shape[1] + cell_col)[inside]
    enu_in = enu[inside]
    order = np.lexsort((depth, pixel))  # by pixel, nearest first
    pixel, first = np.unique(pixel[order], return_index=True)
    chosen = order[first]
    cell_img = np.full(h_img * w_img, -1, np.int64)
    depth_img = np.full(h_img * w_img, np.inf, np.float32)
    points = np.full((h_img * w_img, 3), np.nan)
    cell_img[pixel] = cell[chosen]
    depth_img[pixel] = depth[chosen]
    points[pixel] = enu_in[chosen]
    view = PinholeView(cell_img.reshape(h_img, w_img), depth_img.reshape(h_img, w_img),
                       points.reshape(h_img, w_img, 3))
    _fill_holes(view)
    return view


def _fill_holes(view: PinholeView, passes: int = 2) -> None:
    """Give isolated empty pixels (splat gaps) the value of a filled 4-neighbour."""
    h, w = view.cell.shape
    # (destination, source) slices of the four neighbour shifts, without wrapping around
    shifts = [((slice(None), slice(1, None)), (slice(None), slice(0, w - 1))),
              ((slice(None), slice(0, w - 1)), (slice(None), slice(1, None))),
              ((slice(1, None), slice(None)), (slice(0, h - 1), slice(None))),
              ((slice(0, h - 1), slice(None)), (slice(1, None), slice(None)))]
    for _ in range(passes):
        for dst, src in shifts:
            take = (view.cell[dst] < 0) & (view.cell[src] >= 0)
            if not take.any():
                continue
            for layer in (view.cell, view.depth_m, view.points_enu):
                target = layer[dst]
                target[take] = layer[src][take]


@dataclass
class LidarScan:
    """One simulated lidar scan.

    points : (N, 3) float32 in the lidar frame, m. intensity : (N,) float32 reflectivity 0..1.
    temperature_c : (N,) true surface temperature, deg C. labels : (N,) uint8 scene labels.
    points_enu : (N, 3) true ENU positions (before range noise), m.
    """

    points: NDArray[np.float32]
    intensity: NDArray[np.float32]
    temperature_c: NDArray[np.float32]
    labels: NDArray[np.uint8]
    points_enu: NDArray[np.float64]


def _default_rgb_camera() -> CameraModel:
    # 640x480 RGB with a 60 deg horizontal field of view, slight barrel distortion.
    f = 320.0 / math.tan(math.radians(30.0))
    return CameraModel(640, 480, np.array([[f, 0, 319.5], [0, f, 239.5], [0, 0, 1.0]]),
                       np.array([-0.05, 0.01, 0.0, 0.0, 0.0]))


def _default_lidar() -> CameraModel:
    # Flash/solid-state lidar: 160x120 returns over 70 x 55 deg.
    f = 80.0 / math.tan(math.radians(35.0))
    return CameraModel(160, 120, np.array([[f, 0, 79.5], [0, f, 59.5], [0, 0, 1.0]]))


@dataclass
class SimulatedRig:
    """The sensors of the simulated UAV around a :class:`ThermalSimulator`.

    T_thermal_rgb, T_thermal_lidar : extrinsics (RGB optical frame / lidar frame -> thermal
    optical frame). The lidar frame follows REP 103 (x forward = its boresight, z up of the
    sensor). origin : WGS84 (lat deg, lon deg, ellipsoid height m) of the ENU origin.
    """

    simulator: ThermalSimulator
    rgb_camera: CameraModel = field(default_factory=_default_rgb_camera)
    T_thermal_rgb: RigidTransform = field(default_factory=lambda: RigidTransform.from_rpy(
        0.004, -0.006, 0.003, (0.06, 0.0, 0.01)))
    lidar_camera: CameraModel = field(default_factory=_default_lidar)
    T_thermal_lidar: RigidTransform = field(default_factory=lambda: RigidTransform(
        np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), (-0.05, 0.12, 0.0)))
    origin: tuple[float, float, float] = SIM_ORIGIN
    seed: int = 0

    def __post_init__(self) -> None:
        world = self.simulator.world
        if world.view != "nadir":
            raise ValueError("simulated fusion sensors need a nadir scene (uav_sar, road, fire)")
        self.thermal_camera = CameraModel.from_profile(self.simulator.profile)
        rng = np.random.default_rng(self.seed + 17)
        blur = cv2.GaussianBlur(rng.standard_normal(world.shape).astype(np.float32), (0, 0), 1.5)
        self._albedo = (1.0 + 0.6 * blur / max(float(blur.std()), 1e-6) * 0.25).clip(0.5, 1.5)
        self._palette = np.zeros((max(LABELS.values()) + 1, 3), np.float32)
        for name, bgr in PALETTE_BGR.items():
            self._palette[LABELS[name]] = bgr
        self._reflect = np.full(max(LABELS.values()) + 1, 0.25, np.float32)
        for name, value in REFLECTIVITY.items():
            self._reflect[LABELS[name]] = value
        self._noise = np.random.default_rng(self.seed + 23)
        self.night = abs(world.sky_temperature_c - world.air_temperature_c) > 17.5
        self._world_bgr = np.clip(self._palette[world.labels] * self._albedo[..., None]
                                  * (NIGHT_BRIGHTNESS if self.night else 1.0), 0, 255
                                  ).astype(np.uint8)
        self._ground_cache: dict = {}
        noise = np.random.default_rng(self.seed + 29).normal(
            0.0, RGB_NOISE_DN, (4, self.rgb_camera.height, self.rgb_camera.width, 3))
        self._rgb_noise = noise.astype(np.float32)
        self._rgb_frames = 0
        self._rgb_rays = self.rgb_camera.rays(self.rgb_camera.pixel_grid())
        self._lidar_rays = self.lidar_camera.rays(self.lidar_camera.pixel_grid())

    # -- poses ----------------------------------------------------------------------------

    @property
    def T_base_thermal(self) -> RigidTransform:
        """Camera mount: thermal optical frame -> base_link (camera at the base origin)."""
        return RigidTransform(R_BASE_NADIR_OPTICAL)

    def T_enu_thermal(self, time_s: float) -> RigidTransform:
        """Pose of the thermal optical frame in ENU at ``time_s``."""
        sim = self.simulator
        x_off, y_off = sim.camera_offset_px(time_s)
        cx, cy = (sim.profile.width - 1) / 2.0, (sim.profile.height - 1) / 2.0
        east, south = sim.world.cell_to_world(x_off + cx, y_off + cy)
        rotation = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
        return RigidTransform(rotation, (east, -south, sim.altitude_m))

    def T_enu_base(self, time_s: float) -> RigidTransform:
        return self.T_enu_thermal(time_s) @ self.T_base_thermal.inverse()

    def orientation_xyzw(self, time_s: float) -> NDArray[np.float64]:
        """base_link attitude in ENU (what an IMU with REP 145 conventions reports)."""
        return self.T_enu_base(time_s).quaternion

    def geodetic(self, time_s: float) -> tuple[float, float, float]:
        """GPS fix of base_link: latitude, longitude (deg), ellipsoid height (m)."""
        lat, lon, alt = enu_to_geodetic(self.T_enu_base(time_s).translation,
                                        GeoOrigin(*self.origin))
        return float(lat), float(lon), float(alt)

    def velocity_enu(self, time_s: float, dt: float = 0.01) -> NDArray[np.float64]:
        a = self.T_enu_base(time_s - dt).translation
        b = self.T_enu_base(time_s + dt).translation
        return (b - a) / (2 * dt)

    # -- images and scans -----------------------------------------------------------------

    def thermal_view(self, time_s: float) -> PinholeView:
        """The thermal camera's exact pinhole view (with the parallax of raised surfaces)."""
        return render_pinhole(self.simulator.world, self.thermal_camera, self.T_enu_thermal(time_s))

    def _ground_cells(self, T_enu_sensor: RigidTransform, rays_optical: NDArray[np.float64]
                      ) -> tuple[NDArray[np.float64], NDArray[np.float32], NDArray[np.float32]]:
        """Where optical-frame rays from a sensor meet the ground plane: ENU points and
        continuous cell coordinates (col, row). The offsets from the sensor are cached per
        attitude and height (the simulated UAV flies level at a constant height)."""
        origin = T_enu_sensor.translation
        key = (id(rays_optical), T_enu_sensor.rotation.tobytes(), float(origin[2]))
        offsets = self._ground_cache.get(key)
        if offsets is None:
            rays = rays_optical @ T_enu_sensor.rotation.T
            s = np.where(rays[:, 2] < -1e-9, -origin[2] / np.minimum(rays[:, 2], -1e-9), np.nan)
            offsets = (s[:, None] * rays).astype(np.float32)
            if len(self._ground_cache) > 8:
                self._ground_cache.clear()
            self._ground_cache[key] = offsets
        gsd = self.simulator.world.gsd_m
        col = offsets[:, 0] * np.float32(1 / gsd) + np.float32(origin[0] / gsd - 0.5)
        row = offsets[:, 1] * np.float32(-1 / gsd) + np.float32(-origin[1] / gsd - 0.5)
        return origin + offsets.astype(np.float64), col, row

    def rgb_image(self, time_s: float, exact: bool = False
                  ) -> tuple[NDArray[np.uint8], PinholeView | None]:
        """BGR image of the RGB camera at ``time_s``.

        exact=False (live simulation): the scene drawn where each ray meets the ground plane,
        as the thermal simulator draws its frames (one remap, milliseconds); no view returned.
        exact=True: the z-buffered pinhole view with the parallax of raised surfaces, and the
        view (truth) with it.
        """
        if not exact:
            T_enu_rgb = self.T_enu_thermal(time_s) @ self.T_thermal_rgb
            _, col, row = self._ground_cells(T_enu_rgb, self._rgb_rays)
            shape = (self.rgb_camera.height, self.rgb_camera.width)
            image = cv2.remap(self._world_bgr, col.reshape(shape), row.reshape(shape),
                              cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            self._rgb_frames += 1
            noise = self._rgb_noise[self._rgb_frames % len(self._rgb_noise)]
            return cv2.add(image, noise, dtype=cv2.CV_8U), None
        world = self.simulator.world
        T_enu_rgb = self.T_enu_thermal(time_s) @ self.T_thermal_rgb
        view = render_pinhole(world, self.rgb_camera, T_enu_rgb)
        idx = np.maximum(view.cell, 0)
        colour = self._palette[world.labels.reshape(-1)[idx]] * self._albedo.reshape(-1)[idx][
            ..., None]
        if self.night:
            colour *= NIGHT_BRIGHTNESS
        colour += self._noise.normal(0.0, RGB_NOISE_DN, colour.shape).astype(np.float32)
        colour[view.cell < 0] = 0
        return np.clip(colour, 0, 255).astype(np.uint8), view

    def lidar_scan(self, time_s: float, exact: bool = False) -> LidarScan:
        """A flash-lidar scan at ``time_s``: the surface seen by each of its pixels.

        exact=False (live simulation, consistent with the thermal frames): a return lies on its
        ray at the height of the scene cell where the ray meets the ground plane, so raised
        surfaces appear in the lidar where the thermal frames draw them. exact=True: z-buffered
        pinhole rendering (true 3D positions and occlusions).
        """
        world = self.simulator.world
        T_enu_lidar = self.T_enu_thermal(time_s) @ self.T_thermal_lidar
        # The lidar frame looks along +x; render with an optical frame looking the same way.
        T_lidar_optical = RigidTransform(R_OPTICAL_LINK.T)
        if exact:
            view = render_pinhole(world, self.lidar_camera, T_enu_lidar @ T_lidar_optical)
            hit = view.cell >= 0
            enu = view.points_enu[hit]
            cells = view.cell[hit]
        else:
            T = T_enu_lidar @ T_lidar_optical
            ground, col, row = self._ground_cells(T, self._lidar_rays)
            ci, ri = np.rint(col), np.rint(row)
            hit = ((ci >= 0) & (ci < world.shape[1]) & (ri >= 0) & (ri < world.shape[0]))
            cells = (ri[hit] * world.shape[1] + ci[hit]).astype(np.int64)
            height = world.height_m.reshape(-1)[cells].astype(np.float64)
            origin = T.translation
            enu = origin + (ground[hit] - origin) * ((origin[2] - height) / origin[2])[:, None]
        local = T_enu_lidar.inverse().apply(enu)
        rng_m = np.linalg.norm(local, axis=1, keepdims=True)
        noisy = local * (1.0 + self._noise.normal(0.0, LIDAR_RANGE_NOISE_M, rng_m.shape) / rng_m)
        labels = world.labels.reshape(-1)[cells]
        return LidarScan(
            points=noisy.astype(np.float32),
            intensity=self._reflect[labels].astype(np.float32),
            temperature_c=(world.temperature_k.reshape(-1)[cells]
                           - zero_Celsius).astype(np.float32),
            labels=labels.astype(np.uint8),
            points_enu=enu,
        )
