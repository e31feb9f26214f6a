"""Calibration tools: two-point non-uniformity correction, its FPA drift, and per-camera
temperature correction from blackbody sequences.

    thermal-perception calibrate nuc --low LOW --low-temperature 10 \\
        --high HIGH --high-temperature 60 --out nuc [--check CHECK --check-temperature 35]
    thermal-perception calibrate drift --table nuc --first COOL_FPA --second WARM_FPA \\
        --out nuc_drift [--check OTHER_FPA]
    thermal-perception calibrate correction --low LOW --low-temperature 10 \\
        --high HIGH --high-temperature 60 [--serial S] [--params P] --out corrections.yaml

LOW/HIGH/CHECK are bags or file sequences (see :func:`thermal_perception.io.frames.read_frames`)
of a uniform blackbody filling the view (the correction needs it in the centre only). The NUC
table is written as ``nuc.npz`` + ``nuc.yaml`` and used by the processor's ``nuc_file``
parameter; the correction is written into a corrections YAML under the camera serial and used
by the processor's ``correction_file`` parameter. The drift recordings are one blackbody (any
constant temperature) seen at two FPA temperatures (e.g. a cold camera and the same camera
warmed up); their frames must carry the FPA temperature (a bag of the driver's ``status``, or
a camera's telemetry).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.constants import zero_Celsius

from thermal_perception.core.correction.nuc import (
    NucTable,
    drift_from_two_fpa_temperatures,
    two_point_nuc,
)
from thermal_perception.core.correction.per_camera import (
    DEFAULT_KEY,
    CameraCorrection,
    fit_two_point,
    save_correction,
)
from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.calibration import CountsToTemperature, LinearCalibration
from thermal_perception.core.physics.camera import get_profile
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
           table: BandRadianceTable, fpa_c: float | None = None) -> tuple[float, float]:
    """(mean, spatial std) in deg C / K of the temporal mean of corrected frames, over the
    pixels the table does not flag as bad; ``fpa_c``: their FPA temperature (the table's
    drift map applied), None: without drift correction."""
    convert = CountsToTemperature(calibration, table)
    temps = np.stack([convert(nuc.apply(f, fpa_c)).astype(np.float64)
                      for f in frames]).mean(axis=0)
    good = ~nuc.bad_pixels & np.isfinite(temps)
    return float(temps[good].mean()), float(temps[good].std())


@dataclass
class DriftCalibrationInputs:
    """A NUC table's FPA drift map from one blackbody recorded at two FPA temperatures, and
    optionally a third recording of it (another FPA temperature) to check the map on."""

    table: Path
    first: Path
    second: Path
    out: Path
    camera_profile: str = "boson640"
    topic: str | None = None
    max_frames: int = 256
    check: Path | None = None


def _stack_with_fpa(path: Path, topic: str | None, limit: int) -> tuple[np.ndarray, float]:
    frames, fpa = _stack(path, topic, limit)
    if not math.isfinite(fpa):
        raise ValueError(f"{path}: its frames carry no FPA temperature; the drift needs it "
                         "(record the driver's status topic into the bag, or the camera's "
                         "telemetry)")
    return frames, fpa


def calibrate_drift(inputs: DriftCalibrationInputs) -> dict[str, Any]:
    """Fit, save and check the drift map of a NUC table (its gains, offsets and reference FPA
    temperature kept); returns a report: per recording its FPA temperature and the blackbody's
    mean reading and fixed-pattern noise through the table before (its old drift map) and
    after."""
    nuc = NucTable.load(inputs.table)
    first, fpa_first = _stack_with_fpa(inputs.first, inputs.topic, inputs.max_frames)
    second, fpa_second = _stack_with_fpa(inputs.second, inputs.topic, inputs.max_frames)
    drifted = drift_from_two_fpa_temperatures(nuc, first, fpa_first, second, fpa_second)
    npz, yaml_path = drifted.save(inputs.out)
    profile = get_profile(inputs.camera_profile)
    table = BandRadianceTable(profile.band_m)
    calibration = LinearCalibration.from_profile(profile, table)
    recordings = {"first": (first, fpa_first), "second": (second, fpa_second)}
    if inputs.check is not None:
        recordings["check"] = _stack_with_fpa(inputs.check, inputs.topic, inputs.max_frames)
    readings = {}
    for name, (frames, fpa) in recordings.items():
        before = _fpn_k(frames, nuc, calibration, table, fpa)
        after = _fpn_k(frames, drifted, calibration, table, fpa)
        readings[name] = {"fpa_temperature_c": fpa, "frames": len(frames),
                          "mean_c_before": before[0], "fpn_k_before": before[1],
                          "mean_c_after": after[0], "fpn_k_after": after[1]}
    return {"table": str(npz), "metadata": str(yaml_path), "readings": readings,
            "median_drift_counts_per_k": drifted.metadata["drift"]["median_counts_per_k"],
            "fpa_reference_c": float(drifted.fpa_reference_c), "netd_k": profile.netd_k}


# -- per-camera temperature correction --------------------------------------------------------

CENTRE_FRACTION = 0.2  # side of the centre ROI as a fraction of the image's width and height


@dataclass
class CorrectionCalibrationInputs:
    """A two-point temperature correction: two blackbody recordings, their temperatures (deg
    C), the corrections file to write or update, the camera serial (its key; "default" for
    the fallback entry), the processor parameters YAML that converts counts (None: defaults),
    the centre ROI (fraction of width and height) and an optional third recording to check."""

    low: Path
    low_temperature_c: float
    high: Path
    high_temperature_c: float
    out: Path
    serial: str = DEFAULT_KEY
    params: Path | None = None
    topic: str | None = None
    max_frames: int = 256
    centre_fraction: float = CENTRE_FRACTION
    check: Path | None = None
    check_temperature_c: float | None = None


def centre_roi(shape: tuple[int, int], fraction: float) -> tuple[slice, slice]:
    """The centred box covering ``fraction`` of an image's height and width (>= 1 px)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"the centre ROI fraction must be in (0, 1], got {fraction}")
    h, w = shape
    rh, rw = max(1, round(h * fraction)), max(1, round(w * fraction))
    y0, x0 = (h - rh) // 2, (w - rw) // 2
    return slice(y0, y0 + rh), slice(x0, x0 + rw)


def blackbody_reading_c(path: Path, values: dict[str, Any], topic: str | None,
                        max_frames: int, fraction: float) -> dict[str, Any]:
    """What the processor's chain (parameters ``values``, without any temperature
    correction) reads of a blackbody recording: the median over frames of the mean
    temperature in the centre ROI, deg C, with the frame count, ROI size and the spread
    (standard deviation over frames, K)."""
    from thermal_perception.settings.processor import chain_from, converter_from

    profile = get_profile(values["camera_profile"])
    converter = converter_from(values, profile, BandRadianceTable(profile.band_m))
    chain = chain_from(values, profile, converter)
    means: list[float] = []
    temperature = np.empty((0, 0), np.float32)
    roi: tuple[slice, slice] | None = None
    for frame in read_frames(path, topic, max_frames):
        if temperature.shape != frame.counts.shape:
            if roi is not None:
                raise ValueError(f"{path}: frames of different sizes")
            temperature = np.empty(frame.counts.shape, np.float32)
            roi = centre_roi(frame.counts.shape, fraction)
        counts = chain.corrected_counts(frame.counts, frame.fpa_temperature_c)
        converter(counts, out=temperature)
        box = temperature[roi]
        valid = np.isfinite(box)
        if valid.mean() < 0.5:
            continue  # saturated or outside the radiometric model
        means.append(float(box[valid].mean(dtype=np.float64)))
    if len(means) < 1 or roi is None:
        raise ValueError(f"{path}: no frame with valid temperatures in the centre ROI")
    return {"reading_c": float(np.median(means)), "frames": len(means),
            "spread_k": float(np.std(means)),
            "roi": (roi[1].stop - roi[1].start, roi[0].stop - roi[0].start)}


def calibrate_correction(inputs: CorrectionCalibrationInputs) -> dict[str, Any]:
    """Fit a two-point temperature correction, write it into the corrections file under
    its serial (other entries kept) and optionally check it on a third recording; returns a
    report."""
    import datetime

    from thermal_perception.analysis.params import load_processor_params

    if inputs.high_temperature_c <= inputs.low_temperature_c:
        raise ValueError("the high blackbody must be warmer than the low one")
    if not inputs.serial.strip():
        raise ValueError("the camera serial must not be empty (use 'default' for the "
                         "fallback entry)")
    values, warnings = load_processor_params(inputs.params)
    args = (values, inputs.topic, inputs.max_frames, inputs.centre_fraction)
    low = blackbody_reading_c(inputs.low, *args)
    high = blackbody_reading_c(inputs.high, *args)
    gain, offset_k = fit_two_point([low["reading_c"], high["reading_c"]],
                                   [inputs.low_temperature_c, inputs.high_temperature_c])
    check: dict[str, Any] | None = None
    residual: float | None = None
    if inputs.check is not None:
        if inputs.check_temperature_c is None:
            raise ValueError("--check needs --check-temperature")
        check = blackbody_reading_c(inputs.check, *args)
        corrected = gain * check["reading_c"] + offset_k
        residual = corrected - inputs.check_temperature_c
        check.update(temperature_c=inputs.check_temperature_c, corrected_c=corrected,
                     residual_k=residual,
                     uncorrected_error_k=check["reading_c"] - inputs.check_temperature_c)
    correction = CameraCorrection(
        gain=gain, offset_k=offset_k, serial=inputs.serial.strip(),
        valid_range_c=(inputs.low_temperature_c, inputs.high_temperature_c),
        date=datetime.date.today().isoformat(), method="two_point",
        source=(f"{inputs.low.name} ({inputs.low_temperature_c:g} C) + {inputs.high.name} "
                f"({inputs.high_temperature_c:g} C)"
                + (f", params {inputs.params.name}" if inputs.params else "")),
        check_residual_k=residual)
    table = save_correction(inputs.out, correction)
    return {"low": low, "high": high, "correction": correction, "check": check,
            "file": str(inputs.out), "entries": list(table.cameras), "warnings": warnings}
