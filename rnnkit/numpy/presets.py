"""The ``min-char-rnn`` preset: Karpathy's min-char-rnn (2015), reproduced exactly on CharRNN.

The algorithm, per iteration n, on a corpus of ids ``data`` with V distinct characters:

    if p + seq_length + 1 >= len(data) or n == 0:  h = 0, p = 0     (reset at the wrap)
    x, y = data[p : p+25], data[p+1 : p+26]
    every 100 iterations: sample 200 characters from h, primed with x[0]
    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h),  y_t = W_hy h_t + b_y,  p_t = softmax(y_t)
    loss = sum_t -log p_t[y_t]                                        (a SUM over the 25 steps)
    every gradient clipped element-wise to [-5, 5]
    Adagrad: mem += d * d;  param -= 0.1 * d / sqrt(mem + 1e-8)
    smooth_loss = 0.999 * smooth_loss + 0.001 * loss   (from -log(1/V) * seq_length)
    p += 25

Mapping onto torch's names: W_xh = rnn.weight_ih_l0 (one-hot input), W_hh = rnn.weight_hh_l0,
b_h = rnn.bias_ih_l0, W_hy = head.weight, b_y = head.bias; torch's second bias rnn.bias_hh_l0 is
kept at 0 and frozen, so the model is the same and a checkpoint loads into the torch CharLM.
Weights start N(0, 0.01^2) drawn as min-char-rnn does (randn for W_xh, W_hh, W_hy in that order
from a RandomState), biases 0; samples draw from the same RandomState.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from rnnkit.numpy.model import CharRNN
from rnnkit.numpy.optim import Adagrad, clip_elementwise

__all__ = ["MinCharRNNConfig", "MIN_CHAR_RNN", "min_char_rnn_model", "Step", "MinCharRNN"]


@dataclass(frozen=True)
class MinCharRNNConfig:
    """min-char-rnn's hyperparameters (the defaults are the original ones)."""

    hidden_size: int = 100
    seq_length: int = 25
    learning_rate: float = 0.1
    eps: float = 1e-8
    clip: float = 5.0
    init_std: float = 0.01
    sample_every: int = 100  # 0: never sample
    sample_length: int = 200
    smoothing: float = 0.999


MIN_CHAR_RNN = MinCharRNNConfig()


def min_char_rnn_model(
    vocab_size: int,
    rng: np.random.RandomState,
    hidden_size: int = 100,
    init_std: float = 0.01,
    dtype: type = np.float64,
) -> CharRNN:
    """One-hot, one-layer tanh CharRNN with min-char-rnn's init and a single hidden bias."""
    model = CharRNN(vocab_size, hidden_size, dtype=dtype, frozen=("rnn.bias_hh_l0",))
    for p in model.params.values():
        p[...] = 0
    for name in ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "head.weight"):  # Wxh, Whh, Why
        p = model.params[name]
        p[...] = rng.randn(*p.shape) * init_std
    return model


@dataclass
class Step:
    """What one iteration reports: loss is the sum of nats over the chunk."""

    iteration: int
    loss: float
    smooth_loss: float
    sample: list[int] | None  # the ids sampled before this iteration's update, if it sampled


class MinCharRNN:
    """min-char-rnn's training loop over ``data`` (1-D integer ids in [0, vocab_size)).

    ``step()`` runs one iteration and returns a ``Step``; ``state_dict()``/``load_state_dict()``
    save and resume everything (model, Adagrad memory, position, hidden state, RNG).
    """

    def __init__(
        self,
        data: np.ndarray,
        vocab_size: int,
        config: MinCharRNNConfig = MIN_CHAR_RNN,
        seed: int = 0,
        dtype: type = np.float64,
    ) -> None:
        data = np.asarray(data)
        if data.ndim != 1 or data.dtype.kind not in "iu":
            raise ValueError(f"MinCharRNN: expected 1-D integer ids, got {data.shape} {data.dtype}")
        if len(data) <= config.seq_length + 1:
            raise ValueError(
                f"MinCharRNN: need more than seq_length + 1 = {config.seq_length + 1} "
                f"characters, got {len(data)}"
            )
        self.data, self.config = data.astype(np.int64), config
        self.rng = np.random.RandomState(seed)
        self.model = min_char_rnn_model(
            vocab_size, self.rng, config.hidden_size, config.init_std, dtype
        )
        self.optimizer = Adagrad(lr=config.learning_rate, eps=config.eps)
        self.n, self.p = 0, 0
        self.h = self.model.init_state(1)  # (1, 1, H)
        self.smooth_loss = -math.log(1.0 / vocab_size) * config.seq_length

    def step(self) -> Step:
        """One iteration of the loop in the module docstring."""
        c, data = self.config, self.data
        if self.p + c.seq_length + 1 >= len(data) or self.n == 0:
            self.h, self.p = self.model.init_state(1), 0  # reset memory, go from the start
        x = data[self.p : self.p + c.seq_length][None]  # (1, T)
        y = data[self.p + 1 : self.p + c.seq_length + 1][None]  # (1, T)
        sample = None
        if c.sample_every and self.n % c.sample_every == 0:
            sample = self.model.sample(x[0, :1], c.sample_length, rng=self.rng, state=self.h)
        loss, grads, self.h = self.model.loss_and_grads(x, y, self.h, reduction="sum")
        self.smooth_loss = self.smooth_loss * c.smoothing + loss * (1 - c.smoothing)
        clip_elementwise(grads, c.clip)
        self.optimizer.step(self.model.params, grads)
        step = Step(self.n, loss, self.smooth_loss, sample)
        self.p += c.seq_length
        self.n += 1
        return step

    def state_dict(self) -> dict:
        """Arrays under "model", "optimizer"["buffers"] and "h"; everything else JSON-able."""
        kind, keys, pos, has_gauss, cached = self.rng.get_state()
        return {
            "config": asdict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "n": self.n,
            "p": self.p,
            "h": self.h.copy(),
            "smooth_loss": self.smooth_loss,
            "rng": {"keys": keys.copy(), "pos": int(pos), "has_gauss": has_gauss, "cached": cached},
        }

    def load_state_dict(self, state: dict) -> None:
        if MinCharRNNConfig(**state["config"]) != self.config:
            raise ValueError("MinCharRNN.load_state_dict: the state was saved with another config")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.n, self.p = int(state["n"]), int(state["p"])
        self.h = np.array(state["h"], self.model.dtype)
        self.smooth_loss = float(state["smooth_loss"])
        r = state["rng"]
        self.rng.set_state(
            ("MT19937", np.asarray(r["keys"], np.uint32), r["pos"], r["has_gauss"], r["cached"])
        )
