"""Graves (2013) handwriting networks: prediction (section 4) and synthesis (section 5).

Both stack ``num_layers`` LSTMs with skip connections: every layer reads the input point (and,
in synthesis, the window vector), layers above the first also the layer below; the mixture
density head (``rnnkit.nn.mdn``) reads all layers' outputs. The synthesis network's first
layer runs step by step, because the soft window it drives feeds its own next step:

    (a, b, k) = exp(W h1_t + bias)                                    3 x (B, K)
    kappa_t = kappa_{t-1} + k                                         positions only advance
    phi(t, u) = sum_k a_k exp(-b_k (kappa_k - u)^2)                   u = 0..U
    w_t = sum_u phi(t, u) c_u                                         c_u one-hot characters

where c_0..c_{U-1} are the text's characters and c_U an end-of-text marker (as
sjvasquez/handwriting-synthesis appends one), a one-hot of its own: the network sees when its
window has left the text. ``w_t`` goes into layer 1 at t+1 and into every other layer at t.
Sampling stops when the window passes the last character: ``phi(t, U) > phi(t, u)`` for every
character u < U (Graves's rule, with the marker as the position past the end).

As in the paper, derivatives are clipped where they enter the network: at the outputs to
+-``clip_output`` (the head) and at each LSTM layer's outputs to +-``clip_lstm``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.nn import LSTM, LSTMCell, MixtureDensityHead, mdn_nll, mdn_sample
from rnnkit.tasks.handwriting.config import Config
from rnnkit.tasks.handwriting.data import START, StrokeBatch, Targets


class State(NamedTuple):
    """The state carried between calls: ``layers`` one (h, c) per layer, each (B, H); in
    synthesis the window's ``kappa`` (B, K) and last vector ``w`` (B, V), else None."""

    layers: tuple[tuple[Tensor, Tensor], ...]
    kappa: Tensor | None
    w: Tensor | None


class Output(NamedTuple):
    """``y`` (B, T, 1 + 6M) mixture outputs; ``state`` after the last step; in synthesis the
    window weights ``phi`` (B, T, U + 1) (on each text's characters and, at u = U_i, its
    end marker; zero beyond) and its mean ``position`` (B, T), else None."""

    y: Tensor
    state: State
    phi: Tensor | None
    position: Tensor | None


class Generated(NamedTuple):
    """A sample: ``points`` (N, 3) normalised offsets, ``y`` (N, 1 + 6M) the outputs each was
    drawn from, ``phi`` (N, U + 1) the window at each (None: prediction network), and whether
    the window passed the last character (``finished``)."""

    points: Tensor
    y: Tensor
    phi: Tensor | None
    finished: bool


def _clip_grad(t: Tensor, clip: float) -> Tensor:
    """``t``, its derivative clipped to [-clip, clip] on the way back (clip 0: as is)."""
    if clip > 0 and t.requires_grad:
        t.register_hook(lambda g: g.clamp(-clip, clip))
    return t


class SoftWindow(nn.Module):
    """Graves' soft window (section 5.1): K Gaussians over the characters of a text, their
    positions ``kappa`` only moving forward. ``chars_per_point`` sets the initial speed (the
    bias of the kappa step, exp(bias) characters per point)."""

    def __init__(self, hidden_size: int, mixtures: int, chars_per_point: float = 0.05):
        super().__init__()
        self.mixtures = mixtures
        self.linear = nn.Linear(hidden_size, 3 * mixtures)
        with torch.no_grad():
            self.linear.bias[2 * mixtures :] = math.log(chars_per_point)

    def forward(
        self, h: Tensor, kappa: Tensor, chars: Tensor, lengths: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One step: h (B, H), kappa (B, K), chars (B, U + 1, V) one-hot (each text's
        characters, its end marker at u = lengths, zero rows beyond), lengths (B,). Returns
        w (B, V), kappa (B, K), phi (B, U + 1), position (B,)."""
        a, b, k = torch.exp(self.linear(h)).chunk(3, dim=-1)  # 3 x (B, K)
        kappa = kappa + k
        u = torch.arange(chars.size(1), device=h.device, dtype=h.dtype)  # (U + 1,)
        gauss = torch.exp(-b.unsqueeze(-1) * (kappa.unsqueeze(-1) - u) ** 2)  # (B, K, U + 1)
        phi = (a.unsqueeze(-1) * gauss).sum(1)  # (B, U + 1)
        phi = phi * (u <= lengths.unsqueeze(-1))  # (B, U + 1): the characters and the marker
        w = torch.bmm(phi[:, None], chars).squeeze(1)  # (B, 1, U+1) @ (B, U+1, V) -> (B, V)
        position = (a * kappa).sum(-1) / a.sum(-1)  # (B,)
        return w, kappa, phi, position


class HandwritingModel(nn.Module):
    """The prediction network, or with ``cfg.synthesis`` the synthesis network over an
    alphabet of ``vocab_size`` characters (and the end marker: window vectors of
    ``vocab_size + 1``; see the module docstring).

    ``forward(x, targets=None) -> (Output, loss)``: x a ``StrokeBatch``, targets ``Targets``;
    loss the mean negative log-likelihood per point (nats, normalised offsets). ``run(x,
    state)`` continues from a State; ``generate`` samples. The buffer ``scale`` (2,) holds the
    std of dx, dy that the data was divided by.
    """

    def __init__(self, cfg: Config, vocab_size: int = 0, chars_per_point: float = 0.05):
        super().__init__()
        self.synthesis = cfg.synthesis
        if self.synthesis and vocab_size < 1:
            raise ValueError("HandwritingModel: synthesis needs an alphabet (vocab_size >= 1)")
        self.vocab_size = vocab_size if self.synthesis else 0
        self.hidden_size, self.clip_lstm = cfg.hidden_size, cfg.clip_lstm
        h, v = cfg.hidden_size, self.vocab_size + 1 if self.synthesis else 0  # v: + the marker
        if self.synthesis:
            self.cell1 = LSTMCell(3 + v, h)
            self.window = SoftWindow(h, cfg.window_mixtures, chars_per_point)
        else:
            self.rnn1 = LSTM(3, h, batch_first=True)
        self.rnns = nn.ModuleList(
            LSTM(3 + v + h, h, batch_first=True) for _ in range(cfg.num_layers - 1)
        )
        self.head = MixtureDensityHead(cfg.num_layers * h, cfg.mixtures, cfg.clip_output)
        self.register_buffer("scale", torch.ones(2))

    def initial_state(self, batch: int, device: torch.device) -> State:
        zero = torch.zeros(batch, self.hidden_size, device=device)
        layers = tuple((zero, zero) for _ in range(1 + len(self.rnns)))
        if not self.synthesis:
            return State(layers, None, None)
        kappa = torch.zeros(batch, self.window.mixtures, device=device)
        return State(layers, kappa, torch.zeros(batch, self.vocab_size + 1, device=device))

    def _first_layer(self, x: StrokeBatch, state: State):
        """Layer 1 (and the window): (h1 (B, T, H), w (B, T, V + 1) or None, its state, phi,
        position)."""
        if not self.synthesis:
            h, c = state.layers[0]
            out, (h_n, c_n) = self.rnn1(x.strokes, (h[None], c[None]))  # (B, T, H)
            return out, None, ((h_n[0], c_n[0]), None, None), None, None
        lengths = x.text_mask.sum(1)  # (B,)
        ids = F.pad(x.text.masked_fill(~x.text_mask, 0), (0, 1))  # (B, U + 1)
        end = torch.arange(ids.size(1), device=ids.device) == lengths.unsqueeze(-1)  # (B, U+1)
        ids = ids.masked_fill(end, self.vocab_size)  # the end marker after each text
        chars = F.one_hot(ids, self.vocab_size + 1).to(x.strokes.dtype)  # (B, U + 1, V + 1)
        chars = chars * (F.pad(x.text_mask, (0, 1)) | end).unsqueeze(-1)  # zero past the marker
        (h, c), kappa, w = state.layers[0], state.kappa, state.w
        hs, ws, phis, positions = [], [], [], []
        for t in range(x.strokes.size(1)):
            h, c = self.cell1(torch.cat([x.strokes[:, t], w], -1), (h, c))  # (B, H)
            w, kappa, phi, position = self.window(h, kappa, chars, lengths)
            hs.append(h), ws.append(w), phis.append(phi), positions.append(position)
        h1, wseq = torch.stack(hs, 1), torch.stack(ws, 1)  # (B, T, H), (B, T, V + 1)
        phi, position = torch.stack(phis, 1), torch.stack(positions, 1)  # (B, T, U+1), (B, T)
        return h1, wseq, ((h, c), kappa, w), phi, position

    def run(self, x: StrokeBatch, state: State | None = None) -> Output:
        """The outputs of every step of ``x``, from ``state`` (None: the start)."""
        if x.strokes.dim() != 3 or x.strokes.size(-1) != 3:
            raise ValueError(f"HandwritingModel: expected strokes (B, T, 3), got {x.strokes.shape}")
        if state is None:
            state = self.initial_state(x.strokes.size(0), x.strokes.device)
        h1, wseq, (first, kappa, w), phi, position = self._first_layer(x, state)
        outputs, layers = [_clip_grad(h1, self.clip_lstm)], [first]
        given = x.strokes if wseq is None else torch.cat([x.strokes, wseq], -1)  # (B, T, 3 + V + 1)
        for rnn, (h, c) in zip(self.rnns, state.layers[1:], strict=True):
            out, (h_n, c_n) = rnn(torch.cat([given, outputs[-1]], -1), (h[None], c[None]))
            outputs.append(_clip_grad(out, self.clip_lstm))  # (B, T, H)
            layers.append((h_n[0], c_n[0]))
        y = self.head(torch.cat(outputs, -1))  # (B, T, L*H) -> (B, T, 1 + 6M)
        return Output(y, State(tuple(layers), kappa, w), phi, position)

    def forward(self, x: StrokeBatch, targets: Targets | None = None):
        out = self.run(x)
        loss = None
        if targets is not None:
            nll = mdn_nll(out.y, targets.offsets)  # (B, T)
            mask = targets.mask.to(nll.dtype)
            loss = (nll * mask).sum() / mask.sum()
        return out, loss

    @torch.no_grad()
    def generate(
        self,
        text: Tensor | None = None,
        max_points: int = 700,
        bias: float = 0.0,
        generator: torch.Generator | None = None,
        prime: Tensor | None = None,
    ) -> Generated:
        """Sample one line: up to ``max_points`` points, in synthesis of ``text`` (U,) ids
        (stopping when the window passes its end), with the sampling ``bias``. ``prime`` (P, 3)
        normalised offsets of a style line are read first (teacher-forced, section 5.5; for
        synthesis ``text`` then begins with the prime's own text)."""
        device = self.scale.device
        if self.synthesis and (text is None or text.numel() == 0):
            raise ValueError("generate: the synthesis network needs a text to write")
        ids = (text if self.synthesis else torch.zeros(1, dtype=torch.long)).to(device)[None]
        mask = torch.ones_like(ids, dtype=torch.bool)  # (1, U)
        inputs = torch.tensor([START], device=device)  # (1, 3)
        if prime is not None:
            inputs = torch.cat([inputs, prime[1:].to(device, torch.float32)])  # (P, 3)
        out = self.run(StrokeBatch(inputs[None], ids, mask))
        points, ys, phis, finished = [], [], [], False
        for _ in range(max_points):
            y = out.y[:, -1]  # (1, 1 + 6M)
            point = mdn_sample(y.cpu(), bias, generator).to(device)  # (1, 3)
            points.append(point[0]), ys.append(y[0])
            if self.synthesis:
                phi = out.phi[0, -1]  # (U + 1,)
                phis.append(phi)
                if phi[-1] > phi[:-1].max():  # the window passed the last character
                    points[-1][2] = 1.0
                    finished = True
                    break
            out = self.run(StrokeBatch(point[None], ids, mask), out.state)
        return Generated(
            torch.stack(points), torch.stack(ys), torch.stack(phis) if phis else None, finished
        )
