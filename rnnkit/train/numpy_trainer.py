"""The training loop of the NumPy engine: ``Trainer``'s loop, for models that NumPy code trains.

``NumpyTrainer.fit`` is the loop of ``rnnkit.train.Trainer`` (``TrainerBase.fit``: stop?, lr,
evaluate + checkpoint, forward + backward + clip + step, log), with the same learning-rate
schedule (``learning_rate``), run directory (config.json, metrics.csv, summary.json, loss.png),
Ctrl-C handling, divergence checks and checkpoints: ``last.safetensors`` (everything to resume)
and ``best.safetensors`` (the weights of the best validation loss), with the meta of the torch
engine and ``engine: "numpy"``. Where autograd and torch.optim do the work in ``Trainer``, a
task's ``Runner`` does it here (forward, hand-written backward, clip, the engine's optimizer).

Training state in a checkpoint, as the torch engine lays it out: the weights as ``model.<key>``
(the model's state_dict, torch's keys), the engine optimizer's buffers as ``optim.<slot>.<param>``
with its scalars in meta["optim"] (``optimizer_to_tensors``), the carried recurrent state as
``state`` or ``state.0``, ``state.1`` (``state_to_tensors``), the RNG states in meta["rng"].
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rnnkit.numpy import Optimizer, State
from rnnkit.train.checkpoint import CheckpointError, save_checkpoint, strip_prefix, with_prefix
from rnnkit.train.config import ConfigError, TrainConfig
from rnnkit.train.logging import MetricsLog, ProgressBar
from rnnkit.train.trainer import TrainerBase


class Runner(Protocol):
    """A model and its training step, for ``NumpyTrainer``."""

    model: Any  # .state_dict() -> {torch's key: ndarray}

    def train_step(self, step: int, lr: float) -> tuple[float, int, float | None]:
        """Train on the batch of ``step`` (a pure function of it) at ``lr``: returns (loss,
        items trained on, gradient norm before clipping or None)."""

    def after_step(self, write: Callable[[str], None]) -> None:
        """Task work after a step, such as printing samples with ``write``."""

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON meta) beyond the weights that resuming needs: "optim", "state", "rng"."""

    def restore(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Load the weights (``model.*``) and ``training_state`` back from a checkpoint."""


# ---------------------------------------------------------------------------------------------
# checkpoint pieces: optimizer buffers and carried state <-> arrays


def optimizer_to_tensors(opt: Optimizer) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Buffers "slot/param" -> tensors "optim.slot.param"; the scalars -> meta."""
    scalars = opt.state_dict()
    buffers = scalars.pop("buffers")
    return {"optim." + k.replace("/", ".", 1): v for k, v in buffers.items()}, scalars


def optimizer_state(tensors: dict[str, np.ndarray], scalars: dict[str, Any]) -> dict[str, Any]:
    """The optimizer's state_dict back from ``optimizer_to_tensors``'s tensors and scalars."""
    buffers = {k.replace(".", "/", 1): v for k, v in strip_prefix("optim", tensors).items()}
    return scalars | {"buffers": buffers}


def state_to_tensors(state: State | None) -> tuple[dict[str, np.ndarray], int | None]:
    """As the torch trainer: {"state": h}, -1; {"state.0": h, "state.1": c}, 2; or {}, None."""
    if state is None:
        return {}, None
    if isinstance(state, tuple):
        return {f"state.{i}": s for i, s in enumerate(state)}, len(state)
    return {"state": state}, -1


def state_from_tensors(tensors: dict[str, np.ndarray], n: int | None) -> State | None:
    """The state back from ``state_to_tensors``'s tensors and ``n``."""
    if n is None:
        return None
    return tensors["state"] if n == -1 else tuple(tensors[f"state.{i}"] for i in range(n))


# ---------------------------------------------------------------------------------------------
# the loop


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


class NumpyTrainer(TrainerBase):
    """Trains ``runner``'s model with the loop of ``Trainer``: same steps, files, checkpoints.

    Args:
        runner: the model and its training step (see ``Runner``).
        cfg: the task's config (a TrainConfig subclass), saved whole in every checkpoint.
        evaluate: () -> the validation loss of ``runner.model`` (float).
        out: the run directory.
        task: the task's name, recorded in checkpoints (loading checks it).
        meta: more JSON for every checkpoint (e.g. the vocabulary).
        unit: what the runner's steps count, for throughput (``char`` -> chars/s).
        resume_from: ``(arrays, meta)`` of a last.safetensors to continue from.
    """

    def __init__(
        self,
        runner: Runner,
        cfg: TrainConfig,
        evaluate: Callable[[], float],
        out: str | Path,
        *,
        task: str,
        meta: dict[str, Any] | None = None,
        unit: str = "item",
        resume_from: tuple[dict[str, np.ndarray], dict[str, Any]] | None = None,
    ):
        self.runner, self.cfg, self.evaluate, self.out = runner, cfg, evaluate, Path(out)
        self.task, self.meta, self.unit = task, dict(meta or {}), unit
        self._init_progress(resume_from is not None)
        if resume_from is not None:
            self._restore(*resume_from)

    # -- the loop's steps (TrainerBase.fit runs the loop) -----------------------------------

    def _train_step(self, lr: float) -> tuple[float, int]:
        """Steps 4-7: forward, backward, clip, step (the runner's; state carried inside)."""
        loss, items, grad_norm = self.runner.train_step(self.step, lr)
        self._observe_loss(loss, grad_norm)
        return loss, items

    def _after_step(self) -> None:
        self.runner.after_step(self._bar.write)  # e.g. print samples

    def _session(self) -> contextlib.AbstractContextManager:
        return _blas_threads(self.cfg.threads)

    def _evaluate_and_checkpoint(self, log: MetricsLog, bar: ProgressBar, lr: float) -> None:
        val_loss = float(self.evaluate())
        self._record_eval(val_loss, log, bar, lr)

    # -- checkpoints and summary -------------------------------------------------------------

    def _save(self, name: str, full: bool = True) -> None:
        """Write a checkpoint: ``full`` = everything to resume; else the weights and meta."""
        tensors = with_prefix("model", self.runner.model.state_dict())
        meta = self._checkpoint_meta("numpy")
        if full:
            more_tensors, more_meta = self.runner.training_state()
            tensors |= more_tensors
            meta |= more_meta | self._progress_meta()
        save_checkpoint(self.out / name, tensors, meta)

    def _restore(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        if "optim" not in meta:
            raise CheckpointError("resume: the checkpoint holds weights only; resume from last")
        try:
            self.runner.restore(tensors, meta)
        except (KeyError, ValueError) as e:
            raise CheckpointError(
                f"resume: the checkpoint does not fit this config ({e}); resume with the run's "
                f"own flags, or start a new run with another --out"
            ) from e
        self._load_progress(meta)
