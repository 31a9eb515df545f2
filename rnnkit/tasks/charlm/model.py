"""The character language model's network, and scoring and sampling with it.

``CharLMNet`` reads a stream of characters and predicts the next one: an embedding (or one-hot
input), a multi-layer LSTM/GRU/RNN from ``rnnkit.nn``, dropout, and a linear head to logits
over the vocabulary. ``evaluate_text`` scores every character of a text once, with the state
carried; ``sample_text`` streams characters with temperature and top-k.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.text import Vocab, progress_bar, scoring_batches
from rnnkit.nn import RNNS
from rnnkit.tasks.charlm.config import Config

EVAL_ROWS = 32  # parallel streams when scoring a text (each carries its own state)


class CharLMNet(nn.Module):
    """Embedding (or one-hot) -> multi-layer RNN -> dropout -> linear head, over characters.

    Submodules: ``embed`` (nn.Embedding(V, E); absent when ``embedding_size`` is 0 and the input
    is one-hot), ``rnn`` (rnnkit.nn LSTM/GRU/RNN, batch_first, dropout between layers) and
    ``head`` (nn.Linear(H, V)). Shapes: B batch, T time, V vocabulary, E embedding, H hidden.

    ``forward(x, targets=None, state=None) -> ((logits, state), loss)``: x (B, T) ids, logits
    (B, T, V), state the RNN's final state (h, or (h, c) for the LSTM, each (layers, B, H)),
    loss the mean cross-entropy in nats per character (None without targets).
    """

    def __init__(self, vocab_size: int, cfg: Config):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, cfg.embedding_size) if cfg.embedding_size else None
        extras = {"layer_norm": True} if cfg.layer_norm else {}
        self.rnn = RNNS[cfg.model](
            cfg.embedding_size or vocab_size,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            batch_first=True,
            **extras,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None, state=None):
        if self.embed is not None:
            inputs = self.embed(x)  # (B, T, E)
        else:
            inputs = F.one_hot(x, self.vocab_size).to(self.head.weight.dtype)  # (B, T, V)
        if state is not None:  # a state carried out of bf16 autocast: back to the input's dtype
            state = _cast_state(state, inputs.dtype)
        out, state = self.rnn(inputs, state)  # (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1))
        return (logits, state), loss

    @torch.no_grad()
    def generate(
        self,
        prime: torch.Tensor,
        length: int,
        temperature: float = 1.0,
        top_k: int = 0,
        generator: torch.Generator | None = None,
    ) -> Iterator[int]:
        """Yield ``length`` ids following ``prime`` (P,) ids; temperature 0 is greedy."""
        (logits, state), _ = self(prime.view(1, -1))  # (1, P, V)
        for _ in range(length):
            last = logits[0, -1].float()  # (V,)
            if temperature == 0:
                next_id = int(last.argmax())
            else:
                last = (last.double() - last.max()) / temperature
                if 0 < top_k < len(last):
                    last[last < torch.topk(last, top_k).values[-1]] = -math.inf
                probs = torch.softmax(last, dim=-1)
                next_id = int(torch.multinomial(probs.cpu(), 1, generator=generator))
            yield next_id
            step = torch.tensor([[next_id]], device=prime.device)  # (1, 1)
            (logits, state), _ = self(step, state=state)


def _cast_state(state, dtype: torch.dtype):
    """h, or (h, c), in ``dtype``."""
    if isinstance(state, torch.Tensor):
        return state.to(dtype)
    return tuple(s.to(dtype) for s in state)


def _last_row(state):
    """The state of the last batch row: (layers, B, H) -> (layers, 1, H), for h or (h, c)."""
    if isinstance(state, torch.Tensor):
        return state[:, -1:].contiguous()
    return tuple(s[:, -1:].contiguous() for s in state)


@torch.no_grad()
def evaluate_text(
    model: CharLMNet,
    ids: np.ndarray,
    seq_length: int = 256,
    rows: int = EVAL_ROWS,
    progress: bool = False,
) -> tuple[float, int]:
    """(total nats, characters scored): every next character of ``ids``, state carried; with
    ``progress``, a long text shows a progress bar (``rnnkit.data.text.progress_bar``)."""
    device = model.head.weight.device
    total, count, state = 0.0, 0, None
    with progress_bar(len(ids) - 1, "scoring", "char", progress) as bar:
        for x, y, tail in scoring_batches(ids, rows, seq_length):
            if tail:
                state = _last_row(state)
            (logits, state), _ = model(x.to(device), state=state)  # (rows, t, V)
            flat = logits.float().reshape(-1, logits.size(-1))  # (rows * t, V)
            total += F.cross_entropy(flat, y.to(device).reshape(-1), reduction="sum").item()
            count += y.numel()
            bar.update(y.numel())
    return total, count


def sample_text(
    model: CharLMNet,
    vocab: Vocab,
    prime: str = "",
    length: int = 200,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
) -> Iterator[str]:
    """Stream ``length`` characters after ``prime`` (default: a newline, or the first char)."""
    start = vocab.prime(prime)
    prime_ids = torch.from_numpy(vocab.encode(start).astype(np.int64))
    generator = torch.Generator()
    generator.manual_seed(torch.seed() if seed is None else seed)
    was_training = model.training
    model.eval()
    try:
        device = model.head.weight.device
        for i in model.generate(prime_ids.to(device), length, temperature, top_k, generator):
            yield vocab.chars[i]
    finally:
        model.train(was_training)
