"""Offline bag analysis (thermal-perception analyze): outputs, temperatures against the
simulator's truth, flat-field corrections, damaged bags, parameters files and batches."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st
from rosbags.highlevel import AnyReader

from thermal_perception.analysis import AnalysisOptions, analyze_bag, analyze_many
from thermal_perception.analysis.batch import find_bags
from thermal_perception.analysis.command import add_analyze_parser, run_analyze
from thermal_perception.analysis.detect import DetectionRecord, core_detection_available
from thermal_perception.analysis.detect_stage import detect_every_for
from thermal_perception.analysis.params import (
    load_processor_params,
)
from thermal_perception.analysis.stats import SequenceStatistics, count_histogram, count_range
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.io import messages
from thermal_perception.io.bag import BagWriter, typestore_with_our_messages
from thermal_perception.sim.record import START_NS, SimulationOptions, simulate_to_bag
from thermal_perception.sim.simulator import ThermalSimulator

WIDTH, HEIGHT = 160, 128
FRAMES = 24
RATE_HZ = 30.0
HOT_C = 28.0  # the test detector's threshold, deg C (people in the uav_sar scene)
SHUTTER_C = 25.0  # shutter (housing) temperature of the FFC bag, deg C
FRAME_ID = "thermal_camera_optical_frame"
LAT0, LON0, ALT0 = 47.3769, 8.5417, 500.0  # GPS track start, deg and m
DEG_PER_FRAME = 1e-6  # GPS track step per frame, deg
PNG_DATA = "data:image/png;base64,"
ANALYSIS_TOPICS = ("/thermal/image_temperature", "/thermal/image_display", "/thermal/detections")


# -- a deterministic detector, plugged in as "test_analysis:hot_blobs" --------------------------


class HotBlobs:
    """Connected regions warmer than HOT_C, as DetectionRecords."""

    def detect(self, temperature_c: np.ndarray) -> list[DetectionRecord]:
        hot = (np.nan_to_num(temperature_c) > HOT_C).astype(np.uint8)
        n, labels, boxes, centroids = cv2.connectedComponentsWithStats(hot)
        found = []
        for k in range(1, n):
            x, y, w, h, area = (int(v) for v in boxes[k])
            values = temperature_c[labels == k]
            found.append(DetectionRecord("person", 0.9, x, y, x + w, y + h,
                                         float(centroids[k][0]), float(centroids[k][1]),
                                         float(values.max()), float(values.mean()), area))
        return found


def hot_blobs() -> HotBlobs:
    return HotBlobs()


# -- bags -----------------------------------------------------------------------------------------


def write_bag(path: Path, frames: int = FRAMES, *, gps: bool = False, truth: bool = False,
              shutter: tuple[int, ...] = (), defects: bool = False,
              storage: str = "sqlite3") -> Path:
    """A simulated uav_sar bag like simulate_to_bag's, optionally with a NavSatFix topic, truth
    and shutter-closed frames (uniform counts at SHUTTER_C)."""
    profile = get_profile("boson640").with_size(WIDTH, HEIGHT)
    sim = ThermalSimulator(profile, "uav_sar", seed=0, defects=defects)
    with BagWriter(path, storage=storage) as bag:
        store = bag.typestore
        bag.add_topic("/thermal/image_raw", "sensor_msgs/msg/Image")
        bag.add_topic("/thermal/status", "thermal_perception/msg/ThermalStatus")
        if truth:
            bag.add_topic("/truth/apparent_temperature", "sensor_msgs/msg/Image")
        if gps:
            bag.add_topic("/gps/fix", "sensor_msgs/msg/NavSatFix")
        for i in range(frames):
            t = i / RATE_HZ
            stamp = START_NS + round(t * messages.NS_PER_S)
            closed = i in shutter
            counts = sim.uniform_counts(SHUTTER_C, t) if closed else sim.counts(t)
            bag.write_message("/thermal/image_raw", stamp,
                              messages.image(store, counts, "mono16", stamp, FRAME_ID))
            bag.write_message("/thermal/status", stamp, messages.thermal_status(
                store, stamp, FRAME_ID, fpa_temperature_c=sim.fpa_temperature_c(t),
                housing_temperature_c=SHUTTER_C, shutter_closed=closed,
                camera_profile="boson640"))
            if truth:
                bag.write_message("/truth/apparent_temperature", stamp, messages.image(
                    store, sim.truth(t).apparent_temperature_c, "32FC1", stamp, FRAME_ID))
            if gps:
                types = store.types
                fix = types["sensor_msgs/msg/NavSatFix"](
                    header=messages.header(store, stamp, "gps"),
                    status=types["sensor_msgs/msg/NavSatStatus"](status=0, service=1),
                    latitude=LAT0 + i * DEG_PER_FRAME, longitude=LON0 + i * DEG_PER_FRAME,
                    altitude=ALT0, position_covariance=np.zeros(9),
                    position_covariance_type=0)
                bag.write_message("/gps/fix", stamp, fix)
    return path


def simulated(path: Path, frames: int = FRAMES, storage: str = "sqlite3",
              truth: bool = True) -> Path:
    simulate_to_bag(SimulationOptions(out=path, frames=frames, width=WIDTH, height=HEIGHT,
                                      storage=storage, truth=truth), progress=False)
    return path


def read_topics(bag: Path) -> dict[str, list]:
    """Deserialized messages of a bag by topic."""
    out: dict[str, list] = {}
    with AnyReader([bag], default_typestore=typestore_with_our_messages()) as reader:
        for conn, _, data in reader.messages():
            out.setdefault(conn.topic, []).append(reader.deserialize(data, conn.msgtype))
    return out


def image_array(msg) -> np.ndarray:
    dtype = np.float32 if msg.encoding == "32FC1" else np.uint8
    return msg.data.view(dtype).reshape(msg.height, msg.width, -1).squeeze()


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def truncate(bag: Path, fraction: float) -> None:
    """Cut the bag's storage file to ``fraction`` of its size (a recording cut short)."""
    (storage,) = [p for p in bag.iterdir() if p.suffix in (".db3", ".mcap")]
    with open(storage, "r+b") as f:
        f.truncate(int(storage.stat().st_size * fraction))


@pytest.fixture(scope="module")
def gps_analysis(tmp_path_factory):
    """A bag with GPS analysed with every output and the test detector."""
    root = tmp_path_factory.mktemp("gps")
    bag = write_bag(root / "flight", gps=True)
    result = analyze_bag(bag, AnalysisOptions(out=root / "out", detector="test_analysis:hot_blobs",
                                              progress=False))
    return bag, result


# -- outputs --------------------------------------------------------------------------------------


def test_outputs_exist_and_are_consistent(gps_analysis):
    _, r = gps_analysis
    out = Path(r.out_dir)
    assert r.status == "ok", r.errors
    assert (r.frames, r.frames_processed, r.topic) == (FRAMES, FRAMES, "/thermal/image_raw")
    assert r.status_topic == "/thermal/status" and r.gps_topic == "/gps/fix"
    assert r.detections > 0 and r.fps > 0 and r.realtime_factor > 0

    frames = csv_rows(out / "frames.csv")
    assert len(frames) == FRAMES
    assert all(f["state"] == "processed" and f["latitude"] for f in frames)
    assert all(float(f["min_c"]) <= float(f["mean_c"]) <= float(f["p99_c"]) <= float(f["max_c"])
               for f in frames)
    assert float(frames[0]["fpa_temperature_c"]) > 0  # the first frame got its status too
    detections = csv_rows(out / "detections.csv")
    assert len(detections) == r.detections == sum(int(f["detections"]) for f in frames)

    video = cv2.VideoCapture(str(out / "video.mp4"))
    assert video.isOpened() and video.get(cv2.CAP_PROP_FRAME_COUNT) > 0
    ok, image = video.read()
    assert ok and image.shape == (HEIGHT, WIDTH, 3)

    geo = json.loads((out / "detections.geojson").read_text())
    assert geo["type"] == "FeatureCollection"
    points = [f for f in geo["features"] if f["geometry"]["type"] == "Point"]
    assert len(points) == r.detections
    lon, lat = points[0]["geometry"]["coordinates"][:2]
    assert abs(lat - LAT0) < 1e-3 and abs(lon - LON0) < 1e-3
    assert points[0]["properties"]["position_source"] == "platform_gps"
    assert any(f["geometry"]["type"] == "LineString" for f in geo["features"])
    kml = ET.parse(out / "detections.kml").getroot()
    placemarks = kml.findall(".//{http://www.opengis.net/kml/2.2}Placemark")
    assert len(placemarks) == r.detections + 1  # + the platform track

    report = (out / "report.html").read_text()
    assert report.count(PNG_DATA) >= 4 and "real-time factor" in report
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["frames"] == FRAMES
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no temporary or partial files


def test_processed_bag_has_all_messages_and_the_analysis_topics(gps_analysis):
    bag, r = gps_analysis
    source = read_topics(bag)
    processed = read_topics(Path(r.out_dir) / "processed_bag")
    for topic, msgs in source.items():
        assert len(processed[topic]) == len(msgs)  # copied unchanged
    for topic in ANALYSIS_TOPICS:
        assert len(processed[topic]) == FRAMES
    stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in source["/thermal/image_raw"]]
    for topic in ANALYSIS_TOPICS:
        assert [(m.header.stamp.sec, m.header.stamp.nanosec) for m in processed[topic]] == stamps
    assert processed["/thermal/image_temperature"][0].encoding == "32FC1"
    assert processed["/thermal/image_display"][0].encoding == "bgr8"
    assert sum(len(m.detections) for m in processed["/thermal/detections"]) == r.detections


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_temperatures_match_the_simulators_truth(tmp_path, storage):
    bag = simulated(tmp_path / "sim", storage=storage)
    r = analyze_bag(bag, AnalysisOptions(out=tmp_path / "out", video=False, detector="none",
                                         progress=False))
    assert r.status == "ok", r.errors
    assert r.storage == storage
    suffix = {"sqlite3": ".db3", "mcap": ".mcap"}[storage]
    # named as the bag, not as the hidden folder it was written in (issue 19 item 11)
    files = sorted(p.name for p in (Path(r.out_dir) / "processed_bag").iterdir())
    assert files == ["metadata.yaml", f"processed_bag{suffix}"]
    metadata = (Path(r.out_dir) / "processed_bag" / "metadata.yaml").read_text()
    if storage == "sqlite3":  # MCAP compresses its chunks: the bag's metadata says nothing
        assert "compression_format: zstd" in metadata and "compression_mode: message" in \
            metadata.lower()
    assert r.processed_bag_bytes_per_frame > 0
    topics = read_topics(Path(r.out_dir) / "processed_bag")
    truth = [image_array(m) for m in topics["/truth/apparent_temperature"]]
    measured = [image_array(m) for m in topics["/thermal/image_temperature"]]
    assert len(measured) == len(truth) == FRAMES
    error = np.abs(np.stack(measured) - np.stack(truth))
    assert np.nanmean(error) < 0.1  # K
    assert "no GPS" in " ".join(r.warnings)
    assert not (Path(r.out_dir) / "detections.geojson").exists()
    assert "no GPS" in (Path(r.out_dir) / "report.html").read_text()


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_processed_bag_compression_keeps_every_message(tmp_path, storage):
    """zstd (the default) and none give the same messages; zstd is smaller on disk."""
    bag = simulated(tmp_path / "sim", storage=storage)
    results = {}
    for compression in ("zstd", "none"):
        r = analyze_bag(bag, AnalysisOptions(out=tmp_path / compression, video=False,
                                             detector="none", progress=False,
                                             bag_compression=compression, report=False))
        assert r.status == "ok", r.errors
        results[compression] = (r, read_topics(Path(r.out_dir) / "processed_bag"))
    (zr, zstd_topics), (nr, raw_topics) = results["zstd"], results["none"]
    assert zstd_topics.keys() == raw_topics.keys()
    for topic, msgs in raw_topics.items():
        assert len(zstd_topics[topic]) == len(msgs), topic
    for a, b in zip(zstd_topics["/thermal/image_temperature"],
                    raw_topics["/thermal/image_temperature"], strict=True):
        np.testing.assert_array_equal(image_array(a), image_array(b))
    assert zr.processed_bag_bytes_per_frame < 0.8 * nr.processed_bag_bytes_per_frame


def test_shutter_frames_drive_flat_field_corrections(tmp_path):
    """A camera with fixed-pattern offsets: the FFC on the closed shutter removes them."""
    shutter = (8, 9, 10, 11)
    bag = write_bag(tmp_path / "ffc", frames=20, truth=True, shutter=shutter, defects=True)
    r = analyze_bag(bag, AnalysisOptions(out=tmp_path / "out", video=False, detector="none",
                                         progress=False))
    assert r.status == "ok", r.errors
    assert (r.frames, r.frames_shutter, r.ffc_count) == (20, len(shutter), 1)
    frames = csv_rows(Path(r.out_dir) / "frames.csv")
    assert [i for i, f in enumerate(frames) if f["state"] == "shutter"] == list(shutter)
    assert [i for i, f in enumerate(frames) if f["ffc_applied"] == "1"] == [shutter[-1] + 1]
    topics = read_topics(Path(r.out_dir) / "processed_bag")
    truth = {(m.header.stamp.sec, m.header.stamp.nanosec): image_array(m)
             for m in topics["/truth/apparent_temperature"]}
    errors = [float(np.nanmean(np.abs(image_array(m) - truth[(m.header.stamp.sec,
                                                               m.header.stamp.nanosec)])))
              for m in topics["/thermal/image_temperature"]]
    assert len(errors) == 20 - len(shutter)  # shutter frames are not measurements
    before, after = np.mean(errors[:shutter[0]]), np.mean(errors[shutter[0]:])
    assert after < 0.5 * before, (before, after)


# -- damaged bags ----------------------------------------------------------------------------------


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_truncated_bag_gives_partial_results_and_a_clear_error(tmp_path, storage):
    frames = 40
    bag = simulated(tmp_path / "cut", frames=frames, storage=storage)
    truncate(bag, 0.6)
    r = analyze_bag(bag, AnalysisOptions(out=tmp_path / "out", video=True, detector="none",
                                         progress=False))
    assert r.status == "partial"
    assert 0 < r.frames_processed < frames
    text = " ".join(r.errors)
    assert "could not open" in text or "truncated" in text or "cut short" in text, text
    out = Path(r.out_dir)
    assert len(csv_rows(out / "frames.csv")) == r.frames
    processed = read_topics(out / "processed_bag")
    assert len(processed["/thermal/image_temperature"]) == r.frames_processed
    assert r.frames_recorded == frames
    report = (out / "report.html").read_text()
    assert "partial" in report and f"of {frames} recorded frames could not be read" in report
    assert json.loads((out / "summary.json").read_text())["status"] == "partial"


def test_unreadable_bag_fails_with_only_the_failure_written(tmp_path):
    """Issue 19 item 8: no empty report or CSVs for a bag that could not be read; the reason
    is in summary.json."""
    bag = tmp_path / "garbage"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("not: a bag\n")
    (bag / "garbage_0.db3").write_bytes(b"\0" * 4096)
    r = analyze_bag(bag, AnalysisOptions(out=tmp_path / "out", progress=False))
    assert r.status == "failed" and r.errors
    assert sorted(p.name for p in Path(r.out_dir).iterdir()) == ["summary.json"]
    summary = json.loads((Path(r.out_dir) / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["errors"] == r.errors
    assert not any("GPS" in w for w in summary["warnings"])


def _cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    code = ("import argparse, sys\n"
            "from thermal_perception.analysis.command import add_analyze_parser\n"
            "parser = argparse.ArgumentParser(prog='thermal-perception')\n"
            "add_analyze_parser(parser.add_subparsers(dest='command', required=True))\n"
            "args = parser.parse_args(sys.argv[1:])\n"
            "sys.exit(args.func(args))\n")
    return subprocess.run([sys.executable, "-c", code, "analyze", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def test_cli_exit_status_says_what_could_not_be_read(tmp_path):
    bag = simulated(tmp_path / "cut", frames=30, truth=False)
    truncate(bag, 0.6)
    done = _cli(str(bag), "--out", str(tmp_path / "out"), "--no-video", "--quiet")
    assert done.returncode == 2, done.stderr  # partial
    assert "PARTIAL" in done.stdout and "of 30 frames read" in done.stdout
    assert "recorded frames could not be read" in done.stderr
    missing = _cli(str(tmp_path / "nothing"), "--out", str(tmp_path / "out2"), "--quiet")
    assert missing.returncode != 0


def test_killed_run_leaves_no_complete_looking_outputs(tmp_path):
    """Outputs appear only when finished: a killed run leaves no report and no bag."""
    bag = simulated(tmp_path / "long", frames=120, truth=False)
    code = ("from thermal_perception.analysis import analyze_bag, AnalysisOptions\n"
            f"analyze_bag({str(bag)!r}, AnalysisOptions(out={str(tmp_path / 'out')!r}, "
            "detector='none', progress=False))\n")
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    partial = tmp_path / "out" / "long" / ".processed_bag.partial"
    deadline = time.monotonic() + 60.0
    while not partial.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    out = tmp_path / "out" / "long"
    assert not (out / "report.html").exists()
    assert not (out / "processed_bag").exists()
    assert not (out / "video.mp4").exists()


# -- parameters ------------------------------------------------------------------------------------


def test_params_file_is_honoured(tmp_path):
    bag = simulated(tmp_path / "sim", truth=False)
    params = tmp_path / "params.yaml"
    text = (REPO / "config" / "thermal_pipeline.yaml").read_text()
    params.write_text(text.replace("emissivity: 1.0", "emissivity: 0.8"))
    assert load_processor_params(params)[0]["emissivity"] == 0.8
    fast = {"video": False, "bag": False, "report": False, "detector": "none",
            "progress": False}
    plain = analyze_bag(bag, AnalysisOptions(out=tmp_path / "a", **fast))
    low_e = analyze_bag(bag, AnalysisOptions(out=tmp_path / "b", params=params, **fast))
    override = analyze_bag(bag, AnalysisOptions(out=tmp_path / "c", params=params,
                                                overrides={"emissivity": 1.0}, **fast))
    means = [np.mean([float(f["mean_c"]) for f in csv_rows(Path(r.out_dir) / "frames.csv")])
             for r in (plain, low_e, override)]
    # a grey body radiates less than a black one at the same temperature: with emissivity 0.8
    # (reflected 0 C from the file) the same radiance means a warmer object
    assert means[1] > means[0] + 1.0
    assert means[2] == pytest.approx(means[0], abs=0.05)


def test_nuc_file_is_applied(tmp_path):
    from thermal_perception.core.correction.nuc import NucTable

    bag = simulated(tmp_path / "sim", frames=6, truth=False)
    offset_counts = 300.0
    table = NucTable.identity((HEIGHT, WIDTH))
    table.copy(offset=np.full((HEIGHT, WIDTH), offset_counts, np.float32)).save(tmp_path / "nuc")
    NucTable.identity((HEIGHT // 2, WIDTH // 2)).save(tmp_path / "small")
    fast = {"video": False, "bag": False, "report": False, "detector": "none",
            "progress": False}
    plain = analyze_bag(bag, AnalysisOptions(out=tmp_path / "a", **fast))
    nuc = analyze_bag(bag, AnalysisOptions(out=tmp_path / "b", nuc_file=str(tmp_path / "nuc"),
                                           params=REPO / "config" / "thermal_pipeline.yaml",
                                           **fast))
    means = [np.mean([float(f["mean_c"]) for f in csv_rows(Path(r.out_dir) / "frames.csv")])
             for r in (plain, nuc)]
    assert nuc.status == "ok" and means[1] > means[0] + 1.0  # more counts: warmer
    wrong = analyze_bag(bag, AnalysisOptions(out=tmp_path / "c", nuc_file=str(tmp_path / "small"),
                                             **fast))
    assert wrong.status == "failed" and "NUC table" in " ".join(wrong.errors)
    missing = analyze_bag(bag, AnalysisOptions(out=tmp_path / "d", nuc_file="/nonexistent",
                                               **fast))
    assert missing.status == "failed" and "nonexistent" in " ".join(missing.errors)


def test_params_loader_reads_the_processor_node(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters: {use_sim_time: false, emissivity: 0.9}\n"
                      "/**/driver:\n  ros__parameters: {emissivity: 0.1}\n"
                      "/thermal/processor:\n  ros__parameters: {distance_m: 30, colour: red}\n")
    values, warnings = load_processor_params(params)
    assert values["emissivity"] == 0.9 and values["distance_m"] == 30.0
    assert any("colour" in w for w in warnings)
    params.write_text("processor:\n  ros__parameters: {emissivity: high}\n")
    with pytest.raises(ValueError, match="emissivity"):
        load_processor_params(params)


# -- batches ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_bags(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleet")
    for i, storage in enumerate(("sqlite3", "mcap", "sqlite3")):
        simulated(folder / "bags" / f"flight{i}", frames=12, storage=storage, truth=False)
    return folder / "bags"


def _check_batch(results, out: Path) -> None:
    assert [Path(r.bag).name for r in results] == ["flight0", "flight1", "flight2"]
    assert all(r.status == "ok" and r.frames == 12 for r in results), \
        [(r.status, r.errors) for r in results]
    summary = json.loads((out / "batch_summary.json").read_text())
    assert [s["status"] for s in summary] == ["ok"] * 3
    assert all((out / f"flight{i}" / "summary.json").exists() for i in range(3))


def test_batch_of_bags_in_parallel_processes(three_bags, tmp_path):
    assert len(find_bags([three_bags])) == 3
    options = AnalysisOptions(out=tmp_path / "out", video=False, bag=False, detector="none",
                              progress=False)
    _check_batch(analyze_many([three_bags], options, workers=2), tmp_path / "out")


def test_batch_as_local_ray_tasks(three_bags, tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'ray>=2.9')")
    options = AnalysisOptions(out=tmp_path / "out", video=False, bag=False, report=False,
                              detector="none", progress=False)
    _check_batch(analyze_many([three_bags], options, workers=2, ray_address="local"),
                 tmp_path / "out")


def test_command_line_options(tmp_path):
    parser = argparse.ArgumentParser()
    add_analyze_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["analyze", "a", "b", "--out", str(tmp_path), "-p",
                              "emissivity=0.95", "-p", "detector.fire_c=120", "--no-video",
                              "--no-bag", "--workers", "2", "--detect-every", "3"])
    assert args.func is run_analyze and args.bags == ["a", "b"] and args.workers == 2
    from thermal_perception.analysis.command import options_from_args

    options = options_from_args(args)
    assert options.overrides == {"emissivity": 0.95}
    assert options.detector_overrides == {"fire_c": 120}
    bad = parser.parse_args(["analyze", "a", "-p", "driver.rate_hz=5"])
    with pytest.raises(ValueError, match="-p expects"):
        options_from_args(bad)
    assert (options.video, options.bag, options.detect_every) == (False, False, 3)


def test_detect_every_auto_is_a_detection_rate():
    """--detect-every auto: about 5 detections per second whatever the camera's rate."""
    assert [detect_every_for(hz) for hz in (30.0, 60.0, 9.0, 8.7, 25.0, 4.0, 2.0)] == \
        [6, 12, 2, 2, 5, 1, 1]
    assert detect_every_for(float("nan")) == detect_every_for(0.0) == 1
    parser = argparse.ArgumentParser()
    add_analyze_parser(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["analyze", "a"]).detect_every is None  # the default: auto
    assert parser.parse_args(["analyze", "a", "--detect-every", "AUTO"]).detect_every is None
    for bad in ("0", "-2", "often"):
        with pytest.raises(SystemExit):
            parser.parse_args(["analyze", "a", "--detect-every", bad])


@pytest.mark.skipif(not core_detection_available(),
                    reason="thermal_perception.core.detection.warm_body is not available yet")
def test_detect_every_auto_follows_the_bags_frame_rate(tmp_path):
    bag = tmp_path / "sim"
    simulate_to_bag(SimulationOptions(out=bag, frames=13, width=WIDTH, height=HEIGHT,
                                      rate_hz=30.0, truth=False), progress=False)
    r = analyze_bag(bag, AnalysisOptions(out=tmp_path / "out", video=False, bag=False,
                                         report=False, progress=False, detect_every=None,
                                         altitude_m=40.0))
    assert r.status == "ok", r.errors
    assert "on one frame in 6 (tracks predicted" in r.detection_note


# -- detection and statistics ---------------------------------------------------------------------


@pytest.mark.skipif(not core_detection_available(),
                    reason="thermal_perception.core.detection.warm_body is not available yet")
def test_core_detectors_are_used_when_available(tmp_path):
    """Configured like the live detector node: the uav_sar parameters give the altitude."""
    bag = simulated(tmp_path / "sim", frames=8, truth=False)
    fast = {"video": False, "bag": False, "report": False, "progress": False}
    r = analyze_bag(bag, AnalysisOptions(out=tmp_path / "a", params=REPO / "config" /
                                         "uav_sar.yaml", **fast))
    assert r.status == "ok", r.errors
    assert "WarmBodyDetector" in r.detection_note and "Tracker" in r.detection_note
    assert not any("ground sample distance" in w for w in r.warnings)
    r = analyze_bag(bag, AnalysisOptions(out=tmp_path / "b", track=False, **fast))
    assert r.status == "ok" and "Tracker" not in r.detection_note
    assert any("ground sample distance unknown" in w for w in r.warnings)


def test_without_detector_detection_outputs_are_empty(tmp_path):
    bag = simulated(tmp_path / "sim", frames=6, truth=False)
    r = analyze_bag(bag, AnalysisOptions(out=tmp_path / "out", video=False, detector="none",
                                         progress=False))
    assert r.status == "ok" and r.detections == 0
    assert csv_rows(Path(r.out_dir) / "detections.csv") == []
    arrays = read_topics(Path(r.out_dir) / "processed_bag")["/thermal/detections"]
    assert len(arrays) == 6 and all(len(a.detections) == 0 for a in arrays)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 40),
       st.integers(0, 65535), st.integers(0, 4000))
def test_statistics_from_the_counts_histogram_are_exact(seed, height, width, low, span):
    rng = np.random.default_rng(seed)
    counts = rng.integers(low, min(low + span, 65535) + 1, (height, width)).astype(np.uint16)
    lo, hi = count_range(counts)
    assert np.array_equal(count_histogram(counts, lo, hi),
                          np.bincount(counts.ravel(), minlength=65536)[lo:hi + 1])
    lut = np.linspace(-40.0, 400.0, 65536).astype(np.float32)
    lut[:100] = np.nan
    stats = SequenceStatistics(lut).from_counts(counts)
    t = lut[counts]
    valid = t[np.isfinite(t)]
    assert stats.invalid_fraction == pytest.approx(1.0 - valid.size / t.size)
    if valid.size:
        assert (stats.min_c, stats.max_c) == (valid.min(), valid.max())
        assert stats.mean_c == pytest.approx(valid.mean(dtype=np.float64), rel=1e-9, abs=1e-9)
        assert stats.p99_c == np.percentile(valid, 99, method="inverted_cdf")
    else:
        assert math.isnan(stats.mean_c)


def test_ros1_bag_is_analysed(tmp_path):
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    profile = get_profile("boson640").with_size(WIDTH, HEIGHT)
    sim = ThermalSimulator(profile, "uav_sar", seed=0)
    path = tmp_path / "flight.bag"
    image_type = "sensor_msgs/msg/Image"
    with Writer(path) as writer:
        conn = writer.add_connection("/thermal/image_raw", image_type, typestore=store)
        for i in range(6):
            stamp = START_NS + round(i / RATE_HZ * messages.NS_PER_S)
            counts = sim.counts(i / RATE_HZ)
            time_msg = store.types["builtin_interfaces/msg/Time"](
                sec=stamp // messages.NS_PER_S, nanosec=stamp % messages.NS_PER_S)
            msg = store.types[image_type](
                header=store.types["std_msgs/msg/Header"](seq=i, stamp=time_msg,
                                                          frame_id=FRAME_ID),
                height=HEIGHT, width=WIDTH, encoding="mono16", is_bigendian=0, step=WIDTH * 2,
                data=counts.view(np.uint8).reshape(-1))
            writer.write(conn, stamp, store.serialize_ros1(msg, image_type))
    r = analyze_bag(path, AnalysisOptions(out=tmp_path / "out", video=False, detector="none",
                                          progress=False))
    assert r.status == "ok", r.errors
    assert (r.storage, r.frames) == ("ros1", 6)
    processed = read_topics(Path(r.out_dir) / "processed_bag")
    assert len(processed["/thermal/image_raw"]) == 6
    assert len(processed["/thermal/image_temperature"]) == 6


def test_bare_storage_file_without_metadata(tmp_path):
    bag = simulated(tmp_path / "sim", frames=8, storage="mcap", truth=False)
    (mcap,) = bag.glob("*.mcap")
    single = shutil.copy(mcap, tmp_path / "lonely.mcap")
    r = analyze_bag(single, AnalysisOptions(out=tmp_path / "out", video=False, detector="none",
                                            progress=False))
    assert r.status == "ok", r.errors
    assert r.frames == 8 and Path(r.out_dir).name == "lonely"


def test_ego_motion_follows_the_scene():
    from thermal_perception.analysis.detect import EgoMotion

    rng = np.random.default_rng(1)
    scene = cv2.GaussianBlur(rng.random((HEIGHT * 2, WIDTH * 2)).astype(np.float32), (0, 0), 4)
    ego = EgoMotion()
    assert ego.update(scene[:HEIGHT, :WIDTH]) == (0.0, 0.0)
    dx, dy = 8, 4  # the camera moves right and down: the scene moves left and up
    dx_est, dy_est = ego.update(scene[dy:dy + HEIGHT, dx:dx + WIDTH])
    assert dx_est == pytest.approx(-dx, abs=1.0) and dy_est == pytest.approx(-dy, abs=1.0)


def test_emissivity_map_and_rois_from_the_parameters(tmp_path):
    bag = simulated(tmp_path / "sim", frames=6, truth=False)
    emissivity = tmp_path / "emissivity.npy"
    np.save(emissivity, np.full((HEIGHT, WIDTH), 0.8, np.float32))
    params = tmp_path / "params.yaml"
    params.write_text("processor:\n  ros__parameters:\n"
                      f"    emissivity_map_file: {emissivity}\n"
                      "    reflected_temperature_c: 0.0\n"
                      "    rois: ['box field 10 10 60 50 above=0', 'spot centre 80 64 3']\n")
    fast = {"bag": False, "report": False, "detector": "none", "progress": False}
    plain = analyze_bag(bag, AnalysisOptions(out=tmp_path / "a", video=False, **fast))
    mapped = analyze_bag(bag, AnalysisOptions(out=tmp_path / "b", params=params, **fast))
    assert mapped.status == "ok", mapped.errors
    frames = [csv_rows(Path(r.out_dir) / "frames.csv") for r in (plain, mapped)]
    assert all(float(b["mean_c"]) > float(a["mean_c"]) + 1.0
               for a, b in zip(*frames, strict=True))
    rois = csv_rows(Path(mapped.out_dir) / "rois.csv")
    assert len(rois) == 2 * 6 and {r["roi"] for r in rois} == {"field", "centre"}
    assert {r["alarm_state"] for r in rois if r["roi"] == "field"} == {"alarm"}
    assert (Path(mapped.out_dir) / "video.mp4").exists()


def test_parquet_tables_when_pyarrow_is_installed(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is optional and not installed")
    bag = simulated(tmp_path / "sim", frames=4, truth=False)
    r = analyze_bag(bag, AnalysisOptions(out=tmp_path / "out", video=False, bag=False,
                                         report=False, detector="none", progress=False))
    assert pq.read_table(Path(r.out_dir) / "frames.parquet").num_rows == 4


def test_backend_advice_follows_the_recordings_source(tmp_path):
    """A simulator's bag analysed with the warm-body backend gets no advice; with the learned
    model it is told that the model finds few of the simulator's people (a real recording
    with warm_body: test_recording_formats)."""
    bag = simulated(tmp_path / "sim", frames=4, truth=False)
    fast = {"video": False, "bag": False, "report": False, "progress": False,
            "detect_worker": "thread"}
    warm = analyze_bag(bag, AnalysisOptions(out=tmp_path / "a", **fast))
    assert not any("people_detector" in w for w in warm.warnings), warm.warnings
    model = analyze_bag(bag, AnalysisOptions(out=tmp_path / "b", **fast, detector_overrides={
        "people_detector": "model"}))
    assert any(w.startswith("people_detector 'model' on the simulator's frames")
               for w in model.warnings), model.warnings
