"""CameraInfo from a camera profile (ideal pinhole from the field of view, no distortion) or
from a lens calibration file (``camera_calibration_parsers`` YAML)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sensor_msgs.msg import CameraInfo

from thermal_perception.core.fusion.geometry import CameraModel
from thermal_perception.core.fusion.lens_files import CameraInfoFile, read_camera_info
from thermal_perception.core.physics.camera import CameraProfile


def camera_info_from_profile(profile: CameraProfile, frame_id: str) -> CameraInfo:
    """Pinhole intrinsics with square pixels and the principal point at the image centre.

    Until a calibration file is given, this is the camera's nominal geometry; a real lens
    calibration (camera_calibration / OpenCV) replaces it.
    """
    k, p = profile.pinhole_intrinsics()
    info = CameraInfo()
    info.header.frame_id = frame_id
    info.width, info.height = profile.width, profile.height
    info.distortion_model = "plumb_bob"
    info.d = [0.0, 0.0, 0.0, 0.0, 0.0]
    info.k = k
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = p
    return info


def camera_info_from_calibration(calibration: CameraInfoFile, frame_id: str) -> CameraInfo:
    """CameraInfo carrying a lens calibration (K, D, R, P as in the file)."""
    camera = calibration.camera
    info = CameraInfo()
    info.header.frame_id = frame_id
    info.width, info.height = camera.width, camera.height
    info.distortion_model = camera.distortion_model
    info.d = [float(v) for v in camera.d]
    info.k = [float(v) for v in camera.k.ravel()]
    info.r = [float(v) for v in calibration.rectification.ravel()]
    info.p = [float(v) for v in calibration.projection.ravel()]
    return info


def camera_info_from_file(path: str, width: int, height: int, frame_id: str) -> CameraInfo:
    """CameraInfo of a calibration file for a camera of ``width`` x ``height`` pixels;
    ValueError if the file is missing, malformed or made for another image size."""
    try:
        calibration = read_camera_info(path)
    except ValueError as exc:
        raise ValueError(f"camera_info_file: {exc}") from exc
    camera = calibration.camera
    if (camera.width, camera.height) != (width, height):
        raise ValueError(f"camera_info_file {path} is a calibration for {camera.width}x"
                         f"{camera.height} images, the camera gives {width}x{height}")
    return camera_info_from_calibration(calibration, frame_id)


def calibration_from_message(msg: CameraInfo, width: int, height: int, camera_name: str
                             ) -> CameraInfoFile:
    """The calibration a ``set_camera_info`` request carries, for a camera of ``width`` x
    ``height`` pixels; ValueError saying what is wrong (size, K, distortion, R, P)."""
    if (msg.width, msg.height) != (width, height):
        raise ValueError(f"the calibration is for {msg.width}x{msg.height} images, the camera "
                         f"gives {width}x{height}")
    camera = CameraModel.from_camera_info(msg.width, msg.height, list(msg.k), list(msg.d),
                                          msg.distortion_model)
    r, p = np.asarray(msg.r, np.float64), np.asarray(msg.p, np.float64)
    if r.size != 9 or p.size != 12:
        raise ValueError(f"R needs 9 values and P 12, got {r.size} and {p.size}")
    if not (np.all(np.isfinite(p)) and p[0] > 0 and p[5] > 0):
        raise ValueError(f"projection matrix P is invalid: {p.tolist()}")
    if not np.allclose(r.reshape(3, 3) @ r.reshape(3, 3).T, np.eye(3), atol=1e-6):
        raise ValueError(f"rectification matrix R is not a rotation: {r.tolist()}")
    return CameraInfoFile(camera, camera_name, r.reshape(3, 3), p.reshape(3, 4))


def default_calibration_path(camera_name: str) -> Path:
    """Where ROS's camera_info_manager keeps a camera's calibration when no URL is given:
    ``$ROS_HOME/camera_info/<camera_name>.yaml`` (``ROS_HOME`` defaults to ``~/.ros``)."""
    home = os.environ.get("ROS_HOME") or os.path.join(os.path.expanduser("~"), ".ros")
    return Path(home) / "camera_info" / f"{camera_name}.yaml"
