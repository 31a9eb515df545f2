"""Attention and the masks it needs: which steps of a padded batch are real.

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
