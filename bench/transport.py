"""Transport benchmark: latency of 640x512 frames through driver -> processor over DDS,
against a bare rclpy Image relay of the same size, measured in the same run.

Both chains have two DDS hops and three processes:
  pipeline: driver (simulated camera, stamps capture time) -> processor (counts -> 32FC1 deg C)
            -> probe
  relay:    source (stamps, publishes mono16) -> relay (republishes unchanged) -> probe
Latency = probe arrival time - header.stamp. Prints both, the ratio, and writes JSON.

``--breakdown`` runs the pipeline with ``THERMAL_PERCEPTION_TRACE`` set (see
``thermal_perception/ros/trace.py``) and prints where the milliseconds go per frame, stage by
stage (p50/p90/p99). ``--transport`` measures both chains under each Fast DDS transport
setting (:data:`TRANSPORTS`), each in its own process, one after the other in the same run.

    python bench/transport.py [--seconds 10] [--rate 30] [--breakdown]
                              [--transport default,shm,udp] [--out out/bench/transport.json]
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
#: Fast DDS transport settings, as the environment every process of a chain gets.
#: ``shm`` is what thermal_perception.runner gives its nodes by default.
TRANSPORTS: dict[str, dict[str, str]] = {
    "default": {},  # Fast DDS builtin transports: UDPv4 + shared memory (512 KiB segments)
    "udp": {"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"},
    "shm_builtin": {"FASTDDS_BUILTIN_TRANSPORTS": "SHM"},  # builtin shared memory only
    "large_data": {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"},  # TCP + SHM, UDP discovery
    "shm": {"FASTDDS_DEFAULT_PROFILES_FILE": str(REPO / "config" / "fastdds_shm.xml")},
}


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


def measure(topic: str, seconds: float, warmup_s: float = 3.0,
            arrivals: dict[int, int] | None = None) -> list[float]:
    """Latencies, ms, of messages on ``topic`` for ``seconds`` after ``warmup_s`` (counted from
    the first message, awaited up to a minute); the epoch arrival time (ns) of each measured
    frame by stamp into ``arrivals`` when given."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.ros.qos import sensor_qos
    from thermal_perception.ros.recorder import header_stamp_ns

    node = rclpy.create_node("bench_probe_" + topic.strip("/").replace("/", "_"))
    latencies: list[float] = []
    state = {"measuring": False}
    first = threading.Event()

    def on_raw(raw: bytes) -> None:
        first.set()
        stamp = header_stamp_ns(raw)
        if state["measuring"] and stamp is not None:
            latencies.append((node.get_clock().now().nanoseconds - stamp) * 1e-6)
            if arrivals is not None:
                arrivals[stamp] = time.time_ns()

    node.create_subscription(Image, topic, on_raw, sensor_qos(), raw=True)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    first.wait(60.0)
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


def run_chains(args: argparse.Namespace) -> dict:
    """Bare relay, then the pipeline, in this process's environment (its transport)."""
    import rclpy

    from thermal_perception.ros import trace
    from thermal_perception.runner import Pipeline

    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    rclpy.init()
    results: dict = {"transport": args.transport,
                     "environment": TRANSPORTS[args.transport]}
    print(f"{WIDTH}x{HEIGHT} frames at {args.rate:g} Hz, {args.seconds:g} s each, transport "
          f"{args.transport} {TRANSPORTS[args.transport] or '(Fast DDS builtin)'}", flush=True)

    relay = [subprocess.Popen([sys.executable, __file__, "--role", role, "--rate",
                               str(args.rate)]) for role in ("relay", "source")]
    try:
        results["bare_relay"] = summary(measure("/relay/image_out", args.seconds, args.warmup))
        results["bare_relay"]["rss_mib"] = {role: rss_mib(p.pid) for role, p in
                                            zip(("relay", "source"), relay, strict=True)}
    finally:
        stop(relay)

    trace_path = args.out.parent / f"trace-{args.transport}.jsonl"
    arrivals: dict[int, int] | None = None
    if args.breakdown:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        trace_path.unlink(missing_ok=True)
        os.environ[trace.ENV] = str(trace_path)  # the nodes' processes inherit it
        arrivals = {}
    overrides = {"driver": {"rate_hz": args.rate, "camera_profile": "boson640"},
                 "processor": {"camera_profile": "boson640"}}
    try:
        # the transport is this process's environment: the runner adds nothing
        with Pipeline(REPO / "config" / "thermal_pipeline.yaml", "bench", overrides,
                      log_dir=args.out.parent / "logs", transport="default") as pipeline:
            results["pipeline"] = summary(measure("/bench/image_temperature", args.seconds,
                                                  args.warmup, arrivals))
            results["pipeline"]["rss_mib"] = {n.name: rss_mib(n.process.pid)
                                              for n in pipeline.nodes}
    finally:
        os.environ.pop(trace.ENV, None)
    rclpy.try_shutdown()
    if arrivals is not None:
        frames = trace.load(trace_path.read_text().splitlines())
        for stamp, arrived in arrivals.items():
            frames.setdefault(stamp, {"stamp": stamp})["probe.received"] = arrived
        results["breakdown"] = trace.breakdown(frames)
        results["breakdown_trace"] = str(trace_path)
    results["ratio_p50_pipeline_over_relay"] = (results["pipeline"]["p50_ms"]
                                                / results["bare_relay"]["p50_ms"])
    return results


def print_chains(results: dict) -> None:
    from thermal_perception.ros import trace

    for name in ("bare_relay", "pipeline"):
        r = results[name]
        print(f"{name:11s} frames {r['frames']:4d}  p50 {r['p50_ms']:6.2f} ms  "
              f"p90 {r['p90_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms")
    print(f"ratio (pipeline p50 / bare relay p50): "
          f"{results['ratio_p50_pipeline_over_relay']:.2f}x  (goal: <= 2x)")
    # memory per stream at the process level: what the two processes of each chain hold
    stream_mib = sum(results["pipeline"]["rss_mib"].values())
    relay_mib = sum(results["bare_relay"]["rss_mib"].values())
    results["memory_per_stream_mib"] = stream_mib
    results["memory_bare_relay_mib"] = relay_mib
    print(f"memory per stream (RSS): driver + processor {stream_mib:.0f} MiB ("
          + ", ".join(f"{k} {v:.0f}" for k, v in results["pipeline"]["rss_mib"].items())
          + f"); bare rclpy source + relay {relay_mib:.0f} MiB; ratio "
          f"{stream_mib / relay_mib:.2f}x")
    if "breakdown" in results:
        print(f"latency budget per frame ({results['breakdown'][trace.TOTAL[0]]['frames']} "
              "frames with every event):")
        print(trace.format_table(results["breakdown"]))


def compare_transports(args: argparse.Namespace, names: list[str]) -> dict:
    """Each transport setting in its own process (DDS reads it at start), one after the
    other; a table of both chains per setting and the ratios to the first setting."""
    rounds: list[dict] = []
    for _ in range(args.repeat):  # interleaved: a load change hits every setting
        results = {}
        for name in names:
            out = args.out.parent / f"transport-{name}.json"
            cmd = [sys.executable, __file__, "--seconds", str(args.seconds), "--rate",
                   str(args.rate), "--warmup", str(args.warmup), "--transport", name,
                   "--out", str(out)]
            if args.breakdown:
                cmd.append("--breakdown")
            subprocess.run(cmd, check=True, env={**os.environ, **TRANSPORTS[name]})
            results[name] = json.loads(out.read_text())
        rounds.append(results)
    print(f"\n{'round':5s} {'transport':12s} {'chain':10s} frames   p50 ms   p90 ms   p99 ms"
          f"   p50 / {names[0]}")
    for round_, results in enumerate(rounds, 1):
        base = results[names[0]]
        for name in names:
            for chain in ("bare_relay", "pipeline"):
                r = results[name][chain]
                print(f"{round_:5d} {name:12s} {chain:10s} {r['frames']:6d} {r['p50_ms']:8.2f} "
                      f"{r['p90_ms']:8.2f} {r['p99_ms']:8.2f} "
                      f"{r['p50_ms'] / base[chain]['p50_ms']:10.2f}x")
    return {"rounds": rounds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "transport.json")
    parser.add_argument("--breakdown", action="store_true",
                        help="trace the pipeline's nodes and print the per-stage latency")
    parser.add_argument("--transport", default="default",
                        help=f"comma-separated Fast DDS settings of {list(TRANSPORTS)}, "
                             "or 'all'")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds from the first frame to the start of the measurement")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds over the transports (with more than one)")
    parser.add_argument("--role", choices=("source", "relay"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "source":
        run_source(args.rate)
        return 0
    if args.role == "relay":
        run_relay()
        return 0
    names = list(TRANSPORTS) if args.transport == "all" else args.transport.split(",")
    unknown = sorted(set(names) - set(TRANSPORTS))
    if unknown:
        parser.error(f"unknown transport {unknown}; known: {list(TRANSPORTS)}")
    if len(names) > 1:
        results = compare_transports(args, names)
    else:
        args.transport = names[0]
        os.environ.update(TRANSPORTS[args.transport])  # before rclpy.init
        results = run_chains(args)
        print_chains(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
