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
  of ``base_link`` in ENU, REP 145) and the camera's camera_info (see :meth:`_BagAnalysis.
  _ground_positions`), else at the platform's fix;
* ``video.mp4``: the colourised stream with detection boxes (``--no-video`` skips it);
* ``report.html`` (self-contained) and ``summary.json``.

Damaged bags are read up to the damage; the outputs then cover the frames read and the bag's
status is "partial". Several bags (or folders of bags) run in parallel processes
(``--workers``) or as Ray tasks (``--ray``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import sys
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from thermal_perception.analysis.bagio import (
    STORAGE_SUFFIXES,
    BagReadError,
    BagSource,
    ProcessedBagWriter,
    SerialWorker,
    Topic,
    atomic_write_text,
    open_bag,
)
from thermal_perception.analysis.detect import (
    AUTO,
    NONE,
    CoreDetector,
    DetectionRecord,
    Detector,
    EgoMotion,
    detections_message,
    make_detector,
    predict_tracks,
)
from thermal_perception.analysis.outputs import (
    FRAME_COLUMNS,
    STATE_PROCESSED,
    STATE_REJECTED,
    STATE_SHUTTER,
    FrameRow,
    GpsTrack,
    ImuTrack,
    VideoOutput,
    detection_columns,
    detection_rows,
    draw_detections,
    write_csv,
    write_geojson,
    write_kml,
    write_parquet,
)
from thermal_perception.analysis.stats import FrameStats, SequenceStatistics
from thermal_perception.io.messages import header_ns

NS_PER_S = 1_000_000_000
IMAGE_TYPE = "sensor_msgs/msg/Image"
STATUS_TYPE = "thermal_perception/msg/ThermalStatus"
NAVSATFIX_TYPE = "sensor_msgs/msg/NavSatFix"
IMU_TYPE = "sensor_msgs/msg/Imu"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
FLOAT64_TYPE = "std_msgs/msg/Float64"
ALTITUDE_NAME = "altitude"  # the detector node's altitude topic (m above ground)
DETECTIONS_TYPE = "thermal_perception/msg/ThermalDetectionArray"
RAW_ENCODINGS = ("mono16", "16UC1")
RAW_SUFFIX = "image_raw"
OUTPUT_NAMES = ("image_temperature", "image_display", "detections")
ALT_NAMESPACE = "analysis"  # used when the bag already has the output topics
STATUS_MEMORY = 64  # statuses kept for matching frames (as the processor node)
NAVSAT_NO_FIX = -1  # sensor_msgs/NavSatStatus.STATUS_NO_FIX
MAX_LISTED_ERRORS = 20  # errors listed per bag; the rest are counted
STATUS_OK, STATUS_PARTIAL, STATUS_FAILED = "ok", "partial", "failed"
EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 2
HISTOGRAM_BINS = 100
READER_POLL_S = 0.05  # how often blocked threads look for a stop or an error, s
# The command's --detect-every auto: detection (~6.5 ms per 640x512 frame) on every frame
# makes the analysis ~5x real time on two cores; at 5 Hz (every 6th frame at 30 Hz, every 2nd
# at 9 Hz, tracks predicted between) the work per second of recording is the same for every
# camera rate, and people walking at 1.5 m/s move 0.3 m between detections.
DEFAULT_DETECT_HZ = 5.0
# --detect-worker auto: detection in a worker process (about 0.8 s to start) for bags of at
# least this many frames, on a thread of the analysis for shorter ones.
PROCESS_MIN_FRAMES = 900
DETECT_WORKERS = ("auto", "process", "thread")


@dataclass
class AnalysisOptions:
    """What :func:`analyze_bag` does.

    out : output root; each bag writes into ``out/<bag name>/``.
    topic : raw image topic (None: found automatically).
    params : ROS 2 parameters YAML; its ``processor`` node's ``ros__parameters`` are used.
    overrides : processor parameters replacing the file's (e.g. ``{"emissivity": 0.95}``).
    detector_overrides : detector node parameters replacing the file's (``{"fire_c": 120.0}``).
    nuc_file : NUC table replacing the parameters' ``nuc_file`` (None: keep).
    video, bag : write video.mp4 / processed_bag/ (the expensive outputs).
    report : write report.html (about a second of plotting per bag).
    storage : processed bag storage, "same" (as the input; sqlite3 for ROS 1), "sqlite3" or
        "mcap".
    bag_compression : "zstd" (MCAP: zstd chunks; SQLite: zstd per message, as rosbag2's
        message mode) or "none".
    detector : "auto", "none" or "MODULE:FACTORY" (see :mod:`.detect`).
    track : track detections (only confirmed tracks are reported); False overrides the
        detector parameter ``tracking``.
    detect_every : run detection on every N-th processed frame; None: at about
        :data:`DEFAULT_DETECT_HZ` from the image topic's frame rate (detection is the slowest
        stage); the others get the tracks of the last detection frame moved on at their image
        velocity (the core detector with tracking), else no detections.
    gsd_m : ground sample distance, m/pixel, for the detectors' sizes (None: as the detector
        node: its gsd_m, else its altitude_m or the bag's ``<ns>/altitude`` topic with the
        focal length of ``<ns>/camera_info`` (or the camera profile)).
    altitude_m : height above ground, m, replacing the detector parameter and topic.
    ground_altitude_m : height of the (flat) ground above the WGS84 ellipsoid, m, for placing
        detections on the ground (None: the first GPS fix's altitude minus
        ``takeoff_height_m``, i.e. the recording starts at that height above the ground).
    takeoff_height_m : height of the GPS antenna above the ground at the first fix, m.
    camera_mount : pose of the thermal camera's optical frame in ``base_link`` (the IMU's
        frame), [x, y, z, roll, pitch, yaw] in m and rad, fixed axes as URDF (None: looking
        straight down, image top forward, at base_link's origin).
    ego_motion : estimate the camera's image motion for the tracker (phase correlation; the
        live detector node does not).
    detect_worker : where the core detector and tracker run: "process" (a worker process fed
        through shared memory, see :mod:`.detect_process`; the thread when it cannot start),
        "thread" (a thread of the analysis) or "auto" (the process for bags of at least
        :data:`PROCESS_MIN_FRAMES` frames). Results are the same.
    max_frames : stop after this many raw frames (None: all).
    progress : show tqdm progress bars.
    backlog : frames buffered between the reading, processing and output threads.
    """

    out: Path = Path("out/analysis")
    topic: str | None = None
    params: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    detector_overrides: dict[str, Any] = field(default_factory=dict)
    nuc_file: str | None = None
    video: bool = True
    bag: bool = True
    report: bool = True
    storage: str = "same"
    bag_compression: str = "zstd"
    detector: str = AUTO
    track: bool = True
    detect_every: int | None = 1
    gsd_m: float | None = None
    altitude_m: float | None = None
    ground_altitude_m: float | None = None
    takeoff_height_m: float = 0.0
    camera_mount: tuple[float, ...] | None = None
    ego_motion: bool = False
    detect_worker: str = "auto"
    max_frames: int | None = None
    progress: bool = True
    backlog: int = 16


@dataclass
class BagResult:
    """Outcome of one bag: status "ok", "partial" (some of the bag could not be read or
    processed; the outputs cover what was) or "failed" (nothing analysed)."""

    bag: str
    out_dir: str
    status: str = STATUS_FAILED
    topic: str = ""
    status_topic: str = ""
    gps_topic: str = ""
    imu_topic: str = ""
    geolocated: int = 0  # detections placed on the ground
    storage: str = ""
    width: int = 0  # of the frames, pixels
    height: int = 0
    frames: int = 0
    frames_recorded: int = 0  # raw frames the bag should hold (0: unknown)
    frames_processed: int = 0
    frames_shutter: int = 0
    frames_rejected: int = 0
    processed_bag_bytes_per_frame: float = 0.0  # on disk, per frame processed
    ffc_count: int = 0
    detections: int = 0
    detection_note: str = ""
    temperature_correction: str = ""  # per-camera correction applied, or why none
    duration_s: float = 0.0
    wall_s: float = 0.0
    loop_s: float = 0.0  # reading the first frame to the last output written, s
    loop_cpu_s: float = 0.0  # CPU time of all threads in that time, s
    fps: float = 0.0
    realtime_factor: float = 0.0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Frame:
    """A raw frame on its way from the reading thread."""

    bag_ns: int
    stamp_ns: int
    frame_id: str
    counts: NDArray[np.uint16] | None
    status: Any = None
    error: str = ""
    altitude_m: float = math.nan  # latest altitude topic value when the frame was read


_END = object()


# -- discovery --------------------------------------------------------------------------------


def detect_every_for(rate_hz: float, detect_hz: float = DEFAULT_DETECT_HZ) -> int:
    """Detection on every N-th frame of a ``rate_hz`` stream for about ``detect_hz``
    detections per second (at least every frame; N = 1 for an unknown rate)."""
    if not (math.isfinite(rate_hz) and rate_hz > 0 and detect_hz > 0):
        return 1
    return max(1, round(rate_hz / detect_hz))


def _peek_encoding(source: BagSource, topic: Topic) -> str:
    """Encoding of the first message of an image topic ("" if none could be read)."""
    for _, _, data in source.messages([topic]):
        try:
            return str(source.deserialize(data, topic.msgtype).encoding)
        except Exception:
            return ""
    return ""


def find_raw_topic(source: BagSource, topic: str | None) -> Topic:
    """The raw thermal image topic: ``topic``, or the only mono16/16UC1 image topic (names
    ending in image_raw preferred). Raises ValueError when there is none or a choice."""
    images = [t for t in source.topics if t.msgtype == IMAGE_TYPE]
    if topic is not None:
        chosen = [t for t in images if t.topic == topic]
        if not chosen:
            raise ValueError(f"no sensor_msgs/Image topic {topic!r}; image topics: "
                             f"{sorted(t.topic for t in images)}")
        return chosen[0]
    if not images:
        raise ValueError("the bag has no sensor_msgs/Image topic")
    raw = [t for t in images if _peek_encoding(source, t) in RAW_ENCODINGS]
    if not raw:
        raise ValueError(f"no mono16/16UC1 image topic among {sorted(t.topic for t in images)}")
    preferred = [t for t in raw if t.topic.endswith(RAW_SUFFIX)] or raw
    if len(preferred) > 1:
        raise ValueError(f"several raw image topics, choose one with --topic: "
                         f"{sorted(t.topic for t in preferred)}")
    return preferred[0]


def _namespace(topic: str) -> str:
    """Namespace of a topic ('/thermal/image_raw' -> '/thermal', '/image_raw' -> '')."""
    return topic.rsplit("/", 1)[0] if "/" in topic.strip("/") else ""


def _pick_same_namespace(candidates: list[Topic], namespace: str) -> Topic | None:
    if not candidates:
        return None
    same = [t for t in candidates if _namespace(t.topic) == namespace]
    return (same or candidates)[0]


def output_topics(source: BagSource, namespace: str) -> dict[str, str]:
    """Names of the analysis topics: ``<ns>/<name>``, or ``<ns>/analysis/<name>`` when the
    bag already has one of them."""
    existing = {t.topic for t in source.topics}
    names = {n: f"{namespace}/{n}" for n in OUTPUT_NAMES}
    if existing & set(names.values()):
        names = {n: f"{namespace}/{ALT_NAMESPACE}/{n}" for n in OUTPUT_NAMES}
    return names


def bag_name(path: Path) -> str:
    """Output folder name of a bag: the folder name, or the file name without suffix."""
    return path.stem if path.is_file() or path.suffix in (".bag", *STORAGE_SUFFIXES) \
        else path.name


# -- one bag ----------------------------------------------------------------------------------


class _BagAnalysis:
    """State of one bag's analysis (see :func:`analyze_bag`)."""

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

    # -- errors -------------------------------------------------------------------------------

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(text)

    # -- setup --------------------------------------------------------------------------------

    def _setup_processing(self) -> None:
        from thermal_perception.analysis.params import (
            chain_from,
            converter_from,
            corrections_from,
            load_detector_params,
            load_processor_params,
            renderer_from,
        )
        from thermal_perception.core.measure import AlarmMonitor, RoiSet
        from thermal_perception.core.physics import BandRadianceTable
        from thermal_perception.core.physics.camera import get_profile
        from thermal_perception.io.frames import load_emissivity_map

        o = self.options
        overrides = dict(o.overrides)
        if o.nuc_file is not None:
            overrides["nuc_file"] = str(o.nuc_file)
        self.values, warnings = load_processor_params(o.params, overrides)
        self.result.warnings += warnings
        self.profile = get_profile(self.values["camera_profile"])
        table = BandRadianceTable(self.profile.band_m)
        self.converter = converter_from(self.values, self.profile, table)
        self.chain = chain_from(self.values, self.profile, self.converter)
        self.emissivity_map = load_emissivity_map(self.values["emissivity_map_file"]) \
            if self.values["emissivity_map_file"] else None
        self.renderer = renderer_from(self.values)
        self.rois = RoiSet.from_strings(self.values["rois"])
        self.alarms = AlarmMonitor(self.rois)
        self.corrections = corrections_from(self.values)
        self._use_correction("")  # the bag's camera serial, if any, at the first frame
        self.detector: Detector | None
        detector_overrides = dict(o.detector_overrides)
        if not o.track:
            detector_overrides["tracking"] = False
        self.detector_values, warnings = load_detector_params(o.params, detector_overrides)
        if o.detector == AUTO:
            self.result.warnings += warnings
        if o.detect_every is not None and o.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1 or None (auto), got {o.detect_every}")
        if o.detect_worker not in DETECT_WORKERS:
            raise ValueError(f"detect_worker must be one of {DETECT_WORKERS}, got "
                             f"{o.detect_worker!r}")
        # auto: made again for the image topic's rate once the bag is open
        self._make_detector(o.detect_every or 1)
        if o.camera_mount is not None and (len(o.camera_mount) != 6 or not all(
                math.isfinite(v) for v in o.camera_mount)):
            raise ValueError("camera_mount needs 6 finite values [x, y, z, roll, pitch, yaw], "
                             f"got {o.camera_mount}")

    def _use_correction(self, status_serial: str) -> None:
        """Choose the per-camera temperature correction as the processor node does (the
        camera_serial parameter, else the serial of the bag's status, else the file's
        default) and the statistics' counts -> temperature table that includes it."""
        from thermal_perception.settings.processor import select_correction

        self.correction, note = select_correction(self.corrections, self.values, status_serial)
        lut = self.converter.lut_c
        if self.correction is not None:
            lut = self.correction.apply(lut.astype(np.float32))
            self.result.temperature_correction = f"{self.correction.describe()}; {note}"
        else:
            self.result.temperature_correction = "" if self.corrections is None else \
                f"none: {note}"
        self.stats = SequenceStatistics(lut)

    def _correct(self, temperature: NDArray[np.float32]) -> None:
        """Apply the temperature correction in place (as the processor node does)."""
        if self.correction is not None and not self.correction.is_identity:
            self.correction.apply(temperature, out=temperature)

    def _make_detector(self, every: int) -> None:
        """The detector (and tracker) for detection on every ``every``-th frame."""
        o = self.options
        self.detect_every = every
        # The tracker's gate is the largest jump between frames: between detection frames,
        # N times that.
        values = {**self.detector_values, "track_gate_px":
                  self.detector_values["track_gate_px"] * every}
        self.detector, self.result.detection_note = make_detector(o.detector, values)
        if self.detector is not None and every > 1:
            self.result.detection_note += f", on one frame in {every}"
            if isinstance(self.detector, CoreDetector) and self.detector.tracking:
                self.result.detection_note += " (tracks predicted on the frames between)"
        self.ego = EgoMotion() if (self.detector is not None and o.ego_motion) else None

    def _gsd(self, frame: _Frame, width: int, height: int) -> float | None:
        """Ground sample distance, m/pixel, as the detector node finds it (None: unknown)."""
        o, v = self.options, self.detector_values
        if o.gsd_m is not None:
            return o.gsd_m
        if v["gsd_m"] > 0:
            return float(v["gsd_m"])
        altitude = o.altitude_m if o.altitude_m is not None else \
            (v["altitude_m"] or frame.altitude_m)
        if not (math.isfinite(altitude) and altitude > 0):
            return None
        focal = self.focal_px if math.isfinite(self.focal_px) else \
            self.profile.with_size(width, height).focal_length_px
        return altitude / focal

    def _setup_topics(self, source: BagSource) -> None:
        o = self.options
        self.raw_topic = find_raw_topic(source, o.topic)
        namespace = _namespace(self.raw_topic.topic)
        status = [t for t in source.topics if t.msgtype == STATUS_TYPE]
        self.status_topic = _pick_same_namespace(status, namespace)
        gps = [t for t in source.topics if t.msgtype == NAVSATFIX_TYPE]
        self.gps_topic = gps[0] if gps else None
        if len(gps) > 1:
            self.result.warnings.append(f"several NavSatFix topics; using {gps[0].topic}")
        self.gps.topic = self.gps_topic.topic if self.gps_topic else ""
        if self.detector is not None:  # what the detector node subscribes besides images
            infos = [t for t in source.topics if t.msgtype == CAMERA_INFO_TYPE]
            self.info_topic = _pick_same_namespace(infos, namespace)
            heights = [t for t in source.topics if t.msgtype == FLOAT64_TYPE
                       and t.topic.rsplit("/", 1)[-1] == ALTITUDE_NAME]
            self.altitude_topic = _pick_same_namespace(heights, namespace)
            imus = [t for t in source.topics if t.msgtype == IMU_TYPE]
            if self.gps_topic is not None and imus:
                self.imu_topic = imus[0]
                self.imu.topic = imus[0].topic
                if len(imus) > 1:
                    self.result.warnings.append(f"several Imu topics; using {imus[0].topic}")
        self.names = output_topics(source, namespace)
        r = self.result
        r.topic = self.raw_topic.topic
        r.status_topic = self.status_topic.topic if self.status_topic else ""
        r.gps_topic = self.gps.topic
        r.imu_topic = self.imu.topic
        r.storage = source.storage
        if not self.status_topic:
            r.warnings.append("no ThermalStatus topic: no FPA temperatures and no shutter "
                              "frames (no flat-field corrections)")

    def _frame_rate_hz(self, source: BagSource) -> float:
        reader = source.reader
        conn = self.raw_topic.key
        count = getattr(conn, "msgcount", 0) if reader is not None else 0
        if reader is not None and count > 1 and reader.duration > 0:
            return float((count - 1) * NS_PER_S / reader.duration)
        return float(self.profile.rate_hz)

    def _setup_outputs(self, source: BagSource) -> None:
        o = self.options
        if o.bag:
            storage = o.storage if o.storage != "same" else (
                source.storage if source.storage in ("sqlite3", "mcap") else "sqlite3")
            self.bag_writer = ProcessedBagWriter(self.out_dir / "processed_bag", storage,
                                                 source, source.topics, o.backlog * 8,
                                                 compression=o.bag_compression)
            self.bag_writer.add_topic(self.names["image_temperature"], IMAGE_TYPE)
            self.bag_writer.add_topic(self.names["image_display"], IMAGE_TYPE)
            self.bag_writer.add_topic(self.names["detections"], DETECTIONS_TYPE)
            self.result.warnings += self.bag_writer.problems
        if o.video:
            self.video = VideoOutput(self.out_dir / "video.mp4", self._frame_rate_hz(source))
        if o.bag or o.video:
            self.outputs_worker = SerialWorker("images", o.backlog)
        self.measure_worker = SerialWorker("measurement", o.backlog)
        # Like the node, compute only what is used: without images to write, ROIs or an
        # emissivity map, the statistics need no temperature image (detection needs one on
        # the frames it runs on).
        self.need_temperature = bool(self.outputs_worker is not None or len(self.rois)
                                     or self.emissivity_map is not None)

    # -- reading thread -----------------------------------------------------------------------

    def _read(self, source: BagSource, frames: queue.Queue) -> None:
        """Reading thread: copies messages to the processed bag, decodes raw frames, matches
        them with their status (a frame waits for its status until the next frame, as in the
        processor node; offline even the first frame waits, since the bag's topics are known)
        and collects GPS fixes."""
        status_at: OrderedDict[int, Any] = OrderedDict()
        waiting: _Frame | None = None
        raw, status_topic, gps_topic = self.raw_topic, self.status_topic, self.gps_topic
        info_topic, altitude_topic = self.info_topic, self.altitude_topic
        imu_topic = self.imu_topic
        wanted = source.topics if self.bag_writer is not None else \
            [t for t in (raw, status_topic, gps_topic, info_topic, altitude_topic, imu_topic)
             if t is not None]
        copy = self.bag_writer.copy if self.bag_writer is not None else None
        limit = self.options.max_frames
        read = 0
        try:
            for topic, bag_ns, data in source.messages(wanted):
                if self.stop.is_set():
                    break
                if copy is not None:
                    copy(topic, bag_ns, data)
                if topic is raw:
                    if limit is not None and read >= limit:
                        break
                    read += 1
                    frame = self._decode(source, bag_ns, data)
                    frame.altitude_m = self.altitude_now_m
                    if waiting is not None:  # its status never came: a scene frame
                        frames.put(waiting)
                        waiting = None
                    if status_topic is not None and frame.stamp_ns not in status_at:
                        waiting = frame
                        continue
                    frame.status = status_at.get(frame.stamp_ns)
                    frames.put(frame)
                elif topic is status_topic:
                    msg = self._deserialize(source, topic, bag_ns, data)
                    if msg is None:
                        continue
                    stamp = header_ns(msg.header)
                    status_at[stamp] = msg
                    while len(status_at) > STATUS_MEMORY:
                        status_at.popitem(last=False)
                    if not self.camera_profile_seen:
                        self.camera_profile_seen = str(getattr(msg, "camera_profile", ""))
                    if waiting is not None and waiting.stamp_ns == stamp:
                        waiting.status = msg
                        frames.put(waiting)
                        waiting = None
                elif topic in (gps_topic, info_topic, altitude_topic, imu_topic):
                    msg = self._deserialize(source, topic, bag_ns, data)
                    if msg is not None:
                        self._side_message(topic, bag_ns, msg)
            if waiting is not None:
                frames.put(waiting)
        except Exception as exc:  # keep what was read
            self.error(f"reading failed: {type(exc).__name__}: {exc}")
        finally:
            frames.put(_END)

    def _decode(self, source: BagSource, bag_ns: int, data: bytes) -> _Frame:
        from thermal_perception.io.image_encoding import image_to_array

        try:
            msg = source.deserialize(data, IMAGE_TYPE)
        except Exception as exc:
            return _Frame(bag_ns, bag_ns, "", None, error=f"undecodable image message: {exc}")
        stamp = header_ns(msg.header)
        frame = _Frame(bag_ns, stamp, str(msg.header.frame_id), None)
        if msg.encoding not in RAW_ENCODINGS:
            frame.error = f"encoding {msg.encoding!r} is not raw counts"
            return frame
        try:
            frame.counts = image_to_array(msg)
        except ValueError as exc:
            frame.error = str(exc)
        return frame

    def _deserialize(self, source: BagSource, topic: Topic, bag_ns: int, data: bytes) -> Any:
        """A message object, or None (error recorded) for an undecodable one."""
        try:
            return source.deserialize(data, topic.msgtype)
        except Exception as exc:
            self.error(f"undecodable {topic.topic} message at {bag_ns} ns: {exc}")
            return None

    def _side_message(self, topic: Topic, bag_ns: int, msg: Any) -> None:
        """GPS fix, camera_info (focal length, camera model), IMU orientation or altitude."""
        if topic is self.imu_topic:
            if msg.orientation_covariance[0] != -1.0:  # REP 145: -1 = no orientation
                o = msg.orientation
                stamp = header_ns(msg.header)
                self.imu.add(stamp or bag_ns, (o.x, o.y, o.z, o.w))
        elif topic is self.gps_topic:
            if int(msg.status.status) <= NAVSAT_NO_FIX:
                return
            stamp = header_ns(msg.header)
            self.gps.add(stamp or bag_ns, float(msg.latitude), float(msg.longitude),
                         float(msg.altitude))
        elif topic is self.info_topic:
            if not math.isfinite(self.focal_px) and msg.k[0] > 0:
                self.focal_px = float(msg.k[0])
                self.camera_info = msg
        else:
            self.altitude_now_m = float(msg.data)

    # -- processing: correction (main thread) -----------------------------------------------
    #
    # Stages, each on its own thread so that a second core overlaps them (numpy and OpenCV
    # release the GIL): reading -> correction (chain: FFC, NUC, bad pixels; main thread) ->
    # measurement (temperature, statistics, ROIs, detection) -> images (display, video,
    # processed bag) -> bag writer. Buffers travel with the frames and come back through
    # pools, so memory stays bounded by the backlog.

    def _pooled(self, pool: queue.Queue, shape: tuple[int, int], dtype: type) -> NDArray:
        """A buffer from ``pool`` (a new one while fewer than the backlog exist)."""
        while True:
            try:
                buffer = pool.get_nowait()
            except queue.Empty:
                if self.pool_sizes.get(id(pool), 0) < self.options.backlog + 2:
                    self.pool_sizes[id(pool)] = self.pool_sizes.get(id(pool), 0) + 1
                    return np.empty(shape, dtype)
                self._check_workers()
                try:
                    buffer = pool.get(timeout=READER_POLL_S)
                except queue.Empty:
                    continue
            if buffer.shape == shape:
                return buffer
            self.pool_sizes[id(pool)] -= 1  # the frame size changed: drop the old buffer

    def _check_workers(self) -> None:
        """Stop when a later stage failed (its error is reported when it is closed)."""
        for worker in (self.measure_worker, self.outputs_worker):
            if worker is not None and worker.error is not None:
                raise RuntimeError(f"{type(worker.error).__name__}: {worker.error}")

    def _process(self, frames: queue.Queue, bar: tqdm) -> None:
        """Correction stage: mirrors the processor node's handling of shutter frames (FFC),
        FPA temperature and rejected frames, then hands the corrected counts on."""
        chain = self.chain
        skip_shutter = self.values["skip_shutter_frames"]
        ffc_pending: Any = None
        last_stamp: int | None = None
        first_stamp: int | None = None
        processed = 0
        while (frame := frames.get()) is not _END:
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

    # -- measurement (thread) -----------------------------------------------------------------

    def _measure(self, counts: NDArray[np.uint16], row: FrameRow, frame: _Frame,
                 detect: bool) -> None:
        started = time.perf_counter()
        detect = detect and self.detector is not None
        if not (self.need_temperature or detect):  # the statistics come from the counts: done
            try:
                self._store_stats(row, self.stats.from_counts(counts))
            finally:
                self.counts_pool.put(counts)
            if self.detect_process is not None:
                self._defer(row, frame, None, [], None)
            else:
                self._predict(row, frame)
            row.processing_ms += (time.perf_counter() - started) * 1e3
            return
        temperature = self._pooled(self.temperature_pool, counts.shape, np.float32)
        try:
            if self.emissivity_map is None:
                self.converter(counts, out=temperature)
                self._correct(temperature)
                stats = self.stats.from_counts(counts)
            else:
                self.converter.with_emissivity_map(counts, self.emissivity_map,
                                                   out=temperature)
                self._correct(temperature)
                stats = self.stats.from_temperature(temperature)
        except ValueError as exc:  # an emissivity map of another size
            row.state = STATE_REJECTED
            self.error(f"frame {row.frame} rejected: {exc}")
            self.temperature_pool.put(temperature)
            return
        finally:
            self.counts_pool.put(counts)
        self._store_stats(row, stats)
        roi_stats = self._measure_rois(row.frame, temperature)
        if self.detect_process is not None:
            seq = self._submit_detection(temperature, row, frame) if detect else None
            row.processing_ms += (time.perf_counter() - started) * 1e3
            self._defer(row, frame, temperature, roi_stats, seq)
            return
        found = self._detect(temperature, row, frame) if detect else self._predict(row, frame)
        row.processing_ms += (time.perf_counter() - started) * 1e3
        if self.outputs_worker is not None:
            self.outputs_worker.submit(self._emit, temperature, frame, found, roi_stats)
        else:
            self.temperature_pool.put(temperature)

    @staticmethod
    def _store_stats(row: FrameRow, stats: FrameStats) -> None:
        row.min_c, row.max_c, row.mean_c = stats.min_c, stats.max_c, stats.mean_c
        row.p99_c, row.invalid_fraction = stats.p99_c, stats.invalid_fraction

    def _next_detection(self, temperature: NDArray[np.float32], frame: _Frame
                        ) -> tuple[float, tuple[float, float]]:
        """Time since the previous detection frame (s) and the camera's image motion since
        then (px) for a detection on ``frame``, which becomes the previous one."""
        dt_s = 0.0 if self.last_detect_ns is None else \
            (frame.stamp_ns - self.last_detect_ns) / NS_PER_S
        self.last_detect_ns = frame.stamp_ns
        ego = self.ego.update(temperature) if self.ego is not None else (0.0, 0.0)
        return dt_s, ego

    def _warn_once_without_gsd(self, gsd: float | None) -> None:
        if gsd is None and not self.warned_gsd and isinstance(self.detector, CoreDetector) \
                and self.detector.needs_gsd:
            self.warned_gsd = True
            self.result.warnings.append(
                "ground sample distance unknown (no --gsd/--altitude, detector gsd_m/altitude_m "
                "or altitude topic): no people or animals searched, hotspots and fire only")

    def _detect(self, temperature: NDArray[np.float32], row: FrameRow,
                frame: _Frame) -> list[DetectionRecord]:
        dt_s, ego = self._next_detection(temperature, frame)
        height, width = temperature.shape
        try:
            gsd = self._gsd(frame, width, height)
            found = self.detector(temperature, dt_s, gsd, ego)
        except Exception as exc:  # keep analysing; detection stops for this bag
            self._detection_failed(row, f"{type(exc).__name__}: {exc}")
            return []
        self._warn_once_without_gsd(gsd)
        self.detections += [(row.frame, d) for d in found]
        row.detections = len(found)
        return found

    def _predict(self, row: FrameRow, frame: _Frame) -> list[DetectionRecord]:
        """Between detection frames (``detect_every`` > 1): the tracks of the last detection
        frame moved on at their image velocity (core detector with tracking only)."""
        detector = self.detector
        if not (isinstance(detector, CoreDetector) and detector.tracking
                and self.last_detect_ns is not None):
            return []
        found = detector.predict((frame.stamp_ns - self.last_detect_ns) / NS_PER_S)
        self.detections += [(row.frame, d) for d in found]
        row.detections = len(found)
        return found

    # -- detection in a worker process (measurement thread) ---------------------------------

    def _start_detect_process(self, recorded: int) -> None:
        """Start the detection process when ``detect_worker`` asks for it (core detector only);
        the thread stays in use, with a warning, when it cannot start."""
        o = self.options
        wanted = o.detect_worker == "process" or (o.detect_worker == "auto"
                                                   and recorded >= PROCESS_MIN_FRAMES)
        if not (wanted and isinstance(self.detector, CoreDetector)):
            return
        from thermal_perception.analysis.detect_process import DetectionProcess, sigint_deferred

        started = time.perf_counter()
        process = None
        try:
            with sigint_deferred():  # Ctrl-C lands after the name holds it: it gets closed
                process = DetectionProcess(self.detector.values)
            process.wait_ready()
        except BaseException as exc:  # e.g. no child processes allowed here, or Ctrl-C
            if process is not None:
                process.close()
            if not isinstance(exc, Exception):
                raise
            self.result.warnings.append(f"detection process could not start ({type(exc).__name__}"
                                        f": {exc}): detection runs on a thread")
            return
        self.detect_process = process
        # Pending frames keep their temperature image (from the pool) when images are written.
        self.max_pending = max(o.backlog // 2, 1) if self.need_temperature else 4 * o.backlog
        self.result.timings_s["detect_process_start_s"] = time.perf_counter() - started

    def _submit_detection(self, temperature: NDArray[np.float32], row: FrameRow,
                          frame: _Frame) -> int | None:
        """As :meth:`_detect`, with the detection sent to the process: its sequence number
        (None when it could not be sent: detection stops for the bag)."""
        dt_s, ego = self._next_detection(temperature, frame)
        height, width = temperature.shape
        try:
            gsd = self._gsd(frame, width, height)
            seq = self.detect_process.submit(temperature, dt_s, gsd, ego)
        except Exception as exc:
            self._detection_failed(row, f"{type(exc).__name__}: {exc}")
            return None
        self._warn_once_without_gsd(gsd)  # the process runs the core detector
        return seq

    def _detection_failed(self, row: FrameRow, text: str) -> None:
        if self.detector is not None:
            self.error(f"detection failed at frame {row.frame}, disabled for the rest of the "
                       f"bag: {text}")
        self.detector = None

    def _defer(self, row: FrameRow, frame: _Frame, temperature: NDArray[np.float32] | None,
               roi_stats: list[Any], seq: int | None) -> None:
        """Queue a frame until the detections it needs are back (``seq``: its own; None: the
        last detection frame's tracks, predicted), then finish the frames that can be."""
        elapsed_s = None if seq is not None or self.last_detect_ns is None else \
            (frame.stamp_ns - self.last_detect_ns) / NS_PER_S
        self.pending.append((row, frame, temperature, roi_stats, seq, elapsed_s))
        self._resolve(self.max_pending)

    def _resolve(self, keep: int) -> None:
        """Finish the pending frames whose detections are known, in frame order (as
        :meth:`_detect` and :meth:`_predict` do); waits for the process while more than
        ``keep`` frames are pending."""
        while self.pending:
            row, frame, temperature, roi_stats, seq, elapsed_s = self.pending[0]
            found: list[DetectionRecord] = []
            if seq is not None:
                try:
                    got = self.detect_process.result(seq, block=len(self.pending) > keep)
                except RuntimeError as exc:
                    got = ("error", str(exc), [])
                if got is None:
                    return
                status, records, tracked = got
                if status == "ok":
                    found, self.tracked = records, tracked
                elif status == "error":
                    self._detection_failed(row, str(records))
            elif (self.detector is not None and elapsed_s is not None
                  and isinstance(self.detector, CoreDetector) and self.detector.tracking):
                found = predict_tracks(self.tracked, elapsed_s)
            self.pending.popleft()
            if found:
                self.detections += [(row.frame, d) for d in found]
                row.detections = len(found)
            if temperature is None:
                continue
            if self.outputs_worker is not None:
                self.outputs_worker.submit(self._emit, temperature, frame, found, roi_stats)
            else:
                self.temperature_pool.put(temperature)

    def _measure_rois(self, index: int, temperature: NDArray[np.float32]) -> list[Any]:
        if not len(self.rois):
            return []
        stats = self.rois.stats(temperature)
        states = self.alarms.update(stats).states
        self.roi_rows += [(index, s.name, s.max_c, s.mean_c, s.min_c, s.valid_count,
                           states.get(s.name, "")) for s in stats]
        return stats

    # -- images (thread) ----------------------------------------------------------------------

    def _emit(self, temperature: NDArray[np.float32], frame: _Frame,
              found: list[DetectionRecord], roi_stats: list[Any]) -> None:
        from thermal_perception.io import messages
        from thermal_perception.settings.processor import display_image

        try:
            bag = self.bag_writer
            names = self.names
            if bag is not None:
                store = bag.typestore
                header = messages.header(store, frame.stamp_ns, frame.frame_id)
                bag.write_message(names["image_temperature"], frame.bag_ns, messages.image(
                    store, temperature, "32FC1", frame.stamp_ns, frame.frame_id), IMAGE_TYPE)
            image = display_image(self.renderer, temperature, self.values, self.rois,
                                  roi_stats, self.alarms.states)
            if bag is not None:
                bag.write_message(names["image_display"], frame.bag_ns, messages.image(
                    store, image, "bgr8", frame.stamp_ns, frame.frame_id), IMAGE_TYPE)
                bag.write_message(names["detections"], frame.bag_ns,
                                  detections_message(store, header, found), DETECTIONS_TYPE)
            if self.video is not None:
                draw_detections(image, found)
                self.video.write(image)
        finally:
            self.temperature_pool.put(temperature)

    # -- run ----------------------------------------------------------------------------------

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

    def _close_outputs(self) -> None:
        """Finish the measurement and image stages, the video and the processed bag."""
        t0 = time.perf_counter()
        try:
            if self.measure_worker is not None:
                if self.detect_process is not None:  # the frames waiting for detections
                    self.measure_worker.submit(self._resolve, 0)
                error = self.measure_worker.close()
                if error is not None:
                    self.error(f"measurement failed: {type(error).__name__}: {error}")
        finally:
            if self.detect_process is not None:  # ended and joined after the tables
                self.detect_process.stop()
        if self.outputs_worker is not None:
            error = self.outputs_worker.close()
            if error is not None:
                self.error(f"writing images failed: {type(error).__name__}: {error}")
        if self.video is not None:
            try:
                if self.video.finish():
                    self.result.outputs["video"] = str(self.video.path)
            except Exception as exc:
                self.video.abort()
                self.error(f"video: {exc}")
        t1 = time.perf_counter()
        if self.bag_writer is not None:
            try:
                self.bag_writer.finish()
                self.result.outputs["processed_bag"] = str(self.bag_writer.target)
                self.result.processed_bag_bytes_per_frame = round(
                    self.bag_writer.size_bytes() / max(1, self.result.frames_processed))
            except Exception as exc:
                self.bag_writer.abort()
                self.error(f"processed bag: {exc}")
        self.result.timings_s.update({"flush_images_s": t1 - t0,
                                      "flush_bag_s": time.perf_counter() - t1})

    def _finish(self, started: float) -> None:
        r = self.result
        if self.source is not None:
            for problem in self.source.problems:
                self.error(problem)
            self.source.close()
        rows = self.rows
        r.frames = len(rows)
        r.frames_processed = sum(row.state == STATE_PROCESSED for row in rows)
        r.frames_shutter = sum(row.state == STATE_SHUTTER for row in rows)
        r.frames_rejected = sum(row.state == STATE_REJECTED for row in rows)
        r.ffc_count = self.chain.state.ffc_count if hasattr(self, "chain") else 0
        r.detections = len(self.detections)
        if len(rows) > 1:
            stamps = np.array([row.stamp_ns for row in rows], np.int64)
            period = float(np.median(np.diff(stamps))) if len(stamps) > 1 else 0.0
            r.duration_s = max(float(stamps[-1] - stamps[0]) + period, 0.0) / NS_PER_S
        elif rows and hasattr(self, "profile"):
            r.duration_s = 1.0 / self.profile.rate_hz
        if r.loop_s > 0:
            r.fps = r.frames / r.loop_s
            r.realtime_factor = r.duration_s / r.loop_s
        if (self.camera_profile_seen and hasattr(self, "values")
                and self.camera_profile_seen != self.values["camera_profile"]):
            r.warnings.append(f"the camera reports profile '{self.camera_profile_seen}', the "
                              f"parameters use '{self.values['camera_profile']}'")
        t0 = time.perf_counter()
        nothing_read = not rows  # a bag that could not be read: only summary.json says so
        if not nothing_read:
            self._write_tables()
        r.errors = self.errors + ([f"... and {self.error_count - len(self.errors)} more errors"]
                                  if self.error_count > len(self.errors) else [])
        if r.frames_processed == 0:
            r.status = STATUS_FAILED
            if not r.errors:
                r.errors.append("no frame could be processed")
        else:
            r.status = STATUS_PARTIAL if r.errors else STATUS_OK
        r.timings_s["tables_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        r.outputs["summary"] = str(self.out_dir / "summary.json")
        if self.options.report and not nothing_read:
            self._write_report()
        r.timings_s["report_s"] = time.perf_counter() - t0
        r.wall_s = time.perf_counter() - started
        atomic_write_text(self.out_dir / "summary.json",
                          json.dumps(r.to_json(), indent=2, default=str) + "\n")

    def _write_report(self) -> None:
        from thermal_perception.analysis.report import write_report

        r = self.result
        r.outputs["report"] = str(self.out_dir / "report.html")
        try:
            write_report(self.out_dir / "report.html", r, self.rows, self.detections,
                         self.stats.histogram(HISTOGRAM_BINS) if self.stats else None,
                         self.gps, getattr(self, "values", {}))
        except Exception as exc:
            del r.outputs["report"]
            r.errors.append(f"report: {type(exc).__name__}: {exc}")
            if r.status == STATUS_OK:
                r.status = STATUS_PARTIAL

    def _ground_positions(self) -> NDArray[np.float64] | None:
        """(D, 4) ground latitude, longitude (deg), ellipsoid height (m) and horizontal 1-sigma
        (m) of the detections, or None when the bag lacks an IMU orientation or camera_info.

        The centroid pixel of each detection is cast onto flat ground (height from the options)
        from the frame's GPS position (interpolated between fixes) and IMU orientation
        (interpolated), through the camera_info camera at ``camera_mount``; sigma from the
        default :class:`~thermal_perception.core.fusion.geolocation.PoseNoise` (linearized). Rows of
        detections that cannot be placed (no fix or orientation near the frame, ray above the
        horizon) are NaN.
        """
        from thermal_perception.core.fusion import GeoOrigin
        from thermal_perception.core.fusion.geolocation import (
            FlatTerrain,
            PoseNoise,
            camera_mount,
            camera_pose_enu,
            geodetic_to_enu,
            locate_geodetic,
        )
        from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform

        r, o = self.result, self.options
        if not self.imu_topic or not self.detections:
            return None
        if not len(self.imu):
            r.warnings.append(f"IMU topic {self.imu.topic} has no orientation: detections at "
                              "the platform position")
            return None
        info = self.camera_info
        if info is None:
            r.warnings.append("no camera_info for the thermal camera: detections at the "
                              "platform position")
            return None
        camera = CameraModel.from_camera_info(info.width, info.height, list(info.k),
                                              list(info.d), info.distortion_model)
        m = o.camera_mount
        mount = camera_mount() if m is None else RigidTransform.from_rpy(m[3], m[4], m[5], m[:3])
        first = int(np.argmin(self.gps.stamps_ns))
        ground_alt = o.ground_altitude_m if o.ground_altitude_m is not None else \
            self.gps.altitude_m[first] - o.takeoff_height_m
        origin = GeoOrigin(self.gps.latitude[first], self.gps.longitude[first], ground_alt)
        terrain, noise = FlatTerrain(0.0), PoseNoise()
        out = np.full((len(self.detections), 4), np.nan)
        frame_of = np.array([index for index, _ in self.detections])
        stamps = np.array([row.stamp_ns for row in self.rows], np.int64)
        used = np.unique(frame_of)
        fixes = self.gps.interpolated(stamps[used])
        attitudes = self.imu.at(stamps[used])
        positions = geodetic_to_enu(fixes[:, 0], fixes[:, 1], fixes[:, 2], origin)
        below = 0
        for frame, position, q in zip(used, positions, attitudes, strict=True):
            if not (np.all(np.isfinite(position)) and np.all(np.isfinite(q))):
                continue
            if position[2] <= 0:
                below += 1
                continue
            T = camera_pose_enu(position, q, mount)
            picks = np.flatnonzero(frame_of == frame)
            uv = [(self.detections[k][1].centroid_x, self.detections[k][1].centroid_y)
                  for k in picks]
            out[picks] = locate_geodetic(camera, T, uv, terrain, origin, noise,
                                         method="linearized")
        r.geolocated = int(np.isfinite(out[:, 0]).sum())
        if below:
            r.warnings.append(f"{below} frames with detections have the GPS at or below the "
                              f"ground ({ground_alt:.1f} m; see --ground-altitude): their "
                              "detections are at the platform position")
        if r.geolocated < len(self.detections):
            r.warnings.append(f"{len(self.detections) - r.geolocated} of "
                              f"{len(self.detections)} detections could not be placed on the "
                              "ground: at the platform position in the GeoJSON/KML")
        return out

    def _write_tables(self) -> None:
        r, rows = self.result, self.rows
        if len(self.gps) and rows:
            positions = self.gps.at(np.array([row.stamp_ns for row in rows], np.int64))
            for row, (lat, lon, alt) in zip(rows, positions, strict=True):
                row.latitude, row.longitude, row.altitude_m = float(lat), float(lon), float(alt)
        frame_rows = [tuple(getattr(row, c) for c in FRAME_COLUMNS) for row in rows]
        ground = self._ground_positions() if len(self.gps) else None
        det_rows = detection_rows(rows, self.detections, ground)
        tables = {"frames": (list(FRAME_COLUMNS), frame_rows),
                  "detections": (detection_columns(), det_rows)}
        if self.roi_rows:
            tables["rois"] = (["frame", "roi", "max_c", "mean_c", "min_c", "valid_count",
                               "alarm_state"], self.roi_rows)
        for name, (columns, table) in tables.items():
            write_csv(self.out_dir / f"{name}.csv", columns, table)
            r.outputs[f"{name}_csv"] = str(self.out_dir / f"{name}.csv")
            if write_parquet(self.out_dir / f"{name}.parquet", columns, table):
                r.outputs[f"{name}_parquet"] = str(self.out_dir / f"{name}.parquet")
        if len(self.gps):
            name = bag_name(self.bag)
            placed = write_geojson(self.out_dir / "detections.geojson", rows, self.detections,
                                   name, ground)
            write_kml(self.out_dir / "detections.kml", rows, self.detections, name, ground)
            r.outputs["geojson"] = str(self.out_dir / "detections.geojson")
            r.outputs["kml"] = str(self.out_dir / "detections.kml")
            if placed < len(self.detections):
                r.warnings.append(f"{len(self.detections) - placed} detections have no GPS fix "
                                  "within 2 s and are not in the GeoJSON/KML")
        elif self.gps.topic:
            r.warnings.append(f"GPS topic {self.gps.topic} has no valid fix: no GeoJSON/KML")
        else:
            r.warnings.append("no GPS (sensor_msgs/NavSatFix) topic: no detections.geojson or "
                              "detections.kml written")


def analyze_bag(bag: str | Path, options: AnalysisOptions | None = None,
                name: str | None = None) -> BagResult:
    """Analyse one bag into ``options.out/<name or bag name>/`` (see the module docstring).
    A recording that is not a bag (.cptv, FLIR .seq, a folder of 16-bit frames...) is read
    through a temporary bag of the driver's topics (:mod:`thermal_perception.io.recording_bag`);
    its ``radiometry.yaml`` sets the processor's radiometric model unless ``overrides`` do.

    Never raises for a bad bag: problems are in the result's ``errors`` and ``status``."""
    from thermal_perception.io.recording_bag import is_recording

    path, options = Path(bag), options or AnalysisOptions()
    if not _is_bag(path) and is_recording(path):
        return _analyze_recording(path, options, name)
    return _BagAnalysis(path, options, name).run()


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
        result = _BagAnalysis(converted.bag, options, name or bag_name(path)).run()
    result.bag = str(path)
    result.warnings[:0] = notes
    return result


# -- batches ----------------------------------------------------------------------------------


def _is_bag(path: Path) -> bool:
    return (path.is_dir() and (path / "metadata.yaml").exists()) or \
        (path.is_file() and path.suffix in (".bag", *STORAGE_SUFFIXES))


def _storage_bags(folder: Path, files: Iterable[str]) -> list[Path]:
    """Bags of a folder without metadata.yaml (a recording cut short, or exported storage
    files): the folder if it holds one storage file, else each file."""
    storage = sorted(folder / f for f in files if Path(f).suffix in STORAGE_SUFFIXES)
    return [folder] if len(storage) == 1 else storage


def find_bags(paths: Iterable[str | Path], exclude: str | Path | None = None) -> list[Path]:
    """Bags among ``paths``; a folder that is not a bag contributes the bags inside it
    (searched recursively, skipping ``exclude``, e.g. the output folder; a rosbag2 folder
    counts as one bag), or itself when it holds none but frame files (a recording)."""
    from thermal_perception.io.recording_bag import is_recording

    found: list[Path] = []
    skip = Path(exclude).resolve() if exclude is not None else None
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist")
        if _is_bag(p) or not p.is_dir():
            found.append(p)
            continue
        before = len(found)
        for root, dirs, files in os.walk(p):
            here = Path(root)
            if skip is not None and here.resolve().is_relative_to(skip):
                dirs[:] = []
                continue
            dirs.sort()
            if (here / "metadata.yaml").exists():
                found.append(here)
                dirs[:] = []
                continue
            found += _storage_bags(here, files)
            found += sorted(here / f for f in files if f.endswith(".bag"))
        if len(found) == before and is_recording(p):  # a folder of frames, no bags in it
            found.append(p)
    return found


def unique_names(bags: Sequence[Path]) -> list[str]:
    """Output folder names, with a suffix where two bags share a name."""
    names: list[str] = []
    for bag in bags:
        base = bag_name(bag)
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def _job(bag: str, name: str, options: AnalysisOptions) -> BagResult:
    """One bag in a worker (process or Ray task); never raises."""
    try:
        return analyze_bag(bag, options, name)
    except BaseException as exc:
        return BagResult(bag=bag, out_dir=str(Path(options.out) / name), status=STATUS_FAILED,
                         errors=[f"{type(exc).__name__}: {exc}"])


def _run_ray(jobs: list[tuple[str, str, AnalysisOptions]], address: str, workers: int,
             done: Callable[[BagResult], None]) -> None:
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("--ray needs the 'ray' package (pip install 'ray>=2.9')") from exc
    started_here = not ray.is_initialized()
    if started_here:
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_job)
        pending = [task.remote(*job) for job in jobs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            done(ray.get(ready[0]))
    finally:
        if started_here:
            ray.shutdown()


def analyze_many(paths: Iterable[str | Path], options: AnalysisOptions | None = None,
                 workers: int | None = None, ray_address: str | None = None) -> list[BagResult]:
    """Analyse bags (or folders of bags) in parallel: ``workers`` processes (default: the
    number of CPUs), or Ray tasks on ``ray_address`` ("local" starts a local Ray).

    Results are in the order of the bags found; ``options.out/batch_summary.json`` lists them.
    """
    options = options or AnalysisOptions()
    bags = find_bags(paths, exclude=options.out)
    if not bags:
        raise ValueError("no bags found")
    workers = max(1, min(workers or os.cpu_count() or 1, len(bags)))
    names = unique_names(bags)
    parallel = ray_address is not None or workers > 1
    job_options = replace(options, progress=False) if parallel else options
    jobs = [(str(bag), name, job_options) for bag, name in zip(bags, names, strict=True)]
    results: dict[str, BagResult] = {}
    with tqdm(total=len(jobs), desc="bags", unit="bag",
              disable=not options.progress or len(jobs) == 1) as bar:

        def done(result: BagResult) -> None:
            results[result.out_dir] = result
            bar.update(1)
            bar.set_postfix_str(f"{Path(result.bag).name}: {result.status}")

        if ray_address is not None:
            _run_ray(jobs, ray_address, workers, done)
        elif workers == 1:
            for job in jobs:
                done(_job(*job))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_job, *job) for job in jobs]
                for future in as_completed(futures):
                    done(future.result())
    ordered = [results[str(Path(options.out) / name)] for name in names]
    Path(options.out).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(options.out) / "batch_summary.json",
                      json.dumps([r.to_json() for r in ordered], indent=2, default=str) + "\n")
    return ordered


# -- command line -----------------------------------------------------------------------------


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
                        "(default: looking straight down, image top forward)")
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


__all__ = ["NONE", "AnalysisOptions", "BagResult", "add_analyze_parser", "analyze_bag",
           "analyze_many", "find_bags", "run_analyze"]
