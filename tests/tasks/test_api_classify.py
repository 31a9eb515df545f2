"""``rnnkit.tasks.classify.Classifier``: fit on every kind of input, predict, evaluate, load."""

import csv
import dataclasses
import io
import re

import numpy as np
import pandas as pd
import pytest

from rnnkit.cli import main
from rnnkit.data.ucr import SequenceDataError
from rnnkit.tasks.classify import Classifier
from rnnkit.train.config import ConfigError

# a tiny GRU that learns the toy task in well under a second (no weight averaging: on the
# toy task the average of the last 25 of 100 steps at lr 2e-2 scores 0.89, the last weights 0.92)
TINY = {"cell": "gru", "hidden_size": 16, "max_steps": 100, "eval_every": 50, "lr": 2e-2,
        "warmup_steps": 5, "batch_size": 32, "threads": 1, "swa": 0.0}  # fmt: skip
QUICK = TINY | {"max_steps": 10, "eval_every": 5}  # for what needs a fitted model, not a good one


def toy(n: int, seed: int, steps: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, 2) noise; the label is the sign of the sum of the first step ("pos" / "neg")."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, 2)).astype(np.float32)
    return x, np.where(x[:, 0].sum(-1) > 0, "pos", "neg")


def long_frame(x: np.ndarray, y: np.ndarray | None, ids: list[str]) -> pd.DataFrame:
    """The long form of a cube: one row a step, columns id, [label,] f0, f1."""
    n, t, _ = x.shape
    frame = pd.DataFrame({"id": np.repeat(ids, t)})
    if y is not None:
        frame["label"] = np.repeat(y, t)
    for j in range(x.shape[2]):
        frame[f"f{j}"] = x[:, :, j].ravel()
    return frame


def tags(n: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Sequences of 3..8 steps of symbols 0..2 (one-hot); the tag of a step is its symbol."""
    rng = np.random.default_rng(seed)
    symbols = [rng.integers(0, 3, size=k) for k in rng.integers(3, 9, size=n)]
    return [np.eye(3, dtype=np.float32)[s] for s in symbols], symbols


@pytest.fixture(scope="module")
def fitted():
    """A classifier fitted on the toy task, with held-out data."""
    x, y = toy(256, seed=0)
    return Classifier(**TINY).fit(x, y), toy(200, seed=1)


# ---------------------------------------------------------------------------------------------
# fit, predict, predict_proba, evaluate


def test_learns_the_toy_task(fitted):
    clf, (x, y) = fitted
    assert list(clf.classes_) == ["neg", "pos"]
    labels = clf.predict(x)
    assert isinstance(labels, np.ndarray) and labels.shape == (200,) and labels.dtype.kind == "U"
    assert (labels == y).mean() > 0.9  # chance: 0.5
    proba = clf.predict_proba(x)
    assert proba.shape == (200, 2) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], labels)  # classes_ order


def test_evaluate_matches_scikit_learn(fitted):
    metrics = pytest.importorskip("sklearn.metrics")
    clf, (x, y) = fitted
    report = clf.evaluate(x, y)
    pred, proba = clf.predict(x), clf.predict_proba(x)
    assert report["n"] == 200
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert report["macro_f1"] == pytest.approx(metrics.f1_score(y, pred, average="macro"))
    labels = list(clf.classes_)
    assert report["log_loss"] == pytest.approx(metrics.log_loss(y, proba, labels=labels), 1e-5)
    np.testing.assert_array_equal(
        report["confusion"], metrics.confusion_matrix(y, pred, labels=labels)
    )


LABELS = {
    "int": np.array([7, 3]),
    "float": np.array([0.5, -1.0]),
    "bool": np.array([True, False]),
    "str": np.array(["yes", "no"]),
}


@pytest.mark.parametrize("kind", LABELS)
def test_labels_come_back_in_the_type_of_y(tmp_path, kind):
    x, y = toy(64, seed=0)
    values = LABELS[kind]
    y = np.where(y == "pos", values[0], values[1])  # (N,) of y's dtype
    clf = Classifier(**QUICK).fit(x, y, out=tmp_path / "run")
    assert clf.classes_.dtype == y.dtype and sorted(clf.classes_) == sorted(values)
    pred = clf.predict(x)
    assert pred.dtype == y.dtype and set(pred) <= set(values)
    assert clf.evaluate(x, y)["n"] == 64  # y of the same type scores
    assert clf.evaluate(x, list(y))["n"] == 64  # and so does a list of the values
    loaded = Classifier.load(tmp_path / "run")
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.predict(x), pred)


def test_variable_length_sequences():
    rng = np.random.default_rng(0)
    x, y = toy(96, seed=0, steps=8)
    seqs = [s[:k] for s, k in zip(x, rng.integers(2, 9, size=len(x)), strict=True)]
    clf = Classifier(**QUICK).fit(seqs, y.tolist())
    assert clf.predict(seqs).shape == (96,)
    proba = clf.predict_proba(seqs)
    assert proba.shape == (96, 2)
    # padding is not data: each sequence alone gets the probabilities it gets in the batch
    np.testing.assert_allclose(clf.predict_proba(seqs[:1])[0], proba[0], atol=1e-6)
    with pytest.raises(SequenceDataError, match="different feature counts"):
        clf.predict([np.zeros((3, 2)), np.zeros((3, 1))])


def test_every_input_form_trains_the_same_model(tmp_path):
    x, y = toy(64, seed=0)
    ids = [f"s{i:02d}" for i in range(len(x))]
    np.savez(tmp_path / "d.npz", x=x, y=y)
    frame = long_frame(x, y, ids)
    frame.to_csv(tmp_path / "d.csv", index=False)
    expected = Classifier(**QUICK).fit(x, y).predict_proba(x)
    for data in (frame, tmp_path / "d.npz", str(tmp_path / "d.csv")):
        clf = Classifier(**QUICK).fit(data)
        np.testing.assert_allclose(clf.predict_proba(x), expected, atol=1e-6)
        np.testing.assert_allclose(clf.predict_proba(data), expected, atol=1e-6)
        assert clf.evaluate(data)["n"] == 64
    # a DataFrame's sequences come in the order of their first rows, whatever the ids
    shuffled = long_frame(x[::-1], y[::-1], ids[::-1])
    np.testing.assert_allclose(clf.predict_proba(shuffled), expected[::-1], atol=1e-6)


def test_a_dataframe_with_numeric_labels_matches_arrays():
    x, y = toy(64, seed=0)
    y = np.where(y == "pos", 1.0, 0.0)
    frame = long_frame(x, y, [str(i) for i in range(len(x))])
    clf = Classifier(**QUICK).fit(frame)
    assert clf.classes_.dtype == np.float64 and list(clf.classes_) == [0.0, 1.0]
    assert clf.evaluate(x, y)["n"] == 64  # the DataFrame's 1.0 is the array's 1.0
    assert clf.predict(frame).dtype == np.float64


def test_tagging_predicts_a_label_per_step(tmp_path):
    seqs, labels = tags(120, seed=0)
    clf = Classifier(**TINY | {"max_steps": 150}).fit(seqs, labels, out=tmp_path / "run")
    assert clf.cfg.head == "step" and list(clf.classes_) == [0, 1, 2]
    test_seqs, test_labels = tags(30, seed=1)
    pred = clf.predict(test_seqs)
    assert isinstance(pred, list) and len(pred) == 30
    for p, truth in zip(pred, test_labels, strict=True):
        assert p.shape == truth.shape and p.dtype == truth.dtype
    proba = clf.predict_proba(test_seqs)
    assert [len(p) for p in proba] == [len(t) for t in test_labels] and proba[0].shape[1] == 3
    report = clf.evaluate(test_seqs, test_labels)
    assert report["n"] == sum(len(t) for t in test_labels) and report["accuracy"] > 0.9
    # a padded cube (N, T, F) with labels (N, T) tags the same
    cube = np.zeros((3, 8, 3), dtype=np.float32)
    for i, s in enumerate(test_seqs[:3]):
        cube[i, : len(s)] = s
    assert [len(p) for p in clf.predict(cube)] == [8, 8, 8]
    for i, s in enumerate(test_seqs[:3]):
        np.testing.assert_array_equal(clf.predict(cube)[i][: len(s)], pred[i])
    loaded = Classifier.load(tmp_path / "run")
    for a, b in zip(loaded.predict_proba(test_seqs), proba, strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# load: after fit(out=...) and after the CLI


def test_load_after_fit(tmp_path, fitted):
    _, (x, _) = fitted
    x_train, y_train = toy(256, seed=0)
    clf = Classifier(**TINY).fit(x_train, y_train, out=tmp_path / "run")
    assert (tmp_path / "run" / "best.safetensors").is_file() and clf.summary["steps"] == 100
    for source in (tmp_path / "run", str(tmp_path / "run"), tmp_path / "run/best.safetensors"):
        loaded = Classifier.load(source)
        np.testing.assert_array_equal(loaded.predict_proba(x), clf.predict_proba(x))
        np.testing.assert_array_equal(loaded.predict(x), clf.predict(x))
        assert loaded.cfg == clf.cfg


def test_load_after_the_cli_and_cli_predict(tmp_path, capsys):
    x, y = toy(128, seed=0)
    x_test, _ = toy(20, seed=1)
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=x_test, y=toy(20, seed=1)[1])
    flags = ["--cell", "gru", "--hidden-size", "16", "--max-steps", "30", "--eval-every", "15"]
    flags += ["--lr", "0.02", "--warmup-steps", "5", "--batch-size", "32", "--threads", "1"]
    flags += ["--swa", "0"]  # as TINY
    argv = ["classify", "train", "--data", str(tmp_path / "train.npz"), "--out"]
    argv += [str(tmp_path / "run"), "--test-data", str(tmp_path / "test.npz"), "--no-tensorboard"]
    assert main(argv + flags) == 0
    capsys.readouterr()
    loaded = Classifier.load(tmp_path / "run")
    api = Classifier(**TINY | {"max_steps": 30, "eval_every": 15}).fit(tmp_path / "train.npz")
    proba = loaded.predict_proba(x_test)
    np.testing.assert_allclose(proba, api.predict_proba(x_test), atol=1e-6)  # the same training
    assert dataclasses.replace(loaded.cfg, data="", test_data="") == api.cfg

    # predict on a long CSV keeps its ids, in order, and writes every class's probability
    ids = [f"case-{i}" for i in range(20)][::-1]  # not sorted
    long_frame(x_test, None, ids).to_csv(tmp_path / "new.csv", index=False)
    predict = ["classify", "predict", str(tmp_path / "run"), "--data"]
    assert main([*predict, str(tmp_path / "new.csv")]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0]) == ["id", "label", "probability", "p_neg", "p_pos"]
    assert [r["id"] for r in rows] == ids
    written = np.array([[float(r["p_neg"]), float(r["p_pos"])] for r in rows])
    np.testing.assert_allclose(written, proba, atol=1e-6)
    assert [r["label"] for r in rows] == list(loaded.predict(x_test))
    # an .npz has no ids: the row index
    assert main([*predict, str(tmp_path / "test.npz")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "index,label,probability,p_neg,p_pos"
    assert [line.split(",")[0] for line in lines[1:]] == [str(i) for i in range(20)]


# ---------------------------------------------------------------------------------------------
# errors, output, the run directory


def test_errors_say_what_was_expected(fitted):
    clf, (x, y) = fitted
    with pytest.raises(RuntimeError, match=r"call fit\(\) or load\(\) first"):
        Classifier().predict(x)
    with pytest.raises(RuntimeError, match=r"call fit\(\) or load\(\) first"):
        Classifier().evaluate(x, y)
    with pytest.raises(ValueError, match="have 3 feature.*trained on 2"):
        clf.predict(np.zeros((4, 6, 3)))
    with pytest.raises(ValueError, match=r"expected labels of shape \(200,\).*got \(199,\)"):
        clf.evaluate(x, y[:-1])
    with pytest.raises(ValueError, match=r"expected labels of shape \(10,\).*got \(9,\)"):
        Classifier(**QUICK).fit(x[:10], y[:9])
    with pytest.raises(ValueError, match="no labels"):
        Classifier(**QUICK).fit(x)
    with pytest.raises(ValueError, match="no labels"):
        clf.evaluate(x)
    frame = long_frame(x[:5], y[:5], list("abcde"))
    with pytest.raises(ValueError, match="DataFrame.*'label' column.*drop y"):
        Classifier(**QUICK).fit(frame, y[:5])
    with pytest.raises(ValueError, match="file.*its own labels.*drop y"):
        clf.evaluate("some.npz", y)
    nan = x.copy()
    nan[2, 3, 1] = np.nan
    for call in (lambda: Classifier(**QUICK).fit(nan, y), lambda: clf.predict(nan)):
        with pytest.raises(ValueError, match="1 NaN or infinite value.*sequence 2, step 3"):
            call()
    with pytest.raises(TypeError, match="expected an array .* got dict"):
        clf.predict({"x": x})
    with pytest.raises(
        ConfigError, match=r"hidden.size: expected an int >= 1, or -1 \(auto\), got 0"
    ):
        Classifier(hidden_size=0)
    with pytest.raises(ConfigError, match="unknown config key.*no_such_option"):
        Classifier(no_such_option=1)


def test_verbose(capsys, monkeypatch):
    monkeypatch.setattr("rnnkit.train.logging.is_terminal", lambda stream: True)  # the bar's place
    x, y = toy(64, seed=0)
    clf = Classifier(**QUICK).fit(x, y)
    clf.predict(x), clf.evaluate(x, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    Classifier(**QUICK).fit(x, y, verbose=True)
    captured = capsys.readouterr()
    assert "classify:" in captured.out and "step 10: val loss" in captured.out
    assert re.search(r"10/10", captured.err)  # the progress bar


def test_fit_never_writes_over_user_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    x, y = toy(32, seed=0)
    with pytest.raises(ConfigError, match="holds files rnnkit did not write"):
        Classifier(**QUICK).fit(x, y, out=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    Classifier(**QUICK).fit(x, y, out=tmp_path / "run")
    with pytest.raises(ConfigError, match="already holds a run"):
        Classifier(**QUICK).fit(x, y, out=tmp_path / "run")
