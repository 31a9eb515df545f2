"""rnnkit translate train | predict | eval through the CLI: the run's files, predictions from
--text and --input, attention maps, eval --json against sacrebleu, exact resume, and bad input
as one line with exit 2."""

import json
import os
import signal

import pytest
import sacrebleu
import torch
from cli_helpers import fails

from rnnkit.cli import main
from rnnkit.tasks.translate import load_model
from rnnkit.train.checkpoint import load_checkpoint
from rnnkit.train.logging import read_metrics
from rnnkit.train.trainer import Trainer

WORDS = "one two three four five six seven eight nine ten".split()
MOTS = "un deux trois quatre cinq six sept huit neuf dix".split()
TINY = (
    "--hidden-size 16 --embedding-size 8 --batch-size 8 --max-steps 6 --eval-every 3 "
    "--warmup-steps 0 --threads 1 --no-tensorboard --max-length 12 --valid-fraction 0.2 "
    "--test-fraction 0.2"
).split()


def write_pairs(path, n=60):
    """``n`` pairs of 1..3 English number words TAB their French words."""
    lines = []
    for i in range(n):
        idx = [(i * 7 + k * 3) % 10 for k in range(1 + i % 3)]
        lines.append(" ".join(WORDS[j] for j in idx) + "\t" + " ".join(MOTS[j] for j in idx))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train(tmp_path, name, *extra):
    data = write_pairs(tmp_path / "pairs.tsv")
    argv = ["translate", "train", "--out", tmp_path / name, "--data", data, *TINY, *extra]
    return main([str(a) for a in argv])


def test_train_predict_eval(tmp_path, capsys):
    assert train(tmp_path, "run", "--tokens", "word") == 0
    out = capsys.readouterr().out
    assert "training pairs" in out and "BLEU" in out and "chrF" in out
    run = tmp_path / "run"
    for name in ("attention.png", "best.safetensors", "last.safetensors", "summary.json"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert {"test_bleu", "test_chrf", "test_exact_match", "test_n"} <= set(summary)
    _, meta = load_checkpoint(run / "best.safetensors", task="translate")
    assert meta["tokenizers"]["source"]["kind"] == "word" and "eight" in str(meta["tokenizers"])

    assert main(["translate", "predict", str(run), "--text", "one two", "--text", "zzz"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    (tmp_path / "in.txt").write_text("one two\nzzz\n", encoding="utf-8")
    argv = ["translate", "predict", str(run), "--input", str(tmp_path / "in.txt")]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == lines  # the same, from a file
    png = tmp_path / "map.png"
    argv = ["translate", "predict", str(run), "--text", "three four", "--attention-map", str(png)]
    assert main([*argv, "--beam", "1"]) == 0 and png.stat().st_size > 1000
    assert len(capsys.readouterr().out.splitlines()) == 1
    sampled = [*argv[:5], "--temperature", "1.5", "--seed", "3"]
    assert main(sampled) == 0 and main(sampled) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first == second  # seeded draws

    assert main(["translate", "eval", str(run), "--json", "--beam", "1"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"bleu", "chrf", "exact_match", "n"}
    # the same BLEU as sacrebleu's on the test split's translations
    loaded = load_model(run)
    from rnnkit.tasks.translate.api import translate_texts
    from rnnkit.tasks.translate.data import load_splits

    test = load_splits(loaded.cfg).test
    hyps = translate_texts(loaded, [s for s, _ in test], beam=1)
    assert scores["n"] == len(test)
    assert scores["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [[t for _, t in test]]).score
    )
    assert main(["translate", "eval", str(run), "--data", str(tmp_path / "pairs.tsv")]) == 0
    assert "BLEU" in capsys.readouterr().out


@pytest.mark.parametrize("extra", [
    ["--tokens", "bpe", "--vocab-size", "40", "--attention", "bahdanau", "--cell", "gru"],
    ["--source-tokens", "char", "--target-tokens", "word", "--attention", "none"],
])  # fmt: skip
def test_other_tokens_and_attention(tmp_path, capsys, extra):
    assert train(tmp_path, "run", *extra, "--max-steps", "3") == 0
    assert "BLEU" in capsys.readouterr().out
    assert main(["translate", "predict", str(tmp_path / "run"), "--text", "five"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_ctrl_c_then_resume_is_exact(tmp_path, monkeypatch):
    extra = ["--teacher-forcing", "0.7", "--dropout", "0.3", "--tokens", "char"]
    assert train(tmp_path, "straight", *extra) == 0
    fit = Trainer.fit

    def fit_with_ctrl_c_at_step_4(self):
        self.add_callback(
            "step", lambda t: os.kill(os.getpid(), signal.SIGINT) if t.step == 4 else None
        )
        return fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_with_ctrl_c_at_step_4)
    assert train(tmp_path, "resumed", *extra) == 130
    monkeypatch.setattr(Trainer, "fit", fit)
    assert main(["translate", "train", "--out", str(tmp_path / "resumed"), "--resume"]) == 0
    key = ("step", "train_loss", "val_loss", "lr")
    straight = read_metrics(tmp_path / "straight" / "metrics.csv")
    resumed = read_metrics(tmp_path / "resumed" / "metrics.csv")
    assert [[r[k] for k in key] for r in straight] == [[r[k] for k in key] for r in resumed]
    a, _ = load_checkpoint(tmp_path / "straight" / "last.safetensors")
    b, _ = load_checkpoint(tmp_path / "resumed" / "last.safetensors")
    for name in a:
        if name.startswith(("model.", "optim.")):
            assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "no pairs (empty file)"),
        (b"one\tun\ntwo un\n", "line 2 has no TAB"),
        (b"one\tun\n\tdeux\n", "line 2 has an empty source"),
        (b"one\t\n", "line 1 has an empty target"),
        (b"one\tun\ntwo\td\xe9ux\n", "not UTF-8 text (invalid byte 0xe9 on line 2)"),
    ],
)
def test_bad_pairs_one_line(tmp_path, capsys, data, message):
    (tmp_path / "bad.tsv").write_bytes(data)
    argv = [
        "translate",
        "train",
        "--out",
        str(tmp_path / "run"),
        "--data",
        str(tmp_path / "bad.tsv"),
    ]
    fails(argv, capsys, message)
    assert not (tmp_path / "run").exists()


def test_bad_flags_one_line(tmp_path, capsys):
    out = str(tmp_path / "run")
    fails(
        ["translate", "train", "--out", out, "--dataset", "messages"], capsys, "unknown; expected"
    )
    fails(["translate", "train", "--out", out, "--hidden-size", "15", "--data", "x"], capsys,
          "pass an even size")  # fmt: skip
    fails(["translate", "train", "--out", out, "--tie-embeddings", "--data", "x"], capsys,
          "--embedding-size equal to --hidden-size")  # fmt: skip
    fails(["translate", "train", "--out", out, "--attention", "luong"], capsys, "invalid choice")
    assert train(tmp_path, "ok", "--max-steps", "1", "--tokens", "char") == 0
    capsys.readouterr()
    run = str(tmp_path / "ok")
    fails(["translate", "predict", run], capsys, "expected --text TEXT (one or more) or --input")
    fails(["translate", "predict", run, "--input", str(tmp_path / "nope.txt")], capsys,
          "no such file")  # fmt: skip
    fails(["translate", "predict", run, "--input", "-", "--attention-map", "a.png"], capsys,
          "--attention-map goes with --text")  # fmt: skip
    (tmp_path / "latin.txt").write_bytes(b"one\nd\xe9ux\n")
    fails(["translate", "predict", run, "--input", str(tmp_path / "latin.txt")], capsys,
          "not UTF-8 text")  # fmt: skip
    fails(["translate", "eval", str(tmp_path / "nothing")], capsys, "nothing")
