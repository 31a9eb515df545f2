"""The Python API of ``rnnkit charlm``: ``CharLM(**config).fit(text).sample(...)``.

``train_run`` is what ``rnnkit charlm train`` and ``CharLM.fit`` both run: the corpus split into
training and validation text, the engine (torch, or the NumPy engine's runner) and the one
trainer. ``load_model`` rebuilds a model of either engine from a checkpoint alone.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from rnnkit.data.text import (
    Corpus,
    StreamBatches,
    TextDataError,
    Vocab,
    encode_text,
    load_corpus,
    split_corpus,
)
from rnnkit.numpy import CharRNN
from rnnkit.tasks.charlm.config import PRESETS, TASK, Config, preset_values
from rnnkit.tasks.charlm.model import CharLMNet, evaluate_text, sample_text
from rnnkit.tasks.charlm.numpy_engine import (
    PresetRunner,
    StreamRunner,
    evaluate_text_numpy,
    numpy_model,
    sample_text_numpy,
)
from rnnkit.train import distributed
from rnnkit.train.checkpoint import (
    load_checkpoint,
    load_weights,
    require_meta,
    resolve_checkpoint,
    strip_prefix,
)
from rnnkit.train.config import ConfigError, config_from_dict, saved_config
from rnnkit.train.numpy_engine import NumpyEngine
from rnnkit.train.run import open_run
from rnnkit.train.runtime import resolve_device, seed_everything
from rnnkit.train.torch_engine import TorchEngine
from rnnkit.train.trainer import Trainer


def load_model(
    path: str | Path, device: str = "auto", engine: Literal["torch", "numpy"] | None = "torch"
) -> tuple[CharLMNet | CharRNN, Vocab, Config]:
    """The model, vocabulary and config of a charlm run directory or checkpoint file.

    ``engine``: "torch" builds a CharLMNet (on ``device``), "numpy" a ``rnnkit.numpy.CharRNN``
    (in the weights' precision), None the engine that trained the checkpoint. Each engine loads
    the checkpoints of both: the weights have the same keys and shapes.
    """
    path = resolve_checkpoint(path)
    tensors, meta = load_checkpoint(path, task=TASK)
    require_meta(meta, ("config", "vocab"), path)
    cfg = saved_config(Config, meta["config"])
    try:
        vocab = Vocab(meta["vocab"])
    except (TypeError, AttributeError, TextDataError) as e:
        raise TextDataError(f"{path}: the checkpoint's vocabulary is damaged ({e})") from e
    weights = strip_prefix("model", tensors)
    if (engine or meta.get("engine", "torch")) == "numpy":
        if device not in ("auto", "cpu"):
            raise ConfigError(
                f"--device {device}: the NumPy engine runs on the CPU only; drop --device, or "
                f"use --engine torch"
            )
        fp64 = any(t.dtype == torch.float64 for t in weights.values())
        model = numpy_model(cfg, len(vocab), dtype=np.float64 if fp64 else np.float32)
        load_weights(model, {k: t.numpy() for k, t in weights.items()}, path)
        return model, vocab, cfg
    model = CharLMNet(len(vocab), cfg)
    load_weights(model, weights, path)
    return model.to(resolve_device(device)).eval(), vocab, cfg


def train_run(
    cfg: Config,
    corpus: Corpus,
    out: Path,
    resume_from: tuple[dict, dict] | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Train ``cfg`` on ``corpus`` in the run directory ``out`` (held by ``open_run``); returns
    the summary. Under torchrun each rank trains on its own B/N of the B streams, and rank 0
    alone writes and prints."""
    dist = distributed.current()
    if dist.enabled:
        if cfg.engine == "numpy":
            raise ConfigError(
                "--engine numpy trains in one process; run it without torchrun, or use "
                "--engine torch"
            )
        distributed.split_batch_size(cfg.batch_size)
    verbose = verbose and dist.is_main
    train_ids, val_ids = split_corpus(corpus.ids, cfg.val_fraction, cfg.val_blocks)
    batches = StreamBatches(
        train_ids, cfg.batch_size, cfg.seq_length, "training split", (dist.rank, dist.world_size)
    )
    if len(val_ids) < 2:
        raise TextDataError(
            f"the validation split has {len(val_ids)} characters; use more text or a larger "
            f"--val-fraction"
        )
    eval_ids = val_ids[: cfg.eval_chars] if cfg.eval_chars else val_ids
    say = print if verbose else (lambda *a, **k: None)
    seed_everything(cfg.seed)
    if cfg.engine == "numpy":
        if cfg.preset == "min-char-rnn":
            runner: Any = PresetRunner(cfg, corpus.vocab, train_ids)
            what = f"min-char-rnn: vanilla RNN {cfg.hidden_size}, batch 1, Adagrad {cfg.lr:g}, fp64"
        else:
            runner = StreamRunner(cfg, corpus.vocab, batches)
            what = f"{cfg.num_layers}-layer {cfg.model.upper()} {cfg.hidden_size}, NumPy fp32"

        def evaluate_numpy() -> float:
            total, count = evaluate_text_numpy(runner.model, eval_ids)
            return total / count

        engine: Any = NumpyEngine(runner, evaluate_numpy, cfg.threads)
        model = runner.model
        n_params = sum(p.size for name, p in model.params.items() if name not in model.frozen)
    else:
        model = CharLMNet(len(corpus.vocab), cfg)

        def evaluate(m: nn.Module) -> float:
            total, count = evaluate_text(m, eval_ids)
            return total / count

        engine = TorchEngine(model, cfg, batches, evaluate)
        n_params = sum(p.numel() for p in model.parameters())
        what = f"{cfg.num_layers}-layer {cfg.model.upper()} {cfg.hidden_size}"
    trainer = Trainer(
        engine, cfg, out, task=TASK, unit="char", meta={"vocab": corpus.vocab.chars},
        resume_from=resume_from, verbose=verbose,
    )  # fmt: skip
    if resume_from is None and dist.is_main:
        corpus.save(out)
    if cfg.engine == "numpy":
        trainer.add_callback("step", lambda t: runner.after_step(t.write))
    else:

        def print_sample(t: Trainer) -> None:
            if cfg.sample_every and t.step % cfg.sample_every == 0:
                text = sample_text(t.model, corpus.vocab, "", cfg.sample_length, seed=t.step)
                t.write(f"--- sample at step {t.step} ---\n{''.join(text)}\n---")

        trainer.add_callback("step", print_sample)
    say(
        f"charlm: {corpus.source}: {len(corpus.ids):,} characters, {len(corpus.vocab)} distinct; "
        f"{what}, {n_params:,} parameters; {batches.steps_per_epoch} steps per epoch -> {out}",
        flush=True,
    )
    summary = trainer.fit()
    say(
        f"done: {summary['steps']} steps ({summary['stop_reason']}), "
        f"val {summary['final_val_loss']:.4f} nats/char (best {summary['best_val_loss']:.4f}), "
        f"{summary['throughput'] or 0:,.0f} chars/s; sample with `rnnkit charlm sample {out}`"
    )
    return summary


def score_ids(
    model: CharLMNet | CharRNN, ids: np.ndarray, progress: bool = False
) -> dict[str, float]:
    """Nats and bits per character of ``ids`` under ``model`` (either engine); ``progress``:
    a progress bar on a terminal, for a long text."""
    score = evaluate_text_numpy if isinstance(model, CharRNN) else evaluate_text
    total, count = score(model, ids, progress=progress)
    nats = total / count
    return {"nats_per_char": nats, "bits_per_char": nats / math.log(2), "chars": count}


def stream_sample(
    model: CharLMNet | CharRNN,
    vocab: Vocab,
    prime: str = "",
    length: int = 200,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
):
    """The characters after ``prime`` (checked), from a model of either engine."""
    if not (isinstance(length, int) and length >= 0):
        raise ConfigError(f"--length: expected an int >= 0, got {length!r}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ConfigError(f"--temperature: expected a finite number >= 0, got {temperature!r}")
    if not (isinstance(top_k, int) and top_k >= 0):
        raise ConfigError(f"--top-k: expected an int >= 0, got {top_k!r}")
    vocab.encode(prime)  # unknown characters: a clear error before anything is streamed
    stream = sample_text_numpy if isinstance(model, CharRNN) else sample_text
    return stream(model, vocab, prime, length, temperature, top_k, seed)


class CharLM:
    """The Python API of ``rnnkit charlm``, in the manner of char-rnn and sktime's estimators.

    ``CharLM(**config)`` takes fields of ``Config`` (``hidden_size=256, max_time=60`` ...);
    ``preset="min-char-rnn"`` starts from the preset's values, as ``--preset`` does.
    ``fit(text_or_path)`` trains on a string, or a file or folder of text (a ``Path``, or a str
    naming an existing one; a one-word str that looks like a file name but names nothing is
    refused as a missing file; None: the config's ``data``, else Python's standard library), in
    ``out`` (default: a temporary directory, removed after; the model stays in memory).
    ``sample(prime, length, temperature, top_k, seed)`` returns the text after ``prime``;
    ``score(text_or_path)`` its nats per character; ``CharLM.load(run)`` any trained run.
    ``fit(verbose=True)`` prints the progress and samples; by default nothing is printed.
    """

    def __init__(self, **config: Any):
        preset = config.get("preset", "none")
        base = preset_values(preset) if preset in PRESETS else {}
        self.cfg = config_from_dict(Config, {"tensorboard": False} | base | config)
        self.model: CharLMNet | CharRNN | None = None
        self.vocab: Vocab | None = None
        self.summary: dict[str, Any] = {}

    def fit(
        self, data: str | Path | None = None, out: str | Path | None = None, verbose: bool = False
    ) -> CharLM:
        """Train on ``data`` in ``out`` (new or empty, else a ConfigError); returns self.
        Prints nothing unless ``verbose``."""
        if data is None:
            corpus = load_corpus(self.cfg.data or None)
        elif isinstance(data, Path) or (isinstance(data, str) and _names_a_path(data)):
            corpus = load_corpus(data)
        elif isinstance(data, str) and _looks_like_a_path(data):
            raise TextDataError(
                f"{data}: no such file or folder; pass an existing path, or the text itself"
            )
        elif isinstance(data, str):
            corpus = Corpus.from_text(data)
        else:
            raise TypeError(
                f"CharLM.fit: expected a text, a path or None, got {type(data).__name__}"
            )
        with tempfile.TemporaryDirectory(prefix="rnnkit-charlm-") as tmp:
            with open_run(out if out is not None else tmp, False, TASK) as run:
                self.summary = train_run(self.cfg, corpus, run, verbose=verbose)
            self.model, self.vocab, _ = load_model(run, self.cfg.device, self.cfg.engine)
        return self

    @classmethod
    def load(
        cls, run: str | Path, device: str = "auto", engine: Literal["torch", "numpy"] | None = None
    ) -> CharLM:
        """The model of a run directory or checkpoint (``rnnkit charlm train --out``)."""
        self = cls.__new__(cls)
        self.model, self.vocab, self.cfg = load_model(run, device, engine)
        self.summary = {}
        return self

    def _fitted(self) -> tuple[CharLMNet | CharRNN, Vocab]:
        if self.model is None:
            raise RuntimeError("CharLM: expected a trained model; call fit() or load() first")
        return self.model, self.vocab

    def sample(
        self,
        prime: str = "",
        length: int = 200,
        temperature: float = 1.0,
        top_k: int = 0,
        seed: int | None = None,
    ) -> str:
        """``length`` characters after ``prime`` (temperature 0: greedy)."""
        model, vocab = self._fitted()
        return "".join(stream_sample(model, vocab, prime, length, temperature, top_k, seed))

    def score(self, data: str | Path) -> float:
        """Nats per character of a text (a string, or a file or folder of text)."""
        model, vocab = self._fitted()
        if isinstance(data, Path) or _names_a_path(data):
            ids = encode_text(data, vocab)
        else:
            ids = vocab.encode(data)
            if len(ids) < 2:
                raise TextDataError(f"expected at least 2 characters of text, got {len(ids)}")
        return score_ids(model, ids)["nats_per_char"]


def _looks_like_a_path(text: str) -> bool:
    """Whether a str reads as a file name (one word with a suffix or a folder in it), not as a
    text to train on."""
    if len(text) > 4096 or any(c.isspace() for c in text):
        return False
    return "/" in text or bool(Path(text).suffix)


def _names_a_path(text: str) -> bool:
    """Whether a str names an existing file or folder (rather than being the text itself)."""
    if "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).exists()
    except OSError:  # a name too long for the file system
        return False
