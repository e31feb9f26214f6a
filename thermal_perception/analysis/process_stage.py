"""Processing stage of the analysis: the processor node's chain (bad pixels, NUC, flat-field
corrections, drift, radiometry) built from its parameters, the per-camera correction, and the
per-frame measurement (statistics, temperature image) into buffers pooled per stream.
"""

from __future__ import annotations

import math
import queue
import time

import numpy as np
from numpy.typing import NDArray

from thermal_perception.analysis.detect import (
    AUTO,
    Detector,
)
from thermal_perception.analysis.options import DETECT_WORKERS, READER_POLL_S
from thermal_perception.analysis.outputs import (
    STATE_REJECTED,
    FrameRow,
)
from thermal_perception.analysis.read_stage import BagFrame
from thermal_perception.analysis.stats import FrameStats, SequenceStatistics


class ProcessStage:
    """Processing stage of :class:`~.analyze.BagAnalysis`.
    Sets ``values``, ``profile``, ``converter``, ``chain``, ``emissivity_map``,
    ``renderer``, ``rois``, ``alarms``, ``corrections``/``correction``, ``stats`` and the
    detector's parameters (``detector_values``).
    """

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

    def _note_correction_range(self) -> None:
        """The fraction of all frames' pixels whose corrected temperature lies outside the
        correction's ``valid_range_c`` (in the result; a warning above OUTSIDE_RANGE_WARN)."""
        from thermal_perception.core.correction.per_camera import OUTSIDE_RANGE_WARN

        c = self.correction
        if c is None or c.valid_range_c is None:
            return
        fraction = c.outside_valid_range(*self.stats.weighted_temperatures())
        if fraction is None or not math.isfinite(fraction):  # no valid pixel: nothing to say
            return
        self.result.correction_outside_fraction = fraction
        if fraction > OUTSIDE_RANGE_WARN:
            self.result.warnings.append(f"temperature correction extrapolated: "
                                        f"{c.describe_outside(fraction)}")

    def _correct(self, temperature: NDArray[np.float32]) -> None:
        """Apply the temperature correction in place (as the processor node does)."""
        if self.correction is not None and not self.correction.is_identity:
            self.correction.apply(temperature, out=temperature)

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

    def _measure(self, counts: NDArray[np.uint16], row: FrameRow, frame: BagFrame,
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
