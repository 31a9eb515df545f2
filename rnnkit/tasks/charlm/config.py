"""The config of the character language model, and the presets of the NumPy engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rnnkit.numpy import MIN_CHAR_RNN
from rnnkit.train.config import ConfigError, TrainConfig, flag_name, option, require

TASK = "charlm"
# config fields that shape the model or the data: a resumed run cannot change them
FIXED_ON_RESUME = (
    "data", "model", "num_layers", "hidden_size", "embedding_size", "layer_norm",
    "batch_size", "seq_length", "val_fraction", "val_blocks", "engine", "preset",
)  # fmt: skip

# --preset NAME: "fixed" values cannot be changed with the preset, "defaults" can (by a flag)
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "min-char-rnn": {
        "fixed": {
            "engine": "numpy", "model": "rnn", "num_layers": 1, "embedding_size": 0,
            "dropout": 0.0, "batch_size": 1, "optimizer": "adagrad", "schedule": "constant",
            "warmup_steps": 0, "weight_decay": 0.0,
        },
        "defaults": {
            "hidden_size": MIN_CHAR_RNN.hidden_size, "seq_length": MIN_CHAR_RNN.seq_length,
            "lr": MIN_CHAR_RNN.learning_rate, "grad_clip": MIN_CHAR_RNN.clip,
            "sample_every": MIN_CHAR_RNN.sample_every,
            "sample_length": MIN_CHAR_RNN.sample_length,
            "eval_every": 1000, "eval_chars": 100_000, "seed": 0,  # MinCharRNN's seed
            "val_blocks": 1,  # min-char-rnn reads the text from its start: train on its head
        },
    },
}  # fmt: skip

# what the NumPy engine lacks: field -> (the only values it takes, why)
_NUMPY_LACKS = {
    "layer_norm": ((False,), "has no layer-normalized cells"),
    "precision": (("fp32",), "computes in fp32 (fp64 with --preset min-char-rnn), not bf16"),
    "device": (("auto", "cpu"), "runs on the CPU"),
}


def preset_values(name: str) -> dict[str, Any]:
    """The config values of ``--preset name`` (its fixed values and its defaults)."""
    return {"preset": name} | PRESETS[name]["fixed"] | PRESETS[name]["defaults"]


@dataclass
class Config(TrainConfig):
    """Hyperparameters of the character language model (and, inherited, of training).

    The defaults train a 2-layer LSTM of 384 units for 15 minutes: AdamW at 5e-3 after a short
    warmup, held until the last 20% of the time budget, then decayed linearly to a tenth. On
    tinyshakespeare, on a busy 2-core CPU (one thread, ~4.4k chars/s, 901 steps) they reached
    1.459 nats/char of validation loss (a cosine decay from 3e-3: 1.546). 10% of the text is
    held out for validation, in 10 blocks spread over it: on text the run never saw (the last
    10% of tinyshakespeare, ``benchmarks/charlm.py``) they beat a plain PyTorch script of the
    same size trained side by side for 15 minutes, 1.495 vs 1.564 nats/char.
    """

    # a run saved before a field existed resumes with the value it had then
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"val_blocks": 1}

    data: str = option("", "UTF-8 text file or folder of text files ('' = Python's stdlib)")
    model: Literal["lstm", "gru", "rnn"] = option("lstm", "recurrent layer")
    num_layers: int = option(2, "recurrent layers")
    hidden_size: int = option(384, "units per recurrent layer")
    embedding_size: int = option(64, "character embedding size (0 = one-hot input)")
    dropout: float = option(0.1, "dropout between recurrent layers and before the head")
    layer_norm: bool = option(False, "layer-normalized recurrent cells")
    seq_length: int = option(128, "characters per sequence (steps of backpropagation)")
    batch_size: int = option(32, "sequences per batch (parallel streams)")
    val_fraction: float = option(0.1, "the part of the text held out for validation")
    val_blocks: int = option(
        10, "the validation text: this many blocks spread evenly over the text (1 = its end)"
    )
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
        require(
            self.eval_chars == 0 or self.eval_chars >= 2,
            "eval_chars", "0 (all) or an int >= 2", self.eval_chars,
        )  # fmt: skip
        for name in ("embedding_size", "sample_every"):
            require(getattr(self, name) >= 0, name, "an int >= 0", getattr(self, name))
        require(0 <= self.dropout < 1, "dropout", "a number in [0, 1)", self.dropout)
        require(
            0 < self.val_fraction < 0.5, "val_fraction", "a number in (0, 0.5)", self.val_fraction
        )
        require(self.val_blocks >= 1, "val_blocks", "an int >= 1", self.val_blocks)
        self._check_numpy()

    def _check_numpy(self) -> None:
        """ConfigError for a flag that contradicts the preset, or asks what the engine lacks."""
        if self.preset != "none":
            for name, value in PRESETS[self.preset]["fixed"].items():
                if getattr(self, name) != value:
                    raise ConfigError(
                        f"--preset {self.preset}: {flag_name(name)} is fixed at {value!r}, got "
                        f"{getattr(self, name)!r}; drop {flag_name(name)}, or the preset"
                    )
            require(self.grad_clip > 0, "grad_clip", "a number > 0 with a preset", self.grad_clip)
        if self.engine != "numpy":
            return
        for name, (only, why) in _NUMPY_LACKS.items():
            value = getattr(self, name)
            if value not in only:
                flag = flag_name(name) if isinstance(value, bool) else f"{flag_name(name)} {value}"
                raise ConfigError(f"{flag}: the NumPy engine {why}; drop it or use --engine torch")
