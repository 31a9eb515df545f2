"""The one training loop, shared by every task and both engines.

``Trainer.fit`` is the loop, written out in plain order as nanoGPT's train.py: stop when the
budget is spent, set the learning rate (a function of step and time; the plateau schedule's
also of the losses so far), evaluate and checkpoint, train one step, log. It knows nothing of
what the task models nor of how gradients are made: an *engine* does the step.

- ``rnnkit.train.torch_engine.TorchEngine(model, cfg, train_batch, evaluate)``: autograd and
  torch.optim (forward, backward, clip, step), the recurrent state carried across batches;
- ``rnnkit.train.numpy_engine.NumpyEngine(runner, evaluate)``: a NumPy model's hand-written
  step.

An engine has ``name``, ``model``, ``session()`` (a context held around the loop),
``train_step(step, lr, observe) -> (loss, items)`` (calling ``observe(loss, grad_norm)`` before
it updates the weights, which raises when the run diverged), ``evaluate() -> float``,
``weights()``, ``training_state() -> (tensors, meta)`` and ``restore(tensors, meta)``, and
(recorded in summary.json and checkpoints as ``runtime``) its ``device`` and CPU ``threads``.

The run directory (see ``rnnkit.train.run``) gets config.json, metrics.csv, summary.json,
loss.png and the checkpoints last.safetensors (full training state, written at every evaluation
and on Ctrl-C) and best.safetensors (the weights of the best validation loss). Resuming from
last.safetensors continues the run exactly: same batches, same dropout masks, same losses.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnnkit.train import distributed
from rnnkit.train.checkpoint import CheckpointError, save_checkpoint, with_prefix
from rnnkit.train.config import TrainConfig, config_to_dict
from rnnkit.train.guard import DivergenceGuard
from rnnkit.train.logging import MetricsLog, ProgressBar, read_metrics
from rnnkit.train.run import EXIT_DIVERGED, write_json
from rnnkit.train.runtime import runtime_info
from rnnkit.train.schedule import Plateau, learning_rate
from rnnkit.viz.plots import plot_loss


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf or exploded; the last good checkpoint is kept."""

    exit_code = EXIT_DIVERGED  # the CLI's exit status for it


@dataclass
class Window:
    """What the steps since the last metrics row add up to."""

    loss: float = 0.0  # sum of training losses
    steps: int = 0
    items: int = 0
    seconds: float = 0.0


@dataclass
class Totals:
    """What the whole run (all its sessions) trained on, and for how long."""

    items: int = 0
    seconds: float = 0.0


class _NoLog:
    """The metrics log of a rank other than 0 under torchrun (rank 0 writes metrics.csv)."""

    def write(self, step: int, **values: float | None) -> None:
        pass

    def close(self) -> None:
        pass


def _record(cls: type, value: Any) -> Any:
    """A record from its checkpoint form: a dict, or the list of checkpoints before records."""
    return cls(**value) if isinstance(value, dict) else cls(*value)


class Trainer:
    """Trains ``engine``'s model with the loop of ``cfg`` into the run directory ``out``.

    Args:
        engine: does the steps (see the module docstring).
        cfg: the task's config (a TrainConfig subclass), saved whole in every checkpoint.
        out: the run directory (prepared by ``rnnkit.train.run.open_run``).
        task: the task's name, recorded in checkpoints (loading checks it).
        meta: more JSON for every checkpoint (e.g. the vocabulary).
        unit: what a step's items are, for throughput (``char`` -> chars/s).
        resume_from: ``(tensors, meta)`` of a last.safetensors to continue from.
        verbose: show the progress bar and the evaluation lines (False: train silently).
    """

    def __init__(
        self,
        engine: Any,
        cfg: TrainConfig,
        out: str | Path,
        *,
        task: str,
        meta: dict[str, Any] | None = None,
        unit: str = "item",
        resume_from: tuple[dict[str, Any], dict[str, Any]] | None = None,
        verbose: bool = True,
    ):
        self.engine, self.cfg, self.out = engine, cfg, Path(out)
        self.dist = distributed.current()  # under torchrun, rank 0 alone writes and prints
        self.task, self.meta, self.unit = task, dict(meta or {}), unit
        self.verbose = verbose and self.dist.is_main
        self.callbacks: dict[str, list[Callable[[Trainer], None]]] = {"step": [], "eval": []}
        self.summary: dict[str, Any] = {}
        # the run's progress, which a full checkpoint carries
        self.step = 0
        self.elapsed = 0.0  # seconds of this run, over all its sessions
        self.guard = DivergenceGuard(cfg.divergence_factor)
        self.plateau = Plateau(cfg)
        self.loss = math.nan  # the training loss of the last step
        self.val_loss: float | None = None
        self.best_val_loss: float | None = None
        self.best_step: int | None = None
        self.last_eval = -1  # the step of the last evaluation
        self.window, self.totals = Window(), Totals()
        self.resumed = resume_from is not None
        self._bar: ProgressBar | None = None
        self._stop_requested = False
        if resume_from is not None:
            self._restore(*resume_from)

    @property
    def model(self) -> Any:
        return self.engine.model

    def add_callback(self, event: str, fn: Callable[[Trainer], None]) -> None:
        """Call ``fn(trainer)`` after each training step (``"step"``) or evaluation (``"eval"``)."""
        if event not in self.callbacks:
            raise ValueError(f"add_callback: expected event 'step' or 'eval', got {event!r}")
        self.callbacks[event].append(fn)

    def write(self, text: str) -> None:
        """Print ``text`` to stdout (above the progress bar while training); silent unless
        ``verbose``."""
        if not self.verbose:
            return
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, flush=True)

    def request_stop(self) -> None:
        """Stop after the current step, saving a checkpoint (what Ctrl-C does)."""
        self._stop_requested = True

    # -- the loop ----------------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        """Train until the budget is spent or Ctrl-C; returns the summary (summary.json)."""
        cfg, engine = self.cfg, self.engine
        log: MetricsLog | _NoLog = _NoLog()
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_json(self.out / "config.json", config_to_dict(cfg))
            log = MetricsLog(self.out, self.step if self.resumed else None, cfg.tensorboard)
        bar = self._bar = ProgressBar(
            cfg.max_steps, self.step, self.unit, disable=not cfg.progress, quiet=not self.verbose
        )
        session_start, session_step = time.perf_counter() - self.elapsed, self.step
        stop = ""
        lr = self._learning_rate()
        try:
            with self._stop_on_sigint(), engine.session():
                while True:
                    self.elapsed = time.perf_counter() - session_start
                    # 1. stop when the budget is spent or Ctrl-C was pressed
                    stop = self._stop_reason()
                    if stop:
                        break
                    # 2. the learning rate of this step
                    lr = self._learning_rate()
                    # 3. evaluate and checkpoint
                    if self.step % cfg.eval_every == 0 and self.last_eval != self.step:
                        self._evaluate_and_checkpoint(log, lr)
                    # 4-7. the engine: forward, backward, clip, (diverged? stop), step
                    t_step = time.perf_counter()
                    loss, items = engine.train_step(self.step, lr, self._observe_loss)
                    self.step += 1
                    # 8. log, then the task's work (samples, callbacks)
                    self._log_step(log, loss, items, time.perf_counter() - t_step, lr, session_step)
                    for fn in self.callbacks["step"]:
                        fn(self)
                # the end: a last evaluation (unless Ctrl-C) and checkpoint
                self.elapsed = time.perf_counter() - session_start
                if stop == "interrupted":
                    self._save("last.safetensors")
                    bar.write(
                        f"interrupted: saved {self.out / 'last.safetensors'} at step "
                        f"{self.step}; continue with --resume"
                    )
                elif self.last_eval != self.step:
                    self._evaluate_and_checkpoint(log, self._learning_rate())
        except TrainingDiverged:
            self._finish("diverged")
            raise
        finally:
            bar.close()
            log.close()
            self._bar = None
        return self._finish(stop)

    # -- the loop's parts --------------------------------------------------------------------

    def _learning_rate(self) -> float:
        return learning_rate(self.cfg, self.step, self.elapsed, self.plateau)

    def _stop_reason(self) -> str:
        if self.dist.enabled:  # rank 0's clock and Ctrl-C: every rank stops at the same step
            self.elapsed, stop = distributed.from_main(self.elapsed, self._stop_requested)
            self._stop_requested = bool(stop)
        if self._stop_requested:
            return "interrupted"
        if self.cfg.max_steps and self.step >= self.cfg.max_steps:
            return "max_steps"
        if self.cfg.max_time and self.elapsed >= self.cfg.max_time:
            return "max_time"
        return ""

    def _observe_loss(self, loss: float, grad_norm: float | None) -> None:
        """The training loss of this step: stop if it diverged, else feed the plateau schedule."""
        self.loss = loss
        problem = self.guard.check(loss, grad_norm)
        if problem:
            self._diverged(problem)
        self.plateau.observe(self.step, loss)

    def _diverged(self, what: str) -> None:
        last = self.out / "last.safetensors"
        kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved"
        raise TrainingDiverged(
            f"training stopped at step {self.step}: {what}; {kept}. "
            f"Try a lower --lr or --grad-clip (lr now {self.cfg.lr:g})"
        )

    def _evaluate_and_checkpoint(self, log: MetricsLog, lr: float) -> None:
        """Log the validation loss; save last.safetensors, and best.safetensors when best."""
        val_loss = float(self.engine.evaluate())
        if not math.isfinite(val_loss):
            self._diverged(f"validation loss is {val_loss}")
        self.val_loss, self.last_eval = val_loss, self.step
        is_best = self.best_val_loss is None or val_loss < self.best_val_loss
        if is_best:
            self.best_val_loss, self.best_step = val_loss, self.step
        log.write(self.step, val_loss=val_loss, lr=lr, wall_time=self.elapsed)
        self._save("last.safetensors")
        if is_best:
            self._save("best.safetensors", full=False)
        self.write(f"step {self.step}: val loss {val_loss:.4f}" + (" (best)" if is_best else ""))
        for fn in self.callbacks["eval"]:
            fn(self)

    def _log_step(self, log, loss, items, seconds, lr, session_step) -> None:
        w = self.window
        w.loss += loss
        w.steps += 1
        w.items += items
        w.seconds += seconds
        self.totals.items += items
        self.totals.seconds += seconds
        rate = w.items / w.seconds if w.seconds > 0 else 0.0
        if self.step % self.cfg.log_every == 0:
            log.write(
                self.step, train_loss=w.loss / w.steps, lr=lr, throughput=rate,
                wall_time=self.elapsed,
            )  # fmt: skip
            self.window = Window()
        eta = math.inf
        steps_per_second = (self.step - session_step) / max(1e-9, self.totals.seconds)
        if self.cfg.max_steps:
            eta = (self.cfg.max_steps - self.step) / max(1e-9, steps_per_second)
        if self.cfg.max_time:
            eta = min(eta, self.cfg.max_time - self.elapsed)
        self._bar.update(self.step, loss, self.val_loss, rate, eta)

    @contextlib.contextmanager
    def _stop_on_sigint(self) -> Iterator[None]:
        """Ctrl-C once: finish the step, save, stop. Twice: abort at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True
            print("\nCtrl-C: stopping after this step (press again to abort)", file=sys.stderr)

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # -- checkpoints and summary -------------------------------------------------------------

    def _save(self, name: str, full: bool = True) -> None:
        """Write a checkpoint: ``full`` = everything to resume; else the weights and meta."""
        tensors = with_prefix("model", self.engine.weights())
        meta = {
            "task": self.task,
            "engine": self.engine.name,
            "runtime": runtime_info(self.engine),
            "config": config_to_dict(self.cfg),
            "step": self.step,
            "val_loss": self.val_loss,
            "best_val_loss": self.best_val_loss,
            "best_step": self.best_step,
            **self.meta,
        }
        if full:
            more_tensors, more_meta = self.engine.training_state()
            tensors |= more_tensors
            meta |= more_meta | {
                "elapsed": self.elapsed,
                "divergence_guard": self.guard.state(),
                "plateau": self.plateau.state(),
                "window": asdict(self.window),
                "totals": asdict(self.totals),
                "last_eval": self.last_eval,
            }
        if self.dist.is_main:  # every rank gathers (above), rank 0 writes
            save_checkpoint(self.out / name, tensors, meta)

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        if "optim" not in meta:
            raise CheckpointError("resume: the checkpoint holds weights only; resume from last")
        self.engine.restore(tensors, meta)
        self.step, self.elapsed = meta["step"], meta["elapsed"]
        self.guard.load(meta["divergence_guard"])
        if "plateau" in meta:  # checkpoints before the plateau schedule lack it
            self.plateau.load(meta["plateau"])
        self.val_loss, self.best_val_loss = meta["val_loss"], meta["best_val_loss"]
        self.best_step = meta["best_step"]
        self.window, self.totals = _record(Window, meta["window"]), _record(Totals, meta["totals"])
        # a checkpoint written by an evaluation: that evaluation is not run (logged) again
        self.last_eval = meta.get("last_eval", -1)

    def _finish(self, stop: str) -> dict[str, Any]:
        """Write summary.json and loss.png (rank 0); return the summary."""
        self.summary = {
            "task": self.task,
            "stop_reason": stop,
            "steps": self.step,
            "train_loss": self.loss if math.isfinite(self.loss) else None,
            "final_val_loss": self.val_loss,
            "best_val_loss": self.best_val_loss,
            "best_step": self.best_step,
            "throughput": self.totals.items / self.totals.seconds if self.totals.seconds else None,
            "unit": self.unit,
            "wall_time": self.elapsed,
            "world_size": self.dist.world_size,
            "runtime": runtime_info(self.engine),
        }
        if self.dist.is_main:
            write_json(self.out / "summary.json", self.summary)
            plot_loss(read_metrics(self.out / "metrics.csv"), self.out / "loss.png")
        return self.summary

    def add_results(self, **results: Any) -> dict[str, Any]:
        """Add the task's results (test scores ...) to summary.json; returns the summary."""
        self.summary |= results
        if self.dist.is_main:
            write_json(self.out / "summary.json", self.summary)
        return self.summary
