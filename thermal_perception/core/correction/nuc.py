"""Non-uniformity correction (NUC) of microbolometer counts, in the counts domain.

Convention, per pixel::

    corrected = gain * raw + offset - drift_counts_per_k * (fpa_c - fpa_reference_c)

maps every pixel onto the camera's ideal (linear calibration) response, so
:class:`~thermal_perception.core.physics.calibration.CountsToTemperature` applies afterwards.
``gain`` is dimensionless, ``offset`` in counts, the drift in corrected counts per kelvin of
focal-plane (FPA) temperature, temperatures in deg C.

Tables come from a two-point blackbody calibration (:func:`two_point_nuc`), get their drift
from frames at two FPA temperatures (:func:`drift_from_two_fpa_temperatures`), and their offsets
refreshed from the closed shutter (:func:`ffc_offset_update`, scheduled by
:class:`FfcScheduler`). Cameras without a shutter track offsets from the moving scene
(:class:`SceneBasedNuc`). numpy/OpenCV (the per-frame pass compiled by numba where installed,
see :mod:`~thermal_perception.core.kernels`); no ROS imports.

Kept whole (about 640 lines): the table, its calibration, drift and shutter updates and the
scene-based NUC share one convention and read best together.
"""

from __future__ import annotations

import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
import yaml
from numpy.typing import ArrayLike, NDArray

from thermal_perception.core.correction.badpixels import (
    BadPixelCriteria,
    classify_bad_pixels,
    frame_statistics,
)
from thermal_perception.core.kernels import nuc_drift_kernel, nuc_kernel

UINT16_MAX = 65535
FILE_FORMAT = "thermal_perception.nuc_table"
FILE_VERSION = 1
ARRAY_KEYS = ("gain", "offset", "drift_counts_per_k", "bad_pixels")
MIN_FPA_SPAN_K = 0.5            # drift from FPA temperatures closer than this is ill-conditioned
# Automatic flat-field correction (typical uncooled cores: FFC after ~1 K of FPA change or a
# few minutes, never more often than every ~10 s so the shutter does not blind the stream).
FFC_MAX_FPA_CHANGE_K = 1.0
FFC_MAX_INTERVAL_S = 180.0
FFC_MIN_INTERVAL_S = 10.0
# Scene-based NUC defaults.
SBNUC_LEARNING_RATE = 0.05      # LMS step per moving frame (~20-frame memory)
SBNUC_KERNEL_SIZE = 5           # box filter of the desired (smooth) image, pixels
SBNUC_MOTION_FACTOR = 3.0       # motion: mean |frame difference| > 3 x its pure-noise value
SBNUC_EDGE_FACTOR = 3.0         # strong edge: gradient > 3 x the frame's median gradient
EDGE_STATISTIC_STRIDE = 4       # median gradient from every 4th row and column (speed)
NOISE_MEAN_ABS_DIFF = 2.0 / math.sqrt(math.pi)  # E|n1 - n2| / sigma for Gaussian noise


def _as_base(path: str | os.PathLike[str]) -> Path:
    """``path`` without a ``.npz`` / ``.yaml`` suffix."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".npz", ".yaml") else p


def _paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    base = _as_base(path)
    return base.with_name(base.name + ".npz"), base.with_name(base.name + ".yaml")


def _atomic_write(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file in the same directory, then ``os.replace``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain(value: Any) -> Any:
    """Metadata as YAML-safe plain Python (numpy scalars/arrays, tuples, dates converted)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _temporal_mean(frames: ArrayLike) -> NDArray[np.float64]:
    """Mean of an (N, H, W) stack, or an (H, W) frame as is, float64."""
    stack = np.asarray(frames)
    if stack.ndim == 2:
        return stack.astype(np.float64)
    if stack.ndim != 3 or stack.shape[0] < 1:
        raise ValueError(f"need (N, H, W) frames or one (H, W) frame, got shape {stack.shape}")
    return stack.mean(axis=0, dtype=np.float64)


@dataclass(eq=False)
class NucTable:
    """Per-pixel non-uniformity correction of raw counts.

    Attributes
    ----------
    gain : (H, W) float32, dimensionless.
    offset : (H, W) float32, counts (valid at ``fpa_reference_c``).
    drift_counts_per_k : (H, W) float32, corrected counts per K of FPA temperature.
    fpa_reference_c : FPA temperature of the offsets, deg C.
    bad_pixels : (H, W) bool; passed through unchanged by :meth:`apply`.
    metadata : camera, date, FPA temperature, source, blackbody temperatures, ... (YAML-safe).
    full_scale_counts : ADC full scale; raw 0 and raw >= full scale (dead, saturated) pass
        through unchanged, and corrected values are clipped to ``[0, full_scale_counts]``.

    Work buffers and the bad-pixel indices are built at the first :meth:`apply`; change a table
    through :meth:`copy` (or the update functions), not by editing its arrays in place.
    """

    gain: NDArray[np.float32]
    offset: NDArray[np.float32]
    drift_counts_per_k: NDArray[np.float32]
    fpa_reference_c: float
    bad_pixels: NDArray[np.bool_]
    metadata: dict[str, Any] = field(default_factory=dict)
    full_scale_counts: int = UINT16_MAX
    _buffers: dict[str, NDArray] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.gain = np.ascontiguousarray(self.gain, dtype=np.float32)
        self.offset = np.ascontiguousarray(self.offset, dtype=np.float32)
        self.drift_counts_per_k = np.ascontiguousarray(self.drift_counts_per_k,
                                                       dtype=np.float32)
        self.bad_pixels = np.ascontiguousarray(self.bad_pixels, dtype=np.bool_)
        self.fpa_reference_c = float(self.fpa_reference_c)
        self.full_scale_counts = int(self.full_scale_counts)
        arrays = {k: getattr(self, k) for k in ARRAY_KEYS}
        shapes = {k: a.shape for k, a in arrays.items()}
        if self.gain.ndim != 2 or len(set(shapes.values())) != 1:
            raise ValueError(f"NUC table arrays must share one (H, W) shape, got {shapes}")
        if not 0 < self.full_scale_counts <= UINT16_MAX:
            raise ValueError(f"full_scale_counts {self.full_scale_counts} outside (0, 65535]")
        for key in ("gain", "offset", "drift_counts_per_k"):
            if not np.all(np.isfinite(arrays[key])):
                raise ValueError(f"NUC table {key} has non-finite values")
        if not math.isfinite(self.fpa_reference_c):
            raise ValueError("NUC table fpa_reference_c must be finite")
        self.metadata = _plain(dict(self.metadata))

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the images the table corrects."""
        h, w = self.gain.shape
        return h, w

    @classmethod
    def identity(cls, shape: tuple[int, int], full_scale_counts: int = UINT16_MAX,
                 fpa_reference_c: float = 0.0) -> NucTable:
        """The table that changes nothing (gain 1, offset 0, no drift, no bad pixels)."""
        return cls(np.ones(shape, np.float32), np.zeros(shape, np.float32),
                   np.zeros(shape, np.float32), fpa_reference_c, np.zeros(shape, np.bool_),
                   {"source": "identity"}, full_scale_counts)

    def copy(self, **changes: Any) -> NucTable:
        """Independent copy (arrays copied), with ``changes`` applied."""
        values: dict[str, Any] = {k: getattr(self, k).copy() for k in ARRAY_KEYS}
        values["metadata"] = dict(self.metadata)
        values.update(changes)
        return replace(self, **values)

    def effective_offset(self, fpa_c: float | None,
                         out: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
        """``offset - drift * (fpa_c - fpa_reference_c)``, (H, W) float32 counts."""
        if out is None:
            out = np.empty(self.shape, np.float32)
        if fpa_c is None:
            np.copyto(out, self.offset)
        else:
            np.multiply(self.drift_counts_per_k, np.float32(self.fpa_reference_c - fpa_c),
                        out=out)
            out += self.offset
        return out

    def _ensure_buffers(self) -> dict[str, NDArray]:
        if self._buffers is None:
            shape = self.shape
            self._buffers = {
                "work": np.empty(shape, np.float32),
                "offset": np.empty(shape, np.float32),
                "shifted": np.empty(shape, np.uint16),
                "invalid": np.empty(shape, np.bool_),
                "out": np.empty(shape, np.uint16),
                "bad": np.flatnonzero(self.bad_pixels),
            }
        return self._buffers

    def apply(self, raw: NDArray[np.uint16], fpa_c: float | None = None,
              out: NDArray[np.uint16] | None = None) -> NDArray[np.uint16]:
        """Corrected counts of one raw frame.

        Parameters
        ----------
        raw : (H, W) uint16 raw counts.
        fpa_c : FPA temperature of the frame, deg C (None: no drift compensation).
        out : (H, W) uint16 destination; default an internal buffer, valid until the next call.

        Returns
        -------
        (H, W) uint16: ``gain * raw + offset - drift * (fpa_c - fpa_reference_c)`` rounded and
        clipped to ``[0, full_scale_counts]``; bad pixels and invalid raw values (0 and full
        scale) are passed through unchanged.
        """
        if raw.dtype != np.uint16:
            raise TypeError(f"raw must be uint16, got {raw.dtype}")
        if raw.shape != self.shape:
            raise ValueError(f"raw shape {raw.shape} != NUC table {self.shape}")
        b = self._ensure_buffers()
        if out is None:
            out = b["out"]
        elif out.shape != self.shape or out.dtype != np.uint16 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous {self.shape} uint16 array")
        moved = b.get("offset_fpa", ()) != (fpa_c,)
        drift_kernel = nuc_drift_kernel()
        if (moved and fpa_c is not None and drift_kernel is not None
                and raw.flags.c_contiguous and b.get("last_fpa") != fpa_c):
            # An FPA temperature that changes every frame (a drifting camera): its offsets are
            # made in the NUC's own pass (the same values), not kept.
            b["last_fpa"] = fpa_c
            drift_kernel(raw.reshape(-1), self.gain.reshape(-1), self.offset.reshape(-1),
                         self.drift_counts_per_k.reshape(-1),
                         self.fpa_reference_c - fpa_c, self.full_scale_counts,
                         out.reshape(-1))
            return self._restore_bad_pixels(raw, out)
        if moved:  # a new FPA temperature, seen twice in a row (or none): offsets kept
            self.effective_offset(fpa_c, out=b["offset"])
            b["offset"] += np.float32(0.5)  # the truncating cast below then rounds
            b["offset_fpa"] = (fpa_c,)
        kernel = nuc_kernel()
        if kernel is not None and raw.flags.c_contiguous:  # one compiled pass, same values
            kernel(raw.reshape(-1), self.gain.reshape(-1), b["offset"].reshape(-1),
                   self.full_scale_counts, out.reshape(-1))
        else:
            work = b["work"]
            np.multiply(raw, self.gain, out=work)
            work += b["offset"]
            np.clip(work, 0.0, float(self.full_scale_counts), out=work)
            np.copyto(out, work, casting="unsafe")
            # raw 0 wraps to 65535 when decremented: one comparison finds 0 and >= full scale.
            np.subtract(raw, np.uint16(1), out=b["shifted"])
            np.greater_equal(b["shifted"], np.uint16(self.full_scale_counts - 1),
                             out=b["invalid"])
            np.copyto(out, raw, where=b["invalid"])
        return self._restore_bad_pixels(raw, out)

    def _restore_bad_pixels(self, raw: NDArray[np.uint16], out: NDArray[np.uint16]
                            ) -> NDArray[np.uint16]:
        bad = self._ensure_buffers()["bad"]
        if bad.size:
            out.reshape(-1)[bad] = raw.reshape(-1)[bad]
        return out

    # -- files ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``path.npz`` (arrays) and ``path.yaml`` (metadata), each atomically.

        Returns the two paths written.
        """
        npz_path, yaml_path = _paths(path)
        arrays = {k: getattr(self, k) for k in ARRAY_KEYS}
        header = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "shape": list(self.shape),
            "fpa_reference_c": self.fpa_reference_c,
            "full_scale_counts": self.full_scale_counts,
            "metadata": _plain(self.metadata),
        }
        text = yaml.safe_dump(header, sort_keys=False).encode()
        _atomic_write(npz_path, lambda f: np.savez(f, **arrays))
        _atomic_write(yaml_path, lambda f: f.write(text))
        return npz_path, yaml_path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NucTable:
        """Read a table written by :meth:`save`; a missing, corrupt or inconsistent file raises
        ``ValueError`` naming the file and the problem."""
        npz_path, yaml_path = _paths(path)
        missing = [p for p in (yaml_path, npz_path) if not p.is_file()]
        if missing:
            asked = Path(path)
            if asked.is_file() and asked not in (npz_path, yaml_path):
                reason = (f"{asked} is a file but not a NUC table: a table is a pair "
                          f"<name>.npz + <name>.yaml (written by thermal-perception calibrate)")
            else:
                reason = (f"a NUC table is the pair {npz_path.name} + {yaml_path.name}, and "
                          f"{' and '.join(str(p) for p in missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} missing")
            raise ValueError(f"NUC table {str(path)!r} not loaded: {reason}")
        try:
            header = yaml.safe_load(yaml_path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ValueError(f"NUC table metadata {yaml_path} is corrupt: {exc}") from exc
        if not isinstance(header, dict) or header.get("format") != FILE_FORMAT:
            raise ValueError(f"{yaml_path} is not a NUC table header (format {FILE_FORMAT!r})")
        missing = [k for k in ("version", "shape", "fpa_reference_c", "full_scale_counts")
                   if k not in header]
        if missing:
            raise ValueError(f"NUC table metadata {yaml_path} lacks the keys {missing}")
        if header["version"] != FILE_VERSION:
            raise ValueError(f"{yaml_path}: unsupported NUC table version {header['version']}")
        try:
            data = np.load(npz_path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with data:
                arrays = {k: data[k] for k in ARRAY_KEYS if k in data.files}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError) as exc:
            raise ValueError(f"NUC table arrays {npz_path} are corrupt: {exc}") from exc
        absent = [k for k in ARRAY_KEYS if k not in arrays]
        if absent:
            raise ValueError(f"NUC table arrays {npz_path} lack {absent}")
        shape = tuple(header["shape"]) if isinstance(header["shape"], list) else None
        for key, array in arrays.items():
            if array.shape != shape:
                raise ValueError(f"NUC table {npz_path}: {key} has shape {array.shape}, "
                                 f"the header {yaml_path} says {header['shape']}")
        if arrays["bad_pixels"].dtype != np.bool_:
            raise ValueError(f"NUC table {npz_path}: bad_pixels must be bool, "
                             f"got {arrays['bad_pixels'].dtype}")
        for key in ("gain", "offset", "drift_counts_per_k"):
            if arrays[key].dtype.kind != "f":
                raise ValueError(f"NUC table {npz_path}: {key} must be float, "
                                 f"got {arrays[key].dtype}")
        try:
            return cls(arrays["gain"], arrays["offset"], arrays["drift_counts_per_k"],
                       float(header["fpa_reference_c"]), arrays["bad_pixels"],
                       dict(header.get("metadata") or {}), int(header["full_scale_counts"]))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"NUC table {npz_path}: {exc}") from exc


def two_point_nuc(frames_low: ArrayLike, frames_high: ArrayLike, target_low: ArrayLike,
                  target_high: ArrayLike, *, fpa_c: float,
                  full_scale_counts: int = UINT16_MAX, camera: str = "",
                  blackbody_temperatures_c: tuple[float, float] | None = None,
                  source: str = "two-point blackbody",
                  criteria: BadPixelCriteria | None = None) -> NucTable:
    """Two-point NUC from frames of uniform blackbodies at two temperatures.

    Parameters
    ----------
    frames_low, frames_high : (N, H, W) raw counts of the cold and warm blackbody (N >= 2).
    target_low, target_high : ideal counts of those blackbodies (scalars or (H, W)), e.g.
        ``calibration.counts_from_radiance(table.radiance(T_K))``.
    fpa_c : FPA temperature during the calibration, deg C (the table's reference).
    full_scale_counts : ADC full scale, counts.
    camera, blackbody_temperatures_c, source : recorded in the metadata.
    criteria : bad-pixel thresholds.

    Returns
    -------
    NucTable with ``gain = (t_hi - t_lo) / (m_hi - m_lo)``, ``offset = t_lo - gain m_lo`` (m:
    temporal means), no drift, and the bad pixels of
    :func:`~thermal_perception.core.correction.badpixels.classify_bad_pixels` (gain 1, offset 0
    there).
    """
    low, high = frame_statistics(frames_low), frame_statistics(frames_high)
    bad, report = classify_bad_pixels(low, high, full_scale_counts=full_scale_counts,
                                      criteria=criteria)
    t_low = np.broadcast_to(np.asarray(target_low, np.float64), low.mean.shape)
    t_high = np.broadcast_to(np.asarray(target_high, np.float64), low.mean.shape)
    if np.any(t_high <= t_low):
        raise ValueError("target_high must exceed target_low (ideal counts of the blackbodies)")
    response = high.mean - low.mean
    good = ~bad & (response > 0.0)
    bad |= ~good
    gain = np.ones(bad.shape, np.float64)
    gain[good] = (t_high - t_low)[good] / response[good]
    offset = np.zeros(bad.shape, np.float64)
    offset[good] = t_low[good] - gain[good] * low.mean[good]
    metadata = {
        "camera": camera,
        "date": _now_iso(),
        "fpa_temperature_c": float(fpa_c),
        "source": source,
        "blackbody_temperatures_c": list(blackbody_temperatures_c or []),
        "target_counts": [float(np.mean(t_low)), float(np.mean(t_high))],
        "frames": [low.frames, high.frames],
        "bad_pixel_report": report.as_dict(),
    }
    return NucTable(gain.astype(np.float32), offset.astype(np.float32),
                    np.zeros(bad.shape, np.float32), float(fpa_c), bad, metadata,
                    full_scale_counts)


def drift_from_two_fpa_temperatures(table: NucTable, frames_a: ArrayLike, fpa_a_c: float,
                                    frames_b: ArrayLike, fpa_b_c: float) -> NucTable:
    """Per-pixel FPA drift from frames of one constant blackbody at two FPA temperatures.

    Parameters
    ----------
    table : NUC table whose gains are used (offsets and reference are kept).
    frames_a, frames_b : (N, H, W) or (H, W) raw counts of the same blackbody.
    fpa_a_c, fpa_b_c : FPA temperatures of the two sets, deg C (at least 0.5 K apart).

    Returns
    -------
    Copy of ``table`` with ``drift_counts_per_k = gain (m_b - m_a) / (T_b - T_a)`` (corrected
    counts per K; 0 at bad pixels).
    """
    span = float(fpa_b_c) - float(fpa_a_c)
    if abs(span) < MIN_FPA_SPAN_K:
        raise ValueError(f"FPA temperatures {fpa_a_c} and {fpa_b_c} deg C are closer than "
                         f"{MIN_FPA_SPAN_K} K: the drift would be noise")
    mean_a, mean_b = _temporal_mean(frames_a), _temporal_mean(frames_b)
    if mean_a.shape != table.shape or mean_b.shape != table.shape:
        raise ValueError(f"frame shapes {mean_a.shape}, {mean_b.shape} != table {table.shape}")
    drift = table.gain * (mean_b - mean_a) / span
    drift[table.bad_pixels] = 0.0
    metadata = dict(table.metadata)
    metadata["drift"] = {"fpa_temperatures_c": [float(fpa_a_c), float(fpa_b_c)],
                         "date": _now_iso(),
                         "median_counts_per_k": float(np.median(drift[~table.bad_pixels]))}
    return table.copy(drift_counts_per_k=drift.astype(np.float32), metadata=metadata)


def ffc_offset_update(table: NucTable, shutter_frames: ArrayLike,
                      shutter_target_counts: ArrayLike, fpa_c: float) -> NucTable:
    """Flat-field correction: new offsets from frames of the closed shutter, gains kept.

    Parameters
    ----------
    table : current NUC table.
    shutter_frames : (N, H, W) or (H, W) raw counts of the closed shutter.
    shutter_target_counts : ideal counts of the shutter (scalar or (H, W)), e.g. from its
        temperature sensor through the calibration.
    fpa_c : FPA temperature during the FFC, deg C; becomes the new drift reference.

    Returns
    -------
    Copy of ``table`` with ``offset = target - gain * mean(shutter)`` (0 at bad pixels) and
    ``fpa_reference_c = fpa_c``: accumulated drift is removed.
    """
    mean = _temporal_mean(shutter_frames)
    if mean.shape != table.shape:
        raise ValueError(f"shutter frame shape {mean.shape} != table {table.shape}")
    target = np.broadcast_to(np.asarray(shutter_target_counts, np.float64), mean.shape)
    offset = target - table.gain * mean
    offset[table.bad_pixels] = 0.0
    metadata = dict(table.metadata)
    metadata["last_ffc"] = {"fpa_temperature_c": float(fpa_c), "date": _now_iso(),
                            "target_counts": float(np.mean(target))}
    return table.copy(offset=offset.astype(np.float32), fpa_reference_c=float(fpa_c),
                      metadata=metadata)


class FfcScheduler:
    """Decides when an automatic flat-field correction is due.

    Due when no FFC was recorded yet, when the FPA temperature moved by more than
    ``max_fpa_change_k`` (K) since the last FFC, or when ``max_interval_s`` (s) elapsed; never
    sooner than ``min_interval_s`` after the last one.
    """

    def __init__(self, max_fpa_change_k: float = FFC_MAX_FPA_CHANGE_K,
                 max_interval_s: float = FFC_MAX_INTERVAL_S,
                 min_interval_s: float = FFC_MIN_INTERVAL_S) -> None:
        if max_fpa_change_k <= 0 or max_interval_s <= 0 or min_interval_s < 0:
            raise ValueError("max_fpa_change_k and max_interval_s must be > 0, "
                             "min_interval_s >= 0")
        self.max_fpa_change_k = float(max_fpa_change_k)
        self.max_interval_s = float(max_interval_s)
        self.min_interval_s = float(min_interval_s)
        self.last_time_s: float | None = None
        self.last_fpa_c: float | None = None

    def due(self, time_s: float, fpa_c: float) -> tuple[bool, str]:
        """(due, reason) at ``time_s`` (s) with the FPA at ``fpa_c`` (deg C)."""
        if self.last_time_s is None or self.last_fpa_c is None:
            return True, "no flat-field correction yet"
        elapsed = time_s - self.last_time_s
        if elapsed < self.min_interval_s:
            return False, ""
        change = abs(fpa_c - self.last_fpa_c)
        if change > self.max_fpa_change_k:
            return True, (f"FPA temperature changed by {change:.2f} K "
                          f"(limit {self.max_fpa_change_k:g} K)")
        if elapsed >= self.max_interval_s:
            return True, (f"{elapsed:.1f} s since the last flat-field correction "
                          f"(limit {self.max_interval_s:g} s)")
        return False, ""

    def record(self, time_s: float, fpa_c: float) -> None:
        """Note that an FFC was done at ``time_s`` (s) with the FPA at ``fpa_c`` (deg C)."""
        self.last_time_s = float(time_s)
        self.last_fpa_c = float(fpa_c)


class SceneBasedNuc:
    """Scene-based offset NUC for cameras without a shutter (LMS, after Scribner et al. 1991).

    The desired image is a ``kernel_size`` box-filtered copy of the corrected frame
    ``y = x + offset``; each update moves the offsets against the error ``y - blur(y)``:
    ``offset -= learning_rate * (y - blur(y))``. Fixed-pattern noise is spatially white and
    stays, the scene moves and averages out. Ghosting protection: no update while the camera
    is still (mean |frame difference| below ``motion_factor`` x its pure-noise value
    ``2 sigma / sqrt(pi)``), and none on strong edges (gradient of the desired image above
    ``edge_factor`` x its median over the frame) nor on known bad pixels.

    Gains are not estimated: on natural scenes the spatial contrast is small against the
    absolute level, which makes the gain update ill-conditioned. Feed frames already corrected
    with known (factory two-point) gains and with bad pixels replaced.

    Parameters
    ----------
    shape : (H, W) of the stream.
    noise_sigma_counts : temporal noise of one frame, counts rms.
    learning_rate : LMS step per moving frame, (0, 1].
    kernel_size : box size of the desired image, odd pixels.
    motion_factor, edge_factor : gates (see above).
    bad_pixels : (H, W) bool, pixels never updated.
    """

    def __init__(self, shape: tuple[int, int], noise_sigma_counts: float, *,
                 learning_rate: float = SBNUC_LEARNING_RATE,
                 kernel_size: int = SBNUC_KERNEL_SIZE,
                 motion_factor: float = SBNUC_MOTION_FACTOR,
                 edge_factor: float = SBNUC_EDGE_FACTOR,
                 bad_pixels: NDArray[np.bool_] | None = None) -> None:
        if not 0.0 < learning_rate <= 1.0:
            raise ValueError(f"learning_rate {learning_rate} must be in (0, 1]")
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size {kernel_size} must be odd and >= 3")
        self.shape = tuple(shape)
        self.learning_rate = float(learning_rate)
        self.kernel_size = int(kernel_size)
        self.motion_threshold = float(motion_factor) * NOISE_MEAN_ABS_DIFF * float(
            noise_sigma_counts)
        self.edge_factor = float(edge_factor)
        self.update_mask = np.ones(self.shape, np.bool_) if bad_pixels is None else ~np.asarray(
            bad_pixels, np.bool_)
        if self.update_mask.shape != self.shape:
            raise ValueError(f"bad_pixels shape {self.update_mask.shape} != {self.shape}")
        f32 = np.float32
        self.offset = np.zeros(self.shape, f32)
        self._previous = np.empty(self.shape, f32)
        self._y = np.empty(self.shape, f32)
        self._blur = np.empty(self.shape, f32)
        self._gx = np.empty(self.shape, f32)
        self._gy = np.empty(self.shape, f32)
        self._mask = np.empty(self.shape, np.bool_)
        self._out: dict[np.dtype, NDArray] = {}
        self.frames = 0
        self.updates = 0
        self.last_motion_counts = 0.0

    def reset(self) -> None:
        """Forget the offsets and the motion history."""
        self.offset.fill(0.0)
        self.frames = self.updates = 0
        self.last_motion_counts = 0.0

    def correct(self, frame: NDArray, out: NDArray | None = None) -> NDArray:
        """``frame + offset``: uint16 in -> uint16 (rounded, clipped), float -> float32.

        ``out`` defaults to an internal buffer per dtype, valid until the next call.
        """
        if frame.shape != self.shape:
            raise ValueError(f"frame shape {frame.shape} != {self.shape}")
        integer = np.issubdtype(frame.dtype, np.integer)
        if out is None:
            dtype = np.dtype(frame.dtype if integer else np.float32)
            out = self._out.get(dtype)
            if out is None:
                out = self._out[dtype] = np.empty(self.shape, dtype)
        if not integer:
            np.add(frame, self.offset, out=out, casting="unsafe")
            return out
        info = np.iinfo(frame.dtype)
        np.add(frame, self.offset, out=self._y)
        np.rint(self._y, out=self._y)
        np.clip(self._y, info.min, info.max, out=self._y)
        np.copyto(out, self._y, casting="unsafe")
        return out

    def update(self, frame: NDArray) -> bool:
        """Learn from one frame, (H, W) counts; returns whether the offsets were updated."""
        if frame.shape != self.shape:
            raise ValueError(f"frame shape {frame.shape} != {self.shape}")
        y, prev = self._y, self._previous
        first = self.frames == 0
        self.frames += 1
        if first:
            np.copyto(prev, frame, casting="unsafe")
            return False
        # Motion from the raw difference: fixed-pattern offsets cancel.
        np.subtract(frame, prev, out=y, casting="unsafe")
        np.abs(y, out=y)
        self.last_motion_counts = float(y.mean(dtype=np.float64))
        np.copyto(prev, frame, casting="unsafe")
        if self.last_motion_counts <= self.motion_threshold:
            return False
        np.add(frame, self.offset, out=y, casting="unsafe")
        k = self.kernel_size
        cv2.blur(y, (k, k), dst=self._blur, borderType=cv2.BORDER_REFLECT)
        cv2.Sobel(self._blur, cv2.CV_32F, 1, 0, dst=self._gx, borderType=cv2.BORDER_REFLECT)
        cv2.Sobel(self._blur, cv2.CV_32F, 0, 1, dst=self._gy, borderType=cv2.BORDER_REFLECT)
        np.hypot(self._gx, self._gy, out=self._gx)
        s = EDGE_STATISTIC_STRIDE
        edge_threshold = self.edge_factor * float(np.median(self._gx[::s, ::s]))
        np.less(self._gx, np.float32(edge_threshold), out=self._mask)
        self._mask &= self.update_mask
        np.subtract(y, self._blur, out=y)  # LMS error
        y *= np.float32(self.learning_rate)
        np.subtract(self.offset, y, out=self.offset, where=self._mask)
        self.updates += 1
        return True
