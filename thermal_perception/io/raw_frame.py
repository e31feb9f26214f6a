"""One raw frame of a recording, as every reader of :mod:`.frames` (and :mod:`.cptv`) yields it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from thermal_perception.io.sequences import Radiometry


@dataclass
class RawFrame:
    """One raw frame: counts (H, W) uint16, capture stamp in ns (0 if unknown), FPA
    temperature in deg C (NaN if unknown), what the counts mean where the recording says
    (None: counts of a model the user chooses)."""

    counts: NDArray[np.uint16]
    stamp_ns: int = 0
    fpa_temperature_c: float = math.nan
    radiometry: Radiometry | None = None
