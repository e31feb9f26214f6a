"""Calibration tools: two-point non-uniformity correction from blackbody sequences.

    thermal-perception calibrate nuc --low LOW --low-temperature 10 \\
        --high HIGH --high-temperature 60 --out nuc [--check CHECK --check-temperature 35]

LOW/HIGH/CHECK are bags or file sequences (see :func:`thermal_perception.io.frames.read_frames`)
of a uniform blackbody filling the view. The table is written as ``nuc.npz`` + ``nuc.yaml``
and used by the processor's ``nuc_file`` parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.constants import zero_Celsius

from thermal_perception.core.calibration import CountsToTemperature, LinearCalibration
from thermal_perception.core.camera import get_profile
from thermal_perception.core.nuc import NucTable, two_point_nuc
from thermal_perception.core.radiometry import BandRadianceTable
from thermal_perception.io.frames import read_frames


@dataclass
class NucCalibrationInputs:
    low: Path
    low_temperature_c: float
    high: Path
    high_temperature_c: float
    out: Path
    camera_profile: str = "boson640"
    topic: str | None = None
    max_frames: int = 256
    check: Path | None = None
    check_temperature_c: float | None = None


def _stack(path: Path, topic: str | None, limit: int) -> tuple[np.ndarray, float]:
    frames = list(read_frames(path, topic, limit))
    if len(frames) < 2:
        raise ValueError(f"{path}: need at least 2 frames, found {len(frames)}")
    shapes = {f.counts.shape for f in frames}
    if len(shapes) != 1:
        raise ValueError(f"{path}: frames of different sizes {sorted(shapes)}")
    fpa = [f.fpa_temperature_c for f in frames if math.isfinite(f.fpa_temperature_c)]
    return np.stack([f.counts for f in frames]), float(np.mean(fpa)) if fpa else math.nan


def calibrate_nuc(inputs: NucCalibrationInputs) -> dict[str, Any]:
    """Compute, save and (optionally) check a two-point NUC table; returns a report."""
    if inputs.high_temperature_c <= inputs.low_temperature_c:
        raise ValueError("the high blackbody must be warmer than the low one")
    profile = get_profile(inputs.camera_profile)
    table = BandRadianceTable(profile.band_m)
    calibration = LinearCalibration.from_profile(profile, table)

    def target(t_c: float) -> float:
        return float(calibration.counts_from_radiance(table.radiance(t_c + zero_Celsius)))

    low, fpa_low = _stack(inputs.low, inputs.topic, inputs.max_frames)
    high, fpa_high = _stack(inputs.high, inputs.topic, inputs.max_frames)
    if low.shape[1:] != high.shape[1:]:
        raise ValueError(f"low frames {low.shape[1:]} and high frames {high.shape[1:]} differ")
    fpa = np.nanmean([fpa_low, fpa_high]) if np.isfinite([fpa_low, fpa_high]).any() \
        else profile.fpa_reference_c
    nuc = two_point_nuc(low, high, target(inputs.low_temperature_c),
                        target(inputs.high_temperature_c), fpa_c=float(fpa),
                        full_scale_counts=profile.full_scale_counts, camera=profile.name,
                        blackbody_temperatures_c=(inputs.low_temperature_c,
                                                  inputs.high_temperature_c),
                        source=f"{inputs.low} + {inputs.high}")
    npz, yaml_path = nuc.save(inputs.out)
    report: dict[str, Any] = {
        "table": str(npz), "metadata": str(yaml_path), "frames": (len(low), len(high)),
        "size": (low.shape[2], low.shape[1]), "fpa_temperature_c": float(fpa),
        "bad_pixels": int(nuc.bad_pixels.sum()),
        "raw_fpn_k": _fpn_k(low, NucTable.identity(nuc.shape, nuc.full_scale_counts),
                            calibration, table)[1],
    }
    if inputs.check is not None:
        if inputs.check_temperature_c is None:
            raise ValueError("--check needs --check-temperature")
        check, _ = _stack(inputs.check, inputs.topic, inputs.max_frames)
        mean_k, fpn_k = _fpn_k(check, nuc, calibration, table)
        report["check"] = {"temperature_c": inputs.check_temperature_c, "frames": len(check),
                           "mean_error_k": mean_k - inputs.check_temperature_c,
                           "residual_fpn_k": fpn_k, "netd_k": profile.netd_k}
    return report


def _fpn_k(frames: np.ndarray, nuc: NucTable, calibration: LinearCalibration,
           table: BandRadianceTable) -> tuple[float, float]:
    """(mean, spatial std) in deg C / K of the temporal mean of corrected frames, over the
    pixels the table does not flag as bad."""
    convert = CountsToTemperature(calibration, table)
    temps = np.stack([convert(nuc.apply(f)).astype(np.float64) for f in frames]).mean(axis=0)
    good = ~nuc.bad_pixels & np.isfinite(temps)
    return float(temps[good].mean()), float(temps[good].std())
