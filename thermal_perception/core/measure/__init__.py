"""Measurements on temperature images: regions of interest (spots, boxes, polygons), their
statistics per frame and threshold alarms with hysteresis.

- ``shapes``: the ROI types and their alarm rules;
- ``parse``: ROIs from ROS parameter strings and back;
- ``stats``: :class:`RoiSet`, the per-frame statistics (:class:`RoiStats`);
- ``alarms``: :class:`AlarmMonitor`, alarm states and transitions.
"""

from thermal_perception.core.measure.alarms import AlarmMonitor, AlarmTransition, AlarmUpdate
from thermal_perception.core.measure.parse import MAX_ROIS, format_roi, parse_roi, parse_rois
from thermal_perception.core.measure.shapes import (
    ALARM_METRICS,
    ALARM_STATES,
    DEFAULT_HYSTERESIS_K,
    NO_ALARM,
    ROI_SHAPES,
    STATE_ALARM,
    STATE_INVALID,
    STATE_OK,
    BoxRoi,
    PolygonRoi,
    Roi,
    RoiAlarm,
    SpotRoi,
)
from thermal_perception.core.measure.stats import RoiSet, RoiStats

__all__ = ["ALARM_METRICS", "ALARM_STATES", "DEFAULT_HYSTERESIS_K", "MAX_ROIS", "NO_ALARM",
           "ROI_SHAPES", "STATE_ALARM", "STATE_INVALID", "STATE_OK", "AlarmMonitor",
           "AlarmTransition", "AlarmUpdate", "BoxRoi", "PolygonRoi", "Roi", "RoiAlarm", "RoiSet",
           "RoiStats", "SpotRoi", "format_roi", "parse_roi", "parse_rois"]
