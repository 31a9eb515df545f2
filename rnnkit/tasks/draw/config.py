"""The config of DRAW, the recurrent variational auto-encoder that draws images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rnnkit.train.config import TrainConfig, option, require

TASK = "draw"
# config fields that shape the model or the data: a resumed run cannot change them
FIXED_ON_RESUME = (
    "data", "binarize", "threshold", "train_size", "val_size", "attention", "steps",
    "read_size", "write_size", "hidden_size", "latent_size", "batch_size",
)  # fmt: skip


@dataclass
class Config(TrainConfig):
    """Hyperparameters of DRAW (Gregor et al. 2015) (and, inherited, of training).

    The data is a folder of MNIST-format IDX files (``--data DIR``; default Fashion-MNIST from
    Debian's package), binarized. The model's sizes default to the paper's MNIST model with
    attention (LSTMs of 256, a latent of 100 per step, read 2 x 2, write 5 x 5) at 16 steps
    instead of 64, trained with Adam at 1e-3 as the paper's implementation was. One departure:
    each glimpse starts tiling the whole image smoothly (``glimpse_init="cover"``), which gave
    lower validation bounds than nn.Linear's init (filters of about one pixel) in
    benchmarks/draw.py's sweep.
    """

    data: str = option("", "folder of MNIST-format IDX files ('' = Debian's Fashion-MNIST)")
    binarize: Literal["stochastic", "threshold", "dynamic"] = option(
        "stochastic",
        "stochastic: each pixel 1 with its intensity as probability, drawn once (Larochelle's "
        "binarized MNIST); threshold: pixel > --threshold; dynamic: training images drawn anew "
        "at every step (validation and test drawn once)",
    )
    threshold: float = option(0.5, "the pixel intensity above which --binarize threshold sets 1")
    train_size: int = option(0, "train on this many of the training images (0 = all)")
    val_size: int = option(1000, "training images held out to pick best.safetensors")
    attention: Literal["gaussian", "none"] = option(
        "gaussian", "read and write through Gaussian glimpses, or whole images"
    )
    steps: int = option(16, "glimpses T: steps of drawing (the paper: 64 on MNIST)")
    read_size: int = option(2, "N of the read glimpse (N x N filters)")
    write_size: int = option(5, "N of the write glimpse")
    glimpse_init: Literal["cover", "linear"] = option(
        "cover",
        "cover: each glimpse starts tiling the whole image, its filters' deviation half their "
        "stride (a smooth read and write); linear: nn.Linear's init, as the paper's "
        "implementations (filters of about 1 pixel's deviation)",
    )
    hidden_size: int = option(256, "units of the encoder and of the decoder LSTM")
    latent_size: int = option(100, "latent units per step")
    batch_size: int = option(64, "images per batch")
    optimizer: Literal["adamw", "adam", "rmsprop", "adagrad", "sgd"] = option("adam", "optimizer")
    lr: float = option(1e-3, "peak learning rate")
    momentum: float = option(0.5, "Adam beta1 (the paper's implementation: 0.5), SGD momentum")
    beta2: float = option(0.999, "Adam beta2, RMSprop smoothing constant")
    weight_decay: float = option(0.0, "decay of weight matrices")
    warmup_steps: int = option(0, "steps of linear warmup from 0 to lr")
    grad_clip: float = option(5.0, "clip the gradient norm to this (0 = no clipping)")
    max_steps: int = option(5000, "stop after this many steps (0 = no limit)")
    eval_every: int = option(500, "evaluate and checkpoint every this many steps")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("steps", "read_size", "write_size", "hidden_size", "latent_size"):
            require(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        require(self.batch_size >= 1, "batch_size", "an int >= 1", self.batch_size)
        require(self.train_size >= 0, "train_size", "an int >= 0", self.train_size)
        require(self.val_size >= 1, "val_size", "an int >= 1", self.val_size)
        require(0 <= self.threshold < 1, "threshold", "a number in [0, 1)", self.threshold)
