"""``rnnkit handwriting train | write | eval``: thin wrappers of the Python API."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rnnkit.data.strokes import read_line_strokes
from rnnkit.tasks.handwriting.api import (
    Writing,
    evaluate_lines,
    load_model,
    load_splits,
    train_run,
    write_text,
)
from rnnkit.tasks.handwriting.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.handwriting.data import Alphabet
from rnnkit.train.config import ConfigError, add_device_arg, add_train_parser, train_values
from rnnkit.train.run import EXIT_INTERRUPTED, check_output_file, start_run, write_plot
from rnnkit.viz.handwriting import plot_density, plot_strokes, plot_window, strokes_svg

_TOO_LARGE = "the model does not fit in memory here; use a machine with more"
MEMORY_HINTS = {
    "train": "use a smaller --hidden-size or --batch-size",
    "write": _TOO_LARGE,
    "eval": _TOO_LARGE,
}
OUT_KINDS = (".svg", ".png", ".npz")


def train(args: argparse.Namespace) -> int:
    """``rnnkit handwriting train``: returns 0, or 130 when stopped by Ctrl-C."""
    with start_run(
        Config, train_values(Config, args), args.out, TASK, resume=args.resume,
        fixed=FIXED_ON_RESUME,
    ) as (out, run):  # fmt: skip
        splits = load_splits(run.config)
        trainer, report = train_run(run.config, splits, out, run.resume_from)
    if trainer.summary["stop_reason"] == "interrupted":
        return EXIT_INTERRUPTED
    print(
        f"test ({report['n']} lines), best.safetensors: {report['nll_per_point']:.4f} nats per "
        f"point, {report['nll_per_sequence']:.2f} per line"
    )
    return 0


def read_style(path: str, text: str) -> tuple[np.ndarray, str]:
    """The style strokes of ``--style``: a .npz that ``write --out`` made (offsets and text),
    a .npy of offsets (T, 3), or an IAM lineStrokes .xml; ``text`` (``--style-text``) overrides
    the text a .npz holds."""
    p = Path(path)
    if p.suffix == ".xml":
        return read_line_strokes(p), text
    try:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as f:
                return f["offsets"], text or str(f["text"])
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False), text
    except (OSError, KeyError, ValueError) as e:
        raise ConfigError(f"--style {path}: cannot read its strokes ({e})") from None
    raise ConfigError(f"--style {path}: expected a .npz (from write --out), .npy or IAM .xml file")


def save_writing(writing: Writing, path: Path) -> None:
    """The written line as SVG, PNG or .npz (offsets and text, usable as a --style)."""
    if path.suffix == ".npz":
        with open(path, "wb") as f:
            np.savez(f, offsets=writing.offsets, text=np.array(writing.text))
    elif path.suffix == ".svg":
        strokes_svg(writing.offsets, path)
    else:
        write_plot(lambda p: plot_strokes(writing.offsets, p, writing.text), path, "line")


def write(args: argparse.Namespace) -> int:
    """``rnnkit handwriting write``: a sampled line to --out, and the optional figures."""
    out = Path(args.out)
    if out.suffix not in OUT_KINDS:
        raise ConfigError(f"--out {out}: expected a .svg, .png or .npz file name")
    inputs = [args.run, args.style]
    check_output_file(out, "--out", args.overwrite, inputs)
    plots = {flag: getattr(args, flag) for flag in ("window_plot", "density_plot")}
    for flag, path in plots.items():
        if path:
            check_output_file(path, "--" + flag.replace("_", "-"), args.overwrite, inputs)
    model, _, meta = load_model(args.run, args.device)
    if args.window_plot and not model.synthesis:
        raise ConfigError("--window-plot: a prediction network has no window; drop it")
    style = read_style(args.style, args.style_text) if args.style else None
    writing = write_text(
        model, Alphabet(meta["alphabet"]), args.text, args.bias, style, args.seed, args.max_points
    )
    save_writing(writing, out)
    print(f"wrote {len(writing.offsets)} points to {out}", end="")
    if model.synthesis and not writing.finished:
        print(" (stopped at --max-points before the window passed the end)", end="")
    print()
    if args.window_plot:
        write_plot(lambda p: plot_window(writing.phi, writing.text, p), args.window_plot, "window")
        print(f"window weights: {args.window_plot}")
    if args.density_plot:
        scale = model.scale.cpu().numpy()
        draw = lambda p: plot_density(writing.offsets, writing.y, scale, p)  # noqa: E731
        write_plot(draw, args.density_plot, "density map")
        print(f"mixture density: {args.density_plot}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit handwriting eval``: NLL on the run's held-out (test) lines."""
    model, cfg, meta = load_model(args.run, args.device)
    report = evaluate_lines(model, load_splits(cfg).test, Alphabet(meta["alphabet"]))
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{report['nll_per_point']:.4f} nats per point, {report['nll_per_sequence']:.2f} "
            f"per line, over {report['n']} held-out lines"
        )
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the verbs train, write and eval to the ``handwriting`` parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    add_train_parser(verbs, TASK, Config, train, "a handwriting prediction or synthesis network")

    p = verbs.add_parser("write", help="write a line", description="Sample handwriting.")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--text", default="", help="the text to write (synthesis network)")
    p.add_argument("--bias", type=float, default=0.0, help="sampling bias: 0 = as learned, "
                   "larger = neater (default 0)")  # fmt: skip
    p.add_argument("--style", default="", help="prime with a style line: .npz (from write "
                   "--out), .npy offsets or IAM .xml")  # fmt: skip
    p.add_argument("--style-text", default="", help="the text the --style strokes write")
    p.add_argument("--out", required=True, help="output: .svg, .png or .npz (offsets and text)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    p.add_argument("--max-points", type=int, default=0, help="stop after this many points "
                   "(default: 40 per character; 700 for a prediction network)")  # fmt: skip
    p.add_argument("--window-plot", default="", help="PNG of the window over the text")
    p.add_argument("--density-plot", default="", help="PNG of the mixture density")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_device_arg(p)
    p.set_defaults(func=write)

    p = verbs.add_parser("eval", help="NLL on held-out lines", description="Evaluate a run.")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--json", action="store_true", help='print {"nll_per_point", '
                   '"nll_per_sequence", "n"}')  # fmt: skip
    add_device_arg(p)
    p.set_defaults(func=evaluate)
