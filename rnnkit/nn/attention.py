"""Attention and the masks it needs: which steps of a padded batch are real.

``AttentionPooling`` pools a sequence against a learned query (classification);
``Attention`` attends from a query (a decoder state) over keys with the scores of Bahdanau et
al. and Luong et al. (translation, captioning).

Shapes: B batch, T steps, D features of each step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence


def padded(x: PackedSequence | Tensor) -> tuple[Tensor, Tensor]:
    """(values (B, T, ...), lengths (B,)) of a PackedSequence, or of a full-length batch-first
    tensor (every length T)."""
    if isinstance(x, PackedSequence):
        values, lengths = pad_packed_sequence(x, batch_first=True)  # (B, T, ...)
        return values, lengths.to(values.device)
    return x, torch.full((x.size(0),), x.size(1), device=x.device)


def lengths_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) True at the steps within each sequence's length."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def masked_softmax(scores: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """softmax of ``scores`` over ``dim`` with the False places of ``mask`` given no weight."""
    return torch.softmax(scores.masked_fill(~mask, -math.inf), dim=dim)


class AttentionPooling(nn.Module):
    """Additive attention over steps (Bahdanau-style scores against a learned query):
    a_t = softmax_t(v^T tanh(W o_t + b)), pooled = sum_t a_t o_t.

    ``forward(out (B, T, D), mask (B, T)) -> (B, D)``; padded steps get no weight. ``weights``
    keeps the last (B, T) attention, for plots.
    """

    def __init__(self, size: int):
        super().__init__()
        self.proj = nn.Linear(size, size)
        self.score = nn.Linear(size, 1, bias=False)
        self.weights: Tensor | None = None

    def forward(self, out: Tensor, mask: Tensor) -> Tensor:
        scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)  # (B, T)
        weights = masked_softmax(scores, mask, dim=1)  # (B, T)
        self.weights = weights.detach()
        return torch.bmm(weights.unsqueeze(1), out).squeeze(1)  # (B, D)


# ---------------------------------------------------------------------------------------------
# attention of a query over a sequence of keys: the scorers of Bahdanau et al. and Luong et al.

SCORES = ("bahdanau", "dot", "general", "concat")


class Attention(nn.Module):
    """Attention of a query over keys (a decoder state over the encoder's outputs), masked.

    Scores of a query q (B, Q) against each key k_t (B, T, K):

    - ``bahdanau`` (Bahdanau et al. 2015, additive): v^T tanh(W_q q + W_k k_t + b)
    - ``dot`` (Luong et al. 2015): q^T k_t (needs Q == K)
    - ``general`` (Luong): q^T W k_t
    - ``concat`` (Luong): v^T tanh(W [q; k_t] + b)

    weights a_t = softmax_t(score_t) over the steps where ``mask`` (B, T) is True (exactly 0 at
    padding; each row sums to 1), context = sum_t a_t k_t (B, K).

    ``forward(query, keys, mask, projected=None) -> (context (B, K), weights (B, T))``. The keys'
    part of the score does not change from one decoder step to the next: ``project(keys)``
    computes it once, and ``forward(..., projected=...)`` reuses it.
    """

    def __init__(self, query_size: int, key_size: int, score: str = "bahdanau", size: int = 0):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"Attention: expected score one of {', '.join(SCORES)}, got {score!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(
                f"Attention: dot scores need query_size == key_size, got {query_size} and "
                f"{key_size}; use general, bahdanau or concat"
            )
        self.score, self.query_size, self.key_size = score, query_size, key_size
        size = size or query_size  # the hidden size of additive scores
        if score == "general":
            self.key_proj = nn.Linear(key_size, query_size, bias=False)
        elif score in ("bahdanau", "concat"):
            # concat's W [q; k] + b is W_q q + W_k k + b: the same as two blocks of one matrix
            self.query_proj = nn.Linear(query_size, size, bias=False)
            self.key_proj = nn.Linear(key_size, size, bias=True)
            self.v = nn.Linear(size, 1, bias=False)

    def extra_repr(self) -> str:
        return f"{self.query_size}, {self.key_size}, score={self.score!r}"

    def project(self, keys: Tensor) -> Tensor:
        """The keys' part of the scores, once per sequence: (B, T, K) -> (B, T, Q or size)."""
        return keys if self.score == "dot" else self.key_proj(keys)

    def scores(self, query: Tensor, projected: Tensor) -> Tensor:
        """Unmasked scores (B, T) of ``query`` (B, Q) against projected keys (B, T, .)."""
        if self.score in ("dot", "general"):
            return torch.bmm(projected, query.unsqueeze(2)).squeeze(2)  # (B, T)
        hidden = torch.tanh(projected + self.query_proj(query).unsqueeze(1))  # (B, T, size)
        return self.v(hidden).squeeze(2)  # (B, T)

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor, projected: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if query.dim() != 2 or keys.dim() != 3 or mask.shape != keys.shape[:2]:
            raise ValueError(
                f"Attention: expected query (B, Q), keys (B, T, K) and mask (B, T), got "
                f"{tuple(query.shape)}, {tuple(keys.shape)} and {tuple(mask.shape)}"
            )
        if projected is None:
            projected = self.project(keys)
        weights = masked_softmax(self.scores(query, projected), mask, dim=1)  # (B, T)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B, K)
        return context, weights
