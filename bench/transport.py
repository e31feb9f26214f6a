"""Transport benchmark: latency of 640x512 frames from capture to temperature and to
detections, in separate processes over DDS and composed in one process, against a bare
rclpy Image relay of the same size, all measured in the same run.

  relay:     source (stamps, publishes mono16) -> relay (republishes unchanged) -> probe:
             two DDS hops, three processes, nothing computed: the transport floor.
  separate:  driver (simulated camera, stamps capture time) -> processor (counts -> 32FC1
             deg C) -> detector (detections), each in its own process, as launch starts them;
             a probe process subscribes to status, image_temperature and detections.
  composed:  the same three nodes in one process (thermal_perception.nodes.composed), frames
             handed over in memory; a probe node in that process gets the messages the same
             way. Measured first alone, then while a probe in another process subscribes too
             (the topics are then also published over DDS).
Latency = probe arrival time - header.stamp (the capture time). Per chain: p50/p90/p99,
frames captured (status) that never arrived ("miss"), frames the driver's timer skipped,
ratios to the bare relay's p50, RSS of the processes. Writes JSON.

``--breakdown`` runs the separate-process pipeline with ``THERMAL_PERCEPTION_TRACE`` set (see
``thermal_perception/ros/trace.py``) and prints where the milliseconds go per frame, stage by
stage (p50/p90/p99). ``--transport`` measures the chains under each Fast DDS transport
setting (:data:`TRANSPORTS`), each in its own process, one after the other in the same run.

    python bench/transport.py [--seconds 10] [--rate 30] [--breakdown]
                              [--transport default,shm,udp] [--out out/bench/transport.json]
"""

from __future__ import annotations

import argparse
import contextlib
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


# -- the pipeline chains: events (topic, capture stamp, arrival) at a probe ----------------

#: What the probes listen to: capture (status: one per frame the driver captured), the
#: temperature image and the detections.
PROBE_TOPICS = ("status", "image_temperature", "detections")


def probe_node(name: str, namespace: str, events: list, intra: bool = False,
               ready: Path | None = None) -> object:
    """A node that notes (topic, stamp ns, epoch arrival ns) of every message of
    :data:`PROBE_TOPICS`: over DDS (serialized, nothing deserialized), or with ``intra`` in
    the composed process, handed over in memory like any composed node."""
    import rclpy
    from sensor_msgs.msg import Image

    from thermal_perception.msg import ThermalDetectionArray, ThermalStatus
    from thermal_perception.ros import intra_process
    from thermal_perception.ros.qos import reliable_qos, sensor_qos
    from thermal_perception.ros.recorder import header_stamp_ns

    node = rclpy.create_node(name, namespace=namespace)
    types = {"status": (ThermalStatus, reliable_qos()), "image_temperature": (Image, sensor_qos()),
             "detections": (ThermalDetectionArray, reliable_qos())}
    for topic, (msg_type, qos) in types.items():
        def on_message(msg: object, topic: str = topic) -> None:
            arrived = time.time_ns()
            stamp = header_stamp_ns(msg) if isinstance(msg, bytes) else \
                intra_process.stamp_ns(msg)
            events.append((topic, stamp, arrived))
            if ready is not None and topic == "detections" and not ready.exists():
                ready.touch()  # the whole chain runs

        if intra:
            intra_process.subscription(node, msg_type, topic, on_message, qos)
        else:
            node.create_subscription(msg_type, topic, on_message, qos, raw=True)
    return node


def chain_summary(events: list, start_ns: int, end_ns: int, rate_hz: float) -> dict:
    """Latency percentiles of capture -> temperature and capture -> detections for the
    messages that arrived in [start_ns, end_ns); frames captured in the window (status) that
    never arrived as a temperature or detections message; frames the driver skipped (gaps in
    the capture stamps)."""
    by_topic: dict[str, dict[int, int]] = {t: {} for t in PROBE_TOPICS}
    for topic, stamp, arrived in events:
        by_topic[topic].setdefault(stamp, arrived)
    out: dict = {}
    # frames still in flight at the end are not counted as lost
    captured = sorted(s for s in by_topic["status"] if start_ns <= s < end_ns - 500_000_000)
    for topic, key in (("image_temperature", "temperature"), ("detections", "detections")):
        ms = [(arrived - stamp) * 1e-6 for stamp, arrived in by_topic[topic].items()
              if start_ns <= arrived < end_ns]
        out[key] = summary(ms) if ms else {"frames": 0}
        out[key]["missing"] = sum(s not in by_topic[topic] for s in captured)
    period_ns = 1e9 / rate_hz
    gaps = np.diff(np.asarray(captured, dtype=np.int64)) if len(captured) > 1 else np.zeros(0)
    out["captured"] = len(captured)
    out["driver_skipped"] = int(sum(round(g / period_ns) - 1 for g in gaps if g > 1.5 * period_ns))
    return out


def spin_probe(node: object) -> tuple:
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor()
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return executor, thread


def wait_for(events: list, topics: tuple[str, ...], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(any(e[0] == t for e in list(events)) for t in topics):
            return
        time.sleep(0.1)
    raise RuntimeError(f"no messages on {topics} within {timeout_s:g} s")


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


PARAMS_FILE = REPO / "config" / "uav_sar.yaml"
NODES = ["driver", "processor", "detector"]


def chain_overrides(rate_hz: float) -> dict:
    return {"driver": {"rate_hz": rate_hz, "camera_profile": "boson640",
                       "simulate_fusion_sensors": False},
            "processor": {"camera_profile": "boson640"}}


def run_composed(args: argparse.Namespace) -> None:
    """``--role composed``: driver, processor and detector composed in this process (as
    thermal_perception.nodes.composed runs them) with an in-process probe; on SIGINT writes
    the probe's events to ``args.events``."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from thermal_perception.nodes.composed import create_nodes
    from thermal_perception.ros.intra_process import IntraProcessBus

    rclpy.init()
    events: list = []
    nodes: list = []
    try:
        with IntraProcessBus() as bus:
            # the probe subscribes first: the processor's frames reach it before the detector
            # (whose detections then wait for the probe's few microseconds)
            nodes = [probe_node("bench_probe_in_process", "/bench", events, intra=True,
                                ready=args.events.with_suffix(".ready"))]
            nodes += create_nodes(NODES, PARAMS_FILE, "bench", chain_overrides(args.rate))
            executor = SingleThreadedExecutor()  # as thermal_perception.nodes.composed
            for node in nodes:
                executor.add_node(node)
            with contextlib.suppress(KeyboardInterrupt, ExternalShutdownException):
                executor.spin()
            args.events.write_text(json.dumps({"events": events, "bus": bus.stats()}))
    finally:
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown()


def run_chains(args: argparse.Namespace) -> dict:
    """Bare relay, separate processes, composed, in this process's environment (its
    transport), one after the other."""
    import signal

    import rclpy

    from thermal_perception.ros import trace
    from thermal_perception.runner import Pipeline

    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    rclpy.init()
    results: dict = {"transport": args.transport,
                     "environment": TRANSPORTS[args.transport], "rate_hz": args.rate,
                     "seconds": args.seconds}
    print(f"{WIDTH}x{HEIGHT} frames at {args.rate:g} Hz, {args.seconds:g} s each, transport "
          f"{args.transport} {TRANSPORTS[args.transport] or '(Fast DDS builtin)'}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    relay = [subprocess.Popen([sys.executable, __file__, "--role", role, "--rate",
                               str(args.rate)]) for role in ("relay", "source")]
    try:
        results["bare_relay"] = summary(measure("/relay/image_out", args.seconds, args.warmup))
        results["bare_relay"]["rss_mib"] = {role: rss_mib(p.pid) for role, p in
                                            zip(("relay", "source"), relay, strict=True)}
    finally:
        stop(relay)

    # separate processes: driver -> processor -> detector, a probe in this process
    trace_path = args.out.parent / f"trace-{args.transport}.jsonl"
    if args.breakdown:
        trace_path.unlink(missing_ok=True)
        os.environ[trace.ENV] = str(trace_path)  # the nodes' processes inherit it
    events: list = []
    probe = probe_node("bench_probe", "/bench", events)
    executor, _ = spin_probe(probe)
    try:
        # the transport is this process's environment: the runner adds nothing
        with Pipeline(PARAMS_FILE, "bench", chain_overrides(args.rate), only=NODES,
                      log_dir=args.out.parent / "logs", transport="default") as pipeline:
            wait_for(events, PROBE_TOPICS)
            time.sleep(args.warmup)
            start = time.time_ns()
            time.sleep(args.seconds)
            results["separate"] = chain_summary(events, start, time.time_ns(), args.rate)
            results["separate"]["rss_mib"] = {n.name: rss_mib(n.process.pid)
                                              for n in pipeline.nodes}
            if pipeline.failed():
                raise RuntimeError("\n".join(pipeline.failed()))
    finally:
        os.environ.pop(trace.ENV, None)
        executor.shutdown()
        probe.destroy_node()
    if args.breakdown:
        results["breakdown"] = budget(trace_path, events)
        results["breakdown_trace"] = str(trace_path)

    # composed: the same nodes in one process, an in-process probe; then a DDS probe here
    # as well (someone outside listens: the topics are published over DDS too)
    events_path = args.out.parent / f"composed-events-{args.transport}.json"
    events_path.unlink(missing_ok=True)
    ready = events_path.with_suffix(".ready")
    ready.unlink(missing_ok=True)
    log = open(args.out.parent / "logs" / "composed.log", "w")  # noqa: SIM115
    composed_trace = args.out.parent / f"trace-composed-{args.transport}.jsonl"
    if args.breakdown:
        composed_trace.unlink(missing_ok=True)
        os.environ[trace.ENV] = str(composed_trace)
    composed = subprocess.Popen([sys.executable, __file__, "--role", "composed", "--rate",
                                 str(args.rate), "--events", str(events_path)],
                                stdout=log, stderr=subprocess.STDOUT)
    outside: list = []
    try:
        deadline = time.monotonic() + 60.0
        while not ready.exists():  # detections handed over in the composed process
            if composed.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"composed process did not run; see {log.name}")
            time.sleep(0.1)
        time.sleep(args.warmup)
        alone = (time.time_ns(), time.time_ns() + int(args.seconds * 1e9))
        time.sleep(args.seconds)
        rss_composed = rss_mib(composed.pid)
        probe = probe_node("bench_probe_outside", "/bench", outside)
        executor, _ = spin_probe(probe)
        wait_for(outside, PROBE_TOPICS)
        time.sleep(args.warmup)
        watched_start = time.time_ns()
        time.sleep(args.seconds)
        watched = (watched_start, time.time_ns())
        executor.shutdown()
        probe.destroy_node()
    finally:
        os.environ.pop(trace.ENV, None)
        composed.send_signal(signal.SIGINT)
        composed.wait(30)
        log.close()
    inside = [tuple(e) for e in json.loads(events_path.read_text())["events"]]
    results["composed"] = chain_summary(inside, *alone, args.rate)
    results["composed"]["rss_mib"] = {"composed": rss_composed}
    results["composed_watched"] = chain_summary(inside, *watched, args.rate)
    results["composed_outside_probe"] = chain_summary(outside, *watched, args.rate)
    results["bus"] = json.loads(events_path.read_text())["bus"]
    if args.breakdown:
        results["breakdown_composed"] = budget(composed_trace, [
            e for e in inside if alone[0] <= e[2] < alone[1]])
    rclpy.try_shutdown()
    relay_p50 = results["bare_relay"]["p50_ms"]
    # the keys bench/all.py reads: separate processes, capture -> temperature
    results["pipeline"] = results["separate"]["temperature"]
    results["ratio_p50_pipeline_over_relay"] = results["pipeline"]["p50_ms"] / relay_p50
    results["memory_per_stream_mib"] = sum(results["separate"]["rss_mib"].values())
    results["memory_composed_mib"] = sum(results["composed"]["rss_mib"].values())
    results["memory_bare_relay_mib"] = sum(results["bare_relay"]["rss_mib"].values())
    for chain in CHAINS:
        for key in ("temperature", "detections"):
            r = results[chain][key]
            if r.get("frames"):
                r["ratio_p50_over_relay"] = r["p50_ms"] / relay_p50
    return results


def budget(trace_path: Path, events: list) -> dict:
    """Per-stage latency budget from the nodes' trace and the probe's arrivals of
    image_temperature (see thermal_perception/ros/trace.py)."""
    from thermal_perception.ros import trace

    frames = trace.load(trace_path.read_text().splitlines())
    for topic, stamp, arrived in events:
        if topic == "image_temperature" and stamp in frames:
            frames[stamp].setdefault("probe.received", arrived)
    return trace.breakdown(frames)


#: The pipeline rows: (key, description)
CHAINS = {
    "separate": "separate processes, DDS probe",
    "composed": "composed, in-process consumer",
    "composed_watched": "composed + outside DDS subscriber, in-process consumer",
    "composed_outside_probe": "composed + outside DDS subscriber, that subscriber",
}


def print_chains(results: dict) -> None:
    from thermal_perception.ros import trace

    r = results["bare_relay"]
    relay_mib = sum(r["rss_mib"].values())
    print(f"\n{'chain':56s} {'capture ->':12s} frames miss   p50 ms   p90 ms   p99 ms  "
          "p50/relay")
    print(f"{'bare rclpy relay (source -> relay -> probe)':56s} {'relay':12s} "
          f"{r['frames']:6d} {'':4s} {r['p50_ms']:8.2f} {r['p90_ms']:8.2f} {r['p99_ms']:8.2f} "
          f"{1.0:9.2f}x")
    for chain, title in CHAINS.items():
        for key in ("temperature", "detections"):
            row = results[chain][key]
            if not row.get("frames"):
                print(f"{title:56s} {key:12s} (no frames)")
                continue
            print(f"{title:56s} {key:12s} {row['frames']:6d} {row['missing']:4d} "
                  f"{row['p50_ms']:8.2f} {row['p90_ms']:8.2f} {row['p99_ms']:8.2f} "
                  f"{row['ratio_p50_over_relay']:9.2f}x")
    for chain in CHAINS:
        c = results[chain]
        print(f"{CHAINS[chain]}: {c['captured']} frames captured in the window, "
              f"{c['driver_skipped']} skipped by the driver's timer")
    print("memory per stream (RSS): bare rclpy source + relay "
          f"{relay_mib:.0f} MiB; " + "; ".join(
              f"{CHAINS[chain].split(',')[0]} {sum(results[chain]['rss_mib'].values()):.0f} "
              f"MiB ({', '.join(f'{k} {v:.0f}' for k, v in results[chain]['rss_mib'].items())})"
              for chain in ("separate", "composed")))
    print("in-process hand-offs: " + "; ".join(
        f"{topic} {s['handed_over']} (over DDS {s['from_dds']}, duplicates dropped "
        f"{s['dropped_duplicates']})" for topic, s in results["bus"].items()))
    for key, title in (("breakdown", "separate processes"),
                       ("breakdown_composed", "composed (DDS stages: in-process hand-off)")):
        if key in results:
            print(f"latency budget per frame, {title} ("
                  f"{results[key][trace.TOTAL[0]]['frames']} frames with every event):")
            print(trace.format_table(results[key]))


def compare_transports(args: argparse.Namespace, names: list[str]) -> dict:
    """Each transport setting in its own process (DDS reads it at start), one after the
    other; a table of the chains per setting and the ratios to the first setting."""
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
    print(f"\n{'round':5s} {'transport':12s} {'chain':22s} frames   p50 ms   p90 ms   p99 ms"
          f"   p50 / {names[0]}")
    for round_, results in enumerate(rounds, 1):
        base = results[names[0]]
        for name in names:
            rows = [("bare_relay", results[name]["bare_relay"], base["bare_relay"])]
            rows += [(f"{chain} temperature", results[name][chain]["temperature"],
                      base[chain]["temperature"]) for chain in ("separate", "composed")]
            for label, r, b in rows:
                print(f"{round_:5d} {name:12s} {label:22s} {r['frames']:6d} {r['p50_ms']:8.2f} "
                      f"{r['p90_ms']:8.2f} {r['p99_ms']:8.2f} "
                      f"{r['p50_ms'] / b['p50_ms']:10.2f}x")
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
    parser.add_argument("--role", choices=("source", "relay", "composed"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--events", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "source":
        run_source(args.rate)
        return 0
    if args.role == "relay":
        run_relay()
        return 0
    if args.role == "composed":
        run_composed(args)
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
