"""What only classification needs of its data: named sets, the splits, the resolved config.

Images are sequences of H rows of W pixels (``SequenceSet`` x (N, H, W)): the distorted
Fashion-MNIST sets (``rnnkit.data.distorted``, made from Debian's Fashion-MNIST or from the
MNIST-format IDX files of ``--data DIR``) and a folder of IDX files (``--data DIR``) are image
data, which ``--model auto`` gives to ST-CNN. Plain ``--dataset FashionMNIST`` keeps being read
row by row by the sequence models unless ``--model`` names an image model.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from rnnkit.data.fashion_mnist import CLASSES, FASHION_MNIST_DIR, load_fashion_mnist
from rnnkit.data.images import ImageSet, find_idx, load_image_folder
from rnnkit.data.ucr import (
    LabelEncoder,
    SequenceDataError,
    SequenceSet,
    bundled_datasets,
    check_features,
    check_finite,
    check_labelled,
    from_arrays,
    load_bundled,
    load_file,
    stratified_split,
)
from rnnkit.tasks.classify.config import (
    AUTO_STEPS,
    AUTO_VAL,
    IMAGE_MODELS,
    Config,
    resolve_model,
)
from rnnkit.train.config import ConfigError


def distorted_names() -> tuple[str, ...]:
    """The distorted Fashion-MNIST sets: FashionMNIST-R, -RTS, -P, -E, -Cluttered."""
    from rnnkit.data.distorted import BASE, NAMES  # scipy: imported when asked for

    return tuple(n for n in NAMES if n != BASE)


def is_image_data(cfg: Config) -> bool:
    """True when ``cfg``'s data are images: a distorted set, or ``--data`` a folder."""
    return cfg.dataset in distorted_names() or bool(cfg.data) and Path(cfg.data).is_dir()


def image_sequences(images: ImageSet, classes: tuple[str, ...] | None) -> SequenceSet:
    """Labelled images (N, H, W) as a SequenceSet of N sequences of H rows; labels named by
    ``classes`` (None: the label ids as text, the ids present declared in numeric order)."""
    if images.labels is None:
        raise SequenceDataError(
            f"{images.source}: no labels (expected the *-labels-idx1-ubyte file beside it)"
        )
    if classes is None:
        classes = tuple(str(v) for v in np.unique(images.labels))
        names = images.labels.astype(str)
    else:
        names = np.asarray(classes)[images.labels]
    return from_arrays(images.images, names, classes=classes, source=images.source)


def load_image_splits(
    folder: str | Path, test_fraction: float, seed: int
) -> tuple[SequenceSet, SequenceSet]:
    """(train, test) of a folder of MNIST-format IDX files: its t10k files, else a stratified
    ``test_fraction`` of its training images."""
    train_set = image_sequences(load_image_folder(folder, "train"), None)
    if find_idx(folder, "t10k", "images") is None:
        return stratified_split(train_set, test_fraction, seed)
    test_images = load_image_folder(folder, "test")
    return train_set, image_sequences(test_images, train_set.classes)


def load_path(path: str | Path) -> SequenceSet:
    """The data of ``path`` for eval and predict: a file (``load_file``), or a folder of IDX
    files (its t10k images, else its training images)."""
    if not Path(path).is_dir():
        return load_file(path)
    split = "test" if find_idx(path, "t10k", "images") is not None else "train"
    images = load_image_folder(path, split)
    if images.labels is None:  # unlabelled images: prediction only
        x = images.images
        return from_arrays(x, lengths=np.full(len(x), x.shape[1]), source=images.source)
    return image_sequences(images, None)


def load_named(name: str, root: str | Path | None = None) -> tuple[SequenceSet, SequenceSet]:
    """(train, test) of a named data set: FashionMNIST, a distorted Fashion-MNIST (made from
    the IDX files in ``root`` where given), or a UCR/UEA set bundled with sktime."""
    if name == "FashionMNIST":
        return load_fashion_mnist(FASHION_MNIST_DIR)
    distorted = distorted_names()
    if name in distorted:
        from rnnkit.data.distorted import distorted_images

        classes = CLASSES if root is None else None
        train_set, test_set = (
            image_sequences(ImageSet(*distorted_images(name, split, root), name), classes)
            for split in ("train", "test")
        )
        return train_set, dataclasses.replace(test_set, source=f"{name} test")
    names = bundled_datasets()
    if name not in names:
        raise SequenceDataError(
            f"--dataset {name}: unknown; the sets available offline are {', '.join(names)} "
            f"(bundled with sktime), FashionMNIST (Debian's dataset-fashion-mnist) and the "
            f"distorted {', '.join(distorted)}; pass any other set as a file with --data"
        )
    return load_bundled(name)


def load_splits(cfg: Config) -> tuple[SequenceSet, SequenceSet]:
    """(train, test) of ``cfg``'s data, checked: labelled, finite, same features."""
    if not cfg.dataset and not cfg.data:
        raise ConfigError("no data: expected --dataset NAME or --data PATH")
    if cfg.dataset:
        train_set, test_set = load_named(cfg.dataset, cfg.data or None)
    elif Path(cfg.data).is_dir():
        train_set, test_set = load_image_splits(cfg.data, cfg.test_fraction, cfg.seed)
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


def resolve(cfg: Config, train_set: SequenceSet, fit_size: int, images: bool = False) -> Config:
    """``cfg`` with what ``auto`` leaves to the data fixed: ``head`` by the labels, ``model``
    by the head (LSTM-FCN for a label per sequence) or ST-CNN for ``images``, ``dropout`` by the
    model, ``max_steps`` by ``epochs`` of ``fit_size`` (or the auto budget: ``AUTO_STEPS``)."""
    head = "step" if train_set.per_step else "sequence"
    if cfg.head not in ("auto", head):
        raise ConfigError(
            f"--head {cfg.head}: the training data has a label per {head}; use --head {head}"
        )
    if head == "step" and cfg.model == "lstm_fcn":
        raise ConfigError("LSTM-FCN labels whole sequences, not steps; use --model rnn")
    if head == "step" and cfg.model in IMAGE_MODELS:
        raise ConfigError(f"--model {cfg.model} labels whole images, not steps; use --model rnn")
    steps_per_epoch = math.ceil(fit_size / cfg.batch_size)
    steps = cfg.max_steps
    if cfg.epochs:
        steps = cfg.epochs * steps_per_epoch
    elif steps == -1:
        least, epochs, most = AUTO_STEPS
        steps = min(most, max(least, epochs * steps_per_epoch))
    return resolve_model(dataclasses.replace(cfg, head=head, max_steps=steps), images)


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
