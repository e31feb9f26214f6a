"""Self-contained HTML report of one analysed bag: a summary table (frames, duration, speed,
problems) and matplotlib plots embedded as base64 PNG (temperature histogram, temperatures
over time, detection map, flat-field corrections and bad pixels over time).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from thermal_perception.analysis.bag_writing import atomic_write_text
from thermal_perception.analysis.detect import DetectionRecord
from thermal_perception.analysis.outputs import (
    STATE_REJECTED,
    STATE_SHUTTER,
    FrameRow,
    GpsTrack,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from thermal_perception.analysis.options import BagResult

FIG_WIDTH_IN = 9.0
FIG_HEIGHT_IN = 3.2
FIG_DPI = 90
TRACK_COLORS = 20  # tab20: tracks cycle through 20 colours
MARKERS = {"person": "o", "animal": "s", "vehicle": "D", "bicycle": "P", "fire": "^",
           "hotspot": "v"}
REPORT_PARAMETERS = ("camera_profile", "radiometric_model", "nuc_file", "ffc_enabled",
                     "bad_pixel_replacement", "emissivity", "reflected_temperature_c",
                     "atmosphere_temperature_c", "distance_m", "skip_shutter_frames")
STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 70em; }
table { border-collapse: collapse; margin-bottom: 1em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.ok { color: #060; font-weight: bold; } .partial { color: #b60; font-weight: bold; }
.failed { color: #b00; font-weight: bold; } .error { color: #b00; } .note { color: #555; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0 1em 0; }
"""


def _figure(rows: int = 1) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(FIG_WIDTH_IN, FIG_HEIGHT_IN * rows), dpi=FIG_DPI,
                  layout="constrained")


def _png(fig: Figure) -> str:
    """Base64 PNG of a figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _no_data(fig: Figure, text: str) -> None:
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def plot_histogram(histogram: tuple[np.ndarray, np.ndarray] | None) -> str:
    fig = _figure()
    if histogram is None or not np.any(histogram[0]):
        _no_data(fig, "no valid temperatures")
        return _png(fig)
    counts, edges = histogram
    ax = fig.add_subplot()
    ax.stairs(counts, edges, fill=True)
    ax.set_yscale("log")
    ax.set_xlabel("temperature (deg C)")
    ax.set_ylabel("pixels (all frames)")
    ax.set_title("Temperature histogram")
    return _png(fig)


def _finite_min(values: Sequence[float]) -> float:
    """Smallest finite value (0 if there is none)."""
    finite = [v for v in values if math.isfinite(v)]
    return min(finite) if finite else 0.0


def _times(rows: Sequence[FrameRow]) -> np.ndarray:
    return np.array([r.time_s for r in rows], np.float64)


def plot_temperatures(rows: Sequence[FrameRow]) -> str:
    fig = _figure()
    if not rows:
        _no_data(fig, "no frames")
        return _png(fig)
    t = _times(rows)
    ax = fig.add_subplot()
    for name, label in (("max_c", "maximum"), ("p99_c", "99th percentile"),
                        ("mean_c", "mean"), ("min_c", "minimum")):
        ax.plot(t, [getattr(r, name) for r in rows], label=label, linewidth=1)
    shutter = [r.time_s for r in rows if r.state == STATE_SHUTTER]
    if shutter:
        ax.plot(shutter, np.full(len(shutter), _finite_min([r.min_c for r in rows])), "|",
                color="grey", label="shutter closed")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("temperature (deg C)")
    ax.set_title("Temperatures per frame")
    ax.legend(loc="upper right", fontsize="small")
    return _png(fig)


def plot_detections(rows: Sequence[FrameRow], detections: Sequence[tuple[int, DetectionRecord]],
                    gps: GpsTrack, size: tuple[int, int]) -> str:
    has_gps = any(math.isfinite(r.latitude) for r in rows)
    fig = _figure(rows=2 if has_gps else 1)
    ax = fig.add_subplot(2, 1, 1) if has_gps else fig.add_subplot()
    ax.set_title(f"Detections in the image ({len(detections)})")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    width, height = size
    if width and height:
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
    else:
        ax.invert_yaxis()
    import matplotlib as mpl

    colors = mpl.colormaps["tab20"]
    labels = sorted({d.label for _, d in detections})
    for label in labels:
        dets = [d for _, d in detections if d.label == label]
        ids = np.array([d.track_id for d in dets])
        ax.scatter([d.centroid_x for d in dets], [d.centroid_y for d in dets], s=12,
                   c=colors((ids % TRACK_COLORS) / TRACK_COLORS), marker=MARKERS.get(label, "x"),
                   label=label)
    if labels:
        ax.legend(loc="upper right", fontsize="small", title="class (colour: track)")
    else:
        ax.text(0.5, 0.5, "no detections", ha="center", va="center", transform=ax.transAxes)
    ax.set_aspect("equal", adjustable="box")
    if has_gps:
        geo = fig.add_subplot(2, 1, 2)
        lon = [r.longitude for r in rows if math.isfinite(r.latitude)]
        lat = [r.latitude for r in rows if math.isfinite(r.latitude)]
        geo.plot(lon, lat, color="grey", linewidth=1, label=f"platform ({gps.topic})")
        placed = [(rows[i], d) for i, d in detections if math.isfinite(rows[i].latitude)]
        if placed:
            ids = np.array([d.track_id for _, d in placed])
            geo.scatter([r.longitude for r, _ in placed], [r.latitude for r, _ in placed], s=12,
                        c=colors((ids % TRACK_COLORS) / TRACK_COLORS),
                        label="detections (at the platform position)")
        geo.ticklabel_format(useOffset=False)
        geo.set_xlabel("longitude (deg)")
        geo.set_ylabel("latitude (deg)")
        geo.set_title("Detections on the platform track")
        geo.legend(loc="upper right", fontsize="small")
    return _png(fig)


def plot_correction_state(rows: Sequence[FrameRow]) -> str:
    fig = _figure(rows=2)
    if not rows:
        _no_data(fig, "no frames")
        return _png(fig)
    t = _times(rows)
    top = fig.add_subplot(2, 1, 1)
    top.plot(t, [r.fpa_temperature_c for r in rows], color="tab:red", label="FPA temperature")
    top.set_ylabel("FPA (deg C)")
    for r in rows:
        if r.ffc_applied:
            top.axvline(r.time_s, color="tab:blue", linewidth=1)
    shutter = [r.time_s for r in rows if r.state == STATE_SHUTTER]
    if shutter:
        top.plot(shutter, np.full(len(shutter), _finite_min([r.fpa_temperature_c for r in rows])),
                 "|", color="grey", label="shutter closed")
    top.plot([], [], color="tab:blue", label="flat-field correction")
    count = top.twinx()
    count.step(t, [r.ffc_count for r in rows], where="post", color="tab:blue", alpha=0.5)
    count.set_ylabel("FFCs")
    top.set_title("Non-uniformity correction state")
    top.legend(loc="upper left", fontsize="small")
    bottom = fig.add_subplot(2, 1, 2, sharex=top)
    bottom.step(t, [r.bad_pixels for r in rows], where="post", label="bad pixels replaced")
    bottom.set_ylabel("bad pixels")
    invalid = bottom.twinx()
    invalid.plot(t, [100.0 * r.invalid_fraction for r in rows], color="tab:orange",
                 linewidth=1, label="invalid pixels (%)")
    invalid.set_ylabel("invalid (%)")
    rejected = [r.time_s for r in rows if r.state == STATE_REJECTED]
    if rejected:
        bottom.plot(rejected, np.zeros(len(rejected)), "x", color="tab:red",
                    label="rejected frames")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="upper left", fontsize="small")
    invalid.legend(loc="upper right", fontsize="small")
    return _png(fig)


def _table(items: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in items)
    return f"<table>{body}</table>"


def _list(items: Sequence[str], css: str) -> str:
    if not items:
        return "<p class='note'>none</p>"
    lines = "".join(f"<li class='{css}'><pre>{html.escape(i)}</pre></li>" for i in items)
    return f"<ul>{lines}</ul>"


def render_report(result: BagResult, rows: Sequence[FrameRow],
                  detections: Sequence[tuple[int, DetectionRecord]],
                  histogram: tuple[np.ndarray, np.ndarray] | None, gps: GpsTrack,
                  values: dict[str, Any]) -> str:
    """HTML text of the report."""
    r = result
    e = html.escape
    summary = [
        ("bag", e(r.bag)),
        ("status", f"<span class='{e(r.status)}'>{e(r.status)}</span>"
                   + (f" ({len(r.errors)} problems, see below)" if r.errors else "")),
        ("raw image topic", e(r.topic or "-")),
        ("status topic", e(r.status_topic or "none")),
        ("GPS topic", e(r.gps_topic or "none: no GeoJSON/KML")),
        ("storage", e(r.storage or "-")),
        ("image size", f"{r.width} x {r.height} pixels" if r.width else "-"),
        ("frames", f"{r.frames} read ({r.frames_processed} processed, {r.frames_shutter} "
                   f"shutter, {r.frames_rejected} rejected)"
                   + (f"; <span class='error'>{r.frames_recorded - r.frames} of "
                      f"{r.frames_recorded} recorded frames could not be read</span>"
                      if r.frames_recorded > r.frames else "")),
        ("duration", f"{r.duration_s:.2f} s"),
        ("analysis time", f"{r.loop_s:.2f} s processing loop, {r.wall_s:.2f} s in all"),
        ("analysis speed", f"{r.fps:.1f} frames/s"),
        ("real-time factor", f"{r.realtime_factor:.1f}x"),
        ("flat-field corrections", str(r.ffc_count)),
        ("temperature correction", e((r.temperature_correction or "none") + (
            f"; {r.correction_outside_fraction:.1%} of pixels outside its valid range"
            if r.correction_outside_fraction is not None else ""))),
        ("detections", f"{r.detections} ({e(r.detection_note)})"),
        ("errors", str(len(r.errors))),
    ]
    params = [(k, e(repr(values[k]))) for k in REPORT_PARAMETERS if k in values]
    outputs = [(k, f"<a href='{e(_relative(v, r.out_dir))}'>{e(_relative(v, r.out_dir))}</a>")
               for k, v in sorted(r.outputs.items())]
    plots = [("Temperature histogram", plot_histogram(histogram)),
             ("Temperatures over time", plot_temperatures(rows)),
             ("Detection map", plot_detections(rows, detections, gps, (r.width, r.height))),
             ("NUC / FFC and bad-pixel state", plot_correction_state(rows))]
    figures = "".join(f"<h3>{e(title)}</h3><img alt='{e(title)}' src='data:image/png;base64,"
                      f"{data}'>" for title, data in plots)
    title = f"Thermal analysis: {e(r.bag)}"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
            f"<h2>Summary</h2>{_table(summary)}"
            f"<h2>Problems</h2>{_list(r.errors, 'error')}"
            f"<h2>Notes</h2>{_list(r.warnings, 'note')}"
            f"<h2>Plots</h2>{figures}"
            f"<h2>Processor parameters</h2>{_table(params)}"
            f"<h2>Outputs</h2>{_table(outputs)}</body></html>\n")


def _relative(path: str, folder: str) -> str:
    prefix = folder.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path


def write_report(path: Any, result: BagResult, rows: Sequence[FrameRow],
                 detections: Sequence[tuple[int, DetectionRecord]],
                 histogram: tuple[np.ndarray, np.ndarray] | None, gps: GpsTrack,
                 values: dict[str, Any]) -> None:
    """Write the report atomically to ``path``."""
    atomic_write_text(path, render_report(result, rows, detections, histogram, gps, values))
