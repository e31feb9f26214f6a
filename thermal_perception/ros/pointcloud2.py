"""sensor_msgs/PointCloud2 <-> numpy without sensor_msgs_py (not on PyPI).

Reading honours the message layout exactly: field offsets and types, ``point_step``,
``row_step`` padding, organised clouds (height > 1) and big-endian data. Bad layouts raise
:class:`PointCloudError` with the reason; nothing is guessed.
"""

from __future__ import annotations

import array as _array
from typing import Any

import numpy as np
from numpy.typing import NDArray

# sensor_msgs/PointField datatypes.
_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
_CODES = {np.dtype(v).str[1:]: k for k, v in _TYPES.items()}
_NAMES = {1: "INT8", 2: "UINT8", 3: "INT16", 4: "UINT16", 5: "INT32", 6: "UINT32",
          7: "FLOAT32", 8: "FLOAT64"}  # the PointField constants' names, by code


class PointCloudError(ValueError):
    """A PointCloud2 message that cannot be read."""


def _layout(msg: Any) -> np.dtype:
    order = ">" if msg.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for f in msg.fields:
        if f.name in names:
            raise PointCloudError(f"field '{f.name}' appears twice")
        if f.datatype not in _TYPES:
            raise PointCloudError(f"field '{f.name}' has unknown datatype {f.datatype}")
        count = max(int(f.count), 1)
        size = np.dtype(_TYPES[f.datatype]).itemsize * count
        if f.offset + size > msg.point_step:
            raise PointCloudError(f"field '{f.name}' (offset {f.offset}, {size} bytes) does not "
                                  f"fit in point_step {msg.point_step}")
        names.append(f.name)
        formats.append((order + _TYPES[f.datatype], (count,)) if count > 1
                       else order + _TYPES[f.datatype])
        offsets.append(int(f.offset))
    try:
        return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                         "itemsize": int(msg.point_step)})
    except (TypeError, ValueError) as exc:
        raise PointCloudError(f"fields do not make a valid point layout: {exc}") from exc


def cloud_to_array(msg: Any) -> NDArray:
    """The points of a PointCloud2 as a structured array (height * width,)."""
    if msg.point_step <= 0:
        raise PointCloudError(f"point_step must be > 0, got {msg.point_step}")
    if msg.row_step < msg.width * msg.point_step:
        raise PointCloudError(f"row_step {msg.row_step} < width {msg.width} x point_step "
                              f"{msg.point_step}")
    dtype = _layout(msg)
    data = msg.data
    buf = data.tobytes() if hasattr(data, "tobytes") else bytes(data)
    need = msg.row_step * msg.height
    if len(buf) < need:
        raise PointCloudError(f"data has {len(buf)} bytes, the header says {need} "
                              f"({msg.height} rows of {msg.row_step})")
    n = msg.width * msg.height
    if n == 0:
        return np.empty(0, dtype)
    if msg.row_step == msg.width * msg.point_step:
        return np.frombuffer(buf, dtype, count=n).copy()
    rows = np.frombuffer(buf, np.uint8, count=need).reshape(msg.height, msg.row_step)
    packed = np.ascontiguousarray(rows[:, :msg.width * msg.point_step])
    return np.frombuffer(packed.tobytes(), dtype, count=n).copy()


def cloud_xyz(msg: Any) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
    """Points (N, 3) float32 from the x, y, z fields and the intensity field if there is one;
    points with non-finite coordinates are kept (callers drop them)."""
    array = cloud_to_array(msg)
    names = array.dtype.names or ()
    missing = [c for c in "xyz" if c not in names]
    if missing:
        raise PointCloudError(f"cloud has no field(s) {missing}; fields: {list(names)}")
    wrong = {c: array.dtype[c].base for c in "xyz" if array.dtype[c].base.kind != "f"}
    if wrong:  # integer coordinates are not metres (REP 103): refuse rather than guess a scale
        raise PointCloudError("x, y, z must be FLOAT32 or FLOAT64 (m), got " + ", ".join(
            f"{c} {_NAMES[_CODES[t.newbyteorder('<').str[1:]]]}" for c, t in wrong.items()))
    xyz = np.column_stack([array[c].astype(np.float32) for c in "xyz"])
    intensity = array["intensity"].astype(np.float32) if "intensity" in names else None
    return xyz, intensity


def array_to_cloud(array: NDArray, header: Any, msg: Any = None) -> Any:
    """A dense, unorganised PointCloud2 (height 1, little-endian) of a structured array."""
    from sensor_msgs.msg import PointCloud2, PointField

    msg = msg or PointCloud2()
    msg.header = header
    fields = []
    for name in array.dtype.names or ():
        dt, offset = array.dtype.fields[name][:2]
        code = _CODES.get(dt.newbyteorder("<").str[1:])
        if code is None:
            raise PointCloudError(f"field '{name}' has type {dt} not allowed in PointCloud2")
        fields.append(PointField(name=name, offset=int(offset), datatype=code, count=1))
    msg.fields = fields
    msg.height, msg.width = 1, len(array)
    msg.is_bigendian = False
    msg.point_step = int(array.dtype.itemsize)
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = bool(all(np.isfinite(array[n]).all() for n in array.dtype.names or ()))
    data = _array.array("B")
    data.frombytes(np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"))).tobytes())
    msg.data = data
    return msg
