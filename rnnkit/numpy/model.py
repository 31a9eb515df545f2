"""The character model in NumPy: embedding (or one-hot) -> stacked RNN/LSTM/GRU -> linear head.

``CharRNN`` is the NumPy twin of the torch char model (``CharLM`` with submodules ``embed``,
``rnn`` (batch_first) and ``head``): same parameter names and shapes, same equations, so a
``state_dict`` moves between the two engines and gives the same probabilities.

    embed.weight        (V, E)        absent when embedding_size == 0 (one-hot input, I = V)
    rnn.weight_ih_l{k}  (G*H, I or H) rnn.weight_hh_l{k} (G*H, H)
    rnn.bias_ih_l{k}    (G*H,)        rnn.bias_hh_l{k}   (G*H,)
    head.weight         (V, H)        head.bias          (V,)

Shapes: B streams, T steps, V vocabulary, H hidden, L layers. Inputs and targets are (B, T)
integer ids (batch first, as the torch model); inside, everything runs time-major (T, B, ...).
The recurrent state is (L, B, H) as torch's h_n, or the pair (h_n, c_n) for the LSTM.
"""

from __future__ import annotations

import numpy as np

from rnnkit.numpy.layers import GRU, LSTM, RNN, scatter_add_rows

__all__ = ["Embedding", "Linear", "SoftmaxCrossEntropy", "CharRNN", "State"]

State = np.ndarray | tuple[np.ndarray, np.ndarray]
LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class Embedding:
    """Table lookup, as torch.nn.Embedding: ids (T, B) -> weight[ids] (T, B, E).

    Backward: dweight[v] = sum of dout over the positions where ids == v (a scatter-add).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype: type = np.float64) -> None:
        self.weight = np.zeros((num_embeddings, embedding_dim), dtype)

    def forward(self, ids: np.ndarray) -> np.ndarray:
        self._ids = ids
        return np.take(self.weight, ids, axis=0)  # (T, B, E)

    def backward(self, dout: np.ndarray) -> dict[str, np.ndarray]:
        rows = dout.reshape(-1, self.weight.shape[1])  # (T*B, E)
        return {"weight": scatter_add_rows(self._ids.ravel(), rows, self.weight.shape[0])}


class Linear:
    """y = x W^T + b, as torch.nn.Linear, returned transposed: x (N, H_in) -> y^T (H_out, N).

    Transposed so that the softmax over the outputs reduces along contiguous rows, several times
    faster in NumPy than along a short last axis. Backward, from dy^T (H_out, N):

        dx = dy W,   dW = dy^T x,   db = sum_n dy
    """

    def __init__(self, in_features: int, out_features: int, dtype: type = np.float64) -> None:
        self.weight = np.zeros((out_features, in_features), dtype)
        self.bias = np.zeros(out_features, dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        yt = self.weight @ x.T  # (H_out, N)
        yt += self.bias[:, None]
        return yt

    def backward(self, dyt: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        grads = {"weight": dyt @ self._x, "bias": dyt.sum(1)}
        return dyt.T @ self.weight, grads  # dx (N, H_in)


class SoftmaxCrossEntropy:
    """Cross-entropy of softmax(logits) against target ids, in nats, over N positions:

        loss = sum_n (log sum_v exp(z_vn) - z_{y_n, n})    (divided by N when reduction="mean")
        dloss/dz_n = softmax(z_n) - onehot(y_n)           (divided by N when reduction="mean")

    logits (V, N), class-major as Linear returns them; targets (N,) -> a float.
    """

    def forward(self, logits: np.ndarray, targets: np.ndarray, reduction: str = "mean") -> float:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        N = logits.shape[1]
        cols = np.arange(N)
        p = logits - logits.max(0)  # (V, N), shifted for a safe exp
        picked = p[targets, cols]  # (N,)
        np.exp(p, out=p)
        total = p.sum(0)  # (N,)
        p /= total  # softmax, kept for backward
        loss = float(np.log(total).sum(dtype=np.float64) - picked.sum(dtype=np.float64))
        self._p, self._targets, self._cols = p, targets, cols
        self._scale = 1.0 / N if reduction == "mean" else 1.0
        return loss * self._scale

    def backward(self) -> np.ndarray:
        dz = self._p
        dz[self._targets, self._cols] -= 1
        if self._scale != 1.0:
            dz *= self._scale
        return dz  # (V, N)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis."""
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


class CharRNN:
    """Character language model: (B, T) ids -> (B, T, V) next-character distributions.

        e_t = embed.weight[x_t]     (or the one-hot vector of x_t when embedding_size == 0)
        h_t = stack of num_layers RNN/LSTM/GRU layers over e_t (see rnnkit.numpy.layers)
        p(x_{t+1} | x_{<=t}) = softmax(head.weight h_t + head.bias)

    Args:
        vocab_size: V, the number of distinct characters.
        hidden_size: H.
        num_layers: L stacked recurrent layers.
        model: "rnn", "lstm" or "gru".
        embedding_size: E; 0 feeds one-hot vectors (a column lookup into weight_ih_l0, I = V).
        nonlinearity: "tanh" or "relu" (model="rnn" only).
        dtype: np.float64 or np.float32.
        seed: initializes as torch does: every rnn.* uniform(-1/sqrt(H), 1/sqrt(H)), embed N(0, 1),
            head (weight and bias) uniform(-1/sqrt(H), 1/sqrt(H)).
        dropout: probability of zeroing each recurrent layer's output (scaling the rest by
            1 / (1 - p)) in ``loss_and_grads``, as the torch CharLM does between layers and before
            the head in training; ``forward``, ``log_probs`` and ``sample`` never drop.
        frozen: parameter names left out of the gradients (so out of every optimizer step).
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        num_layers: int = 1,
        model: str = "rnn",
        embedding_size: int = 0,
        *,
        nonlinearity: str = "tanh",
        dtype: type = np.float64,
        seed: int | None = None,
        dropout: float = 0.0,
        frozen: tuple[str, ...] = (),
    ) -> None:
        if model not in LAYERS:
            raise ValueError(f"CharRNN: model must be one of {sorted(LAYERS)}, got {model!r}")
        if model != "rnn" and nonlinearity != "tanh":
            raise ValueError(f"CharRNN: nonlinearity applies to model='rnn' only, got {model!r}")
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"CharRNN: dtype must be float32 or float64, got {np.dtype(dtype)}")
        if not 0 <= dropout < 1:
            raise ValueError(f"CharRNN: dropout must lie in [0, 1), got {dropout}")
        if min(vocab_size, hidden_size, num_layers) < 1 or embedding_size < 0:
            raise ValueError(
                "CharRNN: expected vocab_size, hidden_size, num_layers >= 1 and embedding_size "
                f">= 0, got {vocab_size}, {hidden_size}, {num_layers}, {embedding_size}"
            )
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.model, self.embedding_size, self.dtype = model, embedding_size, np.dtype(dtype)
        self.nonlinearity = nonlinearity
        self.embed = Embedding(vocab_size, embedding_size, dtype) if embedding_size else None
        kw = {"nonlinearity": nonlinearity} if model == "rnn" else {}
        sizes = [embedding_size or vocab_size] + [hidden_size] * (num_layers - 1)  # inputs
        self.layers = [LAYERS[model](i, hidden_size, dtype=dtype, **kw) for i in sizes]
        self.head = Linear(hidden_size, vocab_size, dtype)
        self.loss_fn = SoftmaxCrossEntropy()

        self.params: dict[str, np.ndarray] = {}  # name -> the array itself, updated in place
        if self.embed is not None:
            self.params["embed.weight"] = self.embed.weight
        for k, layer in enumerate(self.layers):
            for name, p in layer.parameters().items():
                self.params[f"rnn.{name}_l{k}"] = p
        self.params["head.weight"], self.params["head.bias"] = self.head.weight, self.head.bias
        unknown = set(frozen) - set(self.params)
        if unknown:
            raise ValueError(f"CharRNN: frozen names unknown parameters {sorted(unknown)}")
        self.frozen = tuple(frozen)
        self.dropout, self.dropout_rng = dropout, np.random.default_rng(seed)
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int | None = None) -> None:
        """Initialize every parameter as torch's CharLM would (see the class docstring)."""
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(self.hidden_size)
        for name, p in self.params.items():
            if name == "embed.weight":
                p[...] = rng.standard_normal(p.shape)
            else:
                p[...] = rng.uniform(-k, k, p.shape)

    # ----- state and checkpoints -----

    def init_state(self, batch_size: int) -> State:
        """Zero state: (L, B, H), or the pair (h, c) of those for the LSTM."""
        shape = (self.num_layers, batch_size, self.hidden_size)
        if self.model == "lstm":
            return np.zeros(shape, self.dtype), np.zeros(shape, self.dtype)
        return np.zeros(shape, self.dtype)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters, keyed by torch's names."""
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state_dict: dict[str, np.ndarray]) -> None:
        """Copy values in (cast to this model's dtype); keys and shapes must match exactly."""
        missing, unexpected = set(self.params) - set(state_dict), set(state_dict) - set(self.params)
        if missing or unexpected:
            raise ValueError(
                f"CharRNN.load_state_dict: missing keys {sorted(missing)}, "
                f"unexpected keys {sorted(unexpected)}"
            )
        for name, p in self.params.items():
            value = np.asarray(state_dict[name])
            if value.shape != p.shape:
                raise ValueError(
                    f"CharRNN.load_state_dict: {name} expected shape {p.shape}, got {value.shape}"
                )
            p[...] = value

    # ----- forward and backward -----

    def _check_ids(self, x: np.ndarray, what: str) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.dtype.kind not in "iu":
            raise ValueError(
                f"CharRNN: expected {what} as (B, T) integer ids, got {x.shape} {x.dtype}"
            )
        if x.size and (x.min() < 0 or x.max() >= self.vocab_size):
            raise ValueError(f"CharRNN: {what} ids must lie in [0, {self.vocab_size})")
        return x

    def _layer_states(self, state: State, batch_size: int) -> list:
        h = state[0] if self.model == "lstm" else state
        expected = (self.num_layers, batch_size, self.hidden_size)
        if np.shape(h) != expected or (self.model == "lstm" and np.shape(state[1]) != expected):
            raise ValueError(f"CharRNN: expected state of shape {expected}, got {np.shape(h)}")
        if self.model == "lstm":
            return [(state[0][k], state[1][k]) for k in range(self.num_layers)]
        return list(state)

    def _forward(
        self, x: np.ndarray, state: State, train: bool = False
    ) -> tuple[np.ndarray, State]:
        """Logits (V, T*B), class-major with positions time-major, and the new state (copied).

        train: apply dropout to every layer's output, keeping the masks for the backward.
        """
        x = self._check_ids(x, "x")
        states = self._layer_states(state, x.shape[0])
        ids = np.ascontiguousarray(x.T)  # (T, B)
        inp = ids if self.embed is None else self.embed.forward(ids)
        new, self._masks = [], []
        for layer, s in zip(self.layers, states, strict=True):
            inp, s = layer.forward(inp, s)  # (T, B, H)
            new.append(s)
            if train and self.dropout:
                keep = self.dropout_rng.random(inp.shape) >= self.dropout  # (T, B, H)
                mask = keep.astype(self.dtype) / self.dtype.type(1 - self.dropout)
                inp = inp * mask  # a new array: the layer keeps its output for its backward
                self._masks.append(mask)
        T, B, H = inp.shape
        logits = self.head.forward(inp.reshape(T * B, H))  # (V, T*B)
        if self.model == "lstm":
            return logits, (np.stack([h for h, _ in new]), np.stack([c for _, c in new]))
        return logits, np.stack(new)

    def forward(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """Logits (B, T, V) for ids x (B, T), and the state after the last step."""
        logits, state = self._forward(x, state)
        B, T = np.shape(x)
        return logits.reshape(-1, T, B).transpose(2, 1, 0).copy(), state  # (B, T, V)

    def log_probs(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """log p(next char) (B, T, V) for ids x (B, T), and the state after the last step."""
        logits, state = self.forward(x, state)
        return log_softmax(logits), state

    def loss_and_grads(
        self, x: np.ndarray, y: np.ndarray, state: State, *, reduction: str = "mean"
    ) -> tuple[float, dict[str, np.ndarray], State]:
        """Cross-entropy of predicting y from x, its gradients, and the state to carry on.

        x, y: (B, T) ids (y[:, t] is the character after x[:, t]). state: from ``init_state`` or
        the previous chunk (treated as a constant: truncated BPTT). reduction: "mean" gives nats
        per character, "sum" the total over all B*T characters (min-char-rnn's loss).
        Returns (loss, grads keyed as ``params`` less ``frozen``, new state).
        """
        y = self._check_ids(y, "y")
        if y.shape != np.shape(x):
            raise ValueError(f"CharRNN: expected y of the shape of x {np.shape(x)}, got {y.shape}")
        logits, new_state = self._forward(x, state, train=True)
        loss = self.loss_fn.forward(logits, np.ascontiguousarray(y.T).ravel(), reduction)

        grads: dict[str, np.ndarray] = {}
        dh, g = self.head.backward(self.loss_fn.backward())  # (T*B, H)
        grads["head.weight"], grads["head.bias"] = g["weight"], g["bias"]
        dout = dh.reshape(x.shape[1], x.shape[0], -1)  # (T, B, H)
        for k in range(self.num_layers - 1, -1, -1):
            if self._masks:
                dout = dout * self._masks[k]  # through the dropout after layer k
            dout, _, g = self.layers[k].backward(dout)
            grads.update({f"rnn.{name}_l{k}": v for name, v in g.items()})
        if self.embed is not None:
            grads["embed.weight"] = self.embed.backward(dout)["weight"]
        grads = {name: grads[name] for name in self.params if name not in self.frozen}
        return loss, grads, new_state

    # ----- generation -----

    def sample(
        self,
        prime_ids: list[int] | np.ndarray,
        length: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: np.random.Generator | np.random.RandomState | None = None,
        state: State | None = None,
    ) -> list[int]:
        """Feed prime_ids (at least one) from ``state`` (default zero), then draw ``length`` ids.

        Each draw is ``rng.choice(V, p=p)`` with p = softmax(logits / temperature), restricted to
        the top_k largest logits when top_k is given; temperature 0 takes the argmax (no draw).
        """
        prime = np.asarray(prime_ids, dtype=np.int64).reshape(1, -1)  # (1, T)
        if prime.shape[1] == 0:
            raise ValueError("CharRNN.sample: expected at least one prime id")
        if temperature < 0 or length < 0 or (top_k is not None and top_k < 1):
            raise ValueError(
                "CharRNN.sample: expected temperature >= 0, length >= 0, top_k None or >= 1, got "
                f"{temperature}, {length}, {top_k}"
            )
        rng = np.random.default_rng() if rng is None else rng
        state = self.init_state(1) if state is None else state
        logits, state = self.forward(prime, state)  # (1, T, V)
        out: list[int] = []
        for step in range(length):
            if step:
                logits, state = self.forward(np.array([[out[-1]]]), state)  # (1, 1, V)
            z = logits[0, -1].astype(np.float64)  # (V,)
            if temperature == 0:
                out.append(int(z.argmax()))
                continue
            z /= temperature
            if top_k is not None and top_k < z.size:
                z[z < np.partition(z, -top_k)[-top_k]] = -np.inf
            p = np.exp(z - z.max())
            out.append(int(rng.choice(z.size, p=p / p.sum())))
        return out

    def __repr__(self) -> str:
        return (
            f"CharRNN(vocab_size={self.vocab_size}, hidden_size={self.hidden_size}, "
            f"num_layers={self.num_layers}, model={self.model!r}, "
            f"embedding_size={self.embedding_size}, nonlinearity={self.nonlinearity!r}, "
            f"dtype={self.dtype})"
        )
