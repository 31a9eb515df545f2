"""The structure of a recurrent model, described from its config: what every arrow carries.

``describe(subject)`` lists the tensors that flow through the model for the subject's input,
each with the shape the layer's arguments say it has (torch.nn's contract): the input cube,
the recurrent layer's input, one step's x_t, h_t (and c_t) in each layer, what passes between
layers, the output, h_n (and c_n) and the head's output. ``rnnkit.viz.structure`` draws it;
``forward_shapes`` measures the same tensors in a real forward pass (tests hold them equal).

Shapes: N batch, T steps, F input features, D directions, L layers, H hidden, H_out = proj or H.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnkit.inspect.subjects import Subject
from rnnkit.nn.trace import trace


@dataclass
class Arrow:
    """One tensor of the diagram: ``name`` (what it is), ``shape`` and ``dims`` (the name of
    each dimension, space-separated, e.g. "N T F")."""

    name: str
    shape: tuple[int, ...]
    dims: str

    @property
    def label(self) -> str:
        """e.g. ``output (N, T, D*H) = (1, 200, 384)``."""
        letters = ", ".join(self.dims.split())
        return f"{self.name} ({letters}) = ({', '.join(str(s) for s in self.shape)})"


@dataclass
class Structure:
    """The model of a subject as the diagram draws it: the recurrent layer's kind and sizes,
    the head, and the arrows by name."""

    title: str
    mode: str
    num_layers: int
    directions: int
    steps: int
    embedding: int
    head: str
    arrows: dict[str, Arrow]


def describe(subject: Subject) -> Structure:
    """The arrows of ``subject``'s model, from its recurrent layer's arguments and the input."""
    rnn, x = subject.rnn, subject.x
    n = x.size(0)
    steps = subject.steps or x.size(1)
    d = 2 if rnn.bidirectional else 1
    h, h_out = rnn.hidden_size, rnn.proj_size or rnn.hidden_size
    seq = "N T" if rnn.batch_first else "T N"
    seq_shape = (n, steps) if rnn.batch_first else (steps, n)
    lstm = rnn.mode == "LSTM"
    arrows = [
        Arrow("input", tuple(x.shape), "N T" if x.dim() == 2 else "N T F"),
        Arrow("layer input", (*seq_shape, rnn.input_size), f"{seq} H_in"),
        Arrow("x_t", (n, rnn.input_size), "N H_in"),
        Arrow("h_t", (n, h_out), "N H_out" if rnn.proj_size else "N H"),
        Arrow("c_t", (n, h), "N H") if lstm else None,
        Arrow("to next layer", (n, d * h_out), "N D*H") if rnn.num_layers > 1 else None,
        Arrow("output", (*seq_shape, d * h_out), f"{seq} D*H"),
        Arrow("h_n", (d * rnn.num_layers, n, h_out), "D*L N H"),
        Arrow("c_n", (d * rnn.num_layers, n, h), "D*L N H") if lstm else None,
        Arrow("head output", subject.head_shape, _head_dims(subject)),
    ]
    return Structure(
        subject.title, rnn.mode.split("_")[0], rnn.num_layers, d, steps, subject.embedding,
        subject.head, {a.name: a for a in arrows if a is not None},
    )  # fmt: skip


def _head_dims(subject: Subject) -> str:
    shape = subject.head_shape
    last = {"charlm": "V", "classify": "C", "forecast": "O"}[subject.task]
    dims = ["N"] + (["T"] if len(shape) >= 3 else []) + [last]
    if subject.task == "forecast" and len(dims) < len(shape):
        dims.append("Q")
    return " ".join(dims)


@torch.no_grad()
def forward_shapes(subject: Subject) -> dict[str, tuple[int, ...]]:
    """The shapes of the diagram's tensors in a real forward pass of ``subject``'s model: the
    recurrent layer's input and outputs caught by a hook, one step's from its traced gates."""
    seen: dict[str, tuple[int, ...]] = {}

    def hook(module, args, result):
        output, state = result[0], result[1]
        x_in = args[0]
        seen["layer input"] = tuple(x_in.shape)
        seen["x_t"] = tuple((x_in[:, 0] if module.batch_first else x_in[0]).shape)  # one step
        seen["output"] = tuple(output.shape)
        h_n, c_n = state if isinstance(state, tuple) else (state, None)
        seen["h_n"] = tuple(h_n.shape)
        if c_n is not None:
            seen["c_n"] = tuple(c_n.shape)

    handle = subject.rnn.register_forward_hook(hook)
    try:
        with trace(subject.model) as t:
            out = subject.forward()
    finally:
        handle.remove()
    seen["input"] = tuple(subject.x.shape)
    seen["head output"] = tuple(out.shape)
    gates = t[subject.rnn_name]
    seen["h_t"] = tuple(gates[0]["h"][0, :, 0].shape)  # (N, H_out): step 0, direction 0
    if "c" in gates[0]:
        seen["c_t"] = tuple(gates[0]["c"][0, :, 0].shape)
    if len(gates) > 1:
        seen["to next layer"] = tuple(gates[0]["h"][0].flatten(1).shape)  # (N, D*H_out)
    return seen
