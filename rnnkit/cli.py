"""`rnnkit TASK VERB ...`: dispatch only.

Each task module in ``TASKS`` exposes ``register(subparsers)``, which adds its verbs to an
argparse sub-parser and sets ``func`` on each verb's parser; ``main`` parses and calls it.
Task modules are imported only when named (torch is slow to import), so ``--help`` and
``--version`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rnnkit import __version__

# task name -> (module, one-line help)
TASKS: dict[str, tuple[str, str]] = {}


def build_parser(task: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks (RNN, LSTM, GRU) on PyTorch, with ready pipelines.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="task", metavar="TASK")
    for name, (module, help_) in TASKS.items():
        if name == task:
            task_parser = sub.add_parser(name, help=help_, description=help_)
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
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
