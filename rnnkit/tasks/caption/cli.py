"""``rnnkit caption train | predict | eval``: thin wrappers of the Python API."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnnkit.tasks.caption.api import (
    as_images,
    caption_ids,
    evaluate_model,
    load_model,
    train_run,
    write_attention,
)
from rnnkit.tasks.caption.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.caption.data import load_splits
from rnnkit.tasks.caption.features import lookup, read_features
from rnnkit.train.config import add_device_arg, add_train_parser, train_values
from rnnkit.train.run import EXIT_INTERRUPTED, check_output_file, start_run

# what the CLI suggests when memory runs out (rnnkit.cli), by verb
MEMORY_HINTS = {
    "train": "use a smaller --batch-size, --hidden-size or --channels",
    "eval": "use a smaller --beam",
    "predict": "use a smaller --beam, or fewer images",
}


def _format(scores: dict) -> str:
    text = (
        f"BLEU-1 {scores['bleu1']:.3f}  BLEU-4 {scores['bleu4']:.3f}  CIDEr {scores['cider']:.3f}"
        f"  distinct {scores['distinct_captions']:.3f}"
    )
    if "localization" in scores:
        text += (
            f"  localization {scores['localization']:.3f} (chance "
            f"{scores['localization_chance']:.3f})"
        )
    return text + f"  ({scores['n']} images)"


def train(args: argparse.Namespace) -> int:
    """``rnnkit caption train``: returns 0, or 130 when stopped by Ctrl-C."""
    with start_run(
        Config, train_values(Config, args), args.out, TASK, resume=args.resume,
        fixed=FIXED_ON_RESUME,
    ) as (out, run):  # fmt: skip
        splits = load_splits(run.config)
        trainer, report = train_run(run.config, splits, out, run.resume_from)
    if trainer.summary["stop_reason"] == "interrupted":
        return EXIT_INTERRUPTED
    if report is not None:
        print(
            f"test ({splits.source}), best.safetensors, beam {run.config.beam}: {_format(report)}"
        )
    return 0


def _options(args: argparse.Namespace) -> dict:
    """The decoding flags given (the run's config fills the others)."""
    for name in ("beam", "max_length"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected an int >= 1, got {value}")
    return {k: getattr(args, k) for k in ("beam", "max_length") if getattr(args, k) is not None}


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit caption eval``: BLEU-1..4, CIDEr, distinct captions and (scenes) localisation
    on the run's test split."""
    options = _options(args)
    loaded = load_model(args.run, args.device)
    test = load_splits(loaded.cfg, test_only=True).test
    names = loaded.meta.get("names", [])
    scores = evaluate_model(loaded, test, names, progress=True, **options)
    source = f"{loaded.meta.get('data_source')} test"
    print(json.dumps(scores) if args.json else f"{source}: {_format(scores)}")
    return 0


def predict(args: argparse.Namespace) -> int:
    """``rnnkit caption predict``: one caption a line, of each image."""
    options = _options(args)
    if args.attention_map:
        check_output_file(args.attention_map, "--attention-map", args.overwrite, [args.run])
    loaded = load_model(args.run, args.device)
    if (loaded.cfg.encoder == "features") != bool(args.features):
        raise ValueError(
            "--features FILE goes with a run of --encoder features, which needs it: its "
            "annotations of each IMAGE (a file name)"
        )
    if args.features:
        if args.attention_map:
            raise ValueError("--attention-map: a run of --encoder features has no pixels to draw")
        found = lookup(read_features(args.features), args.images, args.features, "given")
        images = as_images(loaded, found)
    else:
        images = as_images(loaded, args.images)
    for ids in caption_ids(loaded, images, **options):
        print(loaded.vocab.decode(ids), flush=True)
    if args.attention_map:
        if write_attention(loaded, images, Path(args.attention_map), **options) is None:
            print("no attention map: the model was trained with --attention none", file=sys.stderr)
    return 0


def _add_decoding_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beam", type=int, help="beam width (1 = greedy; default: the run's)")
    p.add_argument("--max-length", type=int, help="longest caption in words")
    add_device_arg(p)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the verbs train, predict and eval to the ``caption`` parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    add_train_parser(verbs, TASK, Config, train, "an image captioner (Show, Attend and Tell)")

    p = verbs.add_parser("predict", help="caption images", description="Caption images.")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files (JPEG, PNG ...)")
    p.add_argument(
        "--features", default="",
        help="a run of --encoder features: the FILE of annotations, keyed by the IMAGE names",
    )  # fmt: skip
    p.add_argument("--attention-map", default="", help="PNG of each word's attention")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --attention-map")
    _add_decoding_args(p)
    p.set_defaults(func=predict)

    p = verbs.add_parser("eval", help="BLEU, CIDEr, localisation", description="Evaluate a run.")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument(
        "--json", action="store_true",
        help='print {"bleu1".."bleu4", "cider", "n", "distinct_captions", "localization", ...}',
    )  # fmt: skip
    _add_decoding_args(p)
    p.set_defaults(func=evaluate)
