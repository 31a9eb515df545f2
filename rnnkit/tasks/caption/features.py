"""``--encoder features --features FILE``: annotations computed elsewhere (e.g. a ResNet's last
conv grid), one float array (L, D) (L a square number) or (G, G, D) per image, in a
``.safetensors`` or ``.npz`` file keyed by the image's file name as the captions JSON names it
(or, failing that, by its base name). The model then has no CNN: the data holds each image's
annotations as (D, G, G) where it would hold the image's pixels, and the ``features`` encoder
flattens them to (L, D)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rnnkit.data.images import ImageDataError

SHOWN = 3  # names shown of those without an entry


def read_features(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a .safetensors or .npz file; ImageDataError (one line) if it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ImageDataError(f"--features {path}: no such file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as values:
                return {k: values[k] for k in values.files}
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            return load_file(str(path))
    except Exception as e:  # noqa: BLE001 - whatever the reader raises: one line
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImageDataError(f"--features {path}: cannot be read ({message})") from None
    raise ImageDataError(f"--features {path}: expected a .safetensors or .npz file")


def as_grid(value: np.ndarray, name: str, path: str | Path) -> np.ndarray:
    """One image's annotations (L, D) or (G, G, D) as float32 (D, G, G)."""
    if value.ndim == 2 and math.isqrt(value.shape[0]) ** 2 == value.shape[0]:
        g = math.isqrt(value.shape[0])
        value = value.reshape(g, g, value.shape[1])
    if value.ndim != 3 or value.shape[0] != value.shape[1] or not value.size:
        raise ImageDataError(
            f"--features {path}: {name} has shape {value.shape}; expected (L, D) with L a "
            f"square number, or (G, G, D)"
        )
    if not np.issubdtype(value.dtype, np.floating) or not np.isfinite(value).all():
        raise ImageDataError(f"--features {path}: {name} is not an array of finite floats")
    return np.ascontiguousarray(value.transpose(2, 0, 1), dtype=np.float32)


def lookup(features: dict[str, np.ndarray], names: list[str], path: str | Path,
           what: str = "of --data") -> np.ndarray:  # fmt: skip
    """The annotations (N, D, G, G) float32 of each of ``names``: refused in one line when
    some have no entry or the shapes differ."""
    keys = [n if n in features else Path(n).name for n in names]
    absent = [n for n, k in zip(names, keys, strict=True) if k not in features]
    if absent:
        raise ImageDataError(
            f"--features {path}: {len(absent)} of {len(names)} images {what} have no entry "
            f"({', '.join(absent[:SHOWN])}{', ...' if len(absent) > SHOWN else ''})"
        )
    grids = [as_grid(features[k], k, path) for k in keys]
    for k, grid in zip(keys, grids, strict=True):
        if grid.shape != grids[0].shape:
            raise ImageDataError(
                f"--features {path}: inconsistent shapes: {keys[0]} gives (D, G, G) = "
                f"{grids[0].shape}, {k} {grid.shape}"
            )
    return np.stack(grids)
