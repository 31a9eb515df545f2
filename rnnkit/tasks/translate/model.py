"""The encoder-decoder with attention (many-to-many: read a sentence, write its translation).

- **Encoder**: embeddings and an rnnkit.nn LSTM/GRU (uni- or bidirectional, layers, dropout)
  that reads the source packed by length, so padding never reaches it. Bidirectional, each
  direction has hidden_size / 2 units and their outputs are joined (OpenNMT's layout), so the
  memory has hidden_size features either way.
- **Bridge**: the decoder starts from tanh(W [final states]) of the encoder, layer by layer.
- **Decoder**: embeddings and an LSTM/GRU run one step at a time, with attention over the
  encoder's outputs, masked at padding (``rnnkit.nn.Attention``):
  ``bahdanau`` (Bahdanau et al. 2015): the previous decoder state queries the memory, the
  context goes into the recurrent step with the embedding; ``dot``, ``general``, ``concat``
  (Luong et al. 2015): the new state queries, the attentional state h~ = tanh(W_c [h; c])
  gives the output and, with input feeding, goes into the next step; ``none``: the plain
  encoder-decoder (the decoder's state alone).
- **Output**: logits = W_o dropout(h~), W_o optionally tied to the target embeddings.

``forward(x, targets)``: x the source ids (B, S) padded with PAD (a source token is never
PAD, so the lengths are the non-PAD counts), targets (B, T + 1) = START, tokens, END, PAD...;
returns (logits (B, T, V), mean cross-entropy over non-PAD targets, with label smoothing).
Teacher forcing feeds the gold previous token, or (with probability 1 - teacher_forcing per
sequence and step) the model's own most probable one. ``decode`` translates with greedy, beam
or sampling search (``rnnkit.nn.decoding``) over ``step``; ``attention_weights`` gives the
(T, S) attention of each step along a given output.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnkit.data.tokens import END, PAD, START
from rnnkit.nn import RNNS, Attention, Decoded, beam_search, greedy, lengths_mask, padded, sample
from rnnkit.tasks.translate.config import Config

Hidden = Tensor | tuple[Tensor, Tensor]  # (L, B, H), or LSTM's (h, c)


class DecoderState(NamedTuple):
    """What the decoder carries from one step to the next; the batch is dim 1 of ``hidden``'s
    tensors and dim 0 of the others (``reorder``)."""

    hidden: Hidden
    feed: Tensor  # (B, H) the last attentional state (input feeding)
    memory: Tensor  # (B, S, H) the encoder's outputs
    keys: Tensor  # (B, S, .) the memory projected for the scores, once
    mask: Tensor  # (B, S) True at real source steps


def reorder(state: DecoderState, index: Tensor) -> DecoderState:
    """The rows ``index`` of every sequence in ``state`` (beam search)."""
    hidden = state.hidden
    if isinstance(hidden, tuple):
        hidden = tuple(h.index_select(1, index) for h in hidden)
    else:
        hidden = hidden.index_select(1, index)
    rest = (t.index_select(0, index) for t in state[1:])
    return DecoderState(hidden, *rest)


class Seq2Seq(nn.Module):
    """An encoder-decoder with attention (see the module docstring).

    Submodules: ``source_embedding``, ``encoder``, ``bridge``, ``target_embedding``,
    ``decoder``, ``attention`` (None with ``attention="none"``), ``combine`` (W_c), ``drop``,
    ``output``.
    """

    def __init__(self, cfg: Config, source_size: int, target_size: int):
        super().__init__()
        H, E, L = cfg.hidden_size, cfg.embedding_size, cfg.num_layers
        self.cfg, self.directions = cfg, 2 if cfg.bidirectional else 1
        self.kind = cfg.attention
        self.luong = self.kind in ("dot", "general", "concat")
        self.feeding = self.luong and cfg.input_feeding
        rnn = RNNS[cfg.cell]
        between = cfg.dropout if L > 1 else 0.0
        self.source_embedding = nn.Embedding(source_size, E, padding_idx=PAD)
        self.encoder = rnn(
            E,
            H // self.directions,
            num_layers=L,
            dropout=between,
            batch_first=True,
            bidirectional=cfg.bidirectional,
        )
        self.bridge = nn.Linear(H, H)
        self.bridge_cell = nn.Linear(H, H) if cfg.cell == "lstm" else None
        self.target_embedding = nn.Embedding(target_size, E, padding_idx=PAD)
        extra = H if self.kind == "bahdanau" or self.feeding else 0
        self.decoder = rnn(E + extra, H, num_layers=L, dropout=between, batch_first=True)
        self.attention = None if self.kind == "none" else Attention(H, H, self.kind)
        self.combine = None if self.kind == "none" else nn.Linear(2 * H, H)
        self.drop = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(H, target_size)
        if cfg.tie_embeddings:
            self.output.weight = self.target_embedding.weight  # E == H (checked by Config)

    # -- encoder -----------------------------------------------------------------------------

    def encode(self, source: Tensor) -> DecoderState:
        """The decoder's first state for ``source`` (B, S) ids padded with PAD."""
        if source.dim() != 2:
            raise ValueError(f"Seq2Seq: expected source ids (B, S), got {tuple(source.shape)}")
        lengths = (source != PAD).sum(1)  # (B,)
        if bool((lengths == 0).any()):
            raise ValueError("Seq2Seq: a source of no tokens; every sentence needs one")
        emb = self.drop(self.source_embedding(source))  # (B, S, E)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = self.encoder(packed)
        memory, _ = padded(out)  # (B, S', H), S' the longest length
        mask = lengths_mask(lengths.to(memory.device), memory.size(1))  # (B, S')
        if isinstance(final, tuple):  # LSTM: h and c, each bridged
            hidden: Hidden = (
                self._bridge(final[0], self.bridge),
                self._bridge(final[1], self.bridge_cell),
            )
        else:
            hidden = self._bridge(final, self.bridge)
        keys = self.attention.project(memory) if self.attention is not None else memory
        feed = memory.new_zeros(memory.size(0), self.cfg.hidden_size)  # (B, H)
        return DecoderState(hidden, feed, memory, keys, mask)

    def _bridge(self, final: Tensor, linear: nn.Linear) -> Tensor:
        """(L*D, B, H/D) final states -> (L, B, H) decoder states: directions joined, tanh(W .)."""
        L, B = self.cfg.num_layers, final.size(1)
        joined = final.view(L, self.directions, B, -1).permute(0, 2, 1, 3)  # (L, B, D, H/D)
        return torch.tanh(linear(joined.reshape(L, B, -1)))  # (L, B, H)

    # -- decoder -----------------------------------------------------------------------------

    def step(
        self, tokens: Tensor, state: DecoderState
    ) -> tuple[Tensor, Tensor | None, DecoderState]:
        """One decoder step: tokens (B,) -> (logits (B, V), attention (B, S) or None, state)."""
        emb = self.drop(self.target_embedding(tokens))  # (B, E)
        weights = None
        if self.kind == "bahdanau":
            top = (state.hidden[0] if isinstance(state.hidden, tuple) else state.hidden)[-1]
            context, weights = self.attention(top, state.memory, state.mask, state.keys)
            inputs = torch.cat([emb, context], 1)  # (B, E + H)
        elif self.feeding:
            inputs = torch.cat([emb, state.feed], 1)  # (B, E + H)
        else:
            inputs = emb
        out, hidden = self.decoder(inputs.unsqueeze(1), state.hidden)  # (B, 1, H)
        h = out.squeeze(1)  # (B, H)
        if self.luong:
            context, weights = self.attention(h, state.memory, state.mask, state.keys)
        if self.attention is not None:
            h = torch.tanh(self.combine(torch.cat([h, context], 1)))  # (B, H): h~
        logits = self.output(self.drop(h))  # (B, V)
        return logits, weights, state._replace(hidden=hidden, feed=h)

    def forward(self, x: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if targets is None:
            raise ValueError("Seq2Seq: forward needs the targets (teacher forcing); use decode")
        state = self.encode(x)
        inputs, gold = targets[:, :-1], targets[:, 1:]  # (B, T) each
        ratio = self.cfg.teacher_forcing if self.training else 1.0
        logits, tokens = [], inputs[:, 0]
        for t in range(inputs.size(1)):
            if t and ratio < 1.0:
                own = logits[-1].argmax(1)
                keep = torch.rand(own.shape, device=own.device) < ratio  # (B,)
                tokens = torch.where(keep, inputs[:, t], own)
            elif t:
                tokens = inputs[:, t]
            step_logits, _, state = self.step(tokens, state)
            logits.append(step_logits)
        out = torch.stack(logits, 1)  # (B, T, V)
        loss = F.cross_entropy(
            out.reshape(-1, out.size(-1)).float(),
            gold.reshape(-1),
            ignore_index=PAD,
            label_smoothing=self.cfg.label_smoothing,
        )
        return out, loss

    # -- inference ---------------------------------------------------------------------------

    def _log_probs(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        logits, _, state = self.step(tokens, state)
        return torch.log_softmax(logits.float(), dim=1), state

    @torch.no_grad()
    def decode(
        self,
        source: Tensor,
        *,
        max_length: int,
        beam: int = 1,
        length_penalty: float = 0.0,
        temperature: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Decoded:
        """Translate ``source`` (B, S): beam search (``beam`` > 1), sampling (``temperature``
        given) or greedy search; token ids without START and END."""
        state, B = self.encode(source), source.size(0)
        kw = dict(start=START, end=END, max_length=max_length, device=source.device)
        if temperature is not None:
            return sample(
                self._log_probs, state, B, temperature=temperature, generator=generator, **kw
            )
        if beam > 1:
            return beam_search(
                self._log_probs,
                state,
                B,
                beam=beam,
                reorder=reorder,
                length_penalty_alpha=length_penalty,
                **kw,
            )
        return greedy(self._log_probs, state, B, **kw)

    @torch.no_grad()
    def attention_weights(self, source: Tensor, output: list[int]) -> Tensor | None:
        """(T, S) attention of each step while writing ``output`` (+ END) for one ``source``
        (1, S); the same as during decoding, which depends on the prefix alone. None
        without attention."""
        if self.attention is None:
            return None
        state = self.encode(source)
        rows, tokens = [], [START, *output]
        for token in tokens:
            _, weights, state = self.step(torch.tensor([token], device=source.device), state)
            rows.append(weights[0])
        return torch.stack(rows)  # (T, S)
