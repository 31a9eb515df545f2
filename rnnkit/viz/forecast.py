"""Forecast plots: history, held-out truth, forecast and its interval, one panel per series.

Many series are drawn as a sample of MAX_PANELS, said so in the title: where the truth of the
forecast periods is known, the SAMPLE_EXTREMES worst and best by MASE (each item's MAE over the
in-sample MAE of the seasonal-naive forecast of its history) and the rest at random among the
others (seeded: the same picture on every run); where it is not, all at random.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from rnnkit.metrics.forecasting import mase

MAX_PANELS = 9  # series drawn at most: all when no more, else a sample
SAMPLE_EXTREMES = 3  # of the sample: the worst and the best this many each by MASE
MAX_HISTORY = 400  # periods of history drawn before the forecast at most


def _item_mase(item: dict[str, Any], season: int) -> float:
    """MASE of an item's forecast where its truth is known (NaN where not)."""
    if "mase" in item:
        return float(item["mase"])
    time, values, ahead = item["time"], np.asarray(item["values"]), item["forecast_time"]
    seen = int((time < ahead[0]).sum())
    if len(time) - seen < len(ahead):  # the truth of the forecast periods is not known
        return float("nan")
    truth = values[seen : seen + len(ahead)]
    return mase(truth, np.asarray(item["forecast"]), values[:seen], season)


def sample_items(
    items: Sequence[dict[str, Any]], season: int = 1, seed: int = 0
) -> tuple[list[dict[str, Any]], str]:
    """(at most MAX_PANELS items to draw, what they are: '' when all): the worst and the best
    by MASE (an item's ``mase``, else computed with lag ``season``) and others at random."""
    items = list(items)
    if len(items) <= MAX_PANELS:
        return items, ""
    score = np.array([_item_mase(item, season) for item in items])  # (N,)
    ranked = [int(i) for i in np.argsort(score) if np.isfinite(score[i])]  # best first
    rng = np.random.default_rng(seed)
    k = min(SAMPLE_EXTREMES, len(ranked) // 2)
    if k == 0:
        chosen = sorted(rng.choice(len(items), MAX_PANELS, replace=False).tolist())
        return [items[i] for i in chosen], f"{MAX_PANELS} of {len(items)} series at random"
    worst, best = ranked[::-1][:k], ranked[:k]
    others = np.setdiff1d(np.arange(len(items)), worst + best)
    rest = sorted(rng.choice(others, MAX_PANELS - 2 * k, replace=False).tolist())
    for i in worst + best + rest:
        items[i] = items[i] | ({"mase": score[i]} if np.isfinite(score[i]) else {})
    what = (f"{MAX_PANELS} of {len(items)} series: the {k} worst by MASE, the {k} best, "
            f"{len(rest)} at random")  # fmt: skip
    return [items[i] for i in worst + best + rest], what


def plot_forecast(
    items: Sequence[dict[str, Any]], path: str | Path, title: str = "", season: int = 1
) -> None:
    """Save a PNG at ``path`` with one panel per item (series and target); of more than
    MAX_PANELS items, the sample of ``sample_items`` (MASE with lag ``season``), said in the
    title.

    Each item: ``id``, ``target``, ``time`` and ``values`` (the whole observed series, truth of
    the forecast periods included when known), ``forecast_time`` and ``forecast`` (K,), and
    optionally ``lower`` and ``upper`` (K,), the outer quantiles, drawn as a band, and ``mase``.
    """
    if not items:
        raise ValueError("plot_forecast: expected at least one series to draw, got none")
    items, sampled = sample_items(items, season)
    title = "; ".join(t for t in (title, sampled) if t)
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
        label = name if item["id"] == name else f"{item['id']}: {name}"
        label += f" (MASE {item['mase']:.3g})" if "mase" in item else ""
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
