"""The reference path of the recurrent layers: the cells' step functions run over time.

``_ReferenceLoop._reference`` computes the input projection of all time steps as one matrix
product, then calls the step function (``rnnkit.nn.steps``) once per time step, layer by layer,
direction by direction. Variable lengths (PackedSequence) are handled by masking: a sequence's
state stops changing after its last step and its padded outputs are zero. The extras without a
fused kernel live here: recurrent dropout, zoneout and layer norm (through the steps).
Gate tracing too: given a list ``gates``, ``_reference`` appends to it, per layer, the gates of
every step (LSTM i, f, g, o, c, h; GRU r, z, n, h; RNN h), each (L, N, D, H), zero at padded
steps (``rnnkit.nn.trace``).

``_ReferenceLoop`` is a mixin of ``_RNNBase`` (``recurrent.py``): it reads the layer's
arguments (``mode``, ``num_layers``, ``bidirectional``, ``dropout``, ``layer_norm``,
``recurrent_dropout``, ``zoneout``, ``training``) and its parameters by torch's names.

Shapes: L sequence length, N batch, D = 2 if bidirectional else 1, H_in input size,
H hidden size, H_out = proj_size or H, G gates (RNN 1, LSTM 4: i|f|g|o, GRU 3: r|z|n).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.steps import gru_step, input_projection, lstm_step, recurrent_projection, rnn_step


def _reverse_time(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (L, N, ...) within its own length; padding stays in place."""
    if lengths is None:
        return x.flip(0)
    steps = torch.arange(x.size(0), device=x.device).unsqueeze(1)  # (L, 1)
    lens = lengths.to(x.device).unsqueeze(0)  # (1, N)
    index = torch.where(steps < lens, lens - 1 - steps, steps)  # (L, N)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)  # (L, N, ...)
    return x.gather(0, index)


class _ReferenceLoop:
    """The layers run step by step: ``_reference``, over ``_run_direction`` and ``_zoneout``."""

    def _reference(
        self,
        x: Tensor,
        h0: Tensor,
        c0: Tensor | None,
        lengths: Tensor | None,
        gates: list[dict[str, Tensor]] | None = None,
    ):
        """The layers run step by step. x: (L, N, H_in); h0: (L*D, N, H_out); c0: (L*D, N, H).

        Returns output (L, N, D*H_out), h_n (L*D, N, H_out), c_n (L*D, N, H) or None. With a
        list ``gates``, appends each layer's {gate: (L, N, D, H)} to it.
        """
        num_directions = 2 if self.bidirectional else 1
        valid = None
        if lengths is not None:
            steps = torch.arange(x.size(0), device=x.device).unsqueeze(1)  # (L, 1)
            valid = (steps < lengths.to(x.device).unsqueeze(0)).unsqueeze(-1)  # (L, N, 1)
        h_n, c_n = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outputs, records = [], []
            for direction in range(num_directions):
                k = layer * num_directions + direction
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                p = lambda name, sfx=sfx: getattr(self, name + sfx, None)  # noqa: E731
                gi = input_projection(layer_input, p("weight_ih"), p("bias_ih"), p("ln_ih"))
                if direction:
                    gi = _reverse_time(gi, lengths)  # (L, N, G*H), each sequence reversed
                record = None if gates is None else {}
                c0_k = None if c0 is None else c0[k]
                out, h, c = self._run_direction(gi, h0[k], c0_k, valid, p, record)
                outputs.append(_reverse_time(out, lengths) if direction else out)
                if record is not None:  # {gate: (L, N, H)}, in the input's order of time
                    back = (lambda v: _reverse_time(v, lengths)) if direction else (lambda v: v)
                    records.append({name: back(torch.stack(v)) for name, v in record.items()})
                h_n.append(h)
                c_n.append(c)
            if gates is not None:  # {gate: (L, N, D, H)}
                gates.append(
                    {name: torch.stack([r[name] for r in records], 2) for name in records[0]}
                )
            layer_input = torch.cat(outputs, dim=-1) if num_directions == 2 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        c_stack = torch.stack(c_n) if c0 is not None else None
        return layer_input, torch.stack(h_n), c_stack

    def _run_direction(
        self, gi: Tensor, h: Tensor, c: Tensor | None, valid: Tensor | None, p, record=None
    ):
        """One layer, one direction, over time. gi: (L, N, G*H); h: (N, H_out); c: (N, H).
        ``record``: a dict that collects each step's gates, {gate: [(N, H) per step]}."""
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
            step = None if record is None else {}
            if self.mode == "LSTM":
                h_new, c_new = lstm_step(gi_t, gh, c, w_hr, ln_c, step)
            elif self.mode == "GRU":
                h_new, c_new = gru_step(gi_t, gh, h, step), None
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
            if record is not None:
                step.update({"c": c} if c is not None else {}, h=outputs[-1])
                for name, value in step.items():  # zero at padded steps, as the output
                    record.setdefault(name, []).append(value if valid is None else value * valid[t])
        return torch.stack(outputs), h, c  # (L, N, H_out), (N, H_out), (N, H)

    def _zoneout(self, old: Tensor, new: Tensor) -> Tensor:
        """Keep each unit's old value with probability p (training) or p-weighted (eval)."""
        if self.training:
            keep_old = torch.bernoulli(torch.full_like(new, self.zoneout))
            return keep_old * old + (1 - keep_old) * new
        return self.zoneout * old + (1 - self.zoneout) * new
