"""Recurrent layers: RNN, LSTM, GRU, drop-in compatible with torch.nn.

Each layer takes torch.nn's arguments, returns its shapes and names its parameters as torch does
(``weight_ih_l{k}[_reverse]``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``,
``weight_hr_l{k}``), registered and initialized in torch's order, so a ``state_dict`` moves
between the two both ways and the same seed gives the same weights.

Two paths compute the same function:

- **fused**: torch's own kernel (``torch._VF.lstm`` etc., cuDNN on GPU), used by ``impl="auto"``
  whenever no extra needs the step-by-step loop;
- **reference**: the input projection of all time steps as one matrix product, then the cell's
  step function (``rnnkit.nn.steps``) once per time step, layer by layer, direction by direction.
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

Gate tracing: ``forward(input, hx, return_gates=True)`` runs the reference path (same weights,
same results as the fused one) and returns ``(output, state, gates)``: ``gates`` a list with one
dict per layer, {gate: (L, N, D, H)} (LSTM i, f, g, o, c, h; GRU r, z, n, h; RNN h), time-major
whatever ``batch_first`` (N = 1 for an unbatched input), zero at the padded steps of a
PackedSequence; h is the layer's output (H_out wide with a projection). ``rnnkit.nn.trace``
records them for every layer of a model. Without it nothing changes (the fused path runs).

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

This module holds the forward pass (input checks, initial states, the choice of path) and the
layers; ``recurrent_params.py`` their arguments and parameters, ``reference.py`` the reference
loop, ``fused.py`` the kernel of each mode and the 16-bit probe (``fused_kernel_available``,
re-exported here).

Shapes: L sequence length, N batch, D = 2 if bidirectional else 1, H_in input size,
H hidden size, H_out = proj_size or H, G gates (RNN 1, LSTM 4: i|f|g|o, GRU 3: r|z|n).
"""

from __future__ import annotations

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.nn.fused import _FUSED, _autocast_dtype, _low_precision_dtype, fused_kernel_available
from rnnkit.nn.recurrent_params import _RNNParams
from rnnkit.nn.reference import _ReferenceLoop

__all__ = ["RNN", "LSTM", "GRU", "fused_kernel_available"]


# ----------------------------------------------------------------------------------------------
# The layer


class _RNNBase(_ReferenceLoop, _RNNParams):
    """Input handling and the two paths, shared by RNN/LSTM/GRU: the fused kernel here, the
    reference loop from ``_ReferenceLoop``, over the parameters of ``_RNNParams``."""

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

    def forward(self, input, hx=None, *, return_gates: bool = False):
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

        fused = self.uses_fused and not return_gates
        fallback = self._fused_kernel_missing(x) if fused else None  # 16-bit, no kernel: dtype
        gates: list[dict[str, Tensor]] | None = [] if return_gates else None
        if fused and fallback is None:
            output, h_n, c_n = self._fused(x, h0, c0, input if packed else None)
        elif packed:
            padded, lengths = pad_packed_sequence(input)  # (L, N, H_in), original order
            out, h_n, c_n = self._reference(padded, h0, c0, lengths, gates)  # (L, N, D*H_out)
            order = sorted_indices if sorted_indices is not None else torch.arange(n)
            out = out.index_select(1, order.to(out.device))  # (L, N, D*H_out), sorted
            out = pack_padded_sequence(out, lengths[order.cpu()], enforce_sorted=True).data
            output = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
        else:
            x_tm = x.transpose(0, 1) if self.batch_first else x  # (L, N, H_in)
            output, h_n, c_n = self._reference(x_tm, h0, c0, None, gates)
            output = output.transpose(0, 1) if self.batch_first else output

        if fallback is not None and is_lstm and not packed and not self.proj_size:
            # as the oneDNN LSTM it stands in for, which autocast casts whole
            output, h_n, c_n = output.to(fallback), h_n.to(fallback), c_n.to(fallback)
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)  # (L, D*H_out)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        state = (h_n, c_n) if is_lstm else h_n
        return (output, state, gates) if return_gates else (output, state)

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
