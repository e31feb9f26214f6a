"""ROS message objects without ROS: builders on a rosbags typestore, for writing bags from
pure Python (simulated sequences, offline analysis outputs)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from thermal_perception.core.physics.camera import CameraProfile
from thermal_perception.io.image_encoding import encoding_info

NS_PER_S = 1_000_000_000


def header_ns(header: Any) -> int:
    """The stamp of a std_msgs/Header (rclpy or rosbags), nanoseconds."""
    return int(header.stamp.sec) * NS_PER_S + int(header.stamp.nanosec)


def header(store: Any, stamp_ns: int, frame_id: str) -> Any:
    """std_msgs/Header with a stamp in nanoseconds."""
    types = store.types
    stamp = types["builtin_interfaces/msg/Time"](sec=int(stamp_ns // NS_PER_S),
                                                  nanosec=int(stamp_ns % NS_PER_S))
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


def image(store: Any, array: NDArray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/Image of ``array`` (host byte order, rows unpadded)."""
    dtype, channels = encoding_info(encoding)
    data = np.ascontiguousarray(array)
    expected_shape = data.shape[:2] + ((channels,) if channels > 1 else ())
    if data.dtype != dtype or data.shape != expected_shape:
        raise ValueError(f"array {data.dtype}{data.shape} does not fit encoding {encoding!r}")
    height, width = data.shape[:2]
    return store.types["sensor_msgs/msg/Image"](
        header=header(store, stamp_ns, frame_id), height=height, width=width, encoding=encoding,
        is_bigendian=int(np.little_endian is False), step=width * channels * data.itemsize,
        data=data.view(np.uint8).reshape(-1))


def camera_info(store: Any, profile: CameraProfile, stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/CameraInfo with the profile's nominal pinhole intrinsics."""
    types = store.types
    k, p = profile.pinhole_intrinsics()
    roi = types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                     do_rectify=False)
    return types["sensor_msgs/msg/CameraInfo"](
        header=header(store, stamp_ns, frame_id), height=profile.height, width=profile.width,
        distortion_model="plumb_bob", d=np.zeros(5), k=np.array(k),
        r=np.eye(3).reshape(-1), p=np.array(p), binning_x=0, binning_y=0, roi=roi)


def thermal_status(store: Any, stamp_ns: int, frame_id: str, **fields: Any) -> Any:
    """thermal_perception/ThermalStatus; unspecified fields are zero/empty (temperatures NaN)."""
    types = store.types
    zero_time = types["builtin_interfaces/msg/Time"](sec=0, nanosec=0)
    values: dict[str, Any] = {
        "source": "", "camera_profile": "", "fpa_temperature_c": math.nan,
        "housing_temperature_c": math.nan, "ffc_state": 0, "shutter_closed": False,
        "last_ffc_time": zero_time, "ffc_count": 0, "frame_count": 0, "dropped_frames": 0,
        "frame_rate_hz": 0.0, "camera_serial": ""}
    unknown = set(fields) - set(values)
    if unknown:
        raise ValueError(f"unknown ThermalStatus fields {sorted(unknown)}")
    values.update(fields)
    return types["thermal_perception/msg/ThermalStatus"](
        header=header(store, stamp_ns, frame_id), **values)
