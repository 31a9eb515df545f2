"""The NumPy engine of the training loop: a NumPy model's hand-written step.

``NumpyEngine(runner, evaluate, threads)`` hands ``rnnkit.train.Trainer`` the steps of a task's
``Runner`` (forward, hand-written backward, clip, the engine's optimizer), so that NumPy models
train with the same loop, schedule, run directory, Ctrl-C handling, divergence checks and
checkpoints as torch ones (meta ``engine: "numpy"``). Training state in a checkpoint, as the
torch engine lays it out: the weights as ``model.<key>`` (torch's keys), the optimizer's buffers
as ``optim.<slot>.<param>`` with its scalars in meta["optim"], the carried recurrent state as
``state`` or ``state.0``, ``state.1`` (``rnnkit.train.state``), the RNG states in meta["rng"].
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

from rnnkit.train.checkpoint import CheckpointError
from rnnkit.train.config import ConfigError
from rnnkit.train.runtime import resolve_threads


class Runner(Protocol):
    """A model and its training step, for ``NumpyEngine``."""

    model: Any  # .state_dict() -> {torch's key: ndarray}

    def train_step(self, step: int, lr: float) -> tuple[float, int, float | None]:
        """Train on the batch of ``step`` (a pure function of it) at ``lr``: returns (loss,
        items trained on, gradient norm before clipping or None)."""

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON meta) beyond the weights that resuming needs: "optim", "state", "rng"."""

    def restore(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Load the weights (``model.*``) and ``training_state`` back from a checkpoint."""


def _has_threadpoolctl() -> bool:
    return importlib.util.find_spec("threadpoolctl") is not None


@contextlib.contextmanager
def _blas_threads(threads: int) -> Iterator[None]:
    """Limit BLAS to ``threads`` threads (0: leave it) with threadpoolctl."""
    if not threads:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ConfigError(
            "--threads: the NumPy engine limits BLAS threads through threadpoolctl, which is not "
            "installed; pip install threadpoolctl, or set OPENBLAS_NUM_THREADS instead"
        ) from None
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


class NumpyEngine:
    """The steps of ``runner``; ``evaluate() -> float`` scores ``runner.model``; BLAS is held
    to ``threads`` threads while training (0: auto, as ``rnnkit.train.runtime.resolve_threads``
    tells for the model's size; BLAS's default without threadpoolctl)."""

    name = "numpy"
    device = "cpu"

    def __init__(self, runner: Runner, evaluate: Callable[[], float], threads: int = 0):
        self.runner, self._evaluate = runner, evaluate
        parameters = sum(p.size for p in runner.model.state_dict().values())
        auto = threads == 0 and not _has_threadpoolctl()
        self.threads = 0 if auto else resolve_threads(threads, parameters)

    @property
    def model(self) -> Any:
        return self.runner.model

    def session(self) -> contextlib.AbstractContextManager:
        return _blas_threads(self.threads)

    def train_step(self, step: int, lr: float, observe: Callable[[float, float | None], None]):
        """The runner's forward, backward, clip and step, then ``observe``: (loss, items)."""
        loss, items, grad_norm = self.runner.train_step(step, lr)
        observe(loss, grad_norm)
        return loss, items

    def evaluate(self) -> float:
        return float(self._evaluate())

    def weights(self) -> dict[str, np.ndarray]:
        return self.runner.model.state_dict()

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return self.runner.training_state()

    def restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        tensors = {k: t.numpy() if hasattr(t, "numpy") else t for k, t in tensors.items()}
        try:
            self.runner.restore(tensors, meta)
        except (KeyError, ValueError) as e:
            raise CheckpointError(
                f"resume: the checkpoint does not fit this config ({e}); resume with the run's "
                f"own flags, or start a new run with another --out"
            ) from e
