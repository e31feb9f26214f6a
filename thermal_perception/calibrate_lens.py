"""Lens calibration commands: intrinsics of one camera, thermal <-> RGB extrinsics.

    thermal-perception calibrate intrinsics IMAGES... --pattern chessboard --rows 6 --cols 9 \\
        --square-m 0.04 --out camera_info.yaml [--corners-dir corners/]
    thermal-perception calibrate extrinsics --thermal T... --rgb R... --pattern chessboard \\
        --rows 6 --cols 9 --square-m 0.04 --thermal-info thermal.yaml --rgb-info rgb.yaml \\
        --out extrinsics.yaml

IMAGES are image files (16-bit or 8-bit PNG/TIFF, JPEG, BMP), .npy arrays (counts or float
temperature; (H, W) or (N, H, W)), folders of them, FLIR .seq/.fff files or bags (raw image
topic, ``--topic``). Extrinsic views are paired by order: the i-th thermal image with the i-th
RGB image, taken at the same time.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

if TYPE_CHECKING:  # the core (and SciPy) load when a command runs, not for --help
    from thermal_perception.core.fusion.lens_targets import TargetDetection, TargetSpec

#: as thermal_perception.core.fusion.lens_calibration.PATTERNS
PATTERNS = ("chessboard", "circles", "acircles")
PICTURE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


def _read_picture(path: Path) -> NDArray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim not in (2, 3):
        raise ValueError(f"{path}: cannot read this image")
    return image


def iter_images(paths: Sequence[str | Path], topic: str | None = None, step: int = 1
                ) -> Iterator[tuple[str, NDArray]]:
    """(label, image) for every ``step``-th image of ``paths`` (see the module docstring)."""
    from thermal_perception.io.frames import is_bag, read_frames

    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    index = 0

    def take() -> bool:
        nonlocal index
        index += 1
        return (index - 1) % step == 0

    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ValueError(f"{path} does not exist")
        if is_bag(path) or path.suffix.lower() in (".seq", ".fff"):
            for n, frame in enumerate(read_frames(path, topic)):
                if take():
                    yield f"{path}#{n}", frame.counts
            continue
        files = (sorted(p for p in path.iterdir()
                        if p.suffix.lower() in (*PICTURE_SUFFIXES, ".npy"))
                 if path.is_dir() else [path])
        if path.is_dir() and not files:
            raise ValueError(f"{path}: no images in the folder")
        for file in files:
            suffix = file.suffix.lower()
            if suffix == ".npy":
                array = np.load(file, allow_pickle=False)
                if array.ndim not in (2, 3):
                    raise ValueError(f"{file}: expected (H, W) or (N, H, W), got {array.shape}")
                stack = array[None] if array.ndim == 2 else array
                for n, frame in enumerate(stack):
                    if take():
                        yield (f"{file}#{n}" if array.ndim == 3 else str(file)), frame
            elif suffix in PICTURE_SUFFIXES:
                if take():
                    yield str(file), _read_picture(file)
            else:
                raise ValueError(f"{file}: unknown image format {suffix!r}")


@dataclass
class DetectedViews:
    labels: list[str]
    detections: list[TargetDetection | None]


def detect_all(paths: Sequence[str | Path], spec: TargetSpec, *, topic: str | None = None,
               step: int = 1, polarity: str = "auto", clahe_clip: float = 0.0,
               exhaustive: bool = False, corners_dir: Path | None = None,
               desc: str = "detecting") -> DetectedViews:
    """Find the target in every image, with a progress bar; optionally save pictures of the
    detections (``corners_dir/NNNN.png``, red: not found)."""
    from thermal_perception.core.fusion.lens_targets import detect_target, draw_detection

    labels: list[str] = []
    detections: list[TargetDetection | None] = []
    if corners_dir is not None:
        corners_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(iter_images(paths, topic, step), desc=desc, unit="image", leave=False)
    for label, image in bar:
        detection = detect_target(image, spec, polarity=polarity, clahe_clip=clahe_clip,
                                  exhaustive=exhaustive)
        labels.append(label)
        detections.append(detection)
        bar.set_postfix(found=sum(d is not None for d in detections))
        if corners_dir is not None:
            picture = draw_detection(image, spec, detection)
            if detection is None:
                cv2.rectangle(picture, (0, 0), (picture.shape[1] - 1, picture.shape[0] - 1),
                              (0, 0, 255), 3)
            cv2.imwrite(str(corners_dir / f"{len(labels) - 1:04d}.png"), picture)
    if not labels:
        raise ValueError("no images given")
    return DetectedViews(labels, detections)


def spec_from_args(args: argparse.Namespace) -> TargetSpec:
    from thermal_perception.core.fusion.lens_targets import TargetSpec

    return TargetSpec(args.pattern, args.rows, args.cols, args.square_m)


def _view_lines(labels: list[str], views: list[int], errors: NDArray,
                rejected: dict[int, float], missing: list[int]) -> list[str]:
    lines = []
    error_of = dict(zip(views, errors, strict=True))
    for i, label in enumerate(labels):
        if i in error_of:
            state = f"{error_of[i]:.3f} px"
        elif i in rejected:
            state = f"{rejected[i]:.3f} px  REJECTED (outlier)"
        else:
            state = "target not found"
        lines.append(f"  [{i:3d}] {label}: {state}")
    return lines


def run_intrinsics(args: argparse.Namespace) -> dict[str, Any]:
    """Detect, calibrate, write the camera_info YAML; returns a report (and prints it)."""
    from thermal_perception.core.fusion.lens_calibration import calibrate_intrinsics
    from thermal_perception.core.fusion.lens_files import CameraInfoFile, write_camera_info

    spec = spec_from_args(args)
    corners = Path(args.corners_dir) if args.corners_dir else None
    found = detect_all(args.images, spec, topic=args.topic, step=args.step,
                       polarity=args.polarity, clahe_clip=args.clahe,
                       exhaustive=args.exhaustive, corners_dir=corners)
    hits = sum(d is not None for d in found.detections)
    print(f"target {spec.pattern} {spec.rows}x{spec.cols} ({spec.spacing_m * 1e3:g} mm) found "
          f"in {hits} of {len(found.labels)} images")
    result = calibrate_intrinsics(found.detections, spec, k_coefficients=args.k_coefficients,
                                  min_views=args.min_views)
    cam = result.camera
    info = CameraInfoFile.monocular(cam, args.camera_name)
    out = write_camera_info(args.out, info)
    std = result.std_intrinsics
    print("\n".join(_view_lines(found.labels, result.views, result.per_view_rms_px,
                                result.rejected, result.missing)))
    print(f"{len(result.views)} views used, {len(result.rejected)} rejected; "
          f"RMS reprojection error {result.rms_px:.3f} px")
    print(f"  size {cam.width}x{cam.height}")
    print(f"  fx {cam.fx:.2f} +/- {std[0]:.2f}  fy {cam.fy:.2f} +/- {std[1]:.2f} px")
    print(f"  cx {cam.k[0, 2]:.2f} +/- {std[2]:.2f}  cy {cam.k[1, 2]:.2f} +/- {std[3]:.2f} px")
    print("  distortion (plumb_bob k1 k2 p1 p2 k3): "
          + " ".join(f"{v:.5f}" for v in cam.d))
    hfov = math.degrees(2 * math.atan2(cam.width / 2, cam.fx))
    print(f"  horizontal field of view {hfov:.2f} deg")
    if corners is not None:
        print(f"pictures of the detections in {corners}")
    print(f"wrote {out}")
    return {"camera": cam, "rms_px": result.rms_px, "views": result.views,
            "rejected": result.rejected, "out": str(out)}


def run_extrinsics(args: argparse.Namespace) -> dict[str, Any]:
    """Detect in both image sets, calibrate T_thermal_rgb, write the extrinsics YAML."""
    from scipy.spatial.transform import Rotation

    from thermal_perception.core.fusion.lens_calibration import calibrate_extrinsics
    from thermal_perception.core.fusion.lens_files import read_camera_info, write_extrinsics

    spec = spec_from_args(args)
    thermal_info = read_camera_info(args.thermal_info).camera
    rgb_info = read_camera_info(args.rgb_info).camera
    corners = Path(args.corners_dir) if args.corners_dir else None
    thermal = detect_all(args.thermal, spec, topic=args.topic, step=args.step,
                         clahe_clip=args.clahe, exhaustive=args.exhaustive, desc="thermal",
                         corners_dir=corners / "thermal" if corners else None)
    rgb = detect_all(args.rgb, spec, step=args.step, exhaustive=args.exhaustive, desc="rgb",
                     corners_dir=corners / "rgb" if corners else None)
    if len(thermal.labels) != len(rgb.labels):
        raise ValueError(f"{len(thermal.labels)} thermal and {len(rgb.labels)} RGB images: "
                         "extrinsics need one RGB image per thermal image, in the same order")
    result = calibrate_extrinsics(thermal.detections, rgb.detections, spec, thermal_info,
                                  rgb_info, min_views=args.min_views)
    labels = [f"{a} + {b}" for a, b in zip(thermal.labels, rgb.labels, strict=True)]
    print("\n".join(_view_lines(labels, result.views, result.per_view_rms_px,
                                result.rejected, result.missing)))
    t = result.T_thermal_rgb
    rpy = np.degrees(Rotation.from_matrix(t.rotation).as_euler("xyz"))
    print(f"{len(result.views)} pairs used, {len(result.rejected)} rejected; RMS reprojection "
          f"error {result.rms_px:.3f} px")
    print(f"  T_thermal_rgb ({args.rgb_frame} in {args.thermal_frame}): translation "
          + " ".join(f"{v * 1e3:+.1f}" for v in t.translation) + " mm, roll pitch yaw "
          + " ".join(f"{v:+.3f}" for v in rpy) + " deg")
    out = write_extrinsics(args.out, t, args.thermal_frame, args.rgb_frame, {
        "method": "cv2.stereoCalibrate, intrinsics fixed", "rms_px": round(result.rms_px, 4),
        "pairs_used": len(result.views), "thermal_info": str(args.thermal_info),
        "rgb_info": str(args.rgb_info)})
    print(f"wrote {out}")
    return {"T_thermal_rgb": t, "rms_px": result.rms_px, "views": result.views,
            "out": str(out)}


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pattern", choices=PATTERNS, default="chessboard",
                        help="chessboard (inner corners), circles or acircles (chessboard)")
    parser.add_argument("--rows", type=int, required=True,
                        help="inner corners / circles per column")
    parser.add_argument("--cols", type=int, required=True, help="inner corners / circles per row")
    parser.add_argument("--square-m", type=float, required=True,
                        help="square size or circle spacing, m (acircles: half the pitch in a "
                             "row, as OpenCV)")
    parser.add_argument("--topic", default=None, help="thermal image topic in bags (auto)")
    parser.add_argument("--step", type=int, default=1, help="use every N-th image (1)")
    parser.add_argument("--clahe", type=float, default=0.0,
                        help="CLAHE clip limit for low-contrast thermal images (0: off)")
    parser.add_argument("--exhaustive", action="store_true",
                        help="chessboards: also try OpenCV's slow exhaustive search (~1 s per "
                             "image without a board)")
    parser.add_argument("--min-views", type=int, default=None,
                        help="fewest usable views (intrinsics 6, extrinsics 3)")
    parser.add_argument("--corners-dir", default=None,
                        help="save a picture of each detection in this folder")


def add_lens_parsers(calibrate_sub: Any) -> None:
    """Add ``intrinsics`` and ``extrinsics`` to the ``calibrate`` subcommands."""
    intr = calibrate_sub.add_parser(
        "intrinsics", help="lens calibration (K, distortion) from views of a heated target")
    intr.add_argument("images", nargs="+", help="images, folders, .npy, .seq or bags")
    _target_arguments(intr)
    intr.add_argument("--polarity", choices=("auto", "warm_dark", "as_is"), default="auto",
                      help="auto tries warm-dark (inverted) and as-is (auto)")
    intr.add_argument("--k-coefficients", type=int, choices=(1, 2, 3), default=2,
                      help="radial distortion coefficients to estimate (2)")
    intr.add_argument("--camera-name", default="thermal_camera")
    intr.add_argument("--out", default="camera_info.yaml", help="camera_info YAML to write")
    intr.set_defaults(func=_cmd_intrinsics)

    extr = calibrate_sub.add_parser(
        "extrinsics", help="thermal <-> RGB camera pose from paired views of one target")
    extr.add_argument("--thermal", nargs="+", required=True, help="thermal images, in order")
    extr.add_argument("--rgb", nargs="+", required=True, help="RGB images, in the same order")
    extr.add_argument("--thermal-info", required=True, help="thermal camera_info YAML")
    extr.add_argument("--rgb-info", required=True, help="RGB camera_info YAML")
    _target_arguments(extr)
    extr.add_argument("--thermal-frame", default="thermal_camera_optical_frame")
    extr.add_argument("--rgb-frame", default="rgb_camera_optical_frame")
    extr.add_argument("--out", default="extrinsics.yaml", help="extrinsics YAML to write")
    extr.set_defaults(func=_cmd_extrinsics)


def _cmd_intrinsics(args: argparse.Namespace) -> int:
    if args.min_views is None:
        args.min_views = 6
    run_intrinsics(args)
    return 0


def _cmd_extrinsics(args: argparse.Namespace) -> int:
    if args.min_views is None:
        args.min_views = 3
    run_extrinsics(args)
    return 0
