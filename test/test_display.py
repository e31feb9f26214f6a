"""Tests for thermal_perception.core.display.render (AGC, equalisation, colormaps, renderer)."""

from __future__ import annotations

import itertools
import warnings

import cv2
import numpy as np
import pytest

from thermal_perception.core.display import render as disp


@pytest.fixture
def frame() -> np.ndarray:
    """A (48, 64) float32 temperature image in deg C with a hot spot, NaN and +/-inf pixels."""
    rng = np.random.default_rng(0)
    t = rng.normal(20.0, 2.0, (48, 64)).astype(np.float32)
    t[10:20, 10:20] = 60.0
    t[0, :5] = np.nan
    t[1, 0] = np.inf
    t[1, 1] = -np.inf
    return t


def luma(bgr: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of BGR colours."""
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    return 0.299 * r + 0.587 * g + 0.114 * b


# ------------------------------------------------------------------------------------------
# Colormaps
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", disp.COLORMAPS)
def test_every_colormap_shape_dtype(name: str) -> None:
    mono = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
    bgr = disp.apply_colormap(mono, name)
    assert bgr.shape == (4, 256, 3)
    assert bgr.dtype == np.uint8
    lut = disp.colormap_lut(name)
    assert lut.shape == (256, 1, 3) and lut.dtype == np.uint8
    np.testing.assert_array_equal(bgr[0], lut[:, 0])
    out = np.empty((4, 256, 3), np.uint8)
    assert disp.apply_colormap(mono, name, out=out) is out


def test_expected_colormaps_present() -> None:
    assert set(disp.COLORMAPS) == {
        "white_hot", "black_hot", "ironbow", "rainbow", "inferno", "viridis", "turbo", "magma",
        "jet",
    }  # fmt: skip


def test_opencv_builtin_used() -> None:
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(
        disp.apply_colormap(ramp, "turbo"), cv2.applyColorMap(ramp, cv2.COLORMAP_TURBO)
    )


def test_unknown_colormap_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="valid names: white_hot, black_hot, ironbow"):
        disp.apply_colormap(np.zeros((2, 2), np.uint8), "hotiron")


def test_black_hot_is_inverse_of_white_hot() -> None:
    mono = np.arange(256, dtype=np.uint8).reshape(16, 16)
    white = disp.apply_colormap(mono, "white_hot")
    black = disp.apply_colormap(mono, "black_hot")
    np.testing.assert_array_equal(black, 255 - white)
    np.testing.assert_array_equal(white[..., 0], mono)  # gray ramp, identity
    assert np.all(white[..., 0] == white[..., 2])


def test_ironbow_monotone_in_luminance() -> None:
    y = luma(disp.colormap_lut("ironbow")[:, 0])
    assert y[0] == 0.0 and y[-1] == pytest.approx(255.0)
    assert np.all(np.diff(y) >= -1.0)  # allow 8-bit rounding of the interpolated colours
    assert y[128] > y[64] > y[0]
    # Control points: luma strictly increasing (documented in the module).
    cp = np.array([c for _, c in disp.IRONBOW_CONTROL_POINTS], dtype=np.float64)
    assert np.all(np.diff(0.299 * cp[:, 0] + 0.587 * cp[:, 1] + 0.114 * cp[:, 2]) > 0)


# ------------------------------------------------------------------------------------------
# Range and scaling
# ------------------------------------------------------------------------------------------


def test_auto_range_ignores_nan_and_inf(frame: np.ndarray) -> None:
    # Like cv_bridge's cvtColorForDisplay tests: non-finite pixels must not set the range.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = disp.auto_range(frame, mode="minmax")
        finite = frame[np.isfinite(frame)]
        assert (lo, hi) == (pytest.approx(finite.min()), pytest.approx(finite.max()))
        lo, hi = disp.auto_range(frame)
        p1, p99 = np.percentile(finite, (1.0, 99.0))
        assert lo == pytest.approx(p1, abs=1e-4) and hi == pytest.approx(p99, abs=1e-4)
        assert np.isfinite(lo) and np.isfinite(hi) and lo < hi


def test_auto_range_constant_and_all_nan() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = disp.auto_range(np.full((8, 8), 25.0))
        assert lo < 25.0 < hi and hi - lo == pytest.approx(1e-3)
        m = disp.to_mono8(np.full((8, 8), 25.0), lo, hi)
        assert np.all(m == 128)  # mid-grey
        assert disp.auto_range(np.full((8, 8), np.nan)) == (0.0, 1.0)
        assert disp.auto_range(np.array([np.inf, -np.inf, np.nan])) == (0.0, 1.0)
        assert np.all(disp.to_mono8(np.full((8, 8), np.nan), 0.0, 1.0) == 0)
        assert disp.auto_range(np.zeros((0, 0)), default=(10.0, 30.0)) == (10.0, 30.0)
    with pytest.raises(ValueError, match="mode"):
        disp.auto_range(np.zeros(3), mode="median")


def test_to_mono8_scaling_clipping_nan(frame: np.ndarray) -> None:
    t = np.array([[np.nan, -np.inf, np.inf, 0.0, 5.0, 10.0, -3.0, 99.0]])
    m = disp.to_mono8(t, 0.0, 10.0)
    np.testing.assert_array_equal(m, [[0, 0, 255, 0, 128, 255, 0, 255]])
    out = np.empty(frame.shape, np.uint8)
    assert disp.to_mono8(frame, 10.0, 30.0, out=out) is out
    with pytest.raises(ValueError, match="hi > lo"):
        disp.to_mono8(frame, 5.0, 5.0)
    # Integer input (raw counts) works too.
    np.testing.assert_array_equal(
        disp.to_mono8(np.array([[1000, 2000, 3000]], np.uint16), 1000, 3000), [[0, 128, 255]]
    )


# ------------------------------------------------------------------------------------------
# Equalisation
# ------------------------------------------------------------------------------------------


def test_plateau_equalization_range_and_monotone(frame: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eq = disp.plateau_equalization(frame, plateau=0.02)
    assert eq.dtype == np.uint8 and eq.shape == frame.shape
    valid = np.isfinite(frame)
    assert eq[valid].min() == 0 and eq[valid].max() == 255
    assert np.all(eq[np.isnan(frame)] == 0)
    order = np.argsort(frame[valid], kind="stable")
    assert np.all(np.diff(eq[valid][order].astype(int)) >= 0)  # monotone mapping
    out = np.empty(frame.shape, np.uint8)
    assert disp.plateau_equalization(frame, out=out) is out


def test_plateau_limits_dominant_background() -> None:
    # 90 % uniform background at 20 C between a cold (0-5 C) and a warm (30-35 C) gradient:
    # plain HEQ (plateau 1) spends ~90 % of the grey levels on the jump across the
    # background; a low plateau clips that bin and gives the gradients the levels.
    t = np.full((100, 100), 20.0)
    t[:5] = np.linspace(0.0, 5.0, 500).reshape(5, 100)
    t[-5:] = np.linspace(30.0, 35.0, 500).reshape(5, 100)
    plain = disp.plateau_equalization(t, plateau=1.0)
    clipped = disp.plateau_equalization(t, plateau=0.001)
    assert np.ptp(plain[:5]) < 20  # ~255 * 5 %
    assert np.ptp(clipped[:5]) > 3 * np.ptp(plain[:5])
    assert np.ptp(clipped[-5:]) > 3 * np.ptp(plain[-5:])


def test_plateau_constant_image_mid_grey() -> None:
    eq = disp.plateau_equalization(np.full((5, 5), 7.0))
    assert np.all(eq == 128)
    with pytest.raises(ValueError, match="plateau"):
        disp.plateau_equalization(np.zeros((5, 5)), plateau=0.0)


def test_clahe_shape_dtype() -> None:
    mono = np.tile(np.arange(64, dtype=np.uint8), (32, 1))
    out = disp.clahe(mono)
    assert out.shape == mono.shape and out.dtype == np.uint8
    buf = np.empty_like(mono)
    assert disp.clahe(mono, out=buf) is buf


# ------------------------------------------------------------------------------------------
# Renderer
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("agc", disp.AGC_MODES)
def test_renderer_every_agc_mode(agc: str, frame: np.ndarray) -> None:
    r = disp.DisplayRenderer(agc=agc, colormap="white_hot")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bgr = r.render(frame)
    assert bgr.shape == (*frame.shape, 3) and bgr.dtype == np.uint8
    assert np.all(bgr[0, :5] == 0)  # NaN -> black
    assert bgr[15, 15, 0] >= 250  # hot spot white in white_hot (60 C, top of the range)
    lo, hi = r.range_c
    assert lo < hi


def test_renderer_reuses_buffers(frame: np.ndarray) -> None:
    r = disp.DisplayRenderer()
    a = r.render(frame)
    b = r.render(frame + 1.0)
    assert a is b  # same object while the frame shape is unchanged (documented)
    c = r.render(np.zeros((10, 12), np.float32))
    assert c is not a and c.shape == (10, 12, 3)


def test_renderer_smoothing_converges() -> None:
    cold = np.linspace(0.0, 10.0, 100, dtype=np.float32).reshape(10, 10)
    hot = cold + 50.0
    r = disp.DisplayRenderer(agc="linear", smoothing=0.8)
    r.render(cold)
    assert r.range_c == pytest.approx((0.0, 10.0))
    errors = []
    for _ in range(60):
        r.render(hot)
        errors.append(abs(r.range_c[0] - 50.0))
    assert errors[0] == pytest.approx(0.8 * 50.0)  # one EMA step
    assert all(e2 < e1 for e1, e2 in itertools.pairwise(errors) if e1 > 1e-9)
    assert errors[-1] < 1e-3
    # No smoothing: follows at once.
    r0 = disp.DisplayRenderer(agc="linear", smoothing=0.0)
    r0.render(cold)
    r0.render(hot)
    assert r0.range_c == pytest.approx((50.0, 60.0))
    r.reset()
    assert r.range_c is None


def test_renderer_fixed_range_and_nan_colour() -> None:
    t = np.array([[0.0, 20.0, 40.0, np.nan]], np.float32)
    r = disp.DisplayRenderer(
        agc="fixed", colormap="white_hot", fixed_range_c=(0.0, 40.0), nan_color_bgr=(255, 0, 255)
    )
    bgr = r.render(t)
    np.testing.assert_array_equal(bgr[0, :3, 0], [0, 128, 255])
    np.testing.assert_array_equal(bgr[0, 3], [255, 0, 255])


def test_renderer_min_span_on_uniform_scene() -> None:
    rng = np.random.default_rng(3)
    t = (20.0 + 0.01 * rng.standard_normal((32, 32))).astype(np.float32)
    r = disp.DisplayRenderer(agc="linear", colormap="white_hot", min_span_c=1.0)
    bgr = r.render(t)
    assert r.range_c[1] - r.range_c[0] == pytest.approx(1.0)
    # Noise (sigma 10 mK, ~+/-35 mK) spans ~9 % of the 1 K window, not the full 0..255.
    assert np.ptp(bgr[..., 0]) < 40


def test_renderer_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="agc"):
        disp.DisplayRenderer(agc="auto")
    with pytest.raises(ValueError, match="valid names"):
        disp.DisplayRenderer(colormap="hot")
    with pytest.raises(ValueError, match="smoothing"):
        disp.DisplayRenderer(smoothing=1.0)
    with pytest.raises(ValueError, match="2-D"):
        disp.DisplayRenderer().render(np.zeros((2, 2, 2)))


def test_colorbar() -> None:
    r = disp.DisplayRenderer(colormap="white_hot")
    bar = r.colorbar(100)
    assert bar.shape == (100, 24, 3) and bar.dtype == np.uint8
    assert bar[0, 0, 0] == 255 and bar[-1, 0, 0] == 0  # hot at the top
    labelled = r.colorbar(120, 10.0, 30.0, width=60)
    assert labelled.shape == (120, 60, 3)


@pytest.mark.parametrize("shape", [(512, 640), (120, 160), (60, 80)])
def test_draw_colorbar_in_the_right_edge(shape: tuple[int, int]) -> None:
    """The bar of the window just rendered, inset at the right edge, hot at the top; its ends
    written where it is at least 48 px wide (Lepton 3's 160 px and up); the rest of the image
    untouched."""
    h, w = shape
    t = np.linspace(10.0, 30.0, h * w, dtype=np.float32).reshape(h, w)
    r = disp.DisplayRenderer(agc="fixed", colormap="white_hot", fixed_range_c=(10.0, 30.0),
                             smoothing=0.0)
    plain = r.render(t).copy()
    image = r.draw_colorbar(r.render(t))
    margin = max(2, h // 40)
    width = max(48, w // 10) if w >= 144 else max(4, w // 8)
    x0 = w - width - margin
    bar = image[margin:h - margin, x0:x0 + width]
    np.testing.assert_array_equal(bar, r.colorbar(h - 2 * margin, width=width))
    assert bar[-1, 0, 0] == 0 and bar[h // 2, 0, 0] > 100  # cold at the bottom
    outside = np.ones((h, w), bool)
    outside[margin:h - margin, x0:x0 + width] = False
    np.testing.assert_array_equal(image[outside], plain[outside])
    numbers = not np.array_equal(bar, r.colorbar(h - 2 * margin, 0.0, 0.0, width=width))
    assert numbers == (width >= 48)  # "30.0" and "10.0" drawn on the wide bars only


def test_draw_colorbar_on_a_tiny_image_draws_nothing() -> None:
    r = disp.DisplayRenderer()
    image = r.render(np.zeros((10, 12), np.float32)).copy()
    np.testing.assert_array_equal(r.draw_colorbar(image.copy()), image)


def test_to_mono8_fast_path_equals_general_path() -> None:
    """float32 frames take one OpenCV pass; it maps like the general numpy path (to within
    rounding of exact halves), with NaN -> 0, -inf -> 0 and +inf -> 255."""
    rng = np.random.default_rng(5)
    t32 = rng.uniform(-20, 80, (64, 80)).astype(np.float32)
    t32[0, :4] = np.nan
    t32[1, :4] = np.inf
    t32[2, :4] = -np.inf
    fast = disp.to_mono8(t32, 0.0, 60.0)
    general = disp.to_mono8(t32.astype(np.float64), 0.0, 60.0)
    assert np.abs(fast.astype(int) - general.astype(int)).max() <= 1
    assert (fast[0, :4] == 0).all() and (fast[1, :4] == 255).all() and (fast[2, :4] == 0).all()


def test_processor_display_image_draws_the_colorbar_when_asked() -> None:
    """``display_colorbar`` (processor parameter, default off): the published display image is
    the plain one with the bar drawn in, as the node and the offline analysis build it."""
    from thermal_perception.core.measure import RoiSet
    from thermal_perception.settings.processor import PARAMS, display_image, renderer_from

    values = {spec.name: spec.default for spec in PARAMS}
    assert values["display_colorbar"] is False
    t = np.linspace(0.0, 40.0, 120 * 160, dtype=np.float32).reshape(120, 160)
    rois = RoiSet.from_strings(values["rois"])
    plain = display_image(renderer_from(values), t, values, rois, None, {}).copy()
    renderer = renderer_from(values)
    with_bar = display_image(renderer, t, {**values, "display_colorbar": True}, rois, None, {})
    expected = renderer_from(values)
    expected.render(t)
    assert not np.array_equal(with_bar, plain)
    np.testing.assert_array_equal(with_bar, expected.draw_colorbar(plain.copy()))


def test_colour_bar_labels_fit_their_bar() -> None:
    """The bar's ends carry their unit where it fits, whole degrees where one decimal does
    not, and never run past the bar."""
    from thermal_perception.core.display.render import _bar_label

    def px(text: str) -> int:  # OpenCV's own measure (its font metrics vary by release)
        return cv2.getTextSize(text, cv2.FONT_HERSHEY_PLAIN, 0.8, 1)[0][0]

    assert _bar_label(29.04, 64) == "29.0C" and _bar_label(-12.5, 64) == "-12.5C"
    assert _bar_label(1234.4, 48) != "1234.4C"  # seven characters never fit 44 px
    for value in (-40.0, -12.5, 0.0, 999.9, 1234.4, 2000.0):
        for width in (48, 64):
            text = _bar_label(value, width)
            assert px(text) <= width - 4, text
            better = [f"{value:.1f}C", f"{value:.0f}C", f"{value:.0f}"]
            assert all(px(t) > width - 4 for t in better[:better.index(text)]), text
