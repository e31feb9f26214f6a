"""Geometric (lens) calibration of thermal cameras: target detection, intrinsics, thermal<->RGB
extrinsics, ``camera_info`` YAML files and a synthetic target renderer.

Targets are heated chessboards or circle grids. Thermal images are low contrast, noisy and
usually "inverted" (warm squares bright, where OpenCV expects dark squares on a light
background), so images are stretched robustly to 8 bits and both polarities are tried.

Conventions: pixel coordinates as OpenCV (integer values at pixel centres); the board frame
has its origin at the first inner corner / first circle, x along a row of the pattern, y along
a column, z = x cross y, metres. ``T_camera_board`` maps board points into the camera optical
frame (see :mod:`thermal_perception.core.fusion.geometry`). ``T_thermal_rgb`` maps points in the RGB
optical frame into the thermal optical frame.

The ``camera_info`` YAML format is the one of ROS ``camera_calibration_parsers``
(``parse_yml.cpp``): ``image_width``, ``image_height``, ``camera_name``, ``camera_matrix``,
``distortion_model``, ``distortion_coefficients``, ``rectification_matrix``,
``projection_matrix``, each matrix as ``{rows, cols, data}``.
"""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform

PATTERNS = ("chessboard", "circles", "acircles")
#: Distortion coefficient counts OpenCV accepts for its pinhole models.
PINHOLE_DISTORTION_SIZES = (0, 4, 5, 8, 12, 14)
_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 1e-3)
_CALIB_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-12)


# -- targets -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TargetSpec:
    """A planar calibration target.

    pattern : ``"chessboard"`` (``rows`` x ``cols`` inner corners), ``"circles"`` (symmetric
        grid of ``rows`` x ``cols`` circles) or ``"acircles"`` (asymmetric grid: ``cols``
        circles per row, odd rows shifted by half a pitch, as OpenCV's ``acircles`` boards).
    rows, cols : points per column and per row.
    spacing_m : chessboard square size; circle pitch of the symmetric grid; for ``acircles``
        half the pitch of circles in one row (OpenCV's ``squareSize``), m.
    circle_diameter_m : circle diameter, m (0: half the distance to the nearest circle).
        Used by the renderer only.
    """

    pattern: str
    rows: int
    cols: int
    spacing_m: float
    circle_diameter_m: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if self.pattern not in PATTERNS:
            problems.append(f"pattern {self.pattern!r} is not one of {list(PATTERNS)}")
        if not (isinstance(self.rows, int) and isinstance(self.cols, int)) or \
                self.rows < 2 or self.cols < 2:
            problems.append(f"rows and cols must be integers >= 2, got {self.rows}x{self.cols}")
        elif self.pattern == "chessboard" and (self.rows < 3 or self.cols < 3):
            problems.append("a chessboard needs at least 3x3 inner corners")
        if not (math.isfinite(self.spacing_m) and self.spacing_m > 0):
            problems.append(f"spacing_m must be > 0, got {self.spacing_m}")
        if not (math.isfinite(self.circle_diameter_m) and self.circle_diameter_m >= 0):
            problems.append(f"circle_diameter_m must be >= 0, got {self.circle_diameter_m}")
        if problems:
            raise ValueError("calibration target: " + "; ".join(problems))

    @property
    def pattern_size(self) -> tuple[int, int]:
        """OpenCV's ``patternSize``: (points per row, points per column)."""
        return (self.cols, self.rows)

    @property
    def point_count(self) -> int:
        return self.rows * self.cols

    def object_points(self) -> NDArray[np.float32]:
        """Target points (rows*cols, 3) in the board frame, m, in OpenCV's detection order."""
        i, j = np.meshgrid(np.arange(self.rows), np.arange(self.cols), indexing="ij")
        x = (2 * j + i % 2) if self.pattern == "acircles" else j
        pts = np.column_stack([x.ravel(), i.ravel(), np.zeros(i.size)]) * self.spacing_m
        return pts.astype(np.float32)

    @property
    def diameter_m(self) -> float:
        """Circle diameter used for rendering, m."""
        if self.circle_diameter_m > 0:
            return self.circle_diameter_m
        nearest = self.spacing_m * (math.sqrt(2.0) if self.pattern == "acircles" else 1.0)
        return 0.5 * nearest

    def outline_m(self, margin: float = 1.0) -> tuple[float, float, float, float]:
        """Board extent (x0, y0, x1, y1) in the board frame, m: the pattern plus ``margin``
        spacings of plain border (a chessboard's outer squares count as pattern)."""
        s = self.spacing_m
        width = (2 * self.cols - 1 if self.pattern == "acircles" else self.cols - 1) * s
        height = (self.rows - 1) * s
        grow = s * (margin + (1.0 if self.pattern == "chessboard" else 0.0))
        return (-grow, -grow, width + grow, height + grow)


@dataclass(frozen=True)
class TargetDetection:
    """Target points found in one image.

    points : (N, 2) float32 pixel coordinates in the order of ``TargetSpec.object_points``.
    image_size : (width, height), pixels.
    inverted : the detector that found it was given the inverted image (warm made dark). The
        circle detector needs the right polarity, so for circle grids this says whether the
        circles were warm; the chessboard saddle-point detector works in either.
    method : the OpenCV detector that found it.
    """

    points: NDArray[np.float32]
    image_size: tuple[int, int]
    inverted: bool
    method: str


def to_8bit(image: ArrayLike, low_percentile: float = 1.0, high_percentile: float = 99.0,
            clahe_clip: float = 0.0, invert: bool = False) -> NDArray[np.uint8]:
    """Robust 8-bit view of a thermal image for target detection.

    image : (H, W) counts (any integer type), temperature (float, NaN/inf ignored) or an
        8-bit grey or (H, W, 3) BGR image.
    low_percentile, high_percentile : the values at these percentiles map to 0 and 255.
    clahe_clip : CLAHE clip limit (0: no local equalisation).
    invert : warm becomes dark.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_BGRA2GRAY
                             if array.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"need a non-empty (H, W) image, got shape {array.shape}")
    if not 0.0 <= low_percentile < high_percentile <= 100.0:
        raise ValueError("need 0 <= low_percentile < high_percentile <= 100")
    values = array.astype(np.float32)
    finite = np.isfinite(values)
    sample = values[finite][:: max(1, int(finite.sum()) // 200_000)]
    if sample.size == 0:
        raise ValueError("image has no finite pixels")
    low, high = np.percentile(sample, [low_percentile, high_percentile])
    if not high > low:
        low, high = float(sample.min()), float(sample.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    values = np.where(finite, values, low)
    out = cv2.convertScaleAbs(values, alpha=scale, beta=-low * scale)
    if clahe_clip > 0:
        out = cv2.createCLAHE(clipLimit=float(clahe_clip), tileGridSize=(8, 8)).apply(out)
    return cv2.bitwise_not(out) if invert else out


def _canonical_order(points: NDArray[np.float32], spec: TargetSpec) -> NDArray[np.float32]:
    """Resolve the 180-degree (and, for square grids, 90-degree) ambiguity of symmetric
    patterns: the first point is the one nearest the image top (as ROS camera_calibration's
    calibrator.py does), so that two cameras seeing the board agree on its frame."""
    if spec.pattern == "acircles":
        return points  # not symmetric: OpenCV's order is unique
    if spec.rows != spec.cols:
        d = points[-1] - points[0]
        flip = d[1] < 0 if abs(d[1]) >= 0.2 * abs(d[0]) else d[0] < 0
        return np.ascontiguousarray(points[::-1]) if flip else points
    grid = points.reshape(spec.rows, spec.cols, 2)
    for _ in range(4):
        d = grid[-1, -1] - grid[0, 0]
        if d[0] >= 0 and d[1] >= 0:
            break
        grid = np.rot90(grid)
    return np.ascontiguousarray(grid.reshape(-1, 2))


def _blob_detector(image_shape: tuple[int, ...]) -> Any:
    params = cv2.SimpleBlobDetector_Params()
    params.minArea = 9.0
    params.maxArea = 0.05 * image_shape[0] * image_shape[1]
    params.minConvexity = 0.8
    params.minInertiaRatio = 0.05
    return cv2.SimpleBlobDetector_create(params)


def _refine_corners(gray: NDArray[np.uint8], corners: NDArray, spec: TargetSpec
                    ) -> NDArray[np.float32]:
    """``cornerSubPix`` with a search window of 0.4 x the smallest corner spacing (so that
    no neighbouring corner falls inside it), 2..15 px."""
    grid = np.asarray(corners, np.float32).reshape(spec.rows, spec.cols, 2)
    spacing = min(np.linalg.norm(np.diff(grid, axis=0), axis=2).min(),
                  np.linalg.norm(np.diff(grid, axis=1), axis=2).min())
    half = int(max(2, min(15, 0.4 * spacing)))
    refined = cv2.cornerSubPix(gray, np.ascontiguousarray(grid.reshape(-1, 1, 2)),
                               (half, half), (-1, -1), _SUBPIX_CRITERIA)
    return refined.reshape(-1, 2).astype(np.float32)


def _find_chessboard(gray: NDArray[np.uint8], spec: TargetSpec, method: str
                     ) -> NDArray[np.float32] | None:
    size = spec.pattern_size
    if method == "sb":  # fast saddle-point detector; equalisation hurts blurred images
        found, corners = cv2.findChessboardCornersSB(gray, size, flags=0)
    elif method == "sb_exhaustive":
        found, corners = cv2.findChessboardCornersSB(
            gray, size, flags=cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE)
    else:
        found, corners = cv2.findChessboardCorners(
            gray, size, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
    if not found or corners is None or len(corners) != spec.point_count:
        return None
    # the saddle-point corners are off by up to ~0.15 px RMS on blurred thermal edges;
    # cornerSubPix brings them to ~0.05 px (measured on rendered targets)
    return _refine_corners(gray, corners, spec)


def _find_circles(gray: NDArray[np.uint8], spec: TargetSpec) -> NDArray[np.float32] | None:
    grid_flag = (cv2.CALIB_CB_ASYMMETRIC_GRID if spec.pattern == "acircles"
                 else cv2.CALIB_CB_SYMMETRIC_GRID)
    detector = _blob_detector(gray.shape)
    for extra in (0, cv2.CALIB_CB_CLUSTERING):
        found, centers = cv2.findCirclesGrid(gray, spec.pattern_size, flags=grid_flag | extra,
                                             blobDetector=detector)
        if found and centers is not None and len(centers) == spec.point_count:
            return centers.reshape(-1, 2).astype(np.float32)
    return None


_METHOD_NAMES = {"sb": "findChessboardCornersSB", "sb_exhaustive": "findChessboardCornersSB",
                 "classic": "findChessboardCorners", "circles": "findCirclesGrid"}


def detect_target(image: ArrayLike, spec: TargetSpec, polarity: str = "auto",
                  clahe_clip: float = 0.0, low_percentile: float = 1.0,
                  high_percentile: float = 99.0, exhaustive: bool = False
                  ) -> TargetDetection | None:
    """Find ``spec`` in one image; None when it is not found.

    image : (H, W) counts, temperature or grey levels, or (H, W, 3) BGR.
    polarity : ``"auto"`` (warm-is-dark first, then as given), ``"warm_dark"`` (invert the
        thermal image so warm squares/circles look black, as OpenCV expects) or
        ``"as_is"`` (e.g. a printed board seen by an RGB camera).
    clahe_clip : CLAHE clip limit for very low contrast images (0: off).
    low_percentile, high_percentile : the 8-bit stretch (see :func:`to_8bit`).
    exhaustive : chessboards only: when the fast detectors fail, also run the exhaustive
        search of ``findChessboardCornersSB`` (about a second per image).
    """
    choices = {"auto": (True, False), "warm_dark": (True,), "as_is": (False,)}
    if polarity not in choices:
        raise ValueError(f"polarity {polarity!r} is not one of {list(choices)}")
    base = to_8bit(image, low_percentile, high_percentile, clahe_clip)
    grays = {inverted: cv2.bitwise_not(base) if inverted else base
             for inverted in choices[polarity]}
    if spec.pattern == "chessboard":
        # the fast detectors in both polarities, then (if asked) the slow exhaustive search
        attempts = [(inv, m) for m in ("sb", "classic") for inv in choices[polarity]]
        if exhaustive:
            attempts.append((choices[polarity][0], "sb_exhaustive"))
    else:
        attempts = [(inv, "circles") for inv in choices[polarity]]
    for inverted, method in attempts:
        gray = grays[inverted]
        points = (_find_circles(gray, spec) if method == "circles"
                  else _find_chessboard(gray, spec, method))
        if points is not None and np.all(np.isfinite(points)):
            return TargetDetection(_canonical_order(points, spec),
                                   (base.shape[1], base.shape[0]), inverted,
                                   _METHOD_NAMES[method])
    return None


def draw_detection(image: ArrayLike, spec: TargetSpec, detection: TargetDetection | None
                   ) -> NDArray[np.uint8]:
    """BGR picture of the image (stretched to 8 bits) with the detected points drawn."""
    gray = to_8bit(image)
    picture = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if detection is not None:
        cv2.drawChessboardCorners(picture, spec.pattern_size,
                                  detection.points.reshape(-1, 1, 2), True)
    return picture


# -- intrinsics --------------------------------------------------------------------------------

@dataclass(frozen=True)
class IntrinsicCalibration:
    """Result of :func:`calibrate_intrinsics`.

    camera : the calibrated camera (plumb_bob distortion).
    rms_px : RMS reprojection error over all points of the used views, pixels.
    views : indices (into the detections given) of the views used.
    per_view_rms_px : RMS reprojection error of each used view, pixels.
    rejected : {index: per-view RMS, px} of views dropped as outliers.
    missing : indices of images without a detection.
    board_poses : ``T_camera_board`` of each used view.
    std_intrinsics : standard deviations of (fx, fy, cx, cy, k1, k2, p1, p2, k3), px / 1.
    """

    camera: CameraModel
    rms_px: float
    views: list[int]
    per_view_rms_px: NDArray[np.float64]
    rejected: dict[int, float] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)
    board_poses: list[RigidTransform] = field(default_factory=list)
    std_intrinsics: NDArray[np.float64] = field(default_factory=lambda: np.zeros(9))


def _pose(rvec: ArrayLike, tvec: ArrayLike) -> RigidTransform:
    return RigidTransform(cv2.Rodrigues(np.asarray(rvec, np.float64))[0],
                          np.asarray(tvec, np.float64).reshape(3))


def _usable(detections: Sequence[TargetDetection | None], spec: TargetSpec,
            image_size: tuple[int, int] | None) -> tuple[list[int], list[int], tuple[int, int]]:
    found = [i for i, d in enumerate(detections) if d is not None]
    missing = [i for i, d in enumerate(detections) if d is None]
    sizes = {detections[i].image_size for i in found}
    if image_size is None:
        if len(sizes) > 1:
            raise ValueError(f"views have different image sizes {sorted(sizes)}")
        image_size = sizes.pop() if sizes else (0, 0)
    elif sizes - {tuple(image_size)}:
        raise ValueError(f"views of size {sorted(sizes)} differ from image_size {image_size}")
    for i in found:
        if detections[i].points.shape != (spec.point_count, 2):
            raise ValueError(f"view {i}: {detections[i].points.shape[0]} points, the target "
                             f"has {spec.point_count}")
    return found, missing, tuple(image_size)


def _outlier(errors: NDArray[np.float64], factor: float, floor_px: float) -> int | None:
    """Index of the worst view if its error exceeds ``factor`` x median (and ``floor_px``)."""
    worst = int(np.argmax(errors))
    limit = max(factor * float(np.median(errors)), floor_px)
    return worst if errors[worst] > limit else None


def calibrate_intrinsics(detections: Sequence[TargetDetection | None], spec: TargetSpec,
                         image_size: tuple[int, int] | None = None, k_coefficients: int = 2,
                         min_views: int = 6, outlier_factor: float = 3.0,
                         outlier_floor_px: float = 0.3) -> IntrinsicCalibration:
    """Pinhole + plumb_bob calibration (``cv2.calibrateCamera``) from target detections.

    detections : one per image, None where the target was not found.
    image_size : (width, height), pixels (default: the detections').
    k_coefficients : radial coefficients estimated, 1..3 (2 fixes k3 = 0, as ROS
        camera_calibration's default).
    min_views : fewest views with the target that a calibration accepts.
    outlier_factor, outlier_floor_px : the worst view is dropped and the calibration redone
        while its RMS error exceeds ``outlier_factor`` x the median view error and
        ``outlier_floor_px``, as long as ``min_views`` remain.
    """
    if k_coefficients not in (1, 2, 3):
        raise ValueError(f"k_coefficients must be 1, 2 or 3, got {k_coefficients}")
    if min_views < 3:
        raise ValueError(f"min_views must be >= 3, got {min_views}")
    used, missing, size = _usable(detections, spec, image_size)
    if len(used) < min_views:
        raise ValueError(f"need the target in at least {min_views} views, found it in "
                         f"{len(used)} of {len(detections)}; add views of the whole board "
                         "at different positions and tilts")
    flags = {1: cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3, 2: cv2.CALIB_FIX_K3, 3: 0}[k_coefficients]
    objp = spec.object_points()
    rejected: dict[int, float] = {}
    while True:
        rms, k, d, rvecs, tvecs, std, _, per_view = cv2.calibrateCameraExtended(
            [objp] * len(used), [detections[i].points for i in used], size, None, None,
            flags=flags, criteria=_CALIB_CRITERIA)
        per_view = np.asarray(per_view, np.float64).reshape(-1)
        worst = _outlier(per_view, outlier_factor, outlier_floor_px)
        if worst is None or len(used) <= min_views:
            break
        rejected[used[worst]] = float(per_view[worst])
        del used[worst]
    if not np.isfinite(rms) or k[0, 0] <= 0 or k[1, 1] <= 0:
        raise ValueError("calibration did not converge; check the target size and views")
    camera = CameraModel(size[0], size[1], k, np.asarray(d, np.float64).reshape(-1)[:5])
    std = np.asarray(std, np.float64).reshape(-1)[:9]
    return IntrinsicCalibration(
        camera=camera, rms_px=float(rms), views=list(used), per_view_rms_px=per_view,
        rejected=rejected, missing=missing,
        board_poses=[_pose(r, t) for r, t in zip(rvecs, tvecs, strict=True)],
        std_intrinsics=std)


# -- extrinsics --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExtrinsicCalibration:
    """Result of :func:`calibrate_extrinsics`.

    T_thermal_rgb : maps points in the RGB optical frame into the thermal optical frame.
    rms_px : RMS reprojection error over both cameras' points of the used pairs, pixels.
    views : indices of the pairs used; per_view_rms_px : their RMS errors, pixels.
    rejected : {index: RMS, px} of pairs dropped as outliers; missing : pairs without the
        target in both images.
    """

    T_thermal_rgb: RigidTransform
    rms_px: float
    views: list[int]
    per_view_rms_px: NDArray[np.float64]
    rejected: dict[int, float] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)


def calibrate_extrinsics(thermal: Sequence[TargetDetection | None],
                         rgb: Sequence[TargetDetection | None], spec: TargetSpec,
                         thermal_camera: CameraModel, rgb_camera: CameraModel,
                         min_views: int = 3, outlier_factor: float = 3.0,
                         outlier_floor_px: float = 0.5) -> ExtrinsicCalibration:
    """Pose of the RGB camera in the thermal camera from paired views of one target
    (``cv2.stereoCalibrate`` with both intrinsics fixed).

    thermal, rgb : detections of pair i in each camera (None where not found).
    min_views, outlier_factor, outlier_floor_px : as :func:`calibrate_intrinsics`.
    """
    if len(thermal) != len(rgb):
        raise ValueError(f"{len(thermal)} thermal and {len(rgb)} RGB views: need pairs")
    for name, cam in (("thermal", thermal_camera), ("rgb", rgb_camera)):
        if cam.distortion_model == "equidistant":
            raise ValueError(f"{name} camera: equidistant (fisheye) models are not supported")
    pairs = [i for i in range(len(thermal)) if thermal[i] is not None and rgb[i] is not None]
    missing = [i for i in range(len(thermal)) if i not in pairs]
    for name, views, cam in (("thermal", thermal, thermal_camera), ("rgb", rgb, rgb_camera)):
        for i in pairs:
            if views[i].image_size != (cam.width, cam.height):
                raise ValueError(f"{name} view {i} is {views[i].image_size[0]}x"
                                 f"{views[i].image_size[1]}, the camera {cam.width}x"
                                 f"{cam.height}")
            if views[i].points.shape != (spec.point_count, 2):
                raise ValueError(f"{name} view {i}: wrong number of target points")
    if len(pairs) < min_views:
        raise ValueError(f"need the target in both cameras in at least {min_views} pairs, "
                         f"found it in {len(pairs)} of {len(thermal)}")
    objp = spec.object_points()
    rejected: dict[int, float] = {}

    def solve(use: list[int]) -> tuple[float, NDArray, NDArray, NDArray]:
        out = cv2.stereoCalibrateExtended(
            [objp] * len(use), [rgb[i].points for i in use], [thermal[i].points for i in use],
            rgb_camera.k, rgb_camera.d, thermal_camera.k, thermal_camera.d,
            (rgb_camera.width, rgb_camera.height), np.eye(3), np.zeros((3, 1)),
            flags=cv2.CALIB_FIX_INTRINSIC, criteria=_CALIB_CRITERIA)
        rms, r, t, per_view = out[0], out[5], out[6], out[11]
        per_view = np.sqrt(np.mean(np.asarray(per_view, np.float64).reshape(-1, 2) ** 2,
                                   axis=1))
        return float(rms), r, t, per_view

    while True:
        rms, r, t, per_view = solve(pairs)
        worst = _outlier(per_view, outlier_factor, outlier_floor_px)
        if worst is None or len(pairs) <= min_views:
            break
        rejected[pairs[worst]] = float(per_view[worst])
        del pairs[worst]
    if not np.isfinite(rms):
        raise ValueError("extrinsic calibration did not converge")
    # re-orthonormalise (float noise) before building the transform
    rotation = Rotation.from_matrix(np.asarray(r, np.float64)).as_matrix()
    return ExtrinsicCalibration(RigidTransform(rotation, np.asarray(t, np.float64).reshape(3)),
                                rms, list(pairs), per_view, rejected, missing)


# -- files ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CameraInfoFile:
    """Contents of a ``camera_info`` YAML file (``sensor_msgs/CameraInfo`` calibration).

    camera : size, K, distortion model and coefficients.
    camera_name : the file's ``camera_name``.
    rectification : R, 3x3. projection : P, 3x4, pixels.
    """

    camera: CameraModel
    camera_name: str = "thermal_camera"
    rectification: NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    projection: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        r = np.asarray(self.rectification, np.float64)
        p = (np.column_stack([self.camera.k, np.zeros(3)]) if self.projection is None
             else np.asarray(self.projection, np.float64))
        if r.shape != (3, 3) or p.shape != (3, 4) or not (np.all(np.isfinite(r))
                                                          and np.all(np.isfinite(p))):
            raise ValueError("camera_info: R must be finite 3x3 and P finite 3x4")
        object.__setattr__(self, "rectification", r)
        object.__setattr__(self, "projection", p)

    @classmethod
    def monocular(cls, camera: CameraModel, camera_name: str = "thermal_camera"
                  ) -> CameraInfoFile:
        """R = I and P = [K' | 0] with K' the undistorted image's camera matrix
        (``cv2.getOptimalNewCameraMatrix`` with alpha 0, as ROS camera_calibration writes)."""
        if camera.has_distortion and camera.distortion_model != "equidistant":
            new_k, _ = cv2.getOptimalNewCameraMatrix(
                camera.k, camera.d, (camera.width, camera.height), 0.0)
        else:
            new_k = camera.k
        return cls(camera, camera_name, np.eye(3), np.column_stack([new_k, np.zeros(3)]))


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _yaml_float(value: float) -> str:
    """Shortest round-trip text of a float that YAML 1.1 readers (PyYAML) read as a float:
    ``1e-05`` would be a string there, ``1.0e-05`` is a float."""
    text = repr(float(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        if exponent[0] not in "+-":
            exponent = "+" + exponent
        text = f"{mantissa}e{exponent}"
    return text


def _yaml_string(text: str) -> str:
    """Plain when that reads back as the same string (as ROS writes names), else a
    double-quoted YAML scalar with escapes (one line)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", text) and yaml.safe_load(text) == text:
        return text
    return yaml.safe_dump(text, default_style='"', width=1 << 30, allow_unicode=True).strip()


def _matrix_yaml(name: str, values: NDArray[np.float64], rows: int, cols: int) -> str:
    data = ", ".join(_yaml_float(v) for v in np.asarray(values, np.float64).ravel())
    return f"{name}:\n  rows: {rows}\n  cols: {cols}\n  data: [{data}]\n"


def camera_info_yaml(info: CameraInfoFile) -> str:
    """The ``camera_calibration_parsers`` YAML text of ``info``."""
    cam = info.camera
    name = info.camera_name
    return (f"image_width: {cam.width}\nimage_height: {cam.height}\n"
            f"camera_name: {_yaml_string(name)}\n"
            + _matrix_yaml("camera_matrix", cam.k, 3, 3)
            + f"distortion_model: {cam.distortion_model}\n"
            + _matrix_yaml("distortion_coefficients", cam.d, 1, cam.d.size)
            + _matrix_yaml("rectification_matrix", info.rectification, 3, 3)
            + _matrix_yaml("projection_matrix", info.projection, 3, 4))


def write_camera_info(path: str | os.PathLike[str], info: CameraInfoFile) -> Path:
    """Write ``info`` as a ``camera_info`` YAML file (atomically); returns the path."""
    target = Path(path)
    _atomic_write_text(target, camera_info_yaml(info))
    return target


def _load_yaml_mapping(path: str | os.PathLike[str], what: str) -> tuple[Path, dict]:
    source = Path(path)
    if not source.is_file():
        raise ValueError(f"{what} {source} does not exist")
    try:
        doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {source}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{what} {source}: expected a YAML mapping, got "
                         f"{type(doc).__name__}")
    return source, doc


def _number(value: Any, where: str) -> float:
    """A float from YAML: numbers, and number strings some writers produce (``1e-05``)."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{where}: {value!r} is not finite")
    return number


def _matrix(doc: dict, key: str, shape: tuple[int, int] | None, where: str
            ) -> NDArray[np.float64]:
    node = doc.get(key)
    if not isinstance(node, dict) or not {"rows", "cols", "data"} <= node.keys():
        raise ValueError(f"{where}: {key} must be a mapping with rows, cols and data")
    rows, cols, data = node["rows"], node["cols"], node["data"]
    if not (isinstance(rows, int) and isinstance(cols, int)) or rows < 0 or cols < 0:
        raise ValueError(f"{where}: {key} rows/cols must be integers >= 0")
    if shape is not None and (rows, cols) != shape:
        raise ValueError(f"{where}: {key} must be {shape[0]}x{shape[1]}, got {rows}x{cols}")
    if not isinstance(data, list) or len(data) != rows * cols:
        raise ValueError(f"{where}: {key} needs {rows * cols} values in data, got "
                         f"{len(data) if isinstance(data, list) else type(data).__name__}")
    values = [_number(v, f"{where}: {key}[{i}]") for i, v in enumerate(data)]
    return np.array(values, np.float64).reshape(rows, cols)


def read_camera_info(path: str | os.PathLike[str]) -> CameraInfoFile:
    """Read a ``camera_calibration_parsers`` YAML file; ValueError says what is wrong."""
    source, doc = _load_yaml_mapping(path, "camera_info file")
    where = str(source)
    size = []
    for key in ("image_width", "image_height"):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{where}: {key} must be a positive integer, got {value!r}")
        size.append(value)
    k = _matrix(doc, "camera_matrix", (3, 3), where)
    model = doc.get("distortion_model", "plumb_bob")
    if not isinstance(model, str):
        raise ValueError(f"{where}: distortion_model must be a string")
    d = (_matrix(doc, "distortion_coefficients", None, where).ravel()
         if "distortion_coefficients" in doc else np.zeros(5))
    if model != "equidistant" and d.size not in PINHOLE_DISTORTION_SIZES:
        raise ValueError(f"{where}: {d.size} distortion coefficients; {model} takes one of "
                         f"{PINHOLE_DISTORTION_SIZES[1:]}")
    r = _matrix(doc, "rectification_matrix", (3, 3), where)
    p = _matrix(doc, "projection_matrix", (3, 4), where)
    name = doc.get("camera_name", "unknown")
    try:
        camera = CameraModel(size[0], size[1], k, d, model)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    if not np.allclose(r @ r.T, np.eye(3), atol=1e-6):
        raise ValueError(f"{where}: rectification_matrix is not a rotation")
    return CameraInfoFile(camera, str(name), r, p)


def write_extrinsics(path: str | os.PathLike[str], transform: RigidTransform,
                     parent_frame_id: str, child_frame_id: str,
                     metadata: dict[str, Any] | None = None) -> Path:
    """Write ``T_parent_child`` as a ``geometry_msgs/TransformStamped``-shaped YAML file
    (translation m, rotation quaternion x, y, z, w): the static transform tf2 needs
    (``static_transform_publisher --frame-id PARENT --child-frame-id CHILD ...``)."""
    if not parent_frame_id.strip() or not child_frame_id.strip():
        raise ValueError("parent and child frame ids must not be empty")
    t, q = transform.translation, transform.quaternion
    doc: dict[str, Any] = {
        "header": {"frame_id": parent_frame_id},
        "child_frame_id": child_frame_id,
        "transform": {
            "translation": {"x": float(t[0]), "y": float(t[1]), "z": float(t[2])},
            "rotation": {"x": float(q[0]), "y": float(q[1]), "z": float(q[2]),
                         "w": float(q[3])}},
    }
    if metadata:
        doc["calibration"] = metadata
    text = ("# T_parent_child: maps points in child_frame_id into header.frame_id "
            "(m, quaternion x y z w)\n" + yaml.safe_dump(doc, sort_keys=False))
    target = Path(path)
    _atomic_write_text(target, text)
    return target


def read_extrinsics(path: str | os.PathLike[str]) -> tuple[RigidTransform, str, str]:
    """Read a file of :func:`write_extrinsics`: (T_parent_child, parent, child)."""
    source, doc = _load_yaml_mapping(path, "extrinsics file")
    try:
        parent = doc["header"]["frame_id"]
        child = doc["child_frame_id"]
        tr = doc["transform"]["translation"]
        rot = doc["transform"]["rotation"]
        t = [_number(tr[a], f"{source}: translation.{a}") for a in "xyz"]
        q = [_number(rot[a], f"{source}: rotation.{a}") for a in "xyzw"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{source}: expected header.frame_id, child_frame_id and "
                         f"transform.translation/rotation ({exc})") from exc
    if abs(np.linalg.norm(q) - 1.0) > 1e-3:
        raise ValueError(f"{source}: rotation quaternion is not unit length: {q}")
    return RigidTransform.from_quaternion(q, t), str(parent), str(child)


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
