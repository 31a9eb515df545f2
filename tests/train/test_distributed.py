"""rnnkit.train.distributed: ``torchrun --nproc-per-node 2 -m rnnkit TASK train`` (DDP, gloo,
CPU) logs the losses of one process with the same global batch, writes the run directory from
rank 0 alone, and resumes at the same world size exactly and at another one."""

import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import torch.distributed as dist
from cli_helpers import FORECAST_TINY, TEXT, write_series

from rnnkit.cli import main
from rnnkit.train import distributed
from rnnkit.train.checkpoint import load_checkpoint
from rnnkit.train.logging import read_metrics

needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="this torch build has no torch.distributed with the gloo backend",
)

# tiny and exact: one thread, no dropout (masks differ across world sizes), no warmup
CHARLM = (
    "--hidden-size 16 --embedding-size 8 --num-layers 2 --batch-size 4 --seq-length 16 "
    "--max-time 0 --eval-every 3 --log-every 1 --sample-every 0 --warmup-steps 0 --threads 1 "
    "--dropout 0 --no-tensorboard"
).split()
# the recurrent classifier: LSTM-FCN's batch norm sees each rank's part alone on the CPU
CLASSIFY = (
    "--model rnn --hidden-size 8 --batch-size 4 --max-steps 10 --max-time 0 --eval-every 5 "
    "--log-every 1 --warmup-steps 0 --threads 1 --dropout 0 --no-tensorboard"
).split()


def torchrun(*argv, n=2) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node n -m rnnkit ARGV`` on this machine's CPU."""
    env = {k: v for k, v in os.environ.items() if k not in (*distributed.ENV, "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n)]
    # --standalone: the rendezvous takes a port the system assigns, so that runs side by side
    # (two test sessions, CI next to a developer) never meet on one port
    command += ["--standalone", "-m", "rnnkit", *map(str, argv)]
    # torchrun leaves a torchelastic_* folder in the temporary directory: give it one to lose
    with tempfile.TemporaryDirectory(prefix="rnnkit-torchrun-") as tmp:
        env["TMPDIR"] = tmp
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def one(capsys, *argv) -> None:
    """``rnnkit ARGV`` in this process (world size 1)."""
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()


def losses(run) -> dict[tuple[int, str], float]:
    """{(step, "train_loss" or "val_loss"): value} of a run's metrics.csv."""
    return {
        (r["step"], k): r[k]
        for r in read_metrics(run / "metrics.csv")
        for k in ("train_loss", "val_loss")
        if r[k] is not None
    }


def assert_same_losses(a, b, rel=1e-5) -> None:
    la, lb = losses(a), losses(b)
    assert la.keys() == lb.keys()
    for key in la:
        assert la[key] == pytest.approx(lb[key], rel=rel), key


def charlm(folder, out, *extra):
    (folder / "corpus.txt").write_text(TEXT, encoding="utf-8")
    return ["charlm", "train", "--data", folder / "corpus.txt", "--out", out, *CHARLM, *extra]


# ---------------------------------------------------------------------------------------------
# one process: nothing changes


def test_one_process_is_world_size_one(monkeypatch):
    for name in distributed.ENV:
        monkeypatch.delenv(name, raising=False)
    info = distributed.current()
    assert (info.rank, info.world_size, info.is_main, info.enabled) == (0, 1, True, False)
    with distributed.session() as info:
        assert not info.enabled and not dist.is_initialized()
    assert distributed.sum_over_ranks(1.5, 2.0) == (1.5, 2.0)


def test_from_env_reads_torchrun():
    found = distributed.from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (found.rank, found.world_size, found.local_rank, found.is_main) == (1, 4, 1, False)
    with pytest.raises(ValueError, match="0 <= RANK < WORLD_SIZE"):
        distributed.from_env({"RANK": "4", "WORLD_SIZE": "4"})


def test_shard_splits_a_partial_batch(monkeypatch):
    parts = []
    for rank in range(3):
        monkeypatch.setattr(distributed, "current", lambda r=rank: distributed.Distributed(r, 3))
        parts.append(distributed.shard(np.array([7, 8])))
    assert [(p.index.tolist(), p.empty) for p in parts] == [([7], False), ([8], False), ([7], True)]
    with pytest.raises(ValueError, match="--batch-size 4: .* divide by 3"):
        distributed.split_batch_size(4)


# ---------------------------------------------------------------------------------------------
# torchrun: two processes


@needs_gloo
def test_charlm_two_processes_log_the_losses_of_one(tmp_path, capsys):
    one(capsys, *charlm(tmp_path, tmp_path / "one", "--max-steps", 10))
    done = torchrun(*charlm(tmp_path, tmp_path / "two", "--max-steps", 10))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("done: 10 steps") == 1  # rank 0 alone prints
    assert_same_losses(tmp_path / "one", tmp_path / "two")
    names = {p.name for p in (tmp_path / "two").iterdir()}
    assert names == {p.name for p in (tmp_path / "one").iterdir()}  # rank 0 alone writes
    summary = (tmp_path / "two" / "summary.json").read_text()
    assert '"world_size": 2' in summary
    tensors, meta = load_checkpoint(tmp_path / "two" / "last.safetensors")
    assert not any("module." in k for k in tensors)  # the unwrapped model's keys
    assert tensors["state.0"].shape == (2, 4, 16)  # both ranks' streams: (layers, B, H)
    assert meta["world_size"] == 2


@needs_gloo
def test_classify_two_processes_log_the_losses_of_one(tmp_path, capsys):
    # 41 sequences of 5..12 steps: 29 to fit in batches of 4, the last of one sequence (a
    # stand-in part on rank 1)
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 13, 41)
    x = rng.normal(size=(41, 12, 2)).astype(np.float32)
    y = rng.integers(0, 3, 41)
    x[:, :, 0] += y[:, None]
    np.savez(tmp_path / "seq.npz", x=x, y=y, lengths=lengths)
    flags = ["classify", "train", "--data", tmp_path / "seq.npz", *CLASSIFY, "--out"]
    one(capsys, *flags, tmp_path / "one")
    done = torchrun(*flags, tmp_path / "two")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("test (") == 1  # rank 0 alone scores the test split
    assert_same_losses(tmp_path / "one", tmp_path / "two")
    rows = {r["step"]: r for r in read_metrics(tmp_path / "two" / "metrics.csv")}
    assert rows[8]["throughput"] < rows[7]["throughput"]  # step 8: one sequence, not two


@needs_gloo
def test_forecast_two_processes_log_the_losses_of_one(tmp_path, capsys):
    # 32 training windows in batches of 6: the last of two, one on each rank
    flags = ["forecast", "train", "--csv", write_series(tmp_path / "series.csv"), *FORECAST_TINY]
    flags += ["--batch-size", 6, "--max-steps", 10, "--log-every", 1, "--out"]
    one(capsys, *flags, tmp_path / "one")
    done = torchrun(*flags, tmp_path / "two")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("held-out 4 periods") == 1  # rank 0 alone scores the holdout
    assert_same_losses(tmp_path / "one", tmp_path / "two")
    assert (tmp_path / "two" / "eval.json").read_text() == (
        tmp_path / "one" / "eval.json"
    ).read_text()


@needs_gloo
def test_two_processes_resume_in_one(tmp_path, capsys):
    one(capsys, *charlm(tmp_path, tmp_path / "ref", "--max-steps", 6))
    one(capsys, *charlm(tmp_path, tmp_path / "ref", "--max-steps", 12, "--resume"))
    done = torchrun(*charlm(tmp_path, tmp_path / "run", "--max-steps", 6))
    assert done.returncode == 0, done.stderr
    one(capsys, *charlm(tmp_path, tmp_path / "run", "--max-steps", 12, "--resume"))
    assert max(step for step, _ in losses(tmp_path / "run")) == 12
    assert_same_losses(tmp_path / "ref", tmp_path / "run")


@needs_gloo
def test_one_process_resumes_in_two(tmp_path, capsys):
    one(capsys, *charlm(tmp_path, tmp_path / "ref", "--max-steps", 6))
    one(capsys, *charlm(tmp_path, tmp_path / "ref", "--max-steps", 12, "--resume"))
    one(capsys, *charlm(tmp_path, tmp_path / "run", "--max-steps", 6))
    done = torchrun(*charlm(tmp_path, tmp_path / "run", "--max-steps", 12, "--resume"))
    assert done.returncode == 0, done.stderr
    assert '"world_size": 2' in (tmp_path / "run" / "summary.json").read_text()
    assert_same_losses(tmp_path / "ref", tmp_path / "run")


@needs_gloo
def test_same_world_size_resumes_exactly_with_dropout(tmp_path):
    flags = ("--dropout", "0.2", "--schedule", "constant", "--max-steps")
    done = torchrun(*charlm(tmp_path, tmp_path / "ref", *flags, 12))
    assert done.returncode == 0, done.stderr
    done = torchrun(*charlm(tmp_path, tmp_path / "run", *flags, 6))
    assert done.returncode == 0, done.stderr
    done = torchrun(*charlm(tmp_path, tmp_path / "run", *flags, 12, "--resume"))
    assert done.returncode == 0, done.stderr
    # each rank's own dropout masks, its RNG state saved and restored: the very same losses
    assert losses(tmp_path / "ref") == losses(tmp_path / "run")


@needs_gloo
def test_a_batch_size_that_does_not_divide_is_refused(tmp_path):
    done = torchrun(*charlm(tmp_path, tmp_path / "run", "--max-steps", 2, "--batch-size", 3))
    assert done.returncode != 0
    line = "rnnkit charlm train: error: --batch-size 3: the global batch is split over the 2"
    assert line in done.stderr
    assert not (tmp_path / "run").exists()  # the directory made for the run is gone again
