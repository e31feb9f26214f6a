"""Camera profiles: the constants of a microbolometer camera, loaded from YAML.

The profiles shipped with the package are in ``thermal_perception/config/camera_profiles.yaml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PROFILES_RESOURCE = "camera_profiles.yaml"
# Radiometric models a profile can name: those its own fields configure completely (the
# processor's other models need constants from the camera's metadata).
PROFILE_MODELS = ("linear_radiance", "tlinear")
# How a V4L2/UVC camera of the class delivers counts (thermal_perception.io.v4l2): Y16 frames,
# or InfiRay P2 Pro/TC001 YUYV frames with a display and a thermal half.
V4L2_FORMATS = ("y16", "infiray")


OPTIONAL_KEYS = ("radiometric_model", "tlinear_resolution_k", "v4l2_format")


@dataclass(frozen=True)
class CameraProfile:
    """Constants of one thermal camera class.

    Attributes (the raw-output imperfections are documented in camera_profiles.yaml)
    ----------
    name : profile name, e.g. ``"boson640"``.
    width, height : image size, pixels.
    rate_hz : nominal frame rate, Hz.
    hfov_deg : horizontal field of view, degrees.
    pixel_pitch_um : detector pitch, micrometres.
    bit_depth : ADC resolution, bits (counts are in ``[0, 2**bit_depth - 1]``).
    netd_k : noise-equivalent temperature difference at a 300 K scene, K.
    time_constant_s : bolometer thermal time constant tau, s.
    band_um : spectral band (low, high), micrometres.
    radiometric_range_c : scene temperatures (low, high) mapped onto the counts range, deg C.
    offset_counts : counts of a scene at ``radiometric_range_c[0]``.
    radiometric_model : how the camera's counts relate to temperature (one of
        :data:`PROFILE_MODELS`); the processor's default.
    tlinear_resolution_k : K per count of a ``tlinear`` camera.
    v4l2_format : how the camera streams over V4L2 (one of :data:`V4L2_FORMATS`).
    """

    name: str
    width: int
    height: int
    rate_hz: float
    hfov_deg: float
    pixel_pitch_um: float
    bit_depth: int
    netd_k: float
    time_constant_s: float
    band_um: tuple[float, float]
    radiometric_range_c: tuple[float, float]
    offset_counts: int
    description: str = ""
    # Imperfections of the raw (un-corrected) output; used with the sensor's defects enabled.
    fpn_offset_std_counts: float = 0.0
    fpn_gain_std: float = 0.0
    fpa_drift_counts_per_k: float = 0.0
    fpa_drift_spread: float = 0.0
    fpa_reference_c: float = 30.0
    fpa_warmup_k: float = 0.0
    fpa_warmup_time_constant_s: float = 300.0
    dead_pixel_fraction: float = 0.0
    hot_pixel_fraction: float = 0.0
    flicker_pixel_fraction: float = 0.0
    flicker_amplitude_counts: float = 0.0
    radiometric_model: str = "linear_radiance"
    tlinear_resolution_k: float = 0.01
    v4l2_format: str = "y16"

    def __post_init__(self) -> None:
        problems = []
        if self.width < 1 or self.height < 1:
            problems.append(f"size {self.width}x{self.height} must be positive")
        if not 0 < self.rate_hz <= 1000:
            problems.append(f"rate_hz {self.rate_hz} must be in (0, 1000]")
        if not 0 < self.hfov_deg < 180:
            problems.append(f"hfov_deg {self.hfov_deg} must be in (0, 180)")
        if not 8 <= self.bit_depth <= 16:
            problems.append(f"bit_depth {self.bit_depth} must be in [8, 16]")
        if self.netd_k <= 0 or self.time_constant_s < 0:
            problems.append("netd_k must be > 0 and time_constant_s >= 0")
        if not 0 < self.band_um[0] < self.band_um[1]:
            problems.append(f"band_um {self.band_um} must be increasing and positive")
        if not self.radiometric_range_c[0] < self.radiometric_range_c[1]:
            problems.append(f"radiometric_range_c {self.radiometric_range_c} must be increasing")
        fractions = (self.dead_pixel_fraction, self.hot_pixel_fraction,
                     self.flicker_pixel_fraction)
        if not all(0.0 <= f < 0.1 for f in fractions):
            problems.append("bad pixel fractions must be in [0, 0.1)")
        if self.fpn_offset_std_counts < 0 or self.fpn_gain_std < 0:
            problems.append("fixed-pattern noise statistics must be >= 0")
        if not 0 <= self.offset_counts < self.full_scale_counts:
            problems.append(f"offset_counts {self.offset_counts} outside the ADC range")
        if self.radiometric_model not in PROFILE_MODELS:
            problems.append(f"radiometric_model {self.radiometric_model!r} must be one of "
                            f"{list(PROFILE_MODELS)}")
        if not 0 < self.tlinear_resolution_k <= 1.0:
            problems.append(f"tlinear_resolution_k {self.tlinear_resolution_k} must be in (0, 1]")
        if self.v4l2_format not in V4L2_FORMATS:
            problems.append(f"v4l2_format {self.v4l2_format!r} must be one of "
                            f"{list(V4L2_FORMATS)}")
        if problems:
            raise ValueError(f"camera profile {self.name!r}: " + "; ".join(problems))

    @property
    def full_scale_counts(self) -> int:
        """Largest count value of the ADC."""
        return (1 << self.bit_depth) - 1

    @property
    def band_m(self) -> tuple[float, float]:
        """Spectral band in metres."""
        return (self.band_um[0] * 1e-6, self.band_um[1] * 1e-6)

    @property
    def focal_length_px(self) -> float:
        """Pinhole focal length in pixels from the horizontal field of view."""
        return self.width / (2.0 * math.tan(math.radians(self.hfov_deg) / 2.0))

    def pinhole_intrinsics(self) -> tuple[list[float], list[float]]:
        """Nominal pinhole camera matrices ``K`` (3x3) and ``P`` (3x4), row-major, pixels:
        square pixels, principal point at the image centre, no distortion. A lens
        calibration replaces them."""
        f = self.focal_length_px
        cx, cy = (self.width - 1) / 2.0, (self.height - 1) / 2.0
        return ([f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0],
                [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0])

    def with_size(self, width: int, height: int) -> CameraProfile:
        """The same camera class at another resolution (same field of view)."""
        return replace(self, width=int(width), height=int(height))

    @classmethod
    def from_dict(cls, name: str, values: dict[str, Any]) -> CameraProfile:
        """Build from a YAML mapping; unknown keys are an error that names them."""
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"camera profile {name!r}: unknown keys {unknown}")
        missing = sorted(
            f.name for f in fields(cls)
            if f.name not in values and f.name not in ("name", "description", *OPTIONAL_KEYS)
        )
        if missing:
            raise ValueError(f"camera profile {name!r}: missing keys {missing}")
        kwargs = dict(values)
        kwargs["band_um"] = tuple(float(v) for v in values["band_um"])
        kwargs["radiometric_range_c"] = tuple(float(v) for v in values["radiometric_range_c"])
        return cls(name=name, **kwargs)


def load_profiles(path: str | Path | None = None) -> dict[str, CameraProfile]:
    """Load camera profiles from a YAML file (default: the profiles shipped with the package)."""
    if path is None:
        text = resources.files("thermal_perception.config").joinpath(PROFILES_RESOURCE).read_text()
    else:
        text = Path(path).read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"camera profiles file must map names to profiles, got {type(data)}")
    return {name: CameraProfile.from_dict(name, values) for name, values in data.items()}


def get_profile(name: str, path: str | Path | None = None) -> CameraProfile:
    """The profile called ``name``; an unknown name is an error listing the known ones."""
    profiles = load_profiles(path)
    if name not in profiles:
        raise ValueError(f"unknown camera profile {name!r}; known: {sorted(profiles)}")
    return profiles[name]
