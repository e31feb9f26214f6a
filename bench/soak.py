"""Soak test: many frames through driver -> processor -> detector over DDS, faster than real
time; checks
that nothing crashes, that resident memory stays flat after warm-up and that frames keep
flowing (no growing queues).

    python bench/soak.py [--frames 100000] [--rate 240] [--width 160 --height 120]

Prints the memory of each node over time and exits non-zero when a node died, stopped
delivering or grew by more than --max-growth (5 %) after warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import rss_mib  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=240.0)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--warmup-frames", type=int, default=0,
                        help="frames before the memory baseline (default: 10 %%)")
    parser.add_argument("--max-growth", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "soak.json")
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    import rclpy
    import yaml
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.ros.qos import reliable_qos, sensor_qos
    from thermal_perception.ros.recorder import header_stamp_ns
    from thermal_perception.runner import Pipeline

    warmup = args.warmup_frames or max(1, args.frames // 10)
    overrides = {"driver": {"rate_hz": args.rate, "width": args.width, "height": args.height,
                            "auto_ffc": True, "ffc_interval_s": 60.0, "sensor_defects": True},
                 "processor": {"rois": ["box centre 10 10 60 60 above=200"]}}
    rclpy.init()
    node = rclpy.create_node("soak_probe", namespace="/soak")
    received = {"count": 0, "last_stamp": 0}

    def on_raw(raw: bytes) -> None:
        received["count"] += 1
        received["last_stamp"] = header_stamp_ns(raw) or 0

    node.create_subscription(Image, "image_temperature", on_raw, sensor_qos(), raw=True)
    detections = {"count": 0}
    node.create_subscription(
        ThermalDetectionArray, "detections",
        lambda _: detections.__setitem__("count", detections["count"] + 1), reliable_qos(),
        raw=True)
    # the pipeline's parameters file plus the detector (ground sample distance known)
    params = yaml.safe_load((REPO / "config" / "thermal_pipeline.yaml").read_text())
    params["/**/detector"] = {"ros__parameters": {"gsd_m": 0.5}}
    params_file = args.out.parent / "soak_params.yaml"
    params_file.parent.mkdir(parents=True, exist_ok=True)
    params_file.write_text(yaml.safe_dump(params))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    samples: list[dict] = []
    problems: list[str] = []
    start = time.monotonic()
    with Pipeline(params_file, "soak", overrides,
                  log_dir=args.out.parent / "soak_logs") as pipeline:
        pids = {n.name: n.process.pid for n in pipeline.nodes}
        next_sample, last_count, stalled_since = 0, -1, time.monotonic()
        while received["count"] < args.frames:
            executor.spin_once(timeout_sec=0.05)
            if pipeline.failed():
                problems += pipeline.failed()
                break
            if received["count"] != last_count:
                last_count, stalled_since = received["count"], time.monotonic()
            elif time.monotonic() - stalled_since > 30.0:
                problems.append(f"no frames for 30 s after {received['count']}")
                break
            if received["count"] >= next_sample:
                sample = {"frames": received["count"], "detections": detections["count"],
                          "elapsed_s": round(time.monotonic() - start, 1),
                          **{f"{name}_rss_mib": round(rss_mib(pid), 1)
                             for name, pid in pids.items()}}
                samples.append(sample)
                print(json.dumps(sample), flush=True)
                next_sample += max(1, args.frames // 20)
    executor.shutdown()
    rclpy.try_shutdown()
    elapsed = time.monotonic() - start
    after = [s for s in samples if s["frames"] >= warmup]
    growth = {}
    if len(after) >= 2:
        for key in (k for k in after[0] if k.endswith("_rss_mib")):
            growth[key] = (after[-1][key] - after[0][key]) / after[0][key]
            if growth[key] > args.max_growth:
                problems.append(f"{key} grew {growth[key]:.1%} after warm-up")
    # the detector runs at its own pace (frames it cannot take are dropped by the sensor QoS,
    # no queue grows) but must keep answering until the end
    if len(after) >= 2 and after[-1]["detections"] <= after[0]["detections"]:
        problems.append(f"the detector stopped after {after[0]['detections']} messages")
    result = {"frames": received["count"], "detections": detections["count"],
              "elapsed_s": elapsed,
              "fps": received["count"] / elapsed, "rss_growth_after_warmup": growth,
              "samples": samples, "problems": problems}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{received['count']} frames in {elapsed:.0f} s ({result['fps']:.0f} fps), "
          f"{detections['count']} detection messages "
          f"({detections['count'] / max(1, received['count']):.0%} of the frames); "
          f"memory growth after warm-up: "
          + ", ".join(f"{k} {v:+.1%}" for k, v in growth.items()))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
