"""Grids of images, with boxes drawn on them, as PNG and animated GIF (Pillow).

``image_grid`` lays N gray images (N, H, W) in [0, 1] in rows of ``columns``, each enlarged
``scale`` times (nearest neighbour) and separated by a ``pad`` of gray, and draws on each its
box (x0, y0, x1, y1) in the image's pixel coordinates (0-based pixel centres), clipped to the
image. What attention models show: DRAW's write glimpses, a spatial transformer's crops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

BOX_COLOR = (230, 40, 40)
PAD_GRAY = 128


def image_grid(
    images: np.ndarray,
    columns: int | None = None,
    boxes: np.ndarray | None = None,
    scale: int = 3,
    pad: int = 2,
) -> Image.Image:
    """The RGB image of ``images`` (N, H, W) in [0, 1] in a grid of ``columns`` (default: a
    square), each with its box (``boxes`` (N, 4) or None)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"image_grid: expected images (N, H, W), got shape {images.shape}")
    n, height, width = images.shape
    if boxes is not None and np.shape(boxes) != (n, 4):
        raise ValueError(f"image_grid: expected boxes ({n}, 4), got shape {np.shape(boxes)}")
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    cell_h, cell_w = height * scale, width * scale
    grid = Image.new(
        "RGB",
        (columns * (cell_w + pad) + pad, rows * (cell_h + pad) + pad),
        (PAD_GRAY,) * 3,
    )
    pixels = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)  # (N, H, W)
    for k in range(n):
        cell = Image.fromarray(pixels[k], "L").resize((cell_w, cell_h), Image.NEAREST)
        cell = cell.convert("RGB")
        if boxes is not None:
            x0, y0, x1, y1 = ((float(v) + 0.5) * scale for v in boxes[k])
            if x1 > 0 and y1 > 0 and x0 < cell_w and y0 < cell_h:  # some of it on the image
                ImageDraw.Draw(cell).rectangle(
                    (max(x0, 0), max(y0, 0), min(x1, cell_w - 1), min(y1, cell_h - 1)),
                    outline=BOX_COLOR,
                )
        row, col = divmod(k, columns)
        grid.paste(cell, (pad + col * (cell_w + pad), pad + row * (cell_h + pad)))
    return grid


def save_grid(
    images: np.ndarray,
    path: str | Path,
    columns: int | None = None,
    boxes: np.ndarray | None = None,
    scale: int = 3,
) -> Path:
    """``image_grid`` saved as a PNG at ``path``; returns the path."""
    image_grid(images, columns, boxes, scale).save(path, format="PNG")
    return Path(path)


def save_gif(frames: Sequence[Image.Image], path: str | Path, frame_ms: int = 150) -> Path:
    """``frames`` as an animated GIF at ``path``, looping, the last frame held 2 s."""
    if not frames:
        raise ValueError("save_gif: expected at least one frame, got none")
    durations = [frame_ms] * (len(frames) - 1) + [2000]
    frames[0].save(
        path, format="GIF", save_all=True, append_images=list(frames[1:]),
        duration=durations, loop=0,
    )  # fmt: skip
    return Path(path)
