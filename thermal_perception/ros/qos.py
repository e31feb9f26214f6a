"""QoS profiles: sensor data (images, status) best effort and shallow; latched-like reliable
for camera_info and configuration. ``reliability`` parameters let users pick reliable images
for tools that require it."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

RELIABILITY_CHOICES = ("best_effort", "reliable")


def sensor_qos(reliability: str = "best_effort", depth: int = 5) -> QoSProfile:
    """Profile for image streams: keep-last ``depth``, volatile, ``reliability``."""
    if reliability not in RELIABILITY_CHOICES:
        raise ValueError(f"reliability must be one of {RELIABILITY_CHOICES}, got {reliability!r}")
    profile = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth,
        reliability=(ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort"
                     else ReliabilityPolicy.RELIABLE),
        durability=DurabilityPolicy.VOLATILE)
    return profile


def reliable_qos(depth: int = 10) -> QoSProfile:
    """Reliable keep-last profile (camera_info, detections, diagnostics)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


SENSOR_DATA = qos_profile_sensor_data
