"""Camera calibration files: ``camera_info`` YAML as ROS ``camera_calibration_parsers`` writes and
reads it (``parse_yml.cpp``: ``image_width``, ``image_height``, ``camera_name``,
``camera_matrix``, ``distortion_model``, ``distortion_coefficients``, ``rectification_matrix``,
``projection_matrix``, each matrix as ``{rows, cols, data}``), and extrinsic transforms between
two camera frames. Files are written atomically.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from numpy.typing import NDArray

from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform
from thermal_perception.core.fusion.lens_calibration import PINHOLE_DISTORTION_SIZES

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


def atomic_write_text(path: Path, text: str) -> None:
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
    atomic_write_text(target, camera_info_yaml(info))
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
    atomic_write_text(target, text)
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
