"""The arguments and parameters of the recurrent layers RNN, LSTM and GRU.

``_RNNParams`` checks torch.nn's arguments and the extras with torch's messages, registers the
parameters under torch's names (``weight_ih_l{k}[_reverse]``, ``weight_hh_l{k}``,
``bias_ih_l{k}``, ``bias_hh_l{k}``, ``weight_hr_l{k}``; with layer norm ``ln_ih_l{k}`` ...) in
torch's order and initializes them as torch does (then the extras: layer-norm gains, the forget
bias), flattens them for cuDNN and prints only what differs from the defaults. The forward
pass is ``_RNNBase``'s (``recurrent.py``).
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
from torch import Tensor, nn

from rnnkit.nn.cells import check_impl
from rnnkit.nn.fused import _GATES
from rnnkit.nn.steps import init_forget_bias


def _check_probability(owner: str, name: str, p: object, upper_inclusive: bool) -> float:
    ok = isinstance(p, numbers.Number) and not isinstance(p, bool)
    ok = ok and (0 <= p <= 1 if upper_inclusive else 0 <= p < 1)
    if not ok:
        interval = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise ValueError(f"{owner}: {name} must be a number in {interval}, got {p!r}")
    return float(p)


class _RNNParams(nn.Module):
    """Arguments, parameters (torch's names, order and init), cuDNN flattening and repr."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        impl: str = "auto",
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self._check_args(name, input_size, hidden_size, num_layers, bias, batch_first, proj_size)
        dropout = _check_probability(name, "dropout", dropout, upper_inclusive=True)
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{name}: dropout applies between stacked layers, so dropout={dropout} with "
                "num_layers=1 does nothing; use num_layers > 1 or recurrent_dropout",
                stacklevel=3,
            )
        if mode != "LSTM" and proj_size != 0:
            raise ValueError(f"{name}: proj_size is only supported by LSTM, got {proj_size}")
        check_impl(name, impl)
        recurrent_dropout = _check_probability(name, "recurrent_dropout", recurrent_dropout, False)
        zoneout = _check_probability(name, "zoneout", zoneout, False)
        if impl == "fused" and (layer_norm or recurrent_dropout or zoneout):
            raise ValueError(
                f"{name}: layer_norm, recurrent_dropout and zoneout have no fused kernel; "
                "use impl='auto' or impl='reference'"
            )
        if forget_bias is not None and not bias:
            raise ValueError(f"{name}: forget_bias needs bias=True")

        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = dropout, bidirectional, proj_size
        self.impl, self.layer_norm = impl, bool(layer_norm)
        self.recurrent_dropout, self.zoneout, self.forget_bias = (
            recurrent_dropout,
            zoneout,
            forget_bias,
        )

        factory = {"device": device, "dtype": dtype}
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        h_out = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names: list[str] = []
        self._ln_names: list[str] = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else h_out * num_directions
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {
                    "weight_ih": (gate_size, layer_input),
                    "weight_hh": (gate_size, h_out),
                }
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for pname, shape in shapes.items():
                    setattr(self, pname + sfx, nn.Parameter(torch.empty(shape, **factory)))
                    self._flat_weights_names.append(pname + sfx)
                if layer_norm:
                    ln = {"ln_ih": (gate_size,), "ln_hh": (gate_size,)}
                    if mode == "LSTM":
                        ln.update(ln_c_weight=(hidden_size,), ln_c_bias=(hidden_size,))
                    for pname, shape in ln.items():
                        setattr(self, pname + sfx, nn.Parameter(torch.empty(shape, **factory)))
                        self._ln_names.append(pname + sfx)
        self.reset_parameters()

    @staticmethod
    def _check_args(name, input_size, hidden_size, num_layers, bias, batch_first, proj_size):
        for arg, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {arg} should be of type bool, got {type(value).__name__}")
        for arg, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: {arg} should be of type int, got {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{name}: {arg} must be greater than zero, got {value}")
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(
                f"{name}: proj_size should be a positive integer or zero to disable "
                f"projections, got {proj_size!r}"
            )
        if proj_size >= hidden_size:
            raise ValueError(
                f"{name}: proj_size has to be smaller than hidden_size, got proj_size="
                f"{proj_size} and hidden_size={hidden_size}"
            )

    def reset_parameters(self) -> None:
        """torch.nn's init, in its order: every weight ~ U(-1/sqrt(H), 1/sqrt(H)); then extras."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for name in self._flat_weights_names:
            nn.init.uniform_(getattr(self, name), -stdv, stdv)
        for name in self._ln_names:
            init = nn.init.zeros_ if name.startswith("ln_c_bias") else nn.init.ones_
            init(getattr(self, name))
        if self.forget_bias is not None:
            for name in self._flat_weights_names:
                if name.startswith("bias_ih"):
                    other = getattr(self, name.replace("bias_ih", "bias_hh"))
                    init_forget_bias(getattr(self, name), other, self.forget_bias)

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """Parameters grouped per layer and direction, as torch.nn exposes them."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        w = self._flat_weights
        return [w[i : i + per] for i in range(0, len(w), per)]

    def flatten_parameters(self) -> None:
        """Put the weights in one contiguous cuDNN buffer (GPU only; a no-op elsewhere)."""
        weights = self._flat_weights
        first = weights[0]
        if not all(
            w.is_cuda and w.dtype == first.dtype and torch.backends.cudnn.is_acceptable(w)
            for w in weights
        ):
            return
        if len({w.data_ptr() for w in weights}) != len(weights):
            return
        import torch.backends.cudnn.rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    weights,
                    (4 if self.bias else 2) + (1 if self.proj_size > 0 else 0),
                    self.input_size,
                    cudnn_rnn.get_cudnn_mode(self.mode),
                    self.hidden_size,
                    self.proj_size,
                    self.num_layers,
                    self.batch_first,
                    bool(self.bidirectional),
                )

    def _apply(self, fn, recurse=True):
        ret = super()._apply(fn, recurse)
        self.flatten_parameters()
        return ret

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        defaults = {
            "proj_size": 0, "num_layers": 1, "bias": True, "batch_first": False,
            "dropout": 0.0, "bidirectional": False, "impl": "auto", "layer_norm": False,
            "recurrent_dropout": 0.0, "zoneout": 0.0, "forget_bias": None,
        }  # fmt: skip
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        for key, default in defaults.items():
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)!r}"
        return s
