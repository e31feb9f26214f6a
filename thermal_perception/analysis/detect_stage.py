"""Detection stage of the analysis: the detector and tracker as the detector node runs them, on
every N-th frame (tracks predicted between), on a thread or in a worker process whose results
are resolved in frame order.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from thermal_perception.analysis.detect import (
    CoreDetector,
    DetectionRecord,
    EgoMotion,
    make_detector,
    predict_tracks,
)
from thermal_perception.analysis.options import DEFAULT_DETECT_HZ, NS_PER_S, PROCESS_MIN_FRAMES
from thermal_perception.analysis.outputs import (
    FrameRow,
)
from thermal_perception.analysis.read_stage import BagFrame


def detect_every_for(rate_hz: float, detect_hz: float = DEFAULT_DETECT_HZ) -> int:
    """Detection on every N-th frame of a ``rate_hz`` stream for about ``detect_hz``
    detections per second (at least every frame; N = 1 for an unknown rate)."""
    if not (math.isfinite(rate_hz) and rate_hz > 0 and detect_hz > 0):
        return 1
    return max(1, round(rate_hz / detect_hz))


class DetectStage:
    """Detection stage of :class:`~.analyze.BagAnalysis`.
    Sets ``detector``, ``detect_every``, ``ego`` and ``detect_process``; keeps ``pending``
    (frames waiting for the process's detections, in order) and ``tracked`` (tracks of the
    last resolved detection frame).
    """

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

    def _gsd(self, frame: BagFrame, width: int, height: int) -> float | None:
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

    def _next_detection(self, temperature: NDArray[np.float32], frame: BagFrame
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
                frame: BagFrame) -> list[DetectionRecord]:
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

    def _predict(self, row: FrameRow, frame: BagFrame) -> list[DetectionRecord]:
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
                          frame: BagFrame) -> int | None:
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

    def _defer(self, row: FrameRow, frame: BagFrame, temperature: NDArray[np.float32] | None,
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
