"""Processor node: raw counts -> temperature image (32FC1, deg C) and display image (bgr8).

Subscribes ``image_raw`` (mono16/16UC1) and ``status``; publishes ``image_temperature``
(32FC1, deg C, NaN for invalid pixels), ``image_temperature_sigma`` (32FC1, one-sigma
uncertainty in K from NETD, emissivity and reflected-temperature uncertainty) and
``image_display`` (bgr8). A per-camera temperature correction (``correction_file``, entry
by ``camera_serial`` or the serial in the driver's status) scales and shifts the temperatures
(and scales the uncertainty) after the conversion. Outputs nobody subscribes
to are not computed. Frames captured while the shutter is closed (FFC) are not published as
measurements. Bad frames are logged, counted and reported on ``/diagnostics``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image

from thermal_perception.core.correction.per_camera import OUTSIDE_RANGE_WARN
from thermal_perception.core.measure import AlarmMonitor, RoiSet
from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.io.frames import load_emissivity_map
from thermal_perception.io.image_encoding import (
    ImageConversionError,
    array_to_image,
    image_oddity,
    image_to_array,
)
from thermal_perception.io.messages import header_ns
from thermal_perception.msg import RoiStatistics, RoiStatisticsArray, ThermalStatus
from thermal_perception.ros import diagnostics, intra_process
from thermal_perception.ros.compressed import CompressedPublisher
from thermal_perception.ros.params import ParameterSet
from thermal_perception.ros.qos import reliable_qos, sensor_qos
from thermal_perception.ros.stream_health import TIME_RESET, StreamHealth
from thermal_perception.ros.trace import from_environment as trace_from_environment
from thermal_perception.settings.processor import (
    CHAIN,
    CORRECTION,
    DISPLAY,
    PARAMS,
    RADIOMETRIC,
    RAW_ENCODINGS,
    chain_from,
    check_combination,
    converter_from,
    corrections_from,
    describe_model,
    display_image,
    renderer_from,
    select_correction,
)


class ProcessorNode(Node):
    """Turns raw counts into temperature and display images."""

    def __init__(self, **node_args: Any) -> None:
        super().__init__("processor", **node_args)
        self.params = ParameterSet(self, PARAMS, check_combination, self._on_change)
        p = self.params
        self.profile = get_profile(p["camera_profile"])
        self.table = BandRadianceTable(self.profile.band_m)
        self.converter = converter_from(p.values, self.profile, self.table)
        # files that could not be used at start, by parameter: ERROR on /diagnostics until
        # a runtime change of that parameter succeeds
        self.setup_errors: dict[str, str] = {}
        try:
            self.chain = chain_from(p.values, self.profile, self.converter)
        except ValueError as exc:  # keep running uncorrected; diagnostics say why (ERROR)
            self.setup_errors["nuc_file"] = str(exc)
            self.get_logger().error(f"{exc}; running without NUC table")
            self.chain = chain_from({**p.values, "nuc_file": ""}, self.profile, self.converter)
        self.emissivity_map: np.ndarray | None = None
        if p["emissivity_map_file"]:
            try:
                self.emissivity_map = load_emissivity_map(p["emissivity_map_file"])
            except ValueError as exc:
                self.setup_errors["emissivity_map_file"] = str(exc)
                self.get_logger().error(f"{exc}; using the scalar emissivity")
        # per-camera temperature correction: the table, the serial the driver reports and
        # the entry chosen (None: temperatures as converted)
        self.corrections = None
        self.status_serial = ""
        self.correction = None
        self.correction_note = ""
        self.corrected_by = None  # the correction self.temperature was made with, if any
        if p["correction_file"]:
            try:
                self.corrections = corrections_from(p.values)
            except ValueError as exc:
                self.setup_errors["correction_file"] = str(exc)
                self.get_logger().error(f"{exc}; publishing uncorrected temperatures")
        self._select_correction(p.values)
        self.ffc_pending: ThermalStatus | None = None
        self.input = StreamHealth()  # rate, staleness, duplicate and out-of-order stamps
        self.reported_param_rejections = 0
        self.renderer = renderer_from(p)
        self.rois = RoiSet.from_strings(p["rois"])
        self.alarms = AlarmMonitor(self.rois)
        self.roi_stats: list = []
        qos = sensor_qos(p["image_reliability"])
        self.temperature_pub = intra_process.publisher(self, Image, "image_temperature", qos)
        self.display_pub = self.create_publisher(Image, "image_display", qos)
        self.display_jpeg = CompressedPublisher(self, "image_display", qos)
        self.sigma_pub = self.create_publisher(Image, "image_temperature_sigma", qos)
        self.roi_pub = self.create_publisher(RoiStatisticsArray, "roi_stats", reliable_qos())
        # status first: when both are ready the executor serves it first
        intra_process.subscription(self, ThermalStatus, "status", self._on_status, reliable_qos())
        intra_process.subscription(self, Image, "image_raw", self._on_image, qos)
        self.status_at: OrderedDict[tuple[int, int], ThermalStatus] = OrderedDict()
        # A frame whose status has not arrived yet waits here (status and image travel on
        # different topics, so their order is not guaranteed), at most status_wait_s.
        self.waiting_for_status: Image | None = None
        self.status_wait_s = float(p["status_wait_s"])
        self.status_timeouts = 0  # frames processed without their status
        self.status_timer = self.create_timer(max(self.status_wait_s, 1e-3),
                                              self._on_status_timeout)
        self.status_timer.cancel()
        self.temperature = np.empty((0, 0), np.float32)
        self.sigma = np.empty((0, 0), np.float32)
        self.temperature_msg = Image()
        self.trace = trace_from_environment("processor")  # None unless THERMAL_PERCEPTION_TRACE
        self.sigma_msg = Image()
        self.display_msg = Image()
        self.display_jpeg_bytes = 0  # size of the last image_display/compressed, bytes
        self.frames_in = self.frames_out = self.rejected = self.skipped_shutter = 0
        self.last_reject = ""
        self.odd_frames = 0  # used, with something odd about them (see _note)
        self.last_oddity = ""
        self.ffc_failures, self.ffc_error = 0, ""
        self.processing_ms = float("nan")
        self.invalid_fraction = 0.0
        self.invalid_mask = np.empty((0, 0), bool)
        self.invalid_frames = 0  # frames with no valid pixel at all
        self.invalid_warned_at = -math.inf
        self.diagnostics = diagnostics.DiagnosticsPublisher(self, self._diagnostics)

    def _on_change(self, values: dict[str, Any]) -> None:
        if not hasattr(self, "converter"):
            return
        # build everything first: a ValueError rejects the change with the old state intact
        converter, chain, emissivity_map = self.converter, self.chain, self.emissivity_map
        new_map = values["emissivity_map_file"] != self.params["emissivity_map_file"]
        new_chain = any(values[n] != self.params[n] for n in CHAIN)
        if any(values[n] != self.params[n] for n in RADIOMETRIC):
            converter = converter_from(values, self.profile, self.table)
        if new_map:
            emissivity_map = load_emissivity_map(values["emissivity_map_file"]) \
                if values["emissivity_map_file"] else None
        if new_chain:
            chain = chain_from(values, self.profile, converter)
        new_correction = any(values[n] != self.params[n] for n in CORRECTION)
        corrections = corrections_from(values) if new_correction else self.corrections
        chain.converter = converter
        self.converter, self.chain, self.emissivity_map = converter, chain, emissivity_map
        if new_map:
            self.setup_errors.pop("emissivity_map_file", None)
        if new_chain:
            self.setup_errors.pop("nuc_file", None)
        if new_correction:
            self.corrections = corrections
            self.setup_errors.pop("correction_file", None)
            self._select_correction(values)
        if any(values[n] != self.params[n] for n in DISPLAY):
            self.renderer = renderer_from(values)
        if values["rois"] != self.params["rois"]:
            self.rois = RoiSet.from_strings(values["rois"])
            self.alarms = AlarmMonitor(self.rois)
            self.roi_stats = []

    def _select_correction(self, values: dict[str, Any]) -> None:
        """Choose the temperature correction for the parameters and the driver's serial."""
        correction, note = select_correction(self.corrections, values, self.status_serial)
        if (correction, note) != (self.correction, self.correction_note) and \
                self.corrections is not None:
            self.get_logger().info(f"temperature correction: {correction.describe()} ({note})"
                                   if correction is not None else
                                   f"no temperature correction: {note}")
        self.correction, self.correction_note = correction, note

    def _on_status(self, msg: ThermalStatus) -> None:
        if self.trace is not None:
            self.trace.event(header_ns(msg.header), "status")
        serial = getattr(msg, "camera_serial", "")  # absent from older message definitions
        if serial != self.status_serial:
            self.status_serial = serial
            self._select_correction(self.params.values)
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        self.status_at[key] = msg
        while len(self.status_at) > 64:
            self.status_at.popitem(last=False)
        waiting = self.waiting_for_status
        if waiting is not None and _stamp_key(waiting) == key:
            self.waiting_for_status = None
            self.status_timer.cancel()
            self._process(waiting)

    def _on_status_timeout(self) -> None:
        """The waiting frame's status did not come within status_wait_s: process it as a
        scene frame (no FPA temperature, not a shutter frame)."""
        self.status_timer.cancel()
        waiting, self.waiting_for_status = self.waiting_for_status, None
        if waiting is not None:
            self.status_timeouts += 1
            self._process(waiting)

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self.last_reject = reason
        self.get_logger().warning(f"rejected frame: {reason}", throttle_duration_sec=5.0)

    def _note(self, what: str) -> None:
        """A frame used as it is, with something odd about it: counted, logged (at most
        every 5 s) and said on /diagnostics."""
        self.odd_frames += 1
        self.last_oddity = what
        self.get_logger().warning(f"frame used as it is, but: {what}",
                                  throttle_duration_sec=5.0)

    def _on_image(self, msg: Image) -> None:
        if self.trace is not None:
            self.trace.mark(header_ns(msg.header), "received")
        self.frames_in += 1
        self.input.arrived()
        waiting, self.waiting_for_status = self.waiting_for_status, None
        if waiting is not None:  # its status never came: process it as a scene frame
            self.status_timer.cancel()
            self.status_timeouts += 1
            self._process(waiting)
        if self.status_wait_s > 0 and self.status_at and _stamp_key(msg) not in self.status_at:
            self.waiting_for_status = msg
            self.status_timer.reset()
            return
        self._process(msg)

    def _process(self, msg: Image) -> None:
        start = time.perf_counter()
        trace = self.trace
        if trace is not None:
            trace.mark(header_ns(msg.header), "start")
        want_temperature = self.temperature_pub.get_subscription_count() > 0
        want_raw_display = self.display_pub.get_subscription_count() > 0
        want_jpeg = self.display_jpeg.wanted()
        want_display = want_raw_display or want_jpeg
        want_sigma = self.sigma_pub.get_subscription_count() > 0
        want_rois = len(self.rois) > 0  # alarms are watched even when nobody subscribes
        if msg.encoding not in RAW_ENCODINGS:
            self._reject(f"encoding '{msg.encoding}' is not raw counts "
                         f"(expected one of {list(RAW_ENCODINGS)})")
            return
        try:
            counts = image_to_array(msg)
        except ImageConversionError as exc:
            self._reject(str(exc))
            return
        if counts.size == 0:
            self._reject(f"empty image ({msg.width}x{msg.height})")
            return
        oddity = image_oddity(msg)
        if oddity is not None:
            self._note(oddity)
        stamp = self.input.check_stamp(header_ns(msg.header))
        if not stamp.accepted:  # counted, logged, WARN on /diagnostics
            self.get_logger().warning(f"dropped frame: {stamp.verdict.replace('_', '-')} stamp",
                                      throttle_duration_sec=5.0)
            return
        if stamp.verdict == TIME_RESET:
            self.get_logger().warning("input stamps went back in time: restarted (a looping "
                                      "recording or a reset simulation clock)")
        status = self.status_at.get(_stamp_key(msg))
        if status is not None and status.shutter_closed:
            self.chain.shutter_frame(counts)  # the shutter is the FFC's reference
            self.ffc_pending = status
            if self.params["skip_shutter_frames"]:
                self.skipped_shutter += 1
                return
        elif self.ffc_pending is not None:
            shutter, self.ffc_pending = self.ffc_pending, None
            try:
                if self.chain.finish_ffc(shutter.housing_temperature_c,
                                         shutter.fpa_temperature_c):
                    self.get_logger().info(
                        f"flat-field correction {self.chain.state.ffc_count} applied (shutter "
                        f"{shutter.housing_temperature_c:.2f} C)")
            except ValueError as exc:  # shutter frames of two sizes, absurd temperatures
                self.ffc_failures += 1
                self.ffc_error = str(exc)
                self.get_logger().warning(f"flat-field correction failed, offsets kept: {exc}")
        if not (want_temperature or want_display or want_sigma or want_rois):
            return  # lazy: nobody listens
        dt_s = stamp.dt_s
        fpa_c = status.fpa_temperature_c if status is not None else float("nan")
        try:
            corrected = self.chain.corrected_counts(counts, fpa_c, dt_s)
        except ValueError as exc:  # e.g. a NUC table for another image size
            self._reject(str(exc))
            return
        if self.temperature.shape != counts.shape:
            self.temperature = np.empty(counts.shape, np.float32)
            self.corrected_by = None  # not filled yet
        if self.emissivity_map is None:
            temperature = self.converter(corrected, out=self.temperature)
        elif self.emissivity_map.shape != corrected.shape:
            self._reject(f"emissivity map {self.emissivity_map.shape[::-1]} does not fit "
                         f"{corrected.shape[::-1]} frames")
            return
        else:
            temperature = self.converter.with_emissivity_map(corrected, self.emissivity_map,
                                                             out=self.temperature)
        correction = self.correction
        if correction is not None and not correction.is_identity:
            correction.apply(temperature, out=temperature)
        self.corrected_by = correction
        if trace is not None:
            trace.mark(header_ns(msg.header), "computed")
        if want_temperature:
            array_to_image(temperature, "32FC1", header=msg.header, msg=self.temperature_msg)
            if trace is not None:
                trace.mark(header_ns(msg.header), "converted")
            self.temperature_pub.publish(self.temperature_msg)
            if trace is not None:
                trace.mark(header_ns(msg.header), "published")
                trace.done(header_ns(msg.header))
        if want_rois:
            self._measure_rois(temperature, msg.header)
        if want_display:
            display = self._display(temperature)
            if want_raw_display:
                array_to_image(display, "bgr8", header=msg.header, msg=self.display_msg)
                self.display_pub.publish(self.display_msg)
            if want_jpeg:
                self.display_jpeg_bytes = self.display_jpeg.publish(
                    display, msg.header, self.params["display_jpeg_quality"])
        if want_sigma:
            if self.sigma.shape != counts.shape:
                self.sigma = np.empty(counts.shape, np.float32)
            sigma = self.converter.uncertainty(corrected, out=self.sigma)
            if correction is not None and correction.gain != 1.0:
                correction.apply_sigma(sigma, out=sigma)
            array_to_image(sigma, "32FC1", header=msg.header, msg=self.sigma_msg)
            self.sigma_pub.publish(self.sigma_msg)
        self.frames_out += 1
        elapsed_ms = (time.perf_counter() - start) * 1e3
        self.processing_ms = elapsed_ms if self.frames_out == 1 else \
            0.9 * self.processing_ms + 0.1 * elapsed_ms
        self._count_invalid(temperature)

    def _count_invalid(self, temperature: np.ndarray) -> None:
        """Invalid (NaN) pixels of every frame (about 0.1 ms at 640x512 into a buffer kept
        per stream); a frame with no valid pixel is counted and warned about (at most every
        10 s), e.g. all-zero counts or counts outside the radiometric model."""
        if self.invalid_mask.shape != temperature.shape:
            self.invalid_mask = np.empty(temperature.shape, bool)
        np.isnan(temperature, out=self.invalid_mask)
        invalid = int(np.count_nonzero(self.invalid_mask))
        self.invalid_fraction = invalid / max(1, temperature.size)
        if invalid == temperature.size:
            self.invalid_frames += 1
            now = time.monotonic()
            if now - self.invalid_warned_at >= 10.0:
                self.invalid_warned_at = now
                self.get_logger().warning(
                    f"frame with no valid pixel ({self.invalid_frames} so far): the counts lie "
                    "outside the radiometric model (all-zero, saturated or a wrong camera "
                    "profile); temperatures published as NaN")

    def _measure_rois(self, temperature: np.ndarray, header: Any) -> None:
        """ROI statistics and alarms; publishes ``roi_stats``, logs alarm transitions."""
        self.roi_stats = self.rois.stats(temperature)
        update = self.alarms.update(self.roi_stats)
        for transition in update.transitions:
            self.get_logger().warning(str(transition))
        rules = {roi.name: roi.alarm.describe() if roi.alarm else "" for roi in self.rois}
        out = RoiStatisticsArray(header=header)
        for st in self.roi_stats:
            max_xy, min_xy = st.max_xy or (0, 0), st.min_xy or (0, 0)
            out.regions.append(RoiStatistics(
                name=st.name, shape=st.shape, pixel_count=st.pixel_count,
                valid_count=st.valid_count, min_c=st.min_c, max_c=st.max_c, mean_c=st.mean_c,
                std_c=st.std_c, p05_c=st.p05_c, p50_c=st.p50_c, p95_c=st.p95_c,
                max_x=max_xy[0], max_y=max_xy[1], min_x=min_xy[0], min_y=min_xy[1],
                alarm_state=update.states.get(st.name, ""), alarm_rule=rules[st.name]))
        self.roi_pub.publish(out)

    def _display(self, temperature: np.ndarray) -> np.ndarray:
        return display_image(self.renderer, temperature, self.params.values, self.rois,
                             self.roi_stats, self.alarms.states)

    def _correction_outside(self) -> float | None:
        """Share of the last frame outside the correction's ``valid_range_c`` (every 4th row
        and column: ~0.1 ms at 640x512, so taken when diagnostics are, not per frame); None
        without a range or a frame made with this correction."""
        c = self.correction
        if c is None or c.valid_range_c is None or self.corrected_by is not c:
            return None
        return c.outside_valid_range(self.temperature[::4, ::4])

    def _correction_values(self, outside: float | None) -> dict[str, Any]:
        """Which temperature correction is applied (serial, gain, offset, method, date, the
        share ``outside`` its valid range), or why none."""
        c = self.correction
        if c is None:
            why = self.setup_errors.get("correction_file") or self.correction_note
            return {"temperature_correction": f"none ({why})"}
        return {"temperature_correction": f"{c.describe()}; {self.correction_note}",
                "correction_serial": c.serial, "correction_gain": c.gain,
                "correction_offset_k": c.offset_k, "correction_method": c.method,
                "correction_date": c.date, "correction_file": self.corrections.path,
                "correction_outside_valid_range": c.describe_outside(outside)}

    def _roi_diagnostics(self) -> list:
        if not len(self.rois):
            return []
        states = self.alarms.states
        alarmed = [name for name, state in states.items() if state == "alarm"]
        values = {st.name: f"max {st.max_c:.2f} C, mean {st.mean_c:.2f} C "
                  f"({states.get(st.name) or 'no alarm'})" for st in self.roi_stats}
        if alarmed:
            level, message = diagnostics.WARN, f"alarm in {', '.join(alarmed)}"
        elif any(state == "invalid" for state in states.values()):
            level, message = diagnostics.WARN, "ROI without valid pixels"
        else:
            level, message = diagnostics.OK, f"{len(self.rois)} ROIs"
        return [diagnostics.status(f"{self.get_name()}: regions of interest", level, message,
                                   values)]

    def _diagnostics(self) -> list:
        values = {"frames_in": self.frames_in, "frames_out": self.frames_out,
                  "rejected_frames": self.rejected, "odd_frames": self.odd_frames,
                  "shutter_frames_skipped": self.skipped_shutter,
                  "processing_ms": self.processing_ms,
                  "invalid_pixel_fraction": self.invalid_fraction,
                  "frames_without_valid_pixels": self.invalid_frames,
                  "emissivity": self.params["emissivity"],
                  "radiometric_model": describe_model(self.params.values, self.profile),
                  **self.input.values(),
                  "parameter_changes_rejected": self.params.rejections,
                  "last_parameter_rejection": self.params.last_rejection,
                  "ffc_failures": self.ffc_failures,
                  "frames_without_status": self.status_timeouts,
                  "display_jpeg_bytes": self.display_jpeg_bytes}
        state = self.chain.state
        values.update({"nuc_source": state.nuc_source, "ffc_count": state.ffc_count,
                       "ffc_fpa_temperature_c": state.last_ffc_fpa_c,
                       "bad_pixels": state.bad_pixel_count})
        outside = self._correction_outside()
        values.update(self._correction_values(outside))
        stamp_problems = self.input.stamp_problems()
        new_param_rejection = self.params.rejections > self.reported_param_rejections
        self.reported_param_rejections = self.params.rejections
        if self.setup_errors:
            level, message = diagnostics.ERROR, "; ".join(self.setup_errors.values())
        elif self.input.stale():
            level, message = diagnostics.WARN, (f"stale: no frames for "
                                                f"{self.input.silence_s():.1f} s")
        elif self.last_reject:
            level, message = diagnostics.WARN, f"rejected frame: {self.last_reject}"
            self.last_reject = ""
        elif stamp_problems:
            level, message = diagnostics.WARN, stamp_problems
        elif self.last_oddity:
            level, message = diagnostics.WARN, f"frame used as it is, but: {self.last_oddity}"
            self.last_oddity = ""
        elif self.ffc_error:
            level, message = diagnostics.WARN, f"flat-field correction failed: {self.ffc_error}"
            self.ffc_error = ""
        elif new_param_rejection:
            level, message = diagnostics.WARN, ("parameter change rejected: "
                                                f"{self.params.last_rejection}")
        elif self.invalid_fraction >= 1.0:
            level, message = diagnostics.WARN, ("no valid pixel in the last frame (counts "
                                                "outside the radiometric model)")
        elif self.invalid_fraction > 0.05:
            level, message = diagnostics.WARN, (f"{self.invalid_fraction:.0%} of pixels "
                                                "saturated or invalid")
        elif self.corrections is not None and self.correction is None:
            level, message = diagnostics.WARN, f"no temperature correction: " \
                f"{self.correction_note}"
        elif outside is not None and outside > OUTSIDE_RANGE_WARN:
            level, message = diagnostics.WARN, ("temperature correction extrapolated: " +
                                                self.correction.describe_outside(outside))
        elif not self.frames_in:
            level, message = diagnostics.WARN, "no frames received"
        else:
            level, message = diagnostics.OK, "processing"
        return [diagnostics.status(f"{self.get_name()}: processing", level, message, values),
                *self._roi_diagnostics()]


def _stamp_key(msg: Any) -> tuple[int, int]:
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``ros2 run thermal_perception processor``."""
    from thermal_perception.ros.spin import spin_node

    spin_node(ProcessorNode, args)


if __name__ == "__main__":
    main()
