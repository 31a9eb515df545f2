"""The divergence check of the training loop."""

from __future__ import annotations

import math


class DivergenceGuard:
    """Tells when a run has diverged: a NaN/inf loss or gradient norm, or a training loss whose
    running mean (an exponential moving average over about 10 steps) exceeds ``factor`` times
    the first loss (``factor`` 0: NaN/inf only). The running mean keeps one noisy batch (small
    batches, heavy dropout) from stopping a healthy run; a real blow-up still stops it at once.
    """

    SMOOTHING = 0.1  # weight of the newest loss in the running mean

    def __init__(self, factor: float):
        self.factor = factor
        self.first: float | None = None
        self.mean: float | None = None

    def check(self, loss: float, grad_norm: float | None) -> str | None:
        """What went wrong at this step, or None."""
        if not math.isfinite(loss):
            return f"the training loss is {loss}"
        if grad_norm is not None and not math.isfinite(grad_norm):
            return f"the gradient norm is {grad_norm}"
        if self.first is None:
            self.first = self.mean = loss
        self.mean += self.SMOOTHING * (loss - self.mean)
        if self.factor and self.mean > self.factor * self.first:
            return (
                f"the training loss exploded to {self.mean:.4g} (its running mean, > "
                f"{self.factor:g} x the first loss {self.first:.4g})"
            )
        return None

    def state(self) -> dict[str, float | None]:
        return {"first": self.first, "mean": self.mean}

    def load(self, state: dict[str, float | None]) -> None:
        self.first, self.mean = state["first"], state["mean"]
