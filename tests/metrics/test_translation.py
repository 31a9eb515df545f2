"""rnnkit.metrics.translation against BLEU written out (Papineni et al. 2002) and sacrebleu."""

import math
from collections import Counter

import pytest
import sacrebleu

from rnnkit.metrics.translation import translation_scores

HYPS = [
    "the cat sat on the mat today",
    "a quick brown fox jumps over the dog",
    "hello there my friend",
]
REFS = [
    "the cat sat on a mat today",
    "the quick brown fox jumps over the lazy dog",
    "hello there my friend",
]


def naive_bleu(hyps, refs, max_n=4):
    """Corpus BLEU: clipped n-gram precisions summed over the corpus, geometric mean, brevity
    penalty; the texts are lower-case words without punctuation (13a splits them on spaces)."""
    matched, total = [0] * max_n, [0] * max_n
    for h, r in zip(hyps, refs, strict=True):
        h, r = h.split(), r.split()
        for n in range(1, max_n + 1):
            hc = Counter(tuple(h[i : i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
            matched[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            total[n - 1] += max(0, len(h) - n + 1)
    c, r = sum(len(h.split()) for h in hyps), sum(len(x.split()) for x in refs)
    bp = 1.0 if c > r else math.exp(1 - r / c)
    return (
        100
        * bp
        * math.exp(sum(math.log(m / t) for m, t in zip(matched, total, strict=True)) / max_n)
    )


def test_scores():
    scores = translation_scores(HYPS, REFS)
    assert scores["bleu"] == pytest.approx(naive_bleu(HYPS, REFS))
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    assert scores["exact_match"] == pytest.approx(1 / 3) and scores["n"] == 3
    perfect = translation_scores(REFS, [r + " " for r in REFS])
    assert perfect["bleu"] == pytest.approx(100) and perfect["exact_match"] == 1.0


def test_errors():
    with pytest.raises(ValueError, match="one hypothesis per reference"):
        translation_scores(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="no sentences"):
        translation_scores([], [])
