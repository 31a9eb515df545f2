"""Character-level language model: ``rnnkit charlm train | sample | eval``.

The model reads a stream of characters and predicts the next one: an embedding (or one-hot
input), a multi-layer LSTM/GRU/RNN from ``rnnkit.nn``, dropout, and a linear head to logits
over the vocabulary. Training streams contiguous batches (``rnnkit.data.StreamBatches``) with
the recurrent state carried from one batch to the next (truncated BPTT) through the one trainer
(``rnnkit.train.Trainer``). Evaluation scores every character of a text once, with the state
carried (``evaluate_text``); sampling streams characters with temperature and top-k.

``--engine numpy`` trains the same model with the NumPy engine (``rnnkit.numpy.CharRNN``, through
``charlm_numpy.py``) into the same run directory and checkpoint format, and ``--preset
min-char-rnn`` runs Karpathy's min-char-rnn exactly; ``sample`` and ``eval`` run a checkpoint of
either engine with either (``--engine``, default: the one that trained it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.text import (
    Corpus,
    StreamBatches,
    TextDataError,
    Vocab,
    encode_text,
    load_corpus,
    scoring_batches,
    split_corpus,
)
from rnnkit.nn import GRU, LSTM, RNN
from rnnkit.numpy import CharRNN
from rnnkit.tasks.charlm_numpy import (
    check_numpy_config,
    evaluate_text_numpy,
    numpy_model,
    preset_values,
    sample_text_numpy,
    train_numpy,
)
from rnnkit.train.checkpoint import load_checkpoint, resolve_checkpoint, strip_prefix
from rnnkit.train.config import (
    ConfigError,
    TrainConfig,
    add_config_args,
    config_from_args,
    config_from_dict,
    option,
    require,
)
from rnnkit.train.trainer import Trainer, prepare_run_dir, resume_config, seed_everything

TASK = "charlm"
EVAL_ROWS = 32  # parallel streams when scoring a text (each carries its own state)
RNNS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
# config fields that shape the model or the data: a resumed run cannot change them
FIXED_ON_RESUME = (
    "data", "model", "num_layers", "hidden_size", "embedding_size", "layer_norm",
    "batch_size", "seq_length", "val_fraction", "engine", "preset",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# config


@dataclass
class Config(TrainConfig):
    """Hyperparameters of the character language model (and, inherited, of training).

    The defaults train a 2-layer LSTM of 384 units for 15 minutes: AdamW at 5e-3 after a short
    warmup, held until the last 20% of the time budget, then decayed linearly to a tenth. On
    tinyshakespeare, on a busy 2-core CPU (one thread, ~4.4k chars/s, 901 steps) they reached
    1.459 nats/char of validation loss (a cosine decay from 3e-3: 1.546).
    """

    data: str = option("", "UTF-8 text file or folder of text files ('' = Python's stdlib)")
    model: Literal["lstm", "gru", "rnn"] = option("lstm", "recurrent layer")
    num_layers: int = option(2, "recurrent layers")
    hidden_size: int = option(384, "units per recurrent layer")
    embedding_size: int = option(64, "character embedding size (0 = one-hot input)")
    dropout: float = option(0.1, "dropout between recurrent layers and before the head")
    layer_norm: bool = option(False, "layer-normalized recurrent cells")
    seq_length: int = option(128, "characters per sequence (steps of backpropagation)")
    batch_size: int = option(32, "sequences per batch (parallel streams)")
    val_fraction: float = option(0.1, "the last part of the text held out for validation")
    eval_chars: int = option(500_000, "validation characters scored per evaluation (0 = all)")
    sample_every: int = option(500, "print a sample every this many steps (0 = never)")
    sample_length: int = option(200, "characters per printed sample")
    engine: Literal["torch", "numpy"] = option("torch", "training engine")
    preset: Literal["none", "min-char-rnn"] = option(
        "none",
        "min-char-rnn: Karpathy's min-char-rnn exactly on the NumPy engine (RNN 100, batch 1, "
        "seq 25, Adagrad 0.1, clip 5; hidden size, seq length, lr, clip and sampling adjustable)",
    )
    lr: float = option(5e-3, "peak learning rate")
    schedule: Literal["cosine", "wsd", "step", "plateau", "constant"] = option(
        "wsd",
        "after warmup: cosine, wsd (stable then decay), step (char-rnn), plateau (decay when "
        "the training loss stalls) or constant",
    )
    warmup_steps: int = option(30, "steps of linear warmup from 0 to lr")
    decay_fraction: float = option(0.2, "wsd: the last part of the budget that decays the lr")
    max_steps: int = option(0, "stop after this many steps (0 = no limit)")
    max_time: float = option(900.0, "stop after this many seconds of training (0 = no limit)")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_layers", "hidden_size", "seq_length", "batch_size", "sample_length"):
            require(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        for name in ("embedding_size", "eval_chars", "sample_every"):
            require(getattr(self, name) >= 0, name, "an int >= 0", getattr(self, name))
        require(0 <= self.dropout < 1, "dropout", "a number in [0, 1)", self.dropout)
        require(
            0 < self.val_fraction < 0.5, "val_fraction", "a number in (0, 0.5)", self.val_fraction
        )
        check_numpy_config(self)  # what the NumPy engine lacks; flags that contradict the preset


# ---------------------------------------------------------------------------------------------
# the model


class CharLM(nn.Module):
    """Embedding (or one-hot) -> multi-layer RNN -> dropout -> linear head, over characters.

    Submodules: ``embed`` (nn.Embedding(V, E); absent when ``embedding_size`` is 0 and the input
    is one-hot), ``rnn`` (rnnkit.nn LSTM/GRU/RNN, batch_first, dropout between layers) and
    ``head`` (nn.Linear(H, V)). Shapes: B batch, T time, V vocabulary, E embedding, H hidden.

    ``forward(x, targets=None, state=None) -> ((logits, state), loss)``: x (B, T) ids, logits
    (B, T, V), state the RNN's final state (h, or (h, c) for the LSTM, each (layers, B, H)),
    loss the mean cross-entropy in nats per character (None without targets).
    """

    def __init__(self, vocab_size: int, cfg: Config):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, cfg.embedding_size) if cfg.embedding_size else None
        extras = {"layer_norm": True} if cfg.layer_norm else {}
        self.rnn = RNNS[cfg.model](
            cfg.embedding_size or vocab_size,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            batch_first=True,
            **extras,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None, state=None):
        if self.embed is not None:
            inputs = self.embed(x)  # (B, T, E)
        else:
            inputs = F.one_hot(x, self.vocab_size).to(self.head.weight.dtype)  # (B, T, V)
        if state is not None:  # a state carried out of bf16 autocast: back to the input's dtype
            state = _cast_state(state, inputs.dtype)
        out, state = self.rnn(inputs, state)  # (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1))
        return (logits, state), loss

    @torch.no_grad()
    def generate(
        self,
        prime: torch.Tensor,
        length: int,
        temperature: float = 1.0,
        top_k: int = 0,
        generator: torch.Generator | None = None,
    ) -> Iterator[int]:
        """Yield ``length`` ids following ``prime`` (P,) ids; temperature 0 is greedy."""
        (logits, state), _ = self(prime.view(1, -1))  # (1, P, V)
        for _ in range(length):
            last = logits[0, -1].float()  # (V,)
            if temperature == 0:
                next_id = int(last.argmax())
            else:
                last = last / temperature
                if 0 < top_k < len(last):
                    last[last < torch.topk(last, top_k).values[-1]] = -math.inf
                probs = torch.softmax(last, dim=-1)
                next_id = int(torch.multinomial(probs.cpu(), 1, generator=generator))
            yield next_id
            step = torch.tensor([[next_id]], device=prime.device)  # (1, 1)
            (logits, state), _ = self(step, state=state)


def _cast_state(state, dtype: torch.dtype):
    """h, or (h, c), in ``dtype``."""
    if isinstance(state, torch.Tensor):
        return state.to(dtype)
    return tuple(s.to(dtype) for s in state)


def _last_row(state):
    """The state of the last batch row: (layers, B, H) -> (layers, 1, H), for h or (h, c)."""
    if isinstance(state, torch.Tensor):
        return state[:, -1:].contiguous()
    return tuple(s[:, -1:].contiguous() for s in state)


@torch.no_grad()
def evaluate_text(
    model: CharLM, ids: np.ndarray, seq_length: int = 256, rows: int = EVAL_ROWS
) -> tuple[float, int]:
    """(total nats, characters scored): every next character of ``ids``, state carried."""
    device = model.head.weight.device
    total, count, state = 0.0, 0, None
    for x, y, tail in scoring_batches(ids, rows, seq_length):
        if tail:
            state = _last_row(state)
        (logits, state), _ = model(x.to(device), state=state)  # (rows, t, V)
        flat = logits.float().reshape(-1, logits.size(-1))  # (rows * t, V)
        total += F.cross_entropy(flat, y.to(device).reshape(-1), reduction="sum").item()
        count += y.numel()
    return total, count


def sample_text(
    model: CharLM,
    vocab: Vocab,
    prime: str = "",
    length: int = 200,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
) -> Iterator[str]:
    """Stream ``length`` characters after ``prime`` (default: a newline, or the first char)."""
    start = prime or ("\n" if "\n" in vocab.chars else vocab.chars[0])
    prime_ids = torch.from_numpy(vocab.encode(start).astype(np.int64))
    generator = torch.Generator()
    generator.manual_seed(torch.seed() if seed is None else seed)
    was_training = model.training
    model.eval()
    try:
        device = model.head.weight.device
        for i in model.generate(prime_ids.to(device), length, temperature, top_k, generator):
            yield vocab.chars[i]
    finally:
        model.train(was_training)


def load_model(
    path: str | Path, device: str = "cpu", engine: Literal["torch", "numpy"] | None = "torch"
) -> tuple[CharLM | CharRNN, Vocab, Config]:
    """The model, vocabulary and config of a charlm run directory or checkpoint file.

    ``engine``: "torch" builds a CharLM (on ``device``), "numpy" a ``rnnkit.numpy.CharRNN`` (in
    the weights' precision), None the engine that trained the checkpoint. Each engine loads the
    checkpoints of both: the weights have the same keys and shapes.
    """
    tensors, meta = load_checkpoint(resolve_checkpoint(path), task=TASK)
    cfg = config_from_dict(Config, meta["config"])
    vocab = Vocab(meta["vocab"])
    weights = strip_prefix("model", tensors)
    if (engine or meta.get("engine", "torch")) == "numpy":
        if device != "cpu":
            raise ConfigError(f"--device {device}: the NumPy engine runs on the CPU only")
        weights = {k: t.numpy() for k, t in weights.items()}
        return numpy_model(cfg, len(vocab), weights=weights), vocab, cfg
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no CUDA device here; use --device cpu")
    model = CharLM(len(vocab), cfg)
    model.load_state_dict(weights)
    return model.to(device).eval(), vocab, cfg


# ---------------------------------------------------------------------------------------------
# the verbs


def train(args: argparse.Namespace) -> int:
    """``rnnkit charlm train``: returns 0, or 130 when stopped by Ctrl-C."""
    out = prepare_run_dir(args.out, args.resume)
    resume_from = None
    if args.resume:
        cfg, resume_from = resume_config(Config, args, out, TASK, FIXED_ON_RESUME)
    else:
        preset = getattr(args, "preset", "none")
        base = config_from_dict(Config, preset_values(preset)) if preset != "none" else None
        cfg = config_from_args(Config, args, base=base)
    corpus = Corpus.load(out) if args.resume else load_corpus(cfg.data or None)
    train_ids, val_ids = split_corpus(corpus.ids, cfg.val_fraction)
    batches = StreamBatches(train_ids, cfg.batch_size, cfg.seq_length, "training split")
    if len(val_ids) < 2:
        raise TextDataError(
            f"the validation split has {len(val_ids)} characters; use more text or a larger "
            f"--val-fraction"
        )
    eval_ids = val_ids[: cfg.eval_chars] if cfg.eval_chars else val_ids
    if cfg.engine == "numpy":
        return train_numpy(cfg, corpus, batches, train_ids, eval_ids, out, resume_from)

    seed_everything(cfg.seed)
    model = CharLM(len(corpus.vocab), cfg)
    if not args.resume:
        out.mkdir(parents=True, exist_ok=True)
        corpus.save(out)

    def evaluate(m: nn.Module) -> float:
        total, count = evaluate_text(m, eval_ids)
        return total / count

    trainer = Trainer(
        model, cfg, batches, evaluate, out, task=TASK, unit="char",
        meta={"vocab": corpus.vocab.chars}, resume_from=resume_from,
    )  # fmt: skip

    def print_sample(t: Trainer) -> None:
        if cfg.sample_every and t.step % cfg.sample_every == 0:
            text = "".join(sample_text(t.model, corpus.vocab, "", cfg.sample_length, seed=t.step))
            t.write(f"--- sample at step {t.step} ---\n{text}\n---")

    trainer.add_callback("step", print_sample)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"charlm: {corpus.source}: {len(corpus.ids):,} characters, {len(corpus.vocab)} distinct; "
        f"{cfg.num_layers}-layer {cfg.model.upper()} {cfg.hidden_size}, {n_params:,} parameters; "
        f"{batches.steps_per_epoch} steps per epoch -> {out}",
        flush=True,
    )
    summary = trainer.fit()
    print(
        f"done: {summary['steps']} steps ({summary['stop_reason']}), "
        f"val {summary['final_val_loss']:.4f} nats/char (best {summary['best_val_loss']:.4f}), "
        f"{summary['throughput'] or 0:,.0f} chars/s; sample with `rnnkit charlm sample {out}`"
    )
    return 130 if summary["stop_reason"] == "interrupted" else 0


def sample(args: argparse.Namespace) -> int:
    """``rnnkit charlm sample``: streams the prime and its continuation to stdout."""
    if args.length < 0 or args.temperature < 0 or args.top_k < 0:
        raise ConfigError("--length, --temperature and --top-k: expected numbers >= 0")
    model, vocab, _ = load_model(args.checkpoint, args.device, args.engine)
    vocab.encode(args.prime)  # unknown characters: a clear error before anything is printed
    sys.stdout.write(args.prime)
    stream = sample_text_numpy if isinstance(model, CharRNN) else sample_text
    text = stream(model, vocab, args.prime, args.length, args.temperature, args.top_k, args.seed)
    for ch in text:
        sys.stdout.write(ch)
        if ch == "\n":
            sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit charlm eval``: nats and bits per character of a text."""
    model, vocab, _ = load_model(args.checkpoint, args.device, args.engine)
    score = evaluate_text_numpy if isinstance(model, CharRNN) else evaluate_text
    total, count = score(model, encode_text(args.data, vocab))
    nats = total / count
    result = {"nats_per_char": nats, "bits_per_char": nats / math.log(2), "chars": count}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{nats:.4f} nats/char, {result['bits_per_char']:.4f} bits/char over {count:,} chars")
    return 0


ENGINE_HELP = "run the model with the torch or NumPy engine (default: the one that trained it)"


def register(parser: argparse.ArgumentParser) -> None:
    """Add the verbs train, sample and eval to the ``charlm`` parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    p = verbs.add_parser("train", help="train a model", description="Train a character LM.")
    p.add_argument("--out", default="runs/charlm", help="run directory (default: runs/charlm)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    add_config_args(p, Config)
    p.set_defaults(func=train)

    p = verbs.add_parser("sample", help="stream text from a model", description="Sample text.")
    p.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--prime", default="", help="text to start from (printed first)")
    p.add_argument("--length", type=int, default=500, help="characters to generate")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy (default 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest (0 = all)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--engine", choices=("torch", "numpy"), help=ENGINE_HELP)
    p.set_defaults(func=sample)

    p = verbs.add_parser("eval", help="nats/char on a text", description="Score a text.")
    p.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--data", required=True, help="UTF-8 text file or folder of text files")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--engine", choices=("torch", "numpy"), help=ENGINE_HELP)
    p.set_defaults(func=evaluate)
