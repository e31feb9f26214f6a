"""Camera and frame geometry shared by fusion, geolocation, calibration and the simulator.

Conventions (REP 103 / REP 105):

* Camera optical frames (``*_optical_frame``): x right, y down, z forward (the OpenCV
  convention); pixel (u, v) with integer coordinates at pixel centres.
* Body / sensor link frames (``base_link``, ``*_link``): x forward, y left, z up.
* World: a local East-North-Up tangent plane (``map``), metres; geodetic positions are WGS84.
* A :class:`RigidTransform` named ``T_a_b`` maps points given in frame ``b`` into frame ``a``
  (``p_a = T_a_b.apply(p_b)``); ``T_a_b @ T_b_c == T_a_c``. This is the transform tf2 reports
  for ``lookup_transform(target_frame=a, source_frame=b)``.
* Quaternions are (x, y, z, w), as in ``geometry_msgs/Quaternion``.

Lengths in metres, angles in radians unless a name says ``_deg``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from thermal_perception.core.physics.camera import CameraProfile

#: Rotation taking points from a REP 103 link frame (x forward, y left, z up) into the optical
#: frame of a camera looking along the link's x axis (x right, y down, z forward).
R_OPTICAL_LINK: NDArray[np.float64] = np.array(
    [[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])

#: Distortion models of ``sensor_msgs/CameraInfo`` understood here (OpenCV implements both).
DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")


@dataclass(frozen=True)
class RigidTransform:
    """A rotation followed by a translation: ``p_a = R @ p_b + t`` (see module docstring)."""

    rotation: NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    translation: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        r = np.asarray(self.rotation, np.float64).reshape(3, 3)
        t = np.asarray(self.translation, np.float64).reshape(3)
        if not (np.all(np.isfinite(r)) and np.all(np.isfinite(t))):
            raise ValueError("transform has non-finite values")
        if not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
            raise ValueError("rotation is not a proper rotation matrix")
        object.__setattr__(self, "rotation", r)
        object.__setattr__(self, "translation", t)

    @classmethod
    def identity(cls) -> RigidTransform:
        return cls()

    @classmethod
    def from_quaternion(cls, xyzw: ArrayLike, translation: ArrayLike = (0.0, 0.0, 0.0)
                        ) -> RigidTransform:
        """From a unit quaternion (x, y, z, w) and a translation, m."""
        q = np.asarray(xyzw, np.float64)
        if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-9:
            raise ValueError(f"quaternion must be 4 finite values, not all 0: got {q}")
        return cls(Rotation.from_quat(q).as_matrix(), translation)

    @classmethod
    def from_rpy(cls, roll: float, pitch: float, yaw: float,
                 translation: ArrayLike = (0.0, 0.0, 0.0)) -> RigidTransform:
        """From fixed-axis roll, pitch, yaw (rad; as tf2 and URDF ``rpy``) and a translation."""
        return cls(Rotation.from_euler("xyz", [roll, pitch, yaw]).as_matrix(), translation)

    @classmethod
    def from_matrix(cls, matrix: ArrayLike) -> RigidTransform:
        """From a 4x4 homogeneous matrix."""
        m = np.asarray(matrix, np.float64)
        if m.shape != (4, 4):
            raise ValueError(f"need a 4x4 matrix, got shape {m.shape}")
        return cls(m[:3, :3], m[:3, 3])

    @property
    def matrix(self) -> NDArray[np.float64]:
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.rotation, self.translation
        return m

    @property
    def quaternion(self) -> NDArray[np.float64]:
        """(x, y, z, w)."""
        return Rotation.from_matrix(self.rotation).as_quat()

    def inverse(self) -> RigidTransform:
        rt = self.rotation.T
        return RigidTransform(rt, -rt @ self.translation)

    def __matmul__(self, other: RigidTransform) -> RigidTransform:
        return RigidTransform(self.rotation @ other.rotation,
                              self.rotation @ other.translation + self.translation)

    def apply(self, points: ArrayLike) -> NDArray[np.float64]:
        """Transform points (..., 3), m."""
        p = np.asarray(points, np.float64)
        return p @ self.rotation.T + self.translation


_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10)


def _undistort_iterative(src: NDArray, k: NDArray, d: NDArray) -> NDArray:
    """Normalised undistorted points, iterated to ``_UNDISTORT_CRITERIA`` (the default's 5
    iterations leave pixel-level error at a wide lens' edge): ``undistortPointsIter`` in
    OpenCV 4, ``undistortPoints(criteria=...)`` in OpenCV 5, which dropped the former."""
    iterate = getattr(cv2, "undistortPointsIter", None)
    if iterate is not None:
        return iterate(src, k, d, None, None, _UNDISTORT_CRITERIA)
    return cv2.undistortPoints(src, k, d, criteria=_UNDISTORT_CRITERIA)


@dataclass(frozen=True, eq=False)
class CameraModel:
    """A calibrated pinhole camera (``sensor_msgs/CameraInfo`` content).

    k : 3x3 camera matrix, pixels. d : distortion coefficients of ``distortion_model``
    (empty or zeros: none). Pixel coordinates follow OpenCV (integer values at pixel centres).
    """

    width: int
    height: int
    k: NDArray[np.float64]
    d: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    distortion_model: str = "plumb_bob"

    def __post_init__(self) -> None:
        k = np.asarray(self.k, np.float64).reshape(3, 3)
        d = np.asarray(self.d, np.float64).reshape(-1)
        problems = []
        if self.width <= 0 or self.height <= 0:
            problems.append(f"size {self.width}x{self.height} must be positive")
        if not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0 or k[2, 2] != 1.0:
            problems.append(f"camera matrix K is invalid: {k.tolist()}")
        if self.distortion_model not in DISTORTION_MODELS:
            problems.append(f"distortion model {self.distortion_model!r} is not one of "
                            f"{list(DISTORTION_MODELS)}")
        elif self.distortion_model == "equidistant" and d.size not in (0, 4):
            problems.append(f"equidistant distortion needs 4 coefficients, got {d.size}")
        if not np.all(np.isfinite(d)):
            problems.append("distortion coefficients must be finite")
        if problems:
            raise ValueError("camera model: " + "; ".join(problems))
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "d", d)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CameraModel):
            return NotImplemented
        return (self.width == other.width and self.height == other.height
                and self.distortion_model == other.distortion_model
                and np.array_equal(self.k, other.k)
                and np.array_equal(np.trim_zeros(self.d, "b"), np.trim_zeros(other.d, "b")))

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_profile(cls, profile: CameraProfile) -> CameraModel:
        """The nominal camera of a profile: square pixels, centred, no distortion."""
        k, _ = profile.pinhole_intrinsics()
        return cls(profile.width, profile.height, np.array(k))

    @classmethod
    def from_camera_info(cls, width: int, height: int, k: Sequence[float],
                         d: Sequence[float] = (), distortion_model: str = "plumb_bob"
                         ) -> CameraModel:
        """From the fields of a ``CameraInfo`` message (``k`` row-major, 9 values)."""
        if len(k) != 9:
            raise ValueError(f"K needs 9 values, got {len(k)}")
        return cls(int(width), int(height), np.array(k, np.float64).reshape(3, 3),
                   np.array(d, np.float64), distortion_model or "plumb_bob")

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.d != 0.0))

    @property
    def fx(self) -> float:
        return float(self.k[0, 0])

    @property
    def fy(self) -> float:
        return float(self.k[1, 1])

    def project(self, points: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Pixel coordinates (N, 2) of points (N, 3) in the optical frame, m, and a mask of
        those in front of the camera (z > 0) and inside the image (within half a pixel)."""
        p = np.asarray(points, np.float64).reshape(-1, 3)
        z = p[:, 2]
        front = z > 1e-9
        uv = np.full((len(p), 2), np.nan)
        if front.any():
            q = p[front]
            if self.has_distortion:
                if self.distortion_model == "equidistant":
                    img, _ = cv2.fisheye.projectPoints(
                        q.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), self.k, self.d)
                else:
                    img, _ = cv2.projectPoints(q.reshape(-1, 1, 3), np.zeros(3), np.zeros(3),
                                               self.k, self.d)
                uv[front] = img.reshape(-1, 2)
            else:
                xy = q[:, :2] / q[:, 2:3]
                uv[front, 0] = self.k[0, 0] * xy[:, 0] + self.k[0, 1] * xy[:, 1] + self.k[0, 2]
                uv[front, 1] = self.k[1, 1] * xy[:, 1] + self.k[1, 2]
        with np.errstate(invalid="ignore"):
            inside = (front & (uv[:, 0] >= -0.5) & (uv[:, 0] < self.width - 0.5)
                      & (uv[:, 1] >= -0.5) & (uv[:, 1] < self.height - 0.5))
        return uv, inside

    def rays(self, uv: ArrayLike) -> NDArray[np.float64]:
        """Unit viewing rays (N, 3) in the optical frame through pixel coordinates (N, 2)."""
        pts = np.asarray(uv, np.float64).reshape(-1, 2)
        if self.has_distortion:
            src = pts.reshape(-1, 1, 2)
            if self.distortion_model == "equidistant":
                xy = cv2.fisheye.undistortPoints(src, self.k, self.d).reshape(-1, 2)
            else:
                xy = _undistort_iterative(src, self.k, self.d).reshape(-1, 2)
        else:
            kinv = np.linalg.inv(self.k)
            xy = pts @ kinv[:2, :2].T + kinv[:2, 2]
        rays = np.column_stack([xy, np.ones(len(xy))])
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def pixel_grid(self) -> NDArray[np.float64]:
        """Pixel centres (H*W, 2) in row-major order."""
        u, v = np.meshgrid(np.arange(self.width, dtype=np.float64),
                           np.arange(self.height, dtype=np.float64))
        return np.column_stack([u.ravel(), v.ravel()])


def plane_homography(source: CameraModel, target: CameraModel, T_target_source: RigidTransform,
                     normal: ArrayLike = (0.0, 0.0, 1.0), distance_m: float = 10.0
                     ) -> NDArray[np.float64]:
    """Homography mapping undistorted pixels of ``source`` to pixels of ``target`` for points
    on the plane ``n . X = distance_m`` in the source optical frame (default: fronto-parallel
    at ``distance_m``): ``H = K_t (R + t n^T / d) K_s^-1``."""
    if not distance_m > 0:
        raise ValueError(f"plane distance must be > 0, got {distance_m}")
    n = np.asarray(normal, np.float64).reshape(3)
    n = n / np.linalg.norm(n)
    r, t = T_target_source.rotation, T_target_source.translation
    h = target.k @ (r + np.outer(t, n) / distance_m) @ np.linalg.inv(source.k)
    return h / h[2, 2]
