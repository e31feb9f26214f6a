"""Every benchmark in one command (``make bench``): runs the scripts of bench/ one after
another, each against its own baseline measured in the same run, then prints every figure,
writes them all to one JSON file and draws one summary plot.

    python bench/all.py [--quick] [--only radiometry,peers] [--out out/bench]

Scripts: radiometry (lookup table vs the FLIR formula in numpy), peers (vs flirpy,
flirimageextractor, flyr on real FLIR data, where installed: make bench-peers), processing
(chain fps vs a numpy baseline), detection (ms per frame vs the processing chain), memory
(RSS per stream vs the frame data), offline (analysis real-time factor vs reading the bag),
transport (latency of driver -> processor -> detector, separate and composed, vs a bare rclpy
relay; process memory), detector_rate (the detector node at 30 Hz with the learned backend:
detections per frame and latency vs the warm_body backend),
geolocation (pixel -> ground error at 100 m, exact and noisy pose, vs predicted spread),
fusion (overlay and points_thermal ms vs the processing chain; registration and lidar accuracy).
A script that fails or runs past its time limit is reported and the others still run; the
exit status is then 1. ``--quick`` shortens every script (fewer frames and repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent

# name -> (arguments, quick arguments, time limit in s); the limits add up to about 16 min
SCRIPTS: dict[str, tuple[list[str], list[str], float]] = {
    "radiometry": (["--repeats", "50"], ["--repeats", "15"], 30.0),
    "peers": (["--repeats", "30"], ["--repeats", "10"], 45.0),
    "processing": (["--frames", "120"], ["--frames", "40"], 30.0),
    "detection": (["--frames", "60"], ["--frames", "20"], 30.0),
    "memory": (["--streams", "4"], ["--streams", "2"], 30.0),
    # a 30 s bag (the steady state, detection in the worker process as the command does)
    "offline": (["--frames", "900", "--repeat", "3"], ["--frames", "60", "--repeat", "1"],
                300.0),
    # the transport the runner ships (config/fastdds_shm.xml); --transport default,shm compares
    "transport": (["--seconds", "10", "--transport", "shm"],
                  ["--seconds", "4", "--transport", "shm"], 60.0),
    # the detector node keeping up with a 30 Hz camera, learned backend vs warm_body
    "detector_rate": (["--seconds", "20"], ["--seconds", "5"], 120.0),
    "geolocation": (["--trials", "2000"], ["--trials", "400"], 30.0),
    "fusion": (["--frames", "30"], ["--frames", "10"], 30.0),
    # browser view: glass-to-glass in headless chromium; pipeline latency with/without view
    "view": (["--seconds", "15"], ["--seconds", "5"], 240.0),
}


def run_script(name: str, args: list[str], limit_s: float, out: Path) -> dict[str, Any]:
    """Run bench/<name>.py, its output passed through; its JSON result or the failure."""
    json_path = out / f"{name}.json"
    json_path.unlink(missing_ok=True)
    print(f"\n=== {name} ===", flush=True)
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *args,
                               "--out", str(json_path)], timeout=limit_s, check=False)
        error = f"exit status {proc.returncode}" if proc.returncode else ""
    except subprocess.TimeoutExpired:
        error = f"ran past its limit of {limit_s:.0f} s"
    wall_s = time.monotonic() - start
    result: dict[str, Any] = {"wall_s": wall_s}
    if not error and json_path.is_file():
        result["result"] = json.loads(json_path.read_text())
    elif not error:
        error = "wrote no result"
    if error:
        result["error"] = error
        print(f"{name}: FAILED ({error})", flush=True)
    return result


def figures(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(figure, value with its baseline) lines for the summary."""
    lines: list[tuple[str, str]] = []

    def get(name: str) -> dict[str, Any] | None:
        return results.get(name, {}).get("result")

    if r := get("radiometry"):
        lines.append(("radiometry, 640x512 counts -> deg C",
                      f"{r['ours_ms']:.3f} ms vs numpy FLIR formula {r['baseline_ms']:.3f} ms: "
                      f"{r['speedup']:.1f}x, max diff {r['max_difference_k']:.1e} K"))
    if r := get("peers"):
        for name, p in r["peers"].items():
            verdict = (f"{p['speedup_ours']:.1f}x faster" if p["speedup_ours"] >= 1 else
                       f"SLOWER ({1 / p['speedup_ours']:.1f}x)")
            lines.append((f"vs {name} (real FLIR frame)",
                          f"ours {r['ours_ms']:.3f} ms vs {p['ms']:.3f} ms: {verdict}, "
                          f"max diff {p['max_difference_k']:.1e} K"))
        if f := r.get("file_flirpy"):
            verdict = (f"{f['speedup_ours']:.1f}x faster" if f["speedup_ours"] >= 1 else
                       f"SLOWER ({1 / f['speedup_ours']:.1f}x: table setup)")
            lines.append(("vs flirpy, one file from scratch",
                          f"ours {r['file_ours_ms']:.1f} ms vs {f['ms']:.1f} ms: {verdict}"))
        for name, why in r["skipped"].items():
            lines.append((f"vs {name}", f"skipped: {why}"))
    if r := get("processing"):
        lines.append(("processing chain fps (one core)",
                      f"{r['fps_chain']:.0f} fps vs numpy baseline {r['fps_baseline']:.0f} fps: "
                      f"{r['speedup']:.1f}x"))
    if r := get("detection"):
        total = r["warm_body_ms"] + r["hotspot_ms"] + r["tracker_ms"]
        lines.append(("detection per frame",
                      f"{total:.2f} ms (bodies {r['warm_body_ms']:.2f}, hotspots "
                      f"{r['hotspot_ms']:.2f}, tracker {r['tracker_ms']:.2f}) vs processing "
                      f"chain {r['chain_ms']:.2f} ms: {r['ratio_detection_over_chain']:.1f}x"))
    if r := get("memory"):
        lines.append(("memory per stream (in process)",
                      f"{r['per_stream_mib']:.1f} MiB vs frame data {r['frame_data_mib']:.2f} "
                      f"MiB: {r['ratio_over_frame_data']:.1f}x"))
    if r := get("offline"):
        base = r["baseline_realtime_factor"]
        for name, v in r["variants"].items():
            lines.append((f"offline {name}",
                          f"{v['realtime_factor']:.1f}x real time ({v['fps']:.0f} fps) vs "
                          f"read+decode {base:.1f}x: {v['realtime_factor'] / base:.2f}"))
    if r := get("transport"):
        relay, pipe = r["bare_relay"], r["pipeline"]
        lines.append(("DDS latency driver -> processor (p50)",
                      f"{pipe['p50_ms']:.1f} ms vs bare rclpy relay {relay['p50_ms']:.1f} ms: "
                      f"{r['ratio_p50_pipeline_over_relay']:.2f}x (p99 {pipe['p99_ms']:.0f} "
                      f"vs {relay['p99_ms']:.0f} ms)"))
        if "composed" in r:
            c = r["composed"]
            lines.append(("composed capture -> temperature / detections (p50)",
                          f"{c['temperature']['p50_ms']:.1f} / {c['detections']['p50_ms']:.1f} "
                          "ms (goals 5 / 15 ms)"))
        if "memory_per_stream_mib" in r:
            lines.append(("memory per stream (processes)",
                          f"driver + processor {r['memory_per_stream_mib']:.0f} MiB vs bare "
                          f"rclpy source + relay {r['memory_bare_relay_mib']:.0f} MiB: "
                          f"{r['memory_per_stream_mib'] / r['memory_bare_relay_mib']:.2f}x"))
    if r := get("detector_rate"):
        m, b = r["model"], r["warm_body"]
        slower = m["latency_p50_ms"] / b["latency_p50_ms"]
        lines.append(("detector node at 30 Hz, learned backend",
                      f"{m['detections_per_s']:.1f} detections/s ({m['ratio']:.3f} per frame), "
                      f"latency p50 {m['latency_p50_ms']:.1f} ms vs warm_body "
                      f"{b['latency_p50_ms']:.1f} ms: {slower:.2f}x"))
    if r := get("geolocation"):
        a, c = r["accuracy"], r["consistency"]["monte_carlo (64 samples)"]
        exact, noisy = a["exact pose, pixel rounded to whole pixels"], a["noisy pose and pixel"]
        lines.append(("geolocation error at 100 m (p95)",
                      f"exact pose {exact['p95_m']:.2f} m (goal <= 2 m), noisy pose "
                      f"{noisy['p95_m']:.2f} m; observed/predicted spread "
                      f"{c['observed_over_predicted_rms']:.2f}"))
    if r := get("fusion"):
        lines.append(("fusion per frame",
                      f"overlay {r['overlay_blend_ms']:.2f} ms, points_thermal "
                      f"{r['points_thermal_ms']:.2f} ms vs processing chain "
                      f"{r['chain_ms']:.2f} ms: {r['overlay_blend_ms'] / r['chain_ms']:.1f}x, "
                      f"{r['points_thermal_ms'] / r['chain_ms']:.1f}x"))
        lines.append(("fusion accuracy",
                      f"overlay exact {r['misregistration_exact_px_max']:.1e} px (goal < 1), "
                      f"1 deg error {r['misregistration_1deg_px']['median']:.1f} px; lidar "
                      f"{100 * r['lidar_within_0p5K']:.2f} % within 0.5 K"))
    for name, res in results.items():
        if "error" in res:
            lines.append((name, f"FAILED: {res['error']}"))
    return lines


def plot(results: dict[str, Any], path: Path) -> None:
    """One PNG with a panel per benchmark, ours next to the same-run baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    fig.suptitle("thermal_perception benchmarks (same-run baselines)")

    def bars(ax, labels, values, title, unit, baselines=(), log=False):
        """Horizontal bars: ours orange, the baselines (indices, negative from the end) blue."""
        base = {i % len(values) for i in baselines}
        colors = ["tab:blue" if i in base else "tab:orange" for i in range(len(values))]
        ax.barh(labels, values, color=colors)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(unit)
        if log:
            ax.set_xscale("log")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=8)

    def get(name: str) -> dict[str, Any] | None:
        return results.get(name, {}).get("result")

    ax = axes[0, 0]
    labels, values = [], []
    if r := get("peers"):
        labels.append("ours (real frame)")
        values.append(r["ours_ms"])
        for name, p in r["peers"].items():
            labels.append(name.replace(" ", "\n", 1))
            values.append(p["ms"])
    if r := get("radiometry"):
        labels.append("numpy FLIR formula")
        values.append(r["baseline_ms"])
    if values:
        bars(ax, labels, values, "radiometry, 640x512 frame", "ms per frame (log)",
             baselines=range(1, len(values)), log=True)
    if r := get("processing"):
        bars(axes[0, 1], ["chain", "numpy baseline"], [r["fps_chain"], r["fps_baseline"]],
             "processing chain, one core", "frames per second", baselines=[1])
    if r := get("detection"):
        bars(axes[0, 2], ["warm bodies", "hotspots", "tracker", "processing chain"],
             [r["warm_body_ms"], r["hotspot_ms"], r["tracker_ms"], r["chain_ms"]],
             "detection per frame", "ms", baselines=[-1])
    if r := get("transport"):
        ax = axes[1, 0]
        names = ("p50_ms", "p90_ms", "p99_ms")
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], [r["pipeline"][n] for n in names], 0.4,
               label="driver -> processor", color="tab:orange")
        ax.bar([i + 0.2 for i in x], [r["bare_relay"][n] for n in names], 0.4,
               label="bare rclpy relay", color="tab:blue")
        ax.set_xticks(list(x), ["p50", "p90", "p99"])
        ax.set_ylabel("ms")
        ax.set_title("DDS latency, 640x512 at 30 Hz", fontsize=10)
        ax.legend(fontsize=8)
    if r := get("offline"):
        labels = [n.replace("analysis + ", "+ ") for n in r["variants"]] + ["read + decode"]
        values = [v["realtime_factor"] for v in r["variants"].values()]
        values.append(r["baseline_realtime_factor"])
        bars(axes[1, 1], labels, values, "offline analysis", "x real time", baselines=[-1])
    labels, values = [], []
    if r := get("memory"):
        labels += ["stream in process", "frame data"]
        values += [r["per_stream_mib"], r["frame_data_mib"]]
    if (r := get("transport")) and "memory_per_stream_mib" in r:
        labels += ["driver + processor\nprocesses", "bare rclpy\nsource + relay"]
        values += [r["memory_per_stream_mib"], r["memory_bare_relay_mib"]]
    if values:
        bars(axes[1, 2], labels, values, "memory per stream (RSS)", "MiB (log)",
             baselines=range(1, len(values), 2), log=True)
    for ax in axes.flat:
        if not ax.has_data():
            ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and repeats")
    parser.add_argument("--only", default="", help="comma-separated scripts to run")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        parser.error(f"unknown scripts {unknown}; choose from {list(SCRIPTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MPLBACKEND", "Agg")
    start = time.monotonic()
    results = {}
    for name in names:
        full, quick, limit_s = SCRIPTS[name]
        results[name] = run_script(name, quick if args.quick else full, limit_s, args.out)
    total_s = time.monotonic() - start
    lines = figures(results)
    width = max(len(k) for k, _ in lines) if lines else 0
    print(f"\n=== summary ({'quick' if args.quick else 'full'} run, {total_s:.0f} s) ===")
    for key, value in lines:
        print(f"{key:{width}s}  {value}")
    summary = {"total_wall_s": total_s, "quick": args.quick,
               "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
               "figures": dict(lines), "scripts": results}
    json_path = args.out / "results.json"
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    png_path = args.out / "summary.png"
    plot(results, png_path)
    print(f"wrote {json_path} and {png_path}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
