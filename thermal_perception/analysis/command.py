"""The ``thermal-perception analyze`` command line: its arguments, the options they make, and the
run over the bags with the exit code (0 ok, 1 failed, 2 partial).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from thermal_perception.analysis.batch import analyze_many
from thermal_perception.analysis.detect import (
    AUTO,
)
from thermal_perception.analysis.detect_stage import detect_every_for
from thermal_perception.analysis.options import (
    DEFAULT_DETECT_HZ,
    DETECT_WORKERS,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    PROCESS_MIN_FRAMES,
    STATUS_FAILED,
    STATUS_PARTIAL,
    AnalysisOptions,
)


def _parse_value(text: str) -> Any:
    """A -p value as YAML gives it (numbers, booleans, lists, strings)."""
    import yaml

    return yaml.safe_load(text) if text.strip() else ""


def _every(text: str) -> int | None:
    """``--detect-every``: a whole number >= 1, or 'auto' (None)."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1 or 'auto', got "
                                         f"{text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_analyze_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``analyze`` on the ``thermal-perception`` subparsers; returns its parser."""
    p = subparsers.add_parser(
        "analyze", help="offline analysis of bags: temperatures, detections, video, report",
        description="Analyse ROS 1/ROS 2 bags offline (no ROS needed) with the processor's "
                    "chain and parameters. Exit status: 0 all bags analysed completely, "
                    "2 some bag only partly (damaged: outputs cover what was read), 1 some bag "
                    "failed.")
    p.add_argument("bags", nargs="+", metavar="BAG",
                   help="bags (rosbag2 folders, .db3/.mcap files, ROS 1 .bag), folders of bags, "
                        "or recordings the driver reads (.cptv, FLIR .seq, a folder of 16-bit "
                        "frames...)")
    p.add_argument("--out", type=Path, default=Path("out/analysis"),
                   help="output folder; each bag writes into OUT/<bag name>/ (out/analysis)")
    p.add_argument("--topic", default=None, help="raw image topic (found automatically)")
    p.add_argument("--params", type=Path, default=None,
                   help="parameters YAML whose 'processor' node settings are used, e.g. "
                        "config/thermal_pipeline.yaml (the node's defaults)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="[NODE.]NAME=VALUE",
                   help="override a processor (default) or detector parameter, e.g. "
                        "-p emissivity=0.95 -p detector.fire_c=120")
    p.add_argument("--nuc-file", default=None, help="NUC table (replaces the parameter)")
    p.add_argument("--no-video", action="store_true", help="do not write video.mp4")
    p.add_argument("--no-bag", action="store_true", help="do not write processed_bag/")
    p.add_argument("--no-report", action="store_true", help="do not write report.html")
    p.add_argument("--storage", choices=("same", "sqlite3", "mcap"), default="same",
                   help="processed bag storage (same as the input)")
    p.add_argument("--bag-compression", choices=("zstd", "none"), default="zstd",
                   help="processed bag compression: zstd (MCAP chunks, or per message in "
                        "SQLite, both read by rosbag2) or none")
    p.add_argument("--detector", default=AUTO,
                   help="auto (core detectors when available), none, or MODULE:FACTORY")
    p.add_argument("--no-tracking", action="store_true", help="report untracked detections")
    p.add_argument("--ego-motion", action="store_true",
                   help="estimate the camera's image motion for tracking (phase correlation)")
    p.add_argument("--detect-every", type=_every, default=None, metavar="N|auto",
                   help="detect on every N-th frame only, the tracks predicted on the frames "
                        f"between (auto: about {DEFAULT_DETECT_HZ:g} Hz, every "
                        f"{detect_every_for(30.0)}th frame at 30 Hz; 1: every frame, about 5x "
                        "real time on two cores for 640x512 frames)")
    p.add_argument("--detect-worker", choices=DETECT_WORKERS, default="auto",
                   help="run detection and tracking in a worker process (on the second core) "
                        "or on a thread; auto: the process for bags of at least "
                        f"{PROCESS_MIN_FRAMES} frames (it takes about a second to start)")
    p.add_argument("--gsd", type=float, default=None, metavar="M",
                   help="ground sample distance, m/pixel, for detection sizes (as the detector "
                        "node: its parameters or the bag's altitude and camera_info topics)")
    p.add_argument("--altitude", type=float, default=None, metavar="M",
                   help="height above ground, m (gives the GSD with camera_info's focal length)")
    p.add_argument("--ground-altitude", type=float, default=None, metavar="M",
                   help="ground height above the WGS84 ellipsoid, m, for placing detections on "
                        "the ground (bags with GPS, IMU and camera_info; default: the first "
                        "fix's altitude minus --takeoff-height)")
    p.add_argument("--takeoff-height", type=float, default=0.0, metavar="M",
                   help="GPS height above the ground at the first fix, m (0)")
    p.add_argument("--camera-mount", type=float, nargs=6, default=None,
                   metavar=("X", "Y", "Z", "ROLL", "PITCH", "YAW"),
                   help="thermal optical frame in base_link (the IMU's frame), m and rad "
                        "(default: the bag's /tf_static and /tf from the IMU's frame to the "
                        "thermal images', else looking straight down, image top forward)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames per bag")
    p.add_argument("--workers", type=int, default=None,
                   help="bags analysed in parallel processes (number of CPUs)")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run the bags as Ray tasks on this cluster ('local': start one here)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_analyze)
    return p


def options_from_args(args: argparse.Namespace) -> AnalysisOptions:
    """AnalysisOptions of parsed ``analyze`` arguments."""
    overrides: dict[str, dict[str, Any]] = {"processor": {}, "detector": {}}
    for item in args.param:
        key, sep, value = item.partition("=")
        node, dot, name = key.strip().rpartition(".")
        node = node if dot else "processor"
        if not (sep and name) or node not in overrides:
            raise ValueError(f"-p expects [processor.|detector.]NAME=VALUE, got {item!r}")
        overrides[node][name] = _parse_value(value)
    return AnalysisOptions(
        out=args.out, topic=args.topic, params=args.params, overrides=overrides["processor"],
        detector_overrides=overrides["detector"], ego_motion=args.ego_motion,
        nuc_file=args.nuc_file, video=not args.no_video, bag=not args.no_bag,
        report=not args.no_report,
        storage=args.storage, bag_compression=args.bag_compression, detector=args.detector,
        track=not args.no_tracking,
        detect_every=args.detect_every, detect_worker=args.detect_worker, gsd_m=args.gsd,
        altitude_m=args.altitude,
        ground_altitude_m=args.ground_altitude, takeoff_height_m=args.takeoff_height,
        camera_mount=tuple(args.camera_mount) if args.camera_mount else None,
        max_frames=args.max_frames, progress=not args.quiet)


def single_threaded_opencv() -> None:
    """Make OpenCV's own parallel loops single-threaded, for the whole process.

    The analysis' stages run on their own threads (and bags in their own processes) and keep
    the cores busy: OpenCV's loops inside them would only add overhead (about a third more CPU
    time per frame with detection). Call it before any worker process is forked: changing the
    thread count in a forked child of a process whose OpenCV threads ran can hang.
    """
    import cv2

    cv2.setNumThreads(1)


def run_analyze(args: argparse.Namespace) -> int:
    """Handler of ``thermal-perception analyze``; prints one line per bag and its problems."""
    single_threaded_opencv()
    options = options_from_args(args)
    results = analyze_many(args.bags, options, args.workers, args.ray)
    for r in results:
        missing = r.frames_recorded - r.frames
        read = f"{r.frames} of {r.frames_recorded} frames" if missing > 0 else \
            f"{r.frames} frames"
        print(f"{r.status.upper():8s} {r.bag}: {read} read ({r.frames_processed} processed), "
              f"{r.detections} detections, {r.fps:.0f} fps = {r.realtime_factor:.1f}x real "
              f"time -> {r.out_dir}", flush=True)
        if missing > 0:
            print(f"  error: {missing} recorded frames could not be read", file=sys.stderr,
                  flush=True)
        for error in r.errors:
            print(f"  error: {error.splitlines()[0]}", file=sys.stderr, flush=True)
        for warning in r.warnings:
            print(f"  note: {warning}", flush=True)
    if any(r.status == STATUS_FAILED for r in results):
        return EXIT_FAILED
    if any(r.status == STATUS_PARTIAL for r in results):
        return EXIT_PARTIAL
    return EXIT_OK
