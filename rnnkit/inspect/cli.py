"""``rnnkit inspect RUN``: the verb-less command of ``rnnkit.inspect`` (structure, gates,
saturation and, for charlm, the cells page and ranking) for a run of charlm, classify or
forecast; the attention maps of a translate or caption run."""

from __future__ import annotations

import argparse
import json

from rnnkit.inspect.analysis import FEATURES

MEMORY_HINTS = {None: "pass a shorter --chars, or --device cpu"}


def _cells(value: str) -> list[int]:
    try:
        cells = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected cell numbers like 3,17,42, got {value!r}"
        ) from None
    if not cells:
        raise argparse.ArgumentTypeError("expected at least one cell number")
    return cells


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {value!r}")
    return n


def inspect(args: argparse.Namespace) -> int:
    """Write the files, print where (or, with --json, the ranking)."""
    from rnnkit.inspect import inspect_run
    from rnnkit.inspect.subjects import run_task

    if args.run is None:  # `rnnkit inspect` alone: its help, as a task named without a verb
        args.parser.print_help()
        return 0
    if args.json and run_task(args.run) != "charlm":
        raise ValueError(
            f"--json prints the cells ranked by features of a text ({', '.join(FEATURES)}), and "
            f"only charlm runs read text; drop --json"
        )
    result = inspect_run(
        args.run, args.out, args.text, args.data, args.index, args.chars, args.layer, args.cells,
        args.top, args.device,
    )  # fmt: skip
    if args.json:
        files = [str(p) for p in result.files]
        report = {"cells": result.cells, "best": result.best, "files": files}
        print(json.dumps(report | ({"dropped": result.dropped} if result.dropped else {})))
        return 0
    if result.dropped:
        print(f"inspect: left out the characters the model does not know: {result.dropped!r}")
    print(f"inspect: wrote {', '.join(p.name for p in result.files)} in {result.files[0].parent}")
    for feature, cell in result.best.items():
        print(f"  {feature:<14} best tracked by layer {cell['layer']} cell {cell['cell']} "
              f"({cell['gate']}): r = {cell['r']:+.3f}")  # fmt: skip
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rnnkit inspect`` to its parser."""
    from rnnkit.inspect.subjects import DEFAULT_CHARS

    parser.add_argument(
        "run", nargs="?",
        help="a run (directory or checkpoint) of charlm, classify, forecast, translate or "
        "caption, as `rnnkit TASK train --out RUN` writes it",
    )  # fmt: skip
    parser.add_argument("--out", default=None, help="folder for the files (default: the run's)")
    parser.add_argument("--text", default=None,
                        help="charlm: a UTF-8 text file to read (default: the run's held-out "
                        "text, else a sample of the model); translate: sentences, one a "
                        "line (default: the run's test split)")  # fmt: skip
    parser.add_argument("--data", default=None,
                        help="classify/forecast: data file (default: the run's data); caption: "
                        "an image or a folder of images (default: its test split)")  # fmt: skip
    parser.add_argument("--index", type=int, default=0, help="which sequence/series of the data")
    parser.add_argument("--chars", type=_positive, default=DEFAULT_CHARS,
                        help="charlm: characters of text read at most")  # fmt: skip
    parser.add_argument("--layer", type=int, default=None, help="gates.png: layer (default last)")
    parser.add_argument("--cells", type=_cells, default=None,
                        help="gates.png: cells, e.g. 3,17 (default: the best-ranked)")  # fmt: skip
    parser.add_argument("--top", type=_positive, default=20, help="cells in the ranking")
    parser.add_argument("--json", action="store_true",
                        help="print the ranking of cells as JSON (charlm)")  # fmt: skip
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.set_defaults(func=inspect, parser=parser)
