"""``rnnkit classify train | eval | predict``: thin wrappers of the Python API."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from rnnkit.metrics import format_report
from rnnkit.tasks.classify.api import (
    evaluate_model,
    load_model,
    model_inputs,
    predict_proba,
    train_run,
)
from rnnkit.tasks.classify.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.classify.data import load_path, load_splits
from rnnkit.tasks.classify.image_model import write_transforms
from rnnkit.train.config import add_device_arg, add_train_parser, train_values
from rnnkit.train.run import EXIT_INTERRUPTED, check_output_file, start_run, write_plot
from rnnkit.viz.classify import plot_confusion

# what the CLI suggests when memory runs out (rnnkit.cli), by verb
_TOO_LARGE = "the model or the data does not fit in memory here; use a machine with more"
MEMORY_HINTS = {
    "train": "use a smaller --hidden-size or --batch-size",
    "eval": _TOO_LARGE,
    "predict": _TOO_LARGE,
}


def _plot_path(run: str | Path, plot: str) -> Path | None:
    """Where ``--plot`` draws the confusion matrix: '' = RUN/confusion.png, 'none' = nowhere."""
    if plot == "none":
        return None
    if plot:
        return check_output_file(plot, "--plot", overwrite=True)
    run = Path(run)
    return (run if run.is_dir() else run.parent) / "confusion.png"


def _plot(report: dict, classes: list[str], path: Path | None, title: str) -> Path | None:
    """Draw the confusion matrix at ``path`` (None: no plot)."""
    if path is None:
        return None
    confusion = report["confusion"]
    return write_plot(
        lambda p: plot_confusion(confusion, classes, p, title), path, "confusion matrix"
    )


def train(args: argparse.Namespace) -> int:
    """``rnnkit classify train``: returns 0, or 130 when stopped by Ctrl-C."""
    with start_run(
        Config, train_values(Config, args), args.out, TASK, resume=args.resume,
        fixed=FIXED_ON_RESUME, resume_base={"head": "auto"},
    ) as (out, run):  # fmt: skip
        train_set, test_set = load_splits(run.config)
        trainer, report = train_run(run.config, train_set, out, run.resume_from, test_set=test_set)
    if trainer.summary["stop_reason"] == "interrupted":
        return EXIT_INTERRUPTED
    if report is None:  # a rank of torchrun other than 0: rank 0 reports
        return 0
    _plot(report, trainer.meta["classes"], out / "confusion.png", Path(test_set.source).name)
    print(format_report(report, f"test ({test_set.source}), best.safetensors"))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit classify eval``: metrics on the run's test split (or ``--data``); with a
    spatial transformer, transforms.png beside the confusion matrix."""
    plot = _plot_path(args.run, args.plot)
    model, cfg, meta = load_model(args.run, args.device)
    data = load_path(args.data) if args.data else load_splits(cfg)[1]
    report = evaluate_model(model, meta["classes"], model_inputs(model, data, meta))
    plot = _plot(report, meta["classes"], plot, Path(data.source).name)
    transforms = None
    if model.image and model.transformer is not None and plot is not None:
        transforms = write_transforms(model, data, plot.with_name("transforms.png"))
    if args.json:
        print(json.dumps({k: report[k] for k in ("accuracy", "macro_f1", "n")}))
    else:
        print(format_report(report, f"{data.source}"))
        if plot is not None:
            print(f"confusion matrix: {plot}")
        if transforms is not None:
            print(f"spatial transformer: {transforms}")
    return 0


def predict(args: argparse.Namespace) -> int:
    """``rnnkit classify predict``: a CSV of each sequence's (or step's) label, its probability
    and every class's probability, keyed by the input's ids (or row index)."""
    if args.output:
        check_output_file(args.output, "--output", args.overwrite, [args.data, args.run])
    model, _, meta = load_model(args.run, args.device)
    data = model_inputs(model, load_path(args.data), meta)
    probs = predict_proba(model, data)
    classes = meta["classes"]
    key = "id" if data.ids is not None else "index"
    names = data.ids if data.ids is not None else range(len(data))
    header = [key] + (["step"] if model.per_step else []) + ["label", "probability"]
    header += [f"p_{c}" for c in classes]
    handle = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        writer = csv.writer(handle)
        writer.writerow(header)
        for name, p in zip(names, probs, strict=True):
            rows = enumerate(p) if model.per_step else [(None, p)]
            for t, q in rows:
                k = int(q.argmax())
                step = [] if t is None else [t]
                writer.writerow([name, *step, classes[k], f"{q[k]:.6f}", *(f"{v:.6f}" for v in q)])
    finally:
        if args.output:
            handle.close()
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the verbs train, eval and predict to the ``classify`` parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    add_train_parser(verbs, TASK, Config, train, "a classifier")

    p = verbs.add_parser(
        "eval", help="accuracy, macro-F1, per-class report", description="Evaluate a run."
    )
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument(
        "--data",
        default="",
        help="labelled data, or a folder of IDX images (default: the run's test split)",
    )
    p.add_argument("--json", action="store_true", help='print {"accuracy", "macro_f1", "n"}')
    p.add_argument(
        "--plot",
        default="",
        help="confusion matrix PNG (default: RUN/confusion.png; none: no plot); a spatial "
        "transformer's transforms.png goes beside it",
    )
    add_device_arg(p)
    p.set_defaults(func=evaluate)

    p = verbs.add_parser("predict", help="label new sequences", description="Predict labels.")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument(
        "--data", required=True, help=".ts, .csv, .npz or .npy sequences, or a folder of IDX images"
    )
    p.add_argument("--output", default="", help="CSV file to write (default: stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    add_device_arg(p)
    p.set_defaults(func=predict)
