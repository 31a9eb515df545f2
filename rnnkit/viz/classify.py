"""Plots of classification: the confusion matrix (Agg canvas, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def plot_confusion(
    confusion: np.ndarray, classes: Sequence[str], path: str | Path, title: str = ""
) -> None:
    """A confusion matrix (rows: true class, columns: predicted) saved as a PNG at ``path``.

    Cells are shaded by the fraction of their row (recall per class) and, up to 20 classes,
    show their count.
    """
    confusion = np.asarray(confusion)
    c = len(classes)
    if confusion.shape != (c, c):
        raise ValueError(f"plot_confusion: expected a ({c}, {c}) matrix, got {confusion.shape}")
    rows = confusion.sum(1, keepdims=True)
    fraction = confusion / np.maximum(rows, 1)  # (C, C), each row sums to 1 (or 0)
    size = min(12.0, 3.0 + 0.5 * c)
    fig = Figure(figsize=(size + 1.5, size), dpi=120)
    ax = fig.add_subplot()
    image = ax.imshow(fraction, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    if c <= 20:
        for i in range(c):
            for j in range(c):
                color = "white" if fraction[i, j] > 0.5 else "black"
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", color=color)
    ax.set_xticks(range(c), [str(k) for k in classes], rotation=45 if c > 4 else 0, ha="right")
    ax.set_yticks(range(c), [str(k) for k in classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(confusion) / max(1, confusion.sum())
    ax.set_title(f"{title + ': ' if title else ''}accuracy {accuracy:.4f} ({confusion.sum()})")
    fig.tight_layout()
    fig.savefig(path)
