"""charlm on the NumPy engine: ``rnnkit charlm train --engine numpy`` and ``--preset min-char-rnn``.

``NumpyTrainer`` runs ``rnnkit.numpy.CharRNN`` through the loop of ``rnnkit.train.Trainer``, in
the same order (stop?, lr, evaluate + checkpoint, forward + backward, clip, step, log), with the
same learning-rate schedule (``learning_rate``), the same run directory (config.json,
metrics.csv, summary.json, loss.png) and the same checkpoints: the weights as ``model.<key>``
under torch's state_dict keys, the meta of the torch engine with ``engine: "numpy"``, and, in
``last``, the engine optimizer's buffers as ``optim.<slot>.<param>`` (its scalars in
meta["optim"]), the carried state as ``state`` or ``state.0``/``state.1`` (h, c), and the RNG
states in meta["rng"], so that ``--resume`` continues exactly. A checkpoint of either engine
loads into the other (``charlm.load_model(path, engine=...)``).

Two runners make the training steps:

- ``StreamRunner`` (``--engine numpy``): B contiguous streams (``StreamBatches``: the state is
  carried, and reset where the data wraps), fp32, the mean loss, the gradient norm clipped, the
  optimizer of ``--optimizer`` with weight decay on matrices as torch applies it (adamw:
  decoupled, the others: an L2 term in the gradient).
- ``PresetRunner`` (``--preset min-char-rnn``): Karpathy's min-char-rnn exactly
  (``rnnkit.numpy.MinCharRNN``: one stream, fp64, the summed loss, every gradient element clipped,
  Adagrad) on the training split, printing the smoothed loss and a sample every
  ``--sample-every`` iterations as min-char-rnn does. min-char-rnn zeroes its hidden state only
  where the data wraps, so a run can come to rely on a carried state that a zero state never
  reaches (on tinyshakespeare, seed 1337 does: ~2 nats/char in training, ~15 from a zero state).
  The validation loss, ``eval`` and ``sample`` start from a zero state, as for every checkpoint,
  and show it.

This module imports nothing from ``charlm`` (``charlm`` imports it).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.text import Corpus, StreamBatches, Vocab, scoring_batches
from rnnkit.numpy import (
    MIN_CHAR_RNN,
    SGD,
    Adagrad,
    Adam,
    CharRNN,
    MinCharRNN,
    MinCharRNNConfig,
    Optimizer,
    RMSProp,
    State,
    clip_grad_norm,
)
from rnnkit.train.checkpoint import CheckpointError, save_checkpoint, strip_prefix, with_prefix
from rnnkit.train.config import ConfigError, TrainConfig, config_to_dict, flag_name, require
from rnnkit.train.logging import MetricsLog, ProgressBar, read_metrics
from rnnkit.train.trainer import TrainingDiverged, learning_rate
from rnnkit.viz.plots import plot_loss

TASK = "charlm"  # charlm.TASK

# --preset NAME: "fixed" values cannot be changed with the preset, "defaults" can (by a flag)
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "min-char-rnn": {
        "fixed": {
            "engine": "numpy", "model": "rnn", "num_layers": 1, "embedding_size": 0,
            "dropout": 0.0, "batch_size": 1, "optimizer": "adagrad", "schedule": "constant",
            "warmup_steps": 0, "weight_decay": 0.0,
        },
        "defaults": {
            "hidden_size": MIN_CHAR_RNN.hidden_size, "seq_length": MIN_CHAR_RNN.seq_length,
            "lr": MIN_CHAR_RNN.learning_rate, "grad_clip": MIN_CHAR_RNN.clip,
            "sample_every": MIN_CHAR_RNN.sample_every,
            "sample_length": MIN_CHAR_RNN.sample_length,
            "eval_every": 1000, "eval_chars": 100_000, "seed": 0,  # MinCharRNN's seed
        },
    },
}  # fmt: skip

# what the NumPy engine lacks: field -> (the only value it takes, why)
_LACKS = {
    "layer_norm": (False, "has no layer-normalized cells"),
    "precision": ("fp32", "computes in fp32 (fp64 with --preset min-char-rnn), not bf16"),
    "device": ("cpu", "runs on the CPU"),
}


def preset_values(name: str) -> dict[str, Any]:
    """The config values of ``--preset name`` (its fixed values and its defaults)."""
    return {"preset": name} | PRESETS[name]["fixed"] | PRESETS[name]["defaults"]


def check_numpy_config(cfg: Any) -> None:
    """ConfigError for a flag that contradicts the preset, or asks what the engine lacks."""
    if cfg.preset != "none":
        for name, value in PRESETS[cfg.preset]["fixed"].items():
            if getattr(cfg, name) != value:
                raise ConfigError(
                    f"--preset {cfg.preset}: {flag_name(name)} is fixed at {value!r}, got "
                    f"{getattr(cfg, name)!r}; drop {flag_name(name)}, or the preset"
                )
        require(cfg.grad_clip > 0, "grad_clip", "a number > 0 with a preset", cfg.grad_clip)
    if cfg.engine != "numpy":
        return
    for name, (only, why) in _LACKS.items():
        value = getattr(cfg, name)
        if value != only:
            flag = flag_name(name) if isinstance(value, bool) else f"{flag_name(name)} {value}"
            raise ConfigError(f"{flag}: the NumPy engine {why}; drop it or use --engine torch")


# ---------------------------------------------------------------------------------------------
# the model, evaluation and sampling


def numpy_model(
    cfg: Any,
    vocab_size: int,
    *,
    weights: dict[str, np.ndarray] | None = None,
    dtype: type = np.float32,
    seed: int | None = None,
) -> CharRNN:
    """The CharRNN of a charlm config (the twin of CharLM), loaded with ``weights`` if given
    (torch's state_dict keys; the model then takes their precision, fp64 or fp32)."""
    if cfg.layer_norm:
        raise ConfigError(
            "--engine numpy: this model has layer-normalized cells, which the NumPy engine "
            "lacks; use --engine torch"
        )
    if weights is not None:
        dtype = np.float64 if weights["head.weight"].dtype == np.float64 else np.float32
    model = CharRNN(
        vocab_size, cfg.hidden_size, cfg.num_layers, cfg.model, cfg.embedding_size,
        dtype=dtype, seed=seed, dropout=cfg.dropout,
    )  # fmt: skip
    if weights is not None:
        model.load_state_dict(weights)
    return model


def _last_row(state: State) -> State:
    """The state of the last stream: (L, B, H) -> (L, 1, H), for h or (h, c)."""
    if isinstance(state, tuple):
        return tuple(s[:, -1:].copy() for s in state)
    return state[:, -1:].copy()


def evaluate_text_numpy(
    model: CharRNN, ids: np.ndarray, seq_length: int = 256, rows: int = 32
) -> tuple[float, int]:
    """(total nats, characters scored): every next character of ``ids``, state carried
    (the NumPy twin of ``charlm.evaluate_text``, over the same ``scoring_batches``)."""
    total, count, state = 0.0, 0, None
    for x, y, tail in scoring_batches(ids, rows, seq_length):
        x, y = x.numpy(), y.numpy()  # (rows, t)
        if state is None:
            state = model.init_state(x.shape[0])
        elif tail:
            state = _last_row(state)
        logp, state = model.log_probs(x, state)  # (rows, t, V)
        total -= float(np.take_along_axis(logp, y[..., None], -1).sum(dtype=np.float64))
        count += y.size
    return total, count


def sample_text_numpy(
    model: CharRNN,
    vocab: Vocab,
    prime: str = "",
    length: int = 200,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
) -> Iterator[str]:
    """``length`` characters after ``prime`` (default: a newline, or the first char)."""
    start = prime or ("\n" if "\n" in vocab.chars else vocab.chars[0])
    ids = model.sample(
        vocab.encode(start), length, temperature=temperature, top_k=top_k or None,
        rng=np.random.default_rng(seed),
    )  # fmt: skip
    yield from (vocab.chars[i] for i in ids)


# ---------------------------------------------------------------------------------------------
# checkpoint pieces: optimizer buffers and carried state <-> tensors


def _optimizer_to_tensors(opt: Optimizer) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Buffers "slot/param" -> tensors "optim.slot.param"; the scalars -> meta."""
    scalars = opt.state_dict()
    buffers = scalars.pop("buffers")
    return {"optim." + k.replace("/", ".", 1): v for k, v in buffers.items()}, scalars


def _optimizer_state(tensors: dict[str, np.ndarray], scalars: dict[str, Any]) -> dict[str, Any]:
    """The optimizer's state_dict back from ``_optimizer_to_tensors``'s tensors and scalars."""
    buffers = {k.replace(".", "/", 1): v for k, v in strip_prefix("optim", tensors).items()}
    return scalars | {"buffers": buffers}


def _state_to_tensors(state: State | None) -> tuple[dict[str, np.ndarray], int | None]:
    """As the torch trainer: {"state": h}, -1; {"state.0": h, "state.1": c}, 2; or {}, None."""
    if state is None:
        return {}, None
    if isinstance(state, tuple):
        return {f"state.{i}": s for i, s in enumerate(state)}, len(state)
    return {"state": state}, -1


def _state_from_tensors(tensors: dict[str, np.ndarray], n: int | None) -> State | None:
    if n is None:
        return None
    return tensors["state"] if n == -1 else tuple(tensors[f"state.{i}"] for i in range(n))


# ---------------------------------------------------------------------------------------------
# the runners: one training step each


def numpy_optimizer(cfg: TrainConfig) -> Optimizer:
    """The engine's optimizer of ``--optimizer`` (adamw: Adam, its weight decay in the loop)."""
    if cfg.optimizer in ("adam", "adamw"):
        return Adam(cfg.lr, betas=(cfg.momentum, cfg.beta2))
    if cfg.optimizer == "rmsprop":
        return RMSProp(cfg.lr, alpha=cfg.beta2)
    if cfg.optimizer == "adagrad":
        return Adagrad(cfg.lr, eps=1e-20)  # in the root: torch's sqrt(mem) + 1e-10, nearly
    return SGD(cfg.lr, momentum=cfg.momentum)


class StreamRunner:
    """``--engine numpy``: CharRNN on ``StreamBatches``, clip by norm, the config's optimizer."""

    def __init__(self, cfg: Any, vocab: Vocab, batches: StreamBatches):
        self.cfg, self.vocab, self.batches = cfg, vocab, batches
        self.model = numpy_model(cfg, len(vocab), seed=cfg.seed)
        self.optimizer = numpy_optimizer(cfg)
        self.decayed = [name for name, p in self.model.params.items() if p.ndim >= 2]
        self.state: State | None = None  # carried across batches (truncated BPTT)
        self.step = 0

    def train_step(self, step: int, lr: float) -> tuple[float, int, float | None]:
        """(mean loss in nats/char, characters, gradient norm before clipping)."""
        cfg, params = self.cfg, self.model.params
        x, y, reset = self.batches(step)  # (B, T) each
        x, y = x.numpy(), y.numpy()
        state = self.model.init_state(x.shape[0]) if reset or self.state is None else self.state
        loss, grads, self.state = self.model.loss_and_grads(x, y, state)
        norm = clip_grad_norm(grads, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        if cfg.weight_decay:  # on matrices, as torch: adamw decoupled, else an L2 term
            for name in self.decayed:
                if cfg.optimizer == "adamw":
                    params[name] *= 1 - lr * cfg.weight_decay
                else:
                    grads[name] += cfg.weight_decay * params[name]
        self.optimizer.lr = lr
        self.optimizer.step(params, grads)
        self.step = step + 1
        return loss, y.size, norm

    def after_step(self, write: Callable[[str], None]) -> None:
        cfg = self.cfg
        if cfg.sample_every and self.step % cfg.sample_every == 0:
            text = "".join(
                sample_text_numpy(self.model, self.vocab, "", cfg.sample_length, seed=self.step)
            )
            write(f"--- sample at step {self.step} ---\n{text}\n---")

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        optim_tensors, optim_meta = _optimizer_to_tensors(self.optimizer)
        state_tensors, state_n = _state_to_tensors(self.state)
        rng = {"dropout": self.model.dropout_rng.bit_generator.state}
        return optim_tensors | state_tensors, {"optim": optim_meta, "state": state_n, "rng": rng}

    def restore(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.model.load_state_dict(strip_prefix("model", tensors))
        self.optimizer.load_state_dict(_optimizer_state(tensors, meta["optim"]))
        self.model.dropout_rng.bit_generator.state = meta["rng"]["dropout"]
        self.state = _state_from_tensors(tensors, meta["state"])
        self.step = meta["step"]


class PresetRunner:
    """``--preset min-char-rnn``: ``rnnkit.numpy.MinCharRNN`` on the training split, exactly."""

    def __init__(self, cfg: Any, vocab: Vocab, train_ids: np.ndarray):
        config = MinCharRNNConfig(
            hidden_size=cfg.hidden_size, seq_length=cfg.seq_length, learning_rate=cfg.lr,
            clip=cfg.grad_clip, sample_every=cfg.sample_every, sample_length=cfg.sample_length,
        )  # fmt: skip
        self.loop = MinCharRNN(np.asarray(train_ids), len(vocab), config, seed=cfg.seed)
        self.model, self.vocab, self.last = self.loop.model, vocab, None

    def train_step(self, step: int, lr: float) -> tuple[float, int, float | None]:
        """(loss in nats/char, characters, None): min-char-rnn clips element-wise, no norm."""
        self.loop.optimizer.lr = lr
        self.last = self.loop.step()
        return self.last.loss / self.loop.config.seq_length, self.loop.config.seq_length, None

    def after_step(self, write: Callable[[str], None]) -> None:
        """min-char-rnn's print: the sample drawn before the update, then the smoothed loss."""
        s, every = self.last, self.loop.config.sample_every
        if s.sample is not None:
            write(f"----\n {self.vocab.decode(s.sample)} \n----")
        if every and s.iteration % every == 0:
            write(f"iter {s.iteration}, loss: {s.smooth_loss:f}")

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        sd = self.loop.state_dict()
        optim_tensors, optim_meta = _optimizer_to_tensors(self.loop.optimizer)
        rng = sd["rng"] | {"keys": sd["rng"]["keys"].tolist()}
        meta = {"optim": optim_meta, "state": -1, "rng": {"min_char_rnn": rng}}
        meta["min_char_rnn"] = {"p": sd["p"], "smooth_loss": sd["smooth_loss"]}
        return optim_tensors | {"state": sd["h"]}, meta

    def restore(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.loop.load_state_dict(
            {
                "config": asdict(self.loop.config),
                "model": strip_prefix("model", tensors),
                "optimizer": _optimizer_state(tensors, meta["optim"]),
                "n": meta["step"],
                "h": tensors["state"],
                "rng": meta["rng"]["min_char_rnn"],
                **meta["min_char_rnn"],
            }
        )


Runner = StreamRunner | PresetRunner


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


class NumpyTrainer:
    """The loop of ``rnnkit.train.Trainer`` for a NumPy runner: same steps, files, checkpoints.

    Args:
        cfg: the charlm config (saved whole in every checkpoint).
        runner: a ``StreamRunner`` or ``PresetRunner`` (the model, the step, its state).
        eval_ids: the validation characters, scored at every evaluation (nats/char).
        out: the run directory.
        meta: more JSON for every checkpoint (the vocabulary).
        resume_from: ``(arrays, meta)`` of a last.safetensors to continue from.
    """

    def __init__(
        self,
        cfg: Any,
        runner: Runner,
        eval_ids: np.ndarray,
        out: Path,
        meta: dict[str, Any],
        resume_from: tuple[dict[str, np.ndarray], dict[str, Any]] | None = None,
    ):
        self.cfg, self.runner, self.eval_ids, self.out, self.meta = cfg, runner, eval_ids, out, meta
        self.step, self.elapsed, self.first_loss = 0, 0.0, None
        self.val_loss: float | None = None
        self.best_val_loss: float | None = None
        self.best_step: int | None = None
        self.window = [0.0, 0, 0, 0.0]  # train loss sum, steps, chars, seconds since last row
        self.totals = [0, 0.0]  # chars trained on, seconds of training steps
        self.resumed, self.stop_requested = resume_from is not None, False
        if resume_from is not None:
            self._restore(*resume_from)

    def fit(self) -> dict[str, Any]:
        """Train until the budget is spent or Ctrl-C; returns the summary (summary.json)."""
        cfg, runner = self.cfg, self.runner
        (self.out / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=2) + "\n")
        log = MetricsLog(self.out, self.step if self.resumed else None, cfg.tensorboard)
        bar = ProgressBar(cfg.max_steps, self.step, "char")
        session_start, session_step = time.perf_counter() - self.elapsed, self.step
        last_eval, loss, stop = -1, math.nan, ""
        lr = learning_rate(cfg, self.step, self.elapsed)
        try:
            with self._stop_on_sigint(), _blas_threads(cfg.threads):
                while True:
                    self.elapsed = time.perf_counter() - session_start
                    # 1. stop when the budget is spent or Ctrl-C was pressed
                    stop = self._stop_reason()
                    if stop:
                        break
                    # 2. the learning rate of this step (a pure function of step and time)
                    lr = learning_rate(cfg, self.step, self.elapsed)
                    # 3. evaluate and checkpoint
                    if self.step % cfg.eval_every == 0 and last_eval != self.step:
                        self._evaluate_and_checkpoint(log, bar, lr)
                        last_eval = self.step
                    # 4-7. forward, backward, clip, step (the runner's; state carried inside)
                    t_step = time.perf_counter()
                    loss, chars, grad_norm = runner.train_step(self.step, lr)
                    self._check_divergence(loss, grad_norm)
                    self.step += 1
                    # 8. log, then print samples
                    seconds = time.perf_counter() - t_step
                    self._log_step(log, bar, loss, chars, seconds, lr, session_step)
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

    def _stop_reason(self) -> str:
        if self.stop_requested:
            return "interrupted"
        if self.cfg.max_steps and self.step >= self.cfg.max_steps:
            return "max_steps"
        if self.cfg.max_time and self.elapsed >= self.cfg.max_time:
            return "max_time"
        return ""

    def _evaluate_and_checkpoint(self, log: MetricsLog, bar: ProgressBar, lr: float) -> None:
        total, count = evaluate_text_numpy(self.runner.model, self.eval_ids)
        val_loss = total / count
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

    def _check_divergence(self, loss: float, grad_norm: float | None) -> None:
        if self.first_loss is None:
            self.first_loss = loss
        if not math.isfinite(loss):
            self._diverged(f"the training loss is {loss}")
        if grad_norm is not None and not math.isfinite(grad_norm):
            self._diverged(f"the gradient norm is {grad_norm}")
        factor = self.cfg.divergence_factor
        if factor and loss > factor * self.first_loss:
            self._diverged(
                f"the training loss exploded to {loss:.4g} "
                f"(> {factor:g} x the first loss {self.first_loss:.4g})"
            )

    def _diverged(self, what: str) -> None:
        last = self.out / "last.safetensors"
        kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved"
        raise TrainingDiverged(
            f"training stopped at step {self.step}: {what}; {kept}. "
            f"Try a lower --lr or --grad-clip (lr now {self.cfg.lr:g})"
        )

    def _log_step(self, log, bar, loss, chars, seconds, lr, session_step) -> None:
        w = self.window
        w[0], w[1], w[2], w[3] = w[0] + loss, w[1] + 1, w[2] + chars, w[3] + seconds
        self.totals[0] += chars
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

    # -- checkpoints and summary -------------------------------------------------------------

    def _save(self, name: str, full: bool = True) -> None:
        """Write a checkpoint: ``full`` = everything to resume; else the weights and meta."""
        tensors = with_prefix("model", self.runner.model.state_dict())
        meta = {
            "task": TASK,
            "engine": "numpy",
            "config": config_to_dict(self.cfg),
            "step": self.step,
            "val_loss": self.val_loss,
            "best_val_loss": self.best_val_loss,
            "best_step": self.best_step,
            **self.meta,
        }
        if full:
            more_tensors, more_meta = self.runner.training_state()
            tensors |= more_tensors
            meta |= more_meta | {"elapsed": self.elapsed, "first_loss": self.first_loss}
            meta |= {"window": self.window, "totals": self.totals}
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
        self.step, self.elapsed, self.first_loss = meta["step"], meta["elapsed"], meta["first_loss"]
        self.val_loss, self.best_val_loss = meta["val_loss"], meta["best_val_loss"]
        self.best_step, self.window, self.totals = meta["best_step"], meta["window"], meta["totals"]

    @contextlib.contextmanager
    def _stop_on_sigint(self) -> Iterator[None]:
        """Ctrl-C once: finish the step, save, stop. Twice: abort at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            print("\nCtrl-C: stopping after this step (press again to abort)", file=sys.stderr)

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _finish(self, stop: str, loss: float) -> dict[str, Any]:
        """Write summary.json and loss.png; return the summary."""
        summary = {
            "task": TASK,
            "stop_reason": stop,
            "steps": self.step,
            "train_loss": loss if math.isfinite(loss) else None,
            "final_val_loss": self.val_loss,
            "best_val_loss": self.best_val_loss,
            "best_step": self.best_step,
            "throughput": self.totals[0] / self.totals[1] if self.totals[1] else None,
            "unit": "char",
            "wall_time": self.elapsed,
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        plot_loss(read_metrics(self.out / "metrics.csv"), self.out / "loss.png")
        return summary


# ---------------------------------------------------------------------------------------------
# the verb


def train_numpy(
    cfg: Any,
    corpus: Corpus,
    batches: StreamBatches,
    train_ids: np.ndarray,
    eval_ids: np.ndarray,
    out: Path,
    resume_from: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> int:
    """``rnnkit charlm train`` with ``engine == "numpy"`` (the data checked and split by
    ``charlm.train``); returns 0, or 130 when stopped by Ctrl-C."""
    if cfg.preset == "min-char-rnn":
        runner: Runner = PresetRunner(cfg, corpus.vocab, train_ids)
        what = f"min-char-rnn: vanilla RNN {cfg.hidden_size}, batch 1, Adagrad {cfg.lr:g}, fp64"
    else:
        runner = StreamRunner(cfg, corpus.vocab, batches)
        what = f"{cfg.num_layers}-layer {cfg.model.upper()} {cfg.hidden_size}, NumPy fp32"
    if resume_from is not None:  # torch tensors as loaded by charlm.train -> NumPy arrays
        resume_from = ({k: t.numpy() for k, t in resume_from[0].items()}, resume_from[1])
    trainer = NumpyTrainer(cfg, runner, eval_ids, out, {"vocab": corpus.vocab.chars}, resume_from)
    if resume_from is None:
        out.mkdir(parents=True, exist_ok=True)
        corpus.save(out)
    model = runner.model
    n_params = sum(p.size for name, p in model.params.items() if name not in model.frozen)
    print(
        f"charlm: {corpus.source}: {len(corpus.ids):,} characters, {len(corpus.vocab)} distinct; "
        f"{what}, {n_params:,} parameters -> {out}",
        flush=True,
    )
    summary = trainer.fit()
    print(
        f"done: {summary['steps']} steps ({summary['stop_reason']}), "
        f"val {summary['final_val_loss']:.4f} nats/char (best {summary['best_val_loss']:.4f}), "
        f"{summary['throughput'] or 0:,.0f} chars/s; sample with `rnnkit charlm sample {out}`"
    )
    return 130 if summary["stop_reason"] == "interrupted" else 0
