"""The figures of Graves (2013): written lines (SVG, PNG), the soft window over the text
against time (Fig. 13) and the mixture density of the next point over a line (Fig. 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from rnnkit.data.strokes import offsets_to_strokes
from rnnkit.nn.mdn import mixture_density


def _points(offsets: np.ndarray) -> list[np.ndarray]:
    strokes = offsets_to_strokes(offsets)
    if not strokes:
        raise ValueError("nothing to draw: expected offsets (T, 3) with at least one point")
    return strokes


def strokes_svg(offsets: np.ndarray, path: str | Path, margin: float = 10.0) -> None:
    """Offsets (T, 3) drawn as an SVG file: one polyline per stroke, y pointing up."""
    strokes = _points(offsets)
    allp = np.concatenate(strokes)
    lo, hi = allp.min(0) - margin, allp.max(0) + margin
    width, height = hi - lo
    lines = []
    for s in strokes:
        xy = " ".join(f"{x - lo[0]:.2f},{hi[1] - y:.2f}" for x, y in s)  # SVG's y points down
        lines.append(f'  <polyline points="{xy}"/>')
    Path(path).write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.2f} {height:.2f}">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n'
        f'<g fill="none" stroke="black" stroke-width="{max(width, height) / 400:.2f}" '
        f'stroke-linecap="round" stroke-linejoin="round">\n' + "\n".join(lines) + "\n</g>\n</svg>\n"
    )


def plot_strokes(offsets: np.ndarray, path: str | Path, title: str = "") -> None:
    """Offsets (T, 3) drawn as a PNG: one line per stroke."""
    strokes = _points(offsets)
    allp = np.concatenate(strokes)
    span = np.ptp(allp, axis=0) + 1e-9
    fig = Figure(figsize=(min(16, max(4, 2 * span[0] / span[1])), 2.5), dpi=120)
    ax = fig.add_subplot()
    for s in strokes:
        ax.plot(s[:, 0], s[:, 1], "k-", linewidth=1.2, solid_capstyle="round")
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def plot_window(phi: np.ndarray, text: str, path: str | Path) -> None:
    """The window weights phi (N, U + 1) over the characters of ``text`` (U) against time, as
    a heat map (Graves 2013, Fig. 13); the last row is the slot past the end."""
    fig = Figure(figsize=(8, 2 + 0.12 * len(text)), dpi=120)
    ax = fig.add_subplot()
    ax.imshow(phi.T, aspect="auto", origin="lower", cmap="Greys", interpolation="nearest")
    ax.set_yticks(range(len(text) + 1), list(text.replace(" ", "\u2423")) + ["end"], fontsize=7)
    ax.set_xlabel("point")
    ax.set_title("soft window weights over the text")
    fig.tight_layout()
    fig.savefig(path)


def density_map(
    offsets: np.ndarray, y: np.ndarray, scale: np.ndarray, pixels: int = 400
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The summed densities of each step's next point on a grid over the line (H, W), and the
    grid's extent (x0, x1, y0, y1). ``y`` (T, 1 + 6M) are the outputs that predicted
    ``offsets`` (T, 3) (normalised offsets divided by ``scale`` (2,))."""
    points = np.cumsum(offsets[:, :2], 0)  # (T, 2): where each predicted point landed
    before = np.vstack([[0.0, 0.0], points[:-1]])  # (T, 2): the pen before each step
    lo, hi = points.min(0) - 3 * scale, points.max(0) + 3 * scale
    w = pixels
    h = max(8, int(pixels * (hi[1] - lo[1]) / (hi[0] - lo[0] + 1e-9)))
    gx, gy = np.linspace(lo[0], hi[0], w), np.linspace(lo[1], hi[1], h)
    image = np.zeros((h, w))
    yt = torch.as_tensor(y, dtype=torch.float64)
    for t in range(len(offsets)):
        # the grid in normalised offsets from the pen, near it only (12 std of the data's moves)
        near_x = np.abs(gx - before[t, 0]) < 12 * scale[0]
        near_y = np.abs(gy - before[t, 1]) < 12 * scale[1]
        if not near_x.any() or not near_y.any():
            continue
        dx = torch.as_tensor((gx[near_x] - before[t, 0]) / scale[0])
        dy = torch.as_tensor((gy[near_y] - before[t, 1]) / scale[1])
        x1, x2 = torch.meshgrid(dx, dy, indexing="xy")  # (h', w')
        density = mixture_density(yt[t], x1, x2).numpy() / (scale[0] * scale[1])
        image[np.ix_(near_y, near_x)] += density
    return image, (lo[0], hi[0], lo[1], hi[1])


def plot_density(offsets: np.ndarray, y: np.ndarray, scale: np.ndarray, path: str | Path) -> None:
    """The mixture density of every next point over a written line (Graves 2013, Fig. 10),
    with the line drawn on it."""
    image, extent = density_map(offsets, y, scale)
    span = (extent[1] - extent[0]) / max(extent[3] - extent[2], 1e-9)
    fig = Figure(figsize=(min(16, max(4, 2.5 * span)), 3), dpi=120)
    ax = fig.add_subplot()
    ax.imshow(
        np.log1p(image / (image.max() + 1e-12) * 100), extent=extent, origin="lower",
        cmap="magma", aspect="equal",
    )  # fmt: skip
    for s in offsets_to_strokes(offsets):
        ax.plot(s[:, 0], s[:, 1], "c-", linewidth=0.6, alpha=0.7)
    ax.axis("off")
    ax.set_title("mixture density of the next point", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
