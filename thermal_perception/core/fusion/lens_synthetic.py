"""Synthetic calibration views: a heated target rendered into a camera at a pose, with a thermal
camera's blur and noise, and board poses that keep the target in view. The test bench of
:mod:`.lens_calibration` (known intrinsics and extrinsics to recover). Temperatures deg C,
lengths metres.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform
from thermal_perception.core.fusion.lens_targets import TargetSpec

# -- synthetic targets -----------------------------------------------------------------------

class TargetRenderer:
    """Renders a target seen by a camera at a known pose: the anti-aliased value of each
    pixel is the mean over ``supersample`` x ``supersample`` rays (through the camera's
    distortion), intersected with the board plane.

    The rays depend only on the camera and are computed once (float32 normalised image
    coordinates, 8 * supersample**2 bytes per pixel).
    """

    def __init__(self, camera: CameraModel, spec: TargetSpec, supersample: int = 3) -> None:
        if not 1 <= supersample <= 8:
            raise ValueError(f"supersample must be in [1, 8], got {supersample}")
        self.camera, self.spec, self.supersample = camera, spec, supersample
        h, w = camera.height, camera.width
        # undistorted normalised coordinates at pixel centres, one pixel of border around;
        # the sub-pixel samples are interpolated bilinearly from them (the map is smooth:
        # < 1e-3 px from undistorting each sample, at a tenth of the cost)
        v, u = np.mgrid[-1:h + 1, -1:w + 1].astype(np.float64)
        rays = camera.rays(np.column_stack([u.ravel(), v.ravel()]))
        grid = (rays[:, :2] / rays[:, 2:3]).reshape(h + 2, w + 2, 2)
        offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
        samples = np.empty((h, w, supersample, supersample, 2), np.float32)
        for a, dv in enumerate(offsets):
            fv = int(np.floor(dv))
            wv = dv - fv
            for b, du in enumerate(offsets):
                fu = int(np.floor(du))
                wu = du - fu

                def at(dy: int, dx: int, fv: int = fv, fu: int = fu) -> NDArray:
                    return grid[1 + fv + dy:1 + fv + dy + h, 1 + fu + dx:1 + fu + dx + w]

                samples[:, :, a, b] = ((1 - wv) * ((1 - wu) * at(0, 0) + wu * at(0, 1))
                                       + wv * ((1 - wu) * at(1, 0) + wu * at(1, 1)))
        # sample order (v, u, sub_v, sub_u), so a reshape averages each pixel's samples
        self._xy = samples.reshape(-1, 2)

    def render(self, T_camera_board: RigidTransform, target_value: float = 35.0,
               board_value: float = 20.0, background_value: float = 15.0,
               margin: float = 1.0) -> NDArray[np.float32]:
        """Noise-free (H, W) image: ``target_value`` on the warm squares / circles,
        ``board_value`` on the rest of the board (``margin`` spacings of border) and
        ``background_value`` off the board (deg C for a thermal image)."""
        cam, s, spec = self.camera, self.supersample, self.spec
        inv = T_camera_board.inverse()
        r, t = inv.rotation, inv.translation
        # board coordinates of the point on the plane z_board = 0 seen along each ray
        # X_board = r @ (lam * ray) + t, with lam chosen so that X_board.z = 0
        r, t = r.astype(np.float32), t.astype(np.float32)
        x, y = self._xy[:, 0], self._xy[:, 1]  # float32 is ample: < 1e-7 m on the board
        ray_z = r[2, 0] * x + r[2, 1] * y + r[2, 2]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lam = -t[2] / ray_z
            hit = np.isfinite(lam) & (lam > 0)
            lam[~hit] = np.nan  # rays parallel to or pointing away from the board
            bx = lam * (r[0, 0] * x + r[0, 1] * y + r[0, 2]) + t[0]
            by = lam * (r[1, 0] * x + r[1, 1] * y + r[1, 2]) + t[1]
        x0, y0, x1, y1 = spec.outline_m(margin)
        on_board = hit & (bx >= x0) & (bx <= x1) & (by >= y0) & (by <= y1)
        warm = on_board & self._warm(bx, by)
        values = np.where(warm, np.float32(target_value),
                          np.where(on_board, np.float32(board_value),
                                   np.float32(background_value)))
        return values.reshape(cam.height, cam.width, s * s).mean(axis=2, dtype=np.float32)

    def _warm(self, bx: NDArray, by: NDArray) -> NDArray[np.bool_]:
        spec, step = self.spec, self.spec.spacing_m
        if spec.pattern == "chessboard":
            a, b = np.floor(bx / step), np.floor(by / step)
            inside = (a >= -1) & (a <= spec.cols - 1) & (b >= -1) & (b <= spec.rows - 1)
            return inside & ((a + b) % 2 == 0)
        radius = spec.diameter_m / 2.0
        if spec.pattern == "circles":
            i = np.clip(np.round(by / step), 0, spec.rows - 1)
            j = np.clip(np.round(bx / step), 0, spec.cols - 1)
            return (bx - j * step) ** 2 + (by - i * step) ** 2 <= radius ** 2
        warm = np.zeros(bx.shape, bool)
        base = np.floor(by / step)
        for di in (0, 1):  # the two nearest rows; x positions (2 j + i % 2) * step
            i = np.clip(base + di, 0, spec.rows - 1)
            j = np.clip(np.round((bx / step - i % 2) / 2.0), 0, spec.cols - 1)
            warm |= (bx - (2 * j + i % 2) * step) ** 2 + (by - i * step) ** 2 <= radius ** 2
        return warm


def thermal_view(clean: NDArray[np.float32], blur_sigma_px: float = 0.7, netd_k: float = 0.05,
                 seed: int | np.random.Generator | None = None) -> NDArray[np.float32]:
    """A rendered temperature image (deg C) as a thermal camera sees it: optical blur
    (Gaussian, sigma in pixels) and temporal noise with standard deviation ``netd_k``, K."""
    if blur_sigma_px < 0 or netd_k < 0:
        raise ValueError("blur_sigma_px and netd_k must be >= 0")
    image = clean.astype(np.float32)
    if blur_sigma_px > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur_sigma_px)
    rng = np.random.default_rng(seed)
    if netd_k > 0:
        image = image + rng.normal(0.0, netd_k, image.shape).astype(np.float32)
    return image


def board_visible(camera: CameraModel, T_camera_board: RigidTransform, spec: TargetSpec,
                  margin_px: float = 8.0) -> bool:
    """Whether the whole board (pattern and one spacing of border) is in the image, at
    least ``margin_px`` inside its edges, and in front of the camera."""
    x0, y0, x1, y1 = spec.outline_m(1.0)
    n = 8  # samples along each edge: distortion bends them
    e = np.linspace(0.0, 1.0, n)
    edge = np.concatenate([
        np.column_stack([x0 + (x1 - x0) * e, np.full(n, y0)]),
        np.column_stack([x0 + (x1 - x0) * e, np.full(n, y1)]),
        np.column_stack([np.full(n, x0), y0 + (y1 - y0) * e]),
        np.column_stack([np.full(n, x1), y0 + (y1 - y0) * e])])
    points = T_camera_board.apply(np.column_stack([edge, np.zeros(len(edge))]))
    if np.any(points[:, 2] <= 0.05):
        return False
    uv, inside = camera.project(points)
    return bool(inside.all() and np.all(uv >= margin_px)
                and np.all(uv[:, 0] <= camera.width - 1 - margin_px)
                and np.all(uv[:, 1] <= camera.height - 1 - margin_px))


def sample_board_poses(camera: CameraModel, spec: TargetSpec, count: int, seed: int = 0,
                       fill: tuple[float, float] = (0.35, 0.7), max_tilt_deg: float = 35.0,
                       max_roll_deg: float = 20.0,
                       accept: Callable[[RigidTransform], bool] | None = None
                       ) -> list[RigidTransform]:
    """``count`` random ``T_camera_board`` with the whole board in view: its width a
    ``fill`` fraction of the image width, tilted up to ``max_tilt_deg`` about x and y,
    rolled up to ``max_roll_deg``, centred anywhere it fits. ``accept`` adds a condition
    (e.g. also visible in a second camera)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = spec.outline_m(1.0)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2, 0.0])
    poses: list[RigidTransform] = []
    for _ in range(2000 * count):
        fraction = rng.uniform(*fill)
        distance = camera.fx * (x1 - x0) / (fraction * camera.width)
        uv = rng.uniform([0.15 * camera.width, 0.15 * camera.height],
                         [0.85 * camera.width, 0.85 * camera.height])
        tilt = np.radians(rng.uniform(-max_tilt_deg, max_tilt_deg, 2))
        roll = np.radians(rng.uniform(-max_roll_deg, max_roll_deg))
        rotation = Rotation.from_euler("zyx", [roll, tilt[1], tilt[0]]).as_matrix()
        position = camera.rays(uv)[0] * distance
        pose = RigidTransform(rotation, position - rotation @ centre)
        if board_visible(camera, pose, spec) and (accept is None or accept(pose)):
            poses.append(pose)
            if len(poses) == count:
                return poses
    raise ValueError(f"found only {len(poses)} of {count} poses with the board in view; "
                     "use a smaller board or fill fraction")


@functools.lru_cache(maxsize=4)
def _profile_radiometry(profile_name: str) -> tuple[Any, Any, int]:
    from thermal_perception.core.physics import BandRadianceTable
    from thermal_perception.core.physics.calibration import LinearCalibration
    from thermal_perception.core.physics.camera import get_profile

    profile = get_profile(profile_name)
    table = BandRadianceTable(profile.band_m)
    return table, LinearCalibration.from_profile(profile, table), profile.full_scale_counts


def counts_from_temperature(temperature_c: ArrayLike, profile_name: str = "boson640"
                            ) -> NDArray[np.uint16]:
    """Raw counts (uint16) of a camera profile for scene temperatures, deg C (blackbody,
    through the profile's nominal linear radiometric calibration)."""
    from scipy.constants import zero_Celsius

    table, calibration, full_scale = _profile_radiometry(profile_name)
    t = np.asarray(temperature_c, np.float64)
    counts = calibration.counts_from_radiance(table.radiance(t + zero_Celsius))
    return np.clip(np.rint(counts), 0, full_scale).astype(np.uint16)
