"""The structure diagram of a recurrent model: unrolled over time and layers, every arrow
labelled with the shape of the tensor it carries (``rnnkit.inspect.structure.Structure``).

At the bottom the input cube, (an embedding), then one box per layer and step (t = 1, 2, ...,
T, the middle steps elided), x_t arrows in, h_t (and c_t) arrows along time, each layer's
output up into the next, the output sequence and the head at the top, h_n (and c_n) out at the
right. Saved as PNG and SVG (its text kept as text, so the labels can be searched).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

MAX_LAYERS = 4  # layers drawn at most (the first ones, then the last)
BOX_W, BOX_H, DX, DY = 1.6, 0.8, 3.0, 1.9  # a step's box and the spacing of the grid


def _shape(arrows, name: str) -> str:
    a = arrows[name]
    return "(" + ", ".join(str(s) for s in a.shape) + ")"


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str) -> None:
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                fc=color, ec="0.25", lw=1.0))  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=8)


def _arrow(ax, start, end, label: str = "", both: bool = False, side: str = "right") -> None:
    style = "<|-|>" if both else "-|>"
    ax.annotate("", end, start, arrowprops={"arrowstyle": style, "color": "0.3", "lw": 1.0,
                                            "shrinkA": 0, "shrinkB": 0})  # fmt: skip
    if label:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        vertical = abs(end[0] - start[0]) < 1e-9
        dx = 0.08 if side == "right" else -0.08
        ax.text(mx + (dx if vertical else 0), my + (0 if vertical else 0.12), label, fontsize=7,
                color="tab:blue", ha=("left" if side == "right" else "right") if vertical else
                "center", va="center" if vertical else "bottom")  # fmt: skip


def plot_structure(structure, png: str | Path, svg: str | Path | None = None) -> None:
    """Draw ``structure`` (``rnnkit.inspect.structure.Structure``) to ``png`` (and ``svg``)."""
    s, arrows = structure, structure.arrows
    steps = [1, 2, None, s.steps] if s.steps > 3 else list(range(1, s.steps + 1))
    layers = list(range(s.num_layers))
    if len(layers) > MAX_LAYERS:
        layers = layers[: MAX_LAYERS - 1] + [layers[-1]]
    both = s.directions == 2
    lstm = "c_t" in arrows
    y0 = 1.9 if s.embedding else 1.2  # the first layer's row
    rows = {k: y0 + i * DY for i, k in enumerate(layers)}
    top = y0 + (len(layers) - 1) * DY
    width = (len(steps) - 1) * DX
    fig = Figure(figsize=(3.2 + 2.6 * len(steps), 3.4 + 1.45 * len(layers)), dpi=120)
    ax = fig.add_subplot()
    ax.set_axis_off()
    # the input and the embedding
    _box(ax, width / 2, -0.4, width + BOX_W, 0.55, arrows["input"].label, "0.93")
    below = -0.4 + 0.28
    if s.embedding:
        _box(ax, width / 2, 0.65, width + BOX_W, 0.5, f"embedding ({s.embedding}): "
             f"{arrows['layer input'].label}", "0.96")  # fmt: skip
        _arrow(ax, (width / 2, below), (width / 2, 0.4))
        below = 0.9
    else:
        ax.text(width + BOX_W / 2 + 0.15, 0.4, arrows["layer input"].label, fontsize=7,
                color="tab:blue", va="center")  # fmt: skip
    kind = s.mode + (" \u2192/\u2190" if both else "")
    for j, t in enumerate(steps):
        x = j * DX
        if t is None:  # the elided steps
            for k in layers:
                ax.text(x, rows[k], "\u22ef", ha="center", va="center", fontsize=16)
            continue
        _arrow(ax, (x, below), (x, rows[layers[0]] - BOX_H / 2), f"x_{t} {_shape(arrows, 'x_t')}")
        for i, k in enumerate(layers):
            _box(ax, x, rows[k], BOX_W, BOX_H, f"{kind}\nlayer {k}, t={t}", "#dbe9f6")
            if i + 1 < len(layers):
                label = f"{_shape(arrows, 'to next layer')}"
                if layers[i + 1] != k + 1:
                    label += f" (layers {k + 1}..{layers[i + 1] - 1} not drawn)"
                _arrow(ax, (x, rows[k] + BOX_H / 2), (x, rows[layers[i + 1]] - BOX_H / 2), label)
        _arrow(ax, (x, top + BOX_H / 2), (x, top + DY * 0.55), f"h_{t} {_shape(arrows, 'h_t')}"
               + (" \u00d7 2 dirs" if both else ""))  # fmt: skip
    # along time: h (and c) from each step to the next
    state = f"h {_shape(arrows, 'h_t')}" + (f"\nc {_shape(arrows, 'c_t')}" if lstm else "")
    for j in range(len(steps) - 1):
        x = j * DX
        for k in layers:
            _arrow(ax, (x + BOX_W / 2, rows[k]), (x + DX - BOX_W / 2, rows[k]), state, both=both)
    # the output, the head and the final state
    out_y = top + DY * 0.55 + 0.28
    _box(ax, width / 2, out_y, width + BOX_W, 0.55, arrows["output"].label, "0.93")
    head_y = out_y + 1.25
    _arrow(ax, (width / 2, out_y + 0.28), (width / 2, head_y - 0.3))
    _box(ax, width / 2, head_y, max(3.0, width / 2), 0.6, f"head: {s.head}", "#fde2c8")
    ax.text(width / 2, head_y + 0.55, arrows["head output"].label, ha="center", fontsize=8,
            color="tab:blue")  # fmt: skip
    final = [arrows["h_n"].label] + ([arrows["c_n"].label] if lstm else [])
    right = width + BOX_W / 2
    for i, text in enumerate(final):
        y = (rows[layers[0]] + top) / 2 + (0.35 if i == 0 else -0.35)
        _arrow(ax, (right, y), (right + 0.9, y))
        ax.text(right + 1.0, y, text, fontsize=8, va="center", color="tab:blue")
    ax.set_xlim(-BOX_W, width + BOX_W + 3.6)
    ax.set_ylim(-0.9, head_y + 0.9)
    fig.suptitle(f"{s.title}: {s.steps} steps, unrolled", fontsize=10)
    fig.tight_layout()
    fig.savefig(png)
    if svg is not None:
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # labels stay text
            fig.savefig(svg)
