"""The config of sequence classification and tagging, and of image classification."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rnnkit.train.config import ConfigError, TrainConfig, option, require

TASK = "classify"
# config fields that shape the model or the data: a resumed run cannot change them (``head``
# neither, but the saved config holds it resolved from the labels, so it is resolved again)
# max_steps -1 (auto): the most of (steps, epochs), capped at the last
AUTO_STEPS = (1000, 10, 20000)
# val_fraction -1 (auto): this fraction, where it holds at least this many sequences (else 0:
# a handful of sequences would pick the checkpoint by chance, the untrained one included)
AUTO_VAL = (0.1, 50)
# hidden_size -1 (auto): LSTM-FCN's LSTM cells (the paper's smallest candidate: where a series
# has one feature, the branch is a dense layer over all its values, and with 128 cells it
# overfit small training sets; benchmarks/classify.py --defaults-cv --inverted-folds), and
# every other model's units
AUTO_HIDDEN = (8, 128)
# swa -1 (auto): with LSTM-FCN, the weights of this last part of the steps averaged
AUTO_SWA = 0.25
FIXED_ON_RESUME = (
    "dataset", "data", "test_data", "test_fraction", "val_fraction", "val_data", "model", "cell",
    "hidden_size", "num_layers", "bidirectional", "pooling", "dimension_shuffle", "normalize",
    "batch_size", "channels", "transform", "tps_grid", "localization",
)  # fmt: skip
IMAGE_MODELS = ("cnn", "st-cnn", "st-lstm")  # models that read each (H, W) sequence as an image


@dataclass
class Config(TrainConfig):
    """Hyperparameters of sequence classification and tagging (and, inherited, of training).

    The data is ``--dataset NAME`` (a UCR/UEA set bundled with sktime, with its own test split,
    or FashionMNIST read row by row) or ``--data PATH`` (.ts, long CSV, .npz/.npy) with
    ``--test-data PATH`` or a held-out ``--test-fraction`` of it. The defaults (``auto``,
    resolved from the data when training starts and saved resolved) train LSTM-FCN (Karim et
    al. 2018, 8 LSTM cells, dropout 0.8 on its LSTM branch) for a label per sequence, a 1-layer
    LSTM tagger of 128 units for a label per step, in batches of 16 for 1000 steps or 10 epochs
    where that is more (at most 20000); LSTM-FCN's best.safetensors holds the average of its
    weights over the last quarter of the steps (``swa``); ``benchmarks/classify.py --protocol
    defaults`` measures them.

    Images (``--dataset FashionMNIST-R`` and the other distorted sets, ``--data DIR`` of IDX
    files) are sequences of H rows of W pixels; ``--model cnn | st-cnn | st-lstm`` read them as
    (1, H, W) images (any data of full-length sequences, plain FashionMNIST too), and ``auto``
    is ``st-cnn`` on image data.
    """

    AUTO_MAX_STEPS: ClassVar[bool] = True  # -1: resolved from the training set (data.py)

    dataset: str = option(
        "",
        "bundled data set: GunPoint, JapaneseVowels, ..., FashionMNIST, and FashionMNIST-R, "
        "-RTS, -P, -E, -Cluttered (distorted images)",
    )
    data: str = option(
        "",
        "training data: .ts, .csv (long: id, label, features), .npz, .npy, or a folder of "
        "MNIST-format IDX images (with a distorted --dataset: the images it distorts)",
    )
    test_data: str = option("", "test data for --data ('' = hold out --test-fraction of it)")
    test_fraction: float = option(0.2, "with --data and no --test-data: the part held out")
    val_fraction: float = option(
        -1.0,
        "part of training held out to pick best.safetensors (0 = pick on the training "
        f"loss, as the LSTM-FCN and FCN papers; -1 = auto: {AUTO_VAL[0]:g} where that holds at "
        f"least {AUTO_VAL[1]} sequences, else 0)",
    )
    val_data: str = option(
        "", "validation data that picks best.safetensors, instead of holding out --val-fraction"
    )
    model: Literal["auto", "rnn", "lstm_fcn", "cnn", "st-cnn", "st-lstm"] = option(
        "auto",
        "recurrent classifier, LSTM-FCN, or for images a CNN, a spatial transformer before the "
        "CNN, or before an LSTM over the rows (auto: st-cnn on image data, else LSTM-FCN, or "
        "rnn for labels per step)",
    )
    cell: Literal["lstm", "gru", "rnn"] = option("lstm", "recurrent layer")
    hidden_size: int = option(
        -1,
        "units per recurrent layer (images: of the CNN's dense layer; -1 = auto: "
        f"{AUTO_HIDDEN[0]} with LSTM-FCN, else {AUTO_HIDDEN[1]})",
    )
    num_layers: int = option(1, "recurrent layers")
    bidirectional: bool = option(False, "read each sequence in both directions")
    pooling: Literal["last", "mean", "attention"] = option(
        "last", "many-to-one: the last state, the mean over steps, or attention over steps"
    )
    head: Literal["auto", "sequence", "step"] = option(
        "auto", "a label per sequence or per step (auto: as the training labels are)"
    )
    dimension_shuffle: bool = option(
        True, "LSTM-FCN: the recurrent branch reads the F features as steps of T values"
    )
    dropout: float = option(
        -1.0,
        "dropout between recurrent layers and before the head (-1 = auto: 0.8 with "
        "LSTM-FCN, the paper's, else 0.1)",
    )
    normalize: Literal["feature", "none"] = option(
        "feature",
        "standardize each feature with the training set's mean and std (image models: all "
        "pixels with one mean and std)",
    )
    channels: int = option(32, "image models: filters of the first conv layer (the second: 2x)")
    transform: Literal["affine", "projective", "tps", "attention", "similarity"] = option(
        "affine",
        "st-cnn, st-lstm: the spatial transformer's transformation (similarity: angle, "
        "log-scale and shift)",
    )
    tps_grid: int = option(3, "--transform tps: control points per side (3: a 3x3 grid)")
    localization: Literal["full", "half"] = option(
        "full",
        "st-cnn, st-lstm: the localisation net reads the input at full resolution (conv "
        "channels/2 - conv channels) or downsampled by 2 (channels/4 - channels/2: runs saved "
        "before this option)",
    )
    batch_size: int = option(16, "sequences per batch")
    epochs: int = option(0, "train this many epochs (sets --max-steps; 0 = use --max-steps)")
    max_steps: int = option(
        -1,
        f"stop after this many steps (0 = no limit; -1 = auto: {AUTO_STEPS[0]}, or "
        f"{AUTO_STEPS[1]} epochs where that is more, at most {AUTO_STEPS[2]})",
    )
    warmup_steps: int = option(50, "steps of linear warmup from 0 to lr")
    weight_decay: float = option(0.01, "decay of weight matrices (decoupled with adamw)")
    eval_every: int = option(100, "evaluate and checkpoint every this many steps")
    swa: float = option(
        -1.0,
        "average the weights of the last this part of the steps (stochastic weight averaging, "
        "batch-norm statistics recomputed on the training data) into best.safetensors (0 = "
        f"off; -1 = auto: {AUTO_SWA:g} with LSTM-FCN, else 0)",
    )

    # fields an older rnnkit saved no value of: the value it used then
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"localization": "half"}

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_layers", "batch_size", "channels"):
            require(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        require(
            self.hidden_size >= 1 or self.hidden_size == -1,
            "hidden_size", "an int >= 1, or -1 (auto)", self.hidden_size,
        )  # fmt: skip
        require(self.epochs >= 0, "epochs", "an int >= 0", self.epochs)
        require(self.tps_grid >= 2, "tps_grid", "an int >= 2", self.tps_grid)
        require(
            0 <= self.swa < 1 or self.swa == -1, "swa", "a number in [0, 1), or -1 (auto)", self.swa
        )
        require(
            0 <= self.dropout < 1 or self.dropout == -1,
            "dropout", "a number in [0, 1), or -1 (auto)", self.dropout,
        )  # fmt: skip
        require(
            0 < self.test_fraction < 1, "test_fraction", "a number in (0, 1)", self.test_fraction
        )
        require(
            0 <= self.val_fraction < 1 or self.val_fraction == -1,
            "val_fraction", "a number in [0, 1), or -1 (auto)", self.val_fraction,
        )  # fmt: skip
        if self.dataset and self.data and not self.dataset.startswith("FashionMNIST-"):
            raise ConfigError(
                "expected one of --dataset NAME or --data PATH, got both (a folder of IDX "
                "images goes with --dataset FashionMNIST-<distortion>: they are distorted so)"
            )
        if self.test_data and not self.data:
            raise ConfigError("--test-data goes with --data; a --dataset has its own test split")
        if self.model in ("lstm_fcn", *IMAGE_MODELS) and self.head == "step":
            what = "LSTM-FCN" if self.model == "lstm_fcn" else f"--model {self.model}"
            raise ConfigError(f"--head step: {what} labels whole sequences; use --model rnn")


def resolve_model(cfg: Config, images: bool = False) -> Config:
    """``cfg`` with ``model``, ``dropout``, ``swa`` and ``hidden_size`` "auto" fixed: ST-CNN
    (dropout 0.1) for ``images``, else LSTM-FCN (dropout 0.8, the paper's; ``AUTO_HIDDEN[0]``
    LSTM cells; the last ``AUTO_SWA`` of the steps averaged) for a label per sequence, the
    recurrent tagger (dropout 0.1) for a label per step (``head`` "step"); no weight averaging
    and ``AUTO_HIDDEN[1]`` units in the models other than LSTM-FCN."""
    model = cfg.model
    if model == "auto":
        model = "st-cnn" if images else "rnn" if cfg.head == "step" else "lstm_fcn"
    dropout = cfg.dropout if cfg.dropout != -1 else 0.8 if model == "lstm_fcn" else 0.1
    swa = cfg.swa if cfg.swa != -1 else AUTO_SWA if model == "lstm_fcn" else 0.0
    hidden = cfg.hidden_size
    if hidden == -1:
        hidden = AUTO_HIDDEN[0] if model == "lstm_fcn" else AUTO_HIDDEN[1]
    return dataclasses.replace(cfg, model=model, dropout=dropout, swa=swa, hidden_size=hidden)
