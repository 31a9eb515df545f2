"""Test accuracy of `rnnkit classify` next to the published numbers, over several seeds.

    python benchmarks/classify.py [--seeds 5] [--only GunPoint,JapaneseVowels] [--scale 1.0]

Each data set is trained with its own published train/test split by `rnnkit classify train`
(the CLI, in process) once per seed (seeds 0..N-1 change the initialization and the batch
order), then scored on the test split with the weights that `best.safetensors` holds. As in
both papers' code, the checkpoint is chosen by the *training* loss (``--val-fraction 0``): the
test split is never used for selection.

Peers (published test accuracy):
- GunPoint, ItalyPowerDemand: LSTM-FCN, Karim, Majumdar, Darabi & Chen 2018 (IEEE Access),
  Table 2: 100% and 96.2% (their best number of LSTM cells, 8/64/128, per data set).
- JapaneseVowels: FCN, Fawaz et al. 2019 (Data Mining and Knowledge Discovery), the mean
  over their runs: 99.3%.
- Fashion-MNIST read row by row (28 steps of 28 pixels): the GRU entries of the Fashion-MNIST
  benchmark table (Agarap's GRU+SVM: 88.8%, with dropout: 89.7%).

``--scale`` multiplies every training budget (0.25 for a quick look). The ratio column is
ours / published: 1.00 means a match, above 1 better. Timings are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

from rnnkit.cli import main as rnnkit_main

LSTM_FCN = ["--model", "lstm_fcn", "--dropout", "0.8", "--batch-size", "128", "--lr", "1e-3"]
# name -> (flags, training steps, published accuracy (low, high), peer)
RECIPES: dict[str, tuple[list[str], int, tuple[float, float], str]] = {
    "GunPoint": (LSTM_FCN, 1000, (1.000, 1.000), "LSTM-FCN (Karim et al. 2018)"),
    "ItalyPowerDemand": (LSTM_FCN, 500, (0.962, 0.962), "LSTM-FCN (Karim et al. 2018)"),
    "JapaneseVowels": (LSTM_FCN, 900, (0.993, 0.993), "FCN (Fawaz et al. 2019)"),
    "FashionMNIST": (
        ["--cell", "gru", "--hidden-size", "128", "--batch-size", "128", "--lr", "2e-3"],
        8 * 422,  # 8 epochs of the 54000 images left after validation, in batches of 128
        (0.888, 0.897),
        "GRU+SVM (Fashion-MNIST benchmark)",
    ),
}
COMMON = ["--val-fraction", "0", "--no-tensorboard", "--warmup-steps", "50"]


def run_one(name: str, seed: int, scale: float, threads: int, root: Path) -> dict:
    """Train one seed of one recipe; returns its summary.json (with test_accuracy)."""
    flags, steps, _, _ = RECIPES[name]
    steps = max(1, round(steps * scale))
    out = root / f"{name}-seed{seed}"
    argv = ["classify", "train", "--dataset", name, "--out", str(out), *COMMON, *flags]
    argv += ["--max-steps", str(steps), "--eval-every", str(max(1, steps // 10))]
    argv += ["--seed", str(seed), "--threads", str(threads)]
    if name == "FashionMNIST":  # 60000 training images: select on a 10% validation split
        argv += ["--val-fraction", "0.1"]
    start = time.perf_counter()
    with open(root / f"{name}-seed{seed}.log", "w") as log:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = rnnkit_main(argv)
    if code != 0:
        raise RuntimeError(f"{name} seed {seed}: rnnkit exited with {code}; see {log.name}")
    summary = json.loads((out / "summary.json").read_text())
    summary["seconds"] = time.perf_counter() - start
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", default=",".join(RECIPES), help="comma-separated data sets")
    parser.add_argument("--scale", type=float, default=1.0, help="budget multiplier")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fashion-seeds", type=int, default=1, help="seeds for FashionMNIST")
    parser.add_argument("--keep", default="", help="keep the runs in this folder")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        parser.error(f"--only: unknown {unknown}; known: {', '.join(RECIPES)}")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        for name in names:
            seeds = args.fashion_seeds if name == "FashionMNIST" else args.seeds
            results = []
            for seed in range(seeds):
                summary = run_one(name, seed, args.scale, args.threads, root)
                results.append(summary)
                print(
                    f"{name} seed {seed}: test accuracy {summary['test_accuracy']:.4f} "
                    f"({summary['steps']} steps, {summary['seconds']:.0f} s)",
                    flush=True,
                )
            rows.append((name, results))

    print()
    header = f"{'data set':<17} {'ours: mean ± std (min-max)':<30} {'published':<12} "
    print(header + f"{'ratio':>6}  {'s/seed':>7}  peer")
    for name, results in rows:
        accuracies = [r["test_accuracy"] for r in results]
        mean = statistics.mean(accuracies)
        std = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        low, high = RECIPES[name][2]
        published = f"{low:.3f}" if low == high else f"{low:.3f}-{high:.3f}"
        ours = f"{mean:.4f} ± {std:.4f} ({min(accuracies):.3f}-{max(accuracies):.3f})"
        seconds = statistics.mean(r["seconds"] for r in results)
        print(
            f"{name:<17} {ours:<30} {published:<12} {mean / high:>6.3f}  {seconds:>7.0f}  "
            f"{RECIPES[name][3]}, n={len(results)}"
        )


if __name__ == "__main__":
    main()
