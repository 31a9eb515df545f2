"""The classifiers: a recurrent network with a pooled or per-step head, and LSTM-FCN.

Two recurrent patterns on labelled sequences:

- **many-to-one**: read a whole sequence, emit one label. ``RecurrentClassifier`` runs an
  LSTM/GRU/RNN (optionally bidirectional) and pools its outputs by the last state, the mean
  over steps or attention over steps; ``LSTMFCN`` (Karim et al. 2018) concatenates a recurrent
  branch (over the dimension-shuffled input, as in the paper, or over time) with a fully
  convolutional branch (conv 128-256-128, kernels 8-5-3, batch norm, ReLU, global average
  pooling) before the softmax.
- **many-to-many** (tagging): ``RecurrentClassifier`` with ``per_step=True`` emits a label at
  every step, from the current and earlier steps (or both directions when bidirectional).

Batches of unequal lengths are PackedSequences, so padding never reaches a result: recurrent
layers stop at each sequence's end, pooling and the loss count valid steps only, and the
convolutional branch zeroes every padded position after each block and normalizes with
statistics of valid steps only. The model standardizes its input with the training set's
per-feature mean and std, held as buffers, so a checkpoint predicts from raw data alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.data.ucr import IGNORE_INDEX, SequenceDataError
from rnnkit.nn import RNNS, AttentionPooling, ConvBlock, lengths_mask, padded
from rnnkit.tasks.classify.config import IMAGE_MODELS, Config, resolve_model

FCN_BLOCKS = ((128, 8), (256, 5), (128, 3))  # (filters, kernel) of LSTM-FCN's conv branch


def _last_state(h_n: Tensor, num_layers: int, directions: int) -> Tensor:
    """The last layer's final state of each direction, concatenated: (L*D, B, H) -> (B, D*H)."""
    h = h_n.view(num_layers, directions, h_n.size(1), h_n.size(2))[-1]  # (D, B, H)
    return h.transpose(0, 1).reshape(h.size(1), -1)  # (B, D*H)


class SequenceClassifier(nn.Module):
    """What every classifier here shares: input standardization, the loss and ``predict``.

    ``forward(x, targets=None) -> (logits, loss)``: x a PackedSequence of (T_i, F) sequences or
    a (B, T, F) tensor of full-length ones (torch's fused kernels run faster unpacked); logits
    (B, C), or (B, T, C) with a per-step head; targets (B,) class ids, or (B, T) with
    ``IGNORE_INDEX`` at padded steps; loss the mean cross-entropy (over valid steps for
    tagging), None without targets. Subclasses implement ``logits(x)`` on standardized input.
    """

    per_step = False
    image = False  # True: the sequences (B, H, W) are images (image_model.py)

    def __init__(self, input_size: int, num_classes: int):
        super().__init__()
        self.input_size, self.num_classes = input_size, num_classes
        self.register_buffer("mean", torch.zeros(input_size))
        self.register_buffer("std", torch.ones(input_size))

    def _standardize(self, x: PackedSequence | Tensor) -> PackedSequence | Tensor:
        values = x.data if isinstance(x, PackedSequence) else x  # (sum of lengths, F) or (B, T, F)
        if not isinstance(x, PackedSequence) and x.dim() != 3:
            raise ValueError(f"{type(self).__name__}: expected x (B, T, F), got {tuple(x.shape)}")
        if values.size(-1) != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: expected {self.input_size} features, got {values.size(-1)}"
            )
        values = (values - self.mean) / self.std  # packed: padding is never touched
        if isinstance(x, PackedSequence):
            return PackedSequence(values, x.batch_sizes, x.sorted_indices, x.unsorted_indices)
        return values

    def logits(self, x: PackedSequence | Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: PackedSequence | Tensor, targets: Tensor | None = None):
        logits = self.logits(self._standardize(x))
        loss = None
        if targets is not None:
            flat = logits.reshape(-1, self.num_classes)  # (B, C) or (B*T, C)
            loss = F.cross_entropy(flat, targets.reshape(-1), ignore_index=IGNORE_INDEX)
        return logits, loss

    @torch.no_grad()
    def predict(self, x: PackedSequence | Tensor) -> Tensor:
        """Class probabilities (B, C), or (B, T, C) per step (zero rows beyond lengths)."""
        logits, _ = self(x)
        return torch.softmax(logits.float(), dim=-1)


class RecurrentClassifier(SequenceClassifier):
    """A recurrent network with a head per sequence (pooled) or per step (tagging).

    Submodules: ``rnn`` (rnnkit.nn LSTM/GRU/RNN, batch_first, optionally bidirectional),
    ``pool`` (AttentionPooling, with ``pooling="attention"``), ``drop`` and ``head``
    (nn.Linear(D*H, C)). Pooling ``last`` takes the final state of each direction (the forward
    one at the sequence's own last step), ``mean`` averages the outputs of valid steps.
    """

    def __init__(self, input_size: int, num_classes: int, cfg: Config, per_step: bool = False):
        super().__init__(input_size, num_classes)
        self.per_step, self.pooling = per_step, cfg.pooling
        self.num_layers, self.directions = cfg.num_layers, 2 if cfg.bidirectional else 1
        self.rnn = RNNS[cfg.cell](
            input_size,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            batch_first=True,
            bidirectional=cfg.bidirectional,
        )
        size = self.directions * cfg.hidden_size
        self.pool = AttentionPooling(size) if cfg.pooling == "attention" and not per_step else None
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(size, num_classes)

    def logits(self, x: PackedSequence | Tensor) -> Tensor:
        out, state = self.rnn(x)
        if not self.per_step and self.pooling == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
            return self.head(self.drop(_last_state(h_n, self.num_layers, self.directions)))
        out, lengths = padded(out)  # (B, T, D*H), (B,)
        if self.per_step:
            return self.head(self.drop(out))  # (B, T, C)
        mask = lengths_mask(lengths, out.size(1))  # (B, T)
        if self.pool is not None:
            pooled = self.pool(out, mask)  # (B, D*H)
        else:
            pooled = (out * mask.unsqueeze(-1)).sum(1) / lengths.to(out)[:, None]  # (B, D*H)
        return self.head(self.drop(pooled))


class LSTMFCN(SequenceClassifier):
    """LSTM-FCN (Karim, Majumdar, Darabi & Chen 2018): a recurrent and a convolutional branch.

    The recurrent branch (``rnn``, an LSTM by default) reads, with ``dimension_shuffle``, the
    F features as F steps of ``seq_len`` values (the sequence zero-padded to ``seq_len``, the
    longest seen in training), else the T steps of F features; its final state goes through
    dropout (0.8 in the paper). The convolutional branch (``blocks``) runs three conv blocks
    128-256-128 with kernels 8-5-3, then averages over the valid steps. Both are concatenated
    into ``head`` (nn.Linear(D*H + 128, C)).
    """

    def __init__(self, input_size: int, num_classes: int, cfg: Config, seq_len: int):
        super().__init__(input_size, num_classes)
        self.shuffle, self.seq_len = cfg.dimension_shuffle, seq_len
        self.num_layers, self.directions = cfg.num_layers, 2 if cfg.bidirectional else 1
        self.rnn = RNNS[cfg.cell](
            seq_len if cfg.dimension_shuffle else input_size,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            batch_first=True,
            bidirectional=cfg.bidirectional,
        )
        self.drop = nn.Dropout(cfg.dropout)
        sizes = [input_size] + [filters for filters, _ in FCN_BLOCKS]
        self.blocks = nn.ModuleList(
            ConvBlock(sizes[i], filters, kernel) for i, (filters, kernel) in enumerate(FCN_BLOCKS)
        )
        self.head = nn.Linear(self.directions * cfg.hidden_size + sizes[-1], num_classes)

    def logits(self, x: PackedSequence | Tensor) -> Tensor:
        values, lengths = padded(x)  # (B, T, F), (B,)
        if self.shuffle:
            if values.size(1) > self.seq_len:
                raise SequenceDataError(
                    f"LSTM-FCN with dimension shuffle reads sequences of at most {self.seq_len} "
                    f"steps (the longest in training), got {values.size(1)}"
                )
            z = F.pad(values, (0, 0, 0, self.seq_len - values.size(1)))  # (B, seq_len, F)
            _, state = self.rnn(z.transpose(1, 2))  # reads (B, F, seq_len): F steps
        else:
            _, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
        recurrent = self.drop(_last_state(h_n, self.num_layers, self.directions))  # (B, D*H)
        mask = lengths_mask(lengths, values.size(1))  # (B, T)
        c = values.transpose(1, 2)  # (B, F, T)
        for block in self.blocks:
            c = block(c, mask)  # (B, filters, T), zero beyond lengths
        pooled = c.sum(2) / lengths.to(c)[:, None]  # (B, 128): global average over valid steps
        return self.head(torch.cat([recurrent, pooled], dim=1))


def build_model(cfg: Config, input_size: int, num_classes: int, seq_len: int) -> SequenceClassifier:
    """The model of ``cfg`` (with ``head`` resolved to "sequence" or "step"; ``model`` and
    ``dropout`` "auto" resolved by it); an image model reads images of ``seq_len`` rows of
    ``input_size`` pixels."""
    cfg = resolve_model(cfg)
    if cfg.model in IMAGE_MODELS:  # the sequences are images of seq_len rows x input_size
        from rnnkit.tasks.classify.image_model import ImageClassifier  # (it imports this module)

        return ImageClassifier(seq_len, input_size, num_classes, cfg)
    if cfg.model == "lstm_fcn":
        return LSTMFCN(input_size, num_classes, cfg, seq_len)
    return RecurrentClassifier(input_size, num_classes, cfg, per_step=cfg.head == "step")
