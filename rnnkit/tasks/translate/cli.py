"""``rnnkit translate train | predict | eval``: thin wrappers of the Python API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

from rnnkit.data.pairs import PairsDataError, load_pairs
from rnnkit.tasks.translate.api import (
    EVAL_BATCH,
    evaluate_model,
    load_model,
    train_run,
    translate_texts,
    write_attention,
)
from rnnkit.tasks.translate.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.translate.data import load_splits
from rnnkit.train.config import ConfigError, add_device_arg, add_train_parser, train_values
from rnnkit.train.run import EXIT_INTERRUPTED, check_output_file, start_run

# what the CLI suggests when memory runs out (rnnkit.cli), by verb
MEMORY_HINTS = {
    "train": "use a smaller --hidden-size, --batch-size or --max-tokens",
    "eval": "use a smaller --beam",
    "predict": "use a smaller --beam",
}


def _format(scores: dict) -> str:
    return (
        f"BLEU {scores['bleu']:.2f}  chrF {scores['chrf']:.2f}  exact match "
        f"{scores['exact_match']:.4f}  ({scores['n']} sentences)"
    )


def train(args: argparse.Namespace) -> int:
    """``rnnkit translate train``: returns 0, or 130 when stopped by Ctrl-C."""
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
    names = ("beam", "length_penalty", "max_length", "temperature")
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit translate eval``: BLEU, chrF and exact match on the run's test split (or
    ``--data``)."""
    loaded = load_model(args.run, args.device)
    if args.data:
        pairs, source = load_pairs(args.data, loaded.cfg.reverse), args.data
    else:
        pairs, source = load_splits(loaded.cfg).test, f"{loaded.meta.get('data_source')} test"
    scores = evaluate_model(loaded, pairs, progress=True, **_options(args))
    print(json.dumps(scores) if args.json else f"{source}: {_format(scores)}")
    return 0


def _lines(path: str) -> Iterator[list[str]]:
    """The lines of ``path`` (``-``: stdin), EVAL_BATCH at a time, read as they come."""
    handle = sys.stdin if path == "-" else open(path, encoding="utf-8")
    chunk: list[str] = []
    read = 0
    try:
        for line in handle:
            read += 1
            chunk.append(line.rstrip("\r\n"))
            if len(chunk) == EVAL_BATCH:
                yield chunk
                chunk = []
    except UnicodeDecodeError:
        raise PairsDataError(f"--input {path}: not UTF-8 text (line {read + 1})") from None
    finally:
        if handle is not sys.stdin:
            handle.close()
    if chunk:
        yield chunk


def predict(args: argparse.Namespace) -> int:
    """``rnnkit translate predict``: one translation a line of ``--text`` or ``--input``."""
    if bool(args.text) == bool(args.input):
        raise ConfigError("expected --text TEXT (one or more) or --input FILE, one of the two")
    if args.attention_map:
        if not args.text:
            raise ConfigError("--attention-map goes with --text; give the sentences to map")
        check_output_file(args.attention_map, "--attention-map", True, [args.run])
    if args.input and args.input != "-" and not Path(args.input).is_file():
        raise ConfigError(f"--input {args.input}: no such file")
    loaded = load_model(args.run, args.device)
    options = _options(args)
    if args.temperature is not None:
        torch.manual_seed(args.seed)
    chunks = [args.text] if args.text else _lines(args.input)
    for chunk in chunks:
        for line in translate_texts(loaded, chunk, **options):
            print(line, flush=True)
    if args.attention_map:
        options.pop("temperature", None)
        path = write_attention(loaded, args.text, Path(args.attention_map), **options)
        if path is None:
            print("no attention map: the model was trained with --attention none", file=sys.stderr)
    return 0


def _add_decoding_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beam", type=int, help="beam width (1 = greedy; default: the run's)")
    p.add_argument("--length-penalty", type=float, help="GNMT alpha (default: the run's)")
    p.add_argument("--max-length", type=int, help="longest translation in tokens")
    add_device_arg(p)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the verbs train, predict and eval to the ``translate`` parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    add_train_parser(verbs, TASK, Config, train, "an encoder-decoder with attention")

    p = verbs.add_parser("predict", help="translate sentences", description="Translate.")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--text", action="append", default=[], help="a sentence (repeatable)")
    p.add_argument("--input", default="", help="a file of one sentence a line (- = stdin)")
    p.add_argument("--attention-map", default="", help="PNG of the attention of each --text")
    p.add_argument("--temperature", type=float, help="sample at this temperature, not search")
    p.add_argument("--seed", type=int, default=0, help="seed of --temperature's draws (default 0)")
    _add_decoding_args(p)
    p.set_defaults(func=predict)

    p = verbs.add_parser("eval", help="BLEU, chrF, exact match", description="Evaluate a run.")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--data", default="", help="pairs file (default: the run's test split)")
    p.add_argument("--json", action="store_true", help='print {"bleu", "chrf", "exact_match", "n"}')
    _add_decoding_args(p)
    p.set_defaults(func=evaluate)
