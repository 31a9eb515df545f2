"""charlm on the NumPy engine: ``rnnkit charlm train --engine numpy`` and ``--preset min-char-rnn``.

The model is ``rnnkit.numpy.CharRNN``, the twin of ``CharLMNet`` (same state_dict keys and
shapes), trained by the one loop (``rnnkit.train.Trainer`` with ``rnnkit.train.NumpyEngine``:
the run directory and checkpoint format of the torch engine) with one of two runners making the
steps:

- ``StreamRunner`` (``--engine numpy``): the same data as the torch engine (``StreamBatches``:
  B contiguous streams, the state carried and reset where the data wraps), fp32, the mean loss,
  the gradient norm clipped, the engine's optimizer of ``--optimizer`` with weight decay on
  matrices as torch applies it (adamw: decoupled; the others: an L2 term in the gradient).
- ``PresetRunner`` (``--preset min-char-rnn``): Karpathy's min-char-rnn exactly
  (``rnnkit.numpy.MinCharRNN``: one stream, fp64, the summed loss, every gradient element clipped,
  Adagrad) on the training split, printing the smoothed loss and a sample every
  ``--sample-every`` iterations as min-char-rnn does. min-char-rnn zeroes its hidden state only
  where the data wraps, so a run can come to rely on a carried state that a zero state never
  reaches (on tinyshakespeare, seed 1337 does: ~2 nats/char in training, ~15 from a zero state).
  The validation loss, ``eval`` and ``sample`` start from a zero state, as for every checkpoint,
  and show it.

Evaluation and sampling here are the NumPy twins of ``model.evaluate_text`` and ``sample_text``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from rnnkit.data.text import StreamBatches, Vocab, progress_bar, scoring_batches
from rnnkit.numpy import (
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
from rnnkit.train.checkpoint import strip_prefix
from rnnkit.train.config import ConfigError, TrainConfig
from rnnkit.train.state import (
    numpy_optimizer_state,
    numpy_optimizer_to_tensors,
    state_from_tensors,
    state_to_tensors,
)

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
    model: CharRNN, ids: np.ndarray, seq_length: int = 256, rows: int = 32, progress: bool = False
) -> tuple[float, int]:
    """(total nats, characters scored): every next character of ``ids``, state carried
    (the NumPy twin of ``charlm.evaluate_text``, over the same ``scoring_batches``)."""
    total, count, state = 0.0, 0, None
    with progress_bar(len(ids) - 1, "scoring", "char", progress) as bar:
        for x, y, tail in scoring_batches(ids, rows, seq_length):
            x, y = x.numpy(), y.numpy()  # (rows, t)
            if state is None:
                state = model.init_state(x.shape[0])
            elif tail:
                state = _last_row(state)
            logp, state = model.log_probs(x, state)  # (rows, t, V)
            total -= float(np.take_along_axis(logp, y[..., None], -1).sum(dtype=np.float64))
            count += y.size
            bar.update(y.size)
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
    start = vocab.prime(prime)
    ids = model.sample(
        vocab.encode(start), length, temperature=temperature, top_k=top_k or None,
        rng=np.random.default_rng(seed),
    )  # fmt: skip
    yield from (vocab.chars[i] for i in ids)


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
        optim_tensors, optim_meta = numpy_optimizer_to_tensors(self.optimizer)
        state_tensors, state_n = state_to_tensors(self.state)
        rng = {"dropout": self.model.dropout_rng.bit_generator.state}
        return optim_tensors | state_tensors, {"optim": optim_meta, "state": state_n, "rng": rng}

    def restore(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.model.load_state_dict(strip_prefix("model", tensors))
        self.optimizer.load_state_dict(numpy_optimizer_state(tensors, meta["optim"]))
        self.model.dropout_rng.bit_generator.state = meta["rng"]["dropout"]
        self.state = state_from_tensors(tensors, meta["state"])
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
        optim_tensors, optim_meta = numpy_optimizer_to_tensors(self.loop.optimizer)
        rng = sd["rng"] | {"keys": sd["rng"]["keys"].tolist()}
        meta = {"optim": optim_meta, "state": -1, "rng": {"min_char_rnn": rng}}
        meta["min_char_rnn"] = {"p": sd["p"], "smooth_loss": sd["smooth_loss"]}
        return optim_tensors | {"state": sd["h"]}, meta

    def restore(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.loop.load_state_dict(
            {
                "config": asdict(self.loop.config),
                "model": strip_prefix("model", tensors),
                "optimizer": numpy_optimizer_state(tensors, meta["optim"]),
                "n": meta["step"],
                "h": tensors["state"],
                "rng": meta["rng"]["min_char_rnn"],
                **meta["min_char_rnn"],
            }
        )
