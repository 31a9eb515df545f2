"""``rnnkit charlm train | sample | eval``: thin wrappers of the Python API."""

from __future__ import annotations

import argparse
import json
import sys

from rnnkit.data.text import Corpus, encode_text, load_corpus
from rnnkit.tasks.charlm.api import load_model, score_ids, stream_sample, train_run
from rnnkit.tasks.charlm.config import FIXED_ON_RESUME, TASK, Config, preset_values
from rnnkit.train.config import (
    ConfigError,
    add_device_arg,
    add_train_parser,
    config_from_dict,
    train_values,
)
from rnnkit.train.run import EXIT_INTERRUPTED, start_run

ENGINE_HELP = "run the model with the torch or NumPy engine (default: the one that trained it)"

# what the CLI suggests when memory runs out (rnnkit.cli), by verb
_TOO_LARGE = "the model does not fit in memory here; use a machine with more"
MEMORY_HINTS = {
    "train": "use a smaller --hidden-size, --batch-size or --seq-length",
    "sample": _TOO_LARGE,
    "eval": _TOO_LARGE,
}


def train(args: argparse.Namespace) -> int:
    """``rnnkit charlm train``: returns 0, or 130 when stopped by Ctrl-C."""
    values = train_values(Config, args)  # the flags over --config FILE
    preset = values.get("preset", "none")  # its values go under both
    base = config_from_dict(Config, preset_values(preset)) if preset != "none" else None
    with start_run(
        Config, values, args.out, TASK, resume=args.resume, fixed=FIXED_ON_RESUME, base=base
    ) as (out, run):
        if args.resume:
            corpus = Corpus.load(out)
        else:
            corpus = load_corpus(run.config.data or None, progress=run.config.progress)
        summary = train_run(run.config, corpus, out, run.resume_from)
    return EXIT_INTERRUPTED if summary["stop_reason"] == "interrupted" else 0


def sample(args: argparse.Namespace) -> int:
    """``rnnkit charlm sample``: streams the prime and its continuation to stdout."""
    if args.seed is not None and not 0 <= args.seed < 2**64:  # what torch and NumPy take
        raise ConfigError(f"--seed: expected an int in 0..2**64-1, got {args.seed}")
    model, vocab, _ = load_model(args.checkpoint, args.device, args.engine)
    text = stream_sample(
        model, vocab, args.prime, args.length, args.temperature, args.top_k, args.seed
    )
    sys.stdout.write(args.prime)
    for ch in text:
        sys.stdout.write(ch)
        if ch == "\n":
            sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit charlm eval``: nats and bits per character of a text."""
    model, vocab, _ = load_model(args.checkpoint, args.device, args.engine)
    result = score_ids(model, encode_text(args.data, vocab), progress=True)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['nats_per_char']:.4f} nats/char, {result['bits_per_char']:.4f} bits/char "
            f"over {result['chars']:,} chars"
        )
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the verbs train, sample and eval to the ``charlm`` parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    add_train_parser(verbs, TASK, Config, train, "a character language model")

    p = verbs.add_parser("sample", help="stream text from a model", description="Sample text.")
    p.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--prime", default="", help="text to start from (printed first)")
    p.add_argument("--length", type=int, default=500, help="characters to generate")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy (default 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest (0 = all)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    add_device_arg(p)
    p.add_argument("--engine", choices=("torch", "numpy"), help=ENGINE_HELP)
    p.set_defaults(func=sample)

    p = verbs.add_parser("eval", help="nats/char on a text", description="Score a text.")
    p.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--data", required=True, help="UTF-8 text file or folder of text files")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    add_device_arg(p)
    p.add_argument("--engine", choices=("torch", "numpy"), help=ENGINE_HELP)
    p.set_defaults(func=evaluate)
