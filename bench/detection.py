"""Detection benchmark: time per 640x512 frame of the detectors and the tracker, next to the
processing chain (counts -> temperature -> display) measured in the same run. The learned
backend (``people_detector: model``, onnxruntime on one thread) is timed on the simulated
frames and on the real drone frames of data/hit_uav_sample, and the drone model
(``model_path: drone``, with its card's flip test) on the drone frames as a drone runs it:
median and 99th percentile.

    python bench/detection.py [--frames 60] [--out out/bench/detection.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import median_ms  # noqa: E402

from thermal_perception.core.correction.chain import ChainConfig, ProcessingChain  # noqa: E402
from thermal_perception.core.display.render import DisplayRenderer  # noqa: E402
from thermal_perception.core.physics.calibration import CountsToTemperature  # noqa: E402
from thermal_perception.core.physics.camera import get_profile  # noqa: E402
from thermal_perception.settings.detector import (  # noqa: E402
    PARAMS,
    detectors_from,
    tracker_from,
)
from thermal_perception.sim.simulator import ThermalSimulator  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "detection.json")
    args = parser.parse_args()
    profile = get_profile("boson640")
    sim = ThermalSimulator(profile, altitude_m=40.0, speed_mps=6.0, seed=2,
                           scene_options={"people": 60, "animals": 20, "vehicles": 6})
    raws = [sim.counts(i / 30).copy() for i in range(args.frames)]
    chain = ProcessingChain(ChainConfig(ffc=False), CountsToTemperature(sim.calibration,
                                                                        sim.table))
    renderer = DisplayRenderer()
    temps = [chain.temperature(r).copy() for r in raws]
    values = {spec.name: spec.default for spec in PARAMS}
    bodies, hot = detectors_from(values)
    tracker = tracker_from(values)
    gsd = sim.gsd_m
    chain_ms = median_ms(lambda r: renderer.render(chain.temperature(r)), raws)
    bodies_ms = median_ms(lambda t: bodies.detect(t, gsd), temps)
    hot_ms = median_ms(lambda t: hot.detect(t, gsd), temps)
    found = [bodies.detect(t, gsd) + hot.detect(t, gsd) for t in temps]
    tracker_ms = median_ms(lambda d: tracker.update(d, 1 / 30), found)
    detect_ms = bodies_ms + hot_ms + tracker_ms
    learned = learned_times(temps)
    print(f"640x512 frames, median of {args.frames}")
    print(f"processing chain (counts -> temperature -> display)  {chain_ms:6.2f} ms")
    print(f"warm-body detector                                     {bodies_ms:6.2f} ms")
    print(f"hotspot/fire detector                                  {hot_ms:6.2f} ms")
    print(f"tracker                                                {tracker_ms:6.2f} ms")
    print(f"detection / processing chain: {detect_ms / chain_ms:.1f}x "
          f"({1e3 / detect_ms:.0f} fps of detection)")
    labels = {"sim": "simulated 640x512 (deg C)", "real": "real HIT-UAV 640x512 (8-bit)",
              "real_drone": "the same, 0.1 m/px: scale 1",
              "drone_model": "drone model, 0.1 m/px"}
    for name, (p50, p99) in learned.items():
        print(f"learned detector, {labels[name]:28s} p50 {p50:6.2f} ms, p99 {p99:6.2f} ms "
              f"({p50 / chain_ms:.1f}x the chain)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"chain_ms": chain_ms, "warm_body_ms": bodies_ms,
                                    "hotspot_ms": hot_ms, "tracker_ms": tracker_ms,
                                    "ratio_detection_over_chain": detect_ms / chain_ms,
                                    **{f"learned_{k}_ms": v for k, v in learned.items()}},
                                   indent=2) + "\n")
    return 0


def learned_times(temps: list) -> dict[str, tuple[float, float]]:
    """p50/p99 ms of the learned backend on the simulated temperatures and on real frames,
    with no ground sample distance (every scale the card names, as for a camera of unknown
    geometry) and on the real frames also with a drone's 0.1 m per pixel (scale awareness:
    full scale only), there also the drone model."""
    from thermal_perception.core.detection.model import (
        SHIPPED_MODEL,
        SHIPPED_MODELS,
        LearnedDetector,
    )
    from thermal_perception.io.labels import read_dataset

    if not SHIPPED_MODEL.is_file():
        print("no shipped model: learned detector not timed")
        return {}
    general = LearnedDetector(threads=1)
    drone = LearnedDetector("drone", threads=1) if SHIPPED_MODELS["drone"].is_file() else None
    real = [cv2.imread(str(it.path), cv2.IMREAD_GRAYSCALE)
            for it in read_dataset(REPO / "data" / "hit_uav_sample")]
    out = {}
    for name, det, frames, radiometric, gsd in (
            ("sim", general, temps, True, None),
            ("real", general, real, False, None),
            ("real_drone", general, real, False, 0.1),
            ("drone_model", drone, real, False, 0.1)):
        if det is None:
            continue
        for f in frames[:3]:
            det.detect(f, gsd, radiometric=radiometric)
        times = []
        for f in frames:
            t0 = time.perf_counter()
            det.detect(f, gsd, radiometric=radiometric)
            times.append((time.perf_counter() - t0) * 1e3)
        out[name] = (float(np.percentile(times, 50)), float(np.percentile(times, 99)))
    return out


if __name__ == "__main__":
    sys.exit(main())
