"""The pixels of a labelled dataset image, as the detector takes them (numpy/OpenCV).

- ``.npy``: a temperature image in deg C (radiometric);
- 16-bit PNG/TIFF: relative levels (counts with no scale known here);
- 8-bit grey JPEG/PNG: relative levels (AGC'd video, most published datasets);
- colour JPEG/PNG: a false-colour picture; with the palette that drew it (the image's
  ``palette`` from its label file, or the caller's) its colours are turned back into levels
  (:mod:`thermal_perception.core.display.palette_inversion`), otherwise its luma is used, as for any
  grey image.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from thermal_perception.core.display.palette_inversion import invert_palette
from thermal_perception.io.labels import LabelError, LabelledImage


def read_dataset_image(item: LabelledImage, palette: str | None = None
                       ) -> tuple[np.ndarray, bool]:
    """``(image (H, W), radiometric)``: deg C float32 for ``.npy`` files, else relative
    levels (uint8 or uint16). ``palette`` overrides the item's own."""
    path = Path(item.path)
    if path.suffix == ".npy":
        return np.load(path).astype(np.float32), True
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise LabelError(f"{path}: not a readable image")
    if image.ndim == 3:
        image = image[..., :3]
        name = palette or item.extra.get("palette")
        if name and image.dtype == np.uint8:
            return invert_palette(np.ascontiguousarray(image), name), False
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image, False
