"""The Python API of ``rnnkit translate``: ``Translator(**config).fit(pairs).translate(texts)``.

``train_run`` is what ``rnnkit translate train`` and ``Translator.fit`` both run; ``load_model``
rebuilds a model and its tokenizers from a checkpoint alone; ``translate_texts`` and
``evaluate_model`` (BLEU, chrF, exact match by ``rnnkit.metrics.translation``) use it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.data.pairs import Pair, PairsDataError, Splits, split_pairs
from rnnkit.data.text import progress_bar
from rnnkit.data.tokens import PAD, Tokenizer
from rnnkit.metrics.translation import translation_scores
from rnnkit.tasks.translate.config import TASK, Config
from rnnkit.tasks.translate.data import (
    Encoded,
    PairBatches,
    encode_pairs,
    eval_batches,
    fit_tokenizers,
    load_splits,
    pad_sources,
)
from rnnkit.tasks.translate.model import Seq2Seq
from rnnkit.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    require_meta,
    resolve_checkpoint,
    strip_prefix,
)
from rnnkit.train.config import config_from_dict
from rnnkit.train.run import open_run, write_plot
from rnnkit.train.runtime import resolve_device, seed_everything
from rnnkit.train.torch_engine import TorchEngine
from rnnkit.train.trainer import Trainer
from rnnkit.viz.translate import plot_attention

EVAL_BATCH = 64
PLOTTED = 4  # test sentences in attention.png


class Loaded(NamedTuple):
    """A trained model (eval mode), its config, checkpoint metadata and tokenizers."""

    model: Seq2Seq
    cfg: Config
    meta: dict
    tokenizers: tuple[Tokenizer, Tokenizer]


def load_model(path: str | Path, device: str = "auto") -> Loaded:
    """The model of a run directory or checkpoint file."""
    path = resolve_checkpoint(path)
    tensors, meta = load_checkpoint(path, task=TASK)
    require_meta(meta, ("config", "tokenizers", "max_target_length"), path)
    try:
        tokenizers = tuple(
            Tokenizer.from_dict(meta["tokenizers"][side]) for side in ("source", "target")
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: {e}; use the checkpoint as rnnkit wrote it, or train again"
        ) from None
    cfg = config_from_dict(Config, meta["config"])
    model = Seq2Seq(cfg, tokenizers[0].size, tokenizers[1].size)
    load_weights(model, strip_prefix("model", tensors), path)
    return Loaded(model.to(resolve_device(device)).eval(), cfg, meta, tokenizers)


# ---------------------------------------------------------------------------------------------
# inference and scores


def decode_limit(cfg: Config, meta: dict) -> int:
    """The longest translation in tokens: ``--max-length``, else the longest target + 10."""
    return cfg.max_length or int(meta["max_target_length"]) + 10


@torch.no_grad()
def translate_ids(
    model: Seq2Seq, sources: list[np.ndarray], *, max_length: int, beam: int = 1,
    length_penalty: float = 0.0, temperature: float | None = None, batch_size: int = EVAL_BATCH,
    progress: bool = False,
) -> tuple[list[list[int]], list[bool]]:  # fmt: skip
    """(output ids, ended) of each source (an empty source gives an empty output), batched by
    length; ``progress``: a progress bar on a terminal."""
    model.eval()
    device = next(model.parameters()).device
    outputs: list[list[int]] = [[] for _ in sources]
    ended = [True] * len(sources)
    order = [i for i in np.argsort([len(s) for s in sources], kind="stable") if len(sources[i])]
    bar = progress_bar(len(order), "translating", "sentence", progress)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        x = pad_sources([sources[i] for i in index]).to(device)
        found = model.decode(x, max_length=max_length, beam=beam, length_penalty=length_penalty,
                             temperature=temperature)  # fmt: skip
        for row, i in enumerate(index):
            outputs[i], ended[i] = found.tokens[row], bool(found.ended[row])
        bar.update(len(index))
    bar.close()
    return outputs, ended


def translate_texts(loaded: Loaded, texts: Sequence[str], **options: Any) -> list[str]:
    """Translations of ``texts`` (options: beam, length_penalty, max_length, temperature;
    default: the run's)."""
    source_tok, target_tok = loaded.tokenizers
    options = {"beam": loaded.cfg.beam, "length_penalty": loaded.cfg.length_penalty,
               "max_length": decode_limit(loaded.cfg, loaded.meta)} | options  # fmt: skip
    sources = [np.array(source_tok.encode(t), dtype=np.int64) for t in texts]
    outputs, _ = translate_ids(loaded.model, sources, **options)
    return [target_tok.decode(ids) for ids in outputs]


def evaluate_model(loaded: Loaded, pairs: Sequence[Pair], **options: Any) -> dict[str, float]:
    """BLEU, chrF, exact match and n of the translations of ``pairs``' sources."""
    if not pairs:
        raise PairsDataError("no pairs to evaluate on (an empty test split?)")
    hypotheses = translate_texts(loaded, [s for s, _ in pairs], **options)
    return translation_scores(hypotheses, [t for _, t in pairs])


@torch.no_grad()
def mean_loss(model: Seq2Seq, data: Encoded) -> float:
    """Mean cross-entropy per target token (with END; no label smoothing), teacher-forced."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for x, y in eval_batches(data, EVAL_BATCH):
        logits, _ = model(x.to(device), y.to(device))
        gold = y[:, 1:].to(device).reshape(-1)
        total += F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), gold,
                                 ignore_index=PAD, reduction="sum").item()  # fmt: skip
        count += int((gold != PAD).sum())
    return total / count


def attention_maps(loaded: Loaded, texts: Sequence[str], **options: Any) -> list[tuple]:
    """(weights (T, S), source tokens, output tokens) of each text, the output decoded as
    ``translate_texts`` does; empty without attention."""
    if loaded.model.attention is None:
        return []
    source_tok, target_tok = loaded.tokenizers
    options = {"beam": loaded.cfg.beam, "length_penalty": loaded.cfg.length_penalty,
               "max_length": decode_limit(loaded.cfg, loaded.meta)} | options  # fmt: skip
    device = next(loaded.model.parameters()).device
    maps = []
    for text in texts:
        ids = np.array(source_tok.encode(text), dtype=np.int64)
        if not len(ids):
            continue
        (output,), (ended,) = translate_ids(loaded.model, [ids], **options)
        weights = loaded.model.attention_weights(pad_sources([ids]).to(device), output)
        labels = [target_tok.piece(i) for i in output] + (["</s>"] if ended else [])
        maps.append((weights[: len(labels)].cpu().numpy(), source_tok.tokens(text), labels))
    return maps


def write_attention(
    loaded: Loaded, texts: Sequence[str], path: Path, **options: Any
) -> Path | None:
    """attention.png of ``texts`` at ``path`` (None: the model has no attention)."""
    maps = attention_maps(loaded, texts, **options)
    if not maps:
        return None
    return write_plot(lambda p: plot_attention(maps, p), path, "attention map")


# ---------------------------------------------------------------------------------------------
# training


def train_run(
    cfg: Config, splits: Splits, out: Path, resume_from: tuple | None = None, verbose: bool = True
) -> tuple[Trainer, dict | None]:
    """Train ``cfg`` on ``splits`` into the run directory ``out``; then (unless interrupted)
    score best.safetensors on the test split and draw attention.png. Returns (trainer, test
    scores or None)."""
    if resume_from is not None:  # the run's own tokenizers
        saved = resume_from[1]["tokenizers"]
        tokenizers = tuple(Tokenizer.from_dict(saved[side]) for side in ("source", "target"))
    else:
        tokenizers = fit_tokenizers(cfg, splits.train)
    fit = encode_pairs(splits.train, tokenizers, cfg.max_tokens)
    valid = encode_pairs(splits.valid, tokenizers)
    if not len(valid):
        raise PairsDataError(f"{splits.source}: no validation pairs with tokens on both sides")
    seed_everything(cfg.seed)
    model = Seq2Seq(cfg, tokenizers[0].size, tokenizers[1].size)
    batches = PairBatches(fit, cfg.batch_size, cfg.seed)
    engine = TorchEngine(model, cfg, batches, lambda m: mean_loss(m, valid))
    meta = {
        "tokenizers": {
            side: tok.to_dict() for side, tok in zip(("source", "target"), tokenizers, strict=True)
        },
        "max_target_length": int(max(len(t) for t in fit.target)),
        "data_source": splits.source,
    }
    trainer = Trainer(
        engine,
        cfg,
        out,
        task=TASK,
        meta=meta,
        unit="pair",
        resume_from=resume_from,
        verbose=verbose,
    )
    if verbose:
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"translate: {splits.source}: {len(fit)} training pairs (of {len(splits.train)}, "
            f"<= {cfg.max_tokens} tokens), {len(valid)} validation, {len(splits.test)} test; "
            f"tokens {cfg.side_tokens('source')} ({tokenizers[0].size}) -> "
            f"{cfg.side_tokens('target')} ({tokenizers[1].size}); {cfg.cell.upper()} "
            f"{cfg.hidden_size}, attention {cfg.attention}, {n_params:,} parameters; "
            f"{batches.per_epoch} steps per epoch -> {out}",
            flush=True,
        )
    summary = trainer.fit()
    if summary["stop_reason"] == "interrupted" or not splits.test:
        return trainer, None
    best = load_model(out, cfg.device)
    report = evaluate_model(best, splits.test, progress=verbose)
    trainer.add_results(**{f"test_{k}": v for k, v in report.items()})
    write_attention(best, [s for s, _ in splits.test[:PLOTTED]], out / "attention.png")
    return trainer, report


class Translator:
    """The Python API of ``rnnkit translate``.

    ``Translator(**config)`` takes fields of ``Config`` (``attention="bahdanau",
    max_steps=500``). ``fit(pairs)`` trains on (source, target) pairs (None: the config's
    ``dataset`` or ``data``), held out by a hash of the source into train, validation and test
    (``valid_fraction``, ``test_fraction``), in ``out`` (default: a temporary directory,
    removed after; the model stays in memory). ``translate(texts, beam=5)`` translates,
    ``evaluate(pairs=None)`` scores BLEU, chrF and exact match (default: the test split of
    ``fit``'s data). ``Translator.load(run)`` loads any run.
    """

    def __init__(self, **config: Any):
        self.cfg = config_from_dict(Config, {"tensorboard": False} | config)
        self.loaded: Loaded | None = None
        self.test: list[Pair] | None = None  # load(): the run's test split, read when needed
        self.summary: dict[str, Any] = {}

    def fit(self, pairs: Sequence[Pair] | None = None, out: str | Path | None = None,
            verbose: bool = False) -> Translator:  # fmt: skip
        """Train; returns self. Prints nothing unless ``verbose``."""
        if pairs is None:
            splits = load_splits(self.cfg)
        else:
            pairs = [(str(s), str(t)) for s, t in pairs]
            splits = Splits(
                *split_pairs(pairs, self.cfg.valid_fraction, self.cfg.test_fraction), "pairs"
            )
            if not splits.valid:
                splits = dataclasses.replace(splits, valid=splits.train)
        cfg = dataclasses.replace(self.cfg)
        with tempfile.TemporaryDirectory(prefix="rnnkit-translate-") as tmp:
            with open_run(out if out is not None else tmp, False, TASK) as run:
                trainer, _ = train_run(
                    cfg, dataclasses.replace(splits, test=[]), run, verbose=verbose
                )
            self.loaded = load_model(run, cfg.device)
        self.test, self.summary = splits.test, trainer.summary
        return self

    @classmethod
    def load(cls, run: str | Path, device: str = "auto") -> Translator:
        """The translator of a run directory or checkpoint (``rnnkit translate train --out``)."""
        self = cls.__new__(cls)
        self.loaded = load_model(run, device)
        self.cfg, self.summary, self.test = self.loaded.cfg, {}, None
        return self

    def _ready(self) -> Loaded:
        if self.loaded is None:
            raise RuntimeError("Translator: expected a trained model; call fit() or load() first")
        return self.loaded

    def translate(
        self, texts: Sequence[str] | str, beam: int | None = None, **options: Any
    ) -> list[str]:
        """Translations of ``texts`` (a str: a list of one); ``beam`` 1 is greedy search,
        default the config's; options: length_penalty, max_length, temperature."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if beam is not None:
            options["beam"] = beam
        return translate_texts(self._ready(), texts, **options)

    def evaluate(self, pairs: Sequence[Pair] | None = None, **options: Any) -> dict[str, float]:
        """BLEU, chrF, exact match and n on ``pairs`` (default: the held-out test split)."""
        loaded = self._ready()
        if pairs is None and self.test is None:
            self.test = load_splits(self.cfg).test
        return evaluate_model(loaded, self.test if pairs is None else list(pairs), **options)
