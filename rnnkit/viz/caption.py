"""Attention maps of captions as in Show, Attend and Tell's figures: the image, then one panel
per word with that word's attention upsampled to the image and laid over it (Agg canvas)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image


def upsample(weights: np.ndarray, size: int) -> np.ndarray:
    """A (g, g) attention grid resized (bilinear) to (size, size), scaled to a maximum of 1."""
    grid = Image.fromarray(np.asarray(weights, dtype=np.float32), mode="F")
    big = np.asarray(grid.resize((size, size), Image.BILINEAR), dtype=np.float32)
    return big / max(float(big.max()), 1e-12)


def plot_caption_attention(
    images: Sequence[np.ndarray],
    words: Sequence[Sequence[str]],
    maps: Sequence[np.ndarray],
    path: str | Path,
) -> None:
    """One row per image (C, S, S) or (S, S) in [0, 1]: the image, then each word of its caption
    with its attention ``maps`` (T, g, g) over it; saved as a PNG at ``path``."""
    if not images or len(images) != len(words) or len(images) != len(maps):
        raise ValueError(
            f"plot_caption_attention: expected as many images, captions and maps (>= 1), got "
            f"{len(images)}, {len(words)} and {len(maps)}"
        )
    cols = 1 + max(len(w) for w in words)
    fig = Figure(figsize=(1.6 * cols, 1.8 * len(images)), dpi=100)
    for row, (image, caption, grid) in enumerate(zip(images, words, maps, strict=True)):
        image = np.asarray(image, dtype=np.float32)
        image = image.transpose(1, 2, 0) if image.ndim == 3 else image  # (S, S, C) or (S, S)
        image = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
        if np.asarray(grid).shape[0] < len(caption):
            raise ValueError(
                f"plot_caption_attention: {len(caption)} words but {np.shape(grid)[0]} maps"
            )
        gray = "gray" if image.ndim == 2 else None
        ax = fig.add_subplot(len(images), cols, row * cols + 1)
        ax.imshow(image, cmap=gray, vmin=0, vmax=1)
        ax.set_title(" ".join(caption[:-1] if caption[-1:] == ["</s>"] else caption)[:28],
                     fontsize=6)  # fmt: skip
        ax.axis("off")
        for t, word in enumerate(caption):
            ax = fig.add_subplot(len(images), cols, row * cols + 2 + t)
            ax.imshow(image, cmap=gray, vmin=0, vmax=1)
            ax.imshow(upsample(grid[t], image.shape[0]), cmap="jet", alpha=0.45, vmin=0, vmax=1)
            ax.set_title(word, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
