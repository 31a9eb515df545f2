"""What only classification needs of its data: named sets, the splits, the resolved config."""

from __future__ import annotations

import dataclasses
import math

from rnnkit.data.fashion_mnist import FASHION_MNIST_DIR, load_fashion_mnist
from rnnkit.data.ucr import (
    LabelEncoder,
    SequenceDataError,
    SequenceSet,
    bundled_datasets,
    check_features,
    check_finite,
    check_labelled,
    load_bundled,
    load_file,
    stratified_split,
)
from rnnkit.tasks.classify.config import AUTO_STEPS, AUTO_VAL, Config, resolve_model
from rnnkit.train.config import ConfigError


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


def resolve(cfg: Config, train_set: SequenceSet, fit_size: int) -> Config:
    """``cfg`` with what ``auto`` leaves to the data fixed: ``head`` by the labels, ``model``
    by the head (LSTM-FCN for a label per sequence), ``dropout`` by the model, ``max_steps`` by
    ``epochs`` of ``fit_size`` (or the auto budget: ``AUTO_STEPS``)."""
    head = "step" if train_set.per_step else "sequence"
    if cfg.head not in ("auto", head):
        raise ConfigError(
            f"--head {cfg.head}: the training data has a label per {head}; use --head {head}"
        )
    if head == "step" and cfg.model == "lstm_fcn":
        raise ConfigError("LSTM-FCN labels whole sequences, not steps; use --model rnn")
    steps_per_epoch = math.ceil(fit_size / cfg.batch_size)
    steps = cfg.max_steps
    if cfg.epochs:
        steps = cfg.epochs * steps_per_epoch
    elif steps == -1:
        least, epochs, most = AUTO_STEPS
        steps = min(most, max(least, epochs * steps_per_epoch))
    return resolve_model(dataclasses.replace(cfg, head=head, max_steps=steps))


def resolve_validation(cfg: Config, train_size: int) -> Config:
    """``cfg`` with ``val_fraction`` "auto" (-1) fixed for a training set of ``train_size``."""
    if cfg.val_fraction != -1:
        return cfg
    fraction, least = AUTO_VAL
    enough = not cfg.val_data and round(fraction * train_size) >= least
    return dataclasses.replace(cfg, val_fraction=fraction if enough else 0.0)


def validation_split(
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
