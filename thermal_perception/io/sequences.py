"""16-bit image sequences (a folder of single-channel .png/.tif/.tiff frames, or multi-page
TIFFs) and the radiometry sidecar that says what their counts mean.

The sidecar is ``radiometry.yaml`` in the folder, one of::

    model: tlinear          # kelvin = counts x resolution_k
    resolution_k: 0.01      # K per count: 0.01 is centi-kelvin (Lepton 3.5, Boson)

    model: gain_offset      # deg C = offset_c + counts x gain_k_per_count
    gain_k_per_count: 0.04
    offset_c: -273.15

    model: optris           # deg C = (counts - 1000) / 10

They are the processor's radiometric models (``radiometric_model``, see
:mod:`thermal_perception.core.physics.calibration`); :meth:`Radiometry.processor_parameters` gives
the processor parameters that convert the sequence to deg C. Without a sidecar the frames
are counts whose model the user chooses.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml
from numpy.typing import NDArray

SIDECAR_NAME = "radiometry.yaml"
# sidecar model -> its keys (all required); the processor's parameter for each key
SIDECAR_MODELS: dict[str, tuple[str, ...]] = {
    "tlinear": ("resolution_k",),
    "gain_offset": ("gain_k_per_count", "offset_c"),
    "optris": (),
}
PROCESSOR_PARAMETER = {"resolution_k": "tlinear_resolution_k",
                       "gain_k_per_count": "gain_k_per_count", "offset_c": "offset_c"}
POSITIVE_KEYS = ("resolution_k", "gain_k_per_count")
EXPECTED_SIDECAR = ("expected 'model: tlinear' with resolution_k (K per count), "
                    "'model: gain_offset' with gain_k_per_count (K per count) and offset_c "
                    "(deg C at zero counts), or 'model: optris'")
EXPECTED_IMAGE = "expected a 16-bit single-channel PNG or TIFF of raw counts"


@dataclass
class Radiometry:
    """How a recording's counts map to temperature: a processor radiometric ``model`` and
    its ``parameters`` (sidecar names: resolution_k, gain_k_per_count in K per count;
    offset_c in deg C at zero counts)."""

    model: str
    parameters: dict[str, float] = field(default_factory=dict)

    def processor_parameters(self) -> dict[str, str | float]:
        """The processor parameters (``radiometric_model`` and its constants) for these
        counts."""
        return {"radiometric_model": self.model,
                **{PROCESSOR_PARAMETER[k]: v for k, v in self.parameters.items()}}


def read_sidecar(path: str | Path) -> Radiometry:
    """The :class:`Radiometry` of a ``radiometry.yaml`` sidecar; ValueError naming the file
    and the expected keys for anything else."""
    path = Path(path)

    def bad(problem: str) -> ValueError:
        return ValueError(f"radiometry sidecar {path}: {problem}; {EXPECTED_SIDECAR}")

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise bad(f"unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise bad(f"not a mapping of keys to values (got {type(data).__name__})")
    model = data.get("model")
    if not isinstance(model, str) or model not in SIDECAR_MODELS:
        raise bad(f"model {model!r} is not one of {list(SIDECAR_MODELS)}")
    keys = SIDECAR_MODELS[model]
    missing = [k for k in keys if k not in data]
    unknown = sorted(str(k) for k in data if k != "model" and k not in keys)
    if missing or unknown:
        raise bad(f"model {model}: " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else [])
            + ([f"unknown keys {', '.join(unknown)}"] if unknown else [])))
    parameters = {}
    for key in keys:
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or (key in POSITIVE_KEYS and value <= 0):
            kind = "a positive number" if key in POSITIVE_KEYS else "a number"
            raise bad(f"{key} is {value!r}, not {kind}")
        parameters[key] = float(value)
    return Radiometry(model, parameters)


def folder_radiometry(folder: str | Path) -> Radiometry | None:
    """The radiometry of a folder of frames: its sidecar's, None without one."""
    sidecar = Path(folder) / SIDECAR_NAME
    return read_sidecar(sidecar) if sidecar.exists() else None


def read_image_counts(path: str | Path) -> Iterator[NDArray[np.uint16]]:
    """Counts (H, W) uint16 of a 16-bit PNG or TIFF, every page of a multi-page TIFF in order;
    ValueError naming the file for an unreadable, 8-bit, float or multi-channel image."""
    path = Path(path)
    pages = cv2.imcount(str(path)) if path.suffix.lower() in (".tif", ".tiff") else 1
    for page in range(max(pages, 1)):
        if pages > 1:
            ok, images = cv2.imreadmulti(str(path), start=page, count=1,
                                         flags=cv2.IMREAD_UNCHANGED)
            image = images[0] if ok and images else None
        else:
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        where = f"{path} (page {page})" if pages > 1 else str(path)
        if image is None:
            raise ValueError(f"{where}: unreadable image; {EXPECTED_IMAGE}")
        if image.ndim != 2:
            raise ValueError(f"{where}: {image.shape[2]}-channel image; {EXPECTED_IMAGE}")
        if image.dtype != np.uint16:
            hint = " (8-bit images are renderings, not counts)" if image.itemsize == 1 else ""
            raise ValueError(f"{where}: {image.dtype} image; {EXPECTED_IMAGE}{hint}")
        yield image
