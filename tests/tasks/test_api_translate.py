"""The Python API: Translator(...).fit(pairs).translate(texts, beam=5), evaluate(), load(run)."""

import pytest

from rnnkit.tasks.translate import Translator

DIGITS = "zero one two three four five six seven eight nine".split()
TINY = dict(
    hidden_size=16, embedding_size=8, batch_size=16, max_steps=8, eval_every=4, warmup_steps=0,
    threads=1, tokens="word", valid_fraction=0.1, test_fraction=0.2,
)  # fmt: skip


def pairs(n=120):
    """Digits -> the digits written as words: '4 7' -> 'four seven'."""
    digits = [[i // 10**k % 10 for k in range(1 + i % 3)] for i in range(n)]
    return [(" ".join(map(str, d)), " ".join(DIGITS[j] for j in d)) for d in digits]


def test_fit_translate_evaluate_load(tmp_path):
    t = Translator(**TINY).fit(pairs(), out=tmp_path / "run")
    assert t.summary["steps"] == 8 and t.test
    texts = ["1 2", "9", "3 3 3"]
    out = t.translate(texts, beam=5)
    assert len(out) == 3 and all(isinstance(s, str) for s in out)
    assert t.translate("1 2", beam=5) == out[:1]
    assert t.translate(texts, beam=1) == t.translate(texts, beam=1, length_penalty=0.0)
    scores = t.evaluate()
    assert set(scores) == {"bleu", "chrf", "exact_match", "n"} and scores["n"] == len(t.test)
    loaded = Translator.load(tmp_path / "run")
    assert loaded.translate(texts, beam=5) == out
    assert loaded.evaluate(t.test) == scores
    assert t.translate([""]) == [""]


def test_errors():
    with pytest.raises(RuntimeError, match="call fit"):
        Translator().translate(["x"])
    with pytest.raises(ValueError, match="--attention"):
        Translator(attention="luong")
