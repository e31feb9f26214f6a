"""Does the detector node keep up with a 30 Hz camera? The driver (simulated 640x512 camera),
processor and detector of ``config/uav_sar.yaml`` run as separate processes over real DDS on
this machine; a probe counts the temperature frames and the detection messages and takes the
latency of each detection message from the frame's capture stamp. Run five times in the
same session: with ``people_detector: warm_body`` (the baseline), ``model`` (the learned
backend with the general model, onnxruntime on ``model_threads``) and ``model`` with the drone
model (``model_path: drone``, as the config names it), with its card's flip test and without
(``model_flip_test: false``; the flip doubles its cost), and the drone model told to take at
most 10 frames a second (``max_rate_hz: 10``: does it keep to its configured rate?).

    python bench/detector_rate.py [--seconds 30] [--rate 30] [--queue-depth 1] [--load 0]
                                  [--runs model drone drone_noflip drone_10hz]
                                  [--out out/bench/detector_rate.json]

Prints, per backend: frames in and detection messages out per second, their ratio (1.0: every
frame got its detections) and the capture -> detections latency p50 / p99. ``--load N`` runs N
busy processes beside (a machine busy with other work, where the detector falls behind);
``--queue-depth`` is the detector's ``input_queue_depth``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WARMUP_S = 5.0  # model loading, DDS discovery, the first frames


#: run name -> the detector's backend parameters
RUNS = {"warm_body": {"people_detector": "warm_body"},
        "model": {"people_detector": "model", "model_path": "general"},
        "drone": {"people_detector": "model", "model_path": "drone"},
        "drone_noflip": {"people_detector": "model", "model_path": "drone",
                         "model_flip_test": False},
        # a detector told to take 10 frames a second (max_rate_hz): does it keep to that?
        "drone_10hz": {"people_detector": "model", "model_path": "drone", "max_rate_hz": 10.0}}


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, float]:
    """Frames and detection messages per second and latency over ``args.seconds`` for the run
    ``backend`` (a key of :data:`RUNS`)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.ros.qos import reliable_qos, sensor_qos
    from thermal_perception.ros.recorder import header_stamp_ns
    from thermal_perception.runner import Pipeline

    namespace = f"rate_{backend}"
    node = rclpy.create_node("rate_probe", namespace=f"/{namespace}")
    counting = {"on": False, "frames": 0}
    latencies_ms: list[float] = []

    def on_frame(raw: bytes) -> None:
        if counting["on"]:
            counting["frames"] += 1

    def on_detections(raw: bytes) -> None:
        stamp = header_stamp_ns(raw)
        if counting["on"] and stamp:
            latencies_ms.append((time.time_ns() - stamp) / 1e6)

    node.create_subscription(Image, "image_temperature", on_frame, sensor_qos(), raw=True)
    node.create_subscription(ThermalDetectionArray, "detections", on_detections,
                             reliable_qos(), raw=True)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    overrides = {"driver": {"rate_hz": args.rate},
                 "detector": {**RUNS[backend], "gsd_m": 0.15,
                              "input_queue_depth": args.queue_depth}}
    with Pipeline(REPO / "config" / "uav_sar.yaml", namespace, overrides,
                  log_dir=args.out.parent / "detector_rate_logs",
                  only=["driver", "processor", "detector"]) as pipeline:
        started = time.monotonic()
        while time.monotonic() - started < WARMUP_S + args.seconds:
            executor.spin_once(timeout_sec=0.01)
            counting["on"] = time.monotonic() - started >= WARMUP_S
            if pipeline.failed():
                raise SystemExit(f"{backend}: {pipeline.failed()}")
    executor.shutdown()
    node.destroy_node()
    lat = np.asarray(latencies_ms) if latencies_ms else np.asarray([np.nan])
    frames = counting["frames"]
    return {"frames_per_s": frames / args.seconds,
            "detections_per_s": len(latencies_ms) / args.seconds,
            "ratio": len(latencies_ms) / max(1, frames),
            "latency_p50_ms": float(np.percentile(lat, 50)),
            "latency_p99_ms": float(np.percentile(lat, 99))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=30.0, help="camera frame rate, Hz")
    parser.add_argument("--queue-depth", type=int, default=1,
                        help="the detector's input_queue_depth")
    parser.add_argument("--load", type=int, default=0, help="busy processes run beside")
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS),
                        help="which runs (warm_body, the baseline, always runs)")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "detector_rate.json")
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy

    args.out.parent.mkdir(parents=True, exist_ok=True)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(args.load)]
    rclpy.init()
    try:
        results = {b: run_backend(b, args) for b in RUNS
                   if b == "warm_body" or b in args.runs}
    finally:
        rclpy.try_shutdown()
        for proc in burners:
            proc.kill()
    print(f"640x512 at {args.rate:g} Hz, {args.seconds:g} s, driver + processor + detector "
          f"over DDS, {os.cpu_count()} cores, {args.load} busy processes beside, "
          f"input_queue_depth {args.queue_depth}")
    for name, r in results.items():
        print(f"{name:12s}  frames {r['frames_per_s']:5.1f}/s  detections "
              f"{r['detections_per_s']:5.1f}/s  ratio {r['ratio']:.3f}  capture -> detections "
              f"p50 {r['latency_p50_ms']:6.1f} ms, p99 {r['latency_p99_ms']:6.1f} ms")
    base = results["warm_body"]
    for name in ("model", "drone", "drone_noflip", "drone_10hz"):
        r = results.get(name)
        if r is None:
            continue
        print(f"{name} / warm_body: detections per frame {r['ratio'] / base['ratio']:.3f}x, "
              f"latency p50 {r['latency_p50_ms'] / base['latency_p50_ms']:.2f}x")
        cap = RUNS[name].get("max_rate_hz")
        if cap:
            wanted = min(cap, r["frames_per_s"])
            print(f"{name}: {r['detections_per_s']:.2f} detections/s of the {wanted:.2f}/s "
                  f"max_rate_hz {cap:g} allows ({r['detections_per_s'] / wanted:.3f})")
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
