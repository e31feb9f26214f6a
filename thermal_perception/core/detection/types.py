"""What every detector produces: :class:`Detection` (pixel box, class, temperatures, confidence)
and the labels it can carry; the ground sample distance of a nadir or oblique view.

Pure Python + numpy; no ROS imports. Positions are pixels (x right, y down), sizes on the
ground metres and m^2, temperatures deg C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["LABELS", "Detection", "gsd_from_altitude", "gsd_from_view"]

#: Labels a detection can carry.
LABELS = ("person", "animal", "vehicle", "bicycle", "fire", "hotspot")


def gsd_from_altitude(altitude_m: float, focal_length_px: float) -> float:
    """Ground sample distance of a nadir pinhole view, m per pixel: ``altitude / focal``.

    Parameters
    ----------
    altitude_m : height above the ground, m (> 0).
    focal_length_px : focal length, pixels (> 0), e.g. ``CameraProfile.focal_length_px``.
    """
    if not (altitude_m > 0 and focal_length_px > 0):
        raise ValueError(f"need altitude_m > 0 and focal_length_px > 0, got "
                         f"{altitude_m} and {focal_length_px}")
    return float(altitude_m) / float(focal_length_px)


@dataclass
class Detection:
    """One detected object in a frame.

    Attributes
    ----------
    label : one of :data:`LABELS`.
    confidence : 0..1.
    bbox : (x0, y0, x1, y1), pixels; x1, y1 exclusive (x1 = x0 + width).
    centroid : (x, y), pixels (sub-pixel).
    max_c, mean_c : hottest and mean temperature of the object's pixels, deg C; saturated
        pixels count as ``HotspotConfig.saturation_c`` (a lower bound).
    area_px : object pixels.
    area_m2 : ``area_px * gsd^2``, m^2; NaN if the GSD is unknown.
    track_id : tracker identity, 0 = untracked.
    saturated_px : pixels above the camera's range (NaN next to hot pixels).
    """

    label: str
    confidence: float
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]
    max_c: float
    mean_c: float
    area_px: int
    area_m2: float = math.nan
    track_id: int = 0
    saturated_px: int = 0

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown label {self.label!r}; known: {list(LABELS)}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")


def gsd_from_view(altitude_m: float, pitch_deg: float, focal_length_px: float) -> float:
    """Sample distance at the centre of an oblique view of flat ground, m per pixel: the slant
    range ``altitude / sin(pitch)`` over the focal length (pitch below the horizon, 90 deg =
    nadir: :func:`gsd_from_altitude`). Pitches under 11.5 deg count as 11.5 (the range of a
    view near the horizon is not that of the ground at the centre)."""
    if not 0 < pitch_deg <= 90:
        raise ValueError(f"need 0 < pitch_deg <= 90 (below the horizon), got {pitch_deg}")
    return gsd_from_altitude(altitude_m, focal_length_px) / max(
        math.sin(math.radians(pitch_deg)), 0.2)
