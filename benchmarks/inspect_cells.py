"""Do the cells of a trained charlm track features of Python source? rnnkit inspect's claim.

    python benchmarks/inspect_cells.py --run RUN     # a run of `rnnkit charlm train --out RUN`
    python benchmarks/inspect_cells.py --minutes 15  # trains one first: the defaults, stdlib

The claim (issue 18): a charlm trained 15 minutes with its defaults on Python's standard
library has a cell whose activation correlates >= 0.6 (|r|) with "inside a string literal" or
with indentation on held-out text. The peer is the same network untrained (its initial
weights, seed 0): what a random recurrent network's cells correlate with by chance and by the
input alone, so that the ratio trained / untrained says what training added.

How the numbers are chosen: the text is the run's held-out tail (the last ``--val-fraction`` of
the corpus, never trained on; charlm's default corpus is the standard library's source). Its
first ``--chars`` characters *select*, for each feature, the cell (over both layers, c and h,
every unit) with the largest |r| (the ranking ``rnnkit inspect --json`` prints); the next
``--chars`` characters, which the selection never saw, *score* that cell. Selecting and scoring
on the same text would inflate |r| (the best of 3,000 cells is picked); the table shows both.
The thresholds 0.1/0.9 of saturation and the feature definitions are the inspect command's.
Finally ``rnnkit inspect`` writes its files for the scoring text into ``--out`` and, where
chromium is installed, a screenshot of cells.html on the best string/indent cell.

This machine is shared: nothing here is timed, but training for a wall-clock budget on a busy
machine gets fewer steps; the run's summary.json says how many.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.text import Corpus, split_corpus
from rnnkit.inspect import inspect_run, trace_subject
from rnnkit.inspect.analysis import FEATURES, best_per_feature, correlations, text_features
from rnnkit.inspect.subjects import load_subject
from rnnkit.tasks.charlm.config import Config
from rnnkit.tasks.charlm.model import CharLMNet
from rnnkit.train.config import config_from_dict

CLAIM = 0.6
CLAIMED = ("in_string", "indent")
GATES = ("c", "h")


def trace_text(run: Path, text: Path, chars: int, model: torch.nn.Module | None = None):
    """({(layer, gate): (T, K)} activations, the text read): the run's model (or ``model``)."""
    subject = load_subject(run, text=text, chars=chars)
    if model is not None:
        subject = dataclasses.replace(subject, model=model)
    layers = trace_subject(subject)
    return {(k, g): layer[g] for k, layer in enumerate(layers) for g in GATES}, subject.text


def score(acts: dict, feats: dict, chosen: dict) -> dict[str, float]:
    """{feature: r of its chosen cell (a ``Ranked``)} on another text."""
    out = {}
    for name, c in chosen.items():
        values = acts[(c.layer, c.gate)][:, c.cell : c.cell + 1]  # (T, 1)
        out[name] = float(correlations(values, {name: feats[name]})[0, 0])
    return out


def train(out: Path, minutes: float) -> Path:
    """``rnnkit charlm train`` with its defaults for ``minutes`` (one thread), into out/run."""
    run = out / "run"
    argv = [sys.executable, "-m", "rnnkit", "charlm", "train", "--out", str(run),
            "--max-time", str(60 * minutes), "--threads", "1", "--sample-every", "0",
            "--no-progress"]  # fmt: skip
    print("training:", " ".join(argv[2:]), flush=True)
    subprocess.run(argv, check=True)
    return run


def screenshot(page: Path, cell: tuple[int, str, int], path: Path) -> bool:
    """A screenshot of ``page`` showing ``cell`` (chromium, headless); False without it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        return False
    layer, gate, k = cell
    url = page.resolve().as_uri() + f"#layer={layer}&gate={gate}&cell={k}"
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]
        flags += [f"--screenshot={path}", "--window-size=1400,1000"]
        subprocess.run([browser, *flags, url], capture_output=True, timeout=300)
    return path.is_file()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a charlm run (default: train one)")
    parser.add_argument("--minutes", type=float, default=15.0, help="training time without --run")
    parser.add_argument("--chars", type=int, default=10_000, help="characters to select, to score")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "rnnkit-inspect")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    run = args.run or train(args.out, args.minutes)
    cfg = config_from_dict(Config, json.loads((run / "config.json").read_text()))
    summary = (
        json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
    )
    corpus = Corpus.load(run)
    _, held_out = split_corpus(np.asarray(corpus.ids), cfg.val_fraction)
    if len(held_out) < 2 * args.chars:
        raise SystemExit(f"the held-out text has {len(held_out)} characters; pass --chars smaller")
    texts = {}
    for part, ids in (
        ("select", held_out[: args.chars]),
        ("score", held_out[args.chars : 2 * args.chars]),
    ):
        texts[part] = args.out / f"{part}.txt"
        texts[part].write_text(corpus.vocab.decode(ids), encoding="utf-8")

    torch.manual_seed(0)
    untrained = CharLMNet(len(corpus.vocab), cfg).eval()  # the peer: the same net, untrained
    results = {}
    for name, model in (("trained", None), ("untrained", untrained)):
        acts, text = trace_text(run, texts["select"], args.chars, model)
        chosen = best_per_feature(acts, text_features(text))  # what inspect --json ranks
        del acts
        acts, text = trace_text(run, texts["score"], args.chars, model)
        results[name] = (chosen, score(acts, text_features(text), chosen))
        del acts

    print(
        f"\nrun {run}: {cfg.num_layers}-layer {cfg.model.upper()} {cfg.hidden_size}, "
        f"{summary.get('steps', '?')} steps ({summary.get('stop_reason', '?')}), "
        f"val {summary.get('best_val_loss', float('nan')):.4f} nats/char; this machine is shared"
    )
    print(
        f"cells chosen on {args.chars:,} held-out characters, scored on the next {args.chars:,}\n"
    )
    head = (
        f"{'feature':<14} {'trained cell':<14} {'r sel':>7} {'r held':>7}   "
        f"{'untrained cell':<14} {'r sel':>7} {'r held':>7}   {'|r| ratio':>9}"
    )
    print(head)
    print("-" * len(head))
    for feature in FEATURES:
        row = []
        for name in ("trained", "untrained"):
            chosen, held = results[name]
            c = chosen.get(feature)  # None: the feature is constant over the text
            row.append((f"L{c.layer} {c.gate}[{c.cell}]", c.r, held[feature]) if c else ("-", 0, 0))
        ratio = abs(row[0][2]) / max(abs(row[1][2]), 1e-9)
        print(
            f"{feature:<14} {row[0][0]:<14} {row[0][1]:>+7.3f} {row[0][2]:>+7.3f}   "
            f"{row[1][0]:<14} {row[1][1]:>+7.3f} {row[1][2]:>+7.3f}   {ratio:>9.2f}"
        )
    best = max(CLAIMED, key=lambda f: abs(results["trained"][1].get(f, 0.0)))
    r = results["trained"][1].get(best, 0.0)
    verdict = "holds" if abs(r) >= CLAIM else "does NOT hold"
    print(
        f"\nclaim |r| >= {CLAIM} for in_string or indent on held-out text: {verdict} "
        f"({best}, r = {r:+.3f})"
    )
    files = inspect_run(run, args.out / "inspect", text=texts["score"], chars=min(args.chars, 3000))
    c = results["trained"][0][best]
    shot = args.out / "cells.png"
    shown = screenshot(args.out / "inspect" / "cells.html", (c.layer, c.gate, c.cell), shot)
    where = args.out / "inspect"
    print(f"rnnkit inspect wrote {', '.join(p.name for p in files.files)} in {where}")
    if shown:
        print(f"screenshot of cells.html on cell L{c.layer} {c.gate}[{c.cell}] ({best}): {shot}")


if __name__ == "__main__":
    main()
