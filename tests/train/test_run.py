"""rnnkit.train.run through the CLI: a user's folder is never written to, one process trains in a
run directory at a time, a run killed at any moment restarts or resumes, and a resumed run's
metrics.csv reads as if it had never stopped."""

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from cli_helpers import fails, snapshot, train_argv

from rnnkit.cli import main
from rnnkit.train.checkpoint import load_checkpoint
from rnnkit.train.logging import read_metrics
from rnnkit.train.trainer import Trainer

TASKS = ("charlm", "classify", "forecast")

# a child process that trains (``rnnkit ARGV``) and pauses, printing "paused": before its first
# checkpoint ("checkpoint", after config.json), or after training step AT ("step")
PAUSED_TRAIN = """
import sys, time
from rnnkit.cli import main
from rnnkit.train.trainer import Trainer

where, at = sys.argv[1], int(sys.argv[2])


def pause():
    print("paused", flush=True)
    time.sleep(300)


if where == "checkpoint":
    first = Trainer._evaluate_and_checkpoint

    def evaluate_and_checkpoint(self, log, lr):
        if not (self.out / "last.safetensors").exists():
            pause()
        return first(self, log, lr)

    Trainer._evaluate_and_checkpoint = evaluate_and_checkpoint
else:
    fit = Trainer.fit

    def fit_pausing(self):
        self.add_callback("step", lambda t: pause() if t.step == at else None)
        return fit(self)

    Trainer.fit = fit_pausing
sys.exit(main(sys.argv[3:]))
"""

# a child process that only holds a run directory (open_run), printing "paused"
HOLDER = """
import sys, time
from rnnkit.train.run import open_run

with open_run(sys.argv[1], False, "charlm"):
    print("paused", flush=True)
    time.sleep(300)
"""


@contextlib.contextmanager
def paused_child(script, *args, timeout=120.0):
    """Run ``python -c SCRIPT ARGS`` until it prints "paused"; yield it; kill -9 it after."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        output, deadline = b"", time.monotonic() + timeout
        while b"paused\n" not in output:
            ready, _, _ = select.select([child.stdout], [], [], deadline - time.monotonic())
            chunk = os.read(child.stdout.fileno(), 65536) if ready else b""
            if not chunk:
                raise AssertionError(f"the child did not pause (exit {child.poll()}): {output}")
            output += chunk
        yield child
    finally:
        kill_9(child)
        child.stdout.close()


def kill_9(child):
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.wait()


def rows(run):
    """metrics.csv as (step, kind, train_loss, val_loss, lr) rows, checked for repeats."""
    table = [
        (r["step"], "val" if r["val_loss"] is not None else "train", r["train_loss"],
         r["val_loss"], r["lr"])
        for r in read_metrics(run / "metrics.csv")
    ]  # fmt: skip
    repeated = [key for key, n in Counter(row[:2] for row in table).items() if n > 1]
    assert not repeated, f"rows logged twice: {repeated}"
    return table


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The metrics of a tiny charlm run that was never stopped."""
    folder = tmp_path_factory.mktemp("straight")
    assert main(train_argv("charlm", folder, folder / "run")) == 0
    return rows(folder / "run")


# --- 1. a user's folder as --out: refused, every file as it was ---------------------------------

USER_FILES = {
    "notes.txt": b"my notes\n",
    "summary.json": b'{"mine": true}\n',
    "loss.png": b"\x89PNG not rnnkit's",
    "metrics.csv": b"step,mine\n1,2\n",
}
# a downloaded model: config.json and weights, which an unmarked run also has
DOWNLOADED_MODEL = {"config.json": b'{"model_type": "bert"}\n', "model.safetensors": b"weights"}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("files", [USER_FILES, DOWNLOADED_MODEL], ids=["notes", "a-model"])
def test_a_users_folder_is_refused_untouched(tmp_path, capsys, task, files):
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "sub" / "more.txt").write_text("more\n")
    for name, data in files.items():
        (mine / name).write_bytes(data)
    before = snapshot(mine)
    for extra in ([], ["--resume"]):
        fails(train_argv(task, tmp_path, mine, *extra), capsys, "holds files rnnkit did not write")
    assert snapshot(mine) == before


# --- 3. one process trains in a run directory at a time ------------------------------------------


def test_a_held_directory_is_refused_and_kill_9_frees_it(tmp_path, capsys):
    run = tmp_path / "run"
    argv = train_argv("charlm", tmp_path, run)
    with paused_child(HOLDER, run) as holder:
        before = snapshot(run)
        message = f"another rnnkit process (pid {holder.pid}) is training in this directory"
        fails(argv, capsys, message)
        fails(argv + ["--resume"], capsys, message)
        assert snapshot(run) == before
        kill_9(holder)
    assert main(argv) == 0  # the lock went with the process


def test_kill_9_while_training_then_resume_reads_as_never_stopped(tmp_path, capsys, straight):
    """A child trains, checkpoints at step 5, logs steps 6 and 7 and is killed: a second train
    is refused while it lives; after kill -9 --resume continues from step 5, and metrics.csv
    equals the uninterrupted run's."""
    run = tmp_path / "run"
    argv = train_argv("charlm", tmp_path, run)
    with paused_child(PAUSED_TRAIN, "step", 7, *argv) as child:
        assert load_checkpoint(run / "last.safetensors")[1]["step"] == 5
        assert max(r["step"] for r in read_metrics(run / "metrics.csv")) == 7
        before = snapshot(run)
        fails(argv + ["--resume"], capsys, f"another rnnkit process (pid {child.pid})")
        fails(argv, capsys, f"another rnnkit process (pid {child.pid})")
        assert snapshot(run) == before
        kill_9(child)
    assert main(["charlm", "train", "--out", str(run), "--resume"]) == 0
    assert rows(run) == straight


# --- 4. a crash or kill between config.json and the first checkpoint ------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_a_crash_before_the_first_checkpoint_leaves_nothing(tmp_path, monkeypatch, task):
    def crash(self, log, lr):
        assert (self.out / "config.json").is_file()
        raise KeyboardInterrupt  # Ctrl-C twice

    monkeypatch.setattr(Trainer, "_evaluate_and_checkpoint", crash)
    assert main(train_argv(task, tmp_path, tmp_path / "new" / "run")) == 130
    assert not (tmp_path / "new").exists()  # the run and the parent made for it


def test_an_error_before_the_first_checkpoint_leaves_a_restartable_folder(
    tmp_path, monkeypatch, capsys
):
    """A folder that was there (empty) stays, and a new run goes into it."""
    (tmp_path / "run").mkdir()
    argv = train_argv("charlm", tmp_path, tmp_path / "run")

    def crash(self, log, lr):
        raise ValueError("the validation text cannot be read")

    monkeypatch.setattr(Trainer, "_evaluate_and_checkpoint", crash)
    assert main(argv) == 2
    last_line = capsys.readouterr().err.splitlines()[-1]  # after the progress bar
    assert last_line == "rnnkit charlm train: error: the validation text cannot be read"
    assert not (tmp_path / "run" / "last.safetensors").exists()
    monkeypatch.undo()
    assert main(argv) == 0


def test_a_run_that_never_checkpointed_restarts_without_resume(tmp_path, capsys, straight):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".rnnkit").write_text('{"task": "charlm"}\n')
    (run / "config.json").write_text('{"hidden_size": 16}\n')
    (run / "metrics.csv").write_text("step,train_loss,val_loss,lr,throughput,wall_time\n99,1,,,,\n")
    argv = train_argv("charlm", tmp_path, run)
    fails(argv + ["--resume"], capsys, "stopped before its first checkpoint; start it again")
    fails(argv + ["--resume"], capsys, "drop --resume")
    fails(train_argv("classify", tmp_path, run), capsys, "a run of `rnnkit charlm`")
    assert main(argv) == 0
    assert rows(run) == straight  # nothing of the stopped run is left in its metrics


def test_kill_9_before_the_first_checkpoint_then_rerun(tmp_path, capsys, straight):
    run = tmp_path / "run"
    argv = train_argv("charlm", tmp_path, run)
    with paused_child(PAUSED_TRAIN, "checkpoint", 0, *argv) as child:
        assert (run / "config.json").is_file() and not (run / "last.safetensors").exists()
        kill_9(child)
    fails(argv + ["--resume"], capsys, "drop --resume")
    assert main(argv) == 0
    assert rows(run) == straight


# --- 5. Ctrl-C, then --resume: metrics.csv reads as if the run had never stopped ------------------


@pytest.mark.parametrize(
    "event, at",
    [
        pytest.param("step", 5, id="before-eval-5"),  # stopped before the evaluation of step 5
        pytest.param("eval", 5, id="after-eval-5"),  # just after it (saved at step 6)
        pytest.param("step", 7, id="step-7"),
        pytest.param("step", 12, id="at-the-budget"),
    ],
)
def test_ctrl_c_then_resume_reads_as_never_stopped(tmp_path, monkeypatch, straight, event, at):
    run = tmp_path / "run"
    fit = Trainer.fit

    def fit_with_ctrl_c(self):
        self.add_callback(
            event, lambda t: os.kill(os.getpid(), signal.SIGINT) if t.step == at else 0
        )
        return fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_with_ctrl_c)
    assert main(train_argv("charlm", tmp_path, run)) == 130
    meta = load_checkpoint(run / "last.safetensors")[1]
    assert meta["step"] == at + (event == "eval")
    monkeypatch.undo()
    assert main(["charlm", "train", "--out", str(run), "--resume"]) == 0
    assert rows(run) == straight
