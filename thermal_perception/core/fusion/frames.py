"""Static transform trees without ROS: the ``/tf_static`` of a recording, for tools that
replay bags with no tf2 (offline analysis). Live nodes use tf2_ros itself
(:mod:`thermal_perception.ros.tf_extrinsics`).

Each transform is ``T_parent_child`` (a point in the child frame mapped into the parent, as
``geometry_msgs/TransformStamped`` with ``header.frame_id`` the parent and ``child_frame_id``
the child carries it); a frame has one parent (a later transform for the same child replaces
the earlier one, as tf2 does with static transforms), so the frames form a forest and
``T_target_source`` is composed through their common root.
"""

from __future__ import annotations

from typing import Any

from thermal_perception.core.fusion.geometry import RigidTransform

MAX_DEPTH = 1000  # a longer chain is a cycle in the data


def rigid_from_transform(transform: Any) -> RigidTransform:
    """A geometry_msgs/Transform (rclpy or rosbags: translation m, rotation quaternion x y z
    w) as a :class:`RigidTransform`; ValueError for a zero or non-finite quaternion."""
    t, q = transform.translation, transform.rotation
    return RigidTransform.from_quaternion([q.x, q.y, q.z, q.w], [t.x, t.y, t.z])


class StaticFrames:
    """A tree of static transforms: :meth:`add` edges, :meth:`lookup` any pair."""

    def __init__(self) -> None:
        self._parent: dict[str, tuple[str, RigidTransform]] = {}

    def __len__(self) -> int:
        return len(self._parent)

    def add(self, parent: str, child: str, transform: RigidTransform) -> None:
        """``T_parent_child``; frame names without a leading '/' (tf2 strips it too)."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"a transform needs two different frame names, got "
                             f"{parent!r} -> {child!r}")
        self._parent[child] = (parent, transform)

    def add_message(self, msg: Any) -> int:
        """The transforms of a tf2_msgs/TFMessage; returns how many were valid (those with a
        zero quaternion or a missing frame name are skipped)."""
        added = 0
        for stamped in msg.transforms:
            try:
                self.add(str(stamped.header.frame_id), str(stamped.child_frame_id),
                         rigid_from_transform(stamped.transform))
            except ValueError:
                continue
            added += 1
        return added

    def _from_root(self, frame: str) -> tuple[str, RigidTransform]:
        """``frame``'s root and ``T_root_frame``."""
        total = RigidTransform.identity()
        for _ in range(MAX_DEPTH):
            if frame not in self._parent:
                return frame, total
            parent, t = self._parent[frame]
            total = t @ total
            frame = parent
        raise ValueError(f"the static transforms form a cycle through {frame!r}")

    def lookup(self, target: str, source: str) -> RigidTransform:
        """``T_target_source``; LookupError saying which frames are not connected."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if target == source:
            return RigidTransform.identity()
        (root_s, t_root_source), (root_t, t_root_target) = (self._from_root(source),
                                                            self._from_root(target))
        if root_s == root_t:
            return t_root_target.inverse() @ t_root_source
        known = sorted({*self._parent, *(p for p, _ in self._parent.values())})
        raise LookupError(f"no static transform connects {source!r} to {target!r} "
                          f"(frames known: {', '.join(known) or 'none'})")
