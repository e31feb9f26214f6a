"""Tests for thermal_perception.core.measure (ROI parsing, statistics, alarms); no ROS needed."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import thermal_perception.core.measure as R
from thermal_perception.core.measure import (
    AlarmMonitor,
    BoxRoi,
    PolygonRoi,
    RoiAlarm,
    RoiSet,
    SpotRoi,
    format_roi,
    parse_roi,
    parse_rois,
)

H, W = 50, 100


@pytest.fixture
def ramp() -> np.ndarray:
    """(50, 100) float32 image with ``T[y, x] = x`` deg C."""
    return np.tile(np.arange(W, dtype=np.float32), (H, 1))


def one(roi: R.Roi, image: np.ndarray) -> R.RoiStats:
    return RoiSet([roi]).stats(image)[0]


# ------------------------------------------------------------------------------------------
# Statistics: known answers
# ------------------------------------------------------------------------------------------


def test_box_on_ramp_single_row(ramp: np.ndarray) -> None:
    s = one(BoxRoi("b", 10, 3, 20, 4), ramp)  # values 10..19 once each
    assert (s.pixel_count, s.valid_count, s.clipped, s.outside) == (10, 10, False, False)
    assert (s.min_c, s.max_c, s.mean_c) == (10.0, 19.0, 14.5)
    assert s.std_c == pytest.approx(math.sqrt((10**2 - 1) / 12.0), rel=1e-12)
    # Linear interpolation at positions q/100 * (n - 1) = 0.45, 4.5, 8.55.
    assert (s.p05_c, s.p50_c, s.p95_c) == pytest.approx((10.45, 14.5, 18.55), rel=1e-12)
    assert s.max_xy == (19, 3) and s.min_xy == (10, 3)
    assert s.shape == "box" and s.name == "b"


def test_box_on_ramp_many_rows(ramp: np.ndarray) -> None:
    s = one(BoxRoi("b", 10, 5, 20, 15), ramp)  # values 10..19, ten times each
    assert s.pixel_count == 100
    assert (s.min_c, s.max_c, s.mean_c) == (10.0, 19.0, 14.5)
    # Sorted positions 4.95 -> 10 (both neighbours 10), 49.5 -> between 14 and 15, 94.05 -> 19.
    assert (s.p05_c, s.p50_c, s.p95_c) == pytest.approx((10.0, 14.5, 19.0), rel=1e-12)
    assert s.max_xy == (19, 5) and s.min_xy == (10, 5)  # first in row-major order on ties


def test_stats_match_numpy_on_random_boxes() -> None:
    rng = np.random.default_rng(3)
    img = rng.normal(25.0, 4.0, (H, W)).astype(np.float32)
    boxes = [
        BoxRoi(f"b{i}", *(int(v) for v in rng.integers(0, 40, 2)), 40 + i, 41 + i) for i in range(8)
    ]
    for box, s in zip(boxes, RoiSet(boxes).stats(img), strict=True):
        v = img[box.y0 : box.y1, box.x0 : box.x1].astype(np.float64)
        assert s.pixel_count == v.size
        assert (s.min_c, s.max_c) == (v.min(), v.max())
        assert s.mean_c == pytest.approx(v.mean(), rel=1e-12)
        assert s.std_c == pytest.approx(v.std(), rel=1e-9)
        assert (s.p05_c, s.p50_c, s.p95_c) == pytest.approx(
            np.percentile(v, [5, 50, 95]), rel=1e-12
        )
        x, y = s.max_xy
        assert img[y, x] == v.max()


def test_spot_reports_hot_pixel_position() -> None:
    img = np.full((H, W), 20.0, np.float32)
    img[17, 23] = 95.0
    img[30, 60] = -5.0
    s = one(SpotRoi("s", 22, 18, 2), img)
    assert s.max_c == 95.0 and s.max_xy == (23, 17)
    assert s.min_c == 20.0
    cold = one(SpotRoi("c", 60, 30, 1), img)
    assert cold.min_xy == (60, 30) and cold.min_c == -5.0


@pytest.mark.parametrize(("radius", "count"), [(0, 1), (1, 5), (2, 13), (3, 29), (5, 81)])
def test_spot_disc_pixel_count(radius: int, count: int) -> None:
    s = one(SpotRoi("s", 40, 25, radius), np.zeros((H, W), np.float32))
    assert s.pixel_count == count  # lattice points with dx^2 + dy^2 <= r^2


def test_spot_radius_zero_is_one_pixel(ramp: np.ndarray) -> None:
    s = one(SpotRoi("s", 42, 7), ramp)
    assert (s.pixel_count, s.max_c, s.min_c, s.std_c, s.p95_c) == (1, 42.0, 42.0, 0.0, 42.0)
    assert s.max_xy == s.min_xy == (42, 7)


def _brute_force_polygon(vertices: list[tuple[int, int]], shape: tuple[int, int]):
    """Even-odd containment of pixel centres and their distance to the outline."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    inside = np.zeros(shape, bool)
    dist = np.full(shape, np.inf)
    v = np.asarray(vertices, np.float64)
    for (x1, y1), (x2, y2) in zip(v, np.roll(v, -1, axis=0), strict=True):
        crosses = (y1 > ys) != (y2 > ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x1 + (ys - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (xs < x_cross)
        d = np.array([x2 - x1, y2 - y1])
        t = np.clip(((xs - x1) * d[0] + (ys - y1) * d[1]) / (d @ d), 0.0, 1.0)
        dist = np.minimum(dist, np.hypot(xs - (x1 + t * d[0]), ys - (y1 + t * d[1])))
    return inside, dist


@pytest.mark.parametrize(
    "vertices",
    [
        [(2, 2), (30, 5), (10, 25)],  # triangle
        [(5, 5), (60, 8), (70, 40), (35, 20), (8, 44)],  # concave
        [(50, 2), (95, 25), (50, 47), (5, 25)],  # diamond
    ],
)
def test_polygon_matches_brute_force(vertices: list[tuple[int, int]]) -> None:
    rs = RoiSet([PolygonRoi("p", vertices)])
    mask = rs.mask("p", (H, W))
    inside, dist = _brute_force_polygon(vertices, (H, W))
    # Every pixel centre strictly inside is in; fillPoly adds only outline pixels.
    assert not np.any(inside & (dist > 0.0) & ~mask)
    assert np.all(inside[mask] | (dist[mask] < 1.0))
    assert rs.stats(np.zeros((H, W), np.float32))[0].pixel_count == mask.sum()


def test_axis_aligned_polygon_includes_its_outline() -> None:
    s = one(PolygonRoi("p", [(10, 5), (29, 5), (29, 14), (10, 14)]), np.zeros((H, W), np.float32))
    assert s.pixel_count == 20 * 10  # columns 10..29, rows 5..14 inclusive


# ------------------------------------------------------------------------------------------
# Invalid pixels and clipping
# ------------------------------------------------------------------------------------------


def test_nan_and_inf_pixels_are_ignored(ramp: np.ndarray) -> None:
    img = ramp.copy()
    img[3, 19] = np.nan
    img[3, 10] = -np.inf
    img[3, 15] = np.inf
    s = one(BoxRoi("b", 10, 3, 20, 4), img)
    valid = [11, 12, 13, 14, 16, 17, 18]
    assert (s.pixel_count, s.valid_count) == (10, 7)
    assert (s.min_c, s.max_c) == (11.0, 18.0)
    assert s.mean_c == pytest.approx(np.mean(valid))
    assert s.p50_c == pytest.approx(np.percentile(valid, 50))
    assert s.max_xy == (18, 3) and s.min_xy == (11, 3)


def test_all_nan_roi_gives_nan_stats_without_warnings(ramp: np.ndarray) -> None:
    img = ramp.copy()
    img[0:10, 0:10] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = one(BoxRoi("b", 0, 0, 10, 10), img)
    assert (s.pixel_count, s.valid_count, s.valid) == (100, 0, False)
    for key in ("min_c", "max_c", "mean_c", "std_c", "p05_c", "p50_c", "p95_c"):
        assert math.isnan(getattr(s, key)), key
    assert s.max_xy is None and s.min_xy is None and not s.outside


def test_partly_outside_rois_are_clipped(ramp: np.ndarray) -> None:
    rs = RoiSet(
        [
            BoxRoi("b", 90, -5, 120, 3),
            SpotRoi("s", 0, 0, 2),
            PolygonRoi("p", [(-10, -10), (9, -10), (9, 4), (-10, 4)]),
        ]
    )
    b, s, p = rs.stats(ramp)
    assert (b.pixel_count, b.clipped, b.outside) == (10 * 3, True, False)
    assert (b.min_c, b.max_c) == (90.0, 99.0)
    assert (s.pixel_count, s.clipped) == (6, True)  # quarter disc r=2 incl. axes: 1+2+3
    assert (p.pixel_count, p.clipped) == (10 * 5, True)
    assert not any(x.outside for x in (b, s, p))


def test_fully_outside_rois_are_flagged(ramp: np.ndarray) -> None:
    rs = RoiSet(
        [
            BoxRoi("b", W, 0, W + 10, 10),
            SpotRoi("s", -5, 20, 3),
            PolygonRoi("p", [(0, H + 1), (10, H + 1), (5, H + 9)]),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = rs.stats(ramp)
    for s in stats:
        assert (s.pixel_count, s.valid_count, s.clipped, s.outside) == (0, 0, True, True)
        assert math.isnan(s.max_c) and s.max_xy is None


def test_roi_touching_the_border_is_not_clipped(ramp: np.ndarray) -> None:
    s = one(BoxRoi("b", 0, 0, W, H), ramp)
    assert (s.pixel_count, s.clipped) == (H * W, False)


def test_indices_computed_once_per_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = BoxRoi.flat_indices

    def counting(self, shape):
        calls.append(shape)
        return original(self, shape)

    monkeypatch.setattr(BoxRoi, "flat_indices", counting)
    rs = RoiSet([BoxRoi("a", 0, 0, 5, 5), BoxRoi("b", 5, 5, 20, 20)])
    for _ in range(3):
        rs.stats(np.zeros((H, W), np.float32))
    assert calls == [(H, W)] * 2
    small = rs.stats(np.zeros((10, 10), np.float32))  # new shape: new indices, clipped
    assert calls[2:] == [(10, 10)] * 2
    assert [s.pixel_count for s in small] == [25, 25]


def test_non_contiguous_and_float64_input(ramp: np.ndarray) -> None:
    img = np.ascontiguousarray(ramp.T).T.astype(np.float64)  # Fortran order, float64
    assert not img.flags.c_contiguous
    s = one(BoxRoi("b", 10, 3, 20, 4), img)
    assert (s.min_c, s.max_c, s.max_xy) == (10.0, 19.0, (19, 3))


def test_stats_rejects_non_2d() -> None:
    with pytest.raises(ValueError, match="2-D"):
        RoiSet([SpotRoi("s", 0, 0)]).stats(np.zeros((4, 4, 3), np.float32))


def test_as_dict_has_message_fields(ramp: np.ndarray) -> None:
    d = one(SpotRoi("s", 42, 7, 1), ramp).as_dict()
    assert list(d) == [
        "name",
        "shape",
        "pixel_count",
        "valid_count",
        "min_c",
        "max_c",
        "mean_c",
        "std_c",
        "p05_c",
        "p50_c",
        "p95_c",
        "clipped",
        "outside",
        "max_x",
        "max_y",
        "min_x",
        "min_y",
    ]
    assert (d["max_x"], d["max_y"], d["min_x"], d["min_y"]) == (43, 7, 41, 7)
    d = one(SpotRoi("s", -9, -9), ramp).as_dict()
    assert d["max_x"] is None and d["outside"] is True


def test_roiset_rejects_duplicate_names_and_knows_names() -> None:
    with pytest.raises(ValueError, match="duplicate ROI name 'a' \\(entries 1 and 2\\)"):
        RoiSet([SpotRoi("a", 0, 0), BoxRoi("a", 0, 0, 1, 1)])
    rs = RoiSet.from_strings(["spot a 1 1", "", "box b 0 0 2 2"])
    assert rs.names == ["a", "b"] and len(rs) == 2 and [r.name for r in rs] == ["a", "b"]
    with pytest.raises(KeyError):
        rs.mask("zz", (4, 4))


# ------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------


def test_parse_each_type() -> None:
    assert parse_roi("spot s1 10 20") == SpotRoi("s1", 10, 20, 0)
    assert parse_roi("spot s1 10 20 3") == SpotRoi("s1", 10, 20, 3)
    assert parse_roi("box b -5 0 40 30") == BoxRoi("b", -5, 0, 40, 30)
    assert parse_roi("poly p 1 2 30 2 15 20") == PolygonRoi("p", ((1, 2), (30, 2), (15, 20)))
    assert parse_roi("  POLYGON p 1,2, 30,2, 15,20 ") == PolygonRoi(
        "p", [(1, 2), (30, 2), (15, 20)]
    )
    assert parse_roi("box b 0 0 4.0 4e0") == BoxRoi("b", 0, 0, 4, 4)  # integral floats


def test_parse_alarm_clauses() -> None:
    r = parse_roi("spot fuse 320 240 2 above=80")
    assert r.alarm == RoiAlarm(above_c=80.0, hysteresis_k=R.DEFAULT_HYSTERESIS_K)
    assert (r.alarm.above_metric, r.alarm.metric) == ("max", None)
    r = parse_roi("box wall 0 0 100 50 below=12.5 Metric=MEAN hysteresis=0.5")
    assert r.alarm == RoiAlarm(below_c=12.5, hysteresis_k=0.5, metric="mean")
    r = parse_roi("box w 0 0 9 9 above=30 below=5")
    assert (r.alarm.above_metric, r.alarm.below_metric) == ("max", "min")
    assert parse_roi("spot s 1 1 below=3 metric=p5").alarm.metric == "p05"
    assert parse_roi("spot s 1 1 above=80").alarm.describe() == (
        "max above 80.0 C (hysteresis 1.0 K)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty ROI string"),
        ("   ", "empty ROI string"),
        ("circle c 1 2 3", "unknown ROI type 'circle'"),
        ("spot", "has no name"),
        ("box above=3", "has no name"),
        ("spot s 1", "spot 's' needs 2 or 3 numbers (x y [radius]), got 1"),
        ("spot s 1 2 3 4", "spot 's' needs 2 or 3 numbers (x y [radius]), got 4"),
        ("box b 0 0 10", "box 'b' needs 4 numbers (x0 y0 x1 y1), got 3"),
        ("box b 0 0 10 10 10", "box 'b' needs 4 numbers (x0 y0 x1 y1), got 5"),
        ("box b 0 zero 10 10", "box 'b': y0 'zero' is not a number"),
        ("box b 0 0 10.5 10", "box 'b': x1 must be a whole number of pixels"),
        ("box b 10 0 10 10", "box 'b' is empty"),
        ("spot s 1 2 -1", "radius must be >= 0"),
        ("poly p 1 2 3 4 5", "odd number of coordinates (5)"),
        ("poly p 1 2 3 4", "polygon 'p' needs at least 3 vertices, got 2"),
        ("poly p 1 2 3 4 5 y", "polygon 'p': y3 'y' is not a number"),
        ("spot s 1 2 above=80 3", "'3' after the alarm clauses"),
        ("spot s 1 2 hot=80", "unknown clause 'hot=80'"),
        ("spot s 1 2 above=80 above=90", "clause above= given twice"),
        ("spot s 1 2 above=", "clause above= has no value"),
        ("spot s 1 2 above=hot", "above 'hot' is not a number"),
        ("spot s 1 2 above=nan", "above must be finite"),
        ("spot s 1 2 hysteresis=2", "hysteresis given without above= or below="),
        ("spot s 1 2 above=80 metric=median", "unknown metric 'median'"),
        ("spot s 1 2 above=80 hysteresis=-1", "hysteresis must be >= 0"),
        ("spot s 1 2 above=5 below=10", "above=5.0 must be greater than below=10.0"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_roi(text)


def test_parse_rois_list() -> None:
    rois = parse_rois(["spot a 1 1", "", "box b 0 0 2 2 above=40"])
    assert [r.name for r in rois] == ["a", "b"]
    with pytest.raises(ValueError, match=re.escape("duplicate ROI name 'a' (entries 1 and 2)")):
        parse_rois(["spot a 1 1", "box a 0 0 2 2"])
    with pytest.raises(ValueError, match=re.escape("ROI entry 2: box 'b' needs 4 numbers")):
        parse_rois(["spot a 1 1", "box b 0 0 2"])


def test_constructors_validate() -> None:
    with pytest.raises(ValueError, match="without whitespace"):
        SpotRoi("a b", 0, 0)
    with pytest.raises(ValueError, match="without whitespace"):
        SpotRoi("a=b", 0, 0)
    with pytest.raises(ValueError, match="at least 3 vertices"):
        PolygonRoi("p", [(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="needs a threshold"):
        RoiAlarm()
    assert SpotRoi("s", np.int64(3), 4.0) == SpotRoi("s", 3, 4)


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,11}", fullmatch=True)
_coord = st.integers(-2000, 2000)
_temp = st.floats(-273.0, 2000.0, allow_nan=False)


@st.composite
def _alarms(draw: st.DrawFn) -> RoiAlarm | None:
    above, below = draw(st.one_of(st.none(), _temp)), draw(st.one_of(st.none(), _temp))
    if above is None and below is None:
        return None
    if above is not None and below is not None and above <= below:
        above, below = below + 1.0, above
    return RoiAlarm(
        above,
        below,
        draw(st.floats(0.0, 50.0)),
        draw(st.one_of(st.none(), st.sampled_from(R.ALARM_METRICS))),
    )


_rois = st.one_of(
    st.builds(SpotRoi, _names, _coord, _coord, st.integers(0, 50), _alarms()),
    st.builds(
        lambda n, x, y, w, h, a: BoxRoi(n, x, y, x + w, y + h, a),
        _names,
        _coord,
        _coord,
        st.integers(1, 500),
        st.integers(1, 500),
        _alarms(),
    ),
    st.builds(
        PolygonRoi,
        _names,
        st.lists(st.tuples(_coord, _coord), min_size=3, max_size=8).map(tuple),
        _alarms(),
    ),
)


@settings(max_examples=150, deadline=None)
@given(_rois)
def test_format_parse_round_trip(roi: R.Roi) -> None:
    text = format_roi(roi)
    assert parse_roi(text) == roi
    assert format_roi(parse_roi(text)) == text


# ------------------------------------------------------------------------------------------
# Alarms
# ------------------------------------------------------------------------------------------


def _frame(value: float) -> np.ndarray:
    return np.full((8, 8), value, np.float32)


def _run(rois: list[R.Roi], values: list[float]) -> list[R.AlarmUpdate]:
    rs, mon = RoiSet(rois), AlarmMonitor(rois)
    return [mon.update(rs.stats(_frame(v))) for v in values]


def test_above_alarm_hysteresis_sequence() -> None:
    roi = parse_roi("spot s 2 2 1 above=80 hysteresis=1.0")
    ups = _run([roi], [79.0, 81.0, 80.5, 79.5, 78.9, 79.9, 80.0])
    assert [u.states["s"] for u in ups] == ["ok", "alarm", "alarm", "alarm", "ok", "ok", "alarm"]
    transitions = [t for u in ups for t in u.transitions]
    assert [(t.previous, t.current) for t in transitions] == [
        ("ok", "alarm"),
        ("alarm", "ok"),
        ("ok", "alarm"),
    ]
    assert transitions[0].reason == "max 81.00 C >= 80.00 C"
    assert transitions[1].reason == "max 78.90 C < 79.00 C"
    assert str(transitions[0]) == "ROI 's': ok -> alarm (max 81.00 C >= 80.00 C)"


def test_below_alarm_on_mean_with_hysteresis() -> None:
    roi = parse_roi("box wall 0 0 4 4 below=5 hysteresis=0.5 metric=mean")
    ups = _run([roi], [6.0, 5.0, 5.4, 5.6, 4.0])
    assert [u.states["wall"] for u in ups] == ["ok", "alarm", "alarm", "ok", "alarm"]


def test_metric_selects_statistic() -> None:
    img = _frame(20.0)
    img[0, 0] = 90.0  # one hot pixel: max alarms, mean does not
    rois = [parse_roi("box a 0 0 8 8 above=80"), parse_roi("box b 0 0 8 8 above=80 metric=mean")]
    up = AlarmMonitor(rois).update(RoiSet(rois).stats(img))
    assert up.states == {"a": "alarm", "b": "ok"}


def test_invalid_state_and_fresh_start() -> None:
    roi = parse_roi("spot s 2 2 above=80")
    rs, mon = RoiSet([roi]), AlarmMonitor([roi])
    assert mon.states == {"s": "ok"}
    assert mon.update(rs.stats(_frame(85.0))).states == {"s": "alarm"}
    up = mon.update(rs.stats(_frame(np.nan)))
    assert up.states == {"s": "invalid"}
    assert [(t.previous, t.current, t.reason) for t in up.transitions] == [
        ("alarm", "invalid", "no valid pixels")
    ]
    # The latch was cleared: 79.5 is judged against 80 again, not against 79.
    assert mon.update(rs.stats(_frame(79.5))).states == {"s": "ok"}


def test_rois_without_alarm_and_unknown_stats() -> None:
    rois = [parse_roi("spot plain 1 1"), parse_roi("spot hot 2 2 above=50")]
    rs, mon = RoiSet(rois), AlarmMonitor(rois)
    up = mon.update(rs.stats(_frame(np.nan)))
    assert up.states == {"plain": "", "hot": "invalid"}
    assert [t.name for t in up.transitions] == ["hot"]
    other = RoiSet([SpotRoi("other", 0, 0)]).stats(_frame(1.0))
    with pytest.raises(KeyError, match="other"):
        mon.update(other)
    mon.reset()
    assert mon.states == {"plain": "", "hot": "ok"}


def test_alarm_both_thresholds_deterministic() -> None:
    roi = parse_roi("spot s 1 1 above=30 below=10 hysteresis=2")
    values = [20.0, 31.0, 28.5, 27.9, 9.0, 11.5, 12.1]
    expected = ["ok", "alarm", "alarm", "ok", "alarm", "alarm", "ok"]
    runs = [[u.states["s"] for u in _run([roi], values)] for _ in range(2)]
    assert runs == [expected, expected]


def test_more_rois_than_the_limit_are_refused_with_the_reason():
    """Issue 19 item 5: the work per frame is bounded: above MAX_ROIS the list is refused."""
    from thermal_perception.core.measure import MAX_ROIS, RoiSet

    ok = [f"spot s{i} {i % 60} {i // 60}" for i in range(MAX_ROIS)]
    assert len(RoiSet.from_strings([*ok, ""])) == MAX_ROIS
    with pytest.raises(ValueError, match=rf"{MAX_ROIS + 1} ROIs given, at most {MAX_ROIS}"):
        RoiSet.from_strings([*ok, "spot extra 1 1"])


def test_the_processor_refuses_too_many_rois_with_the_reason():
    """The node's parameter check (start and on change) gives the same reason."""
    from thermal_perception.core.measure import MAX_ROIS
    from thermal_perception.settings.processor import PARAMS, check_combination

    values = {spec.name: spec.default for spec in PARAMS}
    values["rois"] = [f"spot s{i} {i} 1" for i in range(MAX_ROIS)]
    assert check_combination(values) is None
    values["rois"] = [*values["rois"], "spot extra 1 1"]
    reason = check_combination(values)
    assert reason is not None and f"at most {MAX_ROIS}" in reason and reason.startswith("rois:")
