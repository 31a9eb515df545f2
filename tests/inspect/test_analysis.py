"""rnnkit.inspect.analysis: saturation fractions, text features and the ranking of cells,
on hand-made inputs and against NumPy's own Pearson correlation."""

import numpy as np
import pytest

from rnnkit.inspect.analysis import (
    FEATURES,
    best_per_feature,
    correlations,
    rank_cells,
    saturation,
    text_features,
)


def test_saturation_fractions_of_a_hand_made_gate_sequence():
    gate = np.array([  # 8 steps x 4 cells
        [0.05, 0.95, 0.5, 0.00],
        [0.05, 0.95, 0.5, 1.00],
        [0.05, 0.95, 0.5, 0.10],  # 0.1 and 0.9 themselves are not saturated
        [0.05, 0.50, 0.5, 0.90],
        [0.05, 0.50, 0.5, 0.09],
        [0.05, 0.50, 0.5, 0.91],
        [0.05, 0.50, 0.5, 0.50],
        [0.05, 0.50, 0.5, np.nan],  # padding: not counted
    ])  # fmt: skip
    left, right = saturation(gate)
    np.testing.assert_allclose(left, [1.0, 0.0, 0.0, 2 / 7])
    np.testing.assert_allclose(right, [0.0, 3 / 8, 0.0, 2 / 7])
    # (T, N, D, H) flattens after T: 2 directions of 2 cells
    l4, r4 = saturation(np.nan_to_num(gate, nan=0.5).reshape(8, 1, 2, 2))
    np.testing.assert_allclose(l4, [1.0, 0.0, 0.0, 2 / 8])
    assert r4.shape == (4,)
    with pytest.raises(ValueError, match="a cell of none"):
        saturation(np.full((3, 2), np.nan))


def test_text_features_of_python_source():
    text = "def f(a):\n    s = \"x#(\" # c(\n    return [a, '''q\n''']\n"
    f = text_features(text)
    assert set(f) == set(FEATURES) and all(len(v) == len(text) for v in f.values())
    at = text.index
    # a string: 1 after its opening quote, 0 again at its closing one; its # and ( are text
    s = at('"x#(')
    assert list(f["in_string"][s : s + 5]) == [1, 1, 1, 1, 0]
    assert f["in_comment"][s + 2] == 0 and f["bracket_depth"][s + 3] == 0
    # a comment: from # to the end of the line, its bracket not counted
    c = at("# c(")
    assert list(f["in_comment"][c : c + 5]) == [1, 1, 1, 1, 0]
    assert f["bracket_depth"][c + 3] == 0
    # a triple-quoted string spans lines; bracket depth counts [ outside it
    q = at("'''q")
    assert list(f["in_string"][q : q + 8]) == [1, 1, 1, 1, 1, 0, 0, 0]
    assert f["bracket_depth"][q - 1] == 1 and f["bracket_depth"][q + 8] == 0
    assert f["bracket_depth"][at("(a)")] == 1 and f["bracket_depth"][at("):")] == 0
    # indentation, position in the line, word starts
    assert f["indent"][at("return")] == 4 and f["indent"][0] == 0
    assert f["line_position"][at("return")] == 4 and f["line_position"][at("\n") + 1] == 0
    assert [text[k] for k in np.flatnonzero(f["word_start"])][:4] == ["d", "f", "a", "s"]
    assert text_features("\tx")["indent"][1] == 4


def test_an_escaped_quote_stays_inside_the_string():
    f = text_features('"a\\"b" c')
    assert list(f["in_string"]) == [1, 1, 1, 1, 1, 0, 0, 0]


def test_correlations_are_numpys_pearson_r_and_zero_for_constants():
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(50, 3))
    acts[:, 2] = 1.0  # a constant cell
    feats = {"a": rng.normal(size=50), "b": acts[:, 0] * 2 + 1, "flat": np.zeros(50)}
    r = correlations(acts, feats)
    assert r.shape == (3, 3)
    assert r[0, 0] == pytest.approx(np.corrcoef(acts[:, 0], feats["a"])[0, 1])
    assert r[0, 1] == pytest.approx(1.0)
    assert r[1, 1] == pytest.approx(np.corrcoef(acts[:, 1], feats["b"])[0, 1])
    assert not r[2].any() and not r[:, 2].any()


def test_rank_cells_strongest_first_with_each_cells_best_feature():
    rng = np.random.default_rng(1)
    feats = {"in_string": rng.integers(0, 2, 200).astype(float), "indent": rng.normal(size=200)}
    acts = {(0, "c"): rng.normal(size=(200, 4)), (1, "h"): rng.normal(size=(200, 4))}
    acts[(1, "h")][:, 2] = -feats["indent"] + 0.1 * rng.normal(size=200)  # tracks indent
    acts[(0, "c")][:, 3] = feats["in_string"] + 0.5 * rng.normal(size=200)  # in_string, weaker
    ranked = rank_cells(acts, feats, top=3)
    assert [(c.layer, c.gate, c.cell, c.feature) for c in ranked[:2]] == [
        (1, "h", 2, "indent"), (0, "c", 3, "in_string"),
    ]  # fmt: skip
    assert ranked[0].r < -0.9 and len(ranked) == 3
    assert abs(ranked[0].r) >= abs(ranked[1].r) >= abs(ranked[2].r)
    assert ranked[0].as_dict() == {"layer": 1, "cell": 2, "gate": "h", "feature": "indent",
                                   "r": round(ranked[0].r, 4)}  # fmt: skip
    best = best_per_feature(acts, feats)
    assert (best["indent"].layer, best["indent"].cell) == (1, 2)
    assert (best["in_string"].layer, best["in_string"].cell) == (0, 3)
