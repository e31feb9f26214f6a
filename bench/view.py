"""The browser view: glass-to-glass latency (capture -> frame drawn in a headless Chromium)
at 640x512, 30 Hz, and the pipeline's own latency without and with the view open.

    python bench/view.py [--seconds 15] [--out out/bench/view.json]

One run, one pipeline (driver + processor of config/thermal_pipeline.yaml, Boson 640 class,
30 Hz), three windows of ``--seconds``: (A) no view, (B) `thermal-perception view` plus a
headless Chromium showing its page, (C) view closed again. The pipeline latency is capture ->
image_temperature received by this script's subscriber (as `make demo` reports it); A and C
are the baseline and its noise, B/A the view's cost. Glass-to-glass is the page's own
measurement (capture stamp -> the frame drawn, in the requestAnimationFrame that draws it).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "benchview"


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {f"p{p}": round(float(np.percentile(values, p)), 1) for p in (50, 90, 99)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each window")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "view.json")
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from thermal_perception.ros.qos import sensor_qos
    from thermal_perception.runner import Pipeline, transport_environment
    from thermal_perception.view.browser import browser_missing, open_browser

    if browser_missing():
        print(f"skipped: {browser_missing()}")
        return 1
    os.environ.update({k: v for k, v in transport_environment().items() if k not in os.environ})
    rclpy.init()
    node = rclpy.create_node("bench_view_probe", namespace="/" + NAMESPACE)
    latencies: list[float] = []
    node.create_subscription(Image, "image_temperature", lambda m: latencies.append(
        (time.time_ns() - m.header.stamp.sec * 10**9 - m.header.stamp.nanosec) / 1e6),
        sensor_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    pipeline = Pipeline(REPO / "config" / "thermal_pipeline.yaml", NAMESPACE,
                        log_dir=REPO / "out" / "bench" / "view_logs").start()
    results: dict = {"size": "640x512", "rate_hz": 30, "seconds": args.seconds}
    view = driver = None
    try:
        deadline = time.monotonic() + 60
        while len(latencies) < 30:
            if time.monotonic() > deadline:
                raise RuntimeError("no temperature frames: " + "; ".join(pipeline.failed()))
            time.sleep(0.2)
        time.sleep(3.0)  # warm-up

        def window(name: str) -> None:
            latencies.clear()
            time.sleep(args.seconds)
            results[f"pipeline_{name}"] = {"frames": len(latencies),
                                           "rate_hz": round(len(latencies) / args.seconds, 2),
                                           "latency_ms": percentiles(list(latencies))}
            print(f"{name:12s} pipeline: {len(latencies) / args.seconds:5.1f} Hz, "
                  f"capture -> temperature {results[f'pipeline_{name}']['latency_ms']}")

        window("no_view")
        port = free_port()
        view = subprocess.Popen([sys.executable, "-m", "thermal_perception", "view",
                                 "--namespace", NAMESPACE, "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        url = f"http://localhost:{port}/"
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "api/streams", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        driver = open_browser()
        driver.get(url)
        deadline = time.monotonic() + 60
        while not driver.execute_script("return window.thermalView.framesDrawn") > 30:
            if time.monotonic() > deadline:
                raise RuntimeError("the page drew no frames")
            time.sleep(0.2)
        time.sleep(2.0)
        start = driver.execute_script("return window.thermalView.latenciesMs.length")
        window("with_view")
        page = driver.execute_script("return window.thermalView.latenciesMs")
        page = page[start:] if len(page) > start else page
        health = driver.execute_script("return window.thermalView.health")
        results["glass_to_glass"] = {"frames": len(page),
                                     "page_rate_hz": round(len(page) / args.seconds, 2),
                                     "latency_ms": percentiles(page),
                                     "frames_dropped_for_page": sum(
                                         p["frames_dropped"] for p in health["pages"])}
        print(f"{'browser':12s} page: {len(page) / args.seconds:5.1f} Hz drawn, "
              f"glass-to-glass {results['glass_to_glass']['latency_ms']}")
        driver.quit()
        driver = None
        view.terminate()
        view.wait(10)
        view = None
        time.sleep(2.0)
        window("view_closed")
    finally:
        if driver is not None:
            driver.quit()
        if view is not None:
            view.terminate()
            view.wait(10)
        pipeline.stop()
        executor.shutdown()
        rclpy.try_shutdown()
    base = [results[k]["latency_ms"]["p50"] for k in ("pipeline_no_view", "pipeline_view_closed")]
    with_view = results["pipeline_with_view"]["latency_ms"]["p50"]
    g2g = results["glass_to_glass"]["latency_ms"]["p50"]
    results["ratios"] = {
        "pipeline_p50_with_view_over_without": round(with_view / base[0], 2),
        "pipeline_p50_noise_closed_over_without": round(base[1] / base[0], 2),
        "glass_to_glass_p50_over_pipeline_p50": round(g2g / base[0], 2)}
    ratios = results["ratios"]
    print(f"pipeline p50 with view / without: {ratios['pipeline_p50_with_view_over_without']}"
          f" (noise: closed / without {ratios['pipeline_p50_noise_closed_over_without']});"
          f" glass-to-glass p50 {g2g} ms = {ratios['glass_to_glass_p50_over_pipeline_p50']}"
          " x the pipeline's")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
