"""Lidar and thermal: temperature for every lidar point, depth for every detection.

Points (lidar frame) go into the thermal optical frame with the extrinsic transform, are
projected with the calibrated thermal camera and take the temperature of the pixel they land
on. A lidar sees surfaces the thermal camera does not (the two sit apart), so a point hidden
behind a nearer surface would take that surface's temperature: an occlusion test rejects it.
The z-buffer holds, per pixel, the nearest projected point; it is spread over a small window
(a minimum filter), since a sparse lidar leaves gaps between the points of a nearer surface.
A point is visible when it lies within ``tolerance`` of the nearest depth around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform

#: Fields of the ``points_thermal`` cloud (all float32): position in the lidar frame (m), the
#: lidar's intensity, the temperature of the point (deg C, NaN when not seen by the camera).
THERMAL_POINT_DTYPE = np.dtype([("x", np.float32), ("y", np.float32), ("z", np.float32),
                                ("intensity", np.float32), ("temperature", np.float32)])


@dataclass(frozen=True)
class OcclusionSettings:
    """window_px : side of the z-buffer window (odd, >= 1). tolerance_m, tolerance_rel : a point
    is visible when its depth <= nearest depth * (1 + tolerance_rel) + tolerance_m."""

    window_px: int = 5
    tolerance_m: float = 0.3
    tolerance_rel: float = 0.02

    def __post_init__(self) -> None:
        if self.window_px < 1 or self.window_px % 2 == 0:
            raise ValueError(f"window_px must be odd and >= 1, got {self.window_px}")
        if self.tolerance_m < 0 or self.tolerance_rel < 0:
            raise ValueError("occlusion tolerances must be >= 0")


@dataclass
class Projection:
    """Lidar points in the thermal image.

    uv : (N, 2) pixel coordinates (NaN behind the camera). depth_m : (N,) along the optical
    axis. in_image : in front and inside the image. visible : in_image and not occluded.
    pixel : (N,) flat index of the nearest pixel (-1 outside).
    """

    uv: NDArray[np.float64]
    depth_m: NDArray[np.float64]
    in_image: NDArray[np.bool_]
    visible: NDArray[np.bool_]
    pixel: NDArray[np.int64]


class LidarProjector:
    """Projects lidar points into a thermal camera with occlusion handling.

    The z-buffer image is allocated once per camera and reused.
    """

    def __init__(self, camera: CameraModel, T_thermal_lidar: RigidTransform,
                 occlusion: OcclusionSettings | None = None) -> None:
        self.camera = camera
        self.T_thermal_lidar = T_thermal_lidar
        self.occlusion = occlusion or OcclusionSettings()
        self._zbuf = np.empty(camera.height * camera.width, np.float32)

    def project(self, points_lidar: ArrayLike) -> Projection:
        p = np.asarray(points_lidar, np.float64).reshape(-1, 3)
        finite = np.isfinite(p).all(axis=1)
        cam = self.T_thermal_lidar.apply(np.where(finite[:, None], p, 0.0))
        uv, in_image = self.camera.project(cam)
        in_image &= finite
        depth = cam[:, 2]
        pixel = np.full(len(p), -1, np.int64)
        u = np.rint(uv[in_image, 0]).astype(np.int64)
        v = np.rint(uv[in_image, 1]).astype(np.int64)
        pixel[in_image] = v * self.camera.width + u
        visible = in_image.copy()
        if in_image.any():
            zbuf = self._zbuf
            zbuf.fill(np.inf)
            np.minimum.at(zbuf, pixel[in_image], depth[in_image].astype(np.float32))
            k = self.occlusion.window_px
            if k > 1:
                img = zbuf.reshape(self.camera.height, self.camera.width)
                near = cv2.erode(img, np.ones((k, k), np.uint8), borderType=cv2.BORDER_REPLICATE)
            else:
                near = zbuf.reshape(self.camera.height, self.camera.width)
            nearest = near.reshape(-1)[pixel[in_image]].astype(np.float64)
            o = self.occlusion
            visible[in_image] = depth[in_image] <= nearest * (1 + o.tolerance_rel) + o.tolerance_m
        return Projection(uv, depth, in_image, visible, pixel)


def sample_temperature(temperature_c: NDArray[np.float32], projection: Projection
                       ) -> NDArray[np.float32]:
    """Temperature (deg C) of the nearest pixel for visible points, NaN for the others."""
    out = np.full(len(projection.pixel), np.nan, np.float32)
    vis = projection.visible
    out[vis] = temperature_c.reshape(-1)[projection.pixel[vis]]
    return out


def thermal_points(points_lidar: ArrayLike, intensity: ArrayLike | None,
                   temperature_c: NDArray[np.float32], projection: Projection,
                   keep_unseen: bool = False) -> NDArray:
    """The ``points_thermal`` cloud as a structured array of :data:`THERMAL_POINT_DTYPE`.

    keep_unseen : keep points the camera does not see (temperature NaN); else drop them.
    """
    p = np.asarray(points_lidar, np.float32).reshape(-1, 3)
    temps = sample_temperature(temperature_c, projection)
    keep = np.ones(len(p), bool) if keep_unseen else projection.visible
    cloud = np.empty(int(keep.sum()), THERMAL_POINT_DTYPE)
    cloud["x"], cloud["y"], cloud["z"] = p[keep, 0], p[keep, 1], p[keep, 2]
    cloud["intensity"] = (np.zeros(len(p), np.float32) if intensity is None
                          else np.asarray(intensity, np.float32).reshape(-1))[keep]
    cloud["temperature"] = temps[keep]
    return cloud


def box_position(points_lidar: ArrayLike, projection: Projection,
                 box: tuple[float, float, float, float], temperature_c: NDArray[np.float32],
                 min_temperature_c: float | None = None, min_points: int = 3
                 ) -> tuple[NDArray[np.float64], int] | None:
    """3D position (lidar frame, m) of a detection box ``(x0, y0, x1, y1)`` (x1, y1 exclusive):
    the median of the visible points inside it, keeping only those at least
    ``min_temperature_c`` warm when given (the object, not the ground around it). Returns the
    position and the number of points used, or None with fewer than ``min_points``."""
    x0, y0, x1, y1 = box
    uv = projection.uv
    with np.errstate(invalid="ignore"):
        inside = (projection.visible & (uv[:, 0] >= x0 - 0.5) & (uv[:, 0] < x1 - 0.5)
                  & (uv[:, 1] >= y0 - 0.5) & (uv[:, 1] < y1 - 0.5))
    if min_temperature_c is not None:
        temps = sample_temperature(temperature_c, projection)
        with np.errstate(invalid="ignore"):
            warm = inside & (temps >= min_temperature_c)
        if warm.sum() >= min_points:
            inside = warm
    n = int(inside.sum())
    if n < min_points:
        return None
    p = np.asarray(points_lidar, np.float64).reshape(-1, 3)[inside]
    return np.median(p, axis=0), n
