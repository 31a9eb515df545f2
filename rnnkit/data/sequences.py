"""Labelled sequence sets: ``SequenceSet``, built from arrays, checked, labelled, split, batched.

A ``SequenceSet`` holds N sequences of up to T steps and F features as one zero-padded cube
``x`` (N, T, F) with their ``lengths`` (N,), and string labels: one per sequence (N,) for
many-to-one classification, or one per step (N, T) for many-to-many tagging. Padding is never
data: a batch of unequal lengths is a PackedSequence built from the lengths, so what lies beyond
a sequence's end cannot reach a model.

``from_arrays`` builds a set from a cube or a list of arrays; ``check_*`` hold the checks a task
needs before training or predicting (labels present, two classes or more, no NaN, the model's
feature count); ``LabelEncoder`` maps labels to class ids, ``stratified_split`` holds out a
fraction of each class, ``feature_stats`` and ``make_batch`` serve training. The readers of
sequence files are in ``sequence_files.py``, the bundled UCR/UEA sets in ``ucr.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

IGNORE_INDEX = -100  # the target of a padded step in tagging (torch's cross-entropy default)


class SequenceDataError(ValueError):
    """Sequence data that cannot be used; the message says what is wrong and what to do."""


@dataclass
class SequenceSet:
    """N labelled (or unlabelled) sequences, zero-padded to a common length.

    Attributes:
        x: (N, T, F) float32; steps at and beyond ``lengths[i]`` are zero.
        lengths: (N,) int64, each in 1..T.
        labels: (N,) str (one label a sequence), (N, T) str (one a step, "" beyond the length)
            or None (unlabelled).
        classes: the class order the source declares (a ``.ts`` header, Fashion-MNIST), or None.
        source: where the data came from, for messages.
        ids: (N,) str, each sequence's id in the source (a CSV's ``id`` column), or None.
    """

    x: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray | None
    classes: tuple[str, ...] | None
    source: str
    ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)

    @property
    def num_features(self) -> int:
        return self.x.shape[2]

    @property
    def per_step(self) -> bool:
        """True when the labels are one per step (tagging)."""
        return self.labels is not None and self.labels.ndim == 2

    def subset(self, index: np.ndarray) -> SequenceSet:
        """The sequences at ``index``, padding trimmed to the longest of them."""
        lengths = self.lengths[index]
        t = int(lengths.max()) if len(lengths) else 0
        labels = None if self.labels is None else self.labels[index]
        if labels is not None and labels.ndim == 2:
            labels = labels[:, :t]
        ids = None if self.ids is None else self.ids[index]
        return SequenceSet(self.x[index, :t], lengths, labels, self.classes, self.source, ids)


# ---------------------------------------------------------------------------------------------
# building a set from arrays


def _label_strings(y: np.ndarray) -> np.ndarray:
    """Labels as strings: integer-valued floats as integers ("1", not "1.0"); NaN/None as ""."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        missing = np.isnan(y)
        whole = np.all(y[~missing] == np.round(y[~missing]))
        text = np.where(missing, "", (y.astype(np.int64) if whole else y).astype(str))
        return text.astype(str)
    if y.dtype.kind == "O":
        return np.array(["" if v is None or v != v else str(v) for v in y.ravel()]).reshape(y.shape)
    return y.astype(str)


def from_arrays(
    x: np.ndarray | list[np.ndarray],
    y: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    classes: tuple[str, ...] | None = None,
    source: str = "arrays",
) -> SequenceSet:
    """A SequenceSet from a cube (N, T, F) or (N, T), or a list of (T_i, F) / (T_i,) arrays.

    ``lengths`` (N,) marks how many steps of each row of a cube are data (default: all); ``y``
    is (N,) for a label a sequence, (N, T) for a label a step. Labels become strings.
    """
    if isinstance(x, list):
        seqs = [np.asarray(s, dtype=np.float32) for s in x]
        seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]  # (T_i, F)
        if not seqs or any(s.ndim != 2 or len(s) == 0 for s in seqs):
            raise SequenceDataError(f"{source}: expected non-empty (T, F) sequences")
        if len({s.shape[1] for s in seqs}) > 1:
            counts = sorted({s.shape[1] for s in seqs})
            raise SequenceDataError(f"{source}: sequences have different feature counts {counts}")
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        cube = np.zeros((len(seqs), lengths.max(), seqs[0].shape[1]), dtype=np.float32)
        for i, s in enumerate(seqs):
            cube[i, : len(s)] = s
    else:
        cube = np.asarray(x)
        if cube.dtype.kind not in "fiub":
            raise SequenceDataError(f"{source}: expected numeric x, got dtype {cube.dtype}")
        cube = cube.astype(np.float32)
        if cube.ndim == 2:
            cube = cube[:, :, None]  # (N, T, 1)
        if cube.ndim != 3 or cube.shape[0] == 0 or cube.shape[1] == 0:
            raise SequenceDataError(
                f"{source}: expected x of shape (N, T, F) or (N, T) with N, T >= 1, "
                f"got {cube.shape}"
            )
        if lengths is None:
            lengths = np.full(len(cube), cube.shape[1], dtype=np.int64)
        lengths = np.asarray(lengths)
        if lengths.shape != (len(cube),) or lengths.dtype.kind not in "iu":
            raise SequenceDataError(
                f"{source}: expected lengths of shape ({len(cube)},) of ints, got "
                f"{lengths.shape} {lengths.dtype}"
            )
        lengths = lengths.astype(np.int64)
        if lengths.min() < 1 or lengths.max() > cube.shape[1]:
            raise SequenceDataError(
                f"{source}: lengths must be in 1..{cube.shape[1]} (the T of x), got "
                f"{lengths.min()}..{lengths.max()}"
            )
        steps = np.arange(cube.shape[1])
        cube[steps[None, :] >= lengths[:, None]] = 0.0  # padding is zero, whatever it was
    labels = None
    if y is not None:
        labels = _label_strings(y)
        if labels.shape not in ((len(cube),), cube.shape[:2]):
            raise SequenceDataError(
                f"{source}: expected labels of shape ({len(cube)},) (one a sequence) or "
                f"{cube.shape[:2]} (one a step), got {labels.shape}"
            )
        if labels.ndim == 2:
            labels = np.where(np.arange(cube.shape[1])[None, :] < lengths[:, None], labels, "")
    return SequenceSet(cube, lengths, labels, classes, source)


# ---------------------------------------------------------------------------------------------
# checks


def check_finite(data: SequenceSet) -> None:
    """Refuse NaN or infinite values within the sequences."""
    bad = ~np.isfinite(data.x)
    if bad.any():
        i, t, f = np.argwhere(bad)[0]
        raise SequenceDataError(
            f"{data.source}: {int(bad.sum())} NaN or infinite value(s), the first at sequence "
            f"{i}, step {t}, feature {f}; fill or drop missing values first"
        )


def check_labelled(data: SequenceSet) -> None:
    """Refuse data without labels, with a missing label, or with a single class."""
    if data.labels is None:
        raise SequenceDataError(
            f"{data.source}: no labels; training and evaluation need them (a 'label' column in "
            f"a CSV, 'y' in a .npz, '@classLabel true' in a .ts file)"
        )
    valid = data.labels if not data.per_step else data.labels[_step_mask(data)]
    missing = np.flatnonzero(valid == "")
    if len(missing):
        where = "sequence" if not data.per_step else "labelled step"
        raise SequenceDataError(
            f"{data.source}: {len(missing)} missing label(s), the first at {where} {missing[0]}"
        )
    classes = [str(c) for c in np.unique(valid)]
    if len(classes) < 2:
        raise SequenceDataError(
            f"{data.source}: a single class ({classes[0]!r}); classification needs two or more"
        )


def check_features(data: SequenceSet, expected: int) -> None:
    """Refuse data whose feature count is not the model's."""
    if data.num_features != expected:
        raise SequenceDataError(
            f"{data.source}: sequences have {data.num_features} feature(s), the model was "
            f"trained on {expected}"
        )


def _step_mask(data: SequenceSet) -> np.ndarray:
    """(N, T) True at the steps within each sequence's length."""
    return np.arange(data.x.shape[1])[None, :] < data.lengths[:, None]


# ---------------------------------------------------------------------------------------------
# labels, splits, statistics, batches


def _class_order(labels: np.ndarray) -> list[str]:
    """Distinct labels, numerically ordered when all are numbers, else alphabetically."""
    distinct = [str(v) for v in np.unique(labels) if v != ""]
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


class LabelEncoder:
    """Maps string labels to class ids 0..C-1 and back, in a fixed class order."""

    def __init__(self, classes: list[str] | tuple[str, ...]):
        if len(set(classes)) != len(classes):
            raise SequenceDataError(f"LabelEncoder: duplicate classes in {list(classes)}")
        self.classes = [str(c) for c in classes]
        self._ids = {c: i for i, c in enumerate(self.classes)}

    @classmethod
    def fit(cls, data: SequenceSet) -> LabelEncoder:
        """The classes of ``data``: its declared order, else sorted."""
        check_labelled(data)
        seen = _class_order(data.labels)
        if data.classes is not None and set(seen) <= set(data.classes):
            return cls(list(data.classes))
        return cls(seen)

    def encode(self, data: SequenceSet) -> np.ndarray:
        """Class ids (N,) or (N, T) with ``IGNORE_INDEX`` beyond each length; refuse unknowns."""
        check_labelled(data)
        labels = data.labels if not data.per_step else np.where(_step_mask(data), data.labels, "")
        unknown = sorted({str(v) for v in np.unique(labels)} - set(self._ids) - {""})
        if unknown:
            raise SequenceDataError(
                f"{data.source}: label(s) {unknown[:5]} are not among the model's classes "
                f"{self.classes}"
            )
        table = {**self._ids, "": IGNORE_INDEX}
        return np.vectorize(table.__getitem__, otypes=[np.int64])(labels)

    def decode(self, ids: np.ndarray) -> np.ndarray:
        """Labels of class ids."""
        return np.asarray(self.classes, dtype=object)[ids]


def stratified_split(
    data: SequenceSet, fraction: float, seed: int
) -> tuple[SequenceSet, SequenceSet]:
    """(rest, held out): about ``fraction`` of each class held out (at least one of each class
    with two or more members), drawn with ``seed``. Per-step labels split uniformly."""
    rng = np.random.default_rng(seed)
    if data.per_step or data.labels is None:
        order = rng.permutation(len(data))
        held = order[: max(1, round(fraction * len(data)))]
    else:
        held_parts = []
        for c in _class_order(data.labels):
            members = rng.permutation(np.flatnonzero(data.labels == c))
            k = round(fraction * len(members))
            held_parts.append(members[: max(k, 1) if len(members) > 1 else k])
        held = np.concatenate(held_parts)
    mask = np.zeros(len(data), dtype=bool)
    mask[held] = True
    if mask.all() or not mask.any():
        raise SequenceDataError(
            f"{data.source}: cannot hold out {fraction:g} of {len(data)} sequences"
        )
    return data.subset(np.flatnonzero(~mask)), data.subset(np.flatnonzero(mask))


def feature_stats(data: SequenceSet) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (F,) of each feature over all valid steps (std >= 1e-6)."""
    values = data.x[_step_mask(data)]  # (steps, F)
    return values.mean(0), np.maximum(values.std(0), 1e-6)


def make_batch(
    data: SequenceSet, index: np.ndarray, targets: np.ndarray | None = None
) -> tuple[PackedSequence | torch.Tensor, torch.Tensor | None]:
    """The sequences at ``index`` and their targets (B,) or (B, T_b): a PackedSequence, or a
    (B, T_b, F) tensor when all have the same length (torch's fused kernels run faster so)."""
    lengths = torch.from_numpy(data.lengths[index])
    t = int(lengths.max())
    x = torch.from_numpy(data.x[index, :t])  # (B, T_b, F)
    if not bool((lengths == t).all()):
        x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    if targets is None:
        return x, None
    y = targets[index] if targets.ndim == 1 else targets[index, :t]  # (B,) or (B, T_b)
    return x, torch.from_numpy(np.ascontiguousarray(y))
