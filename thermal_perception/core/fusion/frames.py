"""Transform trees without ROS: the ``/tf_static`` and ``/tf`` of a recording, for tools that
replay bags with no tf2 (offline analysis). Live nodes use tf2_ros itself
(:mod:`thermal_perception.ros.tf_extrinsics`).

Each transform is ``T_parent_child`` (a point in the child frame mapped into the parent, as
``geometry_msgs/TransformStamped`` with ``header.frame_id`` the parent and ``child_frame_id``
the child carries it); a frame has one parent, so the frames form a forest and
``T_target_source`` is composed through their common root. A static transform (``/tf_static``)
holds at all times; a later one for the same child replaces it, as in tf2. A dynamic one
(``/tf``: a gimbal's joints) is a time series, interpolated as tf2 does (translation linearly,
rotation by slerp) between the samples around the asked time; tf2 would not extrapolate, here
the end samples are held for at most ``hold_s`` beyond them. A child with dynamic samples
takes them over a static transform. Dynamic samples are kept at most every ``min_step_s`` of
their stamps (a 200 Hz joint state is kept at 20 Hz by default), so a long bag's tree stays
small.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thermal_perception.core.fusion.geometry import RigidTransform
from thermal_perception.core.fusion.sync import interpolate_quaternions, interpolate_vectors

MAX_DEPTH = 1000  # a longer chain is a cycle in the data
NS_PER_S = 1_000_000_000


def rigid_from_transform(transform: Any) -> RigidTransform:
    """A geometry_msgs/Transform (rclpy or rosbags: translation m, rotation quaternion x y z
    w) as a :class:`RigidTransform`; ValueError for a zero or non-finite quaternion."""
    t, q = transform.translation, transform.rotation
    return RigidTransform.from_quaternion([q.x, q.y, q.z, q.w], [t.x, t.y, t.z])


class _Series:
    """A dynamic transform's samples: stamps (ns), translations (m), quaternions (x y z w)."""

    def __init__(self, parent: str) -> None:
        self.parent = parent
        self.stamps: list[int] = []
        self.values: list[tuple[float, ...]] = []  # x, y, z, qx, qy, qz, qw
        self._sorted = True

    def add(self, stamp_ns: int, transform: RigidTransform, min_step_ns: int) -> None:
        if self.stamps and abs(stamp_ns - self.stamps[-1]) < min_step_ns:
            return
        if self.stamps and stamp_ns < self.stamps[-1]:
            self._sorted = False
        self.stamps.append(int(stamp_ns))
        self.values.append((*transform.translation, *transform.quaternion))

    def at(self, at_ns: int | None, hold_ns: int) -> RigidTransform:
        if not self._sorted:
            order = np.argsort(self.stamps, kind="stable")
            self.stamps = [self.stamps[k] for k in order]
            self.values = [self.values[k] for k in order]
            self._sorted = True
        if at_ns is None:  # the latest
            v = self.values[-1]
            return RigidTransform.from_quaternion(v[3:], v[:3])
        if not self.stamps[0] - hold_ns <= at_ns <= self.stamps[-1] + hold_ns:
            raise LookupError(f"no transform at {at_ns * 1e-9:.3f} s (samples from "
                              f"{self.stamps[0] * 1e-9:.3f} to {self.stamps[-1] * 1e-9:.3f} s)")
        k = int(np.searchsorted(self.stamps, at_ns))
        lo, hi = max(0, k - 1), min(len(self.stamps) - 1, k)
        stamps = [self.stamps[lo], self.stamps[hi]]
        pair = np.array([self.values[lo], self.values[hi]])
        q = interpolate_quaternions(stamps, pair[:, 3:], at_ns)
        t = interpolate_vectors(stamps, pair[:, :3], at_ns)
        return RigidTransform.from_quaternion(q, t)


class TransformTree:
    """Static and dynamic transforms: :meth:`add` edges, :meth:`lookup` any pair at a time."""

    def __init__(self, hold_s: float = 0.2, min_step_s: float = 0.05) -> None:
        self._static: dict[str, tuple[str, RigidTransform]] = {}
        self._dynamic: dict[str, _Series] = {}
        self.hold_ns = int(hold_s * NS_PER_S)
        self.min_step_ns = int(min_step_s * NS_PER_S)

    def __len__(self) -> int:
        return len(self._static.keys() | self._dynamic.keys())

    @property
    def dynamic(self) -> bool:
        """Whether any transform changes with time."""
        return bool(self._dynamic)

    def add(self, parent: str, child: str, transform: RigidTransform,
            stamp_ns: int | None = None) -> None:
        """``T_parent_child``, static (``stamp_ns`` None) or a sample at ``stamp_ns``; frame
        names without a leading '/' (tf2 strips it too)."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"a transform needs two different frame names, got "
                             f"{parent!r} -> {child!r}")
        if stamp_ns is None:
            self._static[child] = (parent, transform)
            return
        series = self._dynamic.get(child)
        if series is None or series.parent != parent:  # a new parent starts over
            series = self._dynamic[child] = _Series(parent)
        series.add(stamp_ns, transform, self.min_step_ns)

    def add_message(self, msg: Any, static: bool = True) -> int:
        """The transforms of a tf2_msgs/TFMessage (static: ``/tf_static``; else ``/tf``,
        each at its header's stamp); returns how many were valid (a zero quaternion or a
        missing frame name is skipped)."""
        added = 0
        for stamped in msg.transforms:
            stamp = None if static else (int(stamped.header.stamp.sec) * NS_PER_S
                                         + int(stamped.header.stamp.nanosec))
            try:
                self.add(str(stamped.header.frame_id), str(stamped.child_frame_id),
                         rigid_from_transform(stamped.transform), stamp)
            except ValueError:
                continue
            added += 1
        return added

    def _edge(self, frame: str, at_ns: int | None) -> tuple[str, RigidTransform] | None:
        series = self._dynamic.get(frame)
        if series is not None:
            try:
                return series.parent, series.at(at_ns, self.hold_ns)
            except LookupError as exc:
                raise LookupError(f"{series.parent!r} -> {frame!r}: {exc}") from None
        return self._static.get(frame)

    def _from_root(self, frame: str, at_ns: int | None) -> tuple[str, RigidTransform]:
        """``frame``'s root and ``T_root_frame`` at ``at_ns``."""
        total = RigidTransform.identity()
        for _ in range(MAX_DEPTH):
            edge = self._edge(frame, at_ns)
            if edge is None:
                return frame, total
            parent, t = edge
            total = t @ total
            frame = parent
        raise ValueError(f"the transforms form a cycle through {frame!r}")

    def lookup(self, target: str, source: str, at_ns: int | None = None) -> RigidTransform:
        """``T_target_source`` at ``at_ns`` (None: the latest); LookupError saying which
        frames are not connected or which transform has no sample near that time."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if target == source:
            return RigidTransform.identity()
        (root_s, t_root_source), (root_t, t_root_target) = (self._from_root(source, at_ns),
                                                            self._from_root(target, at_ns))
        if root_s == root_t:
            return t_root_target.inverse() @ t_root_source
        known = sorted({*self._static, *(p for p, _ in self._static.values()),
                        *self._dynamic, *(s.parent for s in self._dynamic.values())})
        raise LookupError(f"no transform connects {source!r} to {target!r} "
                          f"(frames known: {', '.join(known) or 'none'})")
