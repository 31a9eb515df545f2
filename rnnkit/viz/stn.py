"""What a spatial transformer does (Agg canvas, no display): transforms.png.

Each input beside the transformer's output, as the figure of Jaderberg et al. (2015): the input
with the region the transformer read outlined (the edge of its output grid mapped into the
input), then what it made of it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

PAIRS_PER_ROW = 4


def plot_transforms(
    inputs: np.ndarray,
    outputs: np.ndarray,
    path: str | Path,
    outlines: np.ndarray | None = None,
    title: str = "",
) -> None:
    """``inputs`` (N, H, W) beside ``outputs`` (N, H_out, W_out), both gray in [0, 1], saved as
    a PNG at ``path``; ``outlines`` (N, P, 2) (x, y) pixel coordinates of the input drawn on it
    as a closed line (the region read), or None."""
    inputs, outputs = np.asarray(inputs), np.asarray(outputs)
    if inputs.ndim != 3 or outputs.ndim != 3 or len(inputs) != len(outputs) or not len(inputs):
        raise ValueError(
            f"plot_transforms: expected inputs (N, H, W) and outputs (N, H_out, W_out) of the "
            f"same N >= 1, got {inputs.shape} and {outputs.shape}"
        )
    if outlines is not None and (
        np.ndim(outlines) != 3 or np.shape(outlines)[::2] != (len(inputs), 2)
    ):
        raise ValueError(
            f"plot_transforms: expected outlines ({len(inputs)}, P, 2), got {np.shape(outlines)}"
        )
    n = len(inputs)
    columns = min(n, PAIRS_PER_ROW)
    rows = math.ceil(n / columns)
    fig = Figure(figsize=(2.0 * 2 * columns, 2.1 * rows + 0.4), dpi=100)
    for k in range(n):
        row, col = divmod(k, columns)
        for side, image in enumerate((inputs[k], outputs[k])):
            ax = fig.add_subplot(rows, 2 * columns, row * 2 * columns + 2 * col + side + 1)
            ax.imshow(np.clip(image, 0, 1), cmap="gray", vmin=0, vmax=1)
            if side == 0 and outlines is not None:
                line = np.concatenate([outlines[k], outlines[k][:1]])  # closed
                ax.plot(line[:, 0], line[:, 1], color="tab:red", linewidth=1)
                ax.set_xlim(-0.5, image.shape[1] - 0.5)
                ax.set_ylim(image.shape[0] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("input" if side == 0 else "transformed", fontsize=9)
    fig.suptitle(f"spatial transformer{f' ({title})' if title else ''}: input | output")
    fig.tight_layout()
    fig.savefig(path)
