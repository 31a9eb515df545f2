"""The config of handwriting generation and synthesis (Graves 2013)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rnnkit.train.config import TrainConfig, option, require

TASK = "handwriting"
# config fields that shape the model or the data: a resumed run cannot change them
FIXED_ON_RESUME = (
    "dataset", "data", "fonts", "words", "lines", "max_words", "point_spacing", "test_fraction",
    "val_fraction", "synthesis", "hidden_size", "num_layers", "mixtures", "window_mixtures",
    "batch_size", "seed",
)  # fmt: skip


@dataclass
class Config(TrainConfig):
    """Hyperparameters of the handwriting networks (and, inherited, of training).

    The data is ``--data DIR`` (an IAM On-Line folder: lineStrokes/ and ascii/) or, without
    it, ``--dataset hershey``: ``--lines`` text lines of 1..``--max-words`` words (of
    ``--words FILE``, default a built-in list) written with the Hershey script faces (or
    ``--fonts``) with random slant, scale, jitter, pen speed and noise: font data, not human
    handwriting. ``--synthesis`` adds the soft window over the text (the synthesis network);
    without it the network only predicts strokes (the prediction network). The paper's
    network is ``--hidden-size 400 --num-layers 3 --mixtures 20 --window-mixtures 10``; the
    defaults are smaller, to train on a CPU.
    """

    dataset: Literal["hershey"] = option("hershey", "data set when --data is not given")
    data: str = option("", "IAM On-Line folder (lineStrokes/ and ascii/); '' = --dataset")
    fonts: str = option("", "hershey: .jhf files or folders, comma-separated ('' = script faces)")
    words: str = option("", "hershey: word list file ('' = a built-in list of English words)")
    lines: int = option(3000, "hershey: text lines to render")
    max_words: int = option(2, "hershey: words per line, at most")
    point_spacing: float = option(3.0, "hershey: pen speed, font units between points")
    test_fraction: float = option(0.05, "lines held out for eval")
    val_fraction: float = option(0.05, "lines held out to pick best.safetensors")
    synthesis: bool = option(False, "the synthesis network: a soft window over the text")
    hidden_size: int = option(256, "units per LSTM layer (the paper: 400)")
    num_layers: int = option(3, "stacked LSTM layers, with skip connections")
    mixtures: int = option(20, "bivariate Gaussians of the mixture density output")
    window_mixtures: int = option(10, "Gaussians of the soft window (synthesis)")
    clip_output: float = option(100.0, "clip derivatives at the outputs to +-this (0 = off)")
    clip_lstm: float = option(10.0, "clip derivatives at LSTM outputs to +-this (0 = off)")
    batch_size: int = option(32, "lines per batch")
    optimizer: Literal["adamw", "adam", "rmsprop", "adagrad", "sgd"] = option("adam", "optimizer")
    lr: float = option(2e-3, "peak learning rate")
    weight_decay: float = option(0.0, "decay of weight matrices")
    grad_clip: float = option(10.0, "clip the gradient norm to this (0 = no clipping)")
    max_steps: int = option(3000, "stop after this many steps (0 = no limit)")
    warmup_steps: int = option(50, "steps of linear warmup from 0 to lr")
    eval_every: int = option(200, "evaluate and checkpoint every this many steps")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in (
            "lines", "max_words", "hidden_size", "num_layers", "mixtures", "window_mixtures",
            "batch_size",
        ):  # fmt: skip
            require(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        require(self.point_spacing > 0, "point_spacing", "a number > 0", self.point_spacing)
        for name in ("test_fraction", "val_fraction"):
            value = getattr(self, name)
            require(0 < value < 0.5, name, "a number in (0, 0.5)", value)
        for name in ("clip_output", "clip_lstm"):
            require(getattr(self, name) >= 0, name, "a number >= 0", getattr(self, name))
