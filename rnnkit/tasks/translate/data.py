"""What only translation needs of its data: the splits, the tokenizers, encoded pairs and batches.

Batches are a pure function of the step (a resumed run sees the same ones): each epoch's
order is a permutation seeded by (seed, epoch); within pools of 32 batches the pairs are
sorted by length, so a batch pads little, and the batches of the epoch are then shuffled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.pairs import Pair, PairsDataError, Splits, load_pairs, named_pairs, split_pairs
from rnnkit.data.tokens import END, PAD, START, Tokenizer
from rnnkit.tasks.translate.config import Config
from rnnkit.train.config import ConfigError

POOL = 32  # batches sorted by length together


def load_splits(cfg: Config) -> Splits:
    """The train, valid and test pairs of ``cfg``'s data."""
    if cfg.dataset:
        pairs, source = named_pairs(cfg.dataset), cfg.dataset
        if cfg.reverse:
            pairs = [(t, s) for s, t in pairs]
    elif cfg.data:
        pairs, source = load_pairs(cfg.data, cfg.reverse), cfg.data
    else:
        raise ConfigError("no data: expected --dataset NAME or --data PATH")
    valid_fraction = 0.0 if cfg.valid_data else cfg.valid_fraction
    test_fraction = 0.0 if cfg.test_data else cfg.test_fraction
    train, valid, test = split_pairs(pairs, valid_fraction, test_fraction)
    if cfg.valid_data:
        valid = load_pairs(cfg.valid_data, cfg.reverse)
    if cfg.test_data:
        test = load_pairs(cfg.test_data, cfg.reverse)
    if not train:
        raise PairsDataError(f"{source}: no training pairs left after the held-out splits")
    return Splits(train, valid or train, test, source)


def fit_tokenizers(cfg: Config, train: list[Pair]) -> tuple[Tokenizer, Tokenizer]:
    """(source, target) tokenizers fit on the training pairs."""
    return tuple(
        Tokenizer.fit(cfg.side_tokens(side), [p[i] for p in train], cfg.vocab_size, cfg.min_count)
        for i, side in enumerate(("source", "target"))
    )


@dataclass
class Encoded:
    """Pairs as token ids (without START and END), and their texts."""

    source: list[np.ndarray]
    target: list[np.ndarray]
    pairs: list[Pair]

    def __len__(self) -> int:
        return len(self.pairs)


def encode_pairs(
    pairs: list[Pair], tokenizers: tuple[Tokenizer, Tokenizer], max_tokens: int = 0
) -> Encoded:
    """``pairs`` as ids; with ``max_tokens``, the pairs with a longer side are left out (and a
    side of no tokens is always)."""
    source, target, kept = [], [], []
    for pair in pairs:
        s, t = (
            np.array(tok.encode(text), dtype=np.int64)
            for tok, text in zip(tokenizers, pair, strict=True)
        )
        if not len(s) or not len(t) or (max_tokens and max(len(s), len(t)) > max_tokens):
            continue
        source.append(s)
        target.append(t)
        kept.append(pair)
    return Encoded(source, target, kept)


def pad_sources(sources: list[np.ndarray]) -> Tensor:
    """(B, S) ids padded with PAD."""
    x = torch.full((len(sources), max(len(s) for s in sources)), PAD, dtype=torch.long)
    for i, s in enumerate(sources):
        x[i, : len(s)] = torch.from_numpy(s)
    return x


def make_batch(data: Encoded, index: np.ndarray) -> tuple[Tensor, Tensor]:
    """(x (B, S) source ids, y (B, T + 2) START, target ids, END, PAD...) of pairs ``index``."""
    x = pad_sources([data.source[i] for i in index])
    y = torch.full((len(index), max(len(data.target[i]) for i in index) + 2), PAD)
    for row, i in enumerate(index):
        t = data.target[i]
        y[row, 0], y[row, len(t) + 1] = START, END
        y[row, 1 : len(t) + 1] = torch.from_numpy(t)
    return x, y


class PairBatches:
    """``batches(step) -> (x, y)``: the training batches (see the module docstring)."""

    def __init__(self, data: Encoded, batch_size: int, seed: int):
        if not len(data):
            raise PairsDataError("no training pairs within --max-tokens; raise --max-tokens")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.per_epoch = math.ceil(len(data) / batch_size)
        self._epoch: tuple[int, list[np.ndarray]] | None = None
        self.lengths = np.array([len(t) for t in data.target])

    def epoch(self, epoch: int) -> list[np.ndarray]:
        if self._epoch is None or self._epoch[0] != epoch:
            rng = np.random.default_rng((self.seed, epoch))
            order = rng.permutation(len(self.data))
            pool, batches = POOL * self.batch_size, []
            for start in range(0, len(order), pool):
                part = order[start : start + pool]
                part = part[np.argsort(self.lengths[part], kind="stable")]
                batches += [
                    part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size)
                ]
            self._epoch = (epoch, [batches[i] for i in rng.permutation(len(batches))])
        return self._epoch[1]

    def __call__(self, step: int) -> tuple[Tensor, Tensor]:
        epoch, i = divmod(step, self.per_epoch)
        return make_batch(self.data, self.epoch(epoch)[i])


def eval_batches(data: Encoded, batch_size: int):
    """(x, y) of all of ``data``, in order of length (padding little)."""
    order = np.argsort([len(t) for t in data.target], kind="stable")
    for start in range(0, len(order), batch_size):
        yield make_batch(data, order[start : start + batch_size])
