"""The backtest plot: each window's forecast over the series, and MASE per window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

MAX_SERIES = 4  # series drawn at most (the first ones)


def plot_backtest(
    frame: pd.DataFrame, windows: list[dict[str, Any]], history: dict[str, pd.Series],
    path: str | Path,
) -> None:  # fmt: skip
    """Save a PNG at ``path``: per series (at most MAX_SERIES) its values (``history``: id ->
    values indexed by time) with each window's forecast, then the MASE of the model and of each
    baseline per window. ``frame`` and ``windows`` are a ``Backtest``'s."""
    ids = list(dict.fromkeys(frame["id"]))[:MAX_SERIES]
    if not ids:
        raise ValueError("plot_backtest: expected a backtest with rows, got none")
    fig = Figure(figsize=(9, 2.4 * (len(ids) + 1) + 0.4), dpi=110)
    axes = fig.subplots(len(ids) + 1, 1, squeeze=False)[:, 0]
    for ax, sid in zip(axes, ids, strict=False):
        rows = frame[frame["id"] == sid]
        if "target" in rows:
            rows = rows[rows["target"] == rows["target"].iloc[0]]
        values = history[sid]
        first = rows["time"].min()
        shown = values[values.index >= values.index[max(0, values.index.searchsorted(first) - 60)]]
        ax.plot(shown.index, shown.to_numpy(), color="0.2", lw=1.1, label="actual")
        for k, (_, part) in enumerate(rows.groupby("cutoff", sort=True)):
            ax.plot(part["time"], part["forecast"], color=f"C{1 + k % 9}", lw=1.5,
                    label="forecast, each window" if k == 0 else None)  # fmt: skip
            ax.axvline(part["time"].iloc[0], color="0.7", lw=0.7, ls=":")
        ax.set_title(str(sid), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8)
    ax = axes[-1]
    k = list(range(len(windows)))
    ax.plot(k, [w["model"]["mase"] for w in windows], "o-", lw=1.8, label="model")
    for name in windows[0]["baselines"]:
        ax.plot(k, [w["baselines"][name]["mase"] for w in windows], "o--", lw=1, label=name)
    ax.set_xticks(k)
    ax.set_xlabel("window (earliest first)")
    ax.set_ylabel("MASE")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(f"backtest: {len(windows)} window(s)")
    fig.tight_layout()
    fig.savefig(path)
