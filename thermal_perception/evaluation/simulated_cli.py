"""``thermal-perception eval``: detection and tracking scored against simulated ground truth.

Runs the detectors and the tracker (with the detector node's parameters) over simulated
search-and-rescue and fire sequences, several seeds, day and night, and prints precision,
recall and F1 per class, fire false alarms on fire-free scenes, MOTA and id switches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from thermal_perception.core.physics.calibration import CountsToTemperature
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.evaluation.simulated import combine_reports, evaluate_sequence
from thermal_perception.settings.detector import PARAMS, detectors_from, tracker_from
from thermal_perception.sim.simulator import ThermalSimulator

DENSE_SAR = {"people": 30, "animals": 12, "vehicles": 4}  # enough objects per view to score


@dataclass
class EvalOptions:
    seeds: int = 3
    frames: int = 40
    rate_hz: float = 10.0
    width: int = 320
    height: int = 256
    altitudes_m: tuple[float, ...] = (30.0, 40.0)
    speed_mps: float = 6.0
    out: Path | None = None
    people_detector: str | None = None  # None: the detector node's default backend
    model_path: Path | None = None      # 'model' backend: None, the shipped model


def _sequences(o: EvalOptions) -> list[dict[str, Any]]:
    runs = []
    for seed in range(o.seeds):
        for altitude in o.altitudes_m:
            for time_of_day in ("day", "night"):
                runs.append({"kind": "sar", "scene": "uav_sar", "seed": seed,
                             "altitude_m": altitude, "time_of_day": time_of_day,
                             "scene_options": DENSE_SAR})
        runs.append({"kind": "fire", "scene": "fire", "seed": seed, "altitude_m": 40.0,
                     "time_of_day": "day", "scene_options": None})
        runs.append({"kind": "no_fire", "scene": "road", "seed": seed, "altitude_m": 40.0,
                     "time_of_day": "day", "scene_options": None})
    return runs


def run_evaluation(options: EvalOptions, progress: bool = True) -> dict[str, Any]:
    """Evaluate on simulated sequences; returns the combined report per kind of scene."""
    values = {spec.name: spec.default for spec in PARAMS}
    if options.people_detector is not None:
        values["people_detector"] = options.people_detector
    if options.model_path is not None:
        values["model_path"] = str(options.model_path)
    profile = get_profile("boson640").with_size(options.width, options.height)
    reports: dict[str, list[dict]] = {}
    table = None
    for run in tqdm(_sequences(options), desc="evaluating", unit="sequence",
                    disable=not progress):
        sim = ThermalSimulator(profile, run["scene"], altitude_m=run["altitude_m"],
                               speed_mps=options.speed_mps, seed=run["seed"],
                               time_of_day=run["time_of_day"],
                               scene_options=run["scene_options"], table=table)
        table = sim.table
        bodies, hot = detectors_from(values)
        report = evaluate_sequence(
            sim, CountsToTemperature(sim.calibration, sim.table),
            warm_body=bodies if run["kind"] == "sar" else None, hotspot=hot,
            tracker=tracker_from(values), frames=options.frames, rate_hz=options.rate_hz)
        reports.setdefault(run["kind"], []).append(report)
    combined = {kind: combine_reports(items) for kind, items in reports.items()}
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(combined, indent=2, default=float) + "\n")
    return combined


def format_report(combined: dict[str, Any]) -> list[str]:
    """Lines for the terminal."""
    lines = []
    sar = combined.get("sar")
    if sar:
        lines.append(f"search and rescue ({sar['frames']} frames):")
        for label in ("person", "animal", "warm_body"):
            c = sar["detection"].get(label)
            if c:
                lines.append(f"  {label:10s} precision {c['precision']:.3f}  recall "
                             f"{c['recall']:.3f}  F1 {c['f1']:.3f}  (tp {c['tp']}, fp {c['fp']},"
                             f" fn {c['fn']})")
        t = sar.get("tracking")
        if t:
            lines.append(f"  tracking   MOTA {t['mota']:.3f}  id switches {t['idsw']} "
                         f"({t['idsw_per_100_frames']:.2f} per 100 frames)")
    fire = combined.get("fire")
    if fire:
        c = fire["detection"]["fire"]
        lines.append(f"fire scenes ({fire['frames']} frames): recall {c['recall']:.3f}, "
                     f"precision {c['precision']:.3f}")
    no_fire = combined.get("no_fire")
    if no_fire:
        c = no_fire["detection"]["fire"]
        lines.append(f"fire-free scenes ({no_fire['frames']} frames, hot engines): "
                     f"{c.get('false_alarm_frames', c['fp'])} frames with a false fire alarm")
    return lines
