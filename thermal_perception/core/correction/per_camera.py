"""Per-camera temperature correction: ``T_corrected = gain * T + offset`` (deg C), applied
after the counts -> temperature conversion, and the YAML table of corrections keyed by camera
serial number.

Some cameras read several (even tens of) kelvin off their true temperature. A correction is
either written by hand (``method: manual``) or fitted to two blackbody recordings by
``thermal-perception calibrate correction`` (``method: two_point``, :func:`fit_two_point`).
The file (``correction_file`` parameter of the processor)::

    # T_corrected_c = gain * T_c + offset_k
    cameras:
      "74012":                 # camera serial number (always a string; quote digits)
        gain: 1.0312
        offset_k: -4.127
        valid_range_c: [10.0, 60.0]   # optional: where the fit was made, deg C
        method: two_point
        date: "2025-01-14"
        source: "low.bag (10 C) + high.bag (60 C)"
        check_residual_k: 0.012       # optional: error at a third blackbody, K
      default:                 # optional: cameras without an entry of their own
        gain: 1.0
        offset_k: 0.0

Pure numpy/PyYAML, no ROS.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import ArrayLike, NDArray

GAIN_RANGE = (0.5, 2.0)   # plausible gains; outside them the camera or the fit is broken
MAX_OFFSET_K = 50.0       # largest plausible offset, K
DEFAULT_KEY = "default"   # the entry for cameras without one of their own
METHODS = ("manual", "two_point")
#: more than this fraction of a frame's (or a recording's) pixels outside ``valid_range_c``:
#: the processor's diagnostics WARN and ``analyze`` warns that the correction is extrapolated
OUTSIDE_RANGE_WARN = 0.5
FIELDS = ("gain", "offset_k", "valid_range_c", "method", "date", "source", "check_residual_k")
HEADER = ("# thermal_perception per-camera temperature corrections (processor parameter\n"
          "# correction_file): T_corrected_c = gain * T_c + offset_k, keyed by camera serial.\n")


class CorrectionFileError(ValueError):
    """A corrections file that cannot be used; the message names the file, line and key."""


@dataclass(frozen=True)
class CameraCorrection:
    """Linear correction of one camera's temperatures.

    gain : dimensionless, in :data:`GAIN_RANGE`.
    offset_k : K, added after the gain (``T_c' = gain * T_c + offset_k``), |offset| <= 50 K.
    valid_range_c : (low, high) deg C over which the correction was established, or None.
    serial : camera serial number ("default" for the fallback entry).
    date, method, source : when, how ("manual" or "two_point") and from what it was made.
    check_residual_k : error at an independent blackbody after correction, K (or None).
    """

    gain: float = 1.0
    offset_k: float = 0.0
    valid_range_c: tuple[float, float] | None = None
    serial: str = ""
    date: str = ""
    method: str = "manual"
    source: str = ""
    check_residual_k: float | None = None

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(problem)

    def problem(self) -> str | None:
        """Why this correction is not plausible, or None."""
        low, high = GAIN_RANGE
        if not (isinstance(self.gain, (int, float)) and math.isfinite(self.gain)
                and low <= self.gain <= high):
            return f"gain {self.gain!r} must be a finite number in {low:g}..{high:g}"
        if not (isinstance(self.offset_k, (int, float)) and math.isfinite(self.offset_k)
                and abs(self.offset_k) <= MAX_OFFSET_K):
            return (f"offset_k {self.offset_k!r} must be a finite number within "
                    f"+/-{MAX_OFFSET_K:g} K")
        if self.valid_range_c is not None:
            r = self.valid_range_c
            if not (len(r) == 2 and all(isinstance(v, (int, float)) and math.isfinite(v)
                                        for v in r) and r[0] < r[1]):
                return f"valid_range_c {list(r)!r} must be two finite deg C values, low < high"
        if self.method not in METHODS:
            return f"method {self.method!r} must be one of {list(METHODS)}"
        if self.check_residual_k is not None and not math.isfinite(self.check_residual_k):
            return f"check_residual_k {self.check_residual_k!r} must be finite"
        return None

    @property
    def is_identity(self) -> bool:
        return self.gain == 1.0 and self.offset_k == 0.0

    def apply(self, temperature_c: NDArray[np.floating], out: NDArray[np.floating] | None = None
              ) -> NDArray[np.floating]:
        """Corrected temperatures, deg C: ``gain * T + offset_k`` (NaN stays NaN). In place
        with ``out=temperature_c``; no allocation when ``out`` is given."""
        out = np.multiply(temperature_c, self.gain, out=out, casting="same_kind")
        return np.add(out, self.offset_k, out=out, casting="same_kind")

    def invert(self, temperature_c: NDArray[np.floating],
               out: NDArray[np.floating] | None = None) -> NDArray[np.floating]:
        """The uncorrected temperatures, deg C, of corrected ones (the inverse of :meth:`apply`)."""
        out = np.subtract(temperature_c, self.offset_k, out=out, casting="same_kind")
        return np.divide(out, self.gain, out=out, casting="same_kind")

    def outside_valid_range(self, temperature_c: ArrayLike, weights: ArrayLike | None = None
                            ) -> float | None:
        """Fraction (0..1) of the finite corrected temperatures (deg C) outside
        ``valid_range_c``, where the correction was not established and is extrapolated.

        ``weights`` gives the pixels of each value (a histogram's counts), else each value is
        one pixel. None when the correction has no ``valid_range_c``; NaN without a finite
        value.
        """
        if self.valid_range_c is None:
            return None
        t = np.asarray(temperature_c, np.float64).reshape(-1)
        finite = np.isfinite(t)
        w = np.ones(t.shape) if weights is None else np.asarray(weights, np.float64).reshape(-1)
        t, w = t[finite], w[finite]
        total = float(w.sum())
        if total <= 0.0:
            return math.nan
        low, high = self.valid_range_c
        return float(w[(t < low) | (t > high)].sum()) / total

    def apply_sigma(self, sigma_k: NDArray[np.floating], out: NDArray[np.floating] | None = None
                    ) -> NDArray[np.floating]:
        """One-sigma uncertainty of corrected temperatures, K: ``|gain| * sigma``."""
        return np.multiply(sigma_k, abs(self.gain), out=out, casting="same_kind")

    def describe(self) -> str:
        """One line for logs and diagnostics."""
        made = ", ".join(x for x in (self.method, self.date) if x)
        return (f"camera {self.serial or '?'}: gain {self.gain:.5g}, offset {self.offset_k:+.3f} K"
                + (f" ({made})" if made else ""))

    def describe_outside(self, fraction: float | None) -> str:
        """The :meth:`outside_valid_range` fraction in words, for diagnostics and reports."""
        if self.valid_range_c is None or fraction is None:
            return "n/a (the correction has no valid_range_c)"
        if not math.isfinite(fraction):
            return "n/a (no valid pixel)"
        low, high = self.valid_range_c
        return f"{fraction:.1%} of pixels outside {low:g}..{high:g} C (extrapolated)"

    def to_entry(self) -> dict[str, Any]:
        """The YAML entry of this correction (without the serial, which is its key)."""
        entry = {k: v for k, v in asdict(self).items() if k in FIELDS and v not in (None, "")}
        if self.valid_range_c is not None:
            entry["valid_range_c"] = [float(v) for v in self.valid_range_c]
        # rounded far below any camera's noise, so that the file reads well
        entry["gain"], entry["offset_k"] = round(self.gain, 6), round(self.offset_k, 4)
        if self.check_residual_k is not None:
            entry["check_residual_k"] = round(self.check_residual_k, 4)
        return {k: entry[k] for k in FIELDS if k in entry}


def fit_two_point(measured_c: ArrayLike, true_c: ArrayLike) -> tuple[float, float]:
    """(gain, offset_k) that map two measured temperatures onto the true ones, deg C.

    measured_c : (2,) deg C, what the camera read of the two blackbodies.
    true_c : (2,) deg C, the blackbodies' temperatures.
    """
    m = np.asarray(measured_c, dtype=np.float64)
    t = np.asarray(true_c, dtype=np.float64)
    if m.shape != (2,) or t.shape != (2,) or not (np.isfinite(m).all() and np.isfinite(t).all()):
        raise ValueError(f"need two finite measured and true temperatures, got {m} and {t}")
    if abs(t[1] - t[0]) < 1.0:
        raise ValueError(f"the blackbodies must differ by at least 1 K, got {t[0]:g} and "
                         f"{t[1]:g} C")
    if abs(m[1] - m[0]) < 1e-3:
        raise ValueError(f"the two recordings read the same temperature ({m[0]:.3f} C): "
                         "are they of the same blackbody?")
    gain = (t[1] - t[0]) / (m[1] - m[0])
    return float(gain), float(t[0] - gain * m[0])


@dataclass
class CorrectionTable:
    """The corrections of a file, by camera serial (``default``: the fallback entry)."""

    path: str
    cameras: dict[str, CameraCorrection]

    def select(self, serial: str) -> tuple[CameraCorrection | None, str]:
        """The correction for camera ``serial`` ("" = unknown), and how it was chosen."""
        if serial and serial in self.cameras:
            return self.cameras[serial], f"entry for camera {serial}"
        default = self.cameras.get(DEFAULT_KEY)
        why = f"no entry for camera {serial}" if serial else "camera serial unknown"
        if default is not None:
            return default, f"{why}: '{DEFAULT_KEY}' entry"
        return None, f"{why} and no '{DEFAULT_KEY}' entry in {self.path}"


def _where(path: str | Path, node: yaml.Node) -> str:
    return f"{path} line {node.start_mark.line + 1}"


def load_corrections(path: str | Path) -> CorrectionTable:
    """Read a corrections file; raises :class:`CorrectionFileError` naming file, line and key
    for anything wrong (missing file, YAML syntax, unknown fields, implausible values)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise CorrectionFileError(f"corrections file {path}: {exc.strerror or exc}") from exc
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise CorrectionFileError(f"{path}: empty; expected a 'cameras:' mapping")
        if not isinstance(root, yaml.MappingNode):
            raise CorrectionFileError(f"{_where(path, root)}: expected a mapping with 'cameras:'")
        cameras_node = None
        for key, value in root.value:
            if key.value == "cameras":
                cameras_node = value
            else:
                raise CorrectionFileError(f"{_where(path, key)}: unknown key {key.value!r} "
                                          "(expected 'cameras')")
        if not isinstance(cameras_node, yaml.MappingNode) or not cameras_node.value:
            raise CorrectionFileError(f"{path}: 'cameras' must be a non-empty mapping of "
                                      "camera serial -> correction")
        cameras: dict[str, CameraCorrection] = {}
        for key, entry in cameras_node.value:
            serial = str(key.value).strip()
            if not serial:
                raise CorrectionFileError(f"{_where(path, key)}: empty camera serial")
            if serial in cameras:
                raise CorrectionFileError(f"{_where(path, key)}: camera {serial!r} twice")
            cameras[serial] = _entry(path, serial, entry, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise CorrectionFileError(f"{path}{line}: not valid YAML: {exc.problem}") from exc
    finally:
        loader.dispose()
    return CorrectionTable(str(path), cameras)


def _entry(path: Path, serial: str, node: yaml.Node, loader: yaml.SafeLoader
           ) -> CameraCorrection:
    where = f"{_where(path, node)}: camera {serial!r}"
    if not isinstance(node, yaml.MappingNode):
        raise CorrectionFileError(f"{where}: expected a mapping with gain and offset_k")
    values: dict[str, Any] = {}
    for key, value in node.value:
        if key.value not in FIELDS:
            raise CorrectionFileError(f"{_where(path, key)}: camera {serial!r}: unknown field "
                                      f"{key.value!r} (known: {', '.join(FIELDS)})")
        values[key.value] = (_where(path, key), loader.construct_object(value, deep=True))
    if "gain" not in values and "offset_k" not in values:
        raise CorrectionFileError(f"{where}: needs gain and/or offset_k")
    kwargs: dict[str, Any] = {"serial": serial}
    for name, (at, value) in values.items():
        try:
            kwargs[name] = _field(name, value)
        except (TypeError, ValueError) as exc:
            raise CorrectionFileError(f"{at}: camera {serial!r}: {name}: {exc}") from exc
    try:
        return CameraCorrection(**kwargs)
    except ValueError as exc:
        raise CorrectionFileError(f"{where}: {exc}") from exc


def _field(name: str, value: Any) -> Any:
    if name in ("gain", "offset_k", "check_residual_k"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if name == "valid_range_c":
        if not isinstance(value, list) or len(value) != 2 or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
            raise TypeError(f"expected [low, high] in deg C, got {value!r}")
        return (float(value[0]), float(value[1]))
    return str(value)  # date (YAML may read it as a date), method, source


def save_correction(path: str | Path, correction: CameraCorrection) -> CorrectionTable:
    """Write ``correction`` under its serial into the file at ``path``, keeping the other
    entries (an existing file must be valid); returns the table written."""
    path = Path(path)
    if not correction.serial:
        raise ValueError("the correction needs a camera serial (or 'default') as its key")
    cameras = dict(load_corrections(path).cameras) if path.exists() else {}
    cameras[correction.serial] = correction
    data = {"cameras": {serial: c.to_entry() for serial, c in cameras.items()}}
    text = HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return CorrectionTable(str(path), cameras)
