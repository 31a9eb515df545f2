"""The training loop of the NumPy engine: ``Trainer``'s loop, for models that NumPy code trains.

``NumpyTrainer.fit`` is the loop of ``rnnkit.train.Trainer`` in the same order (stop?, lr,
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
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rnnkit.numpy import Optimizer, State
from rnnkit.train.checkpoint import CheckpointError, save_checkpoint, strip_prefix, with_prefix
from rnnkit.train.config import ConfigError, TrainConfig, config_to_dict
from rnnkit.train.logging import MetricsLog, ProgressBar
from rnnkit.train.trainer import TrainerBase, TrainingDiverged


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

    def fit(self) -> dict[str, Any]:
        """Train until the budget is spent or Ctrl-C; returns the summary (summary.json)."""
        cfg, runner = self.cfg, self.runner
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=2) + "\n")
        log = MetricsLog(self.out, self.step if self.resumed else None, cfg.tensorboard)
        bar = ProgressBar(cfg.max_steps, self.step, self.unit)
        session_start, session_step = time.perf_counter() - self.elapsed, self.step
        last_eval, loss, stop = -1, math.nan, ""
        lr = self._learning_rate()
        try:
            with self._stop_on_sigint(), _blas_threads(cfg.threads):
                while True:
                    self.elapsed = time.perf_counter() - session_start
                    # 1. stop when the budget is spent or Ctrl-C was pressed
                    stop = self._stop_reason()
                    if stop:
                        break
                    # 2. the learning rate of this step
                    lr = self._learning_rate()
                    # 3. evaluate and checkpoint
                    if self.step % cfg.eval_every == 0 and last_eval != self.step:
                        self._evaluate_and_checkpoint(log, bar, lr)
                        last_eval = self.step
                    # 4-7. forward, backward, clip, step (the runner's; state carried inside)
                    t_step = time.perf_counter()
                    loss, items, grad_norm = runner.train_step(self.step, lr)
                    self._observe_loss(loss, grad_norm)
                    self.step += 1
                    # 8. log, then print samples
                    seconds = time.perf_counter() - t_step
                    self._log_step(log, bar, loss, items, seconds, lr, session_step)
                    runner.after_step(bar.write)
                # the end: a last evaluation (unless Ctrl-C) and checkpoint
                self.elapsed = time.perf_counter() - session_start
                if stop == "interrupted":
                    self._save("last.safetensors")
                    bar.write(
                        f"interrupted: saved {self.out / 'last.safetensors'} at step "
                        f"{self.step}; continue with --resume"
                    )
                elif last_eval != self.step:
                    self._evaluate_and_checkpoint(log, bar, lr)
        except TrainingDiverged:
            self._finish("diverged", loss)
            raise
        finally:
            bar.close()
            log.close()
        return self._finish(stop, loss)

    # -- the loop's steps --------------------------------------------------------------------

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
