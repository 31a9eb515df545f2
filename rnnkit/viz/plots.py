"""Plots of a run, drawn with matplotlib's Agg canvas (no display, no global backend switch)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure


def plot_loss(
    rows: Sequence[dict[str, float | None]], path: str | Path, ylabel: str = "loss"
) -> None:
    """Train and validation loss against step, from metrics rows, saved as a PNG at ``path``.

    ``rows`` are dicts with ``step`` and optional ``train_loss`` / ``val_loss`` (None = absent),
    as ``rnnkit.train.logging.read_metrics`` returns them.
    """
    fig = Figure(figsize=(7, 4), dpi=120)
    ax = fig.add_subplot()
    for key, label, style in (("train_loss", "train", "-"), ("val_loss", "validation", "o-")):
        points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, style, label=label, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
