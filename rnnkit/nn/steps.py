"""The step functions: one time step of a recurrent network, as equations.

``rnn_step``, ``lstm_step`` and ``gru_step`` spell the gate equations out. They take the *input
projection* ``gi = W_ih x + b_ih`` already computed, so a layer can compute it for all time steps
in one matrix product and call the step once per time step; the cell modules (``cells.py``)
compute ``gi`` for their single step and call the same functions.

Layer normalization (Ba, Kiros & Hinton 2016) normalizes the input and recurrent projections
separately, before their biases are added (so the biases play the role of LN's shift), and the
LSTM cell state before its tanh:

    gi = LN(W_ih x; gamma_ih) + b_ih        gh = LN(W_hh h; gamma_hh) + b_hh
    h' = o * tanh(LN(c'; gamma_c, beta_c))  (LSTM)

``init_forget_bias`` sets the LSTM forget gate's bias, for cells and layers alike.

Gate tracing (``rnnkit.nn.trace``): ``lstm_step`` and ``gru_step`` take ``gates``, a dict they
fill with their gate activations (LSTM i, f, g, o; GRU r, z, n), each (N, H); None (the default)
records nothing.

Shapes: N batch, H_in input features, H hidden units, H_out = proj_size or H, G gates
(RNN 1, LSTM 4 in the order i|f|g|o, GRU 3 in the order r|z|n).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

LN_EPS = 1e-5


def recurrent_projection(
    h: Tensor, w_hh: Tensor, b_hh: Tensor | None, ln_hh: Tensor | None = None
) -> Tensor:
    """gh = W_hh h + b_hh, or LN(W_hh h; gamma_hh) + b_hh with layer norm. (N, G*H)"""
    if ln_hh is None:
        return F.linear(h, w_hh, b_hh)
    gh = F.layer_norm(F.linear(h, w_hh), ln_hh.shape, ln_hh, None, LN_EPS)
    return gh if b_hh is None else gh + b_hh


def input_projection(
    x: Tensor, w_ih: Tensor, b_ih: Tensor | None, ln_ih: Tensor | None = None
) -> Tensor:
    """gi = W_ih x + b_ih, or LN(W_ih x; gamma_ih) + b_ih with layer norm. (..., G*H)"""
    return recurrent_projection(x, w_ih, b_ih, ln_ih)


def rnn_step(gi: Tensor, gh: Tensor, nonlinearity: str = "tanh") -> Tensor:
    """Elman RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh).

    gi, gh: (N, H) input and recurrent projections. Returns h' (N, H).
    """
    pre = gi + gh
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_step(
    gi: Tensor,
    gh: Tensor,
    c: Tensor,
    w_hr: Tensor | None = None,
    ln_c: tuple[Tensor, Tensor] | None = None,
    gates: dict[str, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """LSTM (Hochreiter & Schmidhuber 1997, with forget gate):

        i = sigmoid(gi_i + gh_i)     f = sigmoid(gi_f + gh_f)
        g = tanh(gi_g + gh_g)        o = sigmoid(gi_o + gh_o)
        c' = f * c + i * g           h' = o * tanh(c')      (h' = W_hr h' with a projection)

    gi, gh: (N, 4H) in gate order i|f|g|o; c: (N, H). Returns (h' (N, H_out), c' (N, H)).
    """
    i, f, g, o = (gi + gh).chunk(4, dim=-1)  # 4 x (N, H)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    if gates is not None:
        gates.update(i=i, f=f, g=g, o=o)
    c = f * c + i * g
    c_hat = c if ln_c is None else F.layer_norm(c, c.shape[-1:], ln_c[0], ln_c[1], LN_EPS)
    h = o * torch.tanh(c_hat)
    if w_hr is not None:
        h = F.linear(h, w_hr)  # (N, H) -> (N, P)
    return h, c


def gru_step(gi: Tensor, gh: Tensor, h: Tensor, gates: dict[str, Tensor] | None = None) -> Tensor:
    """GRU (Cho et al. 2014), as torch.nn.GRU computes it:

        r = sigmoid(gi_r + gh_r)     z = sigmoid(gi_z + gh_z)
        n = tanh(gi_n + r * gh_n)    h' = (1 - z) * n + z * h

    gi, gh: (N, 3H) in gate order r|z|n (gh_n includes b_hn); h: (N, H). Returns h' (N, H).
    """
    i_r, i_z, i_n = gi.chunk(3, dim=-1)  # 3 x (N, H)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)  # 3 x (N, H)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    if gates is not None:
        gates.update(r=r, z=z, n=n)
    return (1 - z) * n + z * h


def init_forget_bias(bias_ih: Tensor, bias_hh: Tensor, value: float) -> None:
    """Set the LSTM forget-gate slice (gate 1 of i|f|g|o) so b_if + b_hf = value."""
    hidden = bias_ih.numel() // 4
    with torch.no_grad():
        bias_ih[hidden : 2 * hidden].fill_(value)
        bias_hh[hidden : 2 * hidden].zero_()
