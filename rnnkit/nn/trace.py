"""Gate tracing: every gate of every rnnkit recurrent layer and cell of a model, step by step.

    with rnnkit.nn.trace(model) as t:
        model(x)
    t["rnn"][0]["f"]      # the forget gate of layer 0 of the submodule "rnn": (L, N, D, H)

Inside ``trace(model)``, each ``rnnkit.nn`` layer (RNN, LSTM, GRU) and cell (RNNCell, LSTMCell,
GRUCell) of ``model`` runs with ``return_gates=True``: its reference path, with the same weights
and the same results as the fused one, and records its gates in a ``TracedCall`` while returning
what it always returns, so the model's own forward runs unchanged. A layer records one dict per
layer, {gate: (L, N, D, H)} (LSTM i, f, g, o, c, h; GRU r, z, n, h; RNN h; time-major whatever
``batch_first``; see ``rnnkit.nn.recurrent``); a cell one dict of (N, H). On leaving the block
every module is as before: the fused path runs again, untouched.

torch.nn's own LSTM has no gates to trace: build the model with ``rnnkit.nn.LSTM``, which loads
torch.nn.LSTM's state_dict.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from torch import Tensor, nn

from rnnkit.nn.cells import _CellBase
from rnnkit.nn.recurrent import _RNNBase

__all__ = ["trace", "Trace", "TracedCall", "GATES"]

# the gates each mode records, in order (a layer's mode, or a cell's class name)
GATES = {
    "LSTM": ("i", "f", "g", "o", "c", "h"),
    "GRU": ("r", "z", "n", "h"),
    "RNN_TANH": ("h",),
    "RNN_RELU": ("h",),
}


@dataclass
class TracedCall:
    """One call of one traced module: ``name`` in the model ("" for the model itself),
    ``module``, and ``gates``: a layer's list of {gate: (L, N, D, H)} per layer, or a cell's
    {gate: (N, H)}."""

    name: str
    module: nn.Module
    gates: list[dict[str, Tensor]] | dict[str, Tensor]


@dataclass
class Trace:
    """The calls recorded inside ``trace(model)``, in order; ``t[name]`` the gates of the last
    call of the module ``name`` (a KeyError naming the traced modules if it made none)."""

    names: list[str]
    calls: list[TracedCall] = field(default_factory=list)

    def __getitem__(self, name: str) -> list[dict[str, Tensor]] | dict[str, Tensor]:
        for call in reversed(self.calls):
            if call.name == name:
                return call.gates
        called = sorted({c.name for c in self.calls})
        raise KeyError(
            f"trace: no call of {name!r} was recorded; traced modules {self.names}, called "
            f"{called or 'none (run the model inside the with block)'}"
        )


def _traced_forward(module: nn.Module, name: str, record: Trace, cls_forward):
    """A forward for ``module`` that records its gates and returns what forward returns."""

    def forward(*args, **kwargs):
        result = cls_forward(module, *args, **kwargs, return_gates=True)
        if isinstance(module, _RNNBase):
            output, state, gates = result
            record.calls.append(TracedCall(name, module, gates))
            return output, state
        out, gates = result
        record.calls.append(TracedCall(name, module, gates))
        return out

    return forward


@contextmanager
def trace(model: nn.Module) -> Iterator[Trace]:
    """Record the gates of every rnnkit.nn recurrent layer and cell in ``model`` (itself one, or
    holding them) while the block runs; yields the ``Trace``. A ValueError when it has none."""
    modules = [(n, m) for n, m in model.named_modules() if isinstance(m, _RNNBase | _CellBase)]
    if not modules:
        torch_rnns = [
            n or "the model" for n, m in model.named_modules() if isinstance(m, nn.RNNBase)
        ]
        hint = (
            f"; {', '.join(torch_rnns)} is torch.nn's, whose fused kernel hides its gates: use "
            "rnnkit.nn's layer of the same name (it loads the same state_dict)"
            if torch_rnns
            else ""
        )
        raise ValueError(f"trace: {type(model).__name__} has no rnnkit.nn layer or cell{hint}")
    busy = [n or "the model" for n, m in modules if "forward" in vars(m)]
    if busy:
        raise ValueError(f"trace: {', '.join(busy)} already traced (or its forward replaced)")
    record = Trace([n for n, _ in modules])
    for name, module in modules:
        module.forward = _traced_forward(module, name, record, type(module).forward)
    try:
        yield record
    finally:
        for _, module in modules:
            del module.forward
