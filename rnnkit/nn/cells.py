"""One time step of a recurrent network as a module: RNNCell, LSTMCell, GRUCell.

Each cell takes torch.nn's arguments and checks, names its parameters as torch does and
initializes them so; with ``impl="auto"`` it calls torch's fused cell, otherwise (or with
``layer_norm=True``) the step functions of ``steps.py`` (``rnn_step``, ``lstm_step``,
``gru_step``, re-exported here), which the layers' reference loop calls too. The argument checks
shared by cells and layers (``check_size``, ``check_impl``) are here.
``forward(..., return_gates=True)`` runs the step functions and returns ``(result, gates)``,
gates a dict (LSTM i, f, g, o, c, h; GRU r, z, n, h; RNN h) of (N, H) tensors.

Shapes: N batch, H_in input features, H hidden units, H_out = proj_size or H, G gates
(RNN 1, LSTM 4 in the order i|f|g|o, GRU 3 in the order r|z|n).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit.nn.steps import (
    LN_EPS,
    gru_step,
    init_forget_bias,
    input_projection,
    lstm_step,
    recurrent_projection,
    rnn_step,
)

__all__ = [
    "RNNCell", "LSTMCell", "GRUCell", "IMPLS", "check_impl", "check_size",
    "LN_EPS", "gru_step", "init_forget_bias", "input_projection", "lstm_step",
    "recurrent_projection", "rnn_step",
]  # fmt: skip

# ----------------------------------------------------------------------------------------------
# Argument checks shared by cells and layers

IMPLS = ("auto", "fused", "reference")


def check_size(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")


def check_impl(owner: str, impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"{owner}: impl must be one of {IMPLS}, got {impl!r}")


# ----------------------------------------------------------------------------------------------
# The cell modules


def _gates(gates: dict[str, Tensor], c: Tensor | None, h: Tensor, batched: bool):
    """A cell's traced gates with c (LSTM) and h added, each (N, H), or (H) when unbatched."""
    gates = gates | ({"c": c} if c is not None else {}) | {"h": h}
    return gates if batched else {name: v.squeeze(0) for name, v in gates.items()}


class _CellBase(nn.Module):
    """Parameters, init and input checks shared by the three cells."""

    num_gates: int

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        device=None,
        dtype=None,
        *,
        layer_norm: bool = False,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_size(name, "input_size", input_size)
        check_size(name, "hidden_size", hidden_size)
        check_impl(name, impl)
        if impl == "fused" and layer_norm:
            raise ValueError(f"{name}: layer_norm=True has no fused kernel; use impl='auto'")
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.layer_norm, self.impl = layer_norm, impl
        gh = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gh, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(gh, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gh, **factory))
            self.bias_hh = nn.Parameter(torch.empty(gh, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        if layer_norm:
            self.ln_ih = nn.Parameter(torch.empty(gh, **factory))
            self.ln_hh = nn.Parameter(torch.empty(gh, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn's init: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)); LN gains 1."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            p = getattr(self, name)
            if p is not None:
                nn.init.uniform_(p, -stdv, stdv)
        if self.layer_norm:
            nn.init.ones_(self.ln_ih)
            nn.init.ones_(self.ln_hh)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        if self.layer_norm:
            s += ", layer_norm=True"
        if self.impl != "auto":
            s += f", impl={self.impl!r}"
        return s

    def _use_fused(self) -> bool:
        return not self.layer_norm and self.impl != "reference"

    def _check_input(self, input: Tensor, hx: list[Tensor | None]) -> bool:
        """torch.nn's checks and messages. Returns whether the input is batched."""
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for idx, value in enumerate(hx):
            if value is None:
                continue
            if value.dim() not in (1, 2):
                what = "hidden" if len(hx) == 1 else f"hx[{idx}]"
                raise ValueError(
                    f"{name}: Expected {what} to be 1D or 2D, got {value.dim()}D instead"
                )
            if value.dim() != input.dim():
                raise ValueError(
                    f"{name}: expected {'batched 2-D' if input.dim() == 2 else 'unbatched 1-D'} "
                    f"hidden state to match the {input.dim()}-D input, got {value.dim()}-D"
                )
            if value.dtype != input.dtype:
                raise RuntimeError(
                    f"{name}: hidden state dtype {value.dtype} does not match input dtype "
                    f"{input.dtype}; cast both to the module's dtype"
                )
            if value.device != input.device:
                raise RuntimeError(
                    f"{name}: hidden state is on {value.device} but input is on {input.device}; "
                    "move both to the module's device"
                )
        if input.size(-1) != self.input_size:
            raise RuntimeError(
                "input has inconsistent input_size: "
                f"got {input.size(-1)} expected {self.input_size}"
            )
        if input.dtype != self.weight_ih.dtype:
            raise RuntimeError(
                f"{name}: input dtype {input.dtype} does not match the weights' "
                f"{self.weight_ih.dtype}; cast the input or call .to({input.dtype}) on the module"
            )
        batched = input.dim() == 2
        n = input.size(0) if batched else 1
        for idx, value in enumerate(hx):
            if value is None:
                continue
            size = self.hidden_size if idx == 1 else getattr(self, "_h_out", self.hidden_size)
            if value.size(-1) != size:
                raise RuntimeError(
                    f"hidden{idx} has inconsistent hidden_size: "
                    f"got {value.size(-1)}, expected {size}"
                )
            if batched and value.size(0) != n:
                raise RuntimeError(
                    f"Input batch size {n} doesn't match hidden{idx} batch size {value.size(0)}"
                )
        return batched

    def _gi(self, x: Tensor) -> Tensor:
        return input_projection(x, self.weight_ih, self.bias_ih, getattr(self, "ln_ih", None))

    def _gh(self, h: Tensor) -> Tensor:
        return recurrent_projection(h, self.weight_hh, self.bias_hh, getattr(self, "ln_hh", None))


class RNNCell(_CellBase):
    r"""An Elman RNN cell: :math:`h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})` (or ReLU).

    Args: input_size, hidden_size, bias=True, nonlinearity='tanh'|'relu', device, dtype, as
    torch.nn.RNNCell; keyword-only ``layer_norm=False`` (normalize W_ih x and W_hh h) and
    ``impl='auto'|'fused'|'reference'``.

    Inputs: input (N, H_in) or (H_in), hx (N, H) or (H) (zeros if omitted).
    Output: h' (N, H) or (H).
    Parameters: weight_ih (H, H_in), weight_hh (H, H), bias_ih (H), bias_hh (H), all
    initialized U(-1/sqrt(H), 1/sqrt(H)) as torch does.
    """

    num_gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
        *,
        layer_norm: bool = False,
        impl: str = "auto",
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size, hidden_size, bias, device, dtype, layer_norm=layer_norm, impl=impl
        )

    def forward(self, input: Tensor, hx: Tensor | None = None, *, return_gates: bool = False):
        batched = self._check_input(input, [hx])
        x = input if batched else input.unsqueeze(0)  # (N, H_in)
        h = x.new_zeros(x.size(0), self.hidden_size) if hx is None else hx.view(x.size(0), -1)
        if self._use_fused() and not return_gates:
            fn = torch.rnn_tanh_cell if self.nonlinearity == "tanh" else torch.rnn_relu_cell
            h = fn(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        else:
            h = rnn_step(self._gi(x), self._gh(h), self.nonlinearity)
        h = h if batched else h.squeeze(0)
        return (h, {"h": h}) if return_gates else h


class LSTMCell(_CellBase):
    r"""A long short-term memory cell, gates in the order i|f|g|o:

    .. math::
        i = \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}) \quad
        f = \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}) \\
        g = \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}) \quad
        o = \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}) \\
        c' = f \odot c + i \odot g \qquad h' = o \odot \tanh(c')

    Args as torch.nn.LSTMCell; keyword-only ``layer_norm=False`` (also normalizes c' before its
    tanh), ``forget_bias=None`` (if set, the effective forget bias b_if + b_hf starts at this
    value: b_if = forget_bias, b_hf = 0; char-rnn and Keras use 1.0) and ``impl``.

    Inputs: input (N, H_in) or (H_in); hx = (h, c), each (N, H) or (H), zeros if omitted.
    Output: (h', c'). Parameters: weight_ih (4H, H_in), weight_hh (4H, H), bias_ih (4H),
    bias_hh (4H).
    """

    num_gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        layer_norm: bool = False,
        forget_bias: float | None = None,
        impl: str = "auto",
    ) -> None:
        if forget_bias is not None and not bias:
            raise ValueError("LSTMCell: forget_bias needs bias=True")
        self.forget_bias = forget_bias
        super().__init__(
            input_size, hidden_size, bias, device, dtype, layer_norm=layer_norm, impl=impl
        )
        if layer_norm:
            self.ln_c_weight = nn.Parameter(torch.ones(hidden_size, device=device, dtype=dtype))
            self.ln_c_bias = nn.Parameter(torch.zeros(hidden_size, device=device, dtype=dtype))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "ln_c_weight"):
            nn.init.ones_(self.ln_c_weight)
            nn.init.zeros_(self.ln_c_bias)
        if self.forget_bias is not None:
            init_forget_bias(self.bias_ih, self.bias_hh, self.forget_bias)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None, *, return_gates: bool = False
    ):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTMCell: expected hx to be a tuple (h, c) of two tensors")
        batched = self._check_input(input, [None, None] if hx is None else list(hx))
        x = input if batched else input.unsqueeze(0)  # (N, H_in)
        if hx is None:
            h = c = x.new_zeros(x.size(0), self.hidden_size)
        else:
            h, c = (v.view(x.size(0), -1) for v in hx)  # (N, H)
        gates: dict[str, Tensor] | None = {} if return_gates else None
        if self._use_fused() and not return_gates:
            h, c = torch.lstm_cell(
                x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
            )
        else:
            ln_c = (self.ln_c_weight, self.ln_c_bias) if self.layer_norm else None
            h, c = lstm_step(self._gi(x), self._gh(h), c, None, ln_c, gates)
        state = (h, c) if batched else (h.squeeze(0), c.squeeze(0))
        return (state, _gates(gates, c, h, batched)) if return_gates else state


class GRUCell(_CellBase):
    r"""A gated recurrent unit cell, gates in the order r|z|n:

    .. math::
        r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \quad
        z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \quad
        h' = (1 - z) \odot n + z \odot h

    Args as torch.nn.GRUCell; keyword-only ``layer_norm=False`` and ``impl``.
    Inputs: input (N, H_in) or (H_in), hx (N, H) or (H). Output: h' (N, H) or (H).
    Parameters: weight_ih (3H, H_in), weight_hh (3H, H), bias_ih (3H), bias_hh (3H).
    """

    num_gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        layer_norm: bool = False,
        impl: str = "auto",
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, device, dtype, layer_norm=layer_norm, impl=impl
        )

    def forward(self, input: Tensor, hx: Tensor | None = None, *, return_gates: bool = False):
        batched = self._check_input(input, [hx])
        x = input if batched else input.unsqueeze(0)  # (N, H_in)
        h = x.new_zeros(x.size(0), self.hidden_size) if hx is None else hx.view(x.size(0), -1)
        gates: dict[str, Tensor] | None = {} if return_gates else None
        if self._use_fused() and not return_gates:
            h = torch.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        else:
            h = gru_step(self._gi(x), self._gh(h), h, gates)
        out = h if batched else h.squeeze(0)
        return (out, _gates(gates, None, h, batched)) if return_gates else out
