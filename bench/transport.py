"""Transport benchmark: latency of 640x512 frames through driver -> processor over DDS,
against a bare rclpy Image relay of the same size, measured in the same run.

Both chains have two DDS hops and three processes:
  pipeline: driver (simulated camera, stamps capture time) -> processor (counts -> 32FC1 deg C)
            -> probe
  relay:    source (stamps, publishes mono16) -> relay (republishes unchanged) -> probe
Latency = probe arrival time - header.stamp. Prints both, the ratio, and writes JSON.

    python bench/transport.py [--seconds 10] [--rate 30] [--out out/bench/transport.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 640, 512


def rss_mib(pid: int) -> float:
    """Resident set size of a process, MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def run_source(rate_hz: float) -> None:
    """Bare publisher: a 640x512 mono16 Image stamped at publish time, at ``rate_hz``."""
    import rclpy
    from sensor_msgs.msg import Image

    from thermal_perception.ros.qos import sensor_qos

    rclpy.init()
    node = rclpy.create_node("bench_source", namespace="/relay")
    pub = node.create_publisher(Image, "image_in", sensor_qos())
    msg = Image(height=HEIGHT, width=WIDTH, encoding="mono16", step=2 * WIDTH)
    msg.data = np.zeros(WIDTH * HEIGHT * 2, np.uint8).tobytes()

    def tick() -> None:
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)

    node.create_timer(1.0 / rate_hz, tick)
    _spin(rclpy, node)


def run_relay() -> None:
    """Bare relay: republishes every Image unchanged."""
    import rclpy
    from sensor_msgs.msg import Image

    from thermal_perception.ros.qos import sensor_qos

    rclpy.init()
    node = rclpy.create_node("bench_relay", namespace="/relay")
    pub = node.create_publisher(Image, "image_out", sensor_qos())
    node.create_subscription(Image, "image_in", pub.publish, sensor_qos())
    _spin(rclpy, node)


def _spin(rclpy, node) -> None:
    from rclpy.executors import ExternalShutdownException

    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        rclpy.try_shutdown()


def measure(topic: str, seconds: float, warmup_s: float = 3.0) -> list[float]:
    """Latencies, ms, of messages on ``topic`` for ``seconds`` after ``warmup_s``."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.ros.qos import sensor_qos
    from thermal_perception.ros.recorder import header_stamp_ns

    node = rclpy.create_node("bench_probe_" + topic.strip("/").replace("/", "_"))
    latencies: list[float] = []
    state = {"measuring": False}

    def on_raw(raw: bytes) -> None:
        stamp = header_stamp_ns(raw)
        if state["measuring"] and stamp is not None:
            latencies.append((node.get_clock().now().nanoseconds - stamp) * 1e-6)

    node.create_subscription(Image, topic, on_raw, sensor_qos(), raw=True)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    time.sleep(warmup_s)
    state["measuring"] = True
    time.sleep(seconds)
    state["measuring"] = False
    executor.shutdown()
    node.destroy_node()
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    values = np.asarray(latencies)
    return {"frames": len(values), "p50_ms": float(np.percentile(values, 50)),
            "p90_ms": float(np.percentile(values, 90)),
            "p99_ms": float(np.percentile(values, 99)), "mean_ms": float(values.mean())}


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        p.send_signal(2)
    for p in processes:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "transport.json")
    parser.add_argument("--role", choices=("source", "relay"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "source":
        run_source(args.rate)
        return 0
    if args.role == "relay":
        run_relay()
        return 0

    import rclpy

    from thermal_perception.runner import Pipeline

    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    rclpy.init()
    results = {}
    print(f"{WIDTH}x{HEIGHT} frames at {args.rate:g} Hz, {args.seconds:g} s each", flush=True)

    relay = [subprocess.Popen([sys.executable, __file__, "--role", role, "--rate",
                               str(args.rate)]) for role in ("relay", "source")]
    try:
        results["bare_relay"] = summary(measure("/relay/image_out", args.seconds))
        results["bare_relay"]["rss_mib"] = {role: rss_mib(p.pid) for role, p in
                                            zip(("relay", "source"), relay, strict=True)}
    finally:
        stop(relay)

    overrides = {"driver": {"rate_hz": args.rate, "camera_profile": "boson640"},
                 "processor": {"camera_profile": "boson640"}}
    with Pipeline(REPO / "config" / "thermal_pipeline.yaml", "bench", overrides,
                  log_dir=args.out.parent / "logs") as pipeline:
        results["pipeline"] = summary(measure("/bench/image_temperature", args.seconds))
        results["pipeline"]["rss_mib"] = {n.name: rss_mib(n.process.pid)
                                          for n in pipeline.nodes}
    rclpy.try_shutdown()

    ratio = results["pipeline"]["p50_ms"] / results["bare_relay"]["p50_ms"]
    results["ratio_p50_pipeline_over_relay"] = ratio
    for name in ("bare_relay", "pipeline"):
        r = results[name]
        print(f"{name:11s} frames {r['frames']:4d}  p50 {r['p50_ms']:6.2f} ms  "
              f"p90 {r['p90_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms")
    print(f"ratio (pipeline p50 / bare relay p50): {ratio:.2f}x  (goal: <= 2x)")
    # memory per stream at the process level: what the two processes of each chain hold
    stream_mib = sum(results["pipeline"]["rss_mib"].values())
    relay_mib = sum(results["bare_relay"]["rss_mib"].values())
    results["memory_per_stream_mib"] = stream_mib
    results["memory_bare_relay_mib"] = relay_mib
    print(f"memory per stream (RSS): driver + processor {stream_mib:.0f} MiB ("
          + ", ".join(f"{k} {v:.0f}" for k, v in results["pipeline"]["rss_mib"].items())
          + f"); bare rclpy source + relay {relay_mib:.0f} MiB; ratio "
          f"{stream_mib / relay_mib:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
