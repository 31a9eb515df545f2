"""``rnnkit draw train | sample | eval``: thin wrappers of the Python API."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from rnnkit.tasks.draw.api import bound_report, generator, load_model, train_run, write_drawings
from rnnkit.tasks.draw.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.draw.data import binary, load_images, make_splits
from rnnkit.train.config import ConfigError, add_device_arg, add_train_parser, train_values
from rnnkit.train.run import EXIT_INTERRUPTED, check_output_file, start_run

MAX_SAMPLES = 1024  # --n: the GIF holds a grid of them at every step

# what the CLI suggests when memory runs out (rnnkit.cli), by verb
MEMORY_HINTS = {
    "train": "use a smaller --hidden-size, --batch-size or --steps",
    "sample": "use a smaller --n",
    "eval": "the model does not fit in memory here; use a machine with more",
}


def _report_line(report: dict) -> str:
    return (
        f"NLL bound {report['nll_bound']:.2f} nats per image (reconstruction "
        f"{report['reconstruction']:.2f} + KL {report['kl']:.2f}) over {report['n']} images"
    )


def train(args: argparse.Namespace) -> int:
    """``rnnkit draw train``: returns 0, or 130 when stopped by Ctrl-C."""
    with start_run(
        Config, train_values(Config, args), args.out, TASK, resume=args.resume,
        fixed=FIXED_ON_RESUME,
    ) as (out, run):  # fmt: skip
        cfg = run.config
        splits = make_splits(cfg, load_images(cfg, "train"), load_images(cfg, "test"))
        trainer, report = train_run(cfg, splits, out, run.resume_from)
    if trainer.summary["stop_reason"] == "interrupted":
        return EXIT_INTERRUPTED
    print(f"test, best.safetensors: {_report_line(report)}")
    return 0


def sample(args: argparse.Namespace) -> int:
    """``rnnkit draw sample``: the sample grid, the GIF and the strip of the canvas per step."""
    if not 1 <= args.n <= MAX_SAMPLES:
        raise ConfigError(f"--n: expected an int in 1..{MAX_SAMPLES}, got {args.n}")
    run = Path(args.run)
    out = Path(args.out) if args.out else (run if run.is_dir() else run.parent)
    if not out.is_dir():
        raise ConfigError(f"--out {out}: no such directory; create it first")
    for name in ("samples.png", "canvas.gif", "canvas.png"):
        check_output_file(out / name, "--out", overwrite=True)
    model, _, _ = load_model(args.run, args.device)
    drawing = model.generate(args.n, generator(args.seed))
    try:
        paths = write_drawings(drawing, out)
    except OSError as e:
        raise ConfigError(
            f"--out {out}: cannot write the drawings ({e.strerror or type(e).__name__}); pass "
            f"--out DIR elsewhere"
        ) from None
    print(f"samples: {paths['samples']}\ncanvas per step: {paths['gif']}, {paths['strip']}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit draw eval``: the bound on the test split of the run's data (or ``--data``)."""
    model, cfg, _ = load_model(args.run, args.device)
    if args.data:
        cfg = dataclasses.replace(cfg, data=args.data)
    images = load_images(cfg, "test")
    if images.shape[1:] != (model.height, model.width):
        raise ConfigError(
            f"--data {cfg.data}: images of {images.shape[1]} x {images.shape[2]}, the model "
            f"draws {model.height} x {model.width}; pass images of its size"
        )
    report = bound_report(model, binary(images, cfg, "test"), args.seed)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{cfg.data or 'Fashion-MNIST'} test: {_report_line(report)}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the verbs train, sample and eval to the ``draw`` parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    add_train_parser(verbs, TASK, Config, train, "DRAW on binarized images")

    p = verbs.add_parser(
        "sample", help="draw new images", description="Draw images, and the canvas per step."
    )
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--n", type=int, default=64, help="images to draw (default 64)")
    p.add_argument(
        "--out", default="", help="folder for samples.png, canvas.gif, canvas.png (default: RUN)"
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    add_device_arg(p)
    p.set_defaults(func=sample)

    p = verbs.add_parser(
        "eval", help="the NLL bound on test images", description="Score test images."
    )
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--data", default="", help="folder of IDX files (default: the run's data)")
    p.add_argument(
        "--json", action="store_true", help='print {"nll_bound", "reconstruction", "kl", "n"}'
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the latents' draw (default 0)")
    add_device_arg(p)
    p.set_defaults(func=evaluate)
