"""``rnnkit inspect RUN``: see inside a trained recurrent network (Karpathy, Johnson & Fei-Fei
2015, "Visualizing and Understanding Recurrent Networks").

For a run of charlm, classify or forecast it rebuilds the model with the task's own
loader (``subjects.py``), traces the gates of its recurrent layer on one input
(``rnnkit.nn.trace``) and writes, into the run directory or ``out``:

- ``structure.png``/``.svg``: the model unrolled over time and layers, every arrow labelled
  with the shape it carries (``structure.py``, drawn by ``rnnkit.viz.structure``);
- ``gates.png``: each gate's activity over time for chosen cells, under the input;
- ``saturation.png``: per layer and sigmoid gate, each cell's fraction of steps left- vs
  right-saturated (``analysis.saturation``);
- charlm only, ``cells.html``: the text coloured by a chosen cell, and the cells ranked by how
  well they track features of the text (``analysis.rank_cells``), the ranking also returned.

For a translate or caption run it draws the attention maps instead (``attention.py``):
``attention.png``.

This package sits above the tasks (it reads their runs and composes their loaders), so it is
not one of them: it trains nothing and has no Config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rnnkit.inspect.analysis import (
    FEATURES,
    best_per_feature,
    correlations,
    rank_cells,
    saturation,
    text_features,
)
from rnnkit.inspect.attention import TASKS as ATTENTION_TASKS
from rnnkit.inspect.attention import write_attention_maps
from rnnkit.inspect.structure import describe
from rnnkit.inspect.subjects import DEFAULT_CHARS, Subject, load_subject, run_task
from rnnkit.nn.trace import trace

__all__ = ["inspect_run", "Inspection", "trace_subject", "load_subject", "DEFAULT_CHARS"]

SIGMOID_GATES = ("i", "f", "o", "r", "z")  # the gates saturation is measured on
RANKED_GATES = ("c", "h")  # the activations ranked against text features
MAX_CELLS = 8  # cells drawn in gates.png by default


@dataclass
class Inspection:
    """What ``inspect_run`` wrote (``files``) and found: ``cells``, the ranking (dicts with
    layer, cell, gate, feature, r; strongest first; charlm only) and ``best``, {feature: the
    cell that tracks it best}; ``dropped``, the characters of the text left out (not in the
    model's vocabulary)."""

    task: str
    files: list[Path]
    cells: list[dict] = field(default_factory=list)
    best: dict[str, dict] = field(default_factory=dict)
    dropped: str = ""


@torch.no_grad()
def trace_subject(subject: Subject) -> list[dict[str, np.ndarray]]:
    """The gates of ``subject``'s recurrent layer on its input: per layer {gate: (T, K)},
    K = D*H cells (direction-major: cell d*H + j is unit j of direction d)."""
    with trace(subject.model) as t:
        subject.forward()
    layers = []
    for gates in t[subject.rnn_name]:
        layers.append({name: v[:, 0].flatten(1).float().cpu().numpy() for name, v in gates.items()})
    return layers  # each (T, 1, D, H) -> (T, D*H)


def _write(draw, path: Path, what: str) -> None:
    """``draw(path)``; a file that cannot be written as one OSError line naming the fix."""
    try:
        draw(path)
    except OSError as e:
        raise OSError(
            f"cannot write the {what} to {path} ({e.strerror or type(e).__name__}); pass "
            "--out DIR, a folder you can write to"
        ) from None


def _make(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder}: a file is in the way; pass a directory")
    folder.mkdir(parents=True, exist_ok=True)


def _cells(layer: dict[str, np.ndarray], ranking: list[dict], index: int) -> list[int]:
    """The cells of gates.png: the layer's best-ranked ones, else those that vary most."""
    ranked = list(dict.fromkeys(c["cell"] for c in ranking if c["layer"] == index))
    if ranked:
        return ranked[:MAX_CELLS]
    values = layer["c"] if "c" in layer else layer["h"]  # (T, K)
    return sorted(np.argsort(-values.std(0))[:MAX_CELLS].tolist())


def inspect_run(
    run: str | Path,
    out: str | Path | None = None,
    text: str | Path | None = None,
    data: str | Path | None = None,
    index: int = 0,
    chars: int = DEFAULT_CHARS,
    layer: int | None = None,
    cells: list[int] | None = None,
    top: int = 20,
    device: str = "cpu",
) -> Inspection:
    """Inspect the run (directory or checkpoint) ``run``; files go to ``out`` (default: the
    run directory). ``text`` (charlm) or ``data``/``index`` (classify, forecast) choose the
    input; ``layer`` (default: the last) and ``cells`` the cells of gates.png; ``top`` the
    length of the ranking."""
    from rnnkit.viz.cells_page import write_cells_page
    from rnnkit.viz.gates import plot_gates, plot_saturation
    from rnnkit.viz.structure import plot_structure

    folder = (
        Path(out) if out is not None else (Path(run) if Path(run).is_dir() else Path(run).parent)
    )
    task = run_task(run)
    if task in ATTENTION_TASKS:  # the task draws its attention maps
        _make(folder)
        return Inspection(task, write_attention_maps(task, run, folder, text, data, device))
    subject = load_subject(run, text, data, index, chars, device)
    rnn = subject.rnn
    layer = rnn.num_layers - 1 if layer is None else layer
    if not 0 <= layer < rnn.num_layers:
        raise ValueError(f"--layer {layer}: the model has layers 0..{rnn.num_layers - 1}")
    width = (2 if rnn.bidirectional else 1) * (rnn.proj_size or rnn.hidden_size)  # D*H_out
    if cells is not None and not all(0 <= c < width for c in cells):
        raise ValueError(f"--cells: expected cell numbers in 0..{width - 1}, got {cells}")
    _make(folder)
    layers = trace_subject(subject)
    result = Inspection(subject.task, [], dropped=subject.dropped)

    if subject.text is not None:  # the cells that track features of the text
        feats = text_features(subject.text)
        acts = {(k, g): v[g] for k, v in enumerate(layers) for g in RANKED_GATES if g in v}
        result.cells = [c.as_dict() for c in rank_cells(acts, feats, top)]
        corr = {key: correlations(v, feats) for key, v in acts.items()}
        result.best = {name: c.as_dict() for name, c in best_per_feature(acts, feats).items()}
        page = folder / "cells.html"
        _write(lambda p: write_cells_page(p, subject.text, acts, corr, list(FEATURES),
                                          result.cells, f"{subject.title}: cells"),
               page, "cells page")  # fmt: skip
        result.files.append(page)

    structure = describe(subject)
    png, svg = folder / "structure.png", folder / "structure.svg"
    _write(lambda p: plot_structure(structure, p, svg), png, "structure diagram")
    result.files += [png, svg]

    chosen = cells if cells else _cells(layers[layer], result.cells, layer)
    gates_png = folder / "gates.png"
    _write(lambda p: plot_gates(layers[layer], chosen, p, subject.text, subject.series,
                                subject.series_names, f"{subject.title}: layer {layer}"),
           gates_png, "gate plot")  # fmt: skip
    result.files.append(gates_png)

    fractions = {
        k: {g: saturation(v[g]) for g in SIGMOID_GATES if g in v} for k, v in enumerate(layers)
    }
    if any(fractions.values()):  # a plain RNN has no gates to saturate
        sat = folder / "saturation.png"
        title = f"{subject.title}: {len(layers[0]['h'])} steps, {rnn.mode.split('_')[0]} gates"
        _write(lambda p: plot_saturation(fractions, p, title), sat, "saturation plot")
        result.files.append(sat)
    return result
