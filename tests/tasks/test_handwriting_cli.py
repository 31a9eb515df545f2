"""``rnnkit handwriting train | write | eval`` and ``Handwriter``, on data the tests write."""

import json

import numpy as np
import pytest
from cli_helpers import fails
from safetensors.numpy import load_file
from stroke_helpers import write_iam, write_jhf

from rnnkit.cli import main
from rnnkit.tasks.handwriting import Handwriter

TINY = (
    "--lines 40 --max-words 2 --hidden-size 8 --num-layers 2 --mixtures 2 --window-mixtures 2 "
    "--batch-size 4 --max-steps 4 --eval-every 2 --warmup-steps 0 --threads 1 --no-tensorboard "
    "--test-fraction 0.1 --val-fraction 0.1 --schedule constant"
).split()
WORDS = "ab ba cab dab"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("handwriting")
    (folder / "words.txt").write_text(WORDS)
    font = write_jhf(folder / "tiny.jhf")
    return folder, ["--fonts", str(font), "--words", str(folder / "words.txt")]


@pytest.fixture(scope="module")
def run(data):
    folder, flags = data
    out = folder / "synthesis"
    assert main(["handwriting", "train", "--out", str(out), "--synthesis", *flags, *TINY]) == 0
    return out


def test_train_writes_a_run_and_eval_reads_it(run, capsys):
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["test_n"] == 4
    capsys.readouterr()
    assert main(["handwriting", "eval", str(run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"nll_per_point", "nll_per_sequence", "n"} and report["n"] == 4
    assert report["nll_per_point"] == pytest.approx(summary["test_nll_per_point"])


def test_resume_is_exact(data, run, tmp_path):
    """Two steps, then two more resumed: the weights of four steps at once (a constant lr)."""
    folder, flags = data
    part = tmp_path / "part"
    args = ["handwriting", "train", "--out", str(part), "--synthesis", *flags, *TINY]
    assert main([*args, "--max-steps", "2"]) == 0
    assert main(["handwriting", "train", "--out", str(part), "--resume", "--max-steps", "4"]) == 0
    whole, resumed = load_file(run / "last.safetensors"), load_file(part / "last.safetensors")
    for key in (k for k in whole if k.startswith("model.")):
        np.testing.assert_array_equal(whole[key], resumed[key], err_msg=key)


def test_write_outputs_and_figures(run, tmp_path, capsys):
    out = tmp_path / "line.svg"
    argv = ["handwriting", "write", str(run), "--text", "ab", "--seed", "1", "--bias", "1.0"]
    assert main([*argv, "--out", str(out), "--window-plot", str(tmp_path / "w.png"),
                 "--density-plot", str(tmp_path / "d.png"), "--max-points", "60"]) == 0  # fmt: skip
    assert out.read_text().startswith("<svg") and "<polyline" in out.read_text()
    for name in ("w.png", "d.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert main([*argv, "--out", str(tmp_path / "a.npz"), "--max-points", "60"]) == 0
    assert main([*argv, "--out", str(tmp_path / "b.npz"), "--max-points", "60"]) == 0
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(a["offsets"], b["offsets"])  # the same seed, the same line
    assert str(a["text"]) == "ab"
    assert main([*argv, "--out", str(tmp_path / "p.png"), "--max-points", "60"]) == 0
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    # priming with a line written before (its text read first)
    assert main([*argv, "--out", str(tmp_path / "s.npz"), "--style", str(tmp_path / "a.npz")]) == 0
    assert str(np.load(tmp_path / "s.npz")["text"]) == "ab ab"


def test_unknown_characters_and_bad_input_are_one_line(run, tmp_path, capsys):
    out = str(tmp_path / "x.svg")
    write = ["handwriting", "write", str(run), "--out", out]
    fails([*write, "--text", "aQX@"], capsys, "never saw '@', 'Q', 'X' in training")
    assert not (tmp_path / "x.svg").exists()
    fails([*write, "--text", ""], capsys, "--text: empty")
    fails([*write, "--text", "ab", "--bias", "-1"], capsys, "--bias: expected a number >= 0")
    fails([*write, "--text", "ab", "--max-points", "-1"], capsys, "--max-points: expected")
    fails([*write, "--text", "ab", "--seed", "-1"], capsys, "--seed: expected")
    fails(["handwriting", "write", str(run), "--text", "a", "--out", str(tmp_path / "x.txt")],
          capsys, "expected a .svg, .png or .npz")  # fmt: skip
    np.save(tmp_path / "style.npy", np.zeros((5, 3), np.float32))
    fails([*write, "--text", "a", "--style", str(tmp_path / "style.npy")], capsys, "--style-text")
    fails(["handwriting", "eval", str(tmp_path)], capsys, "error")


def test_iam_data_and_prediction_network(tmp_path, capsys):
    root = write_iam(tmp_path / "iam", [f"line {c}" for c in "abcdefghijkl"])
    out = tmp_path / "pred"
    flags = TINY[4:]  # without --lines and --max-words
    assert main(["handwriting", "train", "--out", str(out), "--data", str(root), *flags]) == 0
    fails(["handwriting", "write", str(out), "--text", "a", "--out", str(tmp_path / "a.svg")],
          capsys, "prediction network reads no text")  # fmt: skip
    xml = root / "lineStrokes/a01/a01-000/a01-000u-01.xml"
    argv = ["handwriting", "write", str(out), "--out", str(tmp_path / "p.npz"), "--seed", "0"]
    assert main([*argv, "--max-points", "30", "--style", str(xml)]) == 0
    assert np.load(tmp_path / "p.npz")["offsets"].shape == (30, 3)
    (root / "ascii/a01/a01-000/a01-000u.txt").write_text("CSR:\n\n")
    fails(["handwriting", "train", "--out", str(tmp_path / "bad"), "--data", str(root), *flags],
          capsys, "empty transcription")  # fmt: skip


def test_python_api(data, run, tmp_path):
    writer = Handwriter.load(run)
    a = writer.write("ba", bias=2.0, seed=5, max_points=50)
    b = writer.write("ba", bias=2.0, seed=5, max_points=50)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert a.phi.shape == (len(a.offsets), 3) and a.y.shape == (len(a.offsets), 13)
    primed = writer.write("ab", seed=5, style=(a.offsets, "ba"), max_points=50)
    assert primed.text == "ba ab"
    with pytest.raises(ValueError, match="never saw 'z'"):
        writer.write("z")
    assert writer.evaluate()["n"] == 4
    folder, flags = data
    values = dict(zip([f[2:].replace("-", "_") for f in flags[::2]], flags[1::2], strict=True))
    fitted = Handwriter(
        **values, lines=20, max_words=1, hidden_size=4, num_layers=1, mixtures=1, batch_size=4,
        max_steps=2, eval_every=2, warmup_steps=0, threads=1, val_fraction=0.1,
        test_fraction=0.1,
    ).fit(out=tmp_path / "api")  # fmt: skip
    assert fitted.summary["steps"] == 2 and (tmp_path / "api" / "best.safetensors").is_file()
    assert fitted.write(max_points=7, seed=0).offsets.shape == (7, 3)
