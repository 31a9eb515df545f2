"""What only DRAW needs of its data: the splits, binarized, and the training batches.

The validation images are a fixed draw from the training split (seed ``DATA_SEED``, not the
run's seed, so that runs with other seeds are scored on the same images), as are the
stochastic binarizations of every split: the bounds of two runs are comparable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rnnkit.data.images import IMAGES_DIR, ImageDataError, as_images, binarize, load_image_folder
from rnnkit.tasks.draw.config import Config

DATA_SEED = 0  # the validation split and the binarizations drawn once
_SPLIT_SEEDS = {"train": 1, "val": 2, "test": 3}  # each split's own draws


@dataclass
class Splits:
    """Training images (binary uint8, or gray float32 with dynamic binarization), and the
    binary validation (and test) images, each (N, H, W)."""

    fit: np.ndarray
    val: np.ndarray
    test: np.ndarray | None
    source: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.val.shape[1], self.val.shape[2]


def binary(images: np.ndarray, cfg: Config, split: str) -> np.ndarray:
    """``images`` (gray, [0, 1]) binarized as ``cfg`` says, drawn once for ``split``."""
    method = "threshold" if cfg.binarize == "threshold" else "stochastic"
    rng = np.random.default_rng((DATA_SEED, _SPLIT_SEEDS[split]))
    return binarize(images, method, cfg.threshold, rng)


def check_binary(images: np.ndarray, what: str = "images") -> np.ndarray:
    """``images`` (N, H, W) (or one (H, W)) of 0 and 1 only, as uint8."""
    values = np.asarray(images)
    checked = as_images(values, what)  # (N, H, W) float32 in [0, 1] (uint8 divided by 255)
    if values.dtype == np.uint8:
        checked = values.reshape(checked.shape)
    if not np.isin(checked, (0, 1)).all():
        raise ImageDataError(
            f"{what}: expected binary images (0 and 1) for a Bernoulli likelihood; binarize "
            f"them first (rnnkit.data.images.binarize)"
        )
    return checked.astype(np.uint8)


def load_images(cfg: Config, split: str) -> np.ndarray:
    """The gray images (N, H, W) of ``split`` ("train" or "test") of ``cfg``'s folder."""
    return load_image_folder(cfg.data or IMAGES_DIR, split).images


def make_splits(cfg: Config, train: np.ndarray, test: np.ndarray | None = None) -> Splits:
    """Hold out ``cfg.val_size`` of ``train`` (gray images), keep ``cfg.train_size`` of the
    rest and binarize (the training images stay gray with dynamic binarization)."""
    train = as_images(train, "training images")
    if len(train) <= cfg.val_size:
        raise ImageDataError(
            f"--val-size {cfg.val_size}: the training split has only {len(train)} images; "
            f"pass a smaller --val-size"
        )
    order = np.random.default_rng(DATA_SEED).permutation(len(train))
    val, fit = train[np.sort(order[: cfg.val_size])], train[np.sort(order[cfg.val_size :])]
    if cfg.train_size:
        fit = fit[: cfg.train_size]
    if test is not None:
        test = as_images(test, "test images")
        if test.shape[1:] != train.shape[1:]:
            raise ImageDataError(
                f"test images are {test.shape[1]} x {test.shape[2]}, the training images "
                f"{train.shape[1]} x {train.shape[2]}; pass images of one size"
            )
        test = binary(test, cfg, "test")
    if cfg.binarize != "dynamic":
        fit = binary(fit, cfg, "train")
    return Splits(fit, binary(val, cfg, "val"), test, cfg.data or str(IMAGES_DIR))


def steps_per_epoch(cfg: Config, splits: Splits) -> int:
    return math.ceil(len(splits.fit) / cfg.batch_size)


def train_batch(cfg: Config, splits: Splits, step: int) -> torch.Tensor:
    """The batch (B, H, W) float32 of ``step``, a pure function of it (a resumed run sees the
    same batches): an epoch's shuffle of the training images, binarized anew with dynamic."""
    epoch, i = divmod(step, steps_per_epoch(cfg, splits))
    order = np.random.default_rng((cfg.seed, epoch)).permutation(len(splits.fit))
    images = splits.fit[order[i * cfg.batch_size : (i + 1) * cfg.batch_size]]
    if cfg.binarize == "dynamic":
        images = binarize(images, "stochastic", rng=np.random.default_rng((cfg.seed, step, 1)))
    return torch.from_numpy(images.astype(np.float32))
