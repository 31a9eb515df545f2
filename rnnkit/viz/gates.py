"""Plots of gate activity: each gate over time for chosen cells under the input
(``plot_gates``), and the saturation scatter of Karpathy, Johnson & Fei-Fei 2015, Fig. 3
(``plot_saturation``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

MAX_STEPS = 160  # steps drawn at most (the first ones)
SIGMOID = {"i", "f", "o", "r", "z"}  # gates in (0, 1); g, n and h in (-1, 1); c unbounded


def _limits(gate: str, values: np.ndarray) -> tuple[float, float]:
    if gate in SIGMOID:
        return 0.0, 1.0
    if gate in ("g", "n", "h"):
        return -1.0, 1.0
    top = float(np.abs(values).max()) or 1.0
    return -top, top


def plot_gates(
    gates: dict[str, np.ndarray],
    cells: Sequence[int],
    path: str | Path,
    text: str | None = None,
    series: np.ndarray | None = None,
    series_names: Sequence[str] = (),
    title: str = "",
) -> None:
    """One heatmap per gate (rows: ``cells``, columns: steps) over the input drawn underneath:
    ``text`` one character a column, or ``series`` (T, F) as lines. ``gates``: {name: (T, K)}
    of one layer (K = D*H cells). At most MAX_STEPS steps are drawn."""
    names = list(gates)
    if not names or not cells:
        raise ValueError("plot_gates: expected at least one gate and one cell")
    steps = min(MAX_STEPS, len(next(iter(gates.values()))))
    fig = Figure(figsize=(min(22, 3 + 0.11 * steps), 1.2 + 0.3 * len(cells) * len(names) + 1.6))
    ratios = [max(1.0, 0.3 * len(cells))] * len(names) + [1.3]
    grid = fig.subplots(len(names) + 1, 2, gridspec_kw={"height_ratios": ratios,
                                                        "width_ratios": [60, 1]})  # fmt: skip
    axes, bars = grid[:, 0], grid[:, 1]
    for ax, bar, name in zip(axes, bars, names, strict=False):
        values = np.asarray(gates[name])[:steps, list(cells)].T  # (cells, steps)
        low, high = _limits(name, values)
        cmap = "viridis" if name in SIGMOID else "RdBu_r"
        image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=low, vmax=high,
                          interpolation="nearest")  # fmt: skip
        ax.set_yticks(range(len(cells)), [str(c) for c in cells], fontsize=6)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=11)
        ax.tick_params(labelbottom=False)
        fig.colorbar(image, cax=bar)
    bars[-1].set_axis_off()
    bottom = axes[-1]
    if text is not None:
        for t, ch in enumerate(text[:steps]):
            shown = {"\n": "\u21b5", " ": "\u2423", "\t": "\u21e5"}.get(ch, ch)
            bottom.text(t, 0.5, shown, ha="center", va="center", fontsize=7, family="monospace")
        bottom.set_ylim(0, 1)
        bottom.set_yticks([])
    elif series is not None:
        values = np.asarray(series)[:steps]  # (steps, F)
        for k in range(min(values.shape[1], 6)):
            name = series_names[k] if k < len(series_names) else f"feature {k}"
            bottom.plot(range(len(values)), values[:, k], lw=1.0, label=name)
        bottom.legend(fontsize=6, loc="upper right", ncol=3)
    bottom.set_ylabel("input", rotation=0, ha="right", va="center")
    for ax in axes:
        ax.set_xlim(-0.5, steps - 0.5)
    bottom.set_xlabel("step")
    axes[0].set_title(title or "gate activity", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_saturation(
    fractions: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]],
    path: str | Path,
    title: str = "",
) -> None:
    """Per layer (rows) and gate (columns), each cell's fraction of steps left-saturated
    (< 0.1, x) against right-saturated (> 0.9, y). ``fractions``: {layer: {gate: (left (K,),
    right (K,))}}, as ``rnnkit.inspect.analysis.saturation`` gives them."""
    layers = sorted(fractions)
    gates = list(fractions[layers[0]]) if layers else []
    if not gates:
        raise ValueError("plot_saturation: expected at least one layer and gate")
    fig = Figure(figsize=(2.6 * len(gates) + 0.6, 2.6 * len(layers) + 0.6))
    axes = fig.subplots(len(layers), len(gates), squeeze=False)
    for row, layer in enumerate(layers):
        for col, gate in enumerate(gates):
            ax = axes[row, col]
            left, right = fractions[layer][gate]
            ax.plot([0, 1], [1, 0], color="0.8", lw=0.8)  # left + right <= 1
            ax.scatter(left, right, s=8, alpha=0.6, color=f"C{col}", edgecolors="none")
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.set_aspect("equal")
            ax.set_title(f"layer {layer}: {gate}", fontsize=9)
            ax.tick_params(labelsize=7)
            if row == len(layers) - 1:
                ax.set_xlabel("left-saturated (< 0.1)", fontsize=8)
            if col == 0:
                ax.set_ylabel("right-saturated (> 0.9)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97) if title else None)
    fig.savefig(path, dpi=110)
