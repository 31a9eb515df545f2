"""Helpers the task tests share (on sys.path through pytest's ``pythonpath``)."""

from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.cli import main

# a small corpus and a tiny, fast charlm configuration
TEXT = "".join(
    f"{w} " for _ in range(60) for w in "the quick brown fox jumps over a lazy dog".split()
)
CHARLM_TINY = (
    "--hidden-size 16 --embedding-size 8 --batch-size 4 --seq-length 16 --max-steps 12 "
    "--max-time 0 --eval-every 5 --log-every 1 --sample-every 6 --sample-length 20 "
    "--warmup-steps 2 --no-tensorboard"
).split()


def fails(argv, capsys, message):
    """Assert that ``rnnkit ARGV`` exits 2 with ``message`` on one line of stderr; return it."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse exits by itself on a bad flag
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    return err


# tiny, fast classify and forecast configurations, and data for them
CLASSIFY_TINY = (
    "--hidden-size 4 --batch-size 8 --max-steps 6 --eval-every 3 --warmup-steps 0 --threads 1 "
    "--no-tensorboard"
).split()
FORECAST_TINY = (
    "--time t --target y --holdout 4 --horizon 4 --input-length 8 --hidden-size 4 --max-steps 6 "
    "--eval-every 3 --warmup-steps 0 --threads 1 --no-tensorboard --model reglstm"
).split()


def write_sequences(path):
    """40 labelled sequences (8 steps x 2 features) as .npz at ``path``; returns it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8, 2)).astype(np.float32)
    np.savez(path, x=x, y=np.where(x[:, 0, 0] > 0, "pos", "neg"))
    return path


def write_series(path):
    """One series of 48 periods (columns t, y and a covariate c) as CSV at ``path``."""
    t = np.arange(48)
    pd.DataFrame({"t": t, "y": np.sin(t / 3) + 0.1 * t, "c": np.cos(t)}).to_csv(path, index=False)
    return path


def train_argv(task, folder, out, *extra):
    """``rnnkit TASK train`` of the tiny config on data written into ``folder``, into ``out``."""
    if task == "charlm":
        (folder / "corpus.txt").write_text(TEXT, encoding="utf-8")
        flags = ["--data", folder / "corpus.txt", "--threads", "1", *CHARLM_TINY]
    elif task == "classify":
        flags = ["--data", write_sequences(folder / "sequences.npz"), *CLASSIFY_TINY]
    else:
        flags = ["--csv", write_series(folder / "series.csv"), *FORECAST_TINY]
    return [str(a) for a in (task, "train", "--out", out, *flags, *extra)]


def snapshot(folder):
    """{path relative to ``folder``: bytes (None for a folder)} of everything under it."""
    folder = Path(folder)
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }
