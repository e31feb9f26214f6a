"""Tests for thermal_perception.core.display.isotherm (isotherm masks, overlays, ROI drawing)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from thermal_perception.core.display import isotherm as iso
from thermal_perception.core.measure import BoxRoi, PolygonRoi, RoiSet, SpotRoi, parse_roi

GREEN = (0, 255, 0)


@pytest.fixture
def temps() -> np.ndarray:
    """(3, 4) float32 deg C with NaN and +/-inf."""
    return np.array(
        [[5.0, 10.0, 15.0, 20.0], [20.5, np.nan, np.inf, -np.inf], [9.99, 12.0, 30.0, 15.0]],
        dtype=np.float32,
    )


@pytest.fixture
def grey() -> np.ndarray:
    """(3, 4, 3) uint8 BGR image, pixel (y, x) = (10 y + x, 100, 200)."""
    img = np.empty((3, 4, 3), np.uint8)
    img[..., 0] = 10 * np.arange(3)[:, None] + np.arange(4)
    img[..., 1] = 100
    img[..., 2] = 200
    return img


def test_isotherm_mask_band_is_inclusive_and_nan_safe(temps: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = iso.isotherm_mask(temps, 10.0, 20.0)
    expected = np.array(
        [[False, True, True, True], [False, False, False, False], [False, True, False, True]]
    )
    assert m.dtype == np.bool_ and np.array_equal(m, expected)


def test_isotherm_mask_open_bands_and_out(temps: np.ndarray) -> None:
    out = np.empty(temps.shape, np.bool_)
    above = iso.isotherm_mask(temps, 20.0, np.inf, out=out)
    assert above is out
    assert np.array_equal(np.argwhere(above), [[0, 3], [1, 0], [1, 2], [2, 2]])  # incl. +inf
    below = iso.isotherm_mask(temps, -np.inf, 9.99)
    assert np.array_equal(np.argwhere(below), [[0, 0], [1, 3], [2, 0]])  # incl. -inf


@pytest.mark.parametrize(("low", "high"), [(20.0, 10.0), (np.nan, 10.0), (0.0, np.nan)])
def test_isotherm_mask_rejects_bad_band(temps: np.ndarray, low: float, high: float) -> None:
    with pytest.raises(ValueError, match="low_c <= high_c"):
        iso.isotherm_mask(temps, low, high)


def test_overlay_solid_colour(temps: np.ndarray, grey: np.ndarray) -> None:
    original = grey.copy()
    m = iso.isotherm_mask(temps, 10.0, 20.0)
    out = iso.overlay_isotherm(grey, m)
    assert out is not grey and np.array_equal(grey, original)  # input untouched
    assert np.all(out[m] == GREEN)
    assert np.array_equal(out[~m], original[~m])


def test_overlay_alpha_blend(grey: np.ndarray) -> None:
    m = np.zeros(grey.shape[:2], bool)
    m[1, 2] = True  # pixel (12, 100, 200)
    out = iso.overlay_isotherm(grey, m, color_bgr=(0, 0, 255), alpha=0.25)
    # 0.25 * colour + 0.75 * pixel: (9, 75, 213.75 -> 214).
    assert tuple(out[1, 2]) == (9, 75, 214)
    assert np.array_equal(
        np.delete(out.reshape(-1, 3), 6, axis=0), np.delete(grey.reshape(-1, 3), 6, axis=0)
    )
    assert np.array_equal(iso.overlay_isotherm(grey, m, alpha=0.0), grey)


def test_overlay_in_place_and_into_buffer(grey: np.ndarray) -> None:
    m = np.eye(3, 4, dtype=bool)
    buf = np.zeros_like(grey)
    out = iso.overlay_isotherm(grey, m, out=buf)
    assert out is buf and np.all(buf[m] == GREEN) and np.array_equal(buf[~m], grey[~m])
    same = iso.overlay_isotherm(grey, m, color_bgr=(1, 2, 3), out=grey)
    assert same is grey and np.all(grey[m] == (1, 2, 3))


def test_overlay_validates(grey: np.ndarray) -> None:
    m = np.zeros(grey.shape[:2], bool)
    with pytest.raises(ValueError, match="alpha"):
        iso.overlay_isotherm(grey, m, alpha=1.5)
    with pytest.raises(ValueError, match="mask shape"):
        iso.overlay_isotherm(grey, m[:2])
    with pytest.raises(ValueError, match="uint8"):
        iso.overlay_isotherm(grey.astype(np.float32), m)


def test_draw_rois_outlines_marker_and_alarm_colour() -> None:
    h, w = 120, 320
    temps = np.full((h, w), 20.0, np.float32)
    temps[60, 100] = 90.0
    rois = [
        BoxRoi("box", 20, 30, 60, 70),
        SpotRoi("spot", 100, 60, 4),
        PolygonRoi("poly", [(250, 10), (300, 10), (275, 40)]),  # label below it, x >= 218
        parse_roi("box hot 90 50 110 80 above=80"),
    ]
    rs = RoiSet(rois)
    stats = rs.stats(temps)
    img = np.zeros((h, w, 3), np.uint8)
    states = {"box": "ok", "hot": "alarm"}
    out = iso.draw_rois(img, rs, stats, states=states)
    assert out is img
    assert tuple(img[30, 40]) == iso.ROI_COLOR_BGR  # top edge of the box, x0 <= x < x1
    assert tuple(img[69, 40]) == iso.ROI_COLOR_BGR  # bottom edge is row y1 - 1
    assert tuple(img[50, 40]) == (0, 0, 0)  # inside untouched
    assert tuple(img[65, 90]) == iso.ALARM_COLOR_BGR  # left edge of the alarming box
    assert tuple(img[10, 275]) == iso.ROI_COLOR_BGR  # polygon's top edge
    # Hottest-point cross at (100, 60): its arms are drawn, in the alarm box's colour.
    assert tuple(img[60, 97]) == iso.ALARM_COLOR_BGR and tuple(img[57, 100]) != (0, 0, 0)
    assert tuple(img[h - 1, 0]) == (0, 0, 0)  # far from every ROI


def test_draw_rois_edge_cases() -> None:
    img = np.zeros((60, 80, 3), np.uint8)
    rois = [
        SpotRoi("corner", 0, 0),
        BoxRoi("away", 100, 100, 110, 110),
        BoxRoi("nan", 10, 25, 20, 35),
    ]
    temps = np.full((60, 80), np.nan, np.float32)
    stats = RoiSet(rois).stats(temps)
    iso.draw_rois(img, rois, stats, states={"nan": "invalid"})  # labels clamped, no errors
    assert tuple(img[25, 15]) == iso.INVALID_COLOR_BGR  # top edge, just below its label
    iso.draw_rois(img, rois)  # without statistics
    with pytest.raises(ValueError, match="C-contiguous"):
        iso.draw_rois(np.zeros((60, 40, 3), np.uint8).transpose(1, 0, 2), rois)
