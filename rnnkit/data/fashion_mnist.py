"""Fashion-MNIST read row by row: each 28x28 image is a sequence of 28 steps of 28 pixels.

The files are Debian's ``dataset-fashion-mnist`` package (``apt-get install
dataset-fashion-mnist``), installed under ``/usr/share/datasets/fashion-mnist``, or any folder
holding the four IDX files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (gzipped with a
``.gz`` suffix or not); the original MNIST files read the same way.

IDX (LeCun's format): two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C
int32, 0x0D float32, 0x0E float64), a byte giving the number of dimensions, each dimension as a
big-endian uint32, then the values, big-endian, in C order.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from rnnkit.data.ucr import SequenceDataError, SequenceSet, from_arrays

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
INSTALL_HINT = "apt-get install dataset-fashion-mnist"
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array of an IDX file, gzipped or not (told by its first two bytes, not its name)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise SequenceDataError(f"{path}: a damaged gzip file ({e})") from e
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES:
        raise SequenceDataError(
            f"{path}: not an IDX file (expected magic 00 00 <type> <ndim>, got {raw[:4].hex()})"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise SequenceDataError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise SequenceDataError(
            f"{path}: IDX of shape {shape} needs {expected} bytes, the file has {len(raw)}"
        )
    values = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise SequenceDataError(
        f"{folder}: no {stem}[.gz]; for Fashion-MNIST install Debian's package "
        f"({INSTALL_HINT}) or pass a folder with the four IDX files"
    )


def _split(folder: Path, prefix: str, classes: tuple[str, ...] | None) -> SequenceSet:
    images_path = _find(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(folder, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise SequenceDataError(
            f"{folder}: expected {prefix} images (N, rows, cols) and labels (N,), got "
            f"{images.shape} and {labels.shape}"
        )
    names = np.asarray(classes if classes is not None else [str(i) for i in range(256)])
    if labels.min() < 0 or labels.max() >= len(names):
        raise SequenceDataError(f"{labels_path}: labels outside 0..{len(names) - 1}")
    x = images.astype(np.float32) / 255.0  # (N, 28, 28): 28 steps (rows) of 28 pixels
    return from_arrays(x, names[labels], classes=classes, source=str(images_path))


def load_fashion_mnist(
    folder: str | Path = FASHION_MNIST_DIR, classes: tuple[str, ...] | None = CLASSES
) -> tuple[SequenceSet, SequenceSet]:
    """(train, test) of Fashion-MNIST (60000 and 10000 images of 28 rows), pixels in [0, 1].

    ``classes`` names the label ids (Fashion-MNIST's ten by default; None: the ids as text).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SequenceDataError(
            f"{folder}: no such folder; Fashion-MNIST comes from Debian's package: {INSTALL_HINT}"
        )
    return _split(folder, "train", classes), _split(folder, "t10k", classes)
