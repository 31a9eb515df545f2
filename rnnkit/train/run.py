"""Run directories and what every task's ``train`` verb shares.

A run directory is what ``rnnkit TASK train --out DIR`` writes: config.json, metrics.csv,
summary.json, loss.png, last.safetensors and best.safetensors, and the task's own files. Rules
that keep a user's work safe:

- ``DIR/.rnnkit`` marks a directory rnnkit made. A new run goes only into a directory that does
  not exist, is empty, or is a run that stopped before its first checkpoint (restarted from
  scratch); never into one that holds files rnnkit did not write, nor over a run that has a
  checkpoint (that one takes ``--resume``).
- ``DIR/.rnnkit.lock`` is held (``flock``) while a process trains there: a second ``train`` on
  the same directory is refused at once; the lock goes with the process, even on kill -9.
- Checkpoints and JSON are written atomically, so any moment leaves a resumable or restartable
  run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.train.checkpoint import atomic_write_bytes, load_checkpoint
from rnnkit.train.config import ConfigError, config_from_dict, config_to_dict, flag_name

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

MARKER = ".rnnkit"
LOCK = ".rnnkit.lock"
# what a run stopped before its first checkpoint may leave; a restart removes it
RESTART_DEBRIS = ("config.json", "metrics.csv", "summary.json", "loss.png", "tensorboard")

# exit statuses of the CLI
EXIT_OK, EXIT_DIVERGED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str):
    """``torch.device(name)``, refusing a device torch cannot use here."""
    import torch

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: torch sees no CUDA device here; use --device cpu")
    return torch.device(name)


def write_json(path: str | Path, value: Any) -> None:
    """``value`` as indented JSON at ``path``, atomically."""
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())


# ---------------------------------------------------------------------------------------------
# the run directory


def is_run_dir(path: str | Path) -> bool:
    """Whether rnnkit made ``path`` (its marker, or a run from before the marker)."""
    path = Path(path)
    return (path / MARKER).is_file() or (
        (path / "config.json").is_file() and any(path.glob("*.safetensors"))
    )


def _foreign_files(out: Path) -> list[str]:
    if not out.is_dir() or is_run_dir(out):
        return []
    return sorted(p.name for p in out.iterdir() if p.name != LOCK)


def check_run_dir(out: str | Path, resume: bool) -> Path:
    """Check that ``out`` can take a new run (or, with ``resume``, holds one); writes nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file is in the way; pass a directory path")
    foreign = _foreign_files(out)
    if foreign:
        shown = ", ".join(foreign[:4]) + (
            f" and {len(foreign) - 4} more" if len(foreign) > 4 else ""
        )
        raise ConfigError(
            f"--out {out}: the directory holds files rnnkit did not write ({shown}); pass a new "
            f"or empty directory, so that none of them is overwritten"
        )
    has_checkpoint = (out / "last.safetensors").is_file()
    if resume and not has_checkpoint:
        if is_run_dir(out):
            raise ConfigError(
                f"--resume: the run in {out} stopped before its first checkpoint; start it "
                f"again from the beginning: drop --resume"
            )
        raise ConfigError(f"--resume: {out} holds no last.safetensors to resume from")
    if not resume and has_checkpoint:
        raise ConfigError(
            f"--out {out} already holds a run; pass --resume to continue it, or another --out"
        )
    return out


@contextmanager
def _lock(out: Path):
    if fcntl is None:
        yield
        return
    handle = open(out / LOCK, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            raise ConfigError(
                f"--out {out}: another rnnkit process (pid {owner}) is training in this "
                f"directory; wait for it to finish, or pass another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


@contextmanager
def open_run(out: str | Path, resume: bool, task: str):
    """Hold the run directory ``out`` for one training process: checked (``check_run_dir``),
    created, marked and locked; a run stopped before its first checkpoint is cleared for a
    restart. Yields the directory's Path."""
    out = check_run_dir(out, resume)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with _lock(out):
            yield _claim(out, resume, task)
    except BaseException:
        # a directory this call made, and that holds no checkpoint yet: leave nothing behind
        if created and not (out / "last.safetensors").exists():
            shutil.rmtree(out, ignore_errors=True)
        raise


def _claim(out: Path, resume: bool, task: str) -> Path:
    """Under the lock: check ``out`` again, clear a run that never checkpointed, mark it."""
    out = check_run_dir(out, resume)  # again, now that no other process can change it
    if not resume:
        for name in RESTART_DEBRIS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    (out / MARKER).write_text(json.dumps({"task": task}) + "\n")
    return out


def check_output_file(path: str | Path, flag: str, overwrite: bool, inputs=()) -> Path:
    """Check that a verb may write its output to ``path``: never over a run's own files or
    the verb's input, and over another existing file only with ``--overwrite``."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: a directory; pass a file path")
    if not path.exists():
        return path
    if any(Path(i).exists() and path.resolve() == Path(i).resolve() for i in inputs if i):
        raise ConfigError(f"{flag} {path}: that is the input; pass another file")
    if is_run_dir(path.parent) and (
        path.suffix in (".safetensors", ".json") or path.name in RESTART_DEBRIS
    ):
        raise ConfigError(f"{flag} {path}: a file of the run itself; pass another file")
    if not overwrite:
        raise ConfigError(
            f"{flag} {path}: the file exists; pass --overwrite to replace it, or another path"
        )
    return path


# ---------------------------------------------------------------------------------------------
# the config of a run


@dataclass
class RunConfig:
    """A run's config and, when resuming, its last checkpoint ``(tensors, meta)``."""

    config: Any
    resume_from: tuple[dict[str, Any], dict[str, Any]] | None = None


def run_config(
    config_cls: type,
    flags: dict[str, Any],
    out: Path,
    task: str,
    *,
    resume: bool,
    fixed: tuple[str, ...] = (),
    base: Any = None,
    resume_base: dict[str, Any] | None = None,
) -> RunConfig:
    """The config of a new run (``flags`` over ``base`` or the defaults) or of a resumed one.

    Resuming, the saved config (with ``resume_base`` applied) is the base and ``flags`` (the
    flags given now) go on top; a field in ``fixed`` (what shapes the model or the data) cannot
    change.
    """
    if not resume:
        values = config_to_dict(base) if base is not None else {}
        return RunConfig(config_from_dict(config_cls, values | flags))
    resume_from = load_checkpoint(out / "last.safetensors", task=task)
    saved = config_from_dict(config_cls, resume_from[1]["config"])
    start = dataclasses.replace(saved, **resume_base) if resume_base else saved
    cfg = config_from_dict(config_cls, config_to_dict(start) | flags)
    for name in fixed:
        if getattr(cfg, name) != getattr(saved, name):
            raise ConfigError(
                f"--resume: {flag_name(name)} cannot change ({getattr(saved, name)!r} -> "
                f"{getattr(cfg, name)!r}); start a new run with another --out instead"
            )
    return RunConfig(cfg, resume_from)
