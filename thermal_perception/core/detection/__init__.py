"""Detection: people, animals, vehicles, hotspots and fire in temperature images, tracked.

- :class:`WarmBodyDetector` (``warm_body``): classical, radiometric scenes, no model needed;
- :class:`HotspotDetector` (``hotspot``): hotspots and fire;
- :class:`LearnedDetector` (``model``, ``model_io``): an ONNX model through onnxruntime;
- :class:`MultiObjectTracker` (``tracking``): Kalman tracks over the detections of any backend.

All produce :class:`Detection` (``types``). ``background`` and ``kernels`` are the shared frame
preparation and the compiled per-frame loops.
"""

from thermal_perception.core.detection.background import local_background
from thermal_perception.core.detection.hotspot import HotspotConfig, HotspotDetector
from thermal_perception.core.detection.model import SHIPPED_MODEL, LearnedDetector
from thermal_perception.core.detection.tracking import MultiObjectTracker, TrackerConfig
from thermal_perception.core.detection.types import (
    LABELS,
    Detection,
    gsd_from_altitude,
    gsd_from_view,
)
from thermal_perception.core.detection.warm_body import WarmBodyConfig, WarmBodyDetector

__all__ = ["LABELS", "SHIPPED_MODEL", "Detection", "HotspotConfig", "HotspotDetector",
           "LearnedDetector", "MultiObjectTracker", "TrackerConfig", "WarmBodyConfig",
           "WarmBodyDetector", "gsd_from_altitude", "gsd_from_view", "local_background"]
