"""Milliseconds per training step of each task's default model at 1, 2, 4 ... torch threads.

    python benchmarks/threads.py [--max-threads N] [--busy K] [--only charlm,classify]

Each task trains through the CLI, in process, with its defaults (only the budget and the
evaluations changed): charlm on 300 kB of the default corpus (2-layer LSTM 384, batch 32 x
128 characters), charlm's NumPy engine (the same model, BLAS threads), classify on GunPoint
(LSTM 128, a batch of 45 sequences x 150 steps), forecast on airline (LSTM 32, batch 32 x 24
periods). ``TorchEngine.train_step`` (``NumpyEngine.train_step``) is timed; the median of the
steps after the first few is shown, and the ratio to one thread (below 1: more threads are
faster). ``--busy K`` keeps K other processes spinning meanwhile, as on a shared machine.

Measured on this machine (2 cores, Intel Xeon, torch 2.13 CPU; median ms per step, and the
ratio to 1 thread):

    idle                 1 thread       2 threads
    charlm (torch)          542      319  x0.59
    charlm (numpy)          733      441  x0.60
    classify                 51.3     34.0 x0.66
    forecast                  2.06     2.08 x1.01

    --busy 1             1 thread       2 threads
    charlm (torch)          479     3414  x7.1
    charlm (numpy)         1528     2694  x1.8
    classify                 53.3    605  x11
    forecast                  2.19     6.35 x2.9

Hence ``--threads 0`` (auto, ``rnnkit.train.runtime.resolve_threads``): one thread for a model of
fewer than ``MANY_PARAMETERS`` (500k) parameters (forecast's defaults gain nothing from a
second thread, classify's a third when the machine is idle and lose 11x when it is not),
else half the cores, at most 4. Threads on every core wait for one another at each matrix
product, and any other process on the machine stalls them all (7x slower above, where the
idle machine gained 40%); half the cores leaves that room. On a 64-core machine, 4: one time
step's matrix products (batch x 4 hidden) are too small to split usefully further, and 64
threads per process would take the machine from everything else.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import rnnkit.tasks.charlm.cli
import rnnkit.tasks.classify.cli
import rnnkit.tasks.forecast.cli  # noqa: F401 (imported before any run: edits meanwhile stay out)
from rnnkit.cli import main
from rnnkit.data.text import default_corpus_files
from rnnkit.train.numpy_engine import NumpyEngine
from rnnkit.train.torch_engine import TorchEngine

# task -> (flags of the CLI, steps timed after WARMUP)
WARMUP = 2
COMMON = ["--no-tensorboard", "--no-progress", "--max-time", "0", "--eval-every", "100000"]


def _spin() -> None:
    while True:
        pass


def tasks(folder: Path) -> dict[str, tuple[list[str], int]]:
    text = "".join(f.read_text(encoding="utf-8") for f in default_corpus_files())[:300_000]
    corpus = folder / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    charlm = ["charlm", "train", "--data", str(corpus), "--sample-every", "0", "--eval-chars", "2"]
    return {
        "charlm (torch)": (charlm, 6),
        "charlm (numpy)": (charlm + ["--engine", "numpy"], 4),
        "classify": (["classify", "train", "--dataset", "GunPoint"], 30),
        "forecast": (["forecast", "train", "--dataset", "airline", "--holdout", "36"], 60),
    }


def time_steps(argv: list[str], steps: int, threads: int, out: Path) -> float:
    """The median milliseconds of a training step (after WARMUP) of ``rnnkit ARGV``."""
    times: list[float] = []
    originals = {cls: cls.train_step for cls in (TorchEngine, NumpyEngine)}

    def timed(original):
        def train_step(self, *args, **kwargs):
            start = time.perf_counter()
            result = original(self, *args, **kwargs)
            times.append(time.perf_counter() - start)
            return result

        return train_step

    for cls, original in originals.items():
        cls.train_step = timed(original)
    try:
        flags = ["--out", str(out), "--threads", str(threads), "--max-steps", str(WARMUP + steps)]
        code = main([*argv, *flags, *COMMON])
        if code != 0:
            raise SystemExit(f"rnnkit {' '.join(argv)} failed ({code})")
    finally:
        for cls, original in originals.items():
            cls.train_step = original
    return 1000 * statistics.median(times[WARMUP:])


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--busy", type=int, default=0, help="other processes spinning")
    parser.add_argument("--only", default="", help="comma-separated task names (prefixes)")
    args = parser.parse_args()
    counts = [1]
    while counts[-1] * 2 <= args.max_threads:
        counts.append(counts[-1] * 2)
    if counts[-1] != args.max_threads:
        counts.append(args.max_threads)
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    results: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, (argv, steps) in tasks(Path(tmp)).items():
                if args.only and not any(name.startswith(o) for o in args.only.split(",")):
                    continue
                results[name] = [
                    time_steps(argv, steps, n, Path(tmp, f"{name}-{n}".replace(" ", "")))
                    for n in counts
                ]
                print(f"# {name}: {results[name]}", flush=True)
    finally:
        for p in spinners:
            p.kill()
    print(f"\nms per step, {os.cpu_count()} cores, {args.busy} busy process(es)")
    print(f"{'':20}" + "".join(f"{f'{n} thread' + 's' * (n > 1):>16}" for n in counts))
    for name, row in results.items():
        cells = [f"{row[0]:.4g}"] + [f"{v:.4g} x{v / row[0]:.2f}" for v in row[1:]]
        print(f"{name:20}" + "".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main_()
