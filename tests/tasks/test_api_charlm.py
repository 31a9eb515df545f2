"""``rnnkit.tasks.charlm.CharLM``: fit on a text or a file, sample, score, load, both engines."""

import json
import random
import re
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.data.text import TextDataError
from rnnkit.tasks.charlm import CharLM
from rnnkit.train.config import ConfigError

PATTERN = "abcd" * 300 + "\n"
TINY = {"hidden_size": 16, "embedding_size": 8, "batch_size": 4, "seq_length": 16,
        "max_steps": 60, "max_time": 0, "eval_every": 30, "sample_every": 0, "warmup_steps": 5,
        "lr": 2e-2, "threads": 1}  # fmt: skip
TINY_FLAGS = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "4",
              "--seq-length", "16", "--max-steps", "60", "--max-time", "0", "--eval-every", "30",
              "--sample-every", "0", "--warmup-steps", "5", "--lr", "0.02", "--threads", "1",
              "--no-tensorboard"]  # fmt: skip


def shuffled(text: str) -> str:
    chars = list(text)
    random.Random(0).shuffle(chars)
    return "".join(chars)


@pytest.fixture(scope="module")
def fitted():
    return CharLM(**TINY).fit(PATTERN)


@pytest.fixture
def pattern_file(tmp_path) -> Path:
    path = tmp_path / "pattern.txt"
    path.write_text(PATTERN, encoding="utf-8")
    return path


def test_learns_a_pattern(fitted):
    assert fitted.summary["steps"] == 60 and fitted.summary["final_val_loss"] < 1.0
    assert fitted.vocab.chars == "\nabcd"
    assert fitted.score(PATTERN) < 0.2  # uniform over 5 characters: 1.61
    assert fitted.score(shuffled(PATTERN)) > 1.0


def test_sample(fitted):
    text = fitted.sample("ab", length=25, temperature=0, seed=0)
    assert isinstance(text, str) and text == ("abcd" * 10)[2:27]  # the prime's continuation
    assert fitted.sample("", length=0) == ""
    assert len(fitted.sample("", length=40, seed=1)) == 40
    assert fitted.sample("c", 30, temperature=1.5, seed=3) == fitted.sample("c", 30, 1.5, seed=3)
    with pytest.raises(TextDataError, match="not in the model's vocabulary.*'z'"):
        fitted.sample("az")
    with pytest.raises(ConfigError, match="temperature: expected a finite number >= 0"):
        fitted.sample("a", temperature=-1)


def test_score(fitted, pattern_file):
    assert fitted.score(pattern_file) == pytest.approx(fitted.score(PATTERN))
    assert fitted.score(str(pattern_file)) == pytest.approx(fitted.score(PATTERN))
    with pytest.raises(TextDataError, match="not in the model's vocabulary.*'x'"):
        fitted.score("abcx")
    with pytest.raises(TextDataError, match="at least 2 characters"):
        fitted.score("a")


def test_a_text_a_path_and_a_str_path_train_the_same(tmp_path, pattern_file, fitted):
    expected = fitted.score(PATTERN)
    for data in (pattern_file, str(pattern_file)):
        lm = CharLM(**TINY).fit(data)
        assert lm.vocab.chars == fitted.vocab.chars
        assert lm.score(PATTERN) == pytest.approx(expected, abs=1e-6)


def test_load_after_the_cli_scores_as_the_cli(tmp_path, pattern_file, capsys):
    run = tmp_path / "run"
    argv = ["charlm", "train", "--data", str(pattern_file), "--out", str(run), *TINY_FLAGS]
    assert main(argv) == 0
    assert main(["charlm", "eval", str(run), "--data", str(pattern_file), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    lm = CharLM.load(run)
    assert lm.score(pattern_file) == pytest.approx(result["nats_per_char"], abs=1e-9)
    assert lm.score(PATTERN) == pytest.approx(result["nats_per_char"], abs=1e-9)
    # the same training through the API gives the same model
    assert CharLM(**TINY).fit(pattern_file).score(PATTERN) == pytest.approx(lm.score(PATTERN))
    # and the NumPy engine runs the torch checkpoint
    numpy = CharLM.load(run / "best.safetensors", engine="numpy")
    assert numpy.score(PATTERN) == pytest.approx(lm.score(PATTERN), abs=1e-4)
    assert numpy.sample("a", 20, temperature=0) == lm.sample("a", 20, temperature=0)


def test_load_after_fit(tmp_path, fitted):
    lm = CharLM(**TINY).fit(PATTERN, out=tmp_path / "run")
    loaded = CharLM.load(tmp_path / "run")
    assert loaded.score(PATTERN) == pytest.approx(lm.score(PATTERN), abs=1e-9)
    assert loaded.cfg == lm.cfg
    assert (tmp_path / "run" / "best.safetensors").is_file()


def test_numpy_engine(tmp_path):
    lm = CharLM(**TINY | {"engine": "numpy"}).fit(PATTERN, out=tmp_path / "run")
    assert type(lm.model).__module__.startswith("rnnkit.numpy")
    assert lm.score(PATTERN) < 0.2 and lm.score(shuffled(PATTERN)) > 1.0
    assert lm.sample("ab", 10, temperature=0) == "cdabcdabcd"
    loaded = CharLM.load(tmp_path / "run")  # the engine that trained it
    assert type(loaded.model) is type(lm.model)
    assert loaded.score(PATTERN) == pytest.approx(lm.score(PATTERN), abs=1e-9)


def test_a_preset(tmp_path):
    lm = CharLM(preset="min-char-rnn", hidden_size=8, seq_length=8, max_steps=20, eval_every=10)
    assert lm.cfg.engine == "numpy" and lm.cfg.optimizer == "adagrad"
    assert len(lm.fit(PATTERN).sample("a", 5)) == 5
    with pytest.raises(ConfigError, match="--preset min-char-rnn: --batch-size is fixed at 1"):
        CharLM(preset="min-char-rnn", batch_size=4)


def test_verbose(capsys, monkeypatch):
    monkeypatch.setattr("rnnkit.train.logging.is_terminal", lambda stream: True)  # the bar's place
    CharLM(**TINY | {"max_steps": 10, "sample_every": 5}).fit(PATTERN)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    CharLM(**TINY | {"max_steps": 10, "sample_every": 5, "eval_every": 5}).fit(
        PATTERN, verbose=True
    )
    captured = capsys.readouterr()
    assert "charlm: text:" in captured.out and "--- sample at step 5 ---" in captured.out
    assert "done: 10 steps" in captured.out and re.search(r"10/10", captured.err)


def test_errors(tmp_path):
    with pytest.raises(RuntimeError, match=r"call fit\(\) or load\(\) first"):
        CharLM().sample("a")
    with pytest.raises(RuntimeError, match=r"call fit\(\) or load\(\) first"):
        CharLM().score(PATTERN)
    with pytest.raises(TypeError, match="expected a text, a path or None, got bytes"):
        CharLM(**TINY).fit(PATTERN.encode())
    # a file name that names nothing is not trained on as if it were the text
    with pytest.raises(TextDataError, match="input.txt: no such file"):
        CharLM(**TINY).fit(str(tmp_path / "input.txt"))
    with pytest.raises(TextDataError, match="input.txt: no such file"):
        CharLM(**TINY).fit("input.txt")
    with pytest.raises(TextDataError, match="one batch needs"):
        CharLM(**TINY).fit("too short a text")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds files rnnkit did not write"):
        CharLM(**TINY).fit(PATTERN, out=tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
