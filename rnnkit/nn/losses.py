"""Regression losses: MSE, MAE, Huber and the quantile (pinball) loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

REGRESSION_LOSSES = ("mse", "mae", "huber", "quantile")


def pinball_loss(output: Tensor, targets: Tensor, quantiles: Tensor) -> Tensor:
    """The mean quantile loss: output (..., Q) at levels ``quantiles`` (Q,), targets (...):
    max(q e, (q - 1) e) with e = target - prediction."""
    err = targets.unsqueeze(-1) - output  # (..., Q)
    return torch.maximum(quantiles * err, (quantiles - 1) * err).mean()


def regression_loss(
    name: str,
    output: Tensor,
    targets: Tensor,
    quantiles: Tensor | None = None,
    huber_delta: float = 1.0,
) -> Tensor:
    """The mean loss ``name`` (one of ``REGRESSION_LOSSES``) of ``output`` against ``targets``
    (output's shape, without the quantile dim Q for "quantile")."""
    if name == "quantile":
        return pinball_loss(output, targets, quantiles)
    if name == "mae":
        return (output - targets).abs().mean()
    if name == "huber":
        return F.huber_loss(output, targets, delta=huber_delta)
    if name == "mse":
        return F.mse_loss(output, targets)
    raise ValueError(f"regression_loss: expected one of {REGRESSION_LOSSES}, got {name!r}")
