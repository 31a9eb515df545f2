"""Classification scores: accuracy, precision, recall, F1, the confusion matrix and log loss.

Labels are class ids 0..C-1 (``classes`` names them). With the confusion matrix M (C, C), rows
the true class and columns the predicted one, per class k:

    tp_k = M[k, k],   precision_k = tp_k / sum_i M[i, k],   recall_k = tp_k / sum_j M[k, j],
    f1_k = 2 precision_k recall_k / (precision_k + recall_k),

each 0 where its denominator is 0 (scikit-learn's ``zero_division=0``). Macro-F1 averages f1_k
over the classes that occur in the truth or the prediction.
"""

from __future__ import annotations

import numpy as np

PROBABILITY_FLOOR = 1e-12  # log_loss clips p(true class) here, so a confident miss stays finite


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1 (over classes that occur in truth or prediction), per-class
    precision/recall/F1/support and the confusion matrix (rows: truth, columns: prediction).

    y_true and y_pred: (N,) class ids in [0, C). Returns {"accuracy", "macro_f1", "n",
    "per_class": [{"class", "precision", "recall", "f1", "support"}] * C, "confusion": (C, C)}.
    """
    c = len(classes)
    confusion = np.bincount(y_true * c + y_pred, minlength=c * c).reshape(c, c)  # (C, C)
    tp, predicted, support = np.diag(confusion), confusion.sum(0), confusion.sum(1)  # each (C,)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = (predicted + support) > 0
    per_class = [
        {"class": classes[k], "precision": precision[k], "recall": recall[k], "f1": f1[k],
         "support": int(support[k])}
        for k in range(c)
    ]  # fmt: skip
    return {
        "accuracy": float(tp.sum() / max(1, len(y_true))),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "n": int(len(y_true)),
        "per_class": per_class,
        "confusion": confusion,
    }


def log_loss(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean cross-entropy of the true classes: -1/N sum_i log max(p_i[y_i], 1e-12).

    y_true: (N,) class ids; probs: (N, C) class probabilities (rows summing to 1).
    """
    p_true = probs[np.arange(len(y_true)), y_true]  # (N,)
    return float(-np.log(np.maximum(p_true, PROBABILITY_FLOOR)).mean())


def format_report(report: dict, title: str) -> str:
    """The report as text: a headline and one line per class."""
    unit = "steps" if report.get("per_step") else "sequences"
    lines = [
        f"{title}: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f} "
        f"over {report['n']} {unit}",
        f"{'class':<20} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}",
    ]
    for row in report["per_class"]:
        lines.append(
            f"{row['class'][:20]:<20} {row['precision']:>9.4f} {row['recall']:>9.4f} "
            f"{row['f1']:>9.4f} {row['support']:>9d}"
        )
    return "\n".join(lines)
