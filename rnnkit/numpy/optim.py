"""Gradient clipping and optimizers for parameter dicts of NumPy arrays.

An optimizer updates ``params[name]`` in place for every ``name`` in ``grads`` (so parameters
absent from the gradients, such as a model's frozen ones, stay as they are):

    opt = Adam(lr=2e-3)
    opt.step(model.params, grads)

``state_dict()`` returns JSON-able scalars (type, hyperparameters, step count) plus ``buffers``,
a flat ``{"slot/param_name": ndarray}`` dict; ``load_state_dict`` takes it back. ``lr`` is a plain
attribute, to be set by a schedule between steps.
"""

from __future__ import annotations

import numpy as np

__all__ = ["clip_elementwise", "clip_grad_norm", "Optimizer", "SGD", "Adagrad", "RMSProp", "Adam"]


def clip_elementwise(grads: dict[str, np.ndarray], value: float) -> None:
    """Clip every gradient element to [-value, value], in place (min-char-rnn's clipping)."""
    if value <= 0:
        raise ValueError(f"clip_elementwise: value must be > 0, got {value}")
    for g in grads.values():
        np.clip(g, -value, value, out=g)


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most max_norm, in place.

    As torch.nn.utils.clip_grad_norm_: g *= min(1, max_norm / (norm + 1e-6)). Returns the norm
    before clipping.
    """
    if max_norm <= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be > 0, got {max_norm}")
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
    coef = max_norm / (norm + 1e-6)
    if coef < 1:
        for g in grads.values():
            g *= coef
    return norm


class Optimizer:
    """Base: one update over all parameters at once.

    Each step concatenates the gradients into one vector g (P,), and the subclass's ``_delta``
    computes the change of all P values from g and the per-parameter buffers named by ``slots``
    (kept concatenated too, zeros at first); each parameter then subtracts its slice. A few NumPy
    calls per step instead of a few per parameter. ``buffers`` holds every "slot/param_name" as a
    view of the concatenated buffer.
    """

    slots: tuple[str, ...] = ()

    def __init__(self, lr: float) -> None:
        if lr < 0:
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {lr}")
        self.lr = lr
        self.steps = 0
        self.buffers: dict[str, np.ndarray] = {}  # "slot/param_name" -> array
        self._names: tuple[str, ...] = ()  # the parameters, in the order concatenated
        self._slots: list[np.ndarray] = []  # one (P,) vector per slot

    def hyperparameters(self) -> dict:
        return {"lr": self.lr}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update params[name] in place from grads[name], for every name in grads."""
        for name, g in grads.items():
            if params[name].shape != g.shape:
                raise ValueError(
                    f"{type(self).__name__}: gradient {name} has shape {g.shape}, "
                    f"parameter {params[name].shape}"
                )
        self.steps += 1
        if not grads:
            return
        if tuple(grads) != self._names:
            self._concatenate_buffers(params, tuple(grads))
        g = np.concatenate([d.ravel() for d in grads.values()])  # (P,)
        delta = self._delta(g, *self._slots)  # (P,)
        start = 0
        for name in self._names:
            p = params[name]
            p -= delta[start : start + p.size].reshape(p.shape)
            start += p.size

    def _concatenate_buffers(self, params: dict[str, np.ndarray], names: tuple[str, ...]) -> None:
        """Lay each slot's buffers out as one vector, in the order of names."""
        self._names, self._slots = names, []
        for slot in self.slots:
            parts = []  # the buffers so far (from earlier steps or load_state_dict), or zeros
            for n in names:
                old = self.buffers.get(f"{slot}/{n}")
                parts.append(np.zeros(params[n].size, params[n].dtype) if old is None else old)
            flat = np.concatenate([np.ravel(b) for b in parts], dtype=params[names[0]].dtype)
            self._slots.append(flat)  # (P,)
            start = 0
            for n in names:  # buffers become views of the vector
                p = params[n]
                self.buffers[f"{slot}/{n}"] = flat[start : start + p.size].reshape(p.shape)
                start += p.size

    def _delta(self, g: np.ndarray, *slots: np.ndarray) -> np.ndarray:
        """The amount to subtract from the parameters, updating the slots in place."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {
            "type": type(self).__name__,
            **self.hyperparameters(),
            "steps": self.steps,
            "buffers": {k: v.copy() for k, v in self.buffers.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("type") != type(self).__name__:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: got the state of {state.get('type')!r}"
            )
        for key in self.hyperparameters():
            value = state[key]
            setattr(self, key, tuple(value) if isinstance(value, list) else value)
        self.steps = int(state["steps"])
        self.buffers = {k: np.array(v) for k, v in state["buffers"].items()}
        self._names = ()  # concatenated again at the next step


class SGD(Optimizer):
    """As torch.optim.SGD: b = momentum * b + g (b = g at the first step); p -= lr * b."""

    slots = ("momentum_buffer",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.0) -> None:
        super().__init__(lr)
        self.momentum = momentum
        if not momentum:
            self.slots = ()  # plain SGD keeps no buffer

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum}

    def _delta(self, g: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        if b is not None:
            b *= self.momentum
            b += g
            g = b
        return self.lr * g


class Adagrad(Optimizer):
    """As min-char-rnn: mem += g * g; p -= lr * g / sqrt(mem + eps).

    (torch.optim.Adagrad puts eps outside the root, sqrt(mem) + eps; the two agree when eps = 0.)
    """

    slots = ("sum",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.eps = eps

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "eps": self.eps}

    def _delta(self, g: np.ndarray, mem: np.ndarray) -> np.ndarray:
        mem += g * g
        return self.lr * g / np.sqrt(mem + self.eps)


class RMSProp(Optimizer):
    """As torch.optim.RMSprop: v = alpha v + (1 - alpha) g^2; p -= lr * g / (sqrt(v) + eps)."""

    slots = ("square_avg",)

    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.alpha, self.eps = alpha, eps

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps}

    def _delta(self, g: np.ndarray, v: np.ndarray) -> np.ndarray:
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        return self.lr * g / (np.sqrt(v) + self.eps)


class Adam(Optimizer):
    """As torch.optim.Adam, at step t:

    m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    slots = ("exp_avg", "exp_avg_sq")

    def __init__(
        self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {betas}")
        self.betas, self.eps = tuple(betas), eps

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps}

    def _delta(self, g: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
        b1, b2 = self.betas
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        denom = np.sqrt(v)
        denom /= np.sqrt(1 - b2**self.steps)
        denom += self.eps
        return self.lr / (1 - b1**self.steps) * m / denom
