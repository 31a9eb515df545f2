"""The learning-rate schedule: a pure function of step and time, and the plateau schedule's
state (Keras's ReduceLROnPlateau on the training loss)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from rnnkit.train.config import TrainConfig


def training_progress(cfg: TrainConfig, step: int, elapsed: float) -> float:
    """How much of the budget is spent, 0..1: the larger of the step and time fractions."""
    fractions = [0.0]
    if cfg.max_steps:
        span = max(1, cfg.max_steps - cfg.warmup_steps)
        fractions.append((step - cfg.warmup_steps) / span)
    if cfg.max_time:
        fractions.append(elapsed / cfg.max_time)
    return min(1.0, max(fractions))


def learning_rate(
    cfg: TrainConfig, step: int, elapsed: float, plateau: Plateau | None = None
) -> float:
    """The learning rate of ``step`` at ``elapsed`` seconds: linear warmup, then the schedule
    (the plateau schedule's from ``plateau``, which follows the training loss)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "plateau":
        return plateau.lr if plateau is not None else cfg.lr
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.lr_decay ** ((step - cfg.warmup_steps) // cfg.lr_decay_every)
    min_lr, progress = cfg.lr * cfg.min_lr_fraction, training_progress(cfg, step, elapsed)
    if cfg.schedule == "wsd":  # warmup, stable, decay
        decayed = max(0.0, progress - (1.0 - cfg.decay_fraction)) / cfg.decay_fraction
        return cfg.lr + decayed * (min_lr - cfg.lr)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_lr + cosine * (cfg.lr - min_lr)


@dataclass
class LossWindow:
    """The training losses of an open window: their sum and count."""

    total: float = 0.0
    steps: int = 0


class Plateau:
    """The plateau schedule (Keras's ReduceLROnPlateau, on the training loss): the mean loss of
    each window of ``lr_decay_every`` steps after warmup is compared with the best so far; after
    ``plateau_patience`` windows without an improvement of more than ``MIN_DELTA`` the lr is
    multiplied by ``lr_decay`` (not below ``lr * min_lr_fraction``) and the count restarts.
    """

    MIN_DELTA = 1e-4  # Keras's default

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.lr = cfg.lr
        self.best = math.inf
        self.wait = 0  # windows since the last improvement
        self.window = LossWindow()

    def observe(self, step: int, loss: float) -> None:
        """Count the training loss of ``step`` (0-based)."""
        cfg = self.cfg
        if step < cfg.warmup_steps:
            return
        self.window.total += loss
        self.window.steps += 1
        if self.window.steps < cfg.lr_decay_every:
            return
        mean, self.window = self.window.total / self.window.steps, LossWindow()
        if mean < self.best - self.MIN_DELTA:
            self.best, self.wait = mean, 0
            return
        self.wait += 1
        if self.wait >= cfg.plateau_patience:
            self.lr = max(self.lr * cfg.lr_decay, cfg.lr * cfg.min_lr_fraction)
            self.wait = 0

    def state(self) -> dict[str, Any]:
        best = None if math.isinf(self.best) else self.best  # JSON has no inf
        return {"lr": self.lr, "best": best, "wait": self.wait, "window": asdict(self.window)}

    def load(self, state: dict[str, Any]) -> None:
        self.lr, self.wait = state["lr"], state["wait"]
        window = state["window"]  # a [sum, steps] list in checkpoints before LossWindow
        self.window = LossWindow(**window) if isinstance(window, dict) else LossWindow(*window)
        self.best = math.inf if state["best"] is None else state["best"]
