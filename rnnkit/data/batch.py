"""The batch types the training loop tells apart by name, never by a tuple's length."""

from __future__ import annotations

from typing import Any, NamedTuple


class StatefulBatch(NamedTuple):
    """A batch of a task that carries the recurrent state across batches (truncated BPTT):
    ``x`` and ``y`` as any batch, ``reset`` True where the batch starts from a zero state."""

    x: Any
    y: Any
    reset: bool


class ShardedBatch(NamedTuple):
    """One rank's part of a step's global batch under torchrun (``rnnkit.train.distributed``):
    ``x`` and ``y`` as any batch, ``share`` the part of the global batch's loss that this
    part's mean loss makes (its loss terms / the global batch's; 0 for a stand-in part)."""

    x: Any
    y: Any
    share: float
