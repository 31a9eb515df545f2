"""Graves (2013) on Hershey lines: the synthesis network vs the prediction network and a
single-Gaussian head, at an equal budget of steps, and the synthesis network's window.

    python benchmarks/handwriting.py --steps 500 --out /tmp/handwriting-bench
    python benchmarks/handwriting.py --steps 500 --out /tmp/handwriting-bench --scored

(``--scored``: the runs in --out are there already; score them again without training.)

Three runs of ``rnnkit handwriting train``, one after the other, one torch thread each, the
same ``--max-steps`` (the same batches of the same lines, in the same order):

- **synthesis**: ``--synthesis`` (the soft window over the text), ``--mixtures 20``;
- **prediction**: the same network without the window (it never sees the text);
- **synthesis M=1**: the synthesis network with one bivariate Gaussian per point.

They share everything else: the Hershey lines (``--dataset hershey``, the script faces, the
built-in word list; the same seed, so the same lines and splits), the sizes and the
optimizer. Each picks its best.safetensors on its validation lines; the table scores each on
the test lines, which nothing was chosen by: negative log-likelihood of the normalised
offsets (nats) per point and per line (lower is better), the difference to the synthesis
network per point, and its ratio: exp(difference), how many times the density the synthesis
network gives a held-out point is the other's, on average in the log. The wall time each
took is printed too: the synthesis network's first layer runs step by step (its window feeds
its next step), the prediction network's LSTMs run fused, so per step it is the cheaper one.

Then, for the synthesis network (its best checkpoint): the window over the test lines
(teacher-forced), its mean position the alpha-weighted mean of the Gaussians' kappa: the share
of lines where it never moves back half a character or more (and never more than 0.01), and
the share where it ends past the last character's position (the claim: >= 95%) and past the
middle between it and the end marker; and a sample of every
character of its alphabet alone (bias 2, seed 0), which must render: finite points, the
window past the end within 60 points. The figures go to --out: lines.png (every character),
line.svg and line.png (a sampled line), window.png (Graves Fig. 13), density.png (Fig. 10).

How the numbers were chosen: the sizes (3 x LSTM 128, 20 mixtures, 10 window Gaussians,
batch 32) and ``--point-spacing 5`` (about 18 points per character, where the default 3 gives
about 30) make a few hundred steps fit in minutes on 2 CPU cores; they were set from the
validation loss of short trial runs, never from the test lines. The machine was shared with
other jobs while this ran, so the times are only what each run got.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.strokes import offsets_to_strokes, points_to_offsets
from rnnkit.tasks.handwriting import Alphabet, load_model, window_alignment, write_text
from rnnkit.tasks.handwriting.api import load_splits
from rnnkit.viz.handwriting import plot_density, plot_strokes, plot_window, strokes_svg

COMMON = (
    "--hidden-size 128 --num-layers 3 --window-mixtures 10 --batch-size 32 --point-spacing 5 "
    "--lines 3000 --max-words 2 --eval-every 100 --threads 1 --no-tensorboard --no-progress"
).split()
RUNS = {
    "synthesis": ["--synthesis", "--mixtures", "20"],
    "prediction": ["--mixtures", "20"],
    "synthesis M=1": ["--synthesis", "--mixtures", "1"],
}


def train_all(out: Path, steps: int) -> dict[str, Path]:
    """Train the three runs, one after the other; their run directories."""
    dirs = {}
    for name, flags in RUNS.items():
        dirs[name] = out / name.replace(" ", "_").replace("=", "")
        argv = [sys.executable, "-m", "rnnkit", "handwriting", "train", "--out", str(dirs[name])]
        with open(out / f"{dirs[name].name}.log", "w") as log:
            code = subprocess.call(
                [*argv, *COMMON, *flags, "--max-steps", str(steps)], stdout=log, stderr=log
            )
        if code != 0:
            raise SystemExit(f"{name}: training failed; see {dirs[name]}.log")
        print(f"trained {name} ({steps} steps)", flush=True)
    return dirs


def glyph_sheet(model, alphabet: Alphabet, out: Path) -> tuple[int, list[str]]:
    """Write every character of ``alphabet`` alone; (how many rendered, those that did not),
    and a row of them all at out/lines.png."""
    failed, row, pen = [], [], 0.0
    for c in alphabet.chars.replace(" ", ""):
        w = write_text(model, alphabet, c, bias=2.0, seed=0, max_points=60)
        if not (w.finished and np.isfinite(w.offsets).all() and len(w.offsets) > 1):
            failed.append(c)
            continue
        strokes = offsets_to_strokes(w.offsets)
        points = np.concatenate(strokes)  # (N, 2)
        shift = np.array([pen - points[:, 0].min(), -points[:, 1].mean()])
        row += [s + shift for s in strokes]
        pen += float(np.ptp(points[:, 0])) + 10.0
    if row:
        plot_strokes(points_to_offsets(row), out / "lines.png", "every character, bias 2")
    return len(alphabet.chars.replace(" ", "")) - len(failed), failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps of each run")
    parser.add_argument("--out", default="handwriting-bench", help="folder for runs and figures")
    parser.add_argument("--scored", action="store_true", help="score the runs in --out again")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    if args.scored:
        dirs = {name: out / name.replace(" ", "_").replace("=", "") for name in RUNS}
    else:
        out.mkdir(parents=True, exist_ok=False)
        dirs = train_all(out, args.steps)
    rows = {}
    for name, run in dirs.items():
        s = json.loads((run / "summary.json").read_text())
        rows[name] = (s["test_nll_per_point"], s["test_nll_per_sequence"], s["wall_time"])
    ref_point, ref_line, _ = rows["synthesis"]
    n = json.loads((dirs["synthesis"] / "summary.json").read_text())["test_n"]
    print(f"\nheld-out NLL, {n} test lines, {args.steps} steps each (nats; lower is better; "
          f"one thread each, machine shared)")  # fmt: skip
    print(f"{'network':<15} {'per point':>10} {'per line':>10} {'diff/pt':>8} "
          f"{'density x':>9} {'time s':>7}")  # fmt: skip
    for name, (point, line, seconds) in rows.items():
        print(f"{name:<15} {point:10.4f} {line:10.2f} {point - ref_point:+8.4f} "
              f"{np.exp(point - ref_point):9.3f} {seconds:7.0f}")  # fmt: skip
    print(
        "(density x: exp(diff/pt), the synthesis network's density of a held-out point over "
        "this network's, geometric mean)"
    )
    for name in ("prediction", "synthesis M=1"):
        verdict = "below" if ref_point < rows[name][0] else "NOT below"
        print(f"synthesis NLL {verdict} the {name} network's")

    model, cfg, meta = load_model(dirs["synthesis"], "cpu")
    alphabet = Alphabet(meta["alphabet"])
    align = window_alignment(model, load_splits(cfg).test, alphabet)
    print(f"\nwindow over {align['n']} test lines (teacher-forced): never moves back half a "
          f"character in {100 * align['monotone']:.1f}% (never more than 0.01 in "
          f"{100 * align['monotone_strict']:.1f}%); ends past the last character's position "
          f"in {100 * align['past_last']:.1f}% (claim: >= 95%), past the middle between it and "
          f"the end marker in {100 * align['past_end']:.1f}% (the median line ends "
          f"{align['end_median']:+.2f} characters from the last one's position)")  # fmt: skip
    rendered, failed = glyph_sheet(model, alphabet, out)
    print(
        f"every character alone (bias 2): {rendered} of {rendered + len(failed)} render"
        + (f"; not: {''.join(failed)!r}" if failed else "")
    )
    w = write_text(model, alphabet, "the quick fox", bias=1.0, seed=1)
    strokes_svg(w.offsets, out / "line.svg")
    plot_strokes(w.offsets, out / "line.png", "the quick fox (bias 1)")
    plot_window(w.phi, w.text, out / "window.png")
    plot_density(w.offsets, w.y, model.scale.numpy(), out / "density.png")
    print(f"figures: {out}/lines.png, line.svg, line.png, window.png, density.png")


if __name__ == "__main__":
    main()
