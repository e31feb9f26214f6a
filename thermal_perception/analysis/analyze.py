"""``thermal-perception analyze``: offline analysis of recorded bags, without ROS.

For each bag: find the raw thermal topic (mono16/16UC1 ``sensor_msgs/Image``, preferring names
ending in ``image_raw``) and its ThermalStatus topic, run the processor node's chain with the
processor's parameters (bad pixels, NUC, flat-field corrections from shutter frames, FPA
drift, radiometry), detection and tracking when available, and write into ``OUT/<bag name>/``:

* ``processed_bag/``: every original message unchanged plus ``<ns>/image_temperature``
  (32FC1, deg C), ``<ns>/image_display`` (bgr8) and ``<ns>/detections``
  (ThermalDetectionArray), with the raw frames' stamps (``--no-bag`` skips it);
* ``frames.csv`` (one row per raw frame) and ``detections.csv`` (one row per detection), and
  Parquet copies when pyarrow is installed;
* ``detections.geojson`` and ``detections.kml`` when the bag has a sensor_msgs/NavSatFix topic:
  detections placed on the ground when the bag also has a sensor_msgs/Imu topic (orientation
  of ``base_link`` in ENU, REP 145) and the camera's camera_info (see :meth:`BagAnalysis.
  _ground_positions`), else at the platform's fix;
* ``video.mp4``: the colourised stream with detection boxes (``--no-video`` skips it);
* ``report.html`` (self-contained) and ``summary.json``.

Damaged bags are read up to the damage; the outputs then cover the frames read and the bag's
status is "partial". Several bags (or folders of bags) run in parallel processes
(``--workers``) or as Ray tasks (``--ray``).
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
import traceback
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from thermal_perception.analysis.bag_reading import BagReadError, BagSource, Topic, open_bag
from thermal_perception.analysis.bag_writing import ProcessedBagWriter, SerialWorker
from thermal_perception.analysis.detect import (
    DetectionRecord,
)
from thermal_perception.analysis.detect_stage import DetectStage, detect_every_for
from thermal_perception.analysis.options import (
    MAX_LISTED_ERRORS,
    NS_PER_S,
    READER_POLL_S,
    STATUS_FAILED,
    AnalysisOptions,
    BagResult,
)
from thermal_perception.analysis.output_stage import OutputStage
from thermal_perception.analysis.outputs import (
    STATE_PROCESSED,
    STATE_REJECTED,
    STATE_SHUTTER,
    FrameRow,
    GpsTrack,
    ImuTrack,
    VideoOutput,
)
from thermal_perception.analysis.process_stage import ProcessStage
from thermal_perception.analysis.read_stage import END_OF_BAG, ReadStage, bag_name, is_bag
from thermal_perception.analysis.stats import SequenceStatistics
from thermal_perception.core.fusion.frames import TransformTree


class BagAnalysis(ReadStage, ProcessStage, DetectStage, OutputStage):
    """One bag's analysis (see :func:`analyze_bag`): its state, and :meth:`run`, which wires the
    stages: reading thread -> processing (this thread) -> detection -> outputs."""

    def __init__(self, bag: Path, options: AnalysisOptions, name: str | None) -> None:
        self.bag = bag
        self.options = options
        self.out_dir = Path(options.out) / (name or bag_name(bag))
        self.result = BagResult(bag=str(bag), out_dir=str(self.out_dir))
        self.rows: list[FrameRow] = []
        self.detections: list[tuple[int, DetectionRecord]] = []
        self.roi_rows: list[tuple[Any, ...]] = []
        self.gps = GpsTrack()
        self.imu = ImuTrack()
        self.camera_info: Any = None  # the first camera_info message
        self.imu_topic: Topic | None = None
        self.tf_topics: list[Topic] = []  # /tf_static and /tf
        self.transforms = TransformTree()  # the bag's transform tree
        self.imu_frame = ""  # frame_id of the first IMU message with an orientation
        self.camera_frame = ""  # frame_id of the first raw thermal frame
        self.errors: list[str] = []
        self.error_count = 0
        self.stop = threading.Event()
        self.source: BagSource | None = None
        self.bag_writer: ProcessedBagWriter | None = None
        self.video: VideoOutput | None = None
        self.outputs_worker: SerialWorker | None = None
        self.measure_worker: SerialWorker | None = None
        self.counts_pool: queue.Queue = queue.Queue()
        self.temperature_pool: queue.Queue = queue.Queue()
        self.pool_sizes: dict[int, int] = {}
        self.last_detect_ns: int | None = None
        self.detect_process: Any = None  # DetectionProcess when detection runs in a process
        self.pending: deque = deque()  # frames waiting for the process' detections, in order
        self.tracked: list[Any] = []  # tracks of the last resolved detection frame
        self.max_pending = 0
        self.warned_gsd = False
        self.focal_px = math.nan  # from the camera_info topic
        self.altitude_now_m = math.nan  # latest value of the altitude topic
        self.info_topic: Topic | None = None
        self.altitude_topic: Topic | None = None
        self.stats: SequenceStatistics | None = None
        self.camera_profile_seen = ""
        self.frame_source_seen = ""  # the first status message's source ("simulator", ...)

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(text)

    def _process(self, frames: queue.Queue, bar: tqdm) -> None:
        """Correction stage: mirrors the processor node's handling of shutter frames (FFC),
        FPA temperature and rejected frames, then hands the corrected counts on."""
        chain = self.chain
        skip_shutter = self.values["skip_shutter_frames"]
        ffc_pending: Any = None
        last_stamp: int | None = None
        first_stamp: int | None = None
        processed = 0
        while (frame := frames.get()) is not END_OF_BAG:
            started = time.perf_counter()
            index = len(self.rows)
            first_stamp = frame.stamp_ns if first_stamp is None else first_stamp
            status = frame.status
            fpa_c = float(status.fpa_temperature_c) if status is not None else math.nan
            if index == 0 and self.corrections is not None and not self.values["camera_serial"]:
                serial = getattr(status, "camera_serial", "") if status is not None else ""
                if serial:  # before any frame is measured
                    self._use_correction(str(serial))
            row = FrameRow(index, frame.stamp_ns, (frame.stamp_ns - first_stamp) / NS_PER_S,
                           STATE_PROCESSED, 0, chain.state.ffc_count, fpa_c,
                           bad_pixels=chain.state.bad_pixel_count)
            self.rows.append(row)
            bar.update(1)
            if frame.counts is None:
                row.state = STATE_REJECTED
                self.error(f"frame {index} (stamp {frame.stamp_ns}) rejected: {frame.error}")
                continue
            counts = frame.counts
            if not self.result.width:
                self.result.height, self.result.width = counts.shape
            if status is not None and status.shutter_closed:
                chain.shutter_frame(counts)  # the shutter is the FFC's reference
                ffc_pending = status
                if skip_shutter:
                    row.state = STATE_SHUTTER
                    continue
            elif ffc_pending is not None:
                shutter, ffc_pending = ffc_pending, None
                row.ffc_applied = int(chain.finish_ffc(float(shutter.housing_temperature_c),
                                                       float(shutter.fpa_temperature_c)))
            dt_s = 0.0 if last_stamp is None else (frame.stamp_ns - last_stamp) / NS_PER_S
            last_stamp = frame.stamp_ns
            try:
                corrected = chain.corrected_counts(counts, fpa_c, dt_s)
            except ValueError as exc:  # e.g. a NUC table for another image size
                row.state = STATE_REJECTED
                self.error(f"frame {index} rejected: {exc}")
                continue
            row.ffc_count, row.bad_pixels = chain.state.ffc_count, chain.state.bad_pixel_count
            owned = self._pooled(self.counts_pool, corrected.shape, np.uint16)
            np.copyto(owned, corrected)
            detect = self.detector is not None and processed % self.detect_every == 0
            processed += 1
            row.processing_ms = (time.perf_counter() - started) * 1e3
            self._check_workers()
            self.measure_worker.submit(self._measure, owned, row, frame, detect)

    def run(self) -> BagResult:
        started = time.perf_counter()
        r = self.result
        self.out_dir.mkdir(parents=True, exist_ok=True)
        loop_started = started
        cpu_started = time.process_time()
        interrupted = False
        try:
            self._setup_processing()
            self.source = source = open_bag(self.bag)
            self._setup_topics(source)
            if self.options.detect_every is None:  # auto: from the image topic's rate
                every = detect_every_for(self._frame_rate_hz(source))
                if every != self.detect_every:
                    self._make_detector(every)
            source.messages_read = 0  # topic discovery peeked at a few messages
            self._setup_outputs(source)
            frames: queue.Queue = queue.Queue(self.options.backlog)
            reader = threading.Thread(target=self._read, args=(source, frames),
                                      name="bag-reader", daemon=True)
            recorded = source.recorded_count(self.raw_topic)
            if recorded and self.options.max_frames is not None:
                recorded = min(recorded, self.options.max_frames)
            self.result.frames_recorded = recorded
            self._start_detect_process(recorded)
            total = recorded or None
            loop_started = time.perf_counter()
            cpu_started = time.process_time()
            reader.start()
            with tqdm(total=total, desc=self.out_dir.name, unit="frame",
                      disable=not self.options.progress, leave=False) as bar:
                try:
                    self._process(frames, bar)
                finally:
                    self.stop.set()
                    while reader.is_alive():  # unblock the reader, then let it end
                        with contextlib.suppress(queue.Empty):
                            frames.get(timeout=READER_POLL_S)
                    reader.join()
        except KeyboardInterrupt:
            interrupted = True
            self.error("interrupted: outputs cover the frames processed so far")
        except (BagReadError, ValueError, OSError, RuntimeError) as exc:
            self.error(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug must not lose the results computed so far
            self.error(f"internal error: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        try:  # a Ctrl-C from here on must not leave the detection process behind either
            self._close_outputs()
            r.loop_s = time.perf_counter() - loop_started
            r.loop_cpu_s = time.process_time() - cpu_started
            self._finish(started)
        finally:
            if self.detect_process is not None:
                self.detect_process.close()
        if interrupted:
            raise KeyboardInterrupt
        return r


def analyze_bag(bag: str | Path, options: AnalysisOptions | None = None,
                name: str | None = None) -> BagResult:
    """Analyse one bag into ``options.out/<name or bag name>/`` (see the module docstring).
    A recording that is not a bag (.cptv, FLIR .seq, a folder of 16-bit frames...) is read
    through a temporary bag of the driver's topics (:mod:`thermal_perception.io.recording_bag`);
    its ``radiometry.yaml`` sets the processor's radiometric model unless ``overrides`` do.

    Never raises for a bad bag: problems are in the result's ``errors`` and ``status``."""
    from thermal_perception.io.recording_bag import is_recording

    path, options = Path(bag), options or AnalysisOptions()
    if not is_bag(path) and is_recording(path):
        return _analyze_recording(path, options, name)
    return BagAnalysis(path, options, name).run()


def _analyze_recording(path: Path, options: AnalysisOptions, name: str | None) -> BagResult:
    import tempfile

    from thermal_perception.io.recording_bag import recording_to_bag

    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".recording-", dir=out) as tmp:
        try:
            converted = recording_to_bag(path, Path(tmp) / "bag", limit=options.max_frames,
                                         progress=options.progress)
        except (ValueError, OSError, RuntimeError) as exc:
            failed = BagResult(bag=str(path), out_dir=str(out / (name or bag_name(path))),
                               status=STATUS_FAILED)
            failed.errors.append(f"{type(exc).__name__}: {exc}")
            return failed
        notes = [f"read {path} through a temporary bag ({converted.frames} frames, "
                 f"{converted.width}x{converted.height}, {converted.rate_hz:.1f} Hz"
                 f"{'' if converted.stamped else ', stamps made up: none recorded'})"]
        if converted.radiometry is not None and "radiometric_model" not in options.overrides:
            options = replace(options, overrides={
                **converted.radiometry.processor_parameters(), **options.overrides})
            notes.append(f"radiometric model {converted.radiometry.model} from the "
                         "recording's radiometry.yaml")
        result = BagAnalysis(converted.bag, options, name or bag_name(path)).run()
    result.bag = str(path)
    result.warnings[:0] = notes
    return result


__all__ = ["BagAnalysis", "analyze_bag"]
