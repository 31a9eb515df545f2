"""What only handwriting needs of its data: the lines of a config, their splits, the alphabet,
normalised offsets and padded batches."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.strokes import (
    StrokeDataError,
    StrokeSet,
    hershey_fonts,
    hershey_lines,
    load_iam,
    read_words,
)
from rnnkit.tasks.handwriting.config import Config

START = (0.0, 0.0, 1.0)  # the input before a line's first point: the pen up at the origin


def load_lines(cfg: Config) -> StrokeSet:
    """Every line of ``cfg``'s data: an IAM On-Line folder (``--data``) or Hershey lines."""
    if cfg.data:
        data = load_iam(cfg.data, progress=cfg.progress)
    else:
        words = read_words(cfg.words) if cfg.words else None
        data = hershey_lines(
            hershey_fonts(cfg.fonts), cfg.lines, cfg.seed, words, cfg.max_words, cfg.point_spacing
        )
    for strokes, text, i in zip(data.strokes, data.texts, range(len(data)), strict=True):
        if len(strokes) < 2 or not text.strip():
            name = data.names[i] if data.names else f"line {i}"
            raise StrokeDataError(
                f"{data.source}: {name} has {len(strokes)} point(s) and text {text!r}; "
                f"expected 2+ points and a non-empty text"
            )
    return data


def split_lines(cfg: Config, data: StrokeSet) -> tuple[StrokeSet, StrokeSet, StrokeSet]:
    """(fit, validation, test) lines, a random split of ``cfg.seed``."""
    n = len(data)
    n_test, n_val = max(1, round(cfg.test_fraction * n)), max(1, round(cfg.val_fraction * n))
    if n - n_test - n_val < 1:
        raise StrokeDataError(
            f"{data.source}: {n} line(s) leave none to train on after the test and validation "
            f"lines; give more lines"
        )
    order = np.random.default_rng((cfg.seed, 7)).permutation(n)
    test, val, fit = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return data.subset(fit), data.subset(val), data.subset(test)


def offset_scale(data: StrokeSet) -> np.ndarray:
    """The standard deviation of dx and dy over every move of ``data`` (2,) (row 0, the move
    from the origin, left out): offsets are divided by it."""
    moves = np.concatenate([s[1:, :2] for s in data.strokes])  # (N, 2)
    scale = moves.std(0)
    if not np.all(scale > 0):
        raise StrokeDataError(f"{data.source}: the pen never moves; expected real strokes")
    return scale.astype(np.float32)


class Alphabet:
    """The characters a synthesis network can write: those of its training texts."""

    def __init__(self, chars: str):
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def fit(cls, texts: list[str]) -> Alphabet:
        return cls("".join(sorted(set("".join(texts)))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str, what: str = "--text") -> np.ndarray:
        """The ids of ``text``; ValueError naming the characters the model never saw."""
        if not text:
            raise ValueError(f"{what}: empty; give the text to write")
        unknown = sorted({c for c in text if c not in self.index})
        if unknown:
            raise ValueError(
                f"{what}: the model never saw {', '.join(repr(c) for c in unknown)} in training; "
                f"it writes only {self.chars!r}"
            )
        return np.array([self.index[c] for c in text], dtype=np.int64)


class StrokeBatch(NamedTuple):
    """A batch's inputs: ``strokes`` (B, T, 3) normalised offsets (the previous point at each
    step, ``START`` first), ``text`` (B, U) character ids and ``text_mask`` (B, U) (True on the
    characters; prediction networks ignore both)."""

    strokes: Tensor
    text: Tensor
    text_mask: Tensor

    def to(self, device: torch.device | str) -> StrokeBatch:
        return StrokeBatch(*(t.to(device) for t in self))


class Targets(NamedTuple):
    """A batch's targets: ``offsets`` (B, T, 3) the next point at each step, ``mask`` (B, T)
    True on real points; ``numel()`` counts the points (the trainer's throughput)."""

    offsets: Tensor
    mask: Tensor

    def to(self, device: torch.device | str) -> Targets:
        return Targets(self.offsets.to(device), self.mask.to(device))

    def numel(self) -> int:
        return int(self.mask.sum())


def normalised(offsets: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Offsets (T, 3) with dx, dy divided by ``scale`` (2,)."""
    out = np.array(offsets, dtype=np.float32)
    out[:, :2] /= scale
    return out


def make_batch(
    lines: list[np.ndarray], texts: list[np.ndarray], scale: np.ndarray
) -> tuple[StrokeBatch, Targets]:
    """The padded batch of ``lines`` (each (T_i, 3) offsets, unnormalised) and their texts
    (character ids): the model reads point t-1 and predicts point t, for t = 1..T_i-1."""
    lengths = [len(s) - 1 for s in lines]
    b, t, u = len(lines), max(lengths), max(len(c) for c in texts)
    x, y = np.zeros((b, t, 3), np.float32), np.zeros((b, t, 3), np.float32)
    mask = np.zeros((b, t), bool)
    text, text_mask = np.zeros((b, u), np.int64), np.zeros((b, u), bool)
    for i, (s, c) in enumerate(zip(lines, texts, strict=True)):
        s = normalised(s, scale)
        n = lengths[i]
        x[i, 0], x[i, 1:n] = START, s[1:n]  # (T_i-1, 3): the pen up at the start, then the line
        y[i, :n] = s[1:]
        mask[i, :n] = True
        text[i, : len(c)], text_mask[i, : len(c)] = c, True
    inputs = StrokeBatch(torch.from_numpy(x), torch.from_numpy(text), torch.from_numpy(text_mask))
    return inputs, Targets(torch.from_numpy(y), torch.from_numpy(mask))
