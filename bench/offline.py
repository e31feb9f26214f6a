"""Offline analysis benchmark: frames per second and real-time factor of
``thermal-perception analyze`` on a simulated 640x512 30 Hz bag, next to a baseline measured
in the same run (reading and decoding the bag's raw frames with rosbags, nothing else).

    python bench/offline.py [--frames 900] [--repeat 3] [--out out/bench/offline.json]

The default bag is 30 s long (900 frames, 590 MB): long enough that the per-frame rate is the
steady state of a mission's bag (filling and draining the stages' queues weighs on a 5 s
bag), and as long as the bags the command runs detection for in its worker process by
default (``--detect-worker auto``).

Variants: the analysis alone (no video, no processed bag, no detection), with detection (the
package's detectors when importable: on every frame, and on every N-th frame with the tracks
of the last detection frame predicted on the frames between - what the command does by
default, see ``--detect-every``; on a thread of the analysis and in a worker process, see
``--detect-worker``: the process' start, about a second, is in "end to end" only; the
command's default for the bag's length is marked), with the video, with the processed bag,
and with both. Speed
is that of the per-frame work (reading to the last output written); "end to end" adds
opening, the tables and the HTML report. Each variant runs ``--repeat`` times; the median is
reported (the best in brackets), with its ratio to the baseline. "CPU" is the CPU time of all
threads per frame: the stages run on their own threads, so with two idle cores the wall time
per frame approaches the busiest stage's share, less than the CPU time. "det" counts the
reported detections (measured and predicted): a variant that finds far fewer than detection
on every frame is not a fair trade.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from thermal_perception.analysis import AnalysisOptions, analyze_bag  # noqa: E402
from thermal_perception.analysis.command import single_threaded_opencv  # noqa: E402
from thermal_perception.analysis.detect import core_detection_available  # noqa: E402
from thermal_perception.analysis.detect_stage import detect_every_for  # noqa: E402
from thermal_perception.analysis.options import PROCESS_MIN_FRAMES  # noqa: E402
from thermal_perception.sim.record import SimulationOptions, simulate_to_bag  # noqa: E402

REALTIME_GOAL = 20.0  # x real time, for the analysis with detection
ALTITUDE_M = 60.0  # the simulated flight's height: gives the detectors the GSD


def baseline_fps(bag: Path) -> tuple[float, int]:
    """Frames per second of reading and decoding the raw frames (rosbags + numpy)."""
    from rosbags.highlevel import AnyReader

    from thermal_perception.io.bag import typestore_with_our_messages
    from thermal_perception.io.image_encoding import image_to_array

    start = time.perf_counter()
    frames = 0
    with AnyReader([bag], default_typestore=typestore_with_our_messages()) as reader:
        raw = [c for c in reader.connections if c.topic.endswith("image_raw")]
        for conn, _, data in reader.messages(connections=raw):
            image_to_array(reader.deserialize(data, conn.msgtype), copy=True)
            frames += 1
    return frames / (time.perf_counter() - start), frames


def run_variant(bag: Path, out: Path, repeat: int, options: dict[str, Any]) -> dict[str, Any]:
    """Analyse ``bag`` ``repeat`` times with ``options``; median and best speeds."""
    runs = []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        result = analyze_bag(bag, AnalysisOptions(out=out, progress=False, **options))
        if result.status != "ok":
            raise RuntimeError(f"analysis failed: {result.errors}")
        runs.append(result)
    fps = [r.fps for r in runs]
    rtf = [r.realtime_factor for r in runs]
    return {"options": {k: str(v) for k, v in options.items()}, "fps": statistics.median(fps),
            "fps_best": max(fps), "realtime_factor": statistics.median(rtf),
            "realtime_factor_best": max(rtf),
            "end_to_end_s": statistics.median(r.wall_s for r in runs),
            "cpu_ms_per_frame": statistics.median(1e3 * r.loop_cpu_s / r.frames for r in runs),
            "report_s": statistics.median(r.timings_s.get("report_s", 0.0) for r in runs),
            "detections": runs[0].detections, "detection_note": runs[0].detection_note}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=900,
                        help="frames of the simulated bag (900: 30 s at 30 Hz, where the "
                             "command runs detection in its worker process)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--rate", type=float, default=30.0, help="Hz")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "offline.json")
    args = parser.parse_args()
    single_threaded_opencv()  # as the command does
    work = args.out.parent / "offline"
    bag = work / "bag"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    simulate_to_bag(SimulationOptions(out=bag, frames=args.frames, width=args.width,
                                      height=args.height, rate_hz=args.rate, truth=False),
                    progress=False)
    duration_s = args.frames / args.rate
    baseline = [baseline_fps(bag)[0] for _ in range(args.repeat)]
    base_fps = statistics.median(baseline)

    quiet = {"video": False, "bag": False}
    variants: dict[str, dict[str, Any]] = {
        "analysis": {**quiet, "detector": "none"},
        "analysis + video": {"video": True, "bag": False, "detector": "none"},
        "analysis + processed bag": {"video": False, "bag": True, "detector": "none"},
        "analysis + video + processed bag": {"video": True, "bag": True, "detector": "none"},
    }
    detection_variants = []
    if core_detection_available():
        detection_variants.append("analysis + detection on every frame")
        variants[detection_variants[-1]] = {**quiet, "altitude_m": ALTITUDE_M}
        auto_worker = "process" if args.frames >= PROCESS_MIN_FRAMES else "thread"
        auto_every = detect_every_for(args.rate)  # the command's --detect-every auto
        for every in sorted({5, auto_every, 10} - {1}):  # "every N-th frame" variants
            for worker in ("thread", "process"):
                default = " (default)" if (every, worker) == (auto_every, auto_worker) else ""
                detection_variants.append(f"analysis + detection every {every}th, "
                                          f"{worker}{default}")
                variants[detection_variants[-1]] = {**quiet, "altitude_m": ALTITUDE_M,
                                                    "detect_every": every,
                                                    "detect_worker": worker}
    results = {name: run_variant(bag, work / "out", args.repeat, options)
               for name, options in variants.items()}

    print(f"{args.width}x{args.height} at {args.rate:g} Hz, {args.frames} frames "
          f"({duration_s:.1f} s of recording), median of {args.repeat} runs [best]")
    print(f"{'baseline: read + decode only':48s} {base_fps:6.0f} fps "
          f"{base_fps / args.rate:5.1f}x real time")
    for name, res in results.items():
        res["vs_baseline"] = res["fps"] / base_fps
        print(f"{name:48s} {res['fps']:6.0f} fps {res['realtime_factor']:5.1f}x real time "
              f"[{res['fps_best']:.0f} fps, {res['realtime_factor_best']:.1f}x]  "
              f"{res['vs_baseline']:4.2f} of the baseline  CPU {res['cpu_ms_per_frame']:4.1f} "
              f"ms/frame  det {res['detections']:4d}  end to end {res['end_to_end_s']:.2f} s "
              f"(report {res['report_s']:.2f} s)")
    if not core_detection_available():
        print("detection: thermal_perception.core.detection is not available; not measured")
    for name in detection_variants:
        res = results[name]
        met = "met" if res["realtime_factor"] >= REALTIME_GOAL else "NOT met"
        print(f"{name}: {res['detection_note']}; {res['realtime_factor']:.1f}x real time, "
              f"goal {REALTIME_GOAL:g}x {met}")
    report = {"frames": args.frames, "size": [args.width, args.height], "rate_hz": args.rate,
              "recording_s": duration_s, "repeat": args.repeat,
              "baseline_read_decode_fps": base_fps,
              "baseline_realtime_factor": base_fps / args.rate,
              "realtime_goal": REALTIME_GOAL, "variants": results}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
