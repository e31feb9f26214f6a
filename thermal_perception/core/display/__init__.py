"""Display of thermal images: AGC, equalisation and colormaps (``render``), isotherms and ROI
annotations (``isotherm``), and colour-palette pictures turned back into levels
(``palette_inversion``)."""

from thermal_perception.core.display.render import (
    AGC_MODES,
    COLORMAPS,
    IRONBOW_CONTROL_POINTS,
    DisplayRenderer,
    apply_colormap,
    auto_range,
    clahe,
    colormap_lut,
    plateau_equalization,
    plateau_lut,
    to_mono8,
)

__all__ = ["AGC_MODES", "COLORMAPS", "IRONBOW_CONTROL_POINTS", "DisplayRenderer",
           "apply_colormap", "auto_range", "clahe", "colormap_lut", "plateau_equalization",
           "plateau_lut", "to_mono8"]
