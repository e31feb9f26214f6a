"""PointCloud2 <-> numpy: layouts with padding, row padding, big-endian data and bad headers."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_ros
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = requires_ros


def make_cloud(points: np.ndarray, point_step: int = 16, row_pad: int = 0, height: int = 1,
               bigendian: bool = False, intensity_type: int = 7):
    from sensor_msgs.msg import PointCloud2, PointField

    order = ">" if bigendian else "<"
    n = len(points)
    width = n // height
    row = np.zeros((height, width * point_step + row_pad), np.uint8)
    dt = np.dtype({"names": ["x", "y", "z", "intensity"],
                   "formats": [order + "f4"] * 3 + [order + ("f4" if intensity_type == 7
                                                             else "u2")],
                   "offsets": [0, 4, 8, 12], "itemsize": point_step})
    arr = np.zeros(n, dt)
    arr["x"], arr["y"], arr["z"] = points.T
    arr["intensity"] = np.arange(n) % 100
    raw = arr.tobytes()
    for r in range(height):
        row[r, :width * point_step] = np.frombuffer(raw[r * width * point_step:
                                                        (r + 1) * width * point_step], np.uint8)
    msg = PointCloud2(height=height, width=width, is_bigendian=bigendian, point_step=point_step,
                      row_step=width * point_step + row_pad, is_dense=True)
    msg.fields = [PointField(name=c, offset=4 * i, datatype=7, count=1)
                  for i, c in enumerate("xyz")]
    msg.fields.append(PointField(name="intensity", offset=12, datatype=intensity_type, count=1))
    msg.data = row.tobytes()
    return msg


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 50), st.sampled_from([16, 20, 32]), st.integers(0, 7), st.booleans(),
       st.sampled_from([1, 2]))
def test_layouts_read_back(n, step, pad, big, height):
    from thermal_perception.ros.pointcloud2 import cloud_xyz

    rng = np.random.default_rng(n)
    points = rng.normal(0, 10, (n * height, 3)).astype(np.float32)
    xyz, intensity = cloud_xyz(make_cloud(points, step, pad, height, big))
    np.testing.assert_array_equal(xyz, points)
    np.testing.assert_array_equal(intensity, np.arange(n * height) % 100)


def test_round_trip_of_the_thermal_cloud():
    from std_msgs.msg import Header

    from thermal_perception.core.fusion.pointcloud import THERMAL_POINT_DTYPE
    from thermal_perception.ros.pointcloud2 import array_to_cloud, cloud_to_array

    cloud = np.zeros(5, THERMAL_POINT_DTYPE)
    cloud["x"] = np.arange(5)
    cloud["temperature"] = [20, 21, np.nan, 23, 24]
    msg = array_to_cloud(cloud, Header(frame_id="lidar"))
    assert not msg.is_dense and msg.point_step == 20 and msg.row_step == 100
    back = cloud_to_array(msg)
    np.testing.assert_array_equal(back["x"], cloud["x"])
    np.testing.assert_array_equal(back["temperature"], cloud["temperature"])


@pytest.mark.parametrize("breakage, message", [
    (lambda m: setattr(m, "row_step", 1), "row_step"),
    (lambda m: setattr(m, "data", bytes(m.data)[:10]), "bytes"),
    (lambda m: setattr(m.fields[0], "datatype", 42), "datatype"),
    (lambda m: setattr(m.fields[3], "offset", 30), "does not fit"),
    (lambda m: setattr(m, "fields", m.fields[1:]), r"\['x'\]"),
])
def test_bad_clouds_say_why(breakage, message):
    from thermal_perception.ros.pointcloud2 import PointCloudError, cloud_xyz

    msg = make_cloud(np.zeros((4, 3), np.float32))
    breakage(msg)
    with pytest.raises(PointCloudError, match=message):
        cloud_xyz(msg)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["x", "y", "z", "intensity", "t"]),
                          st.integers(0, 40), st.integers(0, 10), st.integers(0, 3)),
                max_size=6),
       st.integers(0, 48), st.integers(0, 5), st.integers(0, 3), st.integers(0, 300),
       st.integers(0, 400), st.booleans())
def test_fuzzed_clouds_read_or_say_why(fields, point_step, width, height, row_step, n_bytes,
                                       big):
    """Any header and payload gives points or a PointCloudError, never another exception."""
    from sensor_msgs.msg import PointCloud2, PointField

    from thermal_perception.ros.pointcloud2 import PointCloudError, cloud_xyz

    msg = PointCloud2(height=height, width=width, point_step=point_step, row_step=row_step,
                      is_bigendian=big)
    msg.fields = [PointField(name=n, offset=o, datatype=d, count=c) for n, o, d, c in fields]
    msg.data = bytes(range(256)) * (n_bytes // 256) + bytes(range(n_bytes % 256))
    try:
        xyz, _ = cloud_xyz(msg)
    except PointCloudError:
        return
    assert xyz.shape == (width * height, 3)
