"""Scores of translations: corpus BLEU and chrF by ``sacrebleu`` (its defaults: 13a tokenization,
BLEU up to 4-grams, chrF of character 6-grams with beta 2), and the exact-match rate."""

from __future__ import annotations

from collections.abc import Sequence


def translation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """{"bleu", "chrf", "exact_match", "n"}: BLEU and chrF (0..100) by sacrebleu, exact match
    (0..1) of each hypothesis with its reference (whitespace-stripped), n the number of
    sentences."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(
            f"translation_scores: expected one hypothesis per reference, got "
            f"{len(hypotheses)} and {len(references)}"
        )
    if not references:
        raise ValueError("translation_scores: no sentences to score")
    hyps, refs = list(hypotheses), [list(references)]
    exact = sum(h.strip() == r.strip() for h, r in zip(hypotheses, references, strict=True))
    return {
        "bleu": float(sacrebleu.corpus_bleu(hyps, refs).score),
        "chrf": float(sacrebleu.corpus_chrf(hyps, refs).score),
        "exact_match": exact / len(references),
        "n": len(references),
    }
