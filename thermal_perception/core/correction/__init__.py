"""Correction of raw counts, and the processing chain that ends in temperature.

- ``nuc``: non-uniformity correction (two-point tables, FPA drift, shutter/FFC updates,
  scene-based NUC);
- ``badpixels``: dead, hot and flickering pixels, found and replaced;
- ``lag``: thermal-lag compensation of the microbolometer's time constant;
- ``chain``: :class:`ProcessingChain`, counts -> corrected counts -> temperature, the same for
  the processor node, bag replay and benchmarks;
- ``per_camera``: a camera's own temperature correction (gain and offset by serial number).
"""

from thermal_perception.core.correction.chain import ChainConfig, ProcessingChain
from thermal_perception.core.correction.per_camera import (
    CameraCorrection,
    CorrectionFileError,
    CorrectionTable,
    fit_two_point,
    load_corrections,
    save_correction,
)

__all__ = ["CameraCorrection", "ChainConfig", "CorrectionFileError", "CorrectionTable",
           "ProcessingChain", "fit_two_point", "load_corrections", "save_correction"]
