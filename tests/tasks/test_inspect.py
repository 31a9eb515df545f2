"""rnnkit inspect RUN on tiny runs of each task: the files, the structure diagram's labels
against a real forward pass, the ranking against NumPy's correlation of the traced gates, the
cells page (decoded, and in a headless browser where chromium is installed), and the errors."""

import base64
import contextlib
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from cli_helpers import fails, train_argv

from rnnkit.cli import main
from rnnkit.data.text import split_corpus
from rnnkit.inspect import inspect_run, trace_subject
from rnnkit.inspect.analysis import FEATURES, text_features
from rnnkit.inspect.structure import describe, forward_shapes
from rnnkit.inspect.subjects import load_subject

TASKS = ("charlm", "classify", "forecast")
FILES = ["structure.png", "structure.svg", "gates.png", "saturation.png"]
SOURCE = "".join(
    f'def f{k}(a, b):\n    """Add {k}."""  # a comment\n    if a > {k}:\n        b = a\n'
    f"        return [a, b]\n"
    f"    return {{'k': (a + b) * {k}}}\n\n"
    for k in range(20)
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{task: a tiny trained run directory}."""
    folder = tmp_path_factory.mktemp("runs")
    (folder / "source.py").write_text(SOURCE * 6, encoding="utf-8")  # charlm reads Python
    out = {}
    for task in TASKS:
        extra = ["--data", str(folder / "source.py")] if task == "charlm" else []
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(train_argv(task, folder, folder / task, *extra)) == 0
        out[task] = folder / task
    return out


@pytest.fixture(scope="module")
def inspected(runs, tmp_path_factory):
    """(folder, Inspection) of the charlm run, on 200 characters."""
    folder = tmp_path_factory.mktemp("inspected")
    return folder, inspect_run(runs["charlm"], folder, chars=200)


@pytest.mark.parametrize("task", TASKS)
def test_inspect_writes_its_files_into_the_run_or_out(runs, task, tmp_path, capsys):
    argv = ["inspect", str(runs[task]), "--out", str(tmp_path / "out"), "--chars", "300"]
    assert main(argv) == 0
    names = FILES + (["cells.html"] if task == "charlm" else [])
    for name in names:
        data = (tmp_path / "out" / name).read_bytes()
        assert data[:4] == (b"\x89PNG" if name.endswith(".png") else data[:4]) and len(data) > 1000
    assert "inspect: wrote" in capsys.readouterr().out
    if task == "forecast":  # by default into the run directory itself
        assert main(["inspect", str(runs[task])]) == 0
        assert all((runs[task] / name).is_file() for name in FILES)


@pytest.mark.parametrize("task", TASKS)
def test_structure_labels_equal_the_shapes_of_a_forward_pass(runs, task, tmp_path):
    subject = load_subject(runs[task])
    structure = describe(subject)
    seen = forward_shapes(subject)
    assert {name: a.shape for name, a in structure.arrows.items()} == seen
    assert seen["head output"] == tuple(subject.forward().shape)
    svg = tmp_path / "s.svg"
    from rnnkit.viz.structure import plot_structure

    plot_structure(structure, tmp_path / "s.png", svg)
    text = svg.read_text()
    for arrow in structure.arrows.values():
        if arrow.name not in ("x_t", "h_t", "c_t", "to next layer"):  # drawn per step, shorter
            assert arrow.label in text, arrow.label
    shape = "(" + ", ".join(str(s) for s in structure.arrows["h_t"].shape) + ")"
    assert f"h_1 {shape}" in text


def test_charlm_json_ranks_cells_by_the_traced_gates_correlation(runs, tmp_path, capsys):
    source = 'def f(a):\n    b = "a (b)"  # note\n    return [a, b]\n' * 12 + "\u00e9"
    (tmp_path / "t.py").write_text(source, encoding="utf-8")
    argv = ["inspect", str(runs["charlm"]), "--text", str(tmp_path / "t.py"), "--json",
            "--out", str(tmp_path / "o"), "--top", "5"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dropped"] == "\u00e9"
    cells = report["cells"]
    assert len(cells) == 5 and set(cells[0]) == {"layer", "cell", "gate", "feature", "r"}
    assert all(c["feature"] in FEATURES and c["gate"] in ("c", "h") for c in cells)
    assert [abs(c["r"]) for c in cells] == sorted((abs(c["r"]) for c in cells), reverse=True)
    # the gates again, through the layer's own return_gates, and NumPy's Pearson r
    from rnnkit.tasks.charlm.api import load_model

    model, vocab, _ = load_model(runs["charlm"], "cpu")
    text = source[:-1]  # the model never saw the last character: it is left out
    ids = torch.from_numpy(vocab.encode(text).astype(np.int64)).view(1, -1)
    with torch.no_grad():
        _, _, gates = model.rnn(model.embed(ids), return_gates=True)
    feats = text_features(text)
    for c in cells:
        act = gates[c["layer"]][c["gate"]][:, 0].flatten(1)[:, c["cell"]].numpy()
        assert c["r"] == pytest.approx(np.corrcoef(act, feats[c["feature"]])[0, 1], abs=1e-3)
    for name, best in report["best"].items():
        assert (
            best["feature"] == name
            and abs(best["r"]) >= max(abs(c["r"]) for c in cells if c["feature"] == name) - 1e-9
            if any(c["feature"] == name for c in cells)
            else True
        )


def test_cells_page_is_static_and_holds_the_activations(runs, inspected):
    folder, result = inspected
    page = (folder / "cells.html").read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=|https?:|@import|fetch\(", page)  # nothing to load
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>',
                                page, re.S)[1])  # fmt: skip
    subject = load_subject(runs["charlm"], chars=200)
    assert data["text"] == subject.text and len(data["text"]) == 200
    assert data["ranking"] == result.cells and data["features"] == list(FEATURES)
    layers = trace_subject(subject)
    values = layers[1]["c"]  # (T, K)
    q = np.frombuffer(base64.b64decode(data["acts"]["1/c"]), np.int8).reshape(values.shape)
    decoded = q / 127 * np.array(data["scale"]["1/c"])
    np.testing.assert_allclose(decoded, values, atol=np.abs(values).max() / 127)


def _browser():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(not _browser(), reason="no chromium: the page is checked in a browser")
def test_cells_page_in_a_headless_browser(inspected, tmp_path):
    url = (inspected[0] / "cells.html").as_uri() + "#layer=1&gate=c&cell=3"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'b'}"]
    dom = subprocess.run([_browser(), *flags, "--dump-dom", url], capture_output=True,
                         text=True, timeout=120).stdout  # fmt: skip
    assert 'data-shown="1/c/3"' in dom  # the script ran and showed the cell of the address
    spans = re.findall(r'<span title="c\[3\] = [-0-9.]+" style="background: rgba?\(', dom)
    assert len(spans) == 200  # every character coloured
    shot = tmp_path / "shot.png"
    subprocess.run([_browser(), *flags, f"--screenshot={shot}", "--window-size=1200,800", url],
                   capture_output=True, timeout=120)  # fmt: skip
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_charlm_run_without_its_corpus_reads_a_sample_of_the_model(runs, tmp_path):
    (tmp_path / "ckpt").mkdir()
    shutil.copy(runs["charlm"] / "best.safetensors", tmp_path / "ckpt" / "model.safetensors")
    subject = load_subject(tmp_path / "ckpt" / "model.safetensors", chars=50)
    assert len(subject.text) == 50 and subject.x.shape == (1, 50)
    held_out = load_subject(runs["charlm"], chars=50).text  # the run's validation text
    corpus = (runs["charlm"].parent / "source.py").read_text()
    ids = np.arange(len(corpus))
    _, val = split_corpus(ids, 0.1, blocks=10)  # the defaults: 10% in 10 blocks
    assert held_out == "".join(corpus[i] for i in val[:50])


def test_inspect_alone_prints_its_help(capsys):
    assert main(["inspect"]) == 0
    assert "rnnkit TASK train --out RUN" in " ".join(capsys.readouterr().out.split())


def test_inspect_errors_are_one_line(runs, tmp_path, capsys):
    fails(["inspect", str(tmp_path / "nothing")], capsys, "no such run directory")
    fails(["inspect", str(runs["forecast"]), "--json"], capsys, "only charlm runs read text")
    fails(["inspect", str(runs["classify"]), "--text", "x.txt"], capsys, "a classify run reads")
    fails(["inspect", str(runs["charlm"]), "--data", "x.csv"], capsys, "a charlm run reads --text")
    fails(["inspect", str(runs["charlm"]), "--layer", "7", "--out", str(tmp_path)], capsys,
          "--layer 7: the model has layers 0..1")  # fmt: skip
    fails(["inspect", str(runs["classify"]), "--cells", "99", "--out", str(tmp_path)], capsys,
          "--cells: expected cell numbers in 0..3")  # fmt: skip
    fails(["inspect", str(runs["classify"]), "--index", "40", "--out", str(tmp_path)], capsys,
          "--index 40")  # fmt: skip
    fails(["inspect", str(runs["charlm"]), "--text", str(tmp_path / "no.txt")], capsys,
          "--text")  # fmt: skip
    fails(["inspect", str(runs["charlm"]), "--cells", "a,b"], capsys, "expected cell numbers")


def test_translate_run_draws_its_attention_maps(tmp_path, capsys):
    words = "one two three four five six seven eight nine ten".split()
    mots = "un deux trois quatre cinq six sept huit neuf dix".split()
    lines = []
    for i in range(60):
        idx = [(i * 7 + k * 3) % 10 for k in range(1 + i % 3)]
        lines.append(" ".join(words[j] for j in idx) + "\t" + " ".join(mots[j] for j in idx))
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    flags = ("--hidden-size 8 --embedding-size 8 --batch-size 8 --max-steps 2 --eval-every 2 "
             "--warmup-steps 0 --threads 1 --no-tensorboard --max-length 6 --valid-fraction 0.2 "
             "--test-fraction 0.2").split()  # fmt: skip
    argv = ["translate", "train", "--out", str(tmp_path / "run"), "--data",
            str(tmp_path / "pairs.tsv"), *flags]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    (tmp_path / "run" / "attention.png").unlink(missing_ok=True)  # written by train
    assert main(["inspect", str(tmp_path / "run")]) == 0  # the test split's sentences
    assert (tmp_path / "run" / "attention.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "s.txt").write_text("three four\n\nnine\n", encoding="utf-8")
    out = tmp_path / "o"
    assert main(["inspect", str(tmp_path / "run"), "--text", str(tmp_path / "s.txt"),
                 "--out", str(out)]) == 0  # fmt: skip
    assert "attention.png" in capsys.readouterr().out and (out / "attention.png").is_file()
    fails(["inspect", str(tmp_path / "run"), "--json"], capsys, "only charlm runs read text")


@pytest.mark.parametrize("task,extra", [
    ("classify", ["--cell", "gru", "--bidirectional", "--num-layers", "2"]),
    ("classify", ["--model", "lstm_fcn"]),
    ("charlm", ["--model", "rnn", "--num-layers", "1"]),
])  # fmt: skip
def test_other_layers_bidirectional_and_lstm_fcn(task, extra, tmp_path):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(train_argv(task, tmp_path, tmp_path / "run", *extra)) == 0
    subject = load_subject(tmp_path / "run", chars=100)
    structure = describe(subject)
    assert {name: a.shape for name, a in structure.arrows.items()} == forward_shapes(subject)
    result = inspect_run(tmp_path / "run", tmp_path / "out", chars=100)
    names = {p.name for p in result.files}
    assert {"structure.png", "gates.png"} <= names
    assert ("saturation.png" in names) == (subject.rnn.mode != "RNN_TANH")  # an RNN has no gates
    layers = trace_subject(subject)
    d = 2 if subject.rnn.bidirectional else 1
    assert layers[-1]["h"].shape[1] == d * subject.rnn.hidden_size


def test_caption_run_draws_its_attention_maps(tmp_path, capsys):
    flags = ("--dataset scenes --scenes 24 --scenes-folder /nonexistent/fashion-mnist "
             "--channels 8 --hidden-size 8 --embedding-size 8 --attention-size 8 --batch-size 8 "
             "--max-steps 2 --eval-every 2 --warmup-steps 0 --threads 1 --no-tensorboard "
             "--beam 1 --pretrain-steps 0").split()  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["caption", "train", "--out", str(tmp_path / "run"), *flags]) == 0
    out = tmp_path / "o"
    assert main(["inspect", str(tmp_path / "run"), "--out", str(out)]) == 0  # the test split
    assert (out / "attention.png").read_bytes()[:4] == b"\x89PNG"
    from matplotlib.image import imsave

    (tmp_path / "images").mkdir()
    imsave(tmp_path / "images" / "a.png", np.random.default_rng(0).random((20, 20)), cmap="gray")
    (out / "attention.png").unlink()
    assert main(["inspect", str(tmp_path / "run"), "--data", str(tmp_path / "images"),
                 "--out", str(out)]) == 0  # fmt: skip
    assert (out / "attention.png").is_file()
    fails(["inspect", str(tmp_path / "run"), "--text", "x.txt"], capsys, "a caption run reads")
