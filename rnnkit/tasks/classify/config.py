"""The config of sequence classification and tagging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rnnkit.train.config import ConfigError, TrainConfig, option, require

TASK = "classify"
# config fields that shape the model or the data: a resumed run cannot change them (``head``
# neither, but the saved config holds it resolved from the labels, so it is resolved again)
FIXED_ON_RESUME = (
    "dataset", "data", "test_data", "test_fraction", "val_fraction", "val_data", "model", "cell",
    "hidden_size", "num_layers", "bidirectional", "pooling", "dimension_shuffle", "normalize",
    "batch_size",
)  # fmt: skip


@dataclass
class Config(TrainConfig):
    """Hyperparameters of sequence classification and tagging (and, inherited, of training).

    The data is ``--dataset NAME`` (a UCR/UEA set bundled with sktime, with its own test split,
    or FashionMNIST read row by row) or ``--data PATH`` (.ts, long CSV, .npz/.npy) with
    ``--test-data PATH`` or a held-out ``--test-fraction`` of it. The defaults train a 1-layer
    LSTM of 128 units for 2000 steps; ``--model lstm_fcn --dropout 0.8`` is the UCR recipe.
    """

    dataset: str = option("", "bundled data set: GunPoint, JapaneseVowels, ..., FashionMNIST")
    data: str = option("", "training data: .ts, .csv (long: id, label, features), .npz, .npy")
    test_data: str = option("", "test data for --data ('' = hold out --test-fraction of it)")
    test_fraction: float = option(0.2, "with --data and no --test-data: the part held out")
    val_fraction: float = option(
        0.1, "part of training held out to pick best.safetensors (0 = pick on the training loss)"
    )
    val_data: str = option(
        "", "validation data that picks best.safetensors, instead of holding out --val-fraction"
    )
    model: Literal["rnn", "lstm_fcn"] = option("rnn", "recurrent classifier, or LSTM-FCN")
    cell: Literal["lstm", "gru", "rnn"] = option("lstm", "recurrent layer")
    hidden_size: int = option(128, "units per recurrent layer")
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
    dropout: float = option(0.1, "dropout between recurrent layers and before the head")
    normalize: Literal["feature", "none"] = option(
        "feature", "standardize each feature with the training set's mean and std"
    )
    batch_size: int = option(64, "sequences per batch")
    epochs: int = option(0, "train this many epochs (sets --max-steps; 0 = use --max-steps)")
    max_steps: int = option(2000, "stop after this many steps (0 = no limit)")
    warmup_steps: int = option(50, "steps of linear warmup from 0 to lr")
    weight_decay: float = option(0.01, "decay of weight matrices (decoupled with adamw)")
    eval_every: int = option(100, "evaluate and checkpoint every this many steps")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("hidden_size", "num_layers", "batch_size"):
            require(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        require(self.epochs >= 0, "epochs", "an int >= 0", self.epochs)
        require(0 <= self.dropout < 1, "dropout", "a number in [0, 1)", self.dropout)
        require(
            0 < self.test_fraction < 1, "test_fraction", "a number in (0, 1)", self.test_fraction
        )
        require(0 <= self.val_fraction < 1, "val_fraction", "a number in [0, 1)", self.val_fraction)
        if self.dataset and self.data:
            raise ConfigError("expected one of --dataset NAME or --data PATH, got both")
        if self.test_data and not self.data:
            raise ConfigError("--test-data goes with --data; a --dataset has its own test split")
        if self.model == "lstm_fcn" and self.head == "step":
            raise ConfigError("--head step: LSTM-FCN labels whole sequences; use --model rnn")
