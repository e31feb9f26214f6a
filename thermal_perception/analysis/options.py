"""What ``thermal-perception analyze`` does and what it reports: :class:`AnalysisOptions`,
:class:`BagResult` and the constants of the analysis (message types, topic names, statuses,
exit codes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from thermal_perception.analysis.detect import (
    AUTO,
)

NS_PER_S = 1_000_000_000


IMAGE_TYPE = "sensor_msgs/msg/Image"


STATUS_TYPE = "thermal_perception/msg/ThermalStatus"


NAVSATFIX_TYPE = "sensor_msgs/msg/NavSatFix"


IMU_TYPE = "sensor_msgs/msg/Imu"


CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"


TF_TYPE = "tf2_msgs/msg/TFMessage"
TF_NAMES = ("tf_static", "tf")  # the transform tree's topics: static, dynamic


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
        frame), [x, y, z, roll, pitch, yaw] in m and rad, fixed axes as URDF (None: from the
        bag's ``/tf_static`` and ``/tf`` when they connect the IMU's frame to the thermal
        images' frame, at each frame's stamp where a transform moves, else looking straight
        down, image top forward, at base_link's origin).
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
    camera_mount: str = ""  # where the camera's pose in the IMU's frame came from
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
    # pixels of all frames outside the correction's valid_range_c (None: no range given)
    correction_outside_fraction: float | None = None
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
