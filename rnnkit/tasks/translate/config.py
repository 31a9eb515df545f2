"""The config of sequence-to-sequence translation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rnnkit.train.config import ConfigError, TrainConfig, option, require

TASK = "translate"
# what shapes the model or the data: a resumed run cannot change it
FIXED_ON_RESUME = (
    "dataset", "data", "valid_data", "test_data", "reverse", "valid_fraction", "test_fraction",
    "max_tokens", "tokens", "source_tokens", "target_tokens", "vocab_size", "min_count", "cell",
    "embedding_size", "hidden_size", "num_layers", "bidirectional", "attention", "input_feeding",
    "tie_embeddings", "batch_size",
)  # fmt: skip
Tokens = Literal["char", "word", "bpe"]


@dataclass
class Config(TrainConfig):
    """Hyperparameters of translation (and, inherited, of training).

    The data is ``--data pairs.tsv`` (source TAB target a line; split by a hash of the source
    unless ``--valid-data``/``--test-data`` are given) or ``--dataset`` messages:LANG (the
    gettext catalogs installed here, English -> LANG), numbers:LANG (digits -> words) or dates
    (written dates -> ISO). The defaults train a bidirectional LSTM encoder and an LSTM decoder
    of 256 units with Luong's general attention and input feeding on SentencePiece subwords.
    """

    dataset: str = option("", "named pairs: messages:LANG (e.g. messages:de), numbers:LANG, dates")
    data: str = option("", "pairs file: source TAB target on each line (extra columns ignored)")
    valid_data: str = option("", "validation pairs file ('' = hold out --valid-fraction)")
    test_data: str = option("", "test pairs file ('' = hold out --test-fraction)")
    reverse: bool = option(False, "swap the sides: translate the second column into the first")
    valid_fraction: float = option(0.05, "part held out (by a hash of the source) to validate")
    test_fraction: float = option(0.05, "part held out (by a hash of the source) to test")
    max_tokens: int = option(60, "train on pairs of at most this many tokens a side")
    tokens: Tokens = option("bpe", "tokens of both sides: char, word or bpe (SentencePiece)")
    source_tokens: Literal["", "char", "word", "bpe"] = option("", "the source's ('' = --tokens)")
    target_tokens: Literal["", "char", "word", "bpe"] = option("", "the target's ('' = --tokens)")
    vocab_size: int = option(8000, "word, bpe: tokens per side's vocabulary (with 4 specials)")
    min_count: int = option(1, "char, word: tokens seen fewer times in training are unknown")
    cell: Literal["lstm", "gru"] = option("lstm", "recurrent layer of encoder and decoder")
    embedding_size: int = option(128, "embedding size of the tokens")
    hidden_size: int = option(256, "units of the decoder (and of the encoder, both directions)")
    num_layers: int = option(1, "recurrent layers of encoder and decoder")
    bidirectional: bool = option(True, "the encoder reads the source both ways")
    dropout: float = option(0.2, "dropout of embeddings, between layers and before the output")
    attention: Literal["none", "bahdanau", "dot", "general", "concat"] = option(
        "general", "attention of the decoder over the encoder (none: plain encoder-decoder)"
    )
    input_feeding: bool = option(True, "dot, general, concat: feed h~ into the next step")
    teacher_forcing: float = option(1.0, "chance of feeding the gold previous token in training")
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy")
    tie_embeddings: bool = option(False, "output layer shares the target embeddings (E == H)")
    beam: int = option(5, "beam width of translation (1 = greedy)")
    length_penalty: float = option(0.6, "GNMT length penalty alpha of beam search (0 = none)")
    max_length: int = option(0, "longest translation in tokens (0 = longest target + 10)")
    batch_size: int = option(64, "pairs per batch")
    max_steps: int = option(4000, "stop after this many steps (0 = no limit)")
    eval_every: int = option(250, "evaluate and checkpoint every this many steps")
    warmup_steps: int = option(100, "steps of linear warmup from 0 to lr")
    weight_decay: float = option(0.01, "decay of weight matrices (decoupled with adamw)")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("hidden_size", "embedding_size", "num_layers", "batch_size", "beam"):
            require(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        for name in ("max_tokens", "vocab_size", "min_count"):
            require(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        require(self.max_length >= 0, "max_length", "an int >= 0", self.max_length)
        require(0 <= self.dropout < 1, "dropout", "a number in [0, 1)", self.dropout)
        require(0 < self.teacher_forcing <= 1, "teacher_forcing", "in (0, 1]", self.teacher_forcing)
        require(0 <= self.label_smoothing < 1, "label_smoothing", "in [0, 1)", self.label_smoothing)
        for name in ("valid_fraction", "test_fraction"):
            require(0 <= getattr(self, name) < 0.5, name, "in [0, 0.5)", getattr(self, name))
        if self.dataset and self.data:
            raise ConfigError("expected one of --dataset NAME or --data PATH, got both")
        if (self.valid_data or self.test_data) and not self.data:
            raise ConfigError("--valid-data and --test-data go with --data")
        if self.bidirectional and self.hidden_size % 2:
            raise ConfigError(
                f"--hidden-size {self.hidden_size}: a bidirectional encoder splits it in two "
                f"directions; pass an even size, or --no-bidirectional"
            )
        if self.tie_embeddings and self.embedding_size != self.hidden_size:
            raise ConfigError(
                f"--tie-embeddings: needs --embedding-size equal to --hidden-size, got "
                f"{self.embedding_size} and {self.hidden_size}"
            )

    def side_tokens(self, side: str) -> str:
        """The tokens of ``side`` ("source" or "target")."""
        return getattr(self, f"{side}_tokens") or self.tokens
