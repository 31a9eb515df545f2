"""What the gates say: saturation fractions, features of a text, and the cells that track them.

- ``saturation``: per cell, the fraction of steps a gate spends left-saturated (< 0.1) and
  right-saturated (> 0.9), as in Karpathy, Johnson & Fei-Fei (2015), Fig. 3.
- ``text_features``: per character of (Python-like) source, the state of the text *after*
  reading it: ``in_string`` (inside a string literal: 1 from its opening quote, 0 again at its
  closing one; triple quotes and backslash escapes understood), ``in_comment`` (from ``#`` to
  the end of the line, outside strings), ``bracket_depth`` (open ``([{`` outside strings and
  comments), ``indent`` (the leading spaces of the character's line, a tab as 4),
  ``line_position`` (the column, 0 at the line's first character), ``word_start`` (1 at the
  first character of a word: a letter, digit or ``_`` after anything else).
- ``rank_cells``: the Pearson correlation of every cell's activation with every feature over
  the characters; each cell's best feature by |r|, the cells strongest first.

Shapes: T steps (characters), N batch, D directions, H cells, K = D*H cells of a layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURES = ("in_string", "in_comment", "bracket_depth", "indent", "line_position", "word_start")
LOW, HIGH = 0.1, 0.9  # the thresholds of saturation
OPEN, CLOSE = "([{", ")]}"


def saturation(
    values: np.ndarray, low: float = LOW, high: float = HIGH
) -> tuple[np.ndarray, np.ndarray]:
    """(left, right): per cell, the fraction of steps with the gate below ``low`` and above
    ``high``. ``values``: (T, K) activations of K cells over T steps (or (T, ...), flattened
    after T); a NaN step (padding) is left out of that cell's count."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(len(values), -1)  # (T, K)
    seen = (~np.isnan(flat)).sum(0)  # (K,)
    if not seen.all():
        raise ValueError("saturation: expected at least one step of every cell, got a cell of none")
    with np.errstate(invalid="ignore"):
        left = (flat < low).sum(0) / seen
        right = (flat > high).sum(0) / seen
    return left, right


def text_features(text: str) -> dict[str, np.ndarray]:
    """{feature: (T,) float} for each character of ``text`` (see the module docstring)."""
    n = len(text)
    out = {name: np.zeros(n) for name in FEATURES}
    quote, escaped, comment, depth = "", False, False, 0
    indents = [_indent(line) for line in text.split("\n")]
    line = column = i = 0
    while i < n:
        c = text[i]
        step = 1
        if quote:  # inside a string: an escape, the closing quote, or more of it
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif text.startswith(quote, i):
                step = len(quote)
                quote = ""
            elif c == "\n" and len(quote) == 1:  # an unterminated one-line string ends here
                quote = ""
        elif comment:
            comment = c != "\n"
        elif c == "#":
            comment = True
        elif c in "'\"":
            quote = c * 3 if text.startswith(c * 3, i) else c
            step = len(quote)
        elif c in OPEN:
            depth += 1
        elif c in CLOSE:
            depth = max(0, depth - 1)
        for k in range(i, min(i + step, n)):  # a triple quote: its three characters alike
            ch = text[k]
            out["in_string"][k] = bool(quote)
            out["in_comment"][k] = comment and ch != "\n"
            out["bracket_depth"][k] = depth
            out["indent"][k] = indents[line]
            out["line_position"][k] = column
            alnum = ch.isalnum() or ch == "_"
            prev = text[k - 1] if k else " "
            out["word_start"][k] = alnum and not (prev.isalnum() or prev == "_")
            line, column = (line + 1, 0) if ch == "\n" else (line, column + 1)
        i += step
    return out


def _indent(line: str) -> int:
    """The leading spaces of ``line`` (a tab counts 4)."""
    lead = line[: len(line) - len(line.lstrip(" \t"))]
    return len(lead) + 3 * lead.count("\t")


@dataclass
class Ranked:
    """One cell and the feature it tracks best: Pearson ``r`` over the characters."""

    layer: int
    cell: int
    gate: str
    feature: str
    r: float

    def as_dict(self) -> dict:
        return {"layer": self.layer, "cell": self.cell, "gate": self.gate,
                "feature": self.feature, "r": round(self.r, 4)}  # fmt: skip


def correlations(activations: np.ndarray, features: dict[str, np.ndarray]) -> np.ndarray:
    """Pearson r (K, M) of K cells' activations (T, K) with M features ({name: (T,)}); 0 where
    a cell or a feature is constant over the text."""
    a = np.asarray(activations, dtype=np.float64)  # (T, K)
    f = np.stack([np.asarray(v, dtype=np.float64) for v in features.values()], 1)  # (T, M)
    if len(a) != len(f):
        raise ValueError(f"correlations: {len(a)} steps of activations, {len(f)} of features")
    a = a - a.mean(0)
    f = f - f.mean(0)
    norm = np.outer(np.linalg.norm(a, axis=0), np.linalg.norm(f, axis=0))  # (K, M)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a.T @ f) / norm
    return np.nan_to_num(np.clip(r, -1.0, 1.0))


def rank_cells(
    activations: dict[tuple[int, str], np.ndarray],
    features: dict[str, np.ndarray],
    top: int = 20,
) -> list[Ranked]:
    """The ``top`` cells (each with its best feature), strongest |r| first, over every
    (layer, gate): (T, K) activations."""
    names = list(features)
    ranked = []
    for (layer, gate), values in activations.items():
        r = correlations(values, features)  # (K, M)
        best = np.abs(r).argmax(1)  # (K,)
        for cell, m in enumerate(best):
            ranked.append(Ranked(layer, cell, gate, names[m], float(r[cell, m])))
    ranked.sort(key=lambda x: (-abs(x.r), x.layer, x.gate, x.cell))
    return ranked[:top] if top else ranked


def best_per_feature(
    activations: dict[tuple[int, str], np.ndarray], features: dict[str, np.ndarray]
) -> dict[str, Ranked]:
    """{feature: the cell that tracks it best} (features constant over the text left out)."""
    best: dict[str, Ranked] = {}
    for (layer, gate), values in activations.items():
        r = correlations(values, features)  # (K, M)
        for m, name in enumerate(features):
            cell = int(np.abs(r[:, m]).argmax())
            if r[cell, m] and (name not in best or abs(r[cell, m]) > abs(best[name].r)):
                best[name] = Ranked(layer, cell, gate, name, float(r[cell, m]))
    return best
