"""Images as arrays (N, H, W): read from MNIST-format IDX files, checked, binarized.

A folder of images is what MNIST and Fashion-MNIST ship: ``train-images-idx3-ubyte`` and
``t10k-images-idx3-ubyte`` (gzipped with ``.gz`` or not; the ``train-images.idx3-ubyte``
spelling too), with the labels ``{train,t10k}-labels-idx1-ubyte`` when present. Debian's
``dataset-fashion-mnist`` package installs them under ``/usr/share/datasets/fashion-mnist``,
the default folder. The IDX reader is ``rnnkit.data.fashion_mnist.read_idx``.

Pixels are float32 in [0, 1] (uint8 files divided by 255). ``binarize`` makes the binary images
a Bernoulli likelihood needs, by a fixed threshold or stochastically (each pixel 1 with its
intensity as probability, as Larochelle & Murray's binarized MNIST was made).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rnnkit.data.fashion_mnist import FASHION_MNIST_DIR, INSTALL_HINT, read_idx

IMAGES_DIR = FASHION_MNIST_DIR  # the default folder: Debian's Fashion-MNIST
SPLITS = {"train": "train", "test": "t10k"}  # split -> the files' prefix
BINARIZE = ("threshold", "stochastic")


class ImageDataError(ValueError):
    """Images that cannot be used; the message says which and what to do."""


@dataclass
class ImageSet:
    """Images (N, H, W) float32 in [0, 1], their labels (N,) int64 or None, and their source."""

    images: np.ndarray
    labels: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(self.images)

    @property
    def height(self) -> int:
        return self.images.shape[1]

    @property
    def width(self) -> int:
        return self.images.shape[2]

    def subset(self, index: np.ndarray | slice) -> ImageSet:
        """The images (and labels) at ``index``."""
        labels = None if self.labels is None else self.labels[index]
        return ImageSet(self.images[index], labels, self.source)


def as_images(values: np.ndarray, source: str = "images") -> np.ndarray:
    """``values`` checked and made float32 in [0, 1]: (N, H, W) of uint8 (divided by 255) or of
    floats already in [0, 1]; a single (H, W) image becomes (1, H, W)."""
    values = np.asarray(values)
    if values.ndim == 2:
        values = values[None]  # (1, H, W)
    if values.ndim != 3 or 0 in values.shape:
        raise ImageDataError(
            f"{source}: expected images (N, H, W) (or one image (H, W)), got shape {values.shape}"
        )
    if values.dtype == np.uint8:
        return values.astype(np.float32) / 255.0
    if values.dtype.kind not in "biuf":
        raise ImageDataError(f"{source}: expected numbers, got dtype {values.dtype}")
    values = values.astype(np.float32)
    if not np.isfinite(values).all():
        raise ImageDataError(f"{source}: expected pixels in [0, 1], got NaN or infinite values")
    if values.min() < 0 or values.max() > 1:
        raise ImageDataError(
            f"{source}: expected pixels in [0, 1] (or uint8 0..255), got values in "
            f"[{values.min():g}, {values.max():g}]; divide by 255 first"
        )
    return values


def find_idx(folder: str | Path, prefix: str, kind: Literal["images", "labels"]) -> Path | None:
    """The IDX file of ``kind`` with ``prefix`` (train, t10k) in ``folder``, or None."""
    dims = 3 if kind == "images" else 1
    for stem in (f"{prefix}-{kind}-idx{dims}-ubyte", f"{prefix}-{kind}.idx{dims}-ubyte"):
        for name in (stem, stem + ".gz"):
            if (Path(folder) / name).is_file():
                return Path(folder) / name
    return None


def load_idx_images(images_path: str | Path, labels_path: str | Path | None = None) -> ImageSet:
    """The images of an IDX file (N, rows, cols) and, if given, the labels (N,) of another."""
    images = as_images(read_idx(images_path), str(images_path))
    labels = None
    if labels_path is not None:
        labels = read_idx(labels_path)
        if labels.ndim != 1 or len(labels) != len(images):
            raise ImageDataError(
                f"{labels_path}: expected {len(images)} labels (N,) for the images of "
                f"{images_path}, got shape {labels.shape}"
            )
        labels = labels.astype(np.int64)
    return ImageSet(images, labels, str(images_path))


def load_image_folder(folder: str | Path = IMAGES_DIR, split: str = "train") -> ImageSet:
    """The ``split`` ("train" or "test") of an MNIST-format folder (see the module docstring),
    with its labels when the folder has them."""
    folder = Path(folder)
    if split not in SPLITS:
        raise ImageDataError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    hint = (
        f"pass a folder with {SPLITS[split]}-images-idx3-ubyte[.gz] (MNIST's layout), or "
        f"install Fashion-MNIST ({INSTALL_HINT})"
    )
    if not folder.is_dir():
        raise ImageDataError(f"{folder}: no such folder; {hint}")
    images = find_idx(folder, SPLITS[split], "images")
    if images is None:
        raise ImageDataError(f"{folder}: no {SPLITS[split]}-images-idx3-ubyte[.gz]; {hint}")
    return load_idx_images(images, find_idx(folder, SPLITS[split], "labels"))


def binarize(
    images: np.ndarray,
    method: Literal["threshold", "stochastic"] = "stochastic",
    threshold: float = 0.5,
    rng: np.random.Generator | int = 0,
) -> np.ndarray:
    """Binary images (uint8 0/1, the shape of ``images``, pixels in [0, 1]): ``threshold``
    sets a pixel above ``threshold``; ``stochastic`` sets it with its intensity as probability,
    drawn from ``rng`` (a Generator, or a seed)."""
    if method == "threshold":
        if not 0 <= threshold < 1:
            raise ImageDataError(f"threshold: expected a number in [0, 1), got {threshold!r}")
        return (images > threshold).astype(np.uint8)
    if method == "stochastic":
        rng = np.random.default_rng(rng)
        return (rng.random(images.shape, dtype=np.float32) < images).astype(np.uint8)
    raise ImageDataError(f"binarize: expected one of {', '.join(BINARIZE)}, got {method!r}")
