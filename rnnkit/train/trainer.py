"""The one training loop, shared by every task.

The loop (``TrainerBase.fit``, which the NumPy engine's trainer shares) is written out in plain
order, as nanoGPT's train.py: stop when the budget is spent, set the learning rate (a function
of step and time; the plateau schedule's also of the losses so far), evaluate and checkpoint,
then ``Trainer._train_step``: forward, backward, clip, step; log. It knows nothing of what the
task models; a task hands it

- ``model``: an ``nn.Module`` with ``forward(x, targets=None) -> (output, loss)``;
- ``train_batch(step) -> batch``: the batch of a step, a pure function of ``step`` (so that a
  resumed run sees the same batches). A batch is ``(x, y)``, or ``(x, y, reset)`` for a task that
  carries recurrent state across batches (truncated BPTT): the trainer then calls
  ``model(x, y, state=state)``, expects ``output`` to be ``(prediction, new_state)``, keeps
  ``new_state`` (detached) for the next step and drops it (passes None) where ``reset`` is True;
- ``evaluate(model) -> float``: the validation loss (run under ``torch.no_grad``, eval mode);
- callbacks (``add_callback("step" | "eval", fn(trainer))``) for task work such as samples.

A run directory holds config.json, metrics.csv, summary.json, loss.png and the checkpoints
last.safetensors (full training state, written at every evaluation and on Ctrl-C) and
best.safetensors (the weights of the best validation loss). Resuming from last.safetensors
continues the run exactly: same batches, same dropout masks, same losses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    strip_prefix,
    with_prefix,
)
from rnnkit.train.config import (
    ConfigError,
    TrainConfig,
    config_from_args,
    config_from_dict,
    config_to_dict,
    flag_name,
)
from rnnkit.train.logging import MetricsLog, ProgressBar, read_metrics
from rnnkit.viz.plots import plot_loss

RUN_FILES = ("config.json", "metrics.csv", "last.safetensors", "best.safetensors")

State = torch.Tensor | tuple[torch.Tensor, ...] | None


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf or exploded; the last good checkpoint is kept."""

    exit_code = 1  # the CLI's exit status for it


# ---------------------------------------------------------------------------------------------
# helpers: seeding, schedule, optimizer, run directory


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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


def prepare_run_dir(out: str | Path, resume: bool) -> Path:
    """Check that ``out`` can take a new run (or, with ``resume``, holds one); writes nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file is in the way; pass a directory path")
    if resume:
        if not (out / "last.safetensors").is_file():
            raise ConfigError(f"--resume: {out} holds no last.safetensors to resume from")
    elif out.is_dir() and any((out / name).exists() for name in RUN_FILES):
        raise ConfigError(
            f"--out {out} already holds a run; pass --resume to continue it, or another --out"
        )
    return out


def resume_config(
    config_cls: type,
    args: Any,
    out: Path,
    task: str,
    fixed: tuple[str, ...] | list[str],
    **base_overrides: Any,
) -> tuple[Any, tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """The config of a resumed run and its last checkpoint ``(tensors, meta)``.

    The saved config (with ``base_overrides`` applied) is the base; the flags given now go on
    top. A field in ``fixed`` (what shapes the model or the data) cannot change on resume.
    """
    resume_from = load_checkpoint(out / "last.safetensors", task=task)
    saved = config_from_dict(config_cls, resume_from[1]["config"])
    base = dataclasses.replace(saved, **base_overrides) if base_overrides else saved
    cfg = config_from_args(config_cls, args, base=base)
    for name in fixed:
        if getattr(cfg, name) != getattr(saved, name):
            raise ConfigError(
                f"--resume: {flag_name(name)} cannot change ({getattr(saved, name)!r} -> "
                f"{getattr(cfg, name)!r}); start a new run with another --out instead"
            )
    return cfg, resume_from


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
        self.window = [0.0, 0]  # loss sum, steps

    def observe(self, step: int, loss: float) -> None:
        """Count the training loss of ``step`` (0-based)."""
        cfg = self.cfg
        if step < cfg.warmup_steps:
            return
        self.window = [self.window[0] + loss, self.window[1] + 1]
        if self.window[1] < cfg.lr_decay_every:
            return
        mean, self.window = self.window[0] / self.window[1], [0.0, 0]
        if mean < self.best - self.MIN_DELTA:
            self.best, self.wait = mean, 0
            return
        self.wait += 1
        if self.wait >= cfg.plateau_patience:
            self.lr = max(self.lr * cfg.lr_decay, cfg.lr * cfg.min_lr_fraction)
            self.wait = 0

    def state(self) -> dict[str, Any]:
        best = None if math.isinf(self.best) else self.best  # JSON has no inf
        return {"lr": self.lr, "best": best, "wait": self.wait, "window": self.window}

    def load(self, state: dict[str, Any]) -> None:
        self.lr, self.wait, self.window = state["lr"], state["wait"], state["window"]
        self.best = math.inf if state["best"] is None else state["best"]


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


def _detach(state: State) -> State:
    if state is None or isinstance(state, torch.Tensor):
        return None if state is None else state.detach()
    return tuple(s.detach() for s in state)


# ---------------------------------------------------------------------------------------------
# training state <-> checkpoint tensors and JSON


def _state_to_tensors(state: State) -> tuple[dict[str, torch.Tensor], int | None]:
    """(tensors, n): n = -1 for one tensor, len for a tuple, None for no state."""
    if state is None:
        return {}, None
    if isinstance(state, torch.Tensor):
        return {"state": state}, -1
    return {f"state.{i}": s for i, s in enumerate(state)}, len(state)


def _state_from_tensors(tensors: dict[str, torch.Tensor], n: int | None, device) -> State:
    if n is None:
        return None
    if n == -1:
        return tensors["state"].to(device)
    return tuple(tensors[f"state.{i}"].to(device) for i in range(n))


def _optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for index, param_state in sd["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in strip_prefix("optim", tensors).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _rng_to_tensors() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    meta = {
        "python": [version, list(mt), gauss],
        "numpy": [name, keys.tolist(), pos, has_gauss, cached],
    }
    return tensors, meta


def _rng_from_tensors(tensors: dict, meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, mt, gauss = meta["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


# ---------------------------------------------------------------------------------------------
# the trainer


class TrainerBase:
    """What both trainers (this torch one and rnnkit.train.numpy_trainer's) share, whatever the
    engine: the loop (``fit``), the run's progress (step, time, losses, divergence guard,
    plateau schedule, throughput window) and its checkpoint meta, stop reasons and Ctrl-C, the
    divergence check, metrics rows, progress bar, evaluation records and the summary. A
    subclass sets ``cfg``, ``out``, ``task``, ``meta`` and ``unit``, calls ``_init_progress``,
    and implements the engine's steps: ``_train_step``, ``_evaluate_and_checkpoint`` and
    ``_save`` (``_after_step`` and ``_session`` where it needs them)."""

    def fit(self) -> dict[str, Any]:
        """Train until the budget is spent or Ctrl-C; returns the summary (summary.json)."""
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=2) + "\n")
        log = MetricsLog(self.out, self.step if self.resumed else None, cfg.tensorboard)
        bar = self._bar = ProgressBar(cfg.max_steps, self.step, self.unit)
        session_start, session_step = time.perf_counter() - self.elapsed, self.step
        last_eval, stop = -1, ""
        lr = self._learning_rate()
        try:
            with self._stop_on_sigint(), self._session():
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
                    # 4-7. forward, backward, clip (stopping on a diverged loss), step
                    t_step = time.perf_counter()
                    loss, items = self._train_step(lr)
                    self.step += 1
                    # 8. log, then the task's work (samples, callbacks)
                    seconds = time.perf_counter() - t_step
                    self._log_step(log, bar, loss, items, seconds, lr, session_step)
                    self._after_step()
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
            self._finish("diverged", self.loss)
            raise
        finally:
            bar.close()
            log.close()
            self._bar = None
        return self._finish(stop, self.loss)

    # -- the engine's part of the loop -------------------------------------------------------

    def _train_step(self, lr: float) -> tuple[float, int]:
        """Forward, backward, clip, ``_observe_loss`` and step on the batch of ``self.step``
        at ``lr``; returns (loss, items trained on)."""
        raise NotImplementedError

    def _evaluate_and_checkpoint(self, log: MetricsLog, bar: ProgressBar, lr: float) -> None:
        """Compute the validation loss and ``_record_eval`` it."""
        raise NotImplementedError

    def _save(self, name: str, full: bool = True) -> None:
        """Write a checkpoint: ``full`` = everything to resume; else the weights and meta."""
        raise NotImplementedError

    def _after_step(self) -> None:
        """Task work after a step's log row."""

    def _session(self) -> contextlib.AbstractContextManager:
        """What holds around a whole session of the loop."""
        return contextlib.nullcontext()

    # -- progress ----------------------------------------------------------------------------

    def _init_progress(self, resumed: bool) -> None:
        self.step = 0
        self.elapsed = 0.0  # seconds of this run, over all its sessions
        self.guard = DivergenceGuard(self.cfg.divergence_factor)
        self.plateau = Plateau(self.cfg)
        self.loss = math.nan  # the training loss of the last step
        self._bar: ProgressBar | None = None
        self.val_loss: float | None = None
        self.best_val_loss: float | None = None
        self.best_step: int | None = None
        self.window = [0.0, 0, 0, 0.0]  # train loss sum, steps, items, seconds since last row
        self.totals = [0, 0.0]  # items trained on, seconds of training steps
        self.resumed = resumed
        self._stop_requested = False

    def _checkpoint_meta(self, engine: str) -> dict[str, Any]:
        """The meta of every checkpoint: task, engine, config, step and losses, task meta."""
        return {
            "task": self.task,
            "engine": engine,
            "config": config_to_dict(self.cfg),
            "step": self.step,
            "val_loss": self.val_loss,
            "best_val_loss": self.best_val_loss,
            "best_step": self.best_step,
            **self.meta,
        }

    def _progress_meta(self) -> dict[str, Any]:
        """What a full checkpoint adds so that the run's progress resumes exactly."""
        return {
            "elapsed": self.elapsed,
            "divergence_guard": self.guard.state(),
            "plateau": self.plateau.state(),
            "window": self.window,
            "totals": self.totals,
        }

    def _load_progress(self, meta: dict[str, Any]) -> None:
        self.step, self.elapsed = meta["step"], meta["elapsed"]
        self.guard.load(meta["divergence_guard"])
        if "plateau" in meta:  # checkpoints before the plateau schedule lack it
            self.plateau.load(meta["plateau"])
        self.val_loss, self.best_val_loss = meta["val_loss"], meta["best_val_loss"]
        self.best_step, self.window, self.totals = meta["best_step"], meta["window"], meta["totals"]

    def _record_eval(self, val_loss: float, log: MetricsLog, bar: ProgressBar, lr: float) -> None:
        """Log a validation loss; save last.safetensors, and best.safetensors when it is best."""
        if not math.isfinite(val_loss):
            self._diverged(f"validation loss is {val_loss}")
        self.val_loss = val_loss
        is_best = self.best_val_loss is None or val_loss < self.best_val_loss
        if is_best:
            self.best_val_loss, self.best_step = val_loss, self.step
        log.write(self.step, val_loss=val_loss, lr=lr, wall_time=self.elapsed)
        self._save("last.safetensors")
        if is_best:
            self._save("best.safetensors", full=False)
        bar.write(f"step {self.step}: val loss {val_loss:.4f}" + (" (best)" if is_best else ""))

    def _stop_reason(self) -> str:
        if self._stop_requested:
            return "interrupted"
        if self.cfg.max_steps and self.step >= self.cfg.max_steps:
            return "max_steps"
        if self.cfg.max_time and self.elapsed >= self.cfg.max_time:
            return "max_time"
        return ""

    def _learning_rate(self) -> float:
        return learning_rate(self.cfg, self.step, self.elapsed, self.plateau)

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

    def _log_step(self, log, bar, loss, items, seconds, lr, session_step) -> None:
        w = self.window
        w[0], w[1], w[2], w[3] = w[0] + loss, w[1] + 1, w[2] + items, w[3] + seconds
        self.totals[0] += items
        self.totals[1] += seconds
        rate = w[2] / w[3] if w[3] > 0 else 0.0
        if self.step % self.cfg.log_every == 0:
            log.write(
                self.step, train_loss=w[0] / w[1], lr=lr, throughput=rate, wall_time=self.elapsed
            )
            self.window = [0.0, 0, 0, 0.0]
        eta = math.inf
        steps_per_second = (self.step - session_step) / max(1e-9, self.totals[1])
        if self.cfg.max_steps:
            eta = (self.cfg.max_steps - self.step) / max(1e-9, steps_per_second)
        if self.cfg.max_time:
            eta = min(eta, self.cfg.max_time - self.elapsed)
        bar.update(self.step, loss, self.val_loss, rate, eta)

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

    def _finish(self, stop: str, loss: float) -> dict[str, Any]:
        """Write summary.json and loss.png; return the summary."""
        rows = read_metrics(self.out / "metrics.csv")
        summary = {
            "task": self.task,
            "stop_reason": stop,
            "steps": self.step,
            "train_loss": loss if math.isfinite(loss) else None,
            "final_val_loss": self.val_loss,
            "best_val_loss": self.best_val_loss,
            "best_step": self.best_step,
            "throughput": self.totals[0] / self.totals[1] if self.totals[1] else None,
            "unit": self.unit,
            "wall_time": self.elapsed,
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        plot_loss(rows, self.out / "loss.png")
        return summary


class Trainer(TrainerBase):
    """Trains ``model`` on ``train_batch(step)`` batches with the loop of ``TrainConfig``.

    Args:
        model: ``forward(x, targets=None) -> (output, loss)``; stateful tasks also take ``state=``.
        cfg: the task's config (a TrainConfig subclass), saved whole in every checkpoint.
        train_batch: step -> ``(x, y)`` or ``(x, y, reset)``, a pure function of the step.
        evaluate: model -> validation loss (float).
        out: the run directory.
        task: the task's name, recorded in checkpoints (loading checks it).
        meta: more JSON for every checkpoint (e.g. the vocabulary).
        unit: what ``y`` counts, for throughput (``char`` -> chars/s).
        resume_from: ``(tensors, meta)`` of a last.safetensors to continue from.
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        train_batch: Callable[[int], tuple],
        evaluate: Callable[[nn.Module], float],
        out: str | Path,
        *,
        task: str,
        meta: dict[str, Any] | None = None,
        unit: str = "item",
        resume_from: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ):
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda: torch sees no CUDA device here; use --device cpu")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.cfg, self.task, self.meta, self.unit = cfg, task, dict(meta or {}), unit
        self.out = Path(out)
        self.device = torch.device(cfg.device)
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model, cfg)
        self.train_batch, self.evaluate = train_batch, evaluate
        self._autocast = torch.autocast(self.device.type, torch.bfloat16, cfg.precision == "bf16")
        self.callbacks: dict[str, list[Callable[[Trainer], None]]] = {"step": [], "eval": []}
        # the training state a checkpoint carries
        self.state: State = None  # the recurrent state carried across batches (TBPTT)
        self._init_progress(resume_from is not None)
        if resume_from is not None:
            self._restore(*resume_from)

    def add_callback(self, event: str, fn: Callable[[Trainer], None]) -> None:
        """Call ``fn(trainer)`` after each training step (``"step"``) or evaluation (``"eval"``)."""
        if event not in self.callbacks:
            raise ValueError(f"add_callback: expected event 'step' or 'eval', got {event!r}")
        self.callbacks[event].append(fn)

    def write(self, text: str) -> None:
        """Print ``text`` to stdout (above the progress bar while training)."""
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, flush=True)

    def request_stop(self) -> None:
        """Stop after the current step, saving a checkpoint (what Ctrl-C does)."""
        self._stop_requested = True

    # -- the loop's steps --------------------------------------------------------------------

    def _train_step(self, lr: float) -> tuple[float, int]:
        """Steps 4-7 of the loop on the batch of this step at ``lr``: (loss, items)."""
        cfg, model, opt = self.cfg, self.model, self.optimizer
        for group in opt.param_groups:
            group["lr"] = lr
        # 4. forward, carrying the recurrent state of a stateful task
        batch = self.train_batch(self.step)
        x, y = batch[0].to(self.device), batch[1].to(self.device)
        with self._autocast:
            if len(batch) == 3:
                state = None if batch[2] else self.state
                (_, self.state), loss = model(x, y, state=state)
            else:
                _, loss = model(x, y)
        # 5. backward
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # 6. clip; stop on a NaN or exploding loss before the step spoils the weights
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        loss_value = loss.item()
        self._observe_loss(loss_value, float(grad_norm))
        # 7. step
        opt.step()
        self.state = _detach(self.state)
        return loss_value, y.numel()

    def _after_step(self) -> None:
        for fn in self.callbacks["step"]:
            fn(self)

    def _evaluate_and_checkpoint(self, log: MetricsLog, bar: ProgressBar, lr: float) -> None:
        self.model.eval()
        with torch.no_grad(), self._autocast:
            val_loss = float(self.evaluate(self.model))
        self.model.train()
        self._record_eval(val_loss, log, bar, lr)
        for fn in self.callbacks["eval"]:
            fn(self)

    # -- checkpoints and summary -------------------------------------------------------------

    def _save(self, name: str, full: bool = True) -> None:
        """Write a checkpoint: ``full`` = everything to resume; else the weights and meta."""
        tensors = with_prefix("model", self.model.state_dict())
        meta = self._checkpoint_meta("torch")
        if full:
            optim_tensors, optim_meta = _optimizer_to_tensors(self.optimizer)
            rng_tensors, rng_meta = _rng_to_tensors()
            state_tensors, state_n = _state_to_tensors(self.state)
            tensors |= optim_tensors | rng_tensors | state_tensors
            meta |= {"optim": optim_meta, "rng": rng_meta, "state": state_n}
            meta |= self._progress_meta()
        save_checkpoint(self.out / name, tensors, meta)

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        if "optim" not in meta:
            raise CheckpointError("resume: the checkpoint holds weights only; resume from last")
        try:
            self.model.load_state_dict(strip_prefix("model", tensors))
        except RuntimeError as e:
            raise CheckpointError(
                f"resume: the checkpoint's weights do not fit the model of this config "
                f"({str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else e})"
            ) from e
        _optimizer_from_tensors(self.optimizer, tensors, meta["optim"])
        _rng_from_tensors(tensors, meta["rng"])
        carried = {k: v for k, v in tensors.items() if k == "state" or k.startswith("state.")}
        self.state = _state_from_tensors(carried, meta["state"], self.device)
        self._load_progress(meta)
