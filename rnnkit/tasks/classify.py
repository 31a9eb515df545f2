"""Sequence classification and tagging: ``rnnkit classify train | eval | predict``.

Two recurrent patterns on labelled sequences (``rnnkit.data.ucr.SequenceSet``):

- **many-to-one**: read a whole sequence, emit one label. ``RecurrentClassifier`` runs an
  LSTM/GRU/RNN (optionally bidirectional) and pools its outputs by the last state, the mean
  over steps or attention over steps; ``LSTMFCN`` (Karim et al. 2018) concatenates a recurrent
  branch (over the dimension-shuffled input, as in the paper, or over time) with a fully
  convolutional branch (conv 128-256-128, kernels 8-5-3, batch norm, ReLU, global average
  pooling) before the softmax.
- **many-to-many** (tagging): ``RecurrentClassifier`` with ``head="step"`` emits a label at
  every step, from the current and earlier steps (or both directions when bidirectional).

Batches of unequal lengths are PackedSequences, so padding never reaches a result: recurrent
layers stop at each sequence's end, pooling and the loss count valid steps only, and the
convolutional branch zeroes every padded position after each block and normalizes with
statistics of valid steps only. The model standardizes its input with the training set's
per-feature mean and std, held as buffers, so a checkpoint predicts from raw data alone.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from rnnkit.data.fashion_mnist import FASHION_MNIST_DIR, load_fashion_mnist
from rnnkit.data.ucr import (
    IGNORE_INDEX,
    LabelEncoder,
    SequenceDataError,
    SequenceSet,
    bundled_datasets,
    check_features,
    check_finite,
    check_labelled,
    feature_stats,
    load_bundled,
    load_file,
    make_batch,
    stratified_split,
)
from rnnkit.nn import GRU, LSTM, RNN
from rnnkit.train.checkpoint import load_checkpoint, resolve_checkpoint, strip_prefix
from rnnkit.train.config import (
    ConfigError,
    TrainConfig,
    add_config_args,
    config_from_args,
    config_from_dict,
    flag_name,
    option,
)
from rnnkit.train.trainer import Trainer, prepare_run_dir, resume_config, seed_everything
from rnnkit.viz.classify import plot_confusion

TASK = "classify"
RNNS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
FCN_BLOCKS = ((128, 8), (256, 5), (128, 3))  # (filters, kernel) of LSTM-FCN's conv branch
EVAL_BATCH = 512
# config fields that shape the model or the data: a resumed run cannot change them (``head``
# neither, but the saved config holds it resolved from the labels, so it is resolved again)
FIXED_ON_RESUME = (
    "dataset", "data", "test_data", "test_fraction", "val_fraction", "val_data", "model", "cell",
    "hidden_size", "num_layers", "bidirectional", "pooling", "dimension_shuffle", "normalize",
    "batch_size",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# config


@dataclass
class Config(TrainConfig):
    """Hyperparameters of sequence classification and tagging (and, inherited, of training).

    The data is ``--dataset NAME`` (a UCR/UEA set bundled with sktime, with its own test split,
    or FashionMNIST read row by row) or ``--data PATH`` (.ts, long CSV, .npz/.npy) with
    ``--test-data PATH`` or a held-out ``--test-fraction`` of it. The defaults train a 1-layer
    LSTM of 128 units for 2000 steps; ``--model lstm_fcn --dropout 0.8`` is the UCR recipe.
    """

    dataset: str = option("", "bundled data set: GunPoint, JapaneseVowels, ..., FashionMNIST")
    data: str = option("", "training data: .ts, .csv (long: id, label, features), .npz, .npy")
    test_data: str = option("", "test data for --data ('' = hold out --test-fraction of it)")
    test_fraction: float = option(0.2, "with --data and no --test-data: the part held out")
    val_fraction: float = option(
        0.1, "part of training held out to pick best.safetensors (0 = pick on the training loss)"
    )
    val_data: str = option(
        "", "validation data that picks best.safetensors, instead of holding out --val-fraction"
    )
    model: Literal["rnn", "lstm_fcn"] = option("rnn", "recurrent classifier, or LSTM-FCN")
    cell: Literal["lstm", "gru", "rnn"] = option("lstm", "recurrent layer")
    hidden_size: int = option(128, "units per recurrent layer")
    num_layers: int = option(1, "recurrent layers")
    bidirectional: bool = option(False, "read each sequence in both directions")
    pooling: Literal["last", "mean", "attention"] = option(
        "last", "many-to-one: the last state, the mean over steps, or attention over steps"
    )
    head: Literal["auto", "sequence", "step"] = option(
        "auto", "a label per sequence or per step (auto: as the training labels are)"
    )
    dimension_shuffle: bool = option(
        True, "LSTM-FCN: the recurrent branch reads the F features as steps of T values"
    )
    dropout: float = option(0.1, "dropout between recurrent layers and before the head")
    normalize: Literal["feature", "none"] = option(
        "feature", "standardize each feature with the training set's mean and std"
    )
    batch_size: int = option(64, "sequences per batch")
    epochs: int = option(0, "train this many epochs (sets --max-steps; 0 = use --max-steps)")
    max_steps: int = option(2000, "stop after this many steps (0 = no limit)")
    warmup_steps: int = option(50, "steps of linear warmup from 0 to lr")
    weight_decay: float = option(0.01, "decay of weight matrices (decoupled with adamw)")
    eval_every: int = option(100, "evaluate and checkpoint every this many steps")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("hidden_size", "num_layers", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"{flag_name(name)}: expected an int >= 1, got {getattr(self, name)}"
                )
        if self.epochs < 0:
            raise ConfigError(f"--epochs: expected an int >= 0, got {self.epochs}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout: expected a number in [0, 1), got {self.dropout}")
        if not 0 < self.test_fraction < 1:
            raise ConfigError(
                f"--test-fraction: expected a number in (0, 1), got {self.test_fraction}"
            )
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(
                f"--val-fraction: expected a number in [0, 1), got {self.val_fraction}"
            )
        if self.dataset and self.data:
            raise ConfigError("expected one of --dataset NAME or --data PATH, got both")
        if self.test_data and not self.data:
            raise ConfigError("--test-data goes with --data; a --dataset has its own test split")
        if self.model == "lstm_fcn" and self.head == "step":
            raise ConfigError("--head step: LSTM-FCN labels whole sequences; use --model rnn")


# ---------------------------------------------------------------------------------------------
# building blocks


def _padded(x: PackedSequence | Tensor) -> tuple[Tensor, Tensor]:
    """(values (B, T, ...), lengths (B,)) of a PackedSequence, or of a full-length tensor."""
    if isinstance(x, PackedSequence):
        values, lengths = pad_packed_sequence(x, batch_first=True)  # (B, T, ...)
        return values, lengths.to(values.device)
    return x, torch.full((x.size(0),), x.size(1), device=x.device)


def _lengths_mask(lengths: Tensor, t: int) -> Tensor:
    """(B, T) True at the steps within each length."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


def _last_state(h_n: Tensor, num_layers: int, directions: int) -> Tensor:
    """The last layer's final state of each direction, concatenated: (L*D, B, H) -> (B, D*H)."""
    h = h_n.view(num_layers, directions, h_n.size(1), h_n.size(2))[-1]  # (D, B, H)
    return h.transpose(0, 1).reshape(h.size(1), -1)  # (B, D*H)


class AttentionPooling(nn.Module):
    """Additive attention over steps: a_t = softmax_t(v^T tanh(W o_t)), pooled = sum_t a_t o_t.

    Padded steps get no weight. ``weights`` keeps the last (B, T) attention, for plots.
    """

    def __init__(self, size: int):
        super().__init__()
        self.proj = nn.Linear(size, size)
        self.score = nn.Linear(size, 1, bias=False)
        self.weights: Tensor | None = None

    def forward(self, out: Tensor, mask: Tensor) -> Tensor:
        scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)  # (B, T)
        weights = torch.softmax(scores.masked_fill(~mask, -math.inf), dim=1)  # (B, T)
        self.weights = weights.detach()
        return torch.bmm(weights.unsqueeze(1), out).squeeze(1)  # (B, D*H)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over (B, C, T) whose statistics count valid steps only; padding stays 0."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # x (B, C, T), mask (B, T)
        steps = x.transpose(1, 2)  # (B, T, C)
        out = torch.zeros_like(steps)
        out[mask] = super().forward(steps[mask])  # (valid steps, C)
        return out.transpose(1, 2)  # (B, C, T)


class ConvBlock(nn.Module):
    """Conv1d ('same' zero padding, as Keras: (k-1)//2 steps before, k//2 after) -> masked
    batch norm -> ReLU, zero beyond each length."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int):
        super().__init__()
        self.pad = ((kernel - 1) // 2, kernel // 2)
        self.conv = nn.Conv1d(channels_in, channels_out, kernel)
        self.norm = MaskedBatchNorm1d(channels_out)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # x (B, C_in, T), mask (B, T)
        return F.relu(self.norm(self.conv(F.pad(x, self.pad)), mask))  # (B, C_out, T)


# ---------------------------------------------------------------------------------------------
# the models


class SequenceClassifier(nn.Module):
    """What every classifier here shares: input standardization, the loss and ``predict``.

    ``forward(x, targets=None) -> (logits, loss)``: x a PackedSequence of (T_i, F) sequences or
    a (B, T, F) tensor of full-length ones (torch's fused kernels run faster unpacked); logits
    (B, C), or (B, T, C) with a per-step head; targets (B,) class ids, or (B, T) with
    ``IGNORE_INDEX`` at padded steps; loss the mean cross-entropy (over valid steps for
    tagging), None without targets. Subclasses implement ``logits(x)`` on standardized input.
    """

    per_step = False

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
        out, lengths = _padded(out)  # (B, T, D*H), (B,)
        if self.per_step:
            return self.head(self.drop(out))  # (B, T, C)
        mask = _lengths_mask(lengths, out.size(1))  # (B, T)
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
        padded, lengths = _padded(x)  # (B, T, F), (B,)
        if self.shuffle:
            if padded.size(1) > self.seq_len:
                raise SequenceDataError(
                    f"LSTM-FCN with dimension shuffle reads sequences of at most {self.seq_len} "
                    f"steps (the longest in training), got {padded.size(1)}"
                )
            z = F.pad(padded, (0, 0, 0, self.seq_len - padded.size(1)))  # (B, seq_len, F)
            _, state = self.rnn(z.transpose(1, 2))  # reads (B, F, seq_len): F steps
        else:
            _, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
        recurrent = self.drop(_last_state(h_n, self.num_layers, self.directions))  # (B, D*H)
        mask = _lengths_mask(lengths, padded.size(1))  # (B, T)
        c = padded.transpose(1, 2)  # (B, F, T)
        for block in self.blocks:
            c = block(c, mask)  # (B, filters, T), zero beyond lengths
        pooled = c.sum(2) / lengths.to(c)[:, None]  # (B, 128): global average over valid steps
        return self.head(torch.cat([recurrent, pooled], dim=1))


def build_model(cfg: Config, input_size: int, num_classes: int, seq_len: int) -> SequenceClassifier:
    """The model of ``cfg`` (with ``head`` resolved to "sequence" or "step")."""
    if cfg.model == "lstm_fcn":
        return LSTMFCN(input_size, num_classes, cfg, seq_len)
    return RecurrentClassifier(input_size, num_classes, cfg, per_step=cfg.head == "step")


def load_model(path: str | Path, device: str = "cpu") -> tuple[SequenceClassifier, Config, dict]:
    """The model (eval mode), config and checkpoint metadata of a run directory or file."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no CUDA device here; use --device cpu")
    tensors, meta = load_checkpoint(resolve_checkpoint(path), task=TASK)
    cfg = config_from_dict(Config, meta["config"])
    model = build_model(cfg, meta["input_size"], len(meta["classes"]), meta["seq_len"])
    model.load_state_dict(strip_prefix("model", tensors))
    return model.to(device).eval(), cfg, meta


# ---------------------------------------------------------------------------------------------
# data: named sets, files, splits


def load_named(name: str) -> tuple[SequenceSet, SequenceSet]:
    """(train, test) of a named data set: FashionMNIST, or a UCR/UEA set bundled with sktime."""
    if name == "FashionMNIST":
        return load_fashion_mnist(FASHION_MNIST_DIR)
    names = bundled_datasets()
    if name not in names:
        raise SequenceDataError(
            f"--dataset {name}: unknown; the sets available offline are {', '.join(names)} "
            f"(bundled with sktime) and FashionMNIST (Debian's dataset-fashion-mnist); pass "
            f"any other set as a file with --data"
        )
    return load_bundled(name)


def load_splits(cfg: Config) -> tuple[SequenceSet, SequenceSet]:
    """(train, test) of ``cfg``'s data, checked: labelled, finite, same features."""
    if not cfg.dataset and not cfg.data:
        raise ConfigError("no data: expected --dataset NAME or --data PATH")
    if cfg.dataset:
        train_set, test_set = load_named(cfg.dataset)
    elif cfg.test_data:
        train_set, test_set = load_file(cfg.data), load_file(cfg.test_data)
    else:
        data = load_file(cfg.data)
        check_labelled(data)  # before splitting by class
        train_set, test_set = stratified_split(data, cfg.test_fraction, cfg.seed)
    for data in (train_set, test_set):
        check_labelled(data)
        check_finite(data)
    check_features(test_set, train_set.num_features)
    return train_set, test_set


def _check_head(model: SequenceClassifier, data: SequenceSet) -> None:
    if data.labels is not None and data.per_step != model.per_step:
        want, got = ("step", "sequence") if model.per_step else ("sequence", "step")
        raise SequenceDataError(
            f"{data.source}: the model labels each {want} but the data has a label per {got}"
        )


# ---------------------------------------------------------------------------------------------
# evaluation: probabilities, loss, metrics


@torch.no_grad()
def predict_proba(model: SequenceClassifier, data: SequenceSet) -> list[np.ndarray]:
    """Class probabilities of each sequence: (C,), or (T_i, C) per step with a tagging head."""
    device = model.mean.device
    probs: list[np.ndarray] = []
    for start in range(0, len(data), EVAL_BATCH):
        index = np.arange(start, min(start + EVAL_BATCH, len(data)))
        x, _ = make_batch(data, index)
        p = model.predict(x.to(device)).cpu().numpy()  # (B, C) or (B, T_b, C)
        probs += [p[i] if p.ndim == 2 else p[i, : data.lengths[j]] for i, j in enumerate(index)]
    return probs


@torch.no_grad()
def mean_loss(model: SequenceClassifier, data: SequenceSet, targets: np.ndarray) -> float:
    """Mean cross-entropy per sequence (per valid step with a tagging head)."""
    device = model.mean.device
    total, count = 0.0, 0
    for start in range(0, len(data), EVAL_BATCH):
        index = np.arange(start, min(start + EVAL_BATCH, len(data)))
        x, y = make_batch(data, index, targets)
        logits, _ = model(x.to(device))
        flat = logits.float().reshape(-1, logits.size(-1))  # (B, C) or (B*T_b, C)
        y = y.to(device).reshape(-1)
        total += F.cross_entropy(flat, y, ignore_index=IGNORE_INDEX, reduction="sum").item()
        count += int((y != IGNORE_INDEX).sum())
    return total / count


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1 (over classes that occur in truth or prediction), per-class
    precision/recall/F1/support and the confusion matrix (rows: truth, columns: prediction)."""
    c = len(classes)
    confusion = np.bincount(y_true * c + y_pred, minlength=c * c).reshape(c, c)  # (C, C)
    tp, predicted, support = np.diag(confusion), confusion.sum(0), confusion.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = (predicted + support) > 0
    per_class = [
        {"class": classes[k], "precision": precision[k], "recall": recall[k], "f1": f1[k],
         "support": int(support[k])}
        for k in range(c)
    ]  # fmt: skip
    return {
        "accuracy": float(tp.sum() / max(1, len(y_true))),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "n": int(len(y_true)),
        "per_class": per_class,
        "confusion": confusion,
    }


def evaluate_model(model: SequenceClassifier, classes: list[str], data: SequenceSet) -> dict:
    """``classification_report`` of ``model`` on labelled ``data`` (every valid step when
    tagging), with the mean cross-entropy of the true classes ("log_loss")."""
    _check_head(model, data)
    targets = LabelEncoder(classes).encode(data)  # (N,) or (N, T)
    probs = predict_proba(model, data)
    if model.per_step:
        y_true = np.concatenate([targets[i, :n] for i, n in enumerate(data.lengths)])
        flat = np.concatenate(probs)  # (valid steps, C)
    else:
        y_true, flat = targets, np.stack(probs)  # (N,), (N, C)
    report = classification_report(y_true, flat.argmax(-1), classes)
    p_true = flat[np.arange(len(y_true)), y_true]
    report["log_loss"] = float(-np.log(np.maximum(p_true, 1e-12)).mean())  # cross-entropy
    return report


def format_report(report: dict, title: str) -> str:
    """The report as text: a headline and one line per class."""
    unit = "steps" if report.get("per_step") else "sequences"
    lines = [
        f"{title}: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f} "
        f"over {report['n']} {unit}",
        f"{'class':<20} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}",
    ]
    for row in report["per_class"]:
        lines.append(
            f"{row['class'][:20]:<20} {row['precision']:>9.4f} {row['recall']:>9.4f} "
            f"{row['f1']:>9.4f} {row['support']:>9d}"
        )
    return "\n".join(lines)


def _run_dir(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_dir() else path.parent


def _report_run(run: str | Path, data: SequenceSet, device: str = "cpu") -> dict:
    """Evaluate the run's model on ``data``; write confusion.png in the run directory."""
    model, _, meta = load_model(run, device)
    check_finite(data)
    check_features(data, meta["input_size"])
    report = evaluate_model(model, meta["classes"], data)
    report["per_step"] = model.per_step
    path = _run_dir(run) / "confusion.png"
    plot_confusion(report["confusion"], meta["classes"], path, Path(data.source).name)
    return report


# ---------------------------------------------------------------------------------------------
# the verbs


def _resolve(cfg: Config, train_set: SequenceSet, fit_size: int) -> Config:
    """``cfg`` with ``head`` fixed by the labels, ``max_steps`` by ``epochs`` of ``fit_size``."""
    head = "step" if train_set.per_step else "sequence"
    if cfg.head not in ("auto", head):
        raise ConfigError(
            f"--head {cfg.head}: the training data has a label per {head}; use --head {head}"
        )
    if head == "step" and cfg.model == "lstm_fcn":
        raise ConfigError("LSTM-FCN labels whole sequences, not steps; use --model rnn")
    steps = cfg.max_steps
    if cfg.epochs:
        steps = cfg.epochs * math.ceil(fit_size / cfg.batch_size)
    return dataclasses.replace(cfg, head=head, max_steps=steps)


def _validation_split(
    cfg: Config, train_set: SequenceSet, encoder: LabelEncoder
) -> tuple[SequenceSet, SequenceSet]:
    """(fit, validation): ``--val-data``, a held-out ``--val-fraction``, or the training set
    itself (``--val-fraction 0``: best.safetensors picked on the training loss)."""
    if cfg.val_data:
        val_set = load_file(cfg.val_data)
        for check in (check_labelled, check_finite):
            check(val_set)
        check_features(val_set, train_set.num_features)
        if val_set.per_step != train_set.per_step:
            unit = {True: "step", False: "sequence"}
            raise SequenceDataError(
                f"--val-data {cfg.val_data}: the labels are one per {unit[val_set.per_step]}, "
                f"the training data's one per {unit[train_set.per_step]}; label both the same way"
            )
        encoder.encode(val_set)  # a validation label unknown to training: a clear error now
        return train_set, val_set
    if cfg.val_fraction:
        return stratified_split(train_set, cfg.val_fraction, cfg.seed + 1)
    return train_set, train_set  # select on the training loss (Karim et al., Fawaz et al.)


def train(args: argparse.Namespace) -> int:
    """``rnnkit classify train``: returns 0, or 130 when stopped by Ctrl-C."""
    out = prepare_run_dir(args.out, args.resume)
    resume_from = None
    if args.resume:
        cfg, resume_from = resume_config(Config, args, out, TASK, FIXED_ON_RESUME, head="auto")
    else:
        cfg = config_from_args(Config, args)
    train_set, test_set = load_splits(cfg)
    classes = LabelEncoder.fit(train_set).classes
    encoder = LabelEncoder(classes)
    encoder.encode(test_set)  # a test label unknown to training: a clear error now
    fit_set, val_set = _validation_split(cfg, train_set, encoder)
    cfg = _resolve(cfg, train_set, len(fit_set))
    y_fit, y_val = encoder.encode(fit_set), encoder.encode(val_set)
    seq_len = max(train_set.x.shape[1], test_set.x.shape[1], val_set.x.shape[1])

    seed_everything(cfg.seed)
    model = build_model(cfg, train_set.num_features, len(classes), seq_len)
    if cfg.normalize == "feature":
        mean, std = feature_stats(fit_set)
        model.mean.copy_(torch.from_numpy(mean))
        model.std.copy_(torch.from_numpy(std))
    steps_per_epoch = math.ceil(len(fit_set) / cfg.batch_size)

    def train_batch(step: int) -> tuple[PackedSequence, Tensor]:
        epoch, i = divmod(step, steps_per_epoch)
        order = np.random.default_rng((cfg.seed, epoch)).permutation(len(fit_set))
        return make_batch(fit_set, order[i * cfg.batch_size : (i + 1) * cfg.batch_size], y_fit)

    meta = {"classes": classes, "input_size": train_set.num_features, "seq_len": seq_len}
    trainer = Trainer(
        model, cfg, train_batch, lambda m: mean_loss(m, val_set, y_val), out, task=TASK,
        meta=meta, unit="seq", resume_from=resume_from,
    )  # fmt: skip
    n_params = sum(p.numel() for p in model.parameters())
    name = cfg.dataset or cfg.data
    print(
        f"classify: {name}: {len(fit_set)} training, "
        f"{0 if val_set is fit_set else len(val_set)} validation, {len(test_set)} test "
        f"sequences of up to {seq_len} steps x "
        f"{train_set.num_features} features, {len(classes)} classes; {type(model).__name__} "
        f"({cfg.cell.upper()} {cfg.hidden_size}), {n_params:,} parameters; {steps_per_epoch} "
        f"steps per epoch -> {out}",
        flush=True,
    )
    summary = trainer.fit()
    if summary["stop_reason"] == "interrupted":
        return 130
    report = _report_run(out, test_set, cfg.device)
    summary |= {f"test_{k}": report[k] for k in ("accuracy", "macro_f1", "log_loss", "n")}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(format_report(report, f"test ({test_set.source}), best.safetensors"))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit classify eval``: metrics on the run's test split (or ``--data``)."""
    _, cfg, _ = load_model(args.run)
    data = load_file(args.data) if args.data else load_splits(cfg)[1]
    report = _report_run(args.run, data, args.device)
    if args.json:
        print(json.dumps({k: report[k] for k in ("accuracy", "macro_f1", "n")}))
    else:
        print(format_report(report, f"{data.source}"))
        print(f"confusion matrix: {_run_dir(args.run) / 'confusion.png'}")
    return 0


def predict(args: argparse.Namespace) -> int:
    """``rnnkit classify predict``: a CSV of predicted labels and their probability."""
    model, _, meta = load_model(args.run, args.device)
    data = load_file(args.data)
    check_finite(data)
    check_features(data, meta["input_size"])
    probs = predict_proba(model, data)
    classes = meta["classes"]
    handle = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        writer = csv.writer(handle)
        if model.per_step:
            writer.writerow(["index", "step", "label", "probability"])
            for i, p in enumerate(probs):
                for t, k in enumerate(p.argmax(-1)):
                    writer.writerow([i, t, classes[k], f"{p[t, k]:.6f}"])
        else:
            writer.writerow(["index", "label", "probability"])
            for i, p in enumerate(probs):
                writer.writerow([i, classes[p.argmax()], f"{p.max():.6f}"])
    finally:
        if args.output:
            handle.close()
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the verbs train, eval and predict to the ``classify`` parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    p = verbs.add_parser("train", help="train a classifier", description="Train a classifier.")
    p.add_argument("--out", default="runs/classify", help="run directory (default: runs/classify)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    add_config_args(p, Config)
    p.set_defaults(func=train)

    p = verbs.add_parser(
        "eval", help="accuracy, macro-F1, per-class report", description="Evaluate a run."
    )
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--data", default="", help="labelled data (default: the run's test split)")
    p.add_argument("--json", action="store_true", help='print {"accuracy", "macro_f1", "n"}')
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.set_defaults(func=evaluate)

    p = verbs.add_parser("predict", help="label new sequences", description="Predict labels.")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--data", required=True, help=".ts, .csv, .npz or .npy sequences")
    p.add_argument("--output", default="", help="CSV file to write (default: stdout)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.set_defaults(func=predict)
