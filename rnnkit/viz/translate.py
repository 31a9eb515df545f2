"""Attention maps of translations (Bahdanau et al. 2015, Fig. 3): source along x, output along
y, each cell the weight of that source token while writing that output token (Agg canvas)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def plot_attention(
    maps: Sequence[tuple[np.ndarray, Sequence[str], Sequence[str]]], path: str | Path
) -> None:
    """One panel per ``(weights (T, S), source tokens (S), output tokens (T))``, gray scale
    (white = 1), saved as a PNG at ``path``."""
    if not maps:
        raise ValueError("plot_attention: no attention maps to draw")
    cols = min(2, len(maps))
    rows = -(-len(maps) // cols)
    sizes = [(len(s), len(o)) for _, s, o in maps]
    width = min(9.0, 1.5 + 0.28 * max(s for s, _ in sizes))
    height = min(9.0, 1.5 + 0.28 * max(o for _, o in sizes))
    fig = Figure(figsize=(cols * width, rows * height), dpi=100)
    for i, (weights, source, output) in enumerate(maps):
        weights = np.asarray(weights)
        if weights.shape != (len(output), len(source)):
            raise ValueError(
                f"plot_attention: expected weights ({len(output)}, {len(source)}) for "
                f"{len(output)} output and {len(source)} source tokens, got {weights.shape}"
            )
        ax = fig.add_subplot(rows, cols, i + 1)
        source, output = [_shown(t) for t in source], [_shown(t) for t in output]
        ax.imshow(weights, cmap="gray", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(source)), list(source), rotation=90, fontsize=8)
        ax.set_yticks(range(len(output)), list(output), fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        ax.xaxis.set_label_position("top")
        ax.xaxis.tick_top()
    fig.tight_layout()
    fig.savefig(path)


def _shown(token: str) -> str:
    """A token as a tick label: a space as ␣, so it can be seen."""
    return token.replace(" ", "\u2423") if token.strip() == "" else token
