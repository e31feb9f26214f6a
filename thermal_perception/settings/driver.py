"""Driver parameters: specs and the rules that combine them (pure Python)."""

from __future__ import annotations

from typing import Any

from thermal_perception.core.physics.camera import (
    V4L2_FORMATS,
    CameraProfile,
    get_profile,
    load_profiles,
)
from thermal_perception.io.boson_protocol import BAUD_RATE, FFC_MODES, GAIN_MODES
from thermal_perception.io.boson_serial import UNCHANGED
from thermal_perception.io.sources import FrameSource, RecordingSource
from thermal_perception.io.uvc_frames import TELEMETRY_MODES
from thermal_perception.ros.params import ParamSpec
from thermal_perception.settings import RELIABILITY_CHOICES
from thermal_perception.sim.simulator import SCENES

#: Where the driver's frames can come from (its ``source`` parameter).
SOURCES = ("simulator", "recording", "v4l2")

PARAMS = (
    ParamSpec("source", "simulator", "Where frames come from.", choices=SOURCES,
              read_only=True),
    ParamSpec("camera_profile", "boson640", "Camera class (config/camera_profiles.yaml).",
              choices=tuple(load_profiles()), read_only=True),
    ParamSpec("width", 0, "Image width, pixels (0: the profile's; source 'v4l2': the format "
              "to request, telemetry lines included, 0: the device's).", 0, 8192, read_only=True),
    ParamSpec("height", 0, "Image height, pixels (0: the profile's; see width).", 0, 8192,
              read_only=True),
    ParamSpec("rate_hz", 0.0, "Frame rate, Hz (0: the profile's).", 0.0, 240.0),
    ParamSpec("recording_path", "",
              "source 'recording': a bag, a folder of 16-bit images or .npy files, a .npy "
              "stack or a FLIR .seq file, played at its recorded pace.", read_only=True),
    ParamSpec("recording_topic", "", "Image topic of a recorded bag ('' = found by itself).",
              read_only=True),
    ParamSpec("loop", True, "Play the recording again when it ends.", read_only=True),
    ParamSpec("device", "",
              "source 'v4l2': the Y16 camera: a device path (/dev/video0), its USB serial "
              "number or vendor:product id (1e4e:0100), or fake:<file>, a test/demo device that "
              "serves the recorded raw frames of a .npy stack, raw dump or image folder and is "
              "unplugged while the file is missing.", read_only=True),
    ParamSpec("telemetry", "auto",
              "source 'v4l2': Lepton telemetry lines (FPA/housing temperature, frame counter, "
              "FFC state), stripped from the image: auto (footer lines of 160x122 / 80x63 "
              "frames), none, lepton_footer, lepton_header.",
              choices=TELEMETRY_MODES, read_only=True),
    ParamSpec("lepton_radiometry", "unchanged",
              "source 'v4l2', a Lepton on a PureThermal board: its radiometric output, set "
              "through the board's UVC extension unit once the camera streams: unchanged, "
              "tlinear_0.01 / tlinear_0.1 (TLinear on, K per count; give the processor "
              "radiometric_model tlinear and that resolution), or off.",
              choices=("unchanged", "tlinear_0.01", "tlinear_0.1", "off"), read_only=True),
    ParamSpec("v4l2_format", "profile",
              "source 'v4l2': how the camera streams: y16 (16-bit grey, Lepton/Boson), infiray "
              "(InfiRay P2 Pro / Topdon TC001: YUYV 256x384 whose lower half is the thermal "
              "data, published as 256x192 counts of 1/64 K), or profile (the camera profile's "
              "v4l2_format).", choices=("profile", *V4L2_FORMATS), read_only=True),
    ParamSpec("serial_port", "",
              "source 'v4l2' with a Boson profile: the FLIR Boson's control port (/dev/ttyACM0, "
              "a /dev/serial/by-id/... link, or fake: for a simulated camera). trigger_ffc then "
              "runs the camera's FFC, and the FPA temperature, serial number and firmware go to "
              "status and /diagnostics ('' = no camera control).", read_only=True),
    ParamSpec("serial_baud", BAUD_RATE,
              "Baud rate of serial_port (8N1; a Boson's UART runs at 921600; USB ignores it).",
              1200, 4000000, read_only=True),
    ParamSpec("boson_ffc_mode", UNCHANGED,
              "Boson FFC mode set at connection: manual (FFC only on trigger_ffc), auto (the "
              "camera decides), external, or unchanged.",
              choices=(UNCHANGED, *FFC_MODES), read_only=True),
    ParamSpec("boson_gain_mode", UNCHANGED,
              "Boson gain mode set at connection: high (more sensitive, smaller scene range), "
              "low (hot scenes), auto, or unchanged.", choices=(UNCHANGED, *GAIN_MODES),
              read_only=True),
    ParamSpec("boson_output", UNCHANGED,
              "Boson digital video type set at connection: mono16 (16-bit before AGC, "
              "dvoSetType) or unchanged. The USB Y16 stream is already 16-bit before AGC.",
              choices=(UNCHANGED, "mono16"), read_only=True),
    ParamSpec("boson_poll_interval_s", 1.0,
              "Time between Boson FPA temperature / FFC status reads, s.", 0.2, 60.0,
              read_only=True),
    ParamSpec("recorded_stamps", True,
              "Stamp played frames with their recorded capture times (else the time now)."),
    ParamSpec("frame_id", "thermal_camera_optical_frame",
              "TF frame of the camera's optical axis (REP 103 optical frame)."),
    ParamSpec("camera_info_file", "",
              "Lens calibration published on camera_info: a camera_calibration_parsers YAML "
              "file (thermal-perception calibrate intrinsics) for the camera's image size "
              "('' = the profile's nominal pinhole intrinsics).", read_only=True),
    ParamSpec("image_reliability", "reliable", "QoS reliability of image_raw.",
              choices=RELIABILITY_CHOICES, read_only=True),
    ParamSpec("scene", "uav_sar", "Simulated scene.", choices=SCENES, read_only=True),
    ParamSpec("altitude_m", 60.0, "Simulated camera height above ground, m.", 1.0, 5000.0,
              read_only=True),
    ParamSpec("speed_mps", 4.0, "Simulated ground speed, m/s.", 0.0, 100.0, read_only=True),
    ParamSpec("time_of_day", "day", "Simulated conditions.", choices=("day", "night"),
              read_only=True),
    ParamSpec("air_temperature_c", 15.0, "Simulated air temperature, deg C.", -40.0, 50.0,
              read_only=True),
    ParamSpec("sensor_defects", False,
              "Simulate raw output before non-uniformity correction: fixed-pattern noise, "
              "FPA drift, dead/hot/flickering pixels.", read_only=True),
    ParamSpec("seed", 0, "Random seed of the simulated scene and noise.", 0, 2**31 - 1,
              read_only=True),
    ParamSpec("auto_ffc", False,
              "Run flat-field corrections by themselves (at start, when the FPA temperature "
              "moved by ffc_max_fpa_change_k, or after ffc_interval_s); otherwise only on "
              "trigger_ffc."),
    ParamSpec("ffc_interval_s", 180.0, "Longest time between automatic FFCs, s.", 1.0, 3600.0),
    ParamSpec("ffc_max_fpa_change_k", 1.0,
              "FPA temperature change that triggers an automatic FFC, K.", 0.01, 50.0),
    ParamSpec("ffc_min_interval_s", 10.0, "Shortest time between automatic FFCs, s.",
              0.0, 3600.0),
    ParamSpec("ffc_duration_s", 0.3, "Time the shutter stays closed during FFC, s.", 0.0, 5.0),
    ParamSpec("simulate_fusion_sensors", False,
              "Simulator source only (ignored otherwise): also publish the UAV's RGB camera "
              "(rgb/image_raw, rgb/camera_info), lidar (lidar/points), GPS (gps/fix), IMU "
              "(imu/data) and altitude, for the fusion node.", read_only=True),
    ParamSpec("rgb_rate_hz", 10.0, "Simulated RGB frame rate, Hz (0: none).", 0.0, 60.0,
              read_only=True),
    ParamSpec("lidar_rate_hz", 10.0, "Simulated lidar scan rate, Hz (0: none).", 0.0, 60.0,
              read_only=True),
)


def v4l2_format(values: dict[str, Any]) -> str:
    """The stream format of source 'v4l2' (:data:`V4L2_FORMATS`): the parameter, or the
    camera profile's."""
    if values["v4l2_format"] != "profile":
        return values["v4l2_format"]
    return get_profile(values["camera_profile"]).v4l2_format


def check_combination(values: dict[str, Any]) -> str | None:
    if (values["width"] == 0) != (values["height"] == 0):
        return "set both width and height, or neither (0 uses the camera profile's size)"
    if values["source"] == "recording" and not values["recording_path"]:
        return "source 'recording' needs recording_path"
    if values["source"] == "v4l2" and not values["device"].strip():
        return "source 'v4l2' needs device (a path, serial number, vendor:product or fake:<file>)"
    if values["serial_port"].strip():
        if values["source"] != "v4l2":
            return "serial_port (FLIR Boson control) needs source 'v4l2'"
        if not values["camera_profile"].startswith("boson"):
            return (f"serial_port controls a FLIR Boson; camera_profile "
                    f"{values['camera_profile']} is not a Boson profile")
    model = get_profile(values["camera_profile"]).radiometric_model
    if values["source"] == "simulator" and model != "linear_radiance":
        return (f"the simulator makes linear_radiance counts; camera_profile "
                f"{values['camera_profile']} is a {model} camera (use source v4l2 or recording)")
    if (values["simulate_fusion_sensors"] and values["source"] == "simulator"
            and values["scene"] not in ("uav_sar", "road", "fire")):
        return "simulate_fusion_sensors needs a nadir scene (uav_sar, road or fire)"
    if not values["frame_id"].strip():
        return "frame_id must not be empty: fusion and tf need the camera's frame"
    return None


def open_source(kind: str, profile: CameraProfile, **options: object) -> FrameSource:
    """Create the source called ``kind`` (one of :data:`SOURCES`)."""
    if kind == "simulator":
        from thermal_perception.sim.source import SimulatorSource

        return SimulatorSource(profile, **options)
    if kind == "recording":
        return RecordingSource(**options)  # type: ignore[arg-type]
    if kind == "v4l2":
        from thermal_perception.io.v4l2 import V4l2Source

        return V4l2Source(**options)  # type: ignore[arg-type]
    raise ValueError(f"unknown source {kind!r}; known: {list(SOURCES)}")
