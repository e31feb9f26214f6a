"""Display of thermal images: automatic gain control (AGC), equalisation and colormaps.

Pure numpy + OpenCV; no ROS imports. Images are (H, W) arrays of temperature (deg C) or any
other scalar; outputs are (H, W) uint8 (mono8) or (H, W, 3) uint8 in OpenCV's BGR order.
NaN marks invalid pixels; +/-inf are treated as invalid for range estimation.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "AGC_MODES",
    "COLORMAPS",
    "IRONBOW_CONTROL_POINTS",
    "DisplayRenderer",
    "apply_colormap",
    "auto_range",
    "clahe",
    "colormap_lut",
    "plateau_equalization",
    "plateau_lut",
    "to_mono8",
]

_MONO8_MAX = float(np.iinfo(np.uint8).max)  # 255
_LUT_SIZE = _MONO8_MAX + 1  # 256 entries
_REC601_LUMA_BGR = (0.114, 0.587, 0.299)  # ITU-R BT.601 luma weights, BGR order

#: Colormap names accepted by :func:`apply_colormap`.
COLORMAPS: tuple[str, ...] = (
    "white_hot",
    "black_hot",
    "ironbow",
    "rainbow",
    "inferno",
    "viridis",
    "turbo",
    "magma",
    "jet",
)

_OPENCV_COLORMAPS: dict[str, int] = {
    "rainbow": cv2.COLORMAP_RAINBOW,
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "turbo": cv2.COLORMAP_TURBO,
    "magma": cv2.COLORMAP_MAGMA,
    "jet": cv2.COLORMAP_JET,
}

#: Ironbow control points ``(position 0..1, (R, G, B))``, linearly interpolated in RGB.
#: FLIR's "Iron" palette is proprietary and is not reproduced; these points are this
#: package's own, chosen for the usual black -> indigo -> purple -> magenta -> orange ->
#: yellow -> white look. Their Rec. 601 luma (0.299 R + 0.587 G + 0.114 B) is
#: 0, 20, 51, 87, 120, 163, 204, 255: strictly increasing, so the map is monotone in
#: luminance and reads correctly when printed in grey.
IRONBOW_CONTROL_POINTS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.00, (0, 0, 0)),
    (0.15, (32, 0, 96)),
    (0.30, (112, 0, 150)),
    (0.45, (190, 30, 110)),
    (0.60, (232, 80, 30)),
    (0.75, (250, 150, 0)),
    (0.88, (255, 210, 40)),
    (1.00, (255, 255, 255)),
)

#: AGC modes of :class:`DisplayRenderer`.
AGC_MODES: tuple[str, ...] = ("linear", "percentile", "plateau", "clahe", "fixed")


# --------------------------------------------------------------------------------------------
# Range estimation and linear scaling
# --------------------------------------------------------------------------------------------


# Pixels sampled for the display window: 4k estimate the 1st/99th percentile within about
# 0.2 % of the pixel ranks (the binomial spread of the sample), a fraction of a grey level
# after the window's temporal smoothing, at a small part of the full-frame cost.
DISPLAY_AGC_SAMPLES = 1 << 12


def _finite_values(values: ArrayLike, max_samples: int | None) -> NDArray:
    v = np.asarray(values)
    if max_samples is not None and v.size > max_samples:
        v = v.reshape(-1)[:: -(-v.size // max_samples)]
    v = v.reshape(-1)
    if v.dtype.kind in "fc":
        v = v[np.isfinite(v)]
    return v


def auto_range(
    temperature: ArrayLike,
    mode: str = "percentile",
    percentiles: tuple[float, float] = (1.0, 99.0),
    min_span: float = 1e-3,
    default: tuple[float, float] = (0.0, 1.0),
    max_samples: int | None = 1 << 17,
) -> tuple[float, float]:
    """Display window ``(lo, hi)`` of an image, ignoring NaN and +/-inf.

    Parameters
    ----------
    temperature : array_like of float, any unit (typically deg C), shape (H, W)
    mode : {'percentile', 'minmax'}
        Percentiles of the finite values, or their min and max.
    percentiles : (float, float)
        Lower and upper percentile in [0, 100] for ``mode='percentile'``.
    min_span : float, same unit as ``temperature``
        Windows narrower than this (e.g. a constant image) are widened symmetrically to it,
        so that scaling never divides by zero.
    default : (float, float)
        Returned when there is no finite value (all-NaN or empty image).
    max_samples : int or None
        Estimate from a regular subsample of at most this many pixels (speed); None: all.

    Returns
    -------
    (float, float)
        ``lo < hi``.
    """
    if min_span <= 0.0:
        raise ValueError(f"min_span must be > 0, got {min_span}")
    v = _finite_values(temperature, max_samples)
    if v.size == 0:
        return float(default[0]), float(default[1])
    if mode == "percentile":
        lo, hi = (float(x) for x in np.percentile(v, percentiles))
    elif mode == "minmax":
        lo, hi = float(v.min()), float(v.max())
    else:
        raise ValueError(f"unknown auto_range mode {mode!r}; use 'percentile' or 'minmax'")
    if hi - lo < min_span:
        mid = 0.5 * (lo + hi)
        lo, hi = mid - 0.5 * min_span, mid + 0.5 * min_span
    return lo, hi


def to_mono8(
    temperature: ArrayLike,
    lo: float,
    hi: float,
    out: NDArray[np.uint8] | None = None,
    work: NDArray[np.float32] | None = None,
    mask: NDArray[np.bool_] | None = None,
) -> NDArray[np.uint8]:
    """Linear scaling of ``[lo, hi]`` to ``[0, 255]`` with clipping; NaN -> 0.

    Parameters
    ----------
    temperature : array_like of float, shape (H, W)
    lo, hi : float, unit of ``temperature``
        Window; ``lo`` maps to 0, ``hi`` to 255. ``hi <= lo`` raises ValueError.
    out : ndarray of uint8, shape (H, W), optional
    work : ndarray of float32, shape (H, W), optional
        Scratch buffer of the general path (avoids a temporary per call).
    mask : ndarray of bool, shape (H, W), optional
        Scratch buffer of the float32 fast path.

    Returns
    -------
    ndarray of uint8, shape (H, W)
    """
    if not hi > lo:
        raise ValueError(f"need hi > lo, got lo={lo}, hi={hi}")
    t = np.asarray(temperature)
    if out is None:
        out = np.empty(t.shape, dtype=np.uint8)
    scale = _MONO8_MAX / (hi - lo)
    if t.dtype == np.float32 and t.ndim == 2:
        # One OpenCV pass: t * scale - lo * scale, rounded and saturated to 0..255. OpenCV
        # documents saturation for finite values only; what NaN and +-inf become differs
        # between releases (NaN -> 0 on 4.x, 255 on 5.1), so non-finite pixels are set here:
        # NaN and -inf -> 0, +inf -> 255.
        cv2.addWeighted(t, scale, t, 0.0, -lo * scale, dst=out, dtype=cv2.CV_8U)
        bad = np.isfinite(t, out=mask)
        np.logical_not(bad, out=bad)
        if bad.any():
            out[bad] = 0
            out[np.equal(t, np.inf, out=bad)] = np.uint8(_MONO8_MAX)
        return out
    if work is None:
        work = np.empty(t.shape, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        np.subtract(t, lo, out=work, casting="unsafe")
        work *= scale
    # fmax/fmin return the non-NaN operand: NaN -> 0, -inf -> 0, +inf -> 255.
    np.fmax(work, 0.0, out=work)
    np.fmin(work, _MONO8_MAX, out=work)
    np.rint(work, out=work)
    np.copyto(out, work, casting="unsafe")
    return out


# --------------------------------------------------------------------------------------------
# Histogram equalisation
# --------------------------------------------------------------------------------------------


def plateau_lut(
    values: ArrayLike,
    lo: float,
    hi: float,
    plateau: float = 0.01,
    bins: int = 1024,
) -> NDArray[np.float64]:
    """Mapping of ``bins`` equal bins of ``[lo, hi]`` to grey levels, by plateau equalisation.

    Plateau (clipped) histogram equalisation, the AGC of thermal camera cores (e.g. FLIR
    Lepton/Boson "HEQ"): the histogram is clipped at ``plateau`` so that large uniform areas
    (sky, walls) cannot take most of the grey levels, then its cumulative sum is the mapping.

    Parameters
    ----------
    values : array_like of float or int, shape (H, W)
    lo, hi : float
        Histogram range, ``hi > lo``; values outside are counted in the end bins.
    plateau : float
        Maximum count per bin as a fraction of the valid pixels, in (0, 1]; 1 gives plain
        histogram equalisation, small values approach a linear ramp over occupied bins.
    bins : int

    Returns
    -------
    ndarray of float, shape (bins,)
        Grey level 0..255 of each bin; all 127.5 if fewer than two bins are occupied.
    """
    if not 0.0 < plateau <= 1.0:
        raise ValueError(f"plateau must be a fraction in (0, 1], got {plateau}")
    if not hi > lo:
        raise ValueError(f"need hi > lo, got lo={lo}, hi={hi}")
    v = np.asarray(values).reshape(-1)
    if v.dtype.kind in "fc":
        v = v[np.isfinite(v)]
    idx = ((v - lo) * (bins / (hi - lo))).astype(np.intp)
    np.clip(idx, 0, bins - 1, out=idx)
    hist = np.bincount(idx, minlength=bins).astype(np.float64)
    np.minimum(hist, max(1.0, plateau * v.size), out=hist)
    cdf = np.cumsum(hist)
    occupied = np.flatnonzero(hist)
    if occupied.size < 2:
        return np.full(bins, 0.5 * _MONO8_MAX)
    c0 = cdf[occupied[0]]
    return np.clip((cdf - c0) * (_MONO8_MAX / (cdf[-1] - c0)), 0.0, _MONO8_MAX)


def _apply_bin_lut(
    values: NDArray, lut: NDArray, lo: float, hi: float, out: NDArray[np.uint8] | None
) -> NDArray[np.uint8]:
    """Map float32 ``values`` through a per-bin grey-level LUT; NaN -> 0."""
    bins = lut.size
    if out is None:
        out = np.empty(values.shape, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        pos = (values - np.float32(lo)) * np.float32(bins / (hi - lo))
    np.fmax(pos, 0.0, out=pos)
    np.fmin(pos, bins - 1, out=pos)
    idx = pos.astype(np.intp)
    np.take(np.rint(lut).astype(np.uint8), idx, out=out, mode="clip")
    np.copyto(out, 0, where=np.isnan(values))
    return out


def plateau_equalization(
    values: ArrayLike,
    plateau: float = 0.01,
    out: NDArray[np.uint8] | None = None,
    lo: float | None = None,
    hi: float | None = None,
    bins: int = 1024,
) -> NDArray[np.uint8]:
    """Plateau histogram equalisation to mono8 (see :func:`plateau_lut`).

    Parameters
    ----------
    values : array_like of float or int, shape (H, W)
        Temperatures or raw counts; NaN pixels give 0.
    plateau : float
        Maximum count per bin as a fraction of valid pixels, in (0, 1].
    out : ndarray of uint8, shape (H, W), optional
    lo, hi : float, optional
        Histogram range; default min and max of the finite values.
    bins : int

    Returns
    -------
    ndarray of uint8, shape (H, W)
        Spans 0..255 when at least two bins are occupied; 128 for a constant image.
    """
    v = np.asarray(values)
    if lo is None or hi is None:
        a_lo, a_hi = auto_range(v, mode="minmax", max_samples=None)
        lo = a_lo if lo is None else lo
        hi = a_hi if hi is None else hi
    lut = plateau_lut(v, lo, hi, plateau, bins)
    return _apply_bin_lut(v.astype(np.float32, copy=False), lut, lo, hi, out)


@functools.lru_cache(maxsize=8)
def _clahe(clip_limit: float, tile_grid_size: tuple[int, int]) -> cv2.CLAHE:
    return cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=tile_grid_size)


def clahe(
    mono8: NDArray[np.uint8],
    clip_limit: float = 2.0,
    tile_grid_size: tuple[int, int] = (8, 8),
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Contrast-limited adaptive histogram equalisation (``cv2.createCLAHE``).

    Parameters
    ----------
    mono8 : ndarray of uint8, shape (H, W)
    clip_limit : float
        OpenCV clip limit (relative to the uniform histogram).
    tile_grid_size : (int, int)
        Tiles (columns, rows).
    out : ndarray of uint8, shape (H, W), optional

    Returns
    -------
    ndarray of uint8, shape (H, W)
    """
    src = np.ascontiguousarray(mono8, dtype=np.uint8)
    return _clahe(float(clip_limit), tuple(tile_grid_size)).apply(src, out)


# --------------------------------------------------------------------------------------------
# Colormaps
# --------------------------------------------------------------------------------------------


def _ironbow_lut() -> NDArray[np.uint8]:
    pos = np.array([p for p, _ in IRONBOW_CONTROL_POINTS])
    rgb = np.array([c for _, c in IRONBOW_CONTROL_POINTS], dtype=np.float64)
    x = np.linspace(0.0, 1.0, int(_LUT_SIZE))
    lut = np.empty((int(_LUT_SIZE), 1, 3), dtype=np.uint8)
    for channel in range(3):  # BGR <- RGB
        lut[:, 0, 2 - channel] = np.rint(np.interp(x, pos, rgb[:, channel]))
    return lut


@functools.cache
def colormap_lut(name: str) -> NDArray[np.uint8]:
    """256-entry BGR lookup table of a colormap.

    Parameters
    ----------
    name : str
        One of :data:`COLORMAPS`.

    Returns
    -------
    ndarray of uint8, shape (256, 1, 3), BGR
        Read-only; entry ``i`` is the colour of mono8 level ``i``.
    """
    ramp = np.arange(int(_LUT_SIZE), dtype=np.uint8).reshape(-1, 1)
    if name == "white_hot":
        lut = np.repeat(ramp[:, :, None], 3, axis=2)
    elif name == "black_hot":
        lut = np.repeat(ramp[::-1, :, None], 3, axis=2)
    elif name == "ironbow":
        lut = _ironbow_lut()
    elif name in _OPENCV_COLORMAPS:
        lut = cv2.applyColorMap(ramp, _OPENCV_COLORMAPS[name]).reshape(-1, 1, 3)
    else:
        raise ValueError(f"unknown colormap {name!r}; valid names: {', '.join(COLORMAPS)}")
    lut = np.ascontiguousarray(lut)
    lut.flags.writeable = False
    return lut


def apply_colormap(
    mono8: NDArray[np.uint8], name: str, out: NDArray[np.uint8] | None = None
) -> NDArray[np.uint8]:
    """Colourise a mono8 image.

    Parameters
    ----------
    mono8 : ndarray of uint8, shape (H, W)
    name : str
        One of :data:`COLORMAPS` (OpenCV's built-in maps, gray ramps for white/black hot and
        :data:`IRONBOW_CONTROL_POINTS`), all applied as a 256-entry LUT with
        ``cv2.applyColorMap``.
    out : ndarray of uint8, shape (H, W, 3), optional

    Returns
    -------
    ndarray of uint8, shape (H, W, 3), BGR
    """
    lut = colormap_lut(name)
    src = np.ascontiguousarray(mono8, dtype=np.uint8)
    if src.ndim != 2:
        raise ValueError(f"mono8 must be 2-D (H, W), got shape {src.shape}")
    return cv2.applyColorMap(src, lut, dst=out)


# --------------------------------------------------------------------------------------------
# Renderer
# --------------------------------------------------------------------------------------------


_BAR_FONT, _BAR_FONT_SCALE = cv2.FONT_HERSHEY_PLAIN, 0.8  # a colour bar's end labels


def _bar_label(value_c: float, width: int) -> str:
    """A colour bar's end, deg C, as ``12.3C``; whole degrees, then without the unit, where
    that does not fit ``width`` px."""
    for text in (f"{value_c:.1f}C", f"{value_c:.0f}C", f"{value_c:.0f}"):
        if cv2.getTextSize(text, _BAR_FONT, _BAR_FONT_SCALE, 1)[0][0] <= width - 4:
            return text
    return text


class DisplayRenderer:
    """Temperature image -> BGR8 display image, with temporally smoothed AGC.

    Configure once, then call :meth:`render` per frame. Buffers are allocated per frame
    shape and reused: the returned array is the *same object* on every call with the same
    frame shape and is overwritten by the next call (copy it to keep it). Not thread-safe;
    use one renderer per thread/stream.

    Parameters
    ----------
    agc : {'linear', 'percentile', 'plateau', 'clahe', 'fixed'}
        'linear': min..max of the finite pixels; 'percentile': ``percentiles`` window;
        'plateau': plateau histogram equalisation over min..max; 'clahe': percentile window,
        then CLAHE; 'fixed': ``fixed_range_c``.
    colormap : str
        One of :data:`COLORMAPS`.
    fixed_range_c : (float, float), deg C
        Window of ``agc='fixed'``.
    percentiles : (float, float)
        For 'percentile' and 'clahe'.
    smoothing : float in [0, 1)
        Weight of the previous window (and plateau mapping) in an exponential moving average:
        0 follows each frame, 0.9 adapts over ~10 frames so colours do not flicker.
    min_span_c : float, K
        Minimum window width; avoids amplifying noise of near-uniform scenes.
    plateau : float
        Plateau of 'plateau' mode, fraction of pixels per bin (see :func:`plateau_lut`).
    clahe_clip_limit : float
    clahe_tile_grid_size : (int, int)
    nan_color_bgr : (int, int, int)
        Colour of invalid (NaN) pixels; black by default.
    """

    def __init__(
        self,
        agc: str = "percentile",
        colormap: str = "ironbow",
        fixed_range_c: tuple[float, float] = (0.0, 40.0),
        percentiles: tuple[float, float] = (1.0, 99.0),
        smoothing: float = 0.0,
        min_span_c: float = 1.0,
        plateau: float = 0.01,
        clahe_clip_limit: float = 2.0,
        clahe_tile_grid_size: tuple[int, int] = (8, 8),
        nan_color_bgr: Sequence[int] = (0, 0, 0),
    ) -> None:
        if agc not in AGC_MODES:
            raise ValueError(f"unknown agc mode {agc!r}; valid: {', '.join(AGC_MODES)}")
        colormap_lut(colormap)  # validates the name
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if not fixed_range_c[1] > fixed_range_c[0]:
            raise ValueError(f"fixed_range_c needs hi > lo, got {fixed_range_c}")
        self.agc = agc
        self.colormap = colormap
        self.fixed_range_c = (float(fixed_range_c[0]), float(fixed_range_c[1]))
        self.percentiles = (float(percentiles[0]), float(percentiles[1]))
        self.smoothing = float(smoothing)
        self.min_span_c = float(min_span_c)
        self.plateau = float(plateau)
        self.clahe_clip_limit = float(clahe_clip_limit)
        self.clahe_tile_grid_size = (int(clahe_tile_grid_size[0]), int(clahe_tile_grid_size[1]))
        self.nan_color_bgr = np.array(nan_color_bgr, dtype=np.uint8).reshape(3)
        self._shape: tuple[int, int] | None = None
        self._range: tuple[float, float] | None = None
        self._lut: NDArray[np.float64] | None = None

    @property
    def range_c(self) -> tuple[float, float] | None:
        """Current (smoothed) display window ``(lo, hi)`` in deg C; None before a frame."""
        return self._range

    def reset(self) -> None:
        """Forget the smoothed window (e.g. after a scene cut)."""
        self._range = None
        self._lut = None

    def _buffers(self, shape: tuple[int, int]) -> None:
        if shape != self._shape:
            self._shape = shape
            self._work = np.empty(shape, np.float32)
            self._mono = np.empty(shape, np.uint8)
            self._mono2 = np.empty(shape, np.uint8)
            self._nan = np.empty(shape, np.bool_)
            self._bgr = np.empty((*shape, 3), np.uint8)

    def _smooth(self, lo: float, hi: float) -> tuple[float, float]:
        if self._range is not None and self.smoothing > 0.0:
            s = self.smoothing
            lo = s * self._range[0] + (1.0 - s) * lo
            hi = s * self._range[1] + (1.0 - s) * hi
        self._range = (lo, hi)
        return lo, hi

    def render(self, temperature_c: ArrayLike) -> NDArray[np.uint8]:
        """Render one frame.

        Parameters
        ----------
        temperature_c : array_like of float, deg C, shape (H, W)
            NaN = invalid pixel (drawn in ``nan_color_bgr``); +/-inf clip to the ends.

        Returns
        -------
        ndarray of uint8, shape (H, W, 3), BGR
            Internal buffer, reused by the next call with the same shape.
        """
        t = np.asarray(temperature_c)
        if t.ndim != 2:
            raise ValueError(f"temperature_c must be 2-D (H, W), got shape {t.shape}")
        self._buffers(t.shape)
        if self.agc == "fixed":
            lo, hi = self._smooth(*self.fixed_range_c)
        elif self.agc in ("linear", "plateau"):
            lo, hi = self._smooth(*auto_range(t, "minmax", min_span=self.min_span_c,
                                              max_samples=DISPLAY_AGC_SAMPLES))
        else:  # percentile, clahe
            lo, hi = self._smooth(
                *auto_range(t, "percentile", self.percentiles, min_span=self.min_span_c,
                            max_samples=DISPLAY_AGC_SAMPLES)
            )
        mono = self._mono
        if self.agc == "plateau":
            lut = plateau_lut(t, lo, hi, self.plateau)
            if self._lut is not None and self.smoothing > 0.0:
                lut = self.smoothing * self._lut + (1.0 - self.smoothing) * lut
            self._lut = lut
            np.copyto(self._work, t, casting="unsafe")
            _apply_bin_lut(self._work, lut, lo, hi, mono)
        else:
            to_mono8(t, lo, hi, out=mono, work=self._work, mask=self._nan)
            if self.agc == "clahe":
                mono = clahe(mono, self.clahe_clip_limit, self.clahe_tile_grid_size, self._mono2)
        apply_colormap(mono, self.colormap, out=self._bgr)
        if t.dtype.kind in "fc":
            np.isnan(t, out=self._nan)
            if self._nan.any():
                self._bgr[self._nan] = self.nan_color_bgr
        return self._bgr

    def colorbar(
        self,
        height: int,
        lo: float | None = None,
        hi: float | None = None,
        width: int = 24,
    ) -> NDArray[np.uint8]:
        """Vertical colour bar of the current colormap, hot at the top.

        Parameters
        ----------
        height, width : int, pixels
        lo, hi : float, optional, deg C
            If both are given (and ``width >= 48``) they are written at the bottom and top.
            Defaults: the current window :attr:`range_c` when it exists.

        Returns
        -------
        ndarray of uint8, shape (height, width, 3), BGR
            In 'plateau'/'clahe' modes the mapping is non-linear; only the ends are exact.
        """
        levels = np.rint(np.linspace(_MONO8_MAX, 0.0, int(height))).astype(np.uint8)
        mono = np.ascontiguousarray(np.repeat(levels[:, None], int(width), axis=1))
        bar = apply_colormap(mono, self.colormap)
        if (lo is None or hi is None) and self._range is not None:
            lo, hi = self._range if lo is None and hi is None else (lo, hi)
        if lo is not None and hi is not None and width >= 48 and height >= 30:
            labels = ((_bar_label(hi, width), 12, bar[0, 0]),
                      (_bar_label(lo, width), height - 4, bar[-1, 0]))
            for text, y, bg in labels:
                luma = float(np.dot(_REC601_LUMA_BGR, bg))
                color = (0, 0, 0) if luma > _MONO8_MAX / 2 else (255, 255, 255)
                cv2.putText(bar, text, (2, y), _BAR_FONT, _BAR_FONT_SCALE, color, 1,
                            cv2.LINE_AA)
        return bar

    def draw_colorbar(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Draw :meth:`colorbar` of the last rendered window into the right edge of ``image``
        (H, W, 3 BGR, in place; returned): inset ``max(2, H // 40)`` px, a tenth of the width
        and at least 48 px with its ends written in deg C; on images narrower than 144 px a
        bar an eighth of the width without numbers (they would not fit)."""
        h, w = image.shape[:2]
        margin = max(2, h // 40)
        width = max(48, w // 10) if w >= 144 else max(4, w // 8)
        height = h - 2 * margin
        if height < 8 or width + 2 * margin > w:
            return image  # too small to hold a bar
        x0 = w - width - margin
        image[margin:margin + height, x0:x0 + width] = self.colorbar(height, width=width)
        return image
