"""Pictures of a dataset evaluation: precision-recall curves per class, with each class's
operating point at the shipped threshold (``eval --dataset ... --out DIR`` writes
``pr_curves.png``). matplotlib's object API on the Agg canvas: no display, no global state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: class colours as the rendered frames draw them (people green, vehicles magenta...)
CLASS_COLOURS = {"person": "tab:green", "vehicle": "m", "bicycle": "goldenrod",
                 "animal": "c"}


def plot_pr_curves(overall: dict[str, Any], classes: list[str], path: str | Path,
                   title: str = "") -> Path:
    """``pr_curves.png`` at ``path``: one precision-recall curve per class of ``classes`` that
    has a ``curve`` in ``overall`` (:func:`.boxes.evaluate_boxes` with ``curves=True``), its
    AP50 in the legend, and a dot where the shipped threshold puts it (precision and recall
    at that score). Returns the path written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 5.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    drawn = 0
    for name in classes:
        r = overall.get(name, {})
        curve = r.get("curve")
        if not curve or not curve["recall"]:
            continue
        colour = CLASS_COLOURS.get(name, f"C{drawn}")
        ax.plot(curve["recall"], curve["precision"], color=colour, linewidth=1.5,
                label=f"{name} ({r['labelled']}): AP50 {r['ap50']:.3f}, P {r['precision']:.3f} "
                      f"R {r['recall']:.3f} at {r['threshold']:.2f}")
        ax.plot([r["recall"]], [r["precision"]], "o", color=colour, markersize=7,
                markeredgecolor="black")
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no labelled class detected", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.grid(True, alpha=0.3)
    ax.set_title(title or "precision-recall (dot: the shipped threshold)", fontsize="medium")
    if drawn:
        ax.legend(loc="lower left", fontsize="small", title="class (labelled)")
    out = Path(path)
    fig.savefig(out, format="png")
    return out
