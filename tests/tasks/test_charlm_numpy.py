"""rnnkit charlm on the NumPy engine: --engine numpy, --preset min-char-rnn, and checkpoints that
sample and evaluate alike under both engines; on tiny data."""

import json
import os
import re
import signal

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_helpers import CHARLM_TINY as TINY
from cli_helpers import TEXT, fails

from rnnkit.cli import main
from rnnkit.data.text import StreamBatches, Vocab, load_corpus, split_corpus
from rnnkit.numpy import CharRNN, MinCharRNN, MinCharRNNConfig
from rnnkit.tasks.charlm import CharLMNet, Config, load_model
from rnnkit.tasks.charlm import numpy_engine as charlm_numpy
from rnnkit.tasks.charlm.numpy_engine import StreamRunner, numpy_model
from rnnkit.train.checkpoint import load_checkpoint, save_checkpoint, with_prefix
from rnnkit.train.config import config_to_dict
from rnnkit.train.logging import read_metrics
from rnnkit.train.torch_engine import build_optimizer

NUMPY = TINY + ["--engine", "numpy"]
PRESET = (
    "--preset min-char-rnn --hidden-size 16 --max-steps 30 --max-time 0 --eval-every 15 "
    "--log-every 1 --sample-every 10 --sample-length 20 --no-tensorboard"
).split()


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models: torch's thread pool costs more than it gives (much more on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def train(tmp_path, corpus_file, out, flags, *extra):
    argv = ["charlm", "train", "--data", str(corpus_file), "--out", str(tmp_path / out)]
    return main(argv + flags + list(extra))


# --- --engine numpy --------------------------------------------------------------------------


def test_train_numpy_writes_the_run_directory(tmp_path, corpus_file, capsys):
    assert train(tmp_path, corpus_file, "run", NUMPY) == 0
    run = tmp_path / "run"
    names = {"config.json", "metrics.csv", "summary.json", "loss.png", "last.safetensors",
             "best.safetensors", "corpus.npy", "corpus.json"}  # fmt: skip
    assert names <= set(os.listdir(run))
    out = capsys.readouterr().out
    assert "--- sample at step 6 ---" in out and "done: 12 steps (max_steps)" in out
    assert json.loads((run / "config.json").read_text())["engine"] == "numpy"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["unit"] == "char" and summary["throughput"] > 0
    rows = read_metrics(run / "metrics.csv")
    assert [r["step"] for r in rows if r["val_loss"] is not None] == [0, 5, 10, 12]
    losses = [r["train_loss"] for r in rows if r["train_loss"] is not None]
    assert len(losses) == 12 and losses[-1] < losses[0]  # it learns

    tensors, meta = load_checkpoint(run / "last.safetensors", task="charlm")
    assert (
        meta["engine"] == "numpy"
        and meta["step"] == 12
        and meta["vocab"] == "".join(sorted(set(TEXT)))
    )
    torch_keys = {f"model.{k}" for k in CharLMNet(len(meta["vocab"]), Config()).state_dict()}
    assert {k for k in tensors if k.startswith("model.")} == torch_keys
    assert {k for k in tensors if k.startswith("state")} == {"state.0", "state.1"}  # (h, c)
    assert "optim.exp_avg.rnn.weight_hh_l1" in tensors and meta["optim"]["type"] == "Adam"
    best, meta = load_checkpoint(run / "best.safetensors")
    assert "optim" not in meta and not any(k.startswith("optim.") for k in best)


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "rmsprop", "adagrad", "sgd"])
def test_numpy_steps_equal_the_torch_trainers(optimizer):
    """Same weights and batches: the engine's steps (clip, weight decay, optimizer) equal
    the torch trainer's (float64, no dropout), as torch.optim applies them."""
    cfg = Config(hidden_size=6, embedding_size=4, num_layers=2, batch_size=3, seq_length=5,
                 dropout=0.0, optimizer=optimizer, grad_clip=0.5, weight_decay=0.1, lr=0.01,
                 engine="numpy")  # fmt: skip
    ids = np.random.default_rng(0).integers(0, 9, 200)
    batches = StreamBatches(ids, cfg.batch_size, cfg.seq_length)
    ref = CharLMNet(9, cfg).double()
    runner = StreamRunner(cfg, Vocab("abcdefghi"), batches)
    runner.model = numpy_model(cfg, 9, weights={k: v.numpy() for k, v in ref.state_dict().items()})
    opt, state = build_optimizer(ref, cfg), None
    for step in range(4):
        x, y, reset = batches(step)
        (_, state), loss = ref(x, y, state=None if reset else state)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), cfg.grad_clip)
        opt.step()
        state = tuple(s.detach() for s in state)
        ours, _, _ = runner.train_step(step, cfg.lr)
        assert ours == pytest.approx(loss.item(), rel=1e-10)
    for name, value in ref.state_dict().items():
        np.testing.assert_allclose(runner.model.params[name], value.numpy(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "engine, flags",
    [
        ("torch", []),
        ("numpy", []),
        ("numpy", ["--model", "gru", "--embedding-size", "0", "--num-layers", "1"]),
        ("numpy", ["--model", "rnn", "--num-layers", "3"]),
    ],
)
def test_checkpoints_run_alike_under_both_engines(tmp_path, corpus_file, capsys, engine, flags):
    assert train(tmp_path, corpus_file, "run", TINY, "--engine", engine, *flags) == 0
    run = tmp_path / "run"
    assert load_checkpoint(run / "best.safetensors")[1]["engine"] == engine
    capsys.readouterr()
    # eval: the same nats/char under both engines (default: the engine that trained it)
    nats = {}
    for name in ("torch", "numpy", None):
        argv = ["charlm", "eval", str(run), "--data", str(corpus_file), "--json"]
        assert main(argv + (["--engine", name] if name else [])) == 0
        nats[name] = json.loads(capsys.readouterr().out)["nats_per_char"]
    assert nats["numpy"] == pytest.approx(nats["torch"], rel=1e-5)
    assert nats[None] == nats[engine]
    # the same next-character probabilities, with the state carried
    torch_model, vocab, _ = load_model(run, engine="torch")
    numpy_model_, _, _ = load_model(run, engine="numpy")
    assert isinstance(torch_model, CharLMNet) and isinstance(numpy_model_, CharRNN)
    ids = vocab.encode(TEXT[:50]).astype(np.int64)[None]  # (1, 50)
    with torch.no_grad():
        (logits, _), _ = torch_model(torch.from_numpy(ids))
    theirs = F.softmax(logits, -1).numpy()  # (1, 50, V)
    ours = np.exp(numpy_model_.log_probs(ids, numpy_model_.init_state(1))[0])
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # greedy samples: the same text from both engines
    texts = set()
    for name in ("torch", "numpy"):
        argv = ["charlm", "sample", str(run), "--prime", "the ", "--length", "40"]
        assert main(argv + ["--temperature", "0", "--engine", name]) == 0
        texts.add(capsys.readouterr().out)
    assert len(texts) == 1 and texts.pop().startswith("the ")
    assert main(["charlm", "sample", str(run), "--length", "30", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out) == 30 + 1


# --- resume, Ctrl-C, divergence --------------------------------------------------------------


def test_divergence_exits_1_and_keeps_the_checkpoint(tmp_path, corpus_file, capsys):
    flags = ["--optimizer", "sgd", "--lr", "1e6", "--grad-clip", "0", "--warmup-steps", "0"]
    assert train(tmp_path, corpus_file, "run", NUMPY, *flags) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "training stopped at step" in err and "last good checkpoint" in err
    tensors, meta = load_checkpoint(tmp_path / "run" / "last.safetensors", framework="np")
    assert meta["step"] == 0 and all(np.isfinite(v).all() for v in tensors.values())


PLATEAU = ["--schedule", "plateau", "--lr-decay", "0.5", "--lr-decay-every", "1"]
PLATEAU += ["--plateau-patience", "1"]  # the lr decays within the 12 steps


@pytest.mark.parametrize(
    "flags, runner",
    [(NUMPY, "StreamRunner"), (NUMPY + PLATEAU, "StreamRunner"), (PRESET, "PresetRunner")],
)
def test_ctrl_c_then_resume_is_exact(tmp_path, corpus_file, monkeypatch, flags, runner):
    assert train(tmp_path, corpus_file, "straight", flags) == 0

    cls = getattr(charlm_numpy, runner)
    train_step = cls.train_step

    def train_step_with_ctrl_c_at_step_7(self, step, lr):
        if step == 6:  # pressed during step 6: the run stops after it, at step 7
            os.kill(os.getpid(), signal.SIGINT)
        return train_step(self, step, lr)

    monkeypatch.setattr(cls, "train_step", train_step_with_ctrl_c_at_step_7)
    assert train(tmp_path, corpus_file, "resumed", flags) == 130
    assert load_checkpoint(tmp_path / "resumed" / "last.safetensors")[1]["step"] == 7
    monkeypatch.setattr(cls, "train_step", train_step)
    assert main(["charlm", "train", "--out", str(tmp_path / "resumed"), "--resume"]) == 0

    key = ("step", "train_loss", "val_loss", "lr")
    straight = read_metrics(tmp_path / "straight" / "metrics.csv")
    resumed = read_metrics(tmp_path / "resumed" / "metrics.csv")
    assert [[r[k] for k in key] for r in straight] == [[r[k] for k in key] for r in resumed]
    if "plateau" in flags:
        assert len({r["lr"] for r in straight if r["step"] > 7}) > 1  # decayed after the resume
    a, meta_a = load_checkpoint(tmp_path / "straight" / "last.safetensors", framework="np")
    b, meta_b = load_checkpoint(tmp_path / "resumed" / "last.safetensors", framework="np")
    assert a.keys() == b.keys() and meta_a["rng"] == meta_b["rng"]
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# --- --preset min-char-rnn -------------------------------------------------------------------


def test_preset_is_min_char_rnn_exactly(tmp_path, corpus_file, capsys):
    assert train(tmp_path, corpus_file, "run", PRESET) == 0
    out = capsys.readouterr().out
    # min-char-rnn's prints: a sample, then the smoothed loss, every 10 iterations here
    printed = re.findall(r"----\n (.*?) \n----\niter (\d+), loss: ([\d.]+)", out, re.S)
    assert [int(n) for _, n, _ in printed] == [0, 10, 20]
    # ... those of MinCharRNN itself on the training split, with the config's seed
    corpus = load_corpus(corpus_file)
    train_ids, _ = split_corpus(corpus.ids, Config().val_fraction)
    config = MinCharRNNConfig(hidden_size=16, sample_every=10, sample_length=20)
    seed = json.loads((tmp_path / "run" / "config.json").read_text())["seed"]
    loop = MinCharRNN(train_ids, len(corpus.vocab), config, seed=seed)
    steps = [loop.step() for _ in range(30)]
    for (sample, _, smooth), s in zip(printed, steps[::10], strict=True):
        assert sample == corpus.vocab.decode(s.sample) and smooth == f"{s.smooth_loss:f}"

    run = tmp_path / "run"
    tensors, meta = load_checkpoint(run / "last.safetensors", task="charlm")
    assert meta["engine"] == "numpy" and meta["config"]["preset"] == "min-char-rnn"
    assert meta["config"]["batch_size"] == 1 and meta["config"]["optimizer"] == "adagrad"
    assert meta["config"]["seq_length"] == 25 and meta["config"]["lr"] == 0.1
    np.testing.assert_array_equal(tensors["model.head.weight"].numpy(), loop.model.head.weight)
    assert tensors["model.rnn.weight_hh_l0"].dtype == torch.float64  # min-char-rnn's precision
    assert meta["min_char_rnn"]["smooth_loss"] == steps[-1].smooth_loss
    # the run samples and evaluates with both engines
    capsys.readouterr()
    nats = []
    for name in ("torch", "numpy"):
        argv = ["charlm", "eval", str(run), "--data", str(corpus_file), "--json", "--engine"]
        assert main(argv + [name]) == 0
        nats.append(json.loads(capsys.readouterr().out)["nats_per_char"])
    assert nats[0] == pytest.approx(nats[1], rel=1e-5)
    assert main(["charlm", "sample", str(run), "--prime", "the", "--length", "20"]) == 0
    assert capsys.readouterr().out.startswith("the")


def test_preset_flags_over_its_values(tmp_path, corpus_file):
    assert train(tmp_path, corpus_file, "run", PRESET, "--seq-length", "10", "--lr", "0.05") == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["seq_length"] == 10 and config["lr"] == 0.05 and config["hidden_size"] == 16
    assert config["model"] == "rnn" and config["embedding_size"] == 0


# --- refusals: one line on stderr, exit code 2, nothing written --------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--engine", "numpy", "--layer-norm"], "--layer-norm: the NumPy engine has no layer-norm"),
        (["--engine", "numpy", "--precision", "bf16"], "--precision bf16: the NumPy engine"),
        (["--engine", "numpy", "--device", "cuda"], "--device cuda: the NumPy engine runs on"),
        (["--preset", "min-char-rnn", "--batch-size", "4"], "--batch-size is fixed at 1, got 4"),
        (["--preset", "min-char-rnn", "--engine", "torch"], "--engine is fixed at 'numpy'"),
        (["--preset", "min-char-rnn", "--grad-clip", "0"], "--grad-clip: expected a number > 0"),
        (["--preset", "char-rnn"], "invalid choice"),
    ],
)
def test_refused_options(tmp_path, corpus_file, capsys, flags, message):
    fails(["charlm", "train", "--data", str(corpus_file), "--out", str(tmp_path / "run")] + flags,
          capsys, message)  # fmt: skip
    assert not (tmp_path / "run").exists()


def test_refused_engine_for_a_checkpoint(tmp_path, corpus_file, capsys):
    cfg = Config(hidden_size=8, embedding_size=4, layer_norm=True)
    weights = with_prefix("model", CharLMNet(5, cfg).state_dict())
    path = tmp_path / "ln.safetensors"
    meta = {"task": "charlm", "engine": "torch", "config": config_to_dict(cfg), "vocab": "abcde"}
    save_checkpoint(path, weights, meta)
    (tmp_path / "text.txt").write_text("abcdeabcde")
    fails(["charlm", "eval", str(path), "--data", str(tmp_path / "text.txt"), "--engine",
           "numpy"], capsys, "layer-normalized cells, which the NumPy engine lacks")  # fmt: skip
    fails(["charlm", "sample", str(path), "--engine", "numpy", "--device", "cuda"], capsys,
          "--device cuda: the NumPy engine runs on the CPU")  # fmt: skip
