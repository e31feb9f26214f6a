"""The ``thermal-perception`` command.

Subcommands import what they need when they run, so ``--help`` and the offline tools work
without ROS.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_demo(args: argparse.Namespace) -> int:
    from thermal_perception.demo import DemoOptions, run_demo

    metrics = run_demo(DemoOptions(
        duration_s=args.duration, out_dir=Path(args.out), params_file=args.params,
        namespace=args.namespace, camera_profile=args.camera_profile, rate_hz=args.rate,
        storage=args.storage))
    return 0 if metrics["frames_received"]["image_temperature"] > 0 else 1


def _cmd_run(args: argparse.Namespace) -> int:
    import time

    from thermal_perception.runner import Pipeline

    overrides: dict[str, dict[str, object]] = {}
    for item in args.param or []:
        node_key, _, value = item.partition("=")
        node, _, key = node_key.partition(".")
        if not (node and key and _):
            raise SystemExit(f"-p expects NODE.PARAM=VALUE, got {item!r}")
        overrides.setdefault(node, {})[key] = value
    pipeline = Pipeline(args.params, args.namespace, overrides)
    print(f"starting {', '.join(pipeline.names)} from {args.params}; Ctrl-C stops")
    pipeline.start()
    start = time.monotonic()
    try:
        while not args.duration or time.monotonic() - start < args.duration:
            time.sleep(0.2)
            failed = pipeline.failed()
            if failed:
                print("\n".join(failed), file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        pipeline.stop()
    return 0


def _cmd_profiles(args: argparse.Namespace) -> int:
    from thermal_perception.core.camera import load_profiles

    for name, p in load_profiles(args.file).items():
        low, high = p.radiometric_range_c
        print(f"{name:10s} {p.width}x{p.height} @ {p.rate_hz:g} Hz, HFOV {p.hfov_deg:g} deg, "
              f"NETD {p.netd_k * 1e3:.0f} mK, tau {p.time_constant_s * 1e3:.0f} ms, "
              f"{p.bit_depth}-bit, range {low:g}..{high:g} C")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thermal-perception",
        description="Calibrated thermal camera perception: live ROS 2 pipeline and offline tools.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="live driver + processor over DDS on a simulated scene")
    demo.add_argument("--duration", type=float, default=10.0, help="seconds to record (10)")
    demo.add_argument("--out", default="out/demo", help="output folder (out/demo)")
    demo.add_argument("--params", type=Path, default=None,
                      help="parameters YAML (config/thermal_pipeline.yaml)")
    demo.add_argument("--namespace", default="thermal", help="topic namespace (thermal)")
    demo.add_argument("--camera-profile", default=None, help="override the camera profile")
    demo.add_argument("--rate", type=float, default=None, help="override the frame rate, Hz")
    demo.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3",
                      help="bag storage (sqlite3)")
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="start the nodes of a parameters YAML (no launch_ros needed)")
    run.add_argument("params", type=Path, help="parameters YAML, e.g. config/thermal_pipeline.yaml")
    run.add_argument("--namespace", default="thermal", help="topic namespace (thermal)")
    run.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (0: never)")
    run.add_argument("-p", "--param", action="append", metavar="NODE.PARAM=VALUE",
                     help="override a parameter, e.g. -p driver.rate_hz=10")
    run.set_defaults(func=_cmd_run)

    profiles = sub.add_parser("profiles", help="list camera profiles")
    profiles.add_argument("--file", default=None, help="profiles YAML (the shipped ones)")
    profiles.set_defaults(func=_cmd_profiles)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"thermal-perception {args.command}: error: {exc}", file=sys.stderr)
        return 1
