"""Geometric (lens) calibration of thermal cameras from detected targets (:mod:`.lens_targets`):
intrinsics with outlier rejection, and thermal<->RGB extrinsics.

``T_camera_board`` maps board points into the camera optical frame (see :mod:`.geometry`);
``T_thermal_rgb`` maps points in the RGB optical frame into the thermal optical frame. Lengths
in metres, reprojection errors in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform
from thermal_perception.core.fusion.lens_targets import TargetDetection, TargetSpec

#: Distortion coefficient counts OpenCV accepts for its pinhole models.
PINHOLE_DISTORTION_SIZES = (0, 4, 5, 8, 12, 14)

_CALIB_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-12)

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
