"""CameraInfo from a camera profile (ideal pinhole from the field of view, no distortion)."""

from __future__ import annotations

from sensor_msgs.msg import CameraInfo

from thermal_perception.core.camera import CameraProfile


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
