"""What users expect of every task's training stack, through the CLI: --device auto, --config
FILE, no progress bar in a log, the runtime in summary.json and checkpoints, --threads auto."""

import json
import platform
import subprocess
import sys

import pytest
import torch
from cli_helpers import TEXT, fails, train_argv

import rnnkit.train.runtime as run_module
from rnnkit import __version__
from rnnkit.cli import main
from rnnkit.train.checkpoint import load_checkpoint
from rnnkit.train.runtime import resolve_device, resolve_threads

TASKS = ("charlm", "classify", "forecast")


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as one without CUDA or MPS, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(run_module, "_mps_available", lambda: False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny run of each task, trained with the default --device (auto) and --threads 0
    (auto): {task: (data folder, run directory)}."""
    made = {}
    for task in TASKS:
        folder = tmp_path_factory.mktemp(task)
        argv = train_argv(task, folder, folder / "run", "--threads", "0")
        with pytest.MonkeyPatch.context() as mp:  # the verdict must not depend on the machine
            mp.setattr(torch.cuda, "is_available", lambda: False)
            mp.setattr(run_module, "_mps_available", lambda: False)
            assert main(argv) == 0
        made[task] = folder, folder / "run"
    return made


def config_of(run):
    return json.loads((run / "config.json").read_text())


# --- 1. --device auto ----------------------------------------------------------------------------


def test_auto_is_cpu_without_cuda_or_mps(no_gpu):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_picks_cuda_then_mps_when_available(monkeypatch):
    monkeypatch.setattr(run_module, "_mps_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("mps")


@pytest.mark.parametrize(
    "device, cuda_devices, message",
    [
        ("cuda", 0, "--device cuda: torch sees no CUDA device here; use --device auto or cpu"),
        ("cuda:1", 0, "--device cuda:1: torch sees no CUDA device here"),
        ("cuda:2", 2, "--device cuda:2: torch sees 2 CUDA device(s) here (cuda:0..cuda:1)"),
        ("mps", 0, "--device mps: torch sees no Apple MPS device here; use --device auto or cpu"),
        ("gpu", 0, "--device: expected auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps"),
    ],
)
def test_a_device_not_here_is_one_line(tmp_path, capsys, monkeypatch, no_gpu, device,
                                       cuda_devices, message):  # fmt: skip
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda_devices > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda_devices)
    for task in TASKS:
        out = tmp_path / task / "run"
        (tmp_path / task).mkdir()
        fails(train_argv(task, tmp_path / task, out, "--device", device), capsys, message)
        assert not out.exists()


def test_the_verbs_take_device(runs, tmp_path, capsys, no_gpu):
    charlm, classify, forecast = (runs[t][1] for t in TASKS)
    for device in ("auto", "cpu"):
        assert main(["charlm", "sample", str(charlm), "--length", "5", "--device", device]) == 0
        assert main(["charlm", "eval", str(charlm), "--data", str(runs["charlm"][0] / "corpus.txt"),
                     "--device", device]) == 0  # fmt: skip
        data = str(runs["classify"][0] / "sequences.npz")
        assert main(["classify", "predict", str(classify), "--data", data, "--device", device]) == 0
        assert main(["classify", "eval", str(classify), "--plot", "none", "--device", device]) == 0
        assert main(["forecast", "predict", str(forecast), "--device", device]) == 0
        assert main(["forecast", "eval", str(forecast), "--plot", "none", "--device", device]) == 0
    capsys.readouterr()
    for argv in (
        ["charlm", "sample", charlm], ["charlm", "eval", charlm, "--data", "x"],
        ["classify", "predict", classify, "--data", "x"], ["classify", "eval", classify],
        ["forecast", "predict", forecast], ["forecast", "eval", forecast],
    ):  # fmt: skip
        fails([*map(str, argv), "--device", "cuda"], capsys, "--device cuda: torch sees no CUDA")


def test_the_numpy_engine_takes_auto_and_refuses_other_devices(runs, tmp_path, capsys, no_gpu):
    folder, run = runs["charlm"]
    out = tmp_path / "numpy"
    assert main(train_argv("charlm", folder, out, "--engine", "numpy")) == 0
    assert config_of(out)["device"] == "auto"
    assert json.loads((out / "summary.json").read_text())["runtime"]["device"] == "cpu"
    fails(train_argv("charlm", folder, tmp_path / "x", "--engine", "numpy", "--device", "cuda"),
          capsys, "--device cuda: the NumPy engine runs on the CPU")  # fmt: skip
    assert main(["charlm", "sample", str(run), "--engine", "numpy", "--length", "3"]) == 0
    fails(["charlm", "sample", str(run), "--engine", "numpy", "--device", "mps"], capsys,
          "--device mps: the NumPy engine runs on the CPU only")  # fmt: skip


# --- 2. --config FILE ----------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_a_runs_config_reproduces_it_and_flags_go_over_it(runs, tmp_path, task):
    _, run = runs[task]
    again = tmp_path / "again"
    assert main([task, "train", "--out", str(again), "--config", str(run / "config.json")]) == 0
    assert config_of(again) == config_of(run)
    changed = tmp_path / "changed"  # the run directory itself names its config.json too
    assert main([task, "train", "--out", str(changed), "--config", str(run), "--seed", "7"]) == 0
    assert config_of(changed) == config_of(run) | {"seed": 7}


def test_toml_and_the_order_preset_file_flags(tmp_path, capsys):
    (tmp_path / "corpus.txt").write_text(TEXT)
    (tmp_path / "c.toml").write_text(
        f'data = "{tmp_path / "corpus.txt"}"\npreset = "min-char-rnn"\nhidden_size = 12\n'
        "seq_length = 8\nmax_steps = 3\nmax_time = 0\ntensorboard = false\n"
    )
    out = tmp_path / "run"
    argv = ["charlm", "train", "--out", str(out), "--config", str(tmp_path / "c.toml")]
    assert main([*argv, "--seq-length", "6"]) == 0
    cfg = config_of(out)
    assert (cfg["engine"], cfg["lr"]) == ("numpy", 0.1)  # the preset's
    assert (cfg["hidden_size"], cfg["max_steps"]) == (12, 3)  # the file's, over the preset's
    assert cfg["seq_length"] == 6  # the flag's, over the file's


def test_bad_config_files_and_resume_are_one_line(runs, tmp_path, capsys):
    folder, run = runs["forecast"]
    (tmp_path / "c.json").write_text('{"hiden_size": 4}')
    (tmp_path / "c.toml").write_text("hidden_size = [")
    cases = [
        ("c.json", f"--config {tmp_path / 'c.json'}: unknown config key(s) hiden_size"),
        ("c.toml", f"--config {tmp_path / 'c.toml'}: not valid TOML"),
        ("none.json", f"--config {tmp_path / 'none.json'}: cannot read it"),
    ]
    for name, message in cases:
        out = tmp_path / "out"
        fails(["forecast", "train", "--out", str(out), "--config", str(tmp_path / name)], capsys,
              message)  # fmt: skip
        assert not out.exists()
    message = f"--config {run}: a resumed run has its config (its config.json); drop --config"
    fails(
        ["forecast", "train", "--out", str(run), "--resume", "--config", str(run)], capsys, message
    )


# --- 3. progress: no bar in a log, none with --no-progress ---------------------------------------


def test_a_log_file_gets_no_progress_bar(tmp_path):
    log = tmp_path / "log.txt"
    argv = train_argv("charlm", tmp_path, tmp_path / "run")
    with open(log, "w") as f:
        done = subprocess.run([sys.executable, "-m", "rnnkit", *argv], stdout=f, stderr=f)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text
    assert "step 5: val loss" in text and "--- sample at step 6 ---" in text


@pytest.mark.parametrize("flags, shown", [([], True), (["--no-progress"], False)])
def test_no_progress_turns_the_bar_off_on_a_terminal(tmp_path, capsys, monkeypatch, flags, shown):
    monkeypatch.setattr("rnnkit.train.logging.is_terminal", lambda stream: True)
    assert main(train_argv("forecast", tmp_path, tmp_path / "run", *flags)) == 0
    out, err = capsys.readouterr()
    assert ("\r" in err) == shown
    assert "step 3: val loss" in out


# --- 4. the runtime in summary.json and every checkpoint -----------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_the_runtime_is_recorded(runs, task):
    _, run = runs[task]
    expected = {
        "rnnkit": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "device": "cpu", "threads": 1,  # auto: one thread for a small model
    }  # fmt: skip
    assert config_of(run)["device"] == "auto" and config_of(run)["threads"] == 0
    runtimes = [json.loads((run / "summary.json").read_text())["runtime"]]
    runtimes += [
        load_checkpoint(run / name)[1]["runtime"]
        for name in ("last.safetensors", "best.safetensors")
    ]
    for runtime in runtimes:
        assert {k: runtime[k] for k in expected} == expected


# --- 5. --threads 0: auto ------------------------------------------------------------------------


def test_auto_threads(monkeypatch):
    monkeypatch.setattr(run_module, "cpu_cores", lambda: 64)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert resolve_threads(3, 10**8) == 3  # as given
    assert resolve_threads(0, run_module.MANY_PARAMETERS - 1) == 1
    assert resolve_threads(0, 2_000_000) == 4  # half the cores, at most 4
    monkeypatch.setattr(run_module, "cpu_cores", lambda: 6)
    assert resolve_threads(0, 2_000_000) == 3
    monkeypatch.setattr(run_module, "cpu_cores", lambda: 2)
    assert resolve_threads(0, 2_000_000) == 1
    monkeypatch.setattr(run_module, "cpu_cores", lambda: 16)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun's processes share the cores
    assert resolve_threads(0, 2_000_000) == 2
