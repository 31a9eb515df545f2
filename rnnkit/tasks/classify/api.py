"""The Python API of ``rnnkit classify``: ``Classifier(**config).fit(X, y).predict(X)``.

``train_run`` is what ``rnnkit classify train`` and ``Classifier.fit`` both run; ``load_model``
rebuilds a classifier from a checkpoint alone; ``evaluate_model`` scores one on labelled data
(``rnnkit.metrics``).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from rnnkit.data.batch import ShardedBatch
from rnnkit.data.ucr import (
    IGNORE_INDEX,
    LabelEncoder,
    SequenceDataError,
    SequenceSet,
    check_features,
    check_finite,
    check_labelled,
    feature_stats,
    from_arrays,
    from_frame,
    load_file,
    make_batch,
)
from rnnkit.metrics import classification_report, log_loss
from rnnkit.tasks.classify.config import TASK, Config
from rnnkit.tasks.classify.data import (
    is_image_data,
    load_splits,
    resolve,
    resolve_validation,
    validation_split,
)
from rnnkit.tasks.classify.image_model import (
    check_images,
    describe_image_model,
    pixel_stats,
    write_transforms,
)
from rnnkit.tasks.classify.model import SequenceClassifier, build_model
from rnnkit.tasks.classify.swa import SWA_FILE, WeightAverage, finish_average
from rnnkit.train import distributed
from rnnkit.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    require_meta,
    resolve_checkpoint,
    strip_prefix,
)
from rnnkit.train.config import config_from_dict
from rnnkit.train.run import open_run
from rnnkit.train.runtime import resolve_device, seed_everything
from rnnkit.train.torch_engine import TorchEngine
from rnnkit.train.trainer import Trainer

EVAL_BATCH = 512


def load_model(path: str | Path, device: str = "auto") -> tuple[SequenceClassifier, Config, dict]:
    """The model (eval mode), config and checkpoint metadata of a run directory or file."""
    path = resolve_checkpoint(path)
    tensors, meta = load_checkpoint(path, task=TASK)
    require_meta(meta, ("config", "classes", "input_size", "seq_len"), path)
    classes, sizes = meta["classes"], (meta["input_size"], meta["seq_len"])
    if not (
        isinstance(classes, list)
        and all(isinstance(c, str) for c in classes)
        and len(set(classes)) == len(classes)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)
    ):
        raise CheckpointError(
            f"{path}: the checkpoint's classes, input_size or seq_len are damaged (edited?); "
            f"use the checkpoint as rnnkit wrote it, or train again"
        )
    cfg = config_from_dict(Config, meta["config"])
    model = build_model(cfg, meta["input_size"], len(meta["classes"]), meta["seq_len"])
    load_weights(model, strip_prefix("model", tensors), path)
    return model.to(resolve_device(device)).eval(), cfg, meta


def check_head(model: SequenceClassifier, data: SequenceSet) -> None:
    """SequenceDataError when ``data``'s labels are per step and the model's per sequence, or
    the other way round."""
    if data.labels is not None and data.per_step != model.per_step:
        want, got = ("step", "sequence") if model.per_step else ("sequence", "step")
        raise SequenceDataError(
            f"{data.source}: the model labels each {want} but the data has a label per {got}"
        )


def check_inputs(data: SequenceSet, input_size: int, height: int | None = None) -> SequenceSet:
    """``data``, checked to be finite with the model's number of features (and, for an image
    model, images of ``height`` rows)."""
    check_finite(data)
    if height is not None:
        check_images(data, height, input_size)
    check_features(data, input_size)
    return data


def model_inputs(model: SequenceClassifier, data: SequenceSet, meta: dict) -> SequenceSet:
    """``data`` checked as ``model`` reads it (``check_inputs``)."""
    return check_inputs(data, meta["input_size"], meta["seq_len"] if model.image else None)


# ---------------------------------------------------------------------------------------------
# evaluation: probabilities, loss, metrics


def _batches(data: SequenceSet, targets: np.ndarray | None = None):
    for start in range(0, len(data), EVAL_BATCH):
        index = np.arange(start, min(start + EVAL_BATCH, len(data)))
        yield index, make_batch(data, index, targets)


@torch.no_grad()
def predict_proba(model: SequenceClassifier, data: SequenceSet) -> list[np.ndarray]:
    """Class probabilities of each sequence: (C,), or (T_i, C) per step with a tagging head."""
    device = model.mean.device
    probs: list[np.ndarray] = []
    for index, (x, _) in _batches(data):
        p = model.predict(x.to(device)).cpu().numpy()  # (B, C) or (B, T_b, C)
        probs += [p[i] if p.ndim == 2 else p[i, : data.lengths[j]] for i, j in enumerate(index)]
    return probs


@torch.no_grad()
def mean_loss(model: SequenceClassifier, data: SequenceSet, targets: np.ndarray) -> float:
    """Mean cross-entropy per sequence (per valid step with a tagging head)."""
    device = model.mean.device
    total, count = 0.0, 0
    for _, (x, y) in _batches(data, targets):
        logits, _ = model(x.to(device))
        flat = logits.float().reshape(-1, logits.size(-1))  # (B, C) or (B*T_b, C)
        y = y.to(device).reshape(-1)
        total += F.cross_entropy(flat, y, ignore_index=IGNORE_INDEX, reduction="sum").item()
        count += int((y != IGNORE_INDEX).sum())
    return total / count


def evaluate_model(model: SequenceClassifier, classes: list[str], data: SequenceSet) -> dict:
    """``classification_report`` of ``model`` on labelled ``data`` (every valid step when
    tagging), with the mean cross-entropy of the true classes ("log_loss")."""
    check_head(model, data)
    targets = LabelEncoder(classes).encode(data)  # (N,) or (N, T)
    probs = predict_proba(model, data)
    if model.per_step:
        y_true = np.concatenate([targets[i, :n] for i, n in enumerate(data.lengths)])
        flat = np.concatenate(probs)  # (valid steps, C)
    else:
        y_true, flat = targets, np.stack(probs)  # (N,), (N, C)
    report = classification_report(y_true, flat.argmax(-1), classes)
    report["log_loss"] = log_loss(y_true, flat)
    report["per_step"] = model.per_step
    return report


# ---------------------------------------------------------------------------------------------
# training


def train_run(
    cfg: Config,
    train_set: SequenceSet,
    out: Path,
    resume_from: tuple[dict, dict] | None = None,
    verbose: bool = True,
    test_set: SequenceSet | None = None,
    label_dtype: str | None = None,
) -> tuple[Trainer, dict[str, Any] | None]:
    """Train ``cfg`` on ``train_set`` in the run directory ``out`` (held by ``open_run``), then
    score best.safetensors on ``test_set`` (its results go into summary.json). Returns the
    trainer (its ``summary``) and the test report (None without a test set or on Ctrl-C).
    ``label_dtype`` (the dtype of numeric labels, for ``Classifier.predict``) goes into the
    checkpoints' metadata."""
    for data in (train_set,) + ((test_set,) if test_set is not None else ()):
        check_labelled(data)
        check_finite(data)
    classes = LabelEncoder.fit(train_set).classes
    encoder = LabelEncoder(classes)
    if test_set is not None:
        check_features(test_set, train_set.num_features)
        encoder.encode(test_set)  # a test label unknown to training: a clear error now
    cfg = resolve_validation(cfg, len(train_set))
    fit_set, val_set = validation_split(cfg, train_set, encoder)
    cfg = resolve(cfg, train_set, len(fit_set), images=is_image_data(cfg))
    y_fit, y_val = encoder.encode(fit_set), encoder.encode(val_set)
    seq_len = max(d.x.shape[1] for d in (train_set, val_set, test_set) if d is not None)

    seed_everything(cfg.seed)
    model = build_model(cfg, train_set.num_features, len(classes), seq_len)
    if model.image:
        for data in (train_set, val_set) + ((test_set,) if test_set is not None else ()):
            check_images(data, train_set.x.shape[1], train_set.num_features)
    if cfg.normalize == "feature":
        mean, std = (pixel_stats if model.image else feature_stats)(fit_set)
        model.mean.copy_(torch.from_numpy(mean))
        model.std.copy_(torch.from_numpy(std))
    steps_per_epoch = math.ceil(len(fit_set) / cfg.batch_size)
    dist = distributed.current()
    verbose = verbose and dist.is_main  # under torchrun, rank 0 alone prints and writes

    def train_batch(step: int) -> tuple[PackedSequence, Tensor] | ShardedBatch:
        epoch, i = divmod(step, steps_per_epoch)
        order = np.random.default_rng((cfg.seed, epoch)).permutation(len(fit_set))
        index = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]  # the global batch
        if not dist.enabled:
            return make_batch(fit_set, index, y_fit)
        # torchrun: this rank's part, its mean loss weighted by its share of the loss terms
        # (sequences, or labelled steps), so that DDP's average is the global batch's
        part = distributed.shard(index)
        terms = int((y_fit[part.index] != IGNORE_INDEX).sum())
        share = 0.0 if part.empty else terms / int((y_fit[index] != IGNORE_INDEX).sum())
        return ShardedBatch(*make_batch(fit_set, part.index, y_fit), share)

    engine = TorchEngine(model, cfg, train_batch, lambda m: mean_loss(m, val_set, y_val))
    meta = {"classes": classes, "input_size": train_set.num_features, "seq_len": seq_len}
    if label_dtype is not None:
        meta["label_dtype"] = label_dtype
    trainer = Trainer(
        engine, cfg, out, task=TASK, meta=meta, unit="seq", resume_from=resume_from,
        verbose=verbose,
    )  # fmt: skip
    average = None
    if cfg.swa and cfg.max_steps:
        sizes = (cfg, train_set.num_features, len(classes), seq_len)
        average = WeightAverage(
            model, int(cfg.max_steps * (1 - cfg.swa)), lambda: build_model(*sizes)
        )
        if resume_from is not None:
            average.load(out / SWA_FILE, trainer.step)
        trainer.add_callback("step", average)
        if dist.is_main:
            trainer.add_callback("eval", lambda t: average.save(out / SWA_FILE, t.step))
    if verbose:
        n_params = sum(p.numel() for p in model.parameters())
        what = f"sequences of up to {seq_len} steps x {train_set.num_features} features"
        name = f"{type(model).__name__} ({cfg.cell.upper()} {cfg.hidden_size})"
        if model.image:
            what = f"images of {seq_len} x {train_set.num_features} pixels"
            name = describe_image_model(cfg)
        print(
            f"classify: {cfg.dataset or cfg.data or train_set.source}: {len(fit_set)} training, "
            f"{0 if val_set is fit_set else len(val_set)} validation"
            + (f", {len(test_set)} test" if test_set is not None else "")
            + f" {what}, {len(classes)} classes; {name}, {n_params:,} parameters; "
            f"{steps_per_epoch} steps per epoch -> {out}",
            flush=True,
        )
    summary = trainer.fit()
    transformer = model.image and model.transformer is not None
    stopped = summary["stop_reason"] == "interrupted" or not dist.is_main
    if average is not None and summary["stop_reason"] == "interrupted" and dist.is_main:
        average.save(out / SWA_FILE, trainer.step)  # beside last.safetensors, for --resume
    if stopped:
        return trainer, None
    if average is not None and average.count:
        averaged = average.averaged(fit_set)
        loss = mean_loss(averaged, val_set, y_val)
        finish_average(trainer, average, averaged, loss, val_set is fit_set, out)
    if test_set is None and not transformer:
        return trainer, None
    best, _, _ = load_model(out, cfg.device)
    if transformer:  # what the transformer makes of the first test (or validation) images
        write_transforms(best, test_set if test_set is not None else val_set, out)
    if test_set is None:
        return trainer, None
    report = evaluate_model(best, classes, test_set)
    trainer.add_results(
        **{f"test_{k}": report[k] for k in ("accuracy", "macro_f1", "log_loss", "n")}
    )
    return trainer, report


# ---------------------------------------------------------------------------------------------
# the Python API


def _label_array(y: Any) -> np.ndarray:
    """Labels as one array: (N,) or (N, T) as given; per-step labels of unequal lengths (a list
    of (T_i,) arrays) padded to (N, max T_i) with their first value (padding is never read)."""
    if isinstance(y, list | tuple) and len(y) and all(np.ndim(v) == 1 for v in y):
        rows = [np.asarray(v) for v in y]
        if len({len(r) for r in rows}) > 1:
            flat = np.concatenate(rows)  # the labels' common dtype
            padded = np.full((len(rows), max(len(r) for r in rows)), flat[0], dtype=flat.dtype)
            for i, r in enumerate(rows):
                padded[i, : len(r)] = r
            return padded
    return np.asarray(y)


def as_sequences(x: Any, y: Any = None, source: str = "X") -> SequenceSet:
    """A SequenceSet of what users hold: a SequenceSet; a path (.ts, long CSV, .npz, .npy); a
    long-form DataFrame (``id``, optional ``label``, numeric features; sequences in the order
    of their first rows); an array (N, T, F) or (N, T), or a list of (T_i, F) / (T_i,) arrays,
    with labels ``y``: (N,), or per step (N, T) or a list of (T_i,) arrays."""
    if not isinstance(x, SequenceSet | str | Path | pd.DataFrame | np.ndarray | list):
        raise TypeError(
            f"{source}: expected an array (N, T, F), a list of (T, F) arrays, a long-form "
            f"DataFrame or a path, got {type(x).__name__}"
        )
    if isinstance(x, np.ndarray | list):
        labels = None if y is None else _label_array(y)
        data = from_arrays(x, labels, source=source)
        if isinstance(y, list | tuple) and labels.ndim == 2:  # a list of per-step labels
            counts = np.array([len(v) for v in y])
            for i in np.flatnonzero(counts != data.lengths)[:1]:
                raise SequenceDataError(
                    f"y: expected a label per step, got {counts[i]} label(s) for the "
                    f"{data.lengths[i]} step(s) of sequence {i}"
                )
        return data
    if y is not None:
        what = {SequenceSet: "a SequenceSet", pd.DataFrame: "a DataFrame (its 'label' column)"}
        raise ValueError(f"{source}: {what.get(type(x), 'a file')} carries its own labels; drop y")
    if isinstance(x, SequenceSet):
        return x
    return from_frame(x, source) if isinstance(x, pd.DataFrame) else load_file(x)


def _label_dtype(x: Any, y: Any) -> str | None:
    """The dtype (``np.dtype.str``) of labels given as numbers or booleans (``y``, else a
    DataFrame's ``label`` column), which ``predict`` gives back; None for any other labels."""
    if y is not None:
        dtype = _label_array(y).dtype
    elif isinstance(x, pd.DataFrame) and "label" in x.columns:
        dtype = x["label"].dtype
    else:
        return None
    return dtype.str if isinstance(dtype, np.dtype) and dtype.kind in "biuf" else None


def _class_values(classes: list[str], label_dtype: str | None) -> np.ndarray:
    """The class names as labels of ``label_dtype`` (None: strings)."""
    if label_dtype is None:
        return np.array(classes, dtype=str)
    if np.dtype(label_dtype).kind == "b":
        return np.array([c == "True" for c in classes])
    return np.array(classes).astype(label_dtype)


class Classifier:
    """The Python API of ``rnnkit classify``, in the manner of sktime's classifiers.

    ``Classifier(**config)`` takes fields of ``Config`` (``model="lstm_fcn", max_steps=500``).
    ``fit(X, y)`` trains on sequences (see ``as_sequences``; X None: the config's ``dataset``
    or ``data``, its training split) in ``out`` (default: a temporary directory, removed after;
    the model stays in memory). Then ``predict(X)`` gives labels, ``predict_proba(X)`` class
    probabilities (columns in ``classes_`` order), ``evaluate(X, y)`` accuracy, macro-F1, log
    loss, per-class scores and the confusion matrix. ``Classifier.load(run)`` loads any run.

    Labels: ``classes_`` and what ``predict`` returns have the dtype of the labels given to
    ``fit`` when they were numbers or booleans (``y``, or a DataFrame's ``label`` column; kept
    in the checkpoint, so ``load`` gives them back too); otherwise they are strings (``str``
    arrays), as are the labels read from files. ``fit(verbose=True)`` prints the progress;
    by default nothing is printed.
    """

    def __init__(self, **config: Any):
        self.cfg = config_from_dict(Config, {"tensorboard": False} | config)
        self.model: SequenceClassifier | None = None
        self.classes_: np.ndarray = np.array([], dtype=str)
        self.summary: dict[str, Any] = {}

    def fit(
        self, X: Any = None, y: Any = None, out: str | Path | None = None, verbose: bool = False
    ) -> Classifier:
        """Train on ``X`` (and labels ``y``) in ``out``; returns self. Prints nothing unless
        ``verbose``. ``out`` must be new or empty (a ConfigError otherwise)."""
        train_set = load_splits(self.cfg)[0] if X is None else as_sequences(X, y)
        label_dtype = _label_dtype(X, y)
        with tempfile.TemporaryDirectory(prefix="rnnkit-classify-") as tmp:
            with open_run(out if out is not None else tmp, False, TASK) as run:
                trainer, _ = train_run(
                    self.cfg, train_set, run, verbose=verbose, label_dtype=label_dtype
                )
            self._set(*load_model(run, self.cfg.device))
        self.summary = trainer.summary
        return self

    @classmethod
    def load(cls, run: str | Path, device: str = "auto") -> Classifier:
        """The classifier of a run directory or checkpoint (``rnnkit classify train --out``)."""
        self = cls.__new__(cls)
        self._set(*load_model(run, device))
        self.summary = {}
        return self

    def _set(self, model: SequenceClassifier, cfg: Config, meta: dict) -> None:
        self.model, self.cfg = model, cfg
        self._classes, self._meta = list(meta["classes"]), meta
        self.classes_ = _class_values(self._classes, meta.get("label_dtype"))

    def _data(self, X: Any, y: Any = None) -> SequenceSet:
        if self.model is None:
            raise RuntimeError("Classifier: expected a trained model; call fit() or load() first")
        return model_inputs(self.model, as_sequences(X, y), self._meta)

    def predict_proba(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Probabilities (N, C), columns in ``classes_`` order; with a tagging model a list of
        (T_i, C), one per sequence."""
        probs = predict_proba(self.model, self._data(X))
        return probs if self.model.per_step else np.stack(probs)

    def predict(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Labels (N,) (of ``classes_``'s dtype); with a tagging model a list of (T_i,) label
        arrays, one per sequence."""
        probs = self.predict_proba(X)
        if self.model.per_step:
            return [self.classes_[p.argmax(-1)] for p in probs]
        return self.classes_[probs.argmax(-1)]

    def evaluate(self, X: Any, y: Any = None) -> dict[str, Any]:
        """Accuracy, macro-F1, log loss, per-class scores and confusion (rows: true class,
        columns: predicted, in ``classes_`` order) on labelled data; every valid step counts
        with a tagging model."""
        data = self._data(X, y)
        check_labelled(data)
        return evaluate_model(self.model, self._classes, data)
