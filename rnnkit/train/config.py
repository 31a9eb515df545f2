"""Config dataclasses, their command-line flags and their JSON form.

A task's hyperparameters are one dataclass (a subclass of ``TrainConfig``) whose fields carry
their help text (``option(default, help)``). From it:

- ``add_config_args(parser, cls)`` adds one flag per field: ``hidden_size`` -> ``--hidden-size``,
  a bool -> ``--flag/--no-flag``, a ``Literal`` -> its choices, ``int | None`` -> an int or
  ``none``. argparse refuses unknown flags and ill-typed values.
- ``flags_given(cls, args)``: the flags given, as a dict (what travels below a task's cli.py);
- ``config_from_args(cls, args, base)`` builds the config from the flags given on the command
  line, over ``base`` (the defaults, or the config saved in a checkpoint when resuming).
- ``train_values(cls, args)``: what a ``train`` verb sets, the flags given over the values of
  ``--config FILE`` (``load_config_file``: a run's config.json, JSON or TOML), which go over
  the defaults (charlm: over its ``--preset``'s values).
- ``config_to_dict`` / ``config_from_dict`` go to and from JSON-ready dicts; the latter refuses
  unknown keys and ill-typed values.

Value checks (``lr > 0`` ...) live in each dataclass's ``__post_init__`` and raise ConfigError.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

C = TypeVar("C")


class ConfigError(ValueError):
    """A config value or key that is not allowed; the message names the flag and the value."""


def option(default: Any, help: str) -> Any:
    """A dataclass field with a default and the help text of its flag."""
    return dataclasses.field(default=default, metadata={"help": help})


def flag_name(name: str) -> str:
    """The command-line flag of a field: ``hidden_size`` -> ``--hidden-size``."""
    return "--" + name.replace("_", "-")


# ---------------------------------------------------------------------------------------------
# field types: what each annotation accepts


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(X, True) for ``X | None`` / ``Optional[X]``, else (tp, False)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
        raise TypeError(f"config fields may be X or X | None, got {tp}")
    return tp, False


def _describe(tp: Any) -> str:
    base, optional = _unwrap_optional(tp)
    if typing.get_origin(base) is Literal:
        text = "one of " + ", ".join(repr(c) for c in typing.get_args(base))
    else:
        text = base.__name__
    return text + (" or None" if optional else "")


def _check_value(name: str, tp: Any, value: Any) -> Any:
    """``value`` as a ``tp`` (an int is taken for a float), or ConfigError."""
    base, optional = _unwrap_optional(tp)
    if value is None and optional:
        return None
    if typing.get_origin(base) is Literal:
        ok = value in typing.get_args(base)
    elif base is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
        if ok and not math.isfinite(value):
            raise ConfigError(f"{flag_name(name)}: expected a finite number, got {value!r}")
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, base)
    if not ok:
        raise ConfigError(f"{flag_name(name)}: expected {_describe(tp)}, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# dataclass <-> argparse


def _parse_as(name: str, tp: Any):
    """An argparse ``type`` callable that parses one value of ``tp`` from a string."""
    base, optional = _unwrap_optional(tp)
    if typing.get_origin(base) is Literal:
        base = type(typing.get_args(base)[0])

    def parse(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        try:
            return base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {_describe(tp)}, got {text!r}") from None

    parse.__name__ = base.__name__  # argparse names the type in its messages
    return parse


def add_config_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one flag per field of the dataclass ``cls``; flags not given stay unset in ``args``."""
    for f in dataclasses.fields(cls):
        tp = _field_types(cls)[f.name]
        help_ = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
        base, _ = _unwrap_optional(tp)
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = _parse_as(f.name, tp)
            if typing.get_origin(base) is Literal:
                kwargs["choices"] = typing.get_args(base)
                kwargs["metavar"] = "{" + ",".join(str(c) for c in typing.get_args(base)) + "}"
            else:
                kwargs["metavar"] = f.name.upper()
        parser.add_argument(flag_name(f.name), help=f"{help_} (default: {default})", **kwargs)


def add_train_parser(verbs: Any, task: str, cls: type, func: Any, what: str) -> None:
    """The ``train`` verb of ``rnnkit TASK``: ``--out`` (default runs/TASK), ``--resume`` and a
    flag per field of the config dataclass ``cls``; ``func(args)`` runs it."""
    p = verbs.add_parser("train", help=f"train {what}", description=f"Train {what}.")
    p.add_argument("--out", default=f"runs/{task}", help=f"run directory (default: runs/{task})")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="config values from a run's config.json (or its directory), a JSON or a TOML file "
        "(name = value); the flags given go over them (and they over --preset's)",
    )
    add_config_args(p, cls)
    p.set_defaults(func=func)


def flags_given(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` whose flags were given on the command line: {name: value}."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}


def train_values(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """What a ``train`` verb's command line sets: the flags given, over the values of
    ``--config FILE`` (refused with ``--resume``: a run keeps its own config)."""
    flags = flags_given(cls, args)
    if not getattr(args, "config", None):
        return flags
    if getattr(args, "resume", False):
        raise ConfigError(
            f"--config {args.config}: a resumed run has its config (its config.json); drop "
            f"--config, and pass only the flags to change"
        )
    return load_config_file(args.config, cls) | flags


def config_from_args(cls: type[C], args: argparse.Namespace, base: C | None = None) -> C:
    """The config of the flags set in ``args``, over ``base`` (default: the class defaults)."""
    values = config_to_dict(base) if base is not None else {}
    return config_from_dict(cls, values | flags_given(cls, args))


# ---------------------------------------------------------------------------------------------
# dataclass <-> JSON


def config_to_dict(config: Any) -> dict[str, Any]:
    """The config as a JSON-ready dict (field name -> value)."""
    return dataclasses.asdict(config)


def _checked_values(cls: type, values: Any, where: str, hint: str) -> dict[str, Any]:
    """``values`` checked against the fields of ``cls``: an object (dict) with no unknown key
    (``hint`` says where the names are) and well-typed values; errors begin with ``where``."""
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise ConfigError(
            f"{where}: expected an object of config values (name: value), got "
            f"{type(values).__name__} {str(values)[:40]}"
        )
    types_ = _field_types(cls)
    unknown = sorted(set(values) - set(types_))
    if unknown:
        raise ConfigError(f"{where}: unknown config key(s) {', '.join(unknown)}; {hint}")
    return {k: _check_value(k, types_[k], v) for k, v in values.items()}


def config_from_dict(cls: type[C], values: dict[str, Any]) -> C:
    """The config ``cls(**values)``, refusing unknown keys and ill-typed values."""
    hint = f"known: {', '.join(_field_types(cls))}"
    return cls(**_checked_values(cls, values, cls.__name__, hint))


def saved_config(cls: type[C], values: dict[str, Any]) -> C:
    """The config a run saved (a checkpoint's or config.json's ``values``): a field it lacks,
    saved by an older rnnkit, takes the value it had then (``cls.SAVED_BEFORE``), not today's
    default."""
    if isinstance(values, dict):  # else config_from_dict says what is wrong with it
        values = getattr(cls, "SAVED_BEFORE", {}) | values
    return config_from_dict(cls, values)


def load_config_file(path: str | Path, cls: type) -> dict[str, Any]:
    """The config values of a file, each checked against a field of ``cls``: a run's
    config.json (or the run directory), a JSON object or a TOML table (``.toml``) of
    ``name = value``. Problems are ConfigErrors naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise ConfigError(
            f"--config {path}: cannot read it ({reason}); pass a JSON or TOML file"
        ) from None
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise ConfigError(
                f"--config {path}: reading TOML needs Python >= 3.11 (tomllib); write the "
                f"values as JSON instead"
            ) from None
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"--config {path}: not valid TOML ({e})") from None
    else:
        try:
            values = json.loads(text)
        except ValueError as e:
            raise ConfigError(
                f"--config {path}: not valid JSON ({e}); name a .toml file for TOML"
            ) from None
    hint = "see --help for the names (as flags: hidden_size is --hidden-size)"
    try:
        return _checked_values(cls, values, f"--config {path}", hint)
    except ConfigError as e:
        if str(e).startswith("--config "):
            raise
        raise ConfigError(f"--config {path}: {e}") from None


def require(ok: bool, name: str, expected: str, value: Any) -> None:
    """Raise ConfigError("--name: expected ..., got value") unless ``ok``."""
    if not ok:
        raise ConfigError(f"{flag_name(name)}: expected {expected}, got {value!r}")


# ---------------------------------------------------------------------------------------------
# the training loop's own hyperparameters

# NumPy's legacy seeds are 32-bit, and a task may derive seeds from this one (seed x 1e6 + epoch
# must stay within torch's 64 bits)
MAX_SEED = 2**32 - 1
# torch fails to create its thread pool far beyond this ("could not create a primitive")
MAX_THREADS = 1024
THREADS_AUTO = "auto: 1 for a small model, else half the cores, at most 4"
# what --device takes; rnnkit.train.runtime.resolve_device tells whether this machine has it
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
DEVICE_HELP = "auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps"


def check_device(name: Any) -> None:
    """ConfigError unless ``name`` is a device --device takes (auto, cpu, cuda, cuda:N, mps)."""
    if not (isinstance(name, str) and DEVICE_PATTERN.fullmatch(name)):
        raise ConfigError(f"--device: expected {DEVICE_HELP}, got {name!r}")


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    """``--device`` (default auto) of a verb that runs a trained model."""
    parser.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default: auto)")


@dataclass
class TrainConfig:
    """Hyperparameters of the training loop; each task's Config subclasses it.

    The budget is ``max_steps`` and/or ``max_time`` (0 = no limit, at least one must be set);
    the cosine and wsd schedules decay over whichever of the two runs out first.
    """

    # a task that resolves ``max_steps`` -1 ("auto") from its data sets this True
    AUTO_MAX_STEPS: typing.ClassVar[bool] = False

    optimizer: Literal["adamw", "adam", "rmsprop", "adagrad", "sgd"] = option("adamw", "optimizer")
    lr: float = option(2e-3, "peak learning rate")
    schedule: Literal["cosine", "wsd", "step", "plateau", "constant"] = option(
        "cosine",
        "after warmup: cosine decay to lr*min_lr_fraction over the budget; wsd: lr, then a "
        "linear decay to lr*min_lr_fraction over the last decay_fraction of the budget; step: "
        "multiply by lr_decay every lr_decay_every steps (char-rnn); plateau: multiply by "
        "lr_decay when the training loss (its mean over each lr_decay_every steps) has not "
        "improved for plateau_patience such windows, down to lr*min_lr_fraction (Keras's "
        "ReduceLROnPlateau); constant",
    )
    warmup_steps: int = option(100, "steps of linear warmup from 0 to lr")
    min_lr_fraction: float = option(
        0.1, "cosine, wsd: final lr; plateau: lowest lr; as a fraction of lr"
    )
    decay_fraction: float = option(0.3, "wsd: the last part of the budget that decays the lr")
    lr_decay: float = option(0.97, "step, plateau: the factor of one decay")
    lr_decay_every: int = option(
        1000, "step: steps between two decays; plateau: steps per window of the training loss"
    )
    plateau_patience: int = option(10, "plateau: windows without improvement before the lr decays")
    weight_decay: float = option(
        0.1, "decay of weight matrices (decoupled with adamw, an L2 penalty otherwise)"
    )
    momentum: float = option(0.9, "Adam beta1, SGD momentum")
    beta2: float = option(0.99, "Adam beta2, RMSprop smoothing constant")
    grad_clip: float = option(1.0, "clip the gradient norm to this (0 = no clipping)")
    divergence_factor: float = option(
        3.0, "stop when the train loss exceeds this times the first loss (0 = on NaN/inf only)"
    )
    max_steps: int = option(5000, "stop after this many steps (0 = no limit)")
    max_time: float = option(0.0, "stop after this many seconds of training (0 = no limit)")
    eval_every: int = option(200, "evaluate and checkpoint every this many steps")
    log_every: int = option(10, "write a metrics row every this many steps")
    seed: int = option(1337, f"random seed of initialization, dropout and sampling (0..{MAX_SEED})")
    device: str = option("auto", DEVICE_HELP)
    precision: Literal["fp32", "bf16"] = option("fp32", "fp32, or bf16 autocast")
    threads: int = option(0, f"CPU threads for torch (0 = {THREADS_AUTO}; at most {MAX_THREADS})")
    tensorboard: bool = option(True, "also log to TensorBoard (when it is installed)")
    progress: bool = option(True, "show a progress bar on stderr (only when it is a terminal)")

    def __post_init__(self) -> None:
        require(self.lr > 0, "lr", "a number > 0", self.lr)
        require(self.warmup_steps >= 0, "warmup_steps", "an int >= 0", self.warmup_steps)
        require(0 <= self.min_lr_fraction <= 1, "min_lr_fraction", "0..1", self.min_lr_fraction)
        require(0 < self.decay_fraction <= 1, "decay_fraction", "0..1", self.decay_fraction)
        require(0 < self.lr_decay <= 1, "lr_decay", "a number in (0, 1]", self.lr_decay)
        require(self.lr_decay_every >= 1, "lr_decay_every", "an int >= 1", self.lr_decay_every)
        require(
            self.plateau_patience >= 1, "plateau_patience", "an int >= 1", self.plateau_patience
        )
        require(self.weight_decay >= 0, "weight_decay", "a number >= 0", self.weight_decay)
        require(0 <= self.momentum < 1, "momentum", "a number in [0, 1)", self.momentum)
        require(0 <= self.beta2 < 1, "beta2", "a number in [0, 1)", self.beta2)
        require(self.grad_clip >= 0, "grad_clip", "a number >= 0", self.grad_clip)
        require(
            self.divergence_factor == 0 or self.divergence_factor > 1,
            "divergence_factor", "0 or a number > 1", self.divergence_factor,
        )  # fmt: skip
        if not (self.AUTO_MAX_STEPS and self.max_steps == -1):
            require(self.max_steps >= 0, "max_steps", "an int >= 0", self.max_steps)
        require(self.max_time >= 0, "max_time", "a number of seconds >= 0", self.max_time)
        if self.max_steps == 0 and self.max_time == 0:
            raise ConfigError("no training budget: set --max-steps or --max-time (or both)")
        require(self.eval_every >= 1, "eval_every", "an int >= 1", self.eval_every)
        require(self.log_every >= 1, "log_every", "an int >= 1", self.log_every)
        require(0 <= self.seed <= MAX_SEED, "seed", f"an int in 0..{MAX_SEED}", self.seed)
        require(
            0 <= self.threads <= MAX_THREADS, "threads", f"an int in 0..{MAX_THREADS}", self.threads
        )
        check_device(self.device)
