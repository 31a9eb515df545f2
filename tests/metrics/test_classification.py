"""rnnkit.metrics.classification against scikit-learn, and by hand."""

import math

import numpy as np
import pytest

from rnnkit.metrics import classification_report, format_report, log_loss


@pytest.fixture(scope="module")
def skm():
    """sklearn.metrics, imported once."""
    return pytest.importorskip("sklearn.metrics")


def _labels(seed: int, n: int = 200) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Six classes: 4 never in the truth, 3 never predicted, 5 in neither."""
    rng = np.random.default_rng(seed)
    y_true = rng.choice([0, 1, 2, 3], size=n)
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.choice([0, 1, 2, 4], size=n))
    y_pred = np.where(y_pred == 3, 0, y_pred)
    return y_true, y_pred, [f"class{k}" for k in range(6)]


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
def test_report_matches_sklearn(skm, seed):
    y_true, y_pred, classes = _labels(seed)
    report = classification_report(y_true, y_pred, classes)
    every = list(range(len(classes)))
    present = sorted(set(y_true) | set(y_pred))
    assert 4 not in y_true and 3 not in y_pred and 5 not in present  # the cases covered
    assert report["n"] == len(y_true)
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-15)
    macro = skm.f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    assert report["macro_f1"] == pytest.approx(macro, abs=1e-15)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=every, zero_division=0)
    rows = report["per_class"]
    assert [row["class"] for row in rows] == classes
    np.testing.assert_allclose([row["precision"] for row in rows], p, rtol=0, atol=1e-15)
    np.testing.assert_allclose([row["recall"] for row in rows], r, rtol=0, atol=1e-15)
    np.testing.assert_allclose([row["f1"] for row in rows], f, rtol=0, atol=1e-15)
    assert [row["support"] for row in rows] == s.tolist()
    np.testing.assert_array_equal(
        report["confusion"], skm.confusion_matrix(y_true, y_pred, labels=every)
    )


def test_report_by_hand():
    # confusion [[1, 1, 0], [0, 1, 0], [0, 1, 0]]: precision (1, 1/3, 0), recall (1/2, 1, 0)
    report = classification_report(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), list("abc"))
    np.testing.assert_array_equal(report["confusion"], [[1, 1, 0], [0, 1, 0], [0, 1, 0]])
    assert report["accuracy"] == 0.5 and report["n"] == 4
    f1 = [row["f1"] for row in report["per_class"]]
    np.testing.assert_allclose(f1, [2 / 3, 1 / 2, 0.0])
    assert report["macro_f1"] == pytest.approx(7 / 18)
    assert [row["support"] for row in report["per_class"]] == [2, 1, 1]


def test_report_of_nothing():
    empty = np.array([], dtype=int)
    report = classification_report(empty, empty, ["a", "b"])
    assert (report["accuracy"], report["macro_f1"], report["n"]) == (0.0, 0.0, 0)
    assert report["confusion"].sum() == 0


@pytest.mark.parametrize("seed", range(3))
def test_log_loss_matches_sklearn(skm, seed):
    rng = np.random.default_rng(seed)
    y_true, _, classes = _labels(seed, n=50)
    probs = _softmax(rng.normal(0, 3, (50, len(classes))))  # (N, C)
    expected = skm.log_loss(y_true, probs, labels=list(range(len(classes))))
    assert log_loss(y_true, probs) == pytest.approx(expected, rel=1e-12)


def test_log_loss_clips_at_1e_12():
    # a true class of probability 0 costs -log(1e-12); scikit-learn clips at float eps instead
    probs = np.array([[0.0, 1.0], [0.25, 0.75]])
    assert log_loss(np.array([0, 1]), probs) == pytest.approx(
        (-math.log(1e-12) - math.log(0.75)) / 2
    )


def test_format_report():
    report = classification_report(np.array([0, 1, 1]), np.array([0, 1, 0]), ["cat", "dog"])
    lines = format_report(report, "test").splitlines()
    assert lines[0] == "test: accuracy 0.6667, macro-F1 0.6667 over 3 sequences"
    assert lines[1].split() == ["class", "precision", "recall", "f1", "support"]
    assert lines[2].split() == ["cat", "0.5000", "1.0000", "0.6667", "1"]
    assert lines[3].split() == ["dog", "1.0000", "0.5000", "0.6667", "2"]
    assert "over 3 steps" in format_report(report | {"per_step": True}, "test")
