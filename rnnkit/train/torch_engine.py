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

Under torchrun (``rnnkit.train.distributed``) the model is wrapped in DistributedDataParallel,
which averages the gradients over the ranks; ``train_batch`` then gives this rank's part of the
global batch, and a ``ShardedBatch`` says which share of the global loss its mean is (else the
parts are equal). The loss returned (and logged) is the global batch's. ``model`` stays the
plain module (its state_dict without "module."), which evaluation runs on every rank alike.
Checkpoints hold the carried state of all ranks' streams, joined along its batch dimension
(``STATE_BATCH_DIM``, torch.nn.RNN's (layers, B, H)), and each rank's torch RNG state, so that
a run resumes exactly at the same world size and continues at another (with other dropout
masks).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from rnnkit.data.batch import ShardedBatch, StatefulBatch
from rnnkit.train import distributed
from rnnkit.train.checkpoint import CheckpointError, load_weights, strip_prefix
from rnnkit.train.config import ConfigError, TrainConfig
from rnnkit.train.runtime import resolve_device, resolve_threads
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

STATE_BATCH_DIM = 1  # the batch dimension of a carried state: (layers, B, H), as torch.nn.RNN's


def _map_state(state: State, fn: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """``fn`` on each tensor of a carried state (a tensor, a tuple of them, or None)."""
    if state is None:
        return None
    return fn(state) if isinstance(state, torch.Tensor) else tuple(fn(s) for s in state)


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
        self.dist = distributed.current()
        self.device = resolve_device(cfg.device)
        if self.dist.enabled and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", self.dist.local_rank)  # a GPU per rank
        self.threads = resolve_threads(cfg.threads, sum(p.numel() for p in model.parameters()))
        torch.set_num_threads(self.threads)
        self.cfg, self.train_batch, self._evaluate = cfg, train_batch, evaluate
        if self.dist.enabled and self.device.type == "cuda":
            # batch norm over the global batch (torch's SyncBatchNorm runs on GPUs only; on
            # the CPU each rank normalizes by its own part's statistics, as DDP does)
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model, cfg)
        self._forward: nn.Module = self.model  # what the training steps call
        if self.dist.enabled:
            if hasattr(cfg, "batch_size"):  # the global batch: refused unless it divides
                distributed.split_batch_size(cfg.batch_size)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._forward = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
            if not self.dist.is_main:  # dropout masks of its own (rank 0 keeps the seed's)
                torch.manual_seed(distributed.rank_seed(cfg.seed, self.dist.rank))
        self._autocast = torch.autocast(self.device.type, torch.bfloat16, cfg.precision == "bf16")
        self.state: State = None  # the recurrent state carried across batches (TBPTT)

    def session(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def train_step(self, step: int, lr: float, observe: Callable[[float, float], None]):
        """Forward, backward, clip, ``observe(loss, grad_norm)``, step: (loss, items)."""
        cfg, model, opt = self.cfg, self._forward, self.optimizer
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
        # backward (DDP: the gradients averaged over the ranks, as the global batch's loss
        # when each rank's loss is weighted by its share times the world size)
        share = batch.share if isinstance(batch, ShardedBatch) else 1 / self.dist.world_size
        opt.zero_grad(set_to_none=True)
        (loss * (share * self.dist.world_size) if self.dist.enabled else loss).backward()
        # clip; stop on a NaN or exploding loss before the step spoils the weights
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        loss_value, items = loss.item(), y.numel() * (share > 0)
        if self.dist.enabled:  # the global batch's loss and items
            loss_value, items = distributed.sum_over_ranks(loss_value * share, items)
        observe(loss_value, float(grad_norm))
        # step
        opt.step()
        self.state = detach(self.state)
        return loss_value, int(items)

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
        """What a full checkpoint holds besides the weights (under torchrun: every rank calls
        it, the ranks' carried states and RNG states are gathered)."""
        optim_tensors, optim_meta = torch_optimizer_to_tensors(self.optimizer)
        rng_tensors, rng_meta = rng_to_tensors()
        state_tensors, state_n = state_to_tensors(_map_state(self.state, self._all_streams))
        meta = {"optim": optim_meta, "rng": rng_meta, "state": state_n}
        if self.dist.enabled:
            meta["world_size"] = self.dist.world_size
            rng_tensors["rng.ranks.torch"] = distributed.gather(torch.get_rng_state()[None])
            if self.device.type == "cuda":
                own = torch.cuda.get_rng_state(self.device)[None]  # (1, n) uint8
                rng_tensors["rng.ranks.cuda"] = distributed.gather(own)
        return optim_tensors | rng_tensors | state_tensors, meta

    def _all_streams(self, state: torch.Tensor) -> torch.Tensor:
        """The ranks' carried states joined: (layers, B/N, H) -> (layers, B, H)."""
        return distributed.gather(state.contiguous(), STATE_BATCH_DIM)

    def _my_streams(self, state: torch.Tensor) -> torch.Tensor:
        """This rank's part of a checkpoint's carried state: (layers, B, H) -> (layers, B/N, H)."""
        part = state.size(STATE_BATCH_DIM) // self.dist.world_size
        return state.narrow(STATE_BATCH_DIM, self.dist.rank * part, part).contiguous()

    def _restore_rank_rng(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        """Rank r's own RNG states at the world size of the checkpoint; at another world size,
        rank 0 goes on with the saved rank 0's and the other ranks draw new seeds."""
        rank = self.dist.rank
        if meta.get("world_size", 1) == self.dist.world_size and "rng.ranks.torch" in tensors:
            torch.set_rng_state(tensors["rng.ranks.torch"][rank].clone())
            if self.device.type == "cuda" and "rng.ranks.cuda" in tensors:
                torch.cuda.set_rng_state(tensors["rng.ranks.cuda"][rank].clone(), self.device)
        elif rank > 0:
            torch.manual_seed(distributed.rank_seed(self.cfg.seed, rank, meta["step"]))

    def restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        try:
            load_weights(self.model, strip_prefix("model", tensors), "resume")
            torch_optimizer_from_tensors(self.optimizer, tensors, meta["optim"])
            rng_from_tensors(tensors, meta["rng"])
            carried = {k: v for k, v in tensors.items() if k == "state" or k.startswith("state.")}
            state = state_from_tensors(carried, meta["state"], self.device)
            self.state = _map_state(state, self._my_streams) if self.dist.enabled else state
            if self.dist.enabled:
                self._restore_rank_rng(tensors, meta)
        except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(
                f"resume: the checkpoint does not fit this config ({e}); resume with the run's "
                f"own flags, or start a new run with another --out"
            ) from e
