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
        storage=args.storage, composed=args.composed,
        view_port=args.view_port if args.view else None))
    return 0 if metrics["frames_received"]["image_temperature"] > 0 else 1


def _cmd_view(args: argparse.Namespace) -> int:
    from thermal_perception.view_command import ViewOptions, run_view

    return run_view(ViewOptions(
        namespace=args.namespace, host=args.host, port=args.port, params_file=args.run,
        bag=args.bag, sigma=not args.no_sigma, foxglove=args.foxglove,
        foxglove_port=args.foxglove_port, duration_s=args.duration,
        open_browser=args.open))


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
    from thermal_perception.settings.check import check_params_file

    for line in check_params_file(args.params):  # the nodes ignore unknown names: say so
        print(f"warning: {line}", file=sys.stderr)
    pipeline = Pipeline(args.params, args.namespace, overrides, transport=args.transport,
                        composed=args.composed)
    print(f"starting {', '.join(pipeline.names)} from {args.params}"
          f"{' composed in one process' if args.composed else ''}; Ctrl-C stops")
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


def _cmd_check_config(args: argparse.Namespace) -> int:
    from thermal_perception.settings.check import check_params_file

    status = 0
    for path in args.params:
        problems = check_params_file(path)
        for line in problems:
            print(line)
        if problems:
            status = 1
        else:
            print(f"{path}: every parameter is known and valid")
    return status


def _cmd_params(args: argparse.Namespace) -> int:
    from thermal_perception.settings.check import node_specs
    from thermal_perception.settings.table import markdown_table, yaml_template

    try:
        specs = node_specs(args.node)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    print(yaml_template(args.node, specs) if args.yaml else markdown_table(specs), end=(
        "" if args.yaml else "\n"))
    return 0


def _cmd_profiles(args: argparse.Namespace) -> int:
    from thermal_perception.core.physics.camera import load_profiles

    for name, p in load_profiles(args.file).items():
        low, high = p.radiometric_range_c
        print(f"{name:10s} {p.width}x{p.height} @ {p.rate_hz:g} Hz, HFOV {p.hfov_deg:g} deg, "
              f"NETD {p.netd_k * 1e3:.0f} mK, tau {p.time_constant_s * 1e3:.0f} ms, "
              f"{p.bit_depth}-bit, range {low:g}..{high:g} C")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from thermal_perception.sim.record import SimulationOptions, simulate_to_bag

    if Path(args.out).exists():
        raise FileExistsError(f"{args.out} exists; choose another --out or remove it")
    summary = simulate_to_bag(SimulationOptions(
        out=Path(args.out), frames=args.frames, camera_profile=args.camera_profile,
        width=args.width, height=args.height, rate_hz=args.rate, scene=args.scene,
        altitude_m=args.altitude, speed_mps=args.speed, time_of_day=args.time_of_day,
        air_temperature_c=args.air_temperature, seed=args.seed, defects=args.defects,
        blackbody_temperature_c=args.blackbody_temperature,
        truth=not args.no_truth, storage=args.storage))
    print(f"wrote {summary['bag']}: {summary['frames']} frames {summary['size'][0]}x"
          f"{summary['size'][1]} at {summary['rate_hz']:g} Hz ({summary['profile']}), "
          f"ground sample distance {summary['gsd_m'] * 100:.1f} cm")
    for topic, count in summary["messages"].items():
        print(f"  {topic:32s} {count} messages")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from thermal_perception.io.recording_bag import recording_to_bag

    try:
        r = recording_to_bag(args.recording, args.out, namespace=args.namespace,
                             frame_id=args.frame_id, rate_hz=args.rate, storage=args.storage,
                             progress=True)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {r.bag}: {r.frames} frames {r.width}x{r.height} at {r.rate_hz:.2f} Hz ("
          f"{'recorded stamps' if r.stamped else 'stamps made up: none recorded'})"
          + (f"; radiometry {r.radiometry.model} {r.radiometry.parameters}: give the "
             f"processor {r.radiometry.processor_parameters()}" if r.radiometry else ""))
    return 0


def _cmd_netd(args: argparse.Namespace) -> int:
    import numpy as np
    from scipy.constants import zero_Celsius

    from thermal_perception.core.physics import BandRadianceTable
    from thermal_perception.core.physics.calibration import CountsToTemperature, LinearCalibration
    from thermal_perception.core.physics.camera import get_profile
    from thermal_perception.core.physics.sensor import MicrobolometerModel, measure_netd_k

    profile = get_profile(args.camera_profile)
    table = BandRadianceTable(profile.band_m)
    calibration = LinearCalibration.from_profile(profile, table)
    sensor = MicrobolometerModel(profile, calibration, table, seed=args.seed)
    convert = CountsToTemperature(calibration, table)
    scene = np.full((profile.height, profile.width),
                    float(table.radiance(args.temperature + zero_Celsius)), np.float32)
    frames = np.stack([convert(sensor.expose(scene, 1.0 / profile.rate_hz))
                       for _ in range(args.frames)])
    netd = measure_netd_k(frames)
    print(f"{profile.name}: uniform blackbody at {args.temperature:g} C, {args.frames} frames")
    print(f"measured NETD {netd * 1e3:.1f} mK (profile: {profile.netd_k * 1e3:.1f} mK, "
          f"ratio {netd / profile.netd_k:.3f})")
    return 0


def _cmd_calibrate_nuc(args: argparse.Namespace) -> int:
    from thermal_perception.calibrate import NucCalibrationInputs, calibrate_nuc

    report = calibrate_nuc(NucCalibrationInputs(
        low=Path(args.low), low_temperature_c=args.low_temperature, high=Path(args.high),
        high_temperature_c=args.high_temperature, out=Path(args.out),
        camera_profile=args.camera_profile, topic=args.topic, max_frames=args.max_frames,
        check=Path(args.check) if args.check else None,
        check_temperature_c=args.check_temperature))
    width, height = report["size"]
    print(f"two-point NUC from {report['frames'][0]} + {report['frames'][1]} frames "
          f"({width}x{height}, FPA {report['fpa_temperature_c']:.2f} C): "
          f"{report['bad_pixels']} bad pixels")
    print(f"raw fixed-pattern noise {report['raw_fpn_k'] * 1e3:.0f} mK")
    if "check" in report:
        c = report["check"]
        print(f"check at {c['temperature_c']:g} C ({c['frames']} frames): residual "
              f"fixed-pattern noise {c['residual_fpn_k'] * 1e3:.1f} mK (NETD "
              f"{c['netd_k'] * 1e3:.0f} mK), mean error {c['mean_error_k'] * 1e3:+.1f} mK")
    print(f"wrote {report['table']} and {report['metadata']}")
    return 0


def _cmd_calibrate_drift(args: argparse.Namespace) -> int:
    from thermal_perception.calibrate import DriftCalibrationInputs, calibrate_drift

    report = calibrate_drift(DriftCalibrationInputs(
        table=Path(args.table), first=Path(args.first), second=Path(args.second),
        out=Path(args.out), camera_profile=args.camera_profile, topic=args.topic,
        max_frames=args.max_frames, check=Path(args.check) if args.check else None))
    print(f"FPA drift map: median {report['median_drift_counts_per_k']:+.2f} counts/K "
          f"(offsets valid at FPA {report['fpa_reference_c']:.2f} C)")
    print("the blackbody read through the table, before -> after the drift map:")
    for name, r in report["readings"].items():
        print(f"  {name:6s} FPA {r['fpa_temperature_c']:6.2f} C ({r['frames']} frames): mean "
              f"{r['mean_c_before']:.3f} -> {r['mean_c_after']:.3f} C, fixed-pattern noise "
              f"{r['fpn_k_before'] * 1e3:.1f} -> {r['fpn_k_after'] * 1e3:.1f} mK")
    print(f"wrote {report['table']} and {report['metadata']}")
    return 0


def _cmd_calibrate_correction(args: argparse.Namespace) -> int:
    from thermal_perception.calibrate import CorrectionCalibrationInputs, calibrate_correction

    report = calibrate_correction(CorrectionCalibrationInputs(
        low=Path(args.low), low_temperature_c=args.low_temperature, high=Path(args.high),
        high_temperature_c=args.high_temperature, out=Path(args.out), serial=args.serial,
        params=Path(args.params) if args.params else None, topic=args.topic,
        max_frames=args.max_frames, centre_fraction=args.centre,
        check=Path(args.check) if args.check else None,
        check_temperature_c=args.check_temperature))
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    for name, true_c in (("low", args.low_temperature), ("high", args.high_temperature)):
        r = report[name]
        print(f"{name:4s} blackbody {true_c:7.2f} C reads {r['reading_c']:8.3f} C "
              f"({r['frames']} frames, centre {r['roi'][0]}x{r['roi'][1]} px, spread "
              f"{r['spread_k'] * 1e3:.0f} mK)")
    c = report["correction"]
    print(f"correction for camera {c.serial}: T' = {c.gain:.5f} * T {c.offset_k:+.3f} K")
    if report["check"] is not None:
        k = report["check"]
        print(f"check blackbody {k['temperature_c']:g} C reads {k['reading_c']:.3f} C, "
              f"corrected {k['corrected_c']:.3f} C: residual {k['residual_k'] * 1e3:+.0f} mK "
              f"(uncorrected {k['uncorrected_error_k']:+.3f} K)")
    print(f"wrote {report['file']} (entries: {', '.join(report['entries'])})")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.dataset is not None:
        return _cmd_eval_dataset(args)
    from thermal_perception.evaluation.simulated_cli import (
        EvalOptions,
        format_report,
        run_evaluation,
    )

    combined = run_evaluation(EvalOptions(
        seeds=args.seeds, frames=args.frames, width=args.width, height=args.height,
        altitudes_m=tuple(args.altitude or EvalOptions.altitudes_m), speed_mps=args.speed,
        out=args.out, people_detector=args.backend, model_path=args.model))
    print("\n".join(format_report(combined)))
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _cmd_eval_dataset(args: argparse.Namespace) -> int:
    from thermal_perception.evaluation.dataset import (
        DatasetEvalOptions,
        format_dataset_report,
        run_dataset_eval,
    )
    from thermal_perception.io.labels import LabelError

    if args.false_sheet < 0 or (args.false_sheet and args.out is None):
        print("error: --false-sheet N needs N >= 0 and --out (the folder the picture goes to)",
              file=sys.stderr)
        return 2
    try:
        report = run_dataset_eval(DatasetEvalOptions(
            dataset=args.dataset, split=args.split, backend=args.backend or "model",
            model_path=args.model, render=args.render, out=args.out, limit=args.limit,
            palette=args.palette, scales=tuple(args.scales) if args.scales else None,
            focal_px=args.focal_px or DatasetEvalOptions.focal_px,
            flip_test=not args.no_flip, rescore=not args.no_rescore,
            false_sheet=args.false_sheet))
    except (LabelError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(format_dataset_report(report)))
    if args.out:
        sheet = report.get("false_detections", {}).get("sheet")
        print(f"wrote {args.out / 'dataset_eval.json'}" + (
            f" and {len(report['rendered'])} images with boxes" if report["rendered"] else "")
            + (f"; the false detections drawn: {sheet}" if sheet else ""))
    return 0


COMPOSED_HELP = ("all nodes in one process, frames handed over in memory (topics still "
                 "published over DDS for other processes)")


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
    demo.add_argument("--composed", action="store_true", help=COMPOSED_HELP)
    demo.add_argument("--view", action="store_true",
                      help="also serve the browser view (thermal-perception view) meanwhile")
    demo.add_argument("--view-port", type=int, default=8080, help="port of the view (8080)")
    demo.set_defaults(func=_cmd_demo)

    view = sub.add_parser("view", help="browser view of the live pipeline (http://localhost:8080)")
    view.add_argument("--namespace", default="thermal", help="topic namespace (thermal)")
    view.add_argument("--host", default="127.0.0.1",
                      help="address to bind (127.0.0.1; 0.0.0.0 serves other machines)")
    view.add_argument("--port", type=int, default=8080, help="HTTP port (8080)")
    view.add_argument("--run", type=Path, default=None, metavar="PARAMS",
                      help="also start the nodes of this parameters YAML")
    view.add_argument("--bag", type=Path, default=None,
                      help="start the pipeline with the driver replaying this bag/recording")
    view.add_argument("--no-sigma", action="store_true",
                      help="do not subscribe to image_temperature_sigma")
    view.add_argument("--foxglove", action="store_true",
                      help="also serve the topics to Foxglove (foxglove-sdk) on ws://HOST:8765")
    view.add_argument("--foxglove-port", type=int, default=8765, help="Foxglove port (8765)")
    view.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (0: never)")
    view.add_argument("--open", action="store_true", help="open the page in a browser")
    view.set_defaults(func=_cmd_view)

    run = sub.add_parser("run", help="start the nodes of a parameters YAML (no launch_ros needed)")
    run.add_argument("params", type=Path, help="parameters YAML, e.g. config/thermal_pipeline.yaml")
    run.add_argument("--namespace", default="thermal", help="topic namespace (thermal)")
    run.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (0: never)")
    run.add_argument("-p", "--param", action="append", metavar="NODE.PARAM=VALUE",
                     help="override a parameter, e.g. -p driver.rate_hz=10")
    run.add_argument("--transport", choices=("shm", "default", "udp"), default=None,
                     help="Fast DDS transport of the nodes: shm (config/fastdds_shm.xml, the "
                          "default; THERMAL_PERCEPTION_TRANSPORT changes it), default (Fast "
                          "DDS builtin UDPv4 + shared memory) or udp (UDPv4 only)")
    run.add_argument("--composed", action="store_true", help=COMPOSED_HELP)
    run.set_defaults(func=_cmd_run)

    sim = sub.add_parser("simulate", help="write a simulated sequence with ground truth to a bag")
    sim.add_argument("--out", default="out/sim/bag", help="bag folder to create (out/sim/bag)")
    sim.add_argument("--frames", type=int, default=90, help="number of frames (90)")
    sim.add_argument("--camera-profile", default="boson640")
    sim.add_argument("--width", type=int, default=0, help="override the profile's width")
    sim.add_argument("--height", type=int, default=0, help="override the profile's height")
    sim.add_argument("--rate", type=float, default=0.0, help="frame rate, Hz (profile's)")
    sim.add_argument("--scene", default="uav_sar",
                     help="uav_sar, road, building, fire or blackbody (uav_sar)")
    sim.add_argument("--blackbody-temperature", type=float, default=35.0,
                     help="temperature of the blackbody scene, deg C (35)")
    sim.add_argument("--altitude", type=float, default=60.0, help="m above ground (60)")
    sim.add_argument("--speed", type=float, default=4.0, help="ground speed, m/s (4)")
    sim.add_argument("--time-of-day", choices=("day", "night"), default="day")
    sim.add_argument("--air-temperature", type=float, default=15.0, help="deg C (15)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--defects", action="store_true",
                     help="raw output with fixed-pattern noise, drift and bad pixels")
    sim.add_argument("--no-truth", action="store_true", help="do not write /truth/* topics")
    sim.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    sim.set_defaults(func=_cmd_simulate)

    convert = sub.add_parser(
        "convert", help="write a recording (.cptv, FLIR .seq, a folder of 16-bit frames...) "
                        "as a bag of the driver's topics")
    convert.add_argument("recording", help="file or folder the driver's recording source reads")
    convert.add_argument("out", help="bag folder to create")
    convert.add_argument("--namespace", default="", help="topic namespace (none)")
    convert.add_argument("--frame-id", default="thermal_optical_frame")
    convert.add_argument("--rate", type=float, default=None,
                         help="frame rate for recordings without stamps, Hz (9)")
    convert.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    convert.set_defaults(func=_cmd_convert)

    netd = sub.add_parser("netd", help="measure NETD of a simulated camera on a blackbody")
    netd.add_argument("--camera-profile", default="boson640")
    netd.add_argument("--frames", type=int, default=64)
    netd.add_argument("--temperature", type=float, default=26.85, help="blackbody, deg C")
    netd.add_argument("--seed", type=int, default=0)
    netd.set_defaults(func=_cmd_netd)

    calibrate = sub.add_parser("calibrate", help="calibration tools")
    calibrate_sub = calibrate.add_subparsers(dest="what", required=True)
    nuc = calibrate_sub.add_parser(
        "nuc", help="two-point non-uniformity correction from two blackbody sequences")
    nuc.add_argument("--low", required=True, help="bag or frames of the cooler blackbody")
    nuc.add_argument("--low-temperature", type=float, required=True, help="deg C")
    nuc.add_argument("--high", required=True, help="bag or frames of the warmer blackbody")
    nuc.add_argument("--high-temperature", type=float, required=True, help="deg C")
    nuc.add_argument("--out", default="nuc", help="table path without suffix (nuc)")
    nuc.add_argument("--camera-profile", default="boson640")
    nuc.add_argument("--topic", default=None, help="image topic in bags (auto)")
    nuc.add_argument("--max-frames", type=int, default=256)
    nuc.add_argument("--check", default=None, help="frames of a third blackbody to verify")
    nuc.add_argument("--check-temperature", type=float, default=None, help="deg C")
    nuc.set_defaults(func=_cmd_calibrate_nuc)
    drift = calibrate_sub.add_parser(
        "drift", help="a NUC table's FPA drift map from one blackbody at two FPA temperatures")
    drift.add_argument("--table", required=True, help="NUC table (calibrate nuc's --out)")
    drift.add_argument("--first", required=True,
                       help="bag or frames of the blackbody at one FPA temperature")
    drift.add_argument("--second", required=True,
                       help="the same blackbody at another FPA temperature (>= 0.5 K apart)")
    drift.add_argument("--out", default="nuc_drift", help="table path without suffix")
    drift.add_argument("--check", default=None,
                       help="the same blackbody at a third FPA temperature, to verify")
    drift.add_argument("--camera-profile", default="boson640")
    drift.add_argument("--topic", default=None, help="image topic in bags (auto)")
    drift.add_argument("--max-frames", type=int, default=256)
    drift.set_defaults(func=_cmd_calibrate_drift)
    corr = calibrate_sub.add_parser(
        "correction", help="per-camera temperature correction (gain, offset) from two "
        "blackbody recordings, written into a corrections YAML under the camera serial")
    corr.add_argument("--low", required=True, help="bag or frames of the cooler blackbody")
    corr.add_argument("--low-temperature", type=float, required=True, help="deg C")
    corr.add_argument("--high", required=True, help="bag or frames of the warmer blackbody")
    corr.add_argument("--high-temperature", type=float, required=True, help="deg C")
    corr.add_argument("--serial", default="default",
                      help="camera serial number, the entry's key (default: the 'default' "
                           "entry, for cameras without one of their own)")
    corr.add_argument("--out", default="corrections.yaml",
                      help="corrections file to create or update (corrections.yaml)")
    corr.add_argument("--params", default=None,
                      help="parameters YAML whose processor settings convert the counts "
                           "(radiometric model, NUC, emissivity...; default: the defaults)")
    corr.add_argument("--topic", default=None, help="image topic in bags (auto)")
    corr.add_argument("--max-frames", type=int, default=256)
    corr.add_argument("--centre", type=float, default=0.2,
                      help="side of the centre ROI averaged, fraction of width/height (0.2)")
    corr.add_argument("--check", default=None, help="frames of a third blackbody to verify")
    corr.add_argument("--check-temperature", type=float, default=None, help="deg C")
    corr.set_defaults(func=_cmd_calibrate_correction)
    from thermal_perception.calibrate_lens import add_lens_parsers

    add_lens_parsers(calibrate_sub)  # intrinsics, extrinsics

    evaluate = sub.add_parser(
        "eval", help="score detection and tracking on simulated sequences with ground truth, "
        "or on real labelled images (--dataset)")
    evaluate.add_argument("--seeds", type=int, default=3, help="scenes per setting (3)")
    evaluate.add_argument("--frames", type=int, default=40, help="frames per sequence (40)")
    evaluate.add_argument("--width", type=int, default=320)
    evaluate.add_argument("--height", type=int, default=256)
    evaluate.add_argument("--altitude", type=float, action="append", default=None,
                          help="altitude(s), m (30 and 40)")
    evaluate.add_argument("--speed", type=float, default=6.0, help="ground speed, m/s (6)")
    evaluate.add_argument("--out", type=Path, default=None, help="write the report as JSON "
                          "(with --dataset: a folder for dataset_eval.json and renderings)")
    evaluate.add_argument("--dataset", type=Path, default=None,
                          help="score on real labelled images instead: a folder with a COCO "
                          "labels.json (e.g. data/hit_uav_sample) or a HIT-UAV checkout")
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"),
                          help="split of a HIT-UAV checkout or YOLO folder (test)")
    evaluate.add_argument("--backend", default=None, choices=("model", "warm_body"),
                          help="people backend to score (default: model on --dataset, the "
                               "detector node's default on simulated sequences)")
    evaluate.add_argument("--model", type=Path, default=None,
                          help="ONNX model with its .json card, or a shipped model's name: "
                               "general (default), drone")
    evaluate.add_argument("--no-flip", action="store_true",
                          help="model backend: without the card's flip test (as the "
                               "detector's model_flip_test: false)")
    evaluate.add_argument("--no-rescore", action="store_true",
                          help="model backend: without the card's rescorer (as the "
                               "detector's model_rescore: false)")
    evaluate.add_argument("--render", type=int, default=0,
                          help="draw this many images with boxes into --out")
    evaluate.add_argument("--false-sheet", type=int, default=0, metavar="N",
                          help="with --dataset and --out: draw the N highest-scoring false "
                               "detections as one picture (false_detections.png)")
    evaluate.add_argument("--limit", type=int, default=0, help="only the first N images")
    evaluate.add_argument("--palette", default=None,
                          help="false-colour images: the palette that drew them (e.g. "
                               "seek_spectra, ironbow, jet), turned back into levels")
    evaluate.add_argument("--scales", type=float, nargs="+", default=None,
                          help="model backend: image scales to run and merge, e.g. 1 0.5 "
                               "(default: the model card's)")
    evaluate.add_argument("--focal-px", type=float, default=None,
                          help="camera focal length, px: with the altitude and pitch images "
                               "carry (HIT-UAV), the ground sample distance the warm_body "
                               "sizes and the model's scale awareness use (772: HIT-UAV's)")
    evaluate.set_defaults(func=_cmd_eval)

    from thermal_perception.analysis import add_analyze_parser

    add_analyze_parser(sub)

    check = sub.add_parser("check-config", help="check ROS 2 parameters files against the "
                           "nodes' parameters (misspelt names, ranges, choices) without ROS")
    check.add_argument("params", type=Path, nargs="+", help="parameters YAML files")
    check.set_defaults(func=_cmd_check_config)

    params = sub.add_parser("params", help="a node's parameters (type, default, range, "
                            "meaning) as a Markdown table or a parameters file, without ROS")
    params.add_argument("node", help="driver, processor, detector or fusion")
    params.add_argument("--yaml", action="store_true",
                        help="a ROS 2 parameters file of the defaults, each described, instead")
    params.set_defaults(func=_cmd_params)

    profiles = sub.add_parser("profiles", help="list camera profiles")
    profiles.add_argument("--file", default=None, help="profiles YAML (the shipped ones)")
    profiles.set_defaults(func=_cmd_profiles)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"thermal-perception {args.command}: error: {exc}", file=sys.stderr)
        return 1
