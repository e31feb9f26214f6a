"""Extrinsics from tf2: the sensors' poses from the robot's transform tree (``/tf``,
``/tf_static``: a URDF through robot_state_publisher, a static_transform_publisher, a gimbal
driver) instead of parameters.

``tf2_ros`` comes with every ROS 2 install but not from PyPI, so it is imported only when a
node asks for it (``extrinsics_source: tf``); without it the node refuses that value with the
package to install. The frames are REP 103/105 frames named in the messages' headers.

``lookup(target, source, stamp_ns)`` returns ``T_target_source`` (a point in ``source``
mapped into ``target``, :class:`~thermal_perception.core.fusion.geometry.RigidTransform`),
which is what ``tf2_ros.Buffer.lookup_transform(target, source, time)`` reports.
"""

from __future__ import annotations

from typing import Any, Protocol

from thermal_perception.core.fusion.frames import rigid_from_transform
from thermal_perception.core.fusion.geometry import RigidTransform

__all__ = ["TF2_MISSING", "Tf2Lookup", "TransformLookup", "TransformUnavailable",
           "rigid_from_transform"]

TF2_MISSING = ("extrinsics_source 'tf' needs tf2_ros, which comes with a ROS 2 install "
               "(apt install ros-$ROS_DISTRO-tf2-ros) and is not on PyPI; it is not "
               "importable here. Use extrinsics_source 'parameters' (rgb_extrinsics, "
               "lidar_extrinsics, camera_mount) or source a ROS 2 install.")


class TransformUnavailable(LookupError):
    """tf has no transform between the frames (yet): the message says which and why."""


class TransformLookup(Protocol):
    """What the fusion node asks of tf: ``T_target_source`` at ``stamp_ns`` (None: the
    latest), or :class:`TransformUnavailable`."""

    def lookup(self, target: str, source: str, stamp_ns: int | None) -> RigidTransform: ...


class Tf2Lookup:
    """:class:`TransformLookup` on a ``tf2_ros`` buffer filled by a listener on ``node``
    (its subscriptions to ``/tf`` and ``/tf_static`` spin with the node). ValueError
    (:data:`TF2_MISSING`) when tf2_ros is not installed."""

    def __init__(self, node: Any) -> None:
        try:
            from tf2_ros import TransformException
            from tf2_ros.buffer import Buffer
            from tf2_ros.transform_listener import TransformListener
        except ImportError:
            raise ValueError(TF2_MISSING) from None
        self._error = TransformException
        self.buffer = Buffer()
        self.listener = TransformListener(self.buffer, node)

    def lookup(self, target: str, source: str, stamp_ns: int | None) -> RigidTransform:
        from rclpy.time import Time

        when = Time() if stamp_ns is None else Time(nanoseconds=int(stamp_ns))
        try:
            msg = self.buffer.lookup_transform(target, source, when)
        except self._error as exc:
            raise TransformUnavailable(f"tf has no transform from '{source}' to '{target}'"
                                       f"{'' if stamp_ns is None else ' at the stamp'}: "
                                       f"{exc}") from None
        return rigid_from_transform(msg.transform)
