"""The processing chain, configured from one parameter set: raw counts -> corrected counts ->
temperature, with the same code for the live processor node, bag replay and benchmarks.

Stages, in order (each optional)::

    raw counts --NUC table (gain, offset, FPA drift)--> --scene-based NUC-->
      --bad-pixel replacement--> --thermal-lag compensation--> --radiometric LUT--> deg C

Flat-field correction (FFC): frames taken while the shutter is closed are collected; when the
shutter opens, the NUC offsets are refreshed from their mean so that they read the shutter's
temperature (gains kept). A chain without a NUC file starts from the identity table, so FFC
alone already removes offset non-uniformity and drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.constants import zero_Celsius

from thermal_perception.core.correction.badpixels import BadPixelReplacer, FlickerDetector
from thermal_perception.core.correction.lag import LagCompensator
from thermal_perception.core.correction.nuc import NucTable, SceneBasedNuc, ffc_offset_update
from thermal_perception.core.physics.calibration import CountsToTemperature

MAX_SHUTTER_FRAMES = 16  # frames of one FFC averaged for the new offsets
# FPA temperatures outside this range (deg C) are telemetry errors: no drift correction then.
FPA_PLAUSIBLE_C = (-100.0, 200.0)


def plausible_fpa(fpa_c: float) -> bool:
    """Whether an FPA temperature (deg C) is usable: finite and in FPA_PLAUSIBLE_C."""
    return FPA_PLAUSIBLE_C[0] <= fpa_c <= FPA_PLAUSIBLE_C[1]  # False for NaN


@dataclass(frozen=True)
class ChainConfig:
    """What the chain does; every field maps to a processor parameter.

    nuc_file : NUC table path ("" = none: identity gains, offsets from FFC).
    drift_compensation : correct offsets for the FPA temperature with the table's drift map.
    ffc : refresh offsets from shutter frames.
    scene_nuc : learn residual offsets from the moving scene (cameras without shutter).
    bad_pixels : replace bad pixels (from the NUC table and detected flicker).
    flicker_detection : find flickering pixels online.
    lag_compensation : invert the bolometer's thermal lag; ``lag_strength`` in [0, 1].
    time_constant_s : bolometer time constant, s; noise_sigma_counts : temporal noise, counts.
    """

    nuc_file: str = ""
    drift_compensation: bool = True
    ffc: bool = True
    scene_nuc: bool = False
    bad_pixels: bool = True
    flicker_detection: bool = False
    lag_compensation: bool = False
    lag_strength: float = 1.0
    time_constant_s: float = 0.01
    noise_sigma_counts: float = 2.5


@dataclass
class ChainState:
    """What the chain has learnt and done, for diagnostics."""

    frames: int = 0
    ffc_count: int = 0
    last_ffc_fpa_c: float = math.nan
    shutter_frames: list[NDArray[np.uint16]] = field(default_factory=list)
    bad_pixel_count: int = 0
    nuc_source: str = "identity"


class ProcessingChain:
    """Raw counts to temperature, with per-stream state (NUC table, FFC, detectors).

    Parameters
    ----------
    config : the stages to run.
    converter : counts -> temperature lookup tables (radiometric model and conditions).
    """

    def __init__(self, config: ChainConfig, converter: CountsToTemperature) -> None:
        self.config = config
        self.converter = converter
        self.state = ChainState()
        self.table: NucTable | None = None
        if config.nuc_file:
            self.table = NucTable.load(config.nuc_file)
            self.state.nuc_source = str(Path(config.nuc_file))
        self._shape: tuple[int, int] | None = None

    # -- per stream ----------------------------------------------------------------------

    def _setup(self, shape: tuple[int, int]) -> None:
        """Allocate per-stream state for frames of ``shape``."""
        c = self.config
        if self.table is None or self.table.shape != shape:
            if self.table is not None and self.config.nuc_file:
                raise ValueError(f"NUC table {self.config.nuc_file} is for "
                                 f"{self.table.shape[1]}x{self.table.shape[0]} frames, "
                                 f"got {shape[1]}x{shape[0]}")
            self.table = NucTable.identity(shape, self.converter.model.full_scale_counts)
        self._shape = shape
        self.scene_nuc = SceneBasedNuc(shape, c.noise_sigma_counts) if c.scene_nuc else None
        self.flicker = FlickerDetector(shape, c.noise_sigma_counts) \
            if c.flicker_detection else None
        self._replacer_mask: NDArray[np.bool_] | None = None
        self.replacer: BadPixelReplacer | None = None
        self.lag = LagCompensator(c.time_constant_s, c.noise_sigma_counts, c.lag_strength) \
            if c.lag_compensation else None
        self._float = np.empty(shape, np.float32)
        self._counts = np.empty(shape, np.uint16)
        self._temperature = np.empty(shape, np.float32)
        self._refresh_replacer()

    def _refresh_replacer(self) -> None:
        if not self.config.bad_pixels or self.table is None:
            self.replacer = None
            return
        mask = self.table.bad_pixels.copy()
        if self.flicker is not None:
            mask |= self.flicker.mask
        if self._replacer_mask is None or not np.array_equal(mask, self._replacer_mask):
            self._replacer_mask = mask
            self.replacer = BadPixelReplacer(mask) if mask.any() else None
            self.state.bad_pixel_count = int(mask.sum())

    # -- frames --------------------------------------------------------------------------

    def shutter_frame(self, raw: NDArray[np.uint16]) -> None:
        """Collect a frame of the closed shutter for the next FFC."""
        if self.config.ffc and len(self.state.shutter_frames) < MAX_SHUTTER_FRAMES:
            self.state.shutter_frames.append(raw.copy())

    def finish_ffc(self, shutter_temperature_c: float, fpa_c: float) -> bool:
        """Shutter open again: refresh the offsets from the collected frames. Returns whether
        an FFC was applied (needs collected frames and a known shutter temperature)."""
        frames, self.state.shutter_frames = self.state.shutter_frames, []
        if not frames or not math.isfinite(shutter_temperature_c):
            return False
        shape = frames[0].shape
        if self._shape != shape:
            self._setup(shape)
        model = self.converter.model
        target = float(model.counts_from_signal(np.asarray(
            model.signal_from_temperature_k(shutter_temperature_c + zero_Celsius)).reshape(1))[0])
        fpa = fpa_c if plausible_fpa(fpa_c) else self.table.fpa_reference_c
        stack = np.stack(frames)
        # pixels stuck at zero or full scale on a uniform shutter do not measure
        stuck = np.all(stack == 0, axis=0) | np.all(stack >= self.table.full_scale_counts,
                                                     axis=0)
        if stuck.any():
            self.table = self.table.copy(bad_pixels=self.table.bad_pixels | stuck)
        self.table = ffc_offset_update(self.table, stack, target, fpa)
        self._refresh_replacer()
        self.state.ffc_count += 1
        self.state.last_ffc_fpa_c = fpa
        return True

    def corrected_counts(self, raw: NDArray[np.uint16], fpa_c: float = math.nan,
                         dt_s: float = 0.0) -> NDArray[np.uint16]:
        """Counts after NUC, scene NUC, bad pixels and lag compensation (internal buffer)."""
        if raw.shape != self._shape:
            self._setup(raw.shape)
        c = self.config
        self.state.frames += 1
        fpa = fpa_c if c.drift_compensation and plausible_fpa(fpa_c) else None
        counts = self.table.apply(raw, fpa, out=self._counts)
        if self.scene_nuc is not None:
            self.scene_nuc.update(counts)
            counts = self.scene_nuc.correct(counts, out=self._counts)
        if self.flicker is not None:
            self.flicker.update(counts)
            self._refresh_replacer()
        if self.replacer is not None:
            counts = self.replacer.apply(counts, out=self._counts)
        if self.lag is not None:
            np.copyto(self._float, counts, casting="unsafe")
            compensated = self.lag.apply(self._float, dt_s, out=self._float)
            np.rint(compensated, out=compensated)
            np.clip(compensated, 0, self.table.full_scale_counts, out=compensated)
            np.copyto(self._counts, compensated, casting="unsafe")
            counts = self._counts
        return counts

    def temperature(self, raw: NDArray[np.uint16], fpa_c: float = math.nan, dt_s: float = 0.0,
                    out: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
        """Temperature image, deg C (NaN where invalid), of a raw frame."""
        counts = self.corrected_counts(raw, fpa_c, dt_s)
        return self.converter(counts, out=self._temperature if out is None else out)
