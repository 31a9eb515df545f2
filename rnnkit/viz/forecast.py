"""Forecast plots: history, held-out truth, forecast and its interval, one panel per series."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

MAX_PANELS = 8  # series drawn at most (the first ones)
MAX_HISTORY = 400  # periods of history drawn before the forecast at most


def plot_forecast(items: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Save a PNG at ``path`` with one panel per item (series and target), at most MAX_PANELS.

    Each item: ``id``, ``target``, ``time`` and ``values`` (the whole observed series, truth of
    the forecast periods included when known), ``forecast_time`` and ``forecast`` (K,), and
    optionally ``lower`` and ``upper`` (K,), the outer quantiles, drawn as a band.
    """
    items = list(items)[:MAX_PANELS]
    if not items:
        raise ValueError("plot_forecast: expected at least one series to draw, got none")
    fig = Figure(figsize=(9, 2.6 * len(items) + 0.4), dpi=110)
    axes = fig.subplots(len(items), 1, squeeze=False)[:, 0]
    for ax, item in zip(axes, items, strict=True):
        start = item["forecast_time"][0]
        time, values = item["time"], item["values"]
        seen = int((time < start).sum())  # periods before the forecast (time is sorted)
        first = max(0, seen - MAX_HISTORY)
        ax.plot(time[first:seen], values[first:seen], color="0.2", lw=1.2, label="history")
        if seen < len(time):  # drawn from the last period seen, so that the lines join
            after = slice(max(0, seen - 1), None)
            ax.plot(time[after], values[after], color="tab:green", lw=1.2, label="truth")
        if "lower" in item:
            ax.fill_between(item["forecast_time"], item["lower"], item["upper"], color="tab:orange",
                            alpha=0.25, lw=0, label="interval")  # fmt: skip
        ax.plot(item["forecast_time"], item["forecast"], color="tab:orange", lw=1.6,
                label="forecast")  # fmt: skip
        ax.axvline(start, color="0.6", lw=0.8, ls=":")
        name = str(item["target"])  # a series named after its target: the name once
        ax.set_title(name if item["id"] == name else f"{item['id']}: {name}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
