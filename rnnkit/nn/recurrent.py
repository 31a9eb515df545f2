"""Recurrent layers: RNN, LSTM, GRU, drop-in compatible with torch.nn.

Each layer takes torch.nn's arguments, returns its shapes and names its parameters as torch does
(``weight_ih_l{k}[_reverse]``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``,
``weight_hr_l{k}``), registered and initialized in torch's order, so a ``state_dict`` moves
between the two both ways and the same seed gives the same weights.

Two paths compute the same function:

- **fused**: torch's own kernel (``torch._VF.lstm`` etc., cuDNN on GPU), used by ``impl="auto"``
  whenever no extra needs the step-by-step loop;
- **reference**: the input projection of all time steps as one matrix product, then the cell's
  step function (``rnnkit.nn.cells``) once per time step, layer by layer, direction by direction.
  Variable lengths (PackedSequence) are handled by masking: a sequence's state stops changing
  after its last step and its padded outputs are zero.

Keyword-only extras, whose defaults change nothing:

- ``layer_norm=True``: layer-normalized cells (Ba, Kiros & Hinton 2016);
- ``recurrent_dropout=p``: variational dropout of the recurrent state h entering W_hh, one mask
  per sequence, layer and direction (Gal & Ghahramani 2016); training mode only;
- ``zoneout=p``: each unit of h (and c) keeps its previous value with probability p at each
  step (Krueger et al. 2016); at eval the expectation ``p * old + (1 - p) * new`` is used;
- ``forget_bias=b`` (LSTM): the forget gate's effective bias b_if + b_hf starts at b;
- ``impl="auto" | "fused" | "reference"``.

Low precision on CPUs without oneDNN's bf16 LSTM: on AVX2-only CPUs (no AVX-512 BF16/AMX, e.g.
AMD EPYC) even torch.nn.LSTM fails under ``torch.autocast("cpu", torch.bfloat16)`` ("could not
create a primitive descriptor for the LSTM forward propagation primitive"). So when autocast to a
16-bit dtype is active on the input's device, or a CPU input is itself bf16/fp16, ``impl="auto"``
first asks ``fused_kernel_available(mode, device_type, dtype)``, a tiny call of the kernel made
once per process and cached, and runs the reference path when it fails: its matrix products
autocast, its elementwise state update keeps the state's dtype, and it returns the dtypes torch
does (an LSTM without projection on an unpacked input: all in the 16-bit dtype, as oneDNN's kernel,
which autocast casts whole). ``impl="fused"`` raises a RuntimeError there that names the fixes.
Without 16 bits (float32, no autocast) nothing is probed.

Shapes: L sequence length, N batch, D = 2 if bidirectional else 1, H_in input size,
H hidden size, H_out = proj_size or H, G gates (RNN 1, LSTM 4: i|f|g|o, GRU 3: r|z|n).
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.nn.cells import (
    check_impl,
    gru_step,
    init_forget_bias,
    input_projection,
    lstm_step,
    recurrent_projection,
    rnn_step,
)

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
# looked up on _VF at each call, so a test can stand in for the kernel
_FUSED = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}
_LOW_PRECISION = (torch.bfloat16, torch.float16)


# ----------------------------------------------------------------------------------------------
# Helpers


def _reverse_time(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (L, N, ...) within its own length; padding stays in place."""
    if lengths is None:
        return x.flip(0)
    steps = torch.arange(x.size(0), device=x.device).unsqueeze(1)  # (L, 1)
    lens = lengths.to(x.device).unsqueeze(0)  # (1, N)
    index = torch.where(steps < lens, lens - 1 - steps, steps)  # (L, N)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)  # (L, N, ...)
    return x.gather(0, index)


if hasattr(torch, "get_autocast_dtype"):  # torch >= 2.4

    def _autocast_dtype(device_type: str) -> torch.dtype | None:
        """The dtype autocast computes in on ``device_type``, or None when it is off there."""
        if not torch.is_autocast_enabled(device_type):
            return None
        return torch.get_autocast_dtype(device_type)

else:  # torch 2.3: one function per device type

    def _autocast_dtype(device_type: str) -> torch.dtype | None:
        """The dtype autocast computes in on ``device_type``, or None when it is off there."""
        if device_type == "cpu" and torch.is_autocast_cpu_enabled():
            return torch.get_autocast_cpu_dtype()
        if device_type == "cuda" and torch.is_autocast_enabled():
            return torch.get_autocast_gpu_dtype()
        return None


def _low_precision_dtype(x: Tensor) -> torch.dtype | None:
    """The 16-bit dtype a fused kernel would compute x in: autocast's, or a CPU input's own."""
    dtype = _autocast_dtype(x.device.type)
    if dtype is None and x.device.type == "cpu":
        dtype = x.dtype
    return dtype if dtype in _LOW_PRECISION else None


@functools.cache
def fused_kernel_available(mode: str, device_type: str, dtype: torch.dtype) -> bool:
    """Whether torch's fused kernel for ``mode`` ("RNN_TANH", "RNN_RELU", "LSTM", "GRU") runs in
    ``dtype`` on ``device_type``.

    Probed once per arguments on 1x1x1 tensors, both ways a layer reaches it (float32 tensors
    under autocast to ``dtype``, and tensors of ``dtype``), each in training with a backward and
    in inference; any RuntimeError (oneDNN's "could not create a primitive descriptor") means
    no. Cached: ``fused_kernel_available.cache_clear()`` probes again.
    """
    fn = getattr(_VF, _FUSED[mode])
    gates = _GATES[mode]

    def call(tensor_dtype: torch.dtype, train: bool) -> Tensor:
        new = functools.partial(torch.zeros, device=device_type, dtype=tensor_dtype)
        x, h = new(1, 1, 1), new(1, 1, 1)  # (L, N, H_in), (layers, N, H)
        weights = [new(gates, 1), new(gates, 1), new(gates), new(gates)]  # w_ih w_hh b_ih b_hh
        for w in weights:
            w.requires_grad_(train)
        hx = (h, h) if mode == "LSTM" else h
        # bias, num_layers, dropout, train, bidirectional, batch_first
        output = fn(x, hx, weights, True, 1, 0.0, train, False, False)[0]  # (1, 1, 1)
        if train:
            output.sum().backward()
        return output

    try:
        with torch.inference_mode(False):
            for train in (True, False):
                with torch.set_grad_enabled(train):
                    with torch.autocast(device_type, dtype):
                        call(torch.float32, train)
                    with torch.autocast(device_type, enabled=False):
                        call(dtype, train)
    except RuntimeError:
        return False
    return True


def _check_probability(owner: str, name: str, p: object, upper_inclusive: bool) -> float:
    ok = isinstance(p, numbers.Number) and not isinstance(p, bool)
    ok = ok and (0 <= p <= 1 if upper_inclusive else 0 <= p < 1)
    if not ok:
        interval = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise ValueError(f"{owner}: {name} must be a number in {interval}, got {p!r}")
    return float(p)


# ----------------------------------------------------------------------------------------------
# The layer


class _RNNBase(nn.Module):
    """Parameters, argument checks, input handling and the two paths, shared by RNN/LSTM/GRU."""

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

    # ---- forward --------------------------------------------------------------------------

    @property
    def uses_fused(self) -> bool:
        """Whether forward runs torch's fused kernel in the module's current mode (in float32;
        in 16 bits also only where ``fused_kernel_available``)."""
        if self.impl == "reference" or self.layer_norm or self.zoneout:
            return False
        return not (self.recurrent_dropout and self.training)

    def _fused_kernel_missing(self, x: Tensor) -> torch.dtype | None:
        """The 16-bit dtype x would run in if the fused kernel cannot (probed once), else None."""
        dtype = _low_precision_dtype(x)
        if dtype is None or fused_kernel_available(self.mode, x.device.type, dtype):
            return None
        if self.impl == "fused":
            raise RuntimeError(
                f"{type(self).__name__}: torch's fused {self.mode} kernel cannot run in {dtype} "
                f"on this {x.device.type} (on CPUs, oneDNN's 16-bit LSTM needs AVX-512 BF16/FP16 "
                "or AMX, which AVX2-only CPUs lack); use impl='auto' or impl='reference' (the "
                "step-by-step path, whose matrix products still autocast), or compute in "
                "float32 (no autocast, --precision fp32)"
            )
        return dtype

    def _check_state(self, name: str, state: Tensor, expected: tuple, x: Tensor) -> None:
        owner = type(self).__name__
        if not isinstance(state, Tensor):
            raise TypeError(f"{owner}: expected {name} to be a Tensor, got {type(state).__name__}")
        if tuple(state.shape) != expected:
            raise RuntimeError(
                f"{owner}: expected {name} of shape {expected} (num_layers * num_directions, "
                f"N, {'H' if name == 'c0' else 'H_out'}), got {tuple(state.shape)}"
            )
        if state.dtype != x.dtype:
            raise RuntimeError(f"{owner}: {name} has dtype {state.dtype} but input has {x.dtype}")
        if state.device != x.device:
            raise RuntimeError(
                f"{owner}: {name} is on {state.device} but input is on {x.device}; move both to "
                "the same device"
            )

    def forward(self, input, hx=None):
        owner = type(self).__name__
        is_lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            x, batched, n = data, True, int(batch_sizes[0])
            if data.dim() != 2:
                raise ValueError(f"{owner}: expected packed data of 2 dims, got {data.dim()}")
        else:
            if not isinstance(input, Tensor):
                raise TypeError(
                    f"{owner}: expected input to be a Tensor or PackedSequence, got "
                    f"{type(input).__name__}"
                )
            if input.dim() not in (2, 3):
                raise ValueError(
                    f"{owner}: Expected input to be 2D or 3D, got {input.dim()}D instead "
                    "(expected (L, N, H_in), (N, L, H_in) with batch_first, or unbatched (L, H_in))"
                )
            batched = input.dim() == 3
            x = input if batched else input.unsqueeze(0 if self.batch_first else 1)
            n = x.size(0 if self.batch_first else 1)
        if x.size(-1) != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {x.size(-1)}"
            )
        if x.dtype != self.weight_ih_l0.dtype and _autocast_dtype(x.device.type) is None:
            raise ValueError(
                f"RNN input dtype ({x.dtype}) does not match weight dtype "
                f"({self.weight_ih_l0.dtype}). Convert input: input.to({self.weight_ih_l0.dtype}), "
                f"or convert model: model.to({x.dtype})"
            )

        # ---- initial states: (L*D, N, H_out) [and (L*D, N, H)] ----
        num_states = self.num_layers * (2 if self.bidirectional else 1)
        h_out = self.proj_size or self.hidden_size
        if hx is None:
            h0 = x.new_zeros(num_states, n, h_out)
            c0 = x.new_zeros(num_states, n, self.hidden_size) if is_lstm else None
        else:
            if is_lstm and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise TypeError(f"{owner}: expected hx to be a tuple (h_0, c_0)")
            h0, c0 = (hx[0], hx[1]) if is_lstm else (hx, None)
            want = 3 if batched else 2
            for name, state in (("h0", h0), ("c0", c0)):
                if state is not None and isinstance(state, Tensor) and state.dim() != want:
                    raise RuntimeError(
                        f"{owner}: for {'batched 3-D' if batched else 'unbatched 2-D'} input, "
                        f"{name} should be {want}-D, got {state.dim()}-D"
                    )
            if not batched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
            self._check_state("h0", h0, (num_states, n, h_out), x)
            if c0 is not None:
                self._check_state("c0", c0, (num_states, n, self.hidden_size), x)

        fused = self.uses_fused
        fallback = self._fused_kernel_missing(x) if fused else None  # 16-bit, no kernel: dtype
        if fused and fallback is None:
            output, h_n, c_n = self._fused(x, h0, c0, input if packed else None)
        elif packed:
            padded, lengths = pad_packed_sequence(input)  # (L, N, H_in), original order
            out, h_n, c_n = self._reference(padded, h0, c0, lengths)  # (L, N, D*H_out)
            order = sorted_indices if sorted_indices is not None else torch.arange(n)
            out = out.index_select(1, order.to(out.device))  # (L, N, D*H_out), sorted
            out = pack_padded_sequence(out, lengths[order.cpu()], enforce_sorted=True).data
            output = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
        else:
            x_tm = x.transpose(0, 1) if self.batch_first else x  # (L, N, H_in)
            output, h_n, c_n = self._reference(x_tm, h0, c0, None)
            output = output.transpose(0, 1) if self.batch_first else output

        if fallback is not None and is_lstm and not packed and not self.proj_size:
            # as the oneDNN LSTM it stands in for, which autocast casts whole
            output, h_n, c_n = output.to(fallback), h_n.to(fallback), c_n.to(fallback)
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)  # (L, D*H_out)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        return output, ((h_n, c_n) if is_lstm else h_n)

    def _fused(self, x, h0, c0, packed):
        """torch's kernel, called as torch.nn does. x: (L, N, H_in) or packed data."""
        fn = getattr(_VF, _FUSED[self.mode])
        hx = (h0, c0) if self.mode == "LSTM" else h0
        args = (self._flat_weights, self.bias, self.num_layers, self.dropout, self.training)
        if packed is not None:
            sorted_indices, unsorted_indices = packed.sorted_indices, packed.unsorted_indices
            if sorted_indices is not None:  # states follow the user's order, data is sorted
                h0 = h0.index_select(1, sorted_indices)
                c0 = c0.index_select(1, sorted_indices) if c0 is not None else None
                hx = (h0, c0) if self.mode == "LSTM" else h0
            result = fn(x, packed.batch_sizes, hx, *args, self.bidirectional)
            output = PackedSequence(result[0], packed.batch_sizes, sorted_indices, unsorted_indices)
            h_n = result[1]
            c_n = result[2] if self.mode == "LSTM" else None
            if unsorted_indices is not None:
                h_n = h_n.index_select(1, unsorted_indices)
                c_n = c_n.index_select(1, unsorted_indices) if c_n is not None else None
            return output, h_n, c_n
        result = fn(x, hx, *args, self.bidirectional, self.batch_first)
        return result[0], result[1], (result[2] if self.mode == "LSTM" else None)

    def _reference(self, x: Tensor, h0: Tensor, c0: Tensor | None, lengths: Tensor | None):
        """The layers run step by step. x: (L, N, H_in); h0: (L*D, N, H_out); c0: (L*D, N, H).

        Returns output (L, N, D*H_out), h_n (L*D, N, H_out), c_n (L*D, N, H) or None.
        """
        num_directions = 2 if self.bidirectional else 1
        valid = None
        if lengths is not None:
            steps = torch.arange(x.size(0), device=x.device).unsqueeze(1)  # (L, 1)
            valid = (steps < lengths.to(x.device).unsqueeze(0)).unsqueeze(-1)  # (L, N, 1)
        h_n, c_n = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                k = layer * num_directions + direction
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                p = lambda name, sfx=sfx: getattr(self, name + sfx, None)  # noqa: E731
                gi = input_projection(layer_input, p("weight_ih"), p("bias_ih"), p("ln_ih"))
                if direction:
                    gi = _reverse_time(gi, lengths)  # (L, N, G*H), each sequence reversed
                out, h, c = self._run_direction(gi, h0[k], None if c0 is None else c0[k], valid, p)
                outputs.append(_reverse_time(out, lengths) if direction else out)
                h_n.append(h)
                c_n.append(c)
            layer_input = torch.cat(outputs, dim=-1) if num_directions == 2 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        c_stack = torch.stack(c_n) if c0 is not None else None
        return layer_input, torch.stack(h_n), c_stack

    def _run_direction(self, gi: Tensor, h: Tensor, c: Tensor | None, valid: Tensor | None, p):
        """One layer, one direction, over time. gi: (L, N, G*H); h: (N, H_out); c: (N, H)."""
        w_hh, b_hh, ln_hh, w_hr = p("weight_hh"), p("bias_hh"), p("ln_hh"), p("weight_hr")
        ln_c = (p("ln_c_weight"), p("ln_c_bias")) if self.layer_norm and c is not None else None
        drop_mask = None
        if self.recurrent_dropout and self.training:
            keep = 1.0 - self.recurrent_dropout
            drop_mask = torch.bernoulli(torch.full_like(h, keep)) / keep  # (N, H_out)
        zoneout = self.zoneout
        outputs = []
        for t, gi_t in enumerate(gi.unbind(0)):  # unbind: a cheap backward, unlike gi_t
            gh = recurrent_projection(h if drop_mask is None else h * drop_mask, w_hh, b_hh, ln_hh)
            if self.mode == "LSTM":
                h_new, c_new = lstm_step(gi_t, gh, c, w_hr, ln_c)
            elif self.mode == "GRU":
                h_new, c_new = gru_step(gi_t, gh, h), None
            else:
                h_new, c_new = (
                    rnn_step(gi_t, gh, "tanh" if self.mode == "RNN_TANH" else "relu"),
                    None,
                )
            if zoneout:
                h_new = self._zoneout(h, h_new)
                c_new = self._zoneout(c, c_new) if c is not None else None
            if valid is not None:  # sequences that have ended keep their state, output zeros
                h_new = torch.where(valid[t], h_new, h)
                c_new = torch.where(valid[t], c_new, c) if c is not None else None
                outputs.append(h_new * valid[t])
            else:
                outputs.append(h_new)
            h, c = h_new, c_new
        return torch.stack(outputs), h, c  # (L, N, H_out), (N, H_out), (N, H)

    def _zoneout(self, old: Tensor, new: Tensor) -> Tensor:
        """Keep each unit's old value with probability p (training) or p-weighted (eval)."""
        if self.training:
            keep_old = torch.bernoulli(torch.full_like(new, self.zoneout))
            return keep_old * old + (1 - keep_old) * new
        return self.zoneout * old + (1 - self.zoneout) * new


class RNN(_RNNBase):
    r"""Multi-layer Elman RNN: :math:`h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`
    (or ReLU), as torch.nn.RNN.

    Args: input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None; keyword-only
    extras impl, layer_norm, recurrent_dropout, zoneout (see the module docstring).

    Inputs: input (L, N, H_in), (N, L, H_in) with batch_first, (L, H_in) or a PackedSequence;
    h_0 (D*num_layers, N, H) or (D*num_layers, H), zeros if omitted.
    Outputs: output (L, N, D*H) (or batch-first / unbatched / packed like the input) and
    h_n (D*num_layers, N, H).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        proj_size: int = 0,
        impl: str = "auto",
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, device, dtype, impl=impl, layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout, zoneout=zoneout,
        )  # fmt: skip


class LSTM(_RNNBase):
    r"""Multi-layer LSTM, as torch.nn.LSTM; gates i|f|g|o (see ``rnnkit.nn.LSTMCell``), with an
    optional projection h_t = W_hr (o_t * tanh(c_t)) (Sak et al. 2014) when proj_size > 0.

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0, device=None, dtype=None; keyword-only extras impl,
    layer_norm, recurrent_dropout, zoneout, forget_bias (see the module docstring).

    Inputs: input as for RNN; (h_0 (D*num_layers, N, H_out), c_0 (D*num_layers, N, H)).
    Outputs: output (L, N, D*H_out), (h_n (D*num_layers, N, H_out), c_n (D*num_layers, N, H)).
    """

    def __init__(
        self,
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
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, device, dtype, impl=impl, layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout, zoneout=zoneout, forget_bias=forget_bias,
        )  # fmt: skip


class GRU(_RNNBase):
    r"""Multi-layer GRU, as torch.nn.GRU; gates r|z|n (see ``rnnkit.nn.GRUCell``).

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, device=None, dtype=None; keyword-only extras impl, layer_norm,
    recurrent_dropout, zoneout (see the module docstring).

    Inputs and outputs as for RNN.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        proj_size: int = 0,
        impl: str = "auto",
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
    ) -> None:
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, device, dtype, impl=impl, layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout, zoneout=zoneout,
        )  # fmt: skip
