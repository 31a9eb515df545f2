"""rnnkit charlm: the model, evaluation, sampling, and the CLI verbs end to end on tiny data."""

import json
import os
import signal

import numpy as np
import pytest
import torch
from cli_helpers import CHARLM_TINY as TINY
from cli_helpers import TEXT, fails

from rnnkit.cli import main
from rnnkit.data.text import Vocab
from rnnkit.tasks.charlm import CharLMNet, Config, evaluate_text, load_model, sample_text
from rnnkit.train.checkpoint import load_checkpoint, save_checkpoint
from rnnkit.train.logging import read_metrics
from rnnkit.train.run import run_config
from rnnkit.train.trainer import Trainer


def tiny_config(**kw) -> Config:
    values = dict(hidden_size=16, embedding_size=8, batch_size=4, seq_length=16, dropout=0.1)
    return Config(**(values | kw))


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def train(tmp_path, corpus_file, out="run", *extra):
    return main(["charlm", "train", "--data", str(corpus_file), "--out", str(tmp_path / out)]
                + TINY + list(extra))  # fmt: skip


# --- the model -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
def test_model_state_dict_names_and_shapes(model):
    net = CharLMNet(30, tiny_config(model=model, num_layers=2))
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[model]
    expected = {"embed.weight": (30, 8), "head.weight": (30, 16), "head.bias": (30,)}
    for k in range(2):
        expected |= {
            f"rnn.weight_ih_l{k}": (gates * 16, 8 if k == 0 else 16),
            f"rnn.weight_hh_l{k}": (gates * 16, 16),
            f"rnn.bias_ih_l{k}": (gates * 16,),
            f"rnn.bias_hh_l{k}": (gates * 16,),
        }
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == expected
    x = torch.randint(0, 30, (3, 7))
    (logits, state), loss = net(x, x)
    assert logits.shape == (3, 7, 30) and loss.ndim == 0
    h = state[0] if model == "lstm" else state
    assert h.shape == (2, 3, 16)


def test_one_hot_input_has_no_embedding():
    net = CharLMNet(11, tiny_config(embedding_size=0))
    assert net.embed is None and "embed.weight" not in net.state_dict()
    assert net.state_dict()["rnn.weight_ih_l0"].shape == (4 * 16, 11)
    (logits, _), _ = net(torch.randint(0, 11, (2, 5)))
    assert logits.shape == (2, 5, 11)


def test_layer_norm_flag_reaches_the_rnn():
    net = CharLMNet(11, tiny_config(layer_norm=True))
    assert any("norm" in k or "ln" in k for k in net.rnn.state_dict())


def test_evaluate_text_carries_state_and_scores_every_character():
    net = CharLMNet(12, tiny_config()).eval()
    ids = np.random.default_rng(0).integers(0, 12, 203)
    stream = torch.from_numpy(ids).long()
    with torch.no_grad():
        (logits, _), _ = net(stream[None, :-1])  # one pass over the whole stream
        whole = torch.nn.functional.cross_entropy(logits[0], stream[1:], reduction="sum").item()
    total, count = evaluate_text(net, ids, seq_length=10, rows=1)  # in chunks, state carried
    assert count == 202 and total == pytest.approx(whole, rel=1e-5)
    # several rows: each row from a zero state, the leftover continuing the last row
    total, count = evaluate_text(net, ids, seq_length=7, rows=4)
    row = 202 // 4
    expected = 0.0
    with torch.no_grad():
        for r in range(4):
            end = (r + 1) * row + 1 if r < 3 else len(ids)
            part = stream[r * row : end]
            (logits, _), _ = net(part[None, :-1])
            expected += torch.nn.functional.cross_entropy(
                logits[0], part[1:], reduction="sum"
            ).item()
    assert count == 202 and total == pytest.approx(expected, rel=1e-5)


def test_sampling_is_deterministic_under_a_seed():
    vocab = Vocab("".join(sorted(set(TEXT))))
    net = CharLMNet(len(vocab), tiny_config())
    first = "".join(sample_text(net, vocab, "the ", 40, temperature=1.0, seed=7))
    again = "".join(sample_text(net, vocab, "the ", 40, temperature=1.0, seed=7))
    other = "".join(sample_text(net, vocab, "the ", 40, temperature=1.0, seed=8))
    assert first == again and first != other and len(first) == 40
    greedy = "".join(sample_text(net, vocab, "the ", 40, temperature=0, seed=1))
    assert greedy == "".join(sample_text(net, vocab, "the ", 40, temperature=0, seed=2))
    assert greedy == "".join(sample_text(net, vocab, "the ", 40, top_k=1, seed=3))
    assert net.training  # sampling restores the mode it found


# --- the CLI end to end ----------------------------------------------------------------------


def test_train_sample_eval(tmp_path, corpus_file, capsys):
    assert train(tmp_path, corpus_file) == 0
    run = tmp_path / "run"
    names = {"config.json", "metrics.csv", "summary.json", "loss.png", "last.safetensors",
             "best.safetensors", "corpus.npy", "corpus.json"}  # fmt: skip
    assert names <= set(os.listdir(run))
    out = capsys.readouterr().out
    assert "--- sample at step 6 ---" in out and "done: 12 steps" in out
    config = json.loads((run / "config.json").read_text())
    assert config["hidden_size"] == 16 and config["model"] == "lstm"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["unit"] == "char"
    tensors, meta = load_checkpoint(run / "last.safetensors", task="charlm")
    assert meta["vocab"] == "".join(sorted(set(TEXT))) and meta["engine"] == "torch"
    assert {k for k in tensors if k.startswith("state.")} == {"state.0", "state.1"}  # (h, c)

    argv = ["charlm", "sample", str(run), "--prime", "the ", "--length", "30", "--seed", "3"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == first and first.startswith("the ")
    assert len(first) == len("the ") + 30 + 1

    assert main(["charlm", "eval", str(run), "--data", str(corpus_file), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["chars"] == len(TEXT) - 1
    assert result["bits_per_char"] == pytest.approx(result["nats_per_char"] / np.log(2))
    assert main(["charlm", "eval", str(run / "last.safetensors"), "--data", str(corpus_file)]) == 0
    assert "nats/char" in capsys.readouterr().out


def test_ctrl_c_then_resume_is_exact(tmp_path, corpus_file, monkeypatch):
    assert train(tmp_path, corpus_file, "straight") == 0

    fit = Trainer.fit

    def fit_with_ctrl_c_at_step_7(self):
        self.add_callback(
            "step", lambda t: os.kill(os.getpid(), signal.SIGINT) if t.step == 7 else None
        )
        return fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_with_ctrl_c_at_step_7)
    assert train(tmp_path, corpus_file, "resumed") == 130
    assert load_checkpoint(tmp_path / "resumed" / "last.safetensors")[1]["step"] == 7
    monkeypatch.setattr(Trainer, "fit", fit)
    assert main(["charlm", "train", "--out", str(tmp_path / "resumed"), "--resume"]) == 0

    key = ("step", "train_loss", "val_loss", "lr")
    straight = read_metrics(tmp_path / "straight" / "metrics.csv")
    resumed = read_metrics(tmp_path / "resumed" / "metrics.csv")
    assert [[r[k] for k in key] for r in straight] == [[r[k] for k in key] for r in resumed]
    a, _ = load_checkpoint(tmp_path / "straight" / "last.safetensors")
    b, _ = load_checkpoint(tmp_path / "resumed" / "last.safetensors")
    for name in a:
        if name.startswith(("model.", "optim.", "state")):
            assert torch.equal(a[name], b[name]), name


def test_resume_of_a_run_saved_before_val_blocks_keeps_its_tail_split(tmp_path, corpus_file):
    assert train(tmp_path, corpus_file) == 0
    path = tmp_path / "run" / "last.safetensors"
    state, meta = load_checkpoint(path, task="charlm")
    del meta["config"]["val_blocks"]  # as an older rnnkit saved it
    save_checkpoint(path, state, meta)
    cfg = run_config(Config, {"max_steps": 20}, tmp_path / "run", "charlm", resume=True).config
    assert cfg.val_blocks == 1 and cfg.max_steps == 20


def test_bf16_autocast_carries_state(tmp_path, corpus_file):
    assert train(tmp_path, corpus_file, "run", "--precision", "bf16", "--max-steps", "6") == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 6 and np.isfinite(summary["final_val_loss"])


def test_no_verb_prints_the_task_help(capsys):
    assert main(["charlm"]) == 0
    assert "train" in capsys.readouterr().out


# --- bad input: one line on stderr, exit code 2, nothing on disk touched -------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"\x7fELF\x02\x01\x00\x00", "is a binary file"),
        ("naïve".encode("latin-1"), "is not UTF-8 text"),
        (b"too short for one batch", "but one batch needs"),
    ],
)
def test_bad_data(tmp_path, capsys, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    fails(["charlm", "train", "--data", str(path), "--out", str(tmp_path / "run")], capsys, message)
    assert not (tmp_path / "run").exists()


def test_missing_paths(tmp_path, capsys):
    fails(["charlm", "train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")],
          capsys, "no such file or directory")  # fmt: skip
    fails(["charlm", "sample", str(tmp_path / "nope")], capsys, "no such run directory")
    fails(["charlm", "train", "--out", str(tmp_path), "--resume"], capsys, "holds no last")


def test_bad_flags(tmp_path, capsys):
    fails(["charlm", "train", "--hidden-size", "big"], capsys, "expected int, got 'big'")
    fails(["charlm", "train", "--model", "transformer"], capsys, "invalid choice")
    fails(["charlm", "train", "--dropout", "1.5"], capsys, "--dropout: expected a number in [0, 1)")
    fails(["charlm", "train", "--engine", "numpy", "--layer-norm"], capsys, "NumPy engine has no")


def test_existing_run_is_not_overwritten(tmp_path, corpus_file, capsys):
    assert train(tmp_path, corpus_file) == 0
    run = tmp_path / "run"
    before = {name: (run / name).read_bytes() for name in os.listdir(run) if (run / name).is_file()}
    capsys.readouterr()
    fails(["charlm", "train", "--data", str(corpus_file), "--out", str(run)], capsys,
          "already holds a run")  # fmt: skip
    fails(["charlm", "train", "--out", str(run), "--resume", "--hidden-size", "32"], capsys,
          "--hidden-size cannot change")  # fmt: skip
    after = {name: (run / name).read_bytes() for name in before}
    assert after == before


def test_bad_checkpoints(tmp_path, corpus_file, capsys):
    assert train(tmp_path, corpus_file) == 0
    capsys.readouterr()
    other = tmp_path / "other.safetensors"
    save_checkpoint(other, {"w": torch.zeros(1)}, {"task": "forecast"})
    fails(["charlm", "sample", str(other)], capsys, "a checkpoint of task 'forecast'")
    broken = tmp_path / "broken.safetensors"
    data = (tmp_path / "run" / "best.safetensors").read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    fails(["charlm", "sample", str(broken)], capsys, "not a readable checkpoint")
    fails(["charlm", "eval", str(broken), "--data", str(corpus_file)], capsys, "not a readable")
    fails(["charlm", "sample", str(tmp_path / "run"), "--prime", "Zebra"], capsys,
          "not in the model's vocabulary")  # fmt: skip
    (tmp_path / "unknown.txt").write_text("ÆØÅ")
    fails(["charlm", "eval", str(tmp_path / "run"), "--data", str(tmp_path / "unknown.txt")],
          capsys, "not in the model's vocabulary")  # fmt: skip


def test_divergence_exits_1_and_keeps_the_checkpoint(tmp_path, corpus_file, capsys):
    code = train(tmp_path, corpus_file, "run", "--optimizer", "sgd", "--lr", "1e6",
                 "--grad-clip", "0", "--warmup-steps", "0")  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "training stopped at step" in err and "last good checkpoint" in err
    tensors, meta = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert meta["step"] == 0 and all(torch.isfinite(v).all() for v in tensors.values())


def test_load_model_rebuilds_from_the_checkpoint_alone(tmp_path, corpus_file):
    assert train(tmp_path, corpus_file, "run", "--model", "gru", "--num-layers", "1") == 0
    model, vocab, cfg = load_model(tmp_path / "run" / "best.safetensors")
    assert cfg.model == "gru" and cfg.num_layers == 1 and not model.training
    assert len(vocab) == len(set(TEXT))
