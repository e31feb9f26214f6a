"""Calibration targets in thermal images: heated chessboards and circle grids, found with OpenCV.

Thermal images are low contrast, noisy and usually "inverted" (warm squares bright, where
OpenCV expects dark squares on a light background), so images are stretched robustly to 8 bits
and both polarities are tried. Pixel coordinates as OpenCV (integer values at pixel centres);
the board frame has its origin at the first inner corner / first circle, x along a row of the
pattern, y along a column, z = x cross y, metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

PATTERNS = ("chessboard", "circles", "acircles")

_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 1e-3)

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
