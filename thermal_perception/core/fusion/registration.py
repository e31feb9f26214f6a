"""Thermal <-> RGB registration and overlay images.

A thermal pixel and an RGB pixel see the same point only at a known distance, so registration
takes the two calibrated cameras (:class:`~.geometry.CameraModel`, with distortion), the
extrinsic transform and a scene plane (a depth in front of the thermal camera, or any plane),
or directly a homography. From them it builds, once per configuration, the
remap tables that carry the RGB image into the thermal image's pixel grid; every frame is then
one ``cv2.remap``. Overlays: alpha blend, and edge/detail transfer (the RGB image's high-pass
luminance added to the colourised thermal image, as "MSX"-style fusion does) that keeps the
thermal colours and adds visible-light outlines.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform

OVERLAY_MODES = ("blend", "edges")


@dataclass(frozen=True)
class ScenePlane:
    """The plane ``n . X = distance_m`` in the thermal optical frame (n: unit normal pointing
    away from the camera). Default: fronto-parallel at ``distance_m``."""

    distance_m: float
    normal: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.distance_m) and self.distance_m > 0):
            raise ValueError(f"plane distance must be > 0 m, got {self.distance_m}")
        n = np.asarray(self.normal, np.float64)
        if n.shape != (3,) or not np.isfinite(n).all() or np.linalg.norm(n) < 1e-9:
            raise ValueError(f"plane normal must be 3 finite values, got {self.normal}")


class Registration:
    """Maps between a thermal and an RGB camera for points on a scene plane.

    ``T_rgb_thermal`` takes points from the thermal optical frame into the RGB optical frame.
    Either ``plane`` (with both camera models, distortion handled exactly) or ``homography``
    (3x3, thermal pixels -> RGB pixels, for images without distortion) defines the mapping.
    """

    def __init__(self, thermal: CameraModel, rgb: CameraModel,
                 T_rgb_thermal: RigidTransform | None = None, plane: ScenePlane | None = None,
                 homography: ArrayLike | None = None) -> None:
        if (homography is None) == (plane is None or T_rgb_thermal is None):
            raise ValueError("give either T_rgb_thermal and plane, or a homography")
        self.thermal, self.rgb = thermal, rgb
        self.T_rgb_thermal, self.plane = T_rgb_thermal, plane
        self.homography = None if homography is None else np.asarray(homography, np.float64)
        if self.homography is not None and (self.homography.shape != (3, 3)
                                            or not np.isfinite(self.homography).all()):
            raise ValueError("homography must be a finite 3x3 matrix")
        uv = self.thermal_to_rgb(thermal.pixel_grid())
        self.map_x = uv[:, 0].reshape(thermal.height, thermal.width).astype(np.float32)
        self.map_y = uv[:, 1].reshape(thermal.height, thermal.width).astype(np.float32)
        self.map_x[~np.isfinite(self.map_x)] = -1.0
        self.map_y[~np.isfinite(self.map_y)] = -1.0
        self.coverage = float(np.mean((self.map_x >= 0) & (self.map_x <= rgb.width - 1)
                                      & (self.map_y >= 0) & (self.map_y <= rgb.height - 1)))
        self._fixed = cv2.convertMaps(self.map_x, self.map_y, cv2.CV_16SC2)

    def thermal_points(self, uv: ArrayLike) -> NDArray[np.float64]:
        """3D points (N, 3) on the scene plane seen at thermal pixels ``uv``, thermal frame, m."""
        if self.plane is None:
            raise ValueError("a homography registration has no 3D plane")
        rays = self.thermal.rays(uv)
        n = np.asarray(self.plane.normal, np.float64)
        n = n / np.linalg.norm(n)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = self.plane.distance_m / (rays @ n)
        s[~(s > 0)] = np.nan
        return rays * s[:, None]

    def thermal_to_rgb(self, uv: ArrayLike) -> NDArray[np.float64]:
        """RGB pixel coordinates (N, 2) of thermal pixels ``uv`` (N, 2); NaN where the plane is
        not seen or the point is behind the RGB camera."""
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        if self.homography is not None:
            h = np.column_stack([uv, np.ones(len(uv))]) @ self.homography.T
            with np.errstate(divide="ignore", invalid="ignore"):
                return h[:, :2] / h[:, 2:3]
        points = self.thermal_points(uv)
        out = np.full((len(uv), 2), np.nan)
        ok = np.isfinite(points).all(axis=1)
        if ok.any():
            assert self.T_rgb_thermal is not None
            rgb_uv, _ = self.rgb.project(self.T_rgb_thermal.apply(points[ok]))
            out[ok] = rgb_uv
        return out

    def rgb_to_thermal_grid(self, rgb_image: NDArray, interpolation: int = cv2.INTER_LINEAR
                            ) -> NDArray:
        """The RGB image resampled onto the thermal pixel grid (black outside the RGB view)."""
        if rgb_image.shape[:2] != (self.rgb.height, self.rgb.width):
            raise ValueError(f"RGB image is {rgb_image.shape[1]}x{rgb_image.shape[0]}, the RGB "
                             f"camera model is {self.rgb.width}x{self.rgb.height}")
        return cv2.remap(rgb_image, self._fixed[0], self._fixed[1], interpolation,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def overlay(thermal_bgr: NDArray[np.uint8], rgb_on_thermal: NDArray[np.uint8],
            mode: str = "blend", alpha: float = 0.5, edge_gain: float = 1.5,
            out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
    """Combine a colourised thermal image with the registered RGB image (same size, bgr8).

    blend : ``alpha * thermal + (1 - alpha) * rgb``.
    edges : thermal colours plus ``edge_gain`` times the RGB luminance's high-pass detail
        (luminance minus its Gaussian blur), so outlines and text from the visible image show
        on the thermal picture without changing its colours where the RGB is flat.
    """
    if mode not in OVERLAY_MODES:
        raise ValueError(f"overlay mode must be one of {list(OVERLAY_MODES)}, got {mode!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if thermal_bgr.shape != rgb_on_thermal.shape or thermal_bgr.dtype != np.uint8:
        raise ValueError("thermal and RGB images must be bgr8 of the same size, got "
                         f"{thermal_bgr.shape} and {rgb_on_thermal.shape}")
    if out is None:
        out = np.empty_like(thermal_bgr)
    if mode == "blend":
        return cv2.addWeighted(thermal_bgr, alpha, rgb_on_thermal, 1.0 - alpha, 0.0, dst=out)
    luma = cv2.cvtColor(rgb_on_thermal, cv2.COLOR_BGR2GRAY).astype(np.float32)
    detail = cv2.addWeighted(luma, edge_gain, cv2.GaussianBlur(luma, (0, 0), 2.0), -edge_gain,
                             0.0)
    detail3 = cv2.merge([detail, detail, detail])
    return cv2.add(thermal_bgr, detail3, dst=out, dtype=cv2.CV_8U)


def misregistration_px(estimated: Registration, truth: Registration,
                       step: int = 8) -> dict[str, float]:
    """Distance, in RGB pixels, between where two registrations put the same thermal pixels
    (a grid every ``step`` pixels): median, 95th percentile and max."""
    grid = estimated.thermal.pixel_grid().reshape(estimated.thermal.height,
                                                  estimated.thermal.width, 2)[::step, ::step]
    grid = grid.reshape(-1, 2)
    a, b = estimated.thermal_to_rgb(grid), truth.thermal_to_rgb(grid)
    d = np.linalg.norm(a - b, axis=1)
    d = d[np.isfinite(d)]
    if d.size == 0:
        raise ValueError("the registrations share no valid pixels")
    return {"median": float(np.median(d)), "p95": float(np.percentile(d, 95)),
            "max": float(d.max())}
