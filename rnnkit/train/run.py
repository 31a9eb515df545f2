"""Run directories and what every task's ``train`` verb shares.

A run directory is what ``rnnkit TASK train --out DIR`` writes: config.json, metrics.csv,
summary.json, loss.png, last.safetensors and best.safetensors, and the task's own files. Rules
that keep a user's work safe:

- ``DIR/.rnnkit`` marks a directory rnnkit made (and names its task). A new run goes only into
  a directory that does not exist, is empty, or is a run of its task that stopped before its
  first checkpoint (restarted from scratch); never into one that holds files rnnkit did not
  write (refused before anything is written there), nor over a run that has a checkpoint (that
  one takes ``--resume``).
- ``DIR/.rnnkit.lock`` is held (``flock``) while a process trains there: a second ``train`` on
  the same directory is refused at once, naming the process; the lock goes with the process,
  even on kill -9.
- Checkpoints and JSON are written atomically, so any moment leaves a resumable or restartable
  run; a directory ``open_run`` created is removed if the run fails before its first
  checkpoint.
- A verb's output file (predictions, plots) never goes over a run's own files nor its input
  (``check_output_file``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.train.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    load_checkpoint,
    require_meta,
)
from rnnkit.train.config import (
    ConfigError,
    config_from_dict,
    config_to_dict,
    flag_name,
    saved_config,
)

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

MARKER = ".rnnkit"
LOCK = ".rnnkit.lock"
# what a run stopped before its first checkpoint may leave; a restart removes it
RESTART_DEBRIS = ("config.json", "metrics.csv", "summary.json", "loss.png", "tensorboard")

# what the trainer reads from a last.safetensors to resume, with its JSON types (the engine
# checks its own part: optimizer, RNG and carried state); older checkpoints lack the OPTIONAL
_NUMBER, _NONE = (int, float), type(None)
RESUME_META: dict[str, tuple[type, ...]] = {
    "config": (dict,), "step": (int,), "elapsed": _NUMBER, "val_loss": (*_NUMBER, _NONE),
    "best_val_loss": (*_NUMBER, _NONE), "best_step": (int, _NONE), "divergence_guard": (dict,),
    "window": (dict, list), "totals": (dict, list), "plateau": (dict,), "last_eval": (int,),
}  # fmt: skip
RESUME_META_OPTIONAL = ("plateau", "last_eval")
_JSON_NAMES = {dict: "object", list: "array", _NONE: "null"}

# exit statuses of the CLI
EXIT_DIVERGED, EXIT_INTERRUPTED = 1, 130  # (bad input: 2, set by rnnkit.cli)


def write_json(path: str | Path, value: Any) -> None:
    """``value`` as indented JSON at ``path``, atomically."""
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())


# ---------------------------------------------------------------------------------------------
# the run directory


def is_run_dir(path: str | Path) -> bool:
    """Whether rnnkit made ``path``: its marker, or (a run from before the marker) config.json
    with last.safetensors. A folder of someone else's config.json and *.safetensors (a
    downloaded model) is not a run."""
    path = Path(path)
    return (path / MARKER).is_file() or (
        (path / "config.json").is_file() and (path / "last.safetensors").is_file()
    )


def _marker_task(out: Path) -> str | None:
    """The task named in ``out``'s marker (None: no marker, or an unreadable one)."""
    try:
        task = json.loads((out / MARKER).read_text()).get("task")
    except (OSError, ValueError, AttributeError):
        return None
    return task if isinstance(task, str) else None


def _check_place(out: Path, resume: bool) -> None:
    """What can be told without the lock: ``out`` is a directory (or nothing yet) that holds
    only rnnkit's files; with ``resume``, it exists."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file is in the way; pass a directory path")
    if out.is_dir() and not is_run_dir(out):
        foreign = sorted(p.name for p in out.iterdir() if p.name != LOCK)
        if foreign:
            shown = ", ".join(foreign[:4]) + (
                f" and {len(foreign) - 4} more" if len(foreign) > 4 else ""
            )
            raise ConfigError(
                f"--out {out}: the directory holds files rnnkit did not write ({shown}); pass a "
                f"new or empty directory, so that none of them is overwritten"
            )
    if resume and not out.is_dir():
        raise ConfigError(f"--resume: {out} holds no last.safetensors to resume from")


def check_run_dir(out: str | Path, resume: bool, task: str | None = None) -> Path:
    """Check that ``out`` can take a new run of ``task`` (or, with ``resume``, holds one);
    writes nothing."""
    out = Path(out)
    _check_place(out, resume)
    marked = _marker_task(out)
    if task is not None and marked is not None and marked != task:
        raise ConfigError(
            f"--out {out}: a run of `rnnkit {marked}`, not of {task}; pass another --out"
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


def _make_dir(out: Path) -> Path | None:
    """Create ``out`` (and its missing parents); the topmost folder this call created, or
    None when ``out`` was there already."""
    top = None
    for folder in (out, *out.parents):
        if folder.exists():
            break
        top = folder
    try:
        out.mkdir(parents=True)
    except FileExistsError:  # there already, or another process was quicker
        return None
    return top


@contextmanager
def open_run(out: str | Path, resume: bool, task: str):
    """Hold the run directory ``out`` for one training run (``_open_run``), in torchrun's
    process group when there is one (``rnnkit.train.distributed.session``): rank 0 alone
    checks, creates, marks and locks it (and later writes it); the other ranks wait for it and
    raise its error, if any, and never touch the directory. Yields the directory's Path."""
    from rnnkit.train import distributed

    with distributed.session() as dist, ExitStack() as stack:
        path = Path(out)
        if dist.is_main:
            try:
                path = stack.enter_context(_open_run(out, resume, task))
            except Exception as e:
                distributed.agree(e)
                raise
        distributed.agree(None)  # the other ranks wait here for rank 0 (raising its error)
        yield path


@contextmanager
def _open_run(out: str | Path, resume: bool, task: str):
    """Hold the run directory ``out`` for one training process: checked (``check_run_dir``),
    created, marked and locked; a run stopped before its first checkpoint is cleared for a
    restart. Yields the directory's Path.

    A directory with files rnnkit did not write is refused before anything is written. If
    the run fails before its first checkpoint, a directory this call created is removed.
    """
    out = Path(out)
    _check_place(out, resume)  # a user's folder: refused before anything is written there
    created = _make_dir(out)
    with _lock(out):  # another process training here: refused, its directory untouched
        try:
            yield _claim(out, resume, task)
        except BaseException:
            if created is not None and not (out / "last.safetensors").exists():
                shutil.rmtree(out, ignore_errors=True)
                for folder in out.parents:  # the parents this call made, while empty
                    if folder == created.parent or any(folder.iterdir()):
                        break
                    folder.rmdir()
            raise


def _claim(out: Path, resume: bool, task: str) -> Path:
    """Under the lock: check ``out``, clear a run that never checkpointed, mark it."""
    out = check_run_dir(out, resume, task)  # now that no other process can change it
    if not resume:
        for name in RESTART_DEBRIS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    (out / MARKER).write_text(json.dumps({"task": task}) + "\n")
    return out


def _is_run_file(path: Path) -> bool:
    """Whether ``path`` names (or would name) one of a run directory's own files."""
    return is_run_dir(path.parent) and (
        path.suffix in (".safetensors", ".json")
        or path.name in RESTART_DEBRIS
        or path.name.startswith(MARKER)
    )


def check_output_file(path: str | Path, flag: str, overwrite: bool, inputs=()) -> Path:
    """Check that a verb may write its output to ``path``: never over a run's own files (its
    checkpoints, JSON, metrics ...) nor the verb's ``inputs`` (data, checkpoint), into a
    folder that exists, and over another existing file only with ``overwrite``."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: a directory; pass a file path")
    if not path.parent.is_dir():
        raise ConfigError(f"{flag} {path}: no such directory {path.parent}; create it first")
    if _is_run_file(path):
        raise ConfigError(f"{flag} {path}: a file of the run itself; pass another file")
    if not path.exists():
        return path
    for given in inputs:
        if given and Path(given).exists() and os.path.samefile(path, given):
            raise ConfigError(f"{flag} {path}: that is the input {given}; pass another file")
    if not overwrite:
        raise ConfigError(
            f"{flag} {path}: the file exists; pass --overwrite to replace it, or another path"
        )
    return path


def write_plot(draw: Callable[[Path], Any], path: str | Path, what: str) -> Path:
    """``draw(path)``, a plot that cannot be written (a read-only run, a missing folder) as
    one ConfigError line naming ``--plot``."""
    path = Path(path)
    try:
        draw(path)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(
            f"cannot write the {what} to {path} ({reason}); pass --plot FILE.png elsewhere, or "
            f"--plot none"
        ) from None
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
    path = out / "last.safetensors"
    resume_from = load_checkpoint(path, task=task)
    _check_resume_meta(resume_from[1], path)
    saved = saved_config(config_cls, resume_from[1]["config"])
    start = dataclasses.replace(saved, **resume_base) if resume_base else saved
    cfg = config_from_dict(config_cls, config_to_dict(start) | flags)
    for name in fixed:
        if getattr(cfg, name) != getattr(saved, name):
            raise ConfigError(
                f"--resume: {flag_name(name)} cannot change ({getattr(saved, name)!r} -> "
                f"{getattr(cfg, name)!r}); start a new run with another --out instead"
            )
    return RunConfig(cfg, resume_from)


def _check_resume_meta(meta: dict[str, Any], path: Path) -> None:
    """CheckpointError unless ``meta`` has what the trainer resumes from, of the right types."""
    require_meta(meta, tuple(k for k in RESUME_META if k not in RESUME_META_OPTIONAL), path)
    for key, types in RESUME_META.items():
        value = meta.get(key)
        if key in meta and (not isinstance(value, types) or isinstance(value, bool)):
            expected = " or ".join(_JSON_NAMES.get(t, t.__name__) for t in types)
            raise CheckpointError(
                f"{path}: the checkpoint's {key} is {str(value)[:20]!r}, expected {expected} "
                f"(edited or damaged?); use the checkpoint as rnnkit wrote it, or train again"
            )


@contextmanager
def start_run(
    config_cls: type,
    flags: dict[str, Any],
    out: str | Path,
    task: str,
    *,
    resume: bool,
    fixed: tuple[str, ...] = (),
    base: Any = None,
    resume_base: dict[str, Any] | None = None,
) -> Iterator[tuple[Path, RunConfig]]:
    """What every ``train`` verb does first: ``open_run`` and ``run_config``, the config of a
    new run checked before the directory is touched. Yields (the run directory, its
    RunConfig)."""
    new = None
    if not resume:  # checked before the directory is touched
        new = run_config(config_cls, flags, Path(out), task, resume=False, base=base)
    with open_run(out, resume, task) as path:
        run = new or run_config(
            config_cls, flags, path, task, resume=True, fixed=fixed, resume_base=resume_base
        )
        yield path, run
