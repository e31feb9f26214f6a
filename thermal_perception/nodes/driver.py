"""Driver node: publishes raw counts (mono16), camera_info and camera status.

Topics: ``image_raw`` (sensor_msgs/Image mono16), ``camera_info`` (sensor_msgs/CameraInfo),
``status`` (thermal_perception/ThermalStatus), ``/diagnostics``.
Service: ``trigger_ffc`` (std_srvs/Trigger) closes the shutter for a flat-field correction
(simulator), or runs a FLIR Boson's own FFC over its serial port (``serial_port``; success only
once the camera acknowledged it). ``set_camera_info`` (sensor_msgs/SetCameraInfo, as ROS's
camera_calibration commits a calibration): a valid calibration for the stream's image size is
published on ``camera_info`` from then on and stored in ``camera_info_file`` (else where
camera_info_manager keeps it, ``$ROS_HOME/camera_info/<node name>.yaml``; set
``camera_info_file`` to that path to load it at the next start); success only once stored.

Every frame is stamped with its capture time (taken when the frame is acquired, before any
processing) and carries the configured ``frame_id``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from rclpy.clock import JumpThreshold, TimeJump
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from sensor_msgs.srv import SetCameraInfo
from std_srvs.srv import Trigger

from thermal_perception.core.correction.nuc import FfcScheduler
from thermal_perception.core.fusion.lens_files import write_camera_info
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.io.boson_serial import BosonLink, open_port
from thermal_perception.io.image_encoding import array_to_image
from thermal_perception.io.lepton_uvc import LeptonUvcControl
from thermal_perception.io.sources import NoFrame
from thermal_perception.io.v4l2 import LeptonFfcTracker
from thermal_perception.io.v4l2_devices import CameraDisconnected
from thermal_perception.msg import ThermalStatus
from thermal_perception.ros import diagnostics, intra_process
from thermal_perception.ros.camera_info import (
    calibration_from_message,
    camera_info_from_calibration,
    camera_info_from_file,
    camera_info_from_profile,
    default_calibration_path,
)
from thermal_perception.ros.params import ParameterSet
from thermal_perception.ros.qos import reliable_qos, sensor_qos
from thermal_perception.ros.trace import from_environment as trace_from_environment
from thermal_perception.settings.driver import PARAMS, check_combination, open_source, v4l2_format

# use_sim_time: a /clock step forward larger than this (or any step back) is a jump, not time
# the camera ran; the driver's own timing continues across it.
CLOCK_JUMP_S = 2.0


#: What ``trigger_ffc`` answers for a V4L2 camera whose shutter cannot be reached from here.
V4L2_FFC_UNREACHABLE = (
    "not run: this camera's flat-field correction cannot be reached from the driver (a Boson "
    "needs serial_port; a Lepton on a PureThermal board is reached through the UVC extension "
    "controls of its /dev/video node, not through this device); the camera keeps running its "
    "own automatic FFC")

class DriverNode(Node):
    """Thermal camera driver (simulated camera by default)."""

    def __init__(self, **node_args: Any) -> None:
        super().__init__("driver", **node_args)
        self.params = ParameterSet(self, PARAMS, check_combination, self._on_change)
        p = self.params
        profile = get_profile(p["camera_profile"])
        if p["width"]:
            profile = profile.with_size(p["width"], p["height"])
        if p["source"] == "recording":
            try:
                self.source = open_source("recording", profile, path=p["recording_path"],
                                          topic=p["recording_topic"], loop=p["loop"])
            except OSError as exc:
                raise ValueError(f"recording_path {p['recording_path']!r}: {exc}") from exc
            height, width = self.source.shape
            profile = profile.with_size(width, height)  # the recording decides the size
        elif p["source"] == "v4l2":
            self.source = open_source(
                "v4l2", profile, device=p["device"], width=p["width"], height=p["height"],
                telemetry=p["telemetry"], fps=p["rate_hz"] or profile.rate_hz,
                default_shape=(profile.height, profile.width),
                stream_format=v4l2_format(p.values))
            height, width = self.source.shape
            profile = profile.with_size(width, height)  # the camera decides the size
        else:
            self.source = open_source(
                p["source"], profile, scene=p["scene"], altitude_m=p["altitude_m"],
                speed_mps=p["speed_mps"], time_of_day=p["time_of_day"],
                air_temperature_c=p["air_temperature_c"], seed=p["seed"],
                defects=p["sensor_defects"])
        self.profile = profile
        self.finished = False
        self.image_pub = intra_process.publisher(self, Image, "image_raw",
                                                 sensor_qos(p["image_reliability"]))
        self.info_pub = intra_process.publisher(self, CameraInfo, "camera_info", reliable_qos())
        self.status_pub = intra_process.publisher(self, ThermalStatus, "status", reliable_qos())
        self.create_service(Trigger, "trigger_ffc", self._trigger_ffc)
        self.create_service(SetCameraInfo, "set_camera_info", self._set_camera_info)
        if p["camera_info_file"]:  # checked here: a recording decides the image size
            self.camera_info = camera_info_from_file(p["camera_info_file"], profile.width,
                                                     profile.height, p["frame_id"])
        else:
            self.camera_info = camera_info_from_profile(profile, p["frame_id"])
        self.calibration_source = p["camera_info_file"] or "profile (nominal pinhole)"
        self.image_msg = Image()  # reused: one message buffer per stream
        self.trace = trace_from_environment("driver")  # None unless THERMAL_PERCEPTION_TRACE
        self.status_msg = ThermalStatus(source=self.source.name,
                                        camera_profile=profile.name)
        self.start_time: Time | None = None
        self.last_capture: Time | None = None
        # The driver's timeline (time since start, FFC schedule and shutter duration, rate,
        # dropped frames) is the node clock less its jumps; stamps keep the clock itself.
        self.clock_jumps_ns = 0
        self.clock_jumps = 0
        self._jump_handle = self.get_clock().create_jump_callback(
            JumpThreshold(min_forward=Duration(seconds=CLOCK_JUMP_S),
                          min_backward=Duration(nanoseconds=-1), on_clock_change=False),
            post_callback=self._on_clock_jump)
        self.frame_count = 0
        self.dropped_frames = 0
        self.ffc_count = 0
        self.ffc_until: Time | None = None
        self.last_ffc: Time | None = None
        self.measured_rate_hz = 0.0
        self.capture_time_ms = math.nan
        self.ffc_scheduler = self._make_scheduler(p.values)
        self.ffc_reason = ""
        self.last_fpa_c = float("nan")
        self.source_errors = 0
        self.last_error = ""
        self.camera_lost = False
        self.lepton_radiometry_pending = p["lepton_radiometry"] != "unchanged"
        self.lepton_radiometry_result = ""
        self.boson: BosonLink | None = None
        self.boson_ffc = LeptonFfcTracker()  # the Boson's FFC states have the same numbers
        if p["serial_port"].strip():
            self.boson = self._open_boson(p.values)
        self.sim_sensors = None
        if p["simulate_fusion_sensors"] and hasattr(self.source, "simulator"):
            from thermal_perception.ros.sim_sensors import SimSensorPublisher
            self.sim_sensors = SimSensorPublisher(self, self.source.simulator, p.values)
        self.timer = self.create_timer(1.0 / self.rate_hz, self._capture)
        self.diagnostics = diagnostics.DiagnosticsPublisher(self, self._diagnostics)
        self.get_logger().info(
            f"publishing {profile.width}x{profile.height} mono16 at {self.rate_hz:g} Hz from "
            f"{self.source.name} ({profile.name}), frame_id '{p['frame_id']}'")

    def _open_boson(self, values: dict[str, Any]) -> BosonLink:
        """FLIR Boson control on ``serial_port`` (a thread that connects and retries alone)."""
        port, baud = values["serial_port"].strip(), values["serial_baud"]
        logger = self.get_logger()

        def log(level: str, message: str) -> None:  # one call site per severity (rclpy)
            if level == "error":
                logger.error(message)
            elif level == "warning":
                logger.warning(message)
            else:
                logger.info(message)

        return BosonLink(port, lambda: open_port(port, baud),
                         ffc_mode=values["boson_ffc_mode"], gain_mode=values["boson_gain_mode"],
                         video_type=values["boson_output"],
                         poll_interval_s=values["boson_poll_interval_s"], log=log)

    @property
    def rate_hz(self) -> float:
        return self._rate_for(self.params.values)

    def _rate_for(self, values: dict[str, Any]) -> float:
        """Configured rate, else a recording's recorded rate, else the profile's, Hz."""
        recorded = getattr(self.source, "interval_s", None)
        return values["rate_hz"] or (1.0 / recorded if recorded else self.profile.rate_hz)

    def _on_change(self, values: dict[str, Any]) -> None:
        if not hasattr(self, "timer"):
            return
        if values["rate_hz"] != self.params["rate_hz"]:
            self.timer.cancel()
            self.destroy_timer(self.timer)
            self.timer = self.create_timer(1.0 / self._rate_for(values), self._capture)
        self.camera_info.header.frame_id = values["frame_id"]
        self.ffc_scheduler = self._make_scheduler(values, self.ffc_scheduler)

    @staticmethod
    def _make_scheduler(values: dict[str, Any], previous: FfcScheduler | None = None
                        ) -> FfcScheduler:
        scheduler = FfcScheduler(values["ffc_max_fpa_change_k"], values["ffc_interval_s"],
                                 values["ffc_min_interval_s"])
        if previous is not None and previous.last_time_s is not None:
            scheduler.record(previous.last_time_s, previous.last_fpa_c)
        return scheduler

    def _on_clock_jump(self, jump: TimeJump) -> None:
        if self.start_time is None:
            return  # nothing timed yet (e.g. the first /clock message)
        self.clock_jumps_ns += jump.delta.nanoseconds
        self.clock_jumps += 1
        self.get_logger().warning(f"clock jumped by {jump.delta.nanoseconds * 1e-9:+.3f} s; "
                                  "frame timing and FFC schedule continue across it")

    def _timeline(self, clock_time: Time) -> Time:
        """The driver's own time for a node-clock time (clock jumps taken out)."""
        return Time(nanoseconds=clock_time.nanoseconds - self.clock_jumps_ns,
                    clock_type=clock_time.clock_type)

    # -- FFC -----------------------------------------------------------------------------

    def _set_camera_info(self, request: SetCameraInfo.Request,
                         response: SetCameraInfo.Response) -> SetCameraInfo.Response:
        """A new lens calibration: checked against the stream, published, stored."""
        try:
            calibration = calibration_from_message(
                request.camera_info, self.profile.width, self.profile.height, self.get_name())
        except ValueError as exc:
            response.success, response.status_message = False, f"calibration refused: {exc}"
            self.get_logger().warning(response.status_message)
            return response
        self.camera_info = camera_info_from_calibration(calibration,
                                                        self.params["frame_id"])
        path = self.params["camera_info_file"] or str(default_calibration_path(self.get_name()))
        try:
            write_camera_info(path, calibration)  # camera_calibration_parsers YAML, atomic
        except OSError as exc:  # published all the same, as camera_info_manager does
            response.success = False
            response.status_message = (f"calibration published on camera_info but not stored "
                                       f"in {path}: {exc}")
            self.get_logger().error(response.status_message)
            return response
        self.calibration_source = path
        response.success = True
        response.status_message = f"calibration published on camera_info and stored in {path}"
        self.get_logger().info(response.status_message)
        return response

    def _trigger_ffc(self, request: Trigger.Request, response: Trigger.Response
                     ) -> Trigger.Response:
        now = self._timeline(self.get_clock().now())
        if self.boson is not None:
            return self._camera_ffc(now, "Boson", self.boson.run_ffc, response)
        device = self._lepton_device()
        if device:  # a Lepton on a PureThermal board: its FFC through the UVC extension unit
            return self._camera_ffc(now, "Lepton", LeptonUvcControl(device).run_ffc, response)
        if not self.source.has_shutter:
            response.success = False
            response.message = V4L2_FFC_UNREACHABLE if self.source.name.startswith("v4l2") else \
                f"the {self.source.name} source has no shutter"
            return response
        if self.ffc_until is not None and now < self.ffc_until:
            response.success, response.message = False, "FFC already in progress"
            return response
        self._start_ffc(now, "requested by trigger_ffc")
        response.success = True
        response.message = f"shutter closed for {self.params['ffc_duration_s']:g} s"
        return response

    def _camera_ffc(self, now: Time, camera: str, run: Callable[[], tuple[bool, str]],
                    response: Trigger.Response) -> Trigger.Response:
        """``trigger_ffc`` answered by the camera's own FFC (``run``: done, what happened)."""
        ok, message = run()
        if ok:
            self.ffc_count += 1
            self.last_ffc = now
            self.ffc_reason = f"requested by trigger_ffc ({camera})"
            self.get_logger().info(f"flat-field correction: {message}")
        else:
            self.get_logger().warning(f"trigger_ffc failed: {message}")
        response.success, response.message = ok, message
        return response

    def _lepton_device(self) -> str:
        """The video node of a Lepton on a PureThermal board ('' for other cameras, fake
        devices and recordings)."""
        device = getattr(getattr(self.source, "state", None), "device", "")
        return device if self.profile.name.startswith("lepton") and \
            device.startswith("/dev/") else ""

    def _start_ffc(self, now: Time, reason: str) -> None:
        self.ffc_until = now + Duration(seconds=self.params["ffc_duration_s"])
        self.ffc_reason = reason
        self.get_logger().info(f"flat-field correction ({reason}): shutter closed")

    def _ffc_state(self, capture: Time, time_s: float) -> tuple[int, bool]:
        if self.params["auto_ffc"] and self.source.has_shutter and self.ffc_until is None:
            due, reason = self.ffc_scheduler.due(time_s, self.last_fpa_c)
            if due:
                self._start_ffc(capture, reason)
        if self.ffc_until is None:
            return ThermalStatus.FFC_STATE_IDLE, False
        if capture < self.ffc_until:
            return ThermalStatus.FFC_STATE_IN_PROGRESS, True
        self.ffc_until = None
        self.last_ffc = capture
        self.ffc_count += 1
        self.ffc_scheduler.record(time_s, self.last_fpa_c)
        return ThermalStatus.FFC_STATE_COMPLETE, False

    # -- capture -------------------------------------------------------------------------

    def _capture(self) -> None:
        if self.params["source"] == "recording" and self.image_pub.get_subscription_count() == 0:
            return  # a recording waits for a listener instead of playing to nobody
        clock_now = self.get_clock().now()  # capture time, before any work on the frame
        capture = self._timeline(clock_now)
        wall = time.perf_counter()
        if self.start_time is None:
            self.start_time = capture
        period_s = 1.0 / self.rate_hz
        if self.last_capture is not None:
            gap_s = (capture - self.last_capture).nanoseconds * 1e-9
            if gap_s > 1.5 * period_s:
                self.dropped_frames += round(gap_s / period_s) - 1
            if gap_s > 0:  # exponential average of the instantaneous rate
                weight = 0.05 if self.measured_rate_hz else 1.0
                self.measured_rate_hz += weight * (1.0 / gap_s - self.measured_rate_hz)
        self.last_capture = capture
        time_s = (capture - self.start_time).nanoseconds * 1e-9
        ffc_state, shutter_closed = self._ffc_state(capture, time_s)
        try:
            frame = self.source.read(time_s, shutter_closed)
        except EOFError as exc:
            if not self.finished:
                self.finished = True
                self.get_logger().info(f"{exc}; no more frames")
            return
        except NoFrame:
            return  # a live camera between frames
        except CameraDisconnected as exc:
            if not self.camera_lost:  # logged once; /diagnostics reports ERROR meanwhile
                self.camera_lost = True
                self.get_logger().error(f"{exc.strerror or exc}; reconnecting")
            return
        except (OSError, RuntimeError, ValueError) as exc:
            self.source_errors += 1
            self.last_error = str(exc)
            self.get_logger().error(f"frame source failed: {exc}", throttle_duration_sec=5.0)
            return
        if self.camera_lost:
            self.camera_lost = False
            self.get_logger().info("camera back, streaming")
        if math.isfinite(frame.fpa_temperature_c):
            self.last_fpa_c = frame.fpa_temperature_c
        if frame.stamp_ns is not None and self.params["recorded_stamps"]:
            stamp_ns = frame.stamp_ns
            stamp = Time(nanoseconds=stamp_ns).to_msg()
        else:
            stamp_ns = clock_now.nanoseconds
            stamp = clock_now.to_msg()
        trace = self.trace
        if trace is not None:
            trace.mark(stamp_ns, "read")
        frame_id = self.params["frame_id"]
        array_to_image(frame.counts, "mono16", frame_id=frame_id, stamp=stamp,
                       msg=self.image_msg)
        if trace is not None:
            trace.mark(stamp_ns, "converted")
        self.camera_info.header.stamp = stamp
        self.frame_count += 1
        if self.lepton_radiometry_pending:  # once, when the camera streams
            self._apply_lepton_radiometry()
        s = self.status_msg
        s.header.stamp, s.header.frame_id = stamp, frame_id
        s.fpa_temperature_c = frame.fpa_temperature_c
        s.housing_temperature_c = frame.housing_temperature_c
        s.ffc_state = ffc_state if frame.ffc_state is None else frame.ffc_state  # camera's own
        if self.boson is not None:  # a Boson's frames carry neither: read over serial
            boson = self.boson.snapshot()
            if not math.isfinite(frame.fpa_temperature_c):
                s.fpa_temperature_c = boson.fpa_temperature_c
                if math.isfinite(boson.fpa_temperature_c):
                    self.last_fpa_c = boson.fpa_temperature_c
            if frame.ffc_state is None and boson.ffc_status is not None:
                s.ffc_state = self.boson_ffc.update(boson.ffc_status)
            s.camera_serial = boson.serial_number or s.camera_serial
        if not s.camera_serial:  # a V4L2 camera's USB serial (a str: read atomically)
            s.camera_serial = getattr(getattr(self.source, "state", None), "usb_serial", "")
        s.shutter_closed = frame.shutter_closed
        s.last_ffc_time = Time(nanoseconds=max(0, self.last_ffc.nanoseconds + self.clock_jumps_ns)
                               ).to_msg() if self.last_ffc else Time().to_msg()
        s.ffc_count, s.frame_count = self.ffc_count, self.frame_count
        s.dropped_frames = self.dropped_frames + getattr(self.source, "dropped", 0)
        s.frame_rate_hz = float(self.measured_rate_hz)
        # status first: a processor that gets the image already knows the shutter state
        self.status_pub.publish(s)
        if trace is not None:
            trace.mark(stamp_ns, "publish")
        self.image_pub.publish(self.image_msg)
        if trace is not None:
            trace.mark(stamp_ns, "published")
            trace.done(stamp_ns)
        self.info_pub.publish(self.camera_info)
        if self.sim_sensors is not None:
            self.sim_sensors.publish(time_s, stamp)
        self.capture_time_ms = (time.perf_counter() - wall) * 1e3

    def _apply_lepton_radiometry(self) -> None:
        """Set a PureThermal Lepton's TLinear output as ``lepton_radiometry`` says."""
        self.lepton_radiometry_pending = False
        wanted = self.params["lepton_radiometry"]
        device = self._lepton_device()
        if not self.profile.name.startswith("lepton"):
            self.lepton_radiometry_result = f"not applied: {self.profile.name} is no Lepton"
        elif not device:
            source_device = getattr(getattr(self.source, "state", None), "device", "")
            self.lepton_radiometry_result = (f"not applied: {source_device or 'the device'} "
                                             "has no UVC extension unit")
        else:
            try:
                control = LeptonUvcControl(device)
                if wanted == "off":
                    control.set_tlinear(False)
                else:
                    control.set_tlinear(True, float(wanted.split("_")[1]))
                enabled, resolution_k = control.tlinear()
                self.lepton_radiometry_result = (f"TLinear {'on' if enabled else 'off'}, "
                                                 f"{resolution_k:g} K per count (read back)")
            except (OSError, ValueError) as exc:
                self.lepton_radiometry_result = f"not applied: {exc}"
        log = self.get_logger().info if self.lepton_radiometry_result.startswith("TLinear") \
            else self.get_logger().warning
        log(f"lepton_radiometry {wanted}: {self.lepton_radiometry_result}")

    def _diagnostics(self) -> list:
        rate = self.rate_hz
        values = {"frames": self.frame_count, "dropped_frames": self.dropped_frames,
                  "configured_rate_hz": rate, "measured_rate_hz": float(self.measured_rate_hz),
                  "ffc_count": self.ffc_count, "last_ffc_reason": self.ffc_reason,
                  "fpa_temperature_c": self.last_fpa_c, "source_errors": self.source_errors,
                  "frame_time_ms": self.capture_time_ms, "clock_jumps": self.clock_jumps,
                  "calibration": self.calibration_source}
        health = getattr(self.source, "health", None)  # live cameras: connection state
        problem, camera_values = health() if health is not None else (None, {})
        values.update(camera_values)
        if self.lepton_radiometry_result:
            values["lepton_radiometry"] = self.lepton_radiometry_result
        if problem:
            level, message = diagnostics.ERROR, problem
        elif self.source_errors and self.last_error:
            level, message = diagnostics.ERROR, f"source error: {self.last_error}"
            self.last_error = ""
        elif self.frame_count and abs(self.measured_rate_hz - rate) > 0.1 * rate:
            level, message = diagnostics.WARN, "frame rate off target"
        elif self.finished:
            level, message = diagnostics.WARN, "end of recording"
        elif not self.frame_count:
            level, message = diagnostics.WARN, "no frames yet"
        else:
            level, message = diagnostics.OK, "streaming"
        statuses = [diagnostics.status(f"{self.get_name()}: camera", level, message, values,
                                       hardware_id=f"{self.source.name}:{self.profile.name}")]
        if self.boson is not None:
            problem, boson_values = self.boson.health()
            ok_message = (f"Boson {boson_values['serial_number']} firmware "
                          f"{boson_values['firmware']} answering")
            statuses.append(diagnostics.status(
                f"{self.get_name()}: boson control", diagnostics.ERROR if problem
                else diagnostics.OK, problem or ok_message, boson_values,
                hardware_id=f"boson:{boson_values['serial_port']}"))
        return statuses

    def destroy_node(self) -> None:
        boson = getattr(self, "boson", None)
        if boson is not None:
            boson.close()
        if getattr(self, "trace", None) is not None:
            self.trace.close()
        source = getattr(self, "source", None)  # absent if the constructor failed
        if source is not None:
            source.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Entry point of ``ros2 run thermal_perception driver``."""
    from thermal_perception.ros.spin import spin_node

    spin_node(DriverNode, args)


if __name__ == "__main__":
    main()
