"""Convolutional blocks over padded sequences: padding never reaches a statistic or a result.

Shapes: B batch, C channels, T steps; ``mask`` (B, T) True at real steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over (B, C, T) whose statistics count valid steps only; padding stays 0."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # x (B, C, T), mask (B, T)
        if bool(mask.all()):  # no padding (sets of one length): the same statistics, no copies
            return super().forward(x)
        steps = x.transpose(1, 2)  # (B, T, C)
        out = torch.zeros_like(steps)
        out[mask] = super().forward(steps[mask])  # (valid steps, C)
        return out.transpose(1, 2)  # (B, C, T)


class ConvBlock(nn.Module):
    """Conv1d ('same' zero padding, as Keras: (k-1)//2 steps before, k//2 after) -> masked
    batch norm -> ReLU, zero beyond each length."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int):
        super().__init__()
        self.pad = ((kernel - 1) // 2, kernel // 2)
        self.conv = nn.Conv1d(channels_in, channels_out, kernel)
        self.norm = MaskedBatchNorm1d(channels_out)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # x (B, C_in, T), mask (B, T)
        return F.relu(self.norm(self.conv(F.pad(x, self.pad)), mask))  # (B, C_out, T)
