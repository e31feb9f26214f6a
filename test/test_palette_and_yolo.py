"""False-colour thermal images back to levels (core/palette_inversion), YOLO-txt label folders
(io/labels.read_yolo) and the dataset image reader that joins them (io/dataset_images)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from thermal_perception.core.display.palette_inversion import PALETTES, invert_palette, palette_lut
from thermal_perception.io.dataset_images import read_dataset_image
from thermal_perception.io.labels import LabelError, read_dataset, read_yolo

# -- palette inversion -----------------------------------------------------------------------


@pytest.mark.parametrize("name", PALETTES)
def test_every_level_of_a_palette_comes_back(name):
    """Drawn with the palette's own table, each of the 256 levels is read back within 4, and
    within 1 on average (the 64^3 colour cells are 4 wide: where a palette's colours change
    slowly, as viridis's dark end does, neighbouring levels share one)."""
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    colour = cv2.applyColorMap(ramp, palette_lut(name))
    back, dist = invert_palette(colour, name, with_distance=True)
    assert back.shape == ramp.shape and back.dtype == np.uint8
    error = np.abs(back.astype(int) - ramp)
    assert error.max() <= 4 and error.mean() <= 1.0
    assert dist.max() < 8.0  # every colour is (close to) a palette colour


@settings(max_examples=30, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(1, 20))),
       st.sampled_from(["seek_spectra", "ironbow", "inferno", "turbo"]))
def test_order_survives_the_round_trip(levels, name):
    """Warmer stays warmer: for any image, inverting the colours keeps the order of levels
    that differ by more than the inversion's tolerance."""
    back = invert_palette(cv2.applyColorMap(levels, palette_lut(name)), name).astype(int)
    a, b = levels.ravel().astype(int), back.ravel()
    i, j = np.triu_indices(len(a), 1)
    far = np.abs(a[i] - a[j]) > 4
    assert np.all(np.sign(a[i] - a[j])[far] == np.sign(b[i] - b[j])[far])


def test_palette_errors_name_what_is_accepted():
    with pytest.raises(ValueError, match="seek_spectra"):
        palette_lut("nope")
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        invert_palette(np.zeros((4, 4), np.uint8), "jet")


# -- YOLO folders ----------------------------------------------------------------------------


def _yolo(root: Path, split_folder: str = "valid", palette: str | None = None) -> Path:
    (root / split_folder / "images").mkdir(parents=True)
    (root / split_folder / "labels").mkdir()
    names = "names: ['dog', 'person', 'DontCare']\n"
    (root / "data.yaml").write_text("nc: 3\n" + names + (f"palette: {palette}\n" if palette
                                                          else ""))
    img = np.zeros((100, 200), np.uint8)
    img[20:60, 40:60] = 200                      # a warm "person"
    colour = cv2.applyColorMap(img, palette_lut(palette or "white_hot"))
    cv2.imwrite(str(root / split_folder / "images" / "a.png"), colour)
    cv2.imwrite(str(root / split_folder / "images" / "b.jpg"), colour)  # no label file
    (root / split_folder / "labels" / "a.txt").write_text(
        "1 0.25 0.4 0.1 0.4\n0 0.9 0.9 0.4 0.4\n\n2 0.5 0.5 0.1 0.1\n")
    return root


def test_yolo_boxes_are_read_in_pixels(tmp_path):
    items = read_dataset(_yolo(tmp_path), "val")  # 'val' is read from the 'valid' folder
    assert [it.path.name for it in items] == ["a.png", "b.jpg"]
    a, b = items
    assert (a.width, a.height) == (200, 100) and (b.width, b.height) == (200, 100)
    assert a.labels == ["person", "animal"]
    np.testing.assert_allclose(a.boxes[0], (40, 20, 60, 60))
    np.testing.assert_allclose(a.boxes[1], (140, 70, 200, 100))  # clipped to the image
    np.testing.assert_allclose(a.ignore, [(90, 45, 110, 55)])    # DontCare -> ignore
    assert b.boxes == [] and b.labels == []
    assert a.extra["split"] == "val"


def test_yolo_errors_name_the_file_and_line(tmp_path):
    root = _yolo(tmp_path)
    with pytest.raises(LabelError, match="no 'test' split"):
        read_yolo(root, "test")
    (root / "valid" / "labels" / "a.txt").write_text("1 0.5 0.5 0.1 0.1\n7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(LabelError, match=r"a\.txt:2: .*class index below 3"):
        read_yolo(root, "val")
    (root / "data.yaml").write_text("nc: 1\n")
    with pytest.raises(LabelError, match="not a YOLO data file"):
        read_yolo(root, "val")


def test_palette_images_are_read_as_levels(tmp_path):
    """A colour image whose data.yaml names its palette reads as the levels it was drawn
    from; without the palette it is read as grey luma, and a caller's palette overrides."""
    items = read_dataset(_yolo(tmp_path, palette="ironbow"), "val")
    assert items[0].extra["palette"] == "ironbow"
    levels, radiometric = read_dataset_image(items[0])
    assert not radiometric and levels.dtype == np.uint8 and levels.shape == (100, 200)
    assert abs(int(levels[40, 50]) - 200) <= 2 and levels[5, 5] <= 2
    luma, _ = read_dataset_image(items[0], palette="white_hot")
    assert abs(int(luma[40, 50]) - 200) > 20  # ironbow's colour is not grey 200
