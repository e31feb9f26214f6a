"""Detector parameters: specs and the detectors and tracker built from them (pure Python,
shared by the detector node and the offline analysis)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from thermal_perception.core.detection import (
    HotspotConfig,
    HotspotDetector,
    WarmBodyConfig,
    WarmBodyDetector,
)
from thermal_perception.core.detection.model import PROVIDERS, LearnedDetector
from thermal_perception.core.detection.tracking import MultiObjectTracker, TrackerConfig
from thermal_perception.core.display.render import COLORMAPS
from thermal_perception.ros.params import ParamSpec
from thermal_perception.settings import RELIABILITY_CHOICES

PEOPLE_BACKENDS = ("warm_body", "model")


def needs_gsd(bodies: object) -> bool:
    """Whether the people backend needs the ground sample distance (the warm-body detector's
    size gates are in metres; the model's are not)."""
    return not isinstance(bodies, LearnedDetector)


PARAMS = (
    ParamSpec("warm_bodies", True, "Detect people and animals (and, with the model, vehicles "
              "and bicycles)."),
    ParamSpec("people_detector", "warm_body",
              "Backend for people/animals/vehicles: 'warm_body' (temperature contrast and "
              "size in metres; needs the ground sample distance) or 'model' (a learned ONNX "
              "detector run by onnxruntime; no GSD needed, with one it skips the reduced "
              "image scales where no person could need them).", choices=PEOPLE_BACKENDS),
    ParamSpec("model_path", "", "ONNX model of the 'model' backend, with its model card "
              "(.json) beside it, or a shipped model's name: 'general' (drone and side-on "
              "views; empty means this) or 'drone' (chosen on drone views alone: better there, "
              "worse side-on)."),
    ParamSpec("model_provider", "CPUExecutionProvider", "onnxruntime execution provider of "
              "the 'model' backend.", choices=PROVIDERS),
    ParamSpec("model_threads", 1, "onnxruntime threads of the 'model' backend.", 0, 64),
    ParamSpec("model_flip_test", True, "Run the 'model' backend's flip test where its model "
              "card chose it (the mirrored frame too, heatmaps averaged: the general model at "
              "both scales, the drone model at full scale; about twice the time per frame); "
              "false: never."),
    ParamSpec("model_rescore", True, "Apply the 'model' backend's rescorer where its model "
              "card has one (a patch classifier's second opinion on each box of its classes: "
              "the drone model's people); false: the detector's scores alone."),
    ParamSpec("model_threshold_scale", 1.0, "Multiplies the model card's per-class score "
              "thresholds (below 1: more recall, above: more precision).", 0.1, 3.0),
    ParamSpec("hotspots", True, "Detect fire and hotspots."),
    ParamSpec("tracking", True, "Track detections over time (stable track ids)."),
    ParamSpec("altitude_m", 0.0,
              "Height above ground for the ground sample distance, m (0: from the 'altitude' "
              "topic, else gsd_m).", 0.0, 10000.0),
    ParamSpec("camera_pitch_deg", 90.0, "Camera pitch below the horizon, deg (90: nadir), "
              "for the ground sample distance at the frame's centre from altitude.", 1.0, 90.0),
    ParamSpec("gsd_m", 0.0, "Ground sample distance, m per pixel (0: from altitude, "
              "camera_pitch_deg and camera_info).", 0.0, 100.0),
    ParamSpec("body_contrast_k", 2.0, "People/animals: warmer than the local background by "
              "at least this, K.", 0.1, 50.0),
    ParamSpec("fire_c", 140.0, "Fire: pixels at least this hot (saturated pixels too), deg C.",
              50.0, 2000.0),
    ParamSpec("hotspot_min_c", 45.0, "Hotspots: at least this hot, deg C.", -50.0, 2000.0),
    ParamSpec("hotspot_contrast_k", 20.0,
              "Hotspots: hotter than the local background by at least this, K.", 0.5, 1000.0),
    ParamSpec("min_confidence", 0.3, "Publish detections at least this confident.", 0.0, 1.0),
    ParamSpec("track_gate_px", 12.0, "Largest jump of a track between frames, pixels.",
              1.0, 500.0),
    ParamSpec("track_confirm_hits", 3, "Detections before a track is confirmed.", 1, 100),
    ParamSpec("track_max_misses", 5, "Missed frames before a track is deleted.", 0, 1000),
    ParamSpec("colormap", "ironbow", "Colours of image_detections.", choices=COLORMAPS),
    ParamSpec("image_reliability", "reliable", "QoS reliability of the image topics.",
              choices=RELIABILITY_CHOICES, read_only=True),
    ParamSpec("max_rate_hz", 0.0, "Detect on at most this many frames per second (by their "
              "stamps; the frames between are skipped and counted), to leave a shared computer's "
              "CPU to others; 0 = every frame it can take.", 0.0, 1000.0),
    ParamSpec("input_queue_depth", 1, "Temperature frames kept for the detector while it works "
              "on one (keep-last): 1 takes the newest frame when detection is slower than the "
              "camera (lowest latency; older frames are dropped); more lets bursts through but "
              "adds up to that many frame periods of latency.", 1, 100, read_only=True),
)
DETECTORS = ("body_contrast_k", "fire_c", "hotspot_min_c", "hotspot_contrast_k",
             "people_detector", "model_path", "model_provider", "model_threads",
             "model_threshold_scale", "model_flip_test", "model_rescore")
TRACKER = ("track_gate_px", "track_confirm_hits", "track_max_misses")


def backend_advice(values: dict[str, Any], source: str) -> str:
    """Advice when the people backend does not suit where the frames come from (the driver's
    ``status.source``: "simulator", "v4l2:...", "file:...", "bag:..."), else "". The
    warm-body backend was tuned on the simulator and finds few people in real footage; the
    learned models were trained on real footage and find few of the simulator's people
    (docs/detection.md)."""
    if not values.get("warm_bodies", True) or not source:
        return ""
    backend = values.get("people_detector", "warm_body")
    if backend == "warm_body" and source != "simulator":
        return (f"people_detector 'warm_body' on frames from '{source}': it is tuned on the "
                "simulator and finds few people in real footage (F1 0.01 on HIT-UAV drone "
                "frames); set people_detector: model (model_path: drone from a drone)")
    if backend == "model" and source == "simulator":
        return ("people_detector 'model' on the simulator's frames: the learned models were "
                "trained on real footage and find few of the simulator's people (P 0.28, "
                "R 0.17); warm_body is the backend for the simulator")
    return ""


def detectors_from(values: dict[str, Any]
                   ) -> tuple[WarmBodyDetector | LearnedDetector, HotspotDetector]:
    """Detectors for the node's parameter values (the people backend first). Raises
    FileNotFoundError or ValueError when the model cannot be loaded."""
    if values.get("people_detector", "warm_body") == "model":
        bodies: WarmBodyDetector | LearnedDetector = LearnedDetector(
            values["model_path"] or None, threshold_scale=values["model_threshold_scale"],
            provider=values["model_provider"], threads=values["model_threads"],
            flip_scales=None if values.get("model_flip_test", True) else (),
            rescore=values.get("model_rescore", True))
    else:
        bodies = WarmBodyDetector(replace(WarmBodyConfig(),
                                          contrast_k=values["body_contrast_k"]))
    hot = HotspotDetector(replace(HotspotConfig(), fire_c=values["fire_c"],
                                  hotspot_min_c=values["hotspot_min_c"],
                                  hotspot_contrast_k=values["hotspot_contrast_k"]))
    return bodies, hot


def tracker_from(values: dict[str, Any]) -> MultiObjectTracker:
    return MultiObjectTracker(TrackerConfig(gate_px=values["track_gate_px"],
                                            confirm_hits=values["track_confirm_hits"],
                                            max_misses=values["track_max_misses"]))
