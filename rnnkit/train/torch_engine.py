"""The torch engine of the training loop: autograd and torch.optim make each step.

``TorchEngine(model, cfg, train_batch, evaluate)`` hands ``rnnkit.train.Trainer``:

- ``model``: an ``nn.Module`` with ``forward(x, targets=None) -> (output, loss)``;
- ``train_batch(step) -> batch``: the batch of a step, a pure function of ``step`` (so that a
  resumed run sees the same batches): ``(x, y)``, or a ``rnnkit.data.batch.StatefulBatch(x, y,
  reset)`` for a task
  that carries recurrent state across batches (truncated BPTT): the model is then called as
  ``model(x, y, state=state)`` and returns ``((prediction, new_state), loss)``; ``new_state``
  (detached) goes into the next step, and None where ``reset`` is True;
- ``evaluate(model) -> float``: the validation loss (run under ``torch.no_grad``, eval mode).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from rnnkit.data.batch import StatefulBatch
from rnnkit.train.checkpoint import CheckpointError, load_weights, strip_prefix
from rnnkit.train.config import ConfigError, TrainConfig
from rnnkit.train.run import resolve_device
from rnnkit.train.state import (
    State,
    detach,
    rng_from_tensors,
    rng_to_tensors,
    state_from_tensors,
    state_to_tensors,
    torch_optimizer_from_tensors,
    torch_optimizer_to_tensors,
)


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer of ``cfg``; weight decay applies to matrices (dim >= 2) only."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    betas = (cfg.momentum, cfg.beta2)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=betas)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=betas)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=cfg.beta2)
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(groups, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    raise ConfigError(
        f"--optimizer: expected adamw, adam, rmsprop, adagrad or sgd, got {cfg.optimizer!r}"
    )


class TorchEngine:
    """Steps of ``model`` on ``train_batch(step)`` with the optimizer, clipping, precision and
    device of ``cfg`` (see the module docstring)."""

    name = "torch"

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        train_batch: Callable[[int], tuple],
        evaluate: Callable[[nn.Module], float],
    ):
        self.device = resolve_device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.cfg, self.train_batch, self._evaluate = cfg, train_batch, evaluate
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model, cfg)
        self._autocast = torch.autocast(self.device.type, torch.bfloat16, cfg.precision == "bf16")
        self.state: State = None  # the recurrent state carried across batches (TBPTT)

    def session(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def train_step(self, step: int, lr: float, observe: Callable[[float, float], None]):
        """Forward, backward, clip, ``observe(loss, grad_norm)``, step: (loss, items)."""
        cfg, model, opt = self.cfg, self.model, self.optimizer
        for group in opt.param_groups:
            group["lr"] = lr
        # forward, carrying the recurrent state of a stateful task
        batch = self.train_batch(step)
        x, y = batch[0].to(self.device), batch[1].to(self.device)
        with self._autocast:
            if isinstance(batch, StatefulBatch):
                state = None if batch.reset else self.state
                (_, self.state), loss = model(x, y, state=state)
            else:
                _, loss = model(x, y)
        # backward
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # clip; stop on a NaN or exploding loss before the step spoils the weights
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        loss_value = loss.item()
        observe(loss_value, float(grad_norm))
        # step
        opt.step()
        self.state = detach(self.state)
        return loss_value, y.numel()

    def evaluate(self) -> float:
        self.model.eval()
        try:
            with torch.no_grad(), self._autocast:
                return float(self._evaluate(self.model))
        finally:
            self.model.train()

    def weights(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def training_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        optim_tensors, optim_meta = torch_optimizer_to_tensors(self.optimizer)
        rng_tensors, rng_meta = rng_to_tensors()
        state_tensors, state_n = state_to_tensors(self.state)
        meta = {"optim": optim_meta, "rng": rng_meta, "state": state_n}
        return optim_tensors | rng_tensors | state_tensors, meta

    def restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        try:
            load_weights(self.model, strip_prefix("model", tensors), "resume")
            torch_optimizer_from_tensors(self.optimizer, tensors, meta["optim"])
            rng_from_tensors(tensors, meta["rng"])
            carried = {k: v for k, v in tensors.items() if k == "state" or k.startswith("state.")}
            self.state = state_from_tensors(carried, meta["state"], self.device)
        except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(
                f"resume: the checkpoint does not fit this config ({e}); resume with the run's "
                f"own flags, or start a new run with another --out"
            ) from e
