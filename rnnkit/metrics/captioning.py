"""Scores of captions as the COCO evaluation computes them: BLEU-1..4 and CIDEr(-D) by
``pycocoevalcap`` (its scorers are pure Python), over captions tokenized in Python.

pycocoevalcap's PTB tokenizer calls Java; ``caption_words`` does what it does to COCO's
captions (lower case, punctuation dropped, split at white space) without it, so the scores
are the same wherever Java is absent. Each image may have several reference captions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def caption_words(text: str) -> list[str]:
    """The words of a caption: lower case, punctuation dropped (``"A dog, running."`` ->
    ``["a", "dog", "running"]``)."""
    return _WORD.findall(text.lower())


def caption_scores(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """{"bleu1".."bleu4", "cider", "n"} of one hypothesis per image against its references
    (each a list of one or more captions); BLEU and CIDEr-D as pycocoevalcap computes them
    (BLEU in 0..1, corpus-level; CIDEr-D the mean over images, 0..10)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    if len(hypotheses) != len(references):
        raise ValueError(
            f"caption_scores: expected one hypothesis per image, got {len(hypotheses)} "
            f"hypotheses and {len(references)} reference lists"
        )
    if not references:
        raise ValueError("caption_scores: no captions to score")
    if any(not refs for refs in references):
        raise ValueError("caption_scores: an image without reference captions")
    res = {i: [" ".join(caption_words(h))] for i, h in enumerate(hypotheses)}
    gts = {i: [" ".join(caption_words(r)) for r in refs] for i, refs in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    scores = {f"bleu{n + 1}": float(b) for n, b in enumerate(bleu)}
    return scores | {"cider": float(cider), "n": len(references)}


def distinct_share(captions: Sequence[str]) -> float:
    """The share of distinct captions among ``captions`` (1: all differ; 1/n: one for all)."""
    if not captions:
        raise ValueError("distinct_share: no captions")
    return len({" ".join(caption_words(c)) for c in captions}) / len(captions)
