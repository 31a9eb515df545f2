"""Checkpoints: one self-describing ``.safetensors`` file each, written atomically, loaded safely.

A checkpoint holds tensors under prefixes (``model.<state_dict key>`` for the weights, and for
training state ``optim.*``, ``rng.*``, ``state.*``) and, in the safetensors metadata, one key
``rnnkit`` whose value is a JSON object: ``format`` (this module's ``FORMAT_VERSION``), ``task``
and whatever the writer adds (config, vocabulary, step, best validation loss, optimizer
param_groups, RNG states, engine).

Loading parses the safetensors header and raw tensor bytes only: no pickle, no code runs.
Every way a file can be unusable (missing, truncated, not safetensors, not rnnkit's, another
task's, a newer format) raises CheckpointError with one line saying which and what to do.

The NumPy engine uses the same format: ``save_checkpoint`` takes NumPy arrays, and
``load_checkpoint(path, framework="np")`` returns them, without importing torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

FORMAT_VERSION = 1
META_KEY = "rnnkit"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why and what to do."""


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the new one whole.

    The bytes go to a temporary file in the same directory, are fsync'ed, and the file is
    renamed over ``path`` (atomic on POSIX and Windows); the directory is fsync'ed after.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_checkpoint(path: str | Path, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write ``tensors`` (torch tensors and/or NumPy arrays) and ``meta`` to ``path`` atomically.

    ``meta`` must be JSON-serializable and name its ``task``; ``format`` is added here.
    """
    if "task" not in meta:
        raise CheckpointError("save_checkpoint: expected meta to name its 'task', got none")
    header = {META_KEY: json.dumps({"format": FORMAT_VERSION, **meta}, allow_nan=True)}
    if all(isinstance(v, np.ndarray) for v in tensors.values()):
        from safetensors.numpy import save

        data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=header)
    else:
        import torch
        from safetensors.torch import save

        as_torch = {
            k: torch.from_numpy(np.ascontiguousarray(v))
            if isinstance(v, np.ndarray)
            else v.detach().to("cpu").contiguous()
            for k, v in tensors.items()
        }
        data = save(as_torch, metadata=header)
    atomic_write_bytes(path, data)


def _own_memory(t: Any) -> Any:
    """A copy in freshly allocated (aligned) memory: vectorized kernels may round differently
    on the odd offsets inside the file's buffer, and an exact resume needs the same bits."""
    return t.clone() if hasattr(t, "clone") else np.array(t, copy=True)


def load_checkpoint(
    path: str | Path, task: str | None = None, framework: Literal["pt", "np"] = "pt"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors, meta) of the checkpoint at ``path``; ``task`` set: refuse other tasks' files.

    ``framework="pt"`` gives torch tensors, ``"np"`` NumPy arrays (torch not needed).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file; pass a run directory or a file")
    try:
        with safe_open(str(path), framework=framework) as f:
            header = f.metadata() or {}
            tensors = {k: _own_memory(f.get_tensor(k)) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for a damaged header or body
        raise CheckpointError(
            f"{path}: not a readable checkpoint (corrupted or truncated? {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'})"
        ) from e
    if META_KEY not in header:
        raise CheckpointError(f"{path}: a safetensors file, but not an rnnkit checkpoint")
    try:
        meta = json.loads(header[META_KEY])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: the rnnkit metadata is not valid JSON ({e})") from e
    if not isinstance(meta, dict) or not isinstance(meta.get("format"), int):
        raise CheckpointError(f"{path}: the rnnkit metadata has no format version")
    if meta["format"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {meta['format']} is newer than this rnnkit's "
            f"{FORMAT_VERSION}; upgrade rnnkit"
        )
    if task is not None and meta.get("task") != task:
        raise CheckpointError(
            f"{path}: a checkpoint of task {meta.get('task')!r}, expected {task!r}; "
            f"use `rnnkit {meta.get('task')} ...` or pass a {task} checkpoint"
        )
    return tensors, meta


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file from a file or a run directory (its best, else its last, checkpoint)."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}: a directory with no best.safetensors or last.safetensors")
    if not path.exists():
        raise CheckpointError(f"{path}: no such run directory or checkpoint file")
    return path


def with_prefix(prefix: str, tensors: dict[str, Any]) -> dict[str, Any]:
    """``{prefix + "." + key: value}``: e.g. a model's state_dict under ``model.``."""
    return {f"{prefix}.{k}": v for k, v in tensors.items()}


def strip_prefix(prefix: str, tensors: dict[str, Any]) -> dict[str, Any]:
    """The entries under ``prefix + "."``, with it removed: e.g. the model's state_dict."""
    start = len(prefix) + 1
    return {k[start:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def require_meta(meta: dict[str, Any], keys: tuple[str, ...], path: str | Path) -> None:
    """CheckpointError unless ``meta`` has every key of ``keys`` (an edited or damaged file)."""
    missing = [k for k in keys if k not in meta]
    if missing:
        raise CheckpointError(
            f"{path}: the checkpoint's metadata lacks {', '.join(missing)} (edited or damaged?); "
            f"use the checkpoint as rnnkit wrote it, or train again"
        )


def load_weights(model: Any, weights: dict[str, Any], path: str | Path) -> None:
    """``model.load_state_dict(weights)``, a mismatch as one CheckpointError line."""
    try:
        model.load_state_dict(weights)
    except (RuntimeError, KeyError, ValueError) as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(e).__name__)
        raise CheckpointError(
            f"{path}: the weights do not fit the model its metadata describes ({detail}); "
            f"the file was edited or damaged: use the checkpoint as rnnkit wrote it"
        ) from e
