"""rnnkit charlm (its defaults) vs a plain hand-written torch.nn.LSTM script, at equal time.

    python benchmarks/charlm.py --data ../shared/data/tinyshakespeare.txt --minutes 15

Both models have the same size (rnnkit's default layers, hidden units, embedding, dropout,
sequence length and batch size, read from the run's config.json) and get the same first 90% of
the text for the same wall time, side by side (at the same time, each with the same torch
threads, so that whatever else the machine runs slows both alike). rnnkit holds its own
``--val-fraction`` of that 90% out (as ``--val-blocks`` blocks spread over it) to pick its best
checkpoint. Both are then scored
the same way on the last 10%, which neither run saw: every character once, the state carried
through 32 contiguous streams (the same procedure as ``rnnkit charlm eval``).

rnnkit runs as ``rnnkit charlm train --data FILE --max-time SECONDS`` (its defaults: AdamW,
warmup, then a linear decay over the last 20% of the time budget ("wsd"), batches that are
contiguous streams with the hidden state carried across them, dropout, gradient clipping; it
also spends part of its time on evaluations and checkpoints). The plain script is what one
writes from the PyTorch docs: ``nn.Embedding`` + ``nn.LSTM`` + ``nn.Linear``, Adam at a
constant 2e-3, the gradient norm clipped to 5, random windows of the text from a zero state.

The table prints held-out nats/char (lower is better) and training chars/s of both, with the
ratio rnnkit / plain.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.text import load_corpus, scoring_batches, split_corpus
from rnnkit.tasks.charlm import EVAL_ROWS, load_model


def score(forward, ids: np.ndarray, seq_length: int = 256) -> float:
    """Validation nats/char: ``forward(x, state) -> (logits, state)`` over every character."""
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for x, y, tail in scoring_batches(ids, EVAL_ROWS, seq_length):
            if tail:  # the leftover continues the last stream: keep its state only
                state = tuple(s[:, -1:].contiguous() for s in state)
            logits, state = forward(x, state)  # (rows, t, V)
            flat = logits.reshape(-1, logits.size(-1))  # (rows * t, V)
            total += F.cross_entropy(flat, y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return total / count


def start_rnnkit(data: str, seconds: float, out: Path, extra: list[str]) -> subprocess.Popen:
    """Start training with the rnnkit CLI's defaults, in another process (its log: out.log)."""
    cmd = [sys.executable, "-m", "rnnkit.cli", "charlm", "train", "--data", data,
           "--out", str(out), "--max-time", str(seconds), "--no-tensorboard", *extra]  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    log = open(out.with_suffix(".log"), "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def finish_rnnkit(process: subprocess.Popen, out: Path) -> dict:
    """Wait for the rnnkit run; returns its numbers and config."""
    if process.wait():
        log = out.with_suffix(".log").read_text()[-3000:]
        raise SystemExit(f"rnnkit charlm train failed (exit {process.returncode}):\n{log}")
    summary = json.loads((out / "summary.json").read_text())
    config = json.loads((out / "config.json").read_text())
    model, _, _ = load_model(out / "last.safetensors")
    return {"config": config, "steps": summary["steps"], "chars_per_s": summary["throughput"],
            "forward": lambda x, s: model(x, state=s)[0]}  # fmt: skip


class PlainLSTM(nn.Module):
    """The hand-written model: embedding, LSTM, linear head."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)  # (B, T, H)
        return self.head(self.drop(out)), state  # (B, T, V)


def run_plain(train: np.ndarray, vocab: int, cfg: dict, seconds: float) -> dict:
    """The plain training loop: random windows, Adam 2e-3, clip 5, for ``seconds``."""
    torch.manual_seed(cfg["seed"])
    model = PlainLSTM(vocab, cfg["embedding_size"], cfg["hidden_size"], cfg["num_layers"],
                      cfg["dropout"])  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    data = torch.from_numpy(train.astype(np.int64))
    B, T = cfg["batch_size"], cfg["seq_length"]
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        starts = torch.randint(0, len(data) - T - 1, (B,))
        x = torch.stack([data[i : i + T] for i in starts])  # (B, T)
        y = torch.stack([data[i + 1 : i + T + 1] for i in starts])  # (B, T)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        steps += 1
        if steps % 100 == 0:
            print(f"plain: step {steps}, loss {loss.item():.4f}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    model.eval()
    return {"steps": steps, "chars_per_s": steps * B * T / elapsed, "forward": model}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a UTF-8 text file")
    parser.add_argument("--minutes", type=float, default=15.0, help="training time of each")
    parser.add_argument("--out", help="where rnnkit's run goes (default: a temporary folder)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--rnnkit-args", default="", help="extra flags for rnnkit (experiments)")
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    args = parser.parse_args()
    seconds = args.minutes * 60
    if args.threads:
        torch.set_num_threads(args.threads)
    extra = ["--threads", str(torch.get_num_threads()), *args.rnnkit_args.split()]
    corpus = load_corpus(args.data)
    train, val = split_corpus(np.asarray(corpus.ids), 0.1)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "rnnkit"
        # rnnkit gets the first 90% only: its own validation slice (which picks its best
        # checkpoint) comes out of that, and the last 10% stays text the run never saw
        train_file = Path(tmp) / "train.txt"
        train_file.write_text(corpus.vocab.decode(train), encoding="utf-8")
        # both train at the same time, side by side, so a busy machine slows both alike
        process = start_rnnkit(str(train_file), seconds, out, extra)
        while not (out / "config.json").exists() and process.poll() is None:
            time.sleep(0.2)  # the plain model takes rnnkit's size from its config.json
        config = json.loads((out / "config.json").read_text()) if process.poll() is None else {}
        theirs = run_plain(train, len(corpus.vocab), config, seconds) if config else None
        ours = finish_rnnkit(process, out)
        ours["val"] = score(ours["forward"], val)
    theirs["val"] = score(theirs["forward"], val)

    cfg = ours["config"]
    print(
        f"\ncharlm on {args.data}: {len(corpus.ids):,} chars, last {len(val):,} held out; "
        f"{args.minutes:g} min each, {torch.get_num_threads()} threads; both "
        f"{cfg['num_layers']}x{cfg['hidden_size']} {cfg['model'].upper()}, embedding "
        f"{cfg['embedding_size']}, batch {cfg['batch_size']}x{cfg['seq_length']}"
    )
    rows = [
        ("held-out nats/char", ours["val"], theirs["val"], "{:.4f}"),
        ("held-out bits/char", ours["val"] / math.log(2), theirs["val"] / math.log(2), "{:.4f}"),
        ("train chars/s", ours["chars_per_s"], theirs["chars_per_s"], "{:,.0f}"),
        ("steps", ours["steps"], theirs["steps"], "{:,}"),
    ]
    print(f"{'':20}{'rnnkit':>12}{'plain':>12}{'rnnkit/plain':>14}")
    for name, a, b, fmt in rows:
        print(f"{name:20}{fmt.format(a):>12}{fmt.format(b):>12}{a / b:>14.3f}")
    if args.json:
        keys = ("val", "chars_per_s", "steps")
        print(json.dumps({"rnnkit": {k: ours[k] for k in keys},
                          "plain": {k: theirs[k] for k in keys}}))  # fmt: skip


if __name__ == "__main__":
    main()
