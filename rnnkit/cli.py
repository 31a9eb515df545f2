"""`rnnkit TASK VERB ...`: dispatch only.

Each task module in ``TASKS`` exposes ``register(subparsers)``, which adds its verbs to an
argparse sub-parser and sets ``func`` on each verb's parser; ``main`` parses and calls it.
Task modules are imported only when named (torch is slow to import), so ``--help`` and
``--version`` stay fast. A task named without a verb prints that task's help.

Errors: a bad flag, or a ``ValueError``/``OSError`` from a verb (bad input: a missing file, a
corrupted checkpoint ...), prints one line on stderr and exits with 2; an exception with an
``exit_code`` attribute (e.g. ``TrainingDiverged``) prints one line and exits with that code.
Memory running out (MemoryError, torch's OutOfMemoryError, an allocator's RuntimeError) prints
one line with the fix, the task module's ``MEMORY_HINTS[verb]`` (which flags to make smaller),
and exits with 2. Set ``RNNKIT_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from rnnkit import __version__

# task name -> (module, one-line help)
TASKS: dict[str, tuple[str, str]] = {}
TASKS["charlm"] = ("rnnkit.tasks.charlm.cli", "character-level language model: train, sample, eval")
TASKS["classify"] = ("rnnkit.tasks.classify.cli", "classify or tag sequences: train, eval, predict")
TASKS["forecast"] = ("rnnkit.tasks.forecast.cli", "forecast time series: train, predict, eval")
TASKS["draw"] = ("rnnkit.tasks.draw.cli", "draw images with a recurrent VAE: train, sample, eval")
TASKS["translate"] = ("rnnkit.tasks.translate.cli", "seq2seq with attention: train, predict, eval")
TASKS["handwriting"] = ("rnnkit.tasks.handwriting.cli", "handwriting LSTM: train, write, eval")
TASKS["caption"] = ("rnnkit.tasks.caption.cli", "captions with attention: train, predict, eval")
TASKS["inspect"] = ("rnnkit.inspect.cli", "see inside a run: inspect RUN (structure, gates, cells)")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with errors in one line (what is wrong, where to look) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(task: str | None = None) -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks (RNN, LSTM, GRU) on PyTorch, with ready pipelines.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="task", metavar="TASK")
    for name, (module, help_) in TASKS.items():
        if name == task:
            task_parser = sub.add_parser(name, help=help_, description=help_, allow_abbrev=False)
            task_parser.set_defaults(func=lambda args, p=task_parser: p.print_help())
            importlib.import_module(module).register(task_parser)
        else:
            sub.add_parser(name, help=help_, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    task = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(task if task in TASKS else None)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if not argv else 2
    command = " ".join(x for x in ("rnnkit", args.task, getattr(args, "verb", None)) if x)
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print(f"\n{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rnnkit ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        if os.environ.get("RNNKIT_DEBUG"):
            raise
        if _out_of_memory(e):
            hints = getattr(importlib.import_module(TASKS[args.task][0]), "MEMORY_HINTS", {})
            hint = hints.get(getattr(args, "verb", None), "free memory, or use a machine with more")
            print(f"{command}: error: out of memory{_allocation(e)}; {hint}", file=sys.stderr)
            return 2
        code = getattr(e, "exit_code", 2 if isinstance(e, ValueError | OSError) else None)
        if code is None:
            raise
        print(f"{command}: error: {_one_line(e)}", file=sys.stderr)
        return code


# what torch, NumPy and CUDA say when memory runs out (torch is not imported here: --help)
OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "cannot allocate memory")


def _out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` says that memory ran out: MemoryError, torch.OutOfMemoryError (by name),
    or a RuntimeError of an allocator."""
    if isinstance(e, MemoryError) or any(
        cls.__name__ == "OutOfMemoryError" for cls in type(e).__mro__
    ):
        return True
    return isinstance(e, RuntimeError) and any(s in str(e).lower() for s in OUT_OF_MEMORY)


def _allocation(e: BaseException) -> str:
    """' (it tried to allocate 1.5 TiB)' when the message says how much, else ''."""
    found = re.search(r"tried to allocate ([\d.]+) ?([KMGTP]i?B|bytes)?", str(e), re.IGNORECASE)
    if not found:
        return ""
    amount, unit = float(found[1]), found[2] or "bytes"
    if unit == "bytes":
        for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
            if amount < 1024 or unit == "PiB":
                break
            amount /= 1024
    return f" (it tried to allocate {amount:.4g} {unit})"


def _one_line(e: BaseException) -> str:
    """The message of ``e`` on one line (a library's message may span several)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return "; ".join(lines) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
