"""Bad input through the CLI: one line on stderr and exit 2, never a traceback, and nothing of
the user's (a run, its checkpoints, the input data) written over."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import fails, snapshot, train_argv

from rnnkit.cli import main
from rnnkit.tasks.charlm import cli as charlm_cli
from rnnkit.tasks.classify import cli as classify_cli
from rnnkit.tasks.forecast import cli as forecast_cli
from rnnkit.train.checkpoint import load_checkpoint, save_checkpoint

TASKS = ("charlm", "classify", "forecast")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny trained run of each task: {task: (data folder, run directory)}."""
    made = {}
    for task in TASKS:
        folder = tmp_path_factory.mktemp(task)
        assert main(train_argv(task, folder, folder / "run")) == 0
        made[task] = folder, folder / "run"
    return made


def data_of(task, folder):
    """The data flags of a task's verbs on the data ``train_argv`` wrote into ``folder``."""
    return {
        "charlm": ["--data", folder / "corpus.txt"],
        "classify": ["--data", folder / "sequences.npz"],
        "forecast": ["--csv", folder / "series.csv"],
    }[task]


def argv(*parts):
    return [str(p) for p in parts]


def edited(source, target, edit):
    """A copy of the checkpoint ``source`` at ``target`` with ``edit(meta)`` applied to its
    metadata (which still parses)."""
    tensors, meta = load_checkpoint(source)
    edit(meta)
    save_checkpoint(target, tensors, meta)
    return target


# --- 2. predict never writes over the run, the checkpoint or the data it reads -------------------

PREDICT = {"classify": "--output", "forecast": "--out"}


@pytest.mark.parametrize("task", PREDICT)
def test_predict_output_never_over_the_run_or_the_input(runs, tmp_path, capsys, task):
    folder, run = runs[task]
    flag, data = PREDICT[task], data_of(task, folder)
    predict = argv(task, "predict", run, *data)
    before, data_before = snapshot(run), data[1].read_bytes()
    for name in ("best.safetensors", "last.safetensors", "config.json", "metrics.csv", ".rnnkit"):
        for extra in ([], ["--overwrite"]):
            fails(predict + argv(flag, run / name, *extra), capsys, "a file of the run itself")
    fails(predict + argv(flag, data[1], "--overwrite"), capsys, "that is the input")
    if task == "forecast":  # without --csv, the input is the run's own data
        fails(argv(task, "predict", run, flag, data[1], "--overwrite"), capsys, "that is the input")
    model = shutil.copy(run / "best.safetensors", tmp_path / "model.safetensors")
    fails(argv(task, "predict", model, *data, flag, model, "--overwrite"), capsys, "the input")
    fails(predict + argv(flag, tmp_path / "no" / "x.csv"), capsys, "no such directory")
    fails(predict + argv(flag, tmp_path), capsys, "a directory; pass a file path")
    assert snapshot(run) == before and data[1].read_bytes() == data_before

    other = tmp_path / "old.csv"
    other.write_text("old\n")
    fails(predict + argv(flag, other), capsys, "the file exists; pass --overwrite to replace it")
    assert other.read_text() == "old\n"
    assert main(predict + argv(flag, other, "--overwrite")) == 0
    assert other.read_text().startswith(("index,label,probability,", "id,time,value"))


# --- 6. out of memory: one line naming the problem and the fix -----------------------------------


def test_a_model_too_large_for_memory(tmp_path, capsys):
    """A real allocation of petabytes: torch's allocator refuses it at once."""
    err = fails(
        train_argv("charlm", tmp_path, tmp_path / "run", "--hidden-size", "10000000"),
        capsys,
        "rnnkit charlm train: error: out of memory",
    )
    assert "use a smaller --hidden-size, --batch-size or --seq-length" in err
    assert not (tmp_path / "run").exists()


OUT_OF_MEMORY = [
    MemoryError(),
    torch.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 15.7 GiB"
    ),
    RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 1600000000000000 bytes. Error code 12 (Cannot allocate memory)"
    ),
]
TRAIN_OF = {
    "charlm": (charlm_cli, "train_run", "--hidden-size, --batch-size or --seq-length"),
    "classify": (classify_cli, "train_run", "--hidden-size or --batch-size"),
    "forecast": (forecast_cli, "fit_run", "--hidden-size, --batch-size or --input-length"),
}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("error", OUT_OF_MEMORY, ids=["MemoryError", "cuda", "cpu-allocator"])
def test_out_of_memory_is_one_line_with_the_fix(tmp_path, monkeypatch, capsys, task, error):
    module, name, flags = TRAIN_OF[task]

    def out_of_memory(*args, **kwargs):
        raise error

    monkeypatch.setattr(module, name, out_of_memory)
    err = fails(train_argv(task, tmp_path, tmp_path / "run"), capsys, "error: out of memory")
    assert f"use a smaller {flags}" in err
    if not isinstance(error, MemoryError):
        assert ("20 GiB" if "CUDA" in str(error) else "1.421 PiB") in err


def test_other_runtime_errors_still_show_their_traceback(tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("a bug in rnnkit")

    monkeypatch.setattr(charlm_cli, "train_run", bug)
    with pytest.raises(RuntimeError, match="a bug in rnnkit"):
        main(train_argv("charlm", tmp_path, tmp_path / "run"))


def test_the_cli_module_does_not_import_torch():
    code = "import sys, rnnkit.cli; print('torch' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.stdout.strip() == "False", shown.stderr


# --- 6. non-finite and out-of-range numbers -------------------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lr", "inf"], "--lr: expected a finite number, got inf"),
        (["--lr", "nan"], "--lr: expected a finite number, got nan"),
        (["--lr=-inf"], "--lr: expected a finite number, got -inf"),
        (["--dropout", "nan"], "--dropout: expected a finite number, got nan"),
        (["--seed", str(2**70)], "--seed: expected an int in 0..4294967295"),
        (["--threads", "100000"], "--threads: expected an int in 0..1024"),
    ],
)
def test_bad_numbers_are_refused_before_the_run_directory_is_touched(
    tmp_path, capsys, extra, message
):
    (tmp_path / "empty").mkdir()
    fails(train_argv("charlm", tmp_path, tmp_path / "empty", *extra), capsys, message)
    fails(train_argv("charlm", tmp_path, tmp_path / "new", *extra), capsys, message)
    assert os.listdir(tmp_path / "empty") == [] and not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--temperature", "nan"], "--temperature: expected a finite number >= 0, got nan"),
        (["--temperature", "inf"], "--temperature: expected a finite number >= 0, got inf"),
        (["--temperature=-1"], "--temperature: expected a finite number >= 0, got -1"),
        (["--seed", str(2**70)], "--seed: expected an int in 0..2**64-1"),
        (["--seed=-1"], "--seed: expected an int in 0..2**64-1"),
    ],
)
def test_bad_sampling_numbers(runs, capsys, extra, message):
    fails(argv("charlm", "sample", runs["charlm"][1], *extra), capsys, message)


def test_a_tiny_temperature_samples_as_greedy(runs, capsys):
    assert main(argv("charlm", "sample", runs["charlm"][1], "--temperature", "1e-300")) == 0


# --- 6. checkpoints whose metadata was edited (and still parses) ---------------------------------

VERBS = {
    "charlm": [["sample", "--length", "5"], ["eval"]],
    "classify": [["eval", "--plot", "none"], ["predict"]],
    "forecast": [["predict"], ["eval", "--plot", "none"]],
}
NOT_FIT = "the weights do not fit the model its metadata describes"


def drop(key):
    return lambda meta: meta.pop(key)


def set_config(key, value):
    return lambda meta: meta["config"].__setitem__(key, value)


def case(*values):
    """A parametrized case named by its second value (its first, for shorter ones)."""
    return pytest.param(*values, id=values[1] if len(values) == 4 else values[0])


EDITS = [
    case("charlm", "no-vocab", drop("vocab"), "the checkpoint's metadata lacks vocab"),
    case("charlm", "hidden-size", set_config("hidden_size", 12), NOT_FIT),
    case("charlm", "config-a-number", lambda m: m.__setitem__("config", 5), "expected an object"),
    case("charlm", "config-a-list", lambda m: m.__setitem__("config", [1]), "expected an object"),
    case("classify", "fewer-classes", lambda m: m["classes"].pop(), NOT_FIT),
    case("classify", "hidden-size", set_config("hidden_size", 12), NOT_FIT),
    case("classify", "no-classes", drop("classes"), "the checkpoint's metadata lacks classes"),
    case("forecast", "no-layout", drop("layout"), "the checkpoint's metadata lacks layout"),
    case("forecast", "hidden-size", set_config("hidden_size", 12), NOT_FIT),
    case("forecast", "config-null", lambda m: m.__setitem__("config", None), "expected an object"),
    case(
        "charlm",
        "vocab-a-number",
        lambda m: m.__setitem__("vocab", 5),
        "vocabulary is damaged",
    ),
    case(
        "classify",
        "classes-a-number",
        lambda m: m.__setitem__("classes", 5),
        "classes",
    ),
    case(
        "classify",
        "input-size-a-string",
        lambda m: m.__setitem__("input_size", "x"),
        "input_size",
    ),
    case(
        "forecast",
        "horizon-a-string",
        lambda m: m["layout"].__setitem__("horizon", "x"),
        "layout",
    ),
]


@pytest.mark.parametrize("task, name, edit, message", EDITS)
def test_an_edited_checkpoint_is_one_line(runs, tmp_path, capsys, task, name, edit, message):
    folder, run = runs[task]
    path = edited(run / "best.safetensors", tmp_path / f"{name}.safetensors", edit)
    for verb, *extra in VERBS[task]:
        data = [] if verb == "sample" else data_of(task, folder)
        fails(argv(task, verb, path, *data, *extra), capsys, message)


RESUME_EDITS = [
    case("no-step", drop("step"), "the checkpoint's metadata lacks step"),
    case("step-a-string", lambda m: m.__setitem__("step", "x"), "step is 'x', expected int"),
    case(
        "window-a-string", lambda m: m.__setitem__("window", "x"), "window is 'x', expected object"
    ),
    case("elapsed-null", lambda m: m.__setitem__("elapsed", None), "expected int or float"),
    case("config-a-number", lambda m: m.__setitem__("config", 3), "config is '3', expected object"),
    case(
        "no-state",
        drop("state"),
        "state",
    ),
]


@pytest.mark.parametrize("name, edit, message", RESUME_EDITS)
def test_resuming_an_edited_checkpoint_is_one_line(runs, tmp_path, capsys, name, edit, message):
    run = shutil.copytree(runs["charlm"][1], tmp_path / "run")
    edited(run / "last.safetensors", run / "last.safetensors", edit)
    before = snapshot(run)
    fails(argv("charlm", "train", "--out", run, "--resume"), capsys, message)
    assert snapshot(run) == before


# --- 7. past covariates beyond the horizon: refused before any training ---------------------------


def test_past_covariates_beyond_the_horizon_fail_before_training(tmp_path, capsys):
    message = (
        "a forecast of 8 periods with --horizon 4 would need the past covariates c after the "
        "series' end; train with --horizon >= 8"
    )
    extra = ["--covariates", "c", "--holdout", "8"]
    fails(train_argv("forecast", tmp_path, tmp_path / "run", *extra), capsys, message)
    assert not (tmp_path / "run").exists()
    (tmp_path / "empty").mkdir()
    fails(train_argv("forecast", tmp_path, tmp_path / "empty", *extra), capsys, message)
    assert not {"last.safetensors", "metrics.csv", "config.json"} & set(
        os.listdir(tmp_path / "empty")
    )
    # a run trained with them (holdout = horizon = 4) evaluates 4 periods, not 8
    assert main(train_argv("forecast", tmp_path, tmp_path / "ok", "--covariates", "c")) == 0
    capsys.readouterr()
    fails(argv("forecast", "eval", tmp_path / "ok", "--holdout", 8), capsys, message)


# --- 8. eval on a read-only run: the plot goes elsewhere (--plot) or nowhere (--plot none) --------

PLOTTERS = {
    "classify": (classify_cli, "plot_confusion"),
    "forecast": (forecast_cli, "plot_forecast"),
}


@pytest.mark.parametrize("task", PLOTTERS)
def test_eval_of_a_read_only_run(runs, tmp_path, monkeypatch, capsys, task):
    run = shutil.copytree(runs[task][1], tmp_path / "run")
    if os.geteuid() == 0:  # chmod does not stop root: the plot writer fails as it would
        module, name = PLOTTERS[task]
        draw = getattr(module, name)

        def read_only(items, *args):
            path = Path(args[-2] if task == "classify" else args[0])
            if path.parent == run:
                raise PermissionError(13, "Permission denied", str(path))
            return draw(items, *args)

        monkeypatch.setattr(module, name, read_only)
    before = snapshot(run)
    run.chmod(0o555)
    try:
        err = fails(argv(task, "eval", run), capsys, "(Permission denied); pass --plot FILE.png")
        assert "or --plot none" in err
        assert main(argv(task, "eval", run, "--plot", tmp_path / "other.png")) == 0
        assert (tmp_path / "other.png").stat().st_size > 0
        listing = sorted(os.listdir(tmp_path))
        assert main(argv(task, "eval", run, "--plot", "none")) == 0
        assert sorted(os.listdir(tmp_path)) == listing
    finally:
        run.chmod(0o755)
    assert snapshot(run) == before
    capsys.readouterr()
    fails(argv(task, "eval", run, "--plot", run / "loss.png"), capsys, "a file of the run itself")
    fails(argv(task, "eval", run, "--plot", tmp_path / "no" / "x.png"), capsys, "no such directory")
