"""The config of image captioning (Show, Attend and Tell)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rnnkit.data.fashion_mnist import FASHION_MNIST_DIR
from rnnkit.train.config import ConfigError, TrainConfig, option, require

TASK = "caption"
# init_state "auto" of each attention, chosen on scenes' validation split (benchmarks/caption.py)
AUTO_INIT = {"none": "grid", "soft": "zero", "hard": "grid"}
# image_input "auto" of each attention, chosen there too: with the image summary at every step
# the attention goes unused (localisation at chance), without it none writes poor captions
# pretrain_steps -1 (auto) on scenes with pool or dilated: chosen on scenes' validation split
# (every attention captioned better: BLEU-4 +0.06 to +0.14; benchmarks/caption.py)
AUTO_PRETRAIN = 1000
AUTO_IMAGE_INPUT = {"none": "every", "soft": "first", "hard": "first"}
# what shapes the model or the data: a resumed run cannot change it
FIXED_ON_RESUME = (
    "dataset", "data", "images", "scenes_folder", "scenes", "canvas", "image_size", "min_count",
    "valid_fraction", "test_fraction", "channels", "embedding_size", "hidden_size",
    "attention_size", "attention", "batch_size", "reinforce_cost", "init_state", "encoder",
    "encoder_weights", "features", "image_input", "pretrain_steps",
)  # fmt: skip


@dataclass
class Config(TrainConfig):
    """Hyperparameters of captioning (and, inherited, of training).

    The data is ``--dataset scenes`` (generated: Fashion-MNIST items on a canvas, captioned by
    a small grammar; drawn shapes where Fashion-MNIST is not installed) or ``--data
    captions.json --images FOLDER`` (COCO's ``captions_*.json`` or Karpathy's
    ``dataset_*.json``). A CNN of three stages reads the image into a grid of annotation
    vectors; an LSTM writes the caption with ``--attention none|soft|hard`` over the grid.
    """

    dataset: Literal["", "scenes"] = option("", "a generated data set: scenes")
    data: str = option("", "captions JSON: COCO's captions_*.json or Karpathy's dataset_*.json")
    images: str = option("", "--data: the folder of the images the JSON names")
    scenes_folder: str = option(
        str(FASHION_MNIST_DIR), "scenes: Fashion-MNIST's IDX folder (missing: drawn shapes)"
    )
    scenes: int = option(6000, "scenes: training scenes (validation and test: a tenth each)")
    canvas: Literal[64, 96] = option(64, "scenes: canvas size in pixels")
    image_size: int = option(64, "--data: images resized to this square size")
    valid_fraction: float = option(0.05, "--data (COCO's JSON): part held out to validate")
    test_fraction: float = option(0.05, "--data (COCO's JSON): part held out to test")
    min_count: int = option(2, "words seen fewer times in the training captions are unknown")
    max_words: int = option(30, "train on captions of at most this many words")
    init_state: Literal["auto", "mean", "grid", "zero"] = option(
        "auto",
        "the LSTM's first state from the mean annotation (the paper's), from the annotations "
        "average-pooled to a 4x4 grid and flattened (where the items are, too), or zero (soft, "
        "hard: the image then enters through the attention's context alone); auto: "
        + ", ".join(f"{k} {v}" for k, v in AUTO_INIT.items()),
    )
    image_input: Literal["auto", "first", "every"] = option(
        "auto",
        "the image summary (the annotations pooled as --init-state says; grid where it is zero) "
        "into the LSTM's first state only (first) or also into its input at every step, after "
        "the attention's context (every, as LRCN and m-RNN do); auto: "
        + ", ".join(f"{k} {v}" for k, v in AUTO_IMAGE_INPUT.items()),
    )
    encoder: Literal["pool", "dilated", "resnet18", "resnet50", "features"] = option(
        "pool",
        "the CNN: pool (an S/8 x S/8 grid) or dilated (S/4 x S/4: attention scored on local "
        "features that see 25 pixels, annotations from dilated convs that see 73), or "
        "torchvision's resnet18|resnet50 up to layer4 (an S/32 x S/32 grid of 512|2048 "
        "features, --channels unused; 64 px images give 2x2: use --image-size 224), or "
        "features: no CNN, the annotations of --features",
    )
    features: str = option(
        "",
        "--encoder features: a .safetensors or .npz FILE mapping each file name of --data to "
        "its annotations, a float array (L, D) (L square) or (G, G, D), computed elsewhere",
    )
    encoder_weights: str = option(
        "",
        "initial weights of the CNN: resnet, a torchvision state_dict FILE (.pth/.pt/"
        ".safetensors) or DEFAULT (torchvision's, where torch.hub has them cached; inputs then "
        "normalised with ImageNet's mean and std); pool, dilated: the encoder.safetensors of an "
        "earlier run with the same --encoder and --channels (empty: trained from scratch)",
    )
    pretrain_steps: int = option(
        -1,
        "scenes, --encoder pool|dilated: before captioning, train the CNN this many steps to "
        "name the item under each grid cell (or the background) of canvases with training "
        "items at random places (as the paper's encoder was trained on ImageNet "
        "classification first; kept as encoder.safetensors); 0: the "
        f"captions alone train it; -1 (auto): {AUTO_PRETRAIN} on scenes without "
        "--encoder-weights, else 0",
    )
    freeze_encoder: bool = option(
        False,
        "do not train the CNN past its loaded or pretrained weights (its batch norms stay in "
        "eval mode)",
    )
    channels: int = option(64, "channels of the CNN's last stage (the annotation size D)")
    forget_bias: float | None = option(
        None,
        "the LSTM's forget-gate bias at the start (b_if; b_hf = 0); a larger one keeps what the "
        "first state holds longer (the benchmark's none with --image-input first: 2, chosen on "
        "validation); unset: torch's uniform init",
    )
    embedding_size: int = option(64, "word embedding size")
    hidden_size: int = option(256, "LSTM units")
    attention_size: int = option(128, "hidden size of the additive attention's scores")
    attention: Literal["none", "soft", "hard"] = option(
        "soft",
        "none (no attention: the image into the first state and, see --image-input, every "
        "step), soft (deterministic), hard (REINFORCE)",
    )
    doubly_stochastic: float = option(1.0, "soft, hard: lambda of sum_i (1 - sum_t alpha_ti)^2")
    sharpness: float = option(
        0.0, "soft: weight of the attention's entropy per word in the loss (a sharper alpha)"
    )
    entropy_weight: float = option(0.002, "hard: weight of the attention's entropy bonus")
    baseline_decay: float = option(0.9, "hard: b <- decay * b + (1 - decay) * cost")
    reinforce_cost: Literal["caption", "to-go"] = option(
        "caption",
        "hard: a location's cost in REINFORCE: the caption's NLL (the paper's) or the NLL of "
        "its step on (to-go: earlier words do not depend on it; less variance, still unbiased)",
    )
    mix: float = option(0.5, "hard: chance of a batch using the expected context in training")
    dropout: float = option(0.3, "dropout before the deep output layer")
    beam: int = option(3, "beam width of captioning (1 = greedy)")
    max_length: int = option(0, "longest caption in words (0 = longest training caption + 5)")
    batch_size: int = option(64, "images per batch")
    lr: float = option(2e-3, "peak learning rate")
    max_steps: int = option(3000, "stop after this many steps (0 = no limit)")
    eval_every: int = option(250, "evaluate and checkpoint every this many steps")
    warmup_steps: int = option(50, "steps of linear warmup from 0 to lr")
    weight_decay: float = option(0.0, "decay of weight matrices (decoupled with adamw)")
    grad_clip: float = option(5.0, "clip the gradient norm to this (0 = no clipping)")

    # fields an older rnnkit saved no value of: the value it used then
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {
        "init_state": "mean", "sharpness": 0.0, "encoder": "pool", "encoder_weights": "",
        "freeze_encoder": False, "features": "",
        "image_input": "first", "pretrain_steps": 0,
    }  # fmt: skip

    @property
    def first_state(self) -> str:
        """``init_state`` with auto resolved: mean, grid or zero."""
        return AUTO_INIT[self.attention] if self.init_state == "auto" else self.init_state

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init_state == "auto":  # saved resolved: a later AUTO_INIT leaves old runs alone
            self.init_state = AUTO_INIT[self.attention]
        if self.image_input == "auto":
            self.image_input = AUTO_IMAGE_INPUT[self.attention]
        for name in ("channels", "embedding_size", "hidden_size", "attention_size", "beam"):
            require(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        for name in ("batch_size", "min_count", "max_words", "scenes"):
            require(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        require(self.image_size >= 16, "image_size", "an int >= 16", self.image_size)
        require(self.max_length >= 0, "max_length", "an int >= 0", self.max_length)
        require(0 <= self.dropout < 1, "dropout", "a number in [0, 1)", self.dropout)
        require(self.doubly_stochastic >= 0, "doubly_stochastic", ">= 0", self.doubly_stochastic)
        require(self.sharpness >= 0, "sharpness", ">= 0", self.sharpness)
        require(self.entropy_weight >= 0, "entropy_weight", ">= 0", self.entropy_weight)
        require(0 <= self.baseline_decay < 1, "baseline_decay", "in [0, 1)", self.baseline_decay)
        require(0 <= self.mix <= 1, "mix", "a number in [0, 1]", self.mix)
        for name in ("valid_fraction", "test_fraction"):
            require(0 <= getattr(self, name) < 0.5, name, "in [0, 0.5)", getattr(self, name))
        if self.init_state == "zero" and self.attention == "none":
            raise ConfigError(
                "--init-state zero needs --attention soft or hard (without attention the image "
                "enters through the first state alone)"
            )
        resnet = self.encoder.startswith("resnet")
        if self.encoder == "features" and self.encoder_weights:
            raise ConfigError("--encoder-weights goes with a CNN, not with --encoder features")
        if self.encoder_weights == "DEFAULT" and not resnet:
            raise ConfigError(
                "--encoder-weights DEFAULT (torchvision's) goes with --encoder resnet18 or "
                "resnet50; pool and dilated take the encoder.safetensors FILE of an earlier run"
            )
        if self.freeze_encoder and self.encoder == "features":
            raise ConfigError("--freeze-encoder goes with a CNN, not with --encoder features")
        if self.pretrain_steps == -1:  # saved resolved, as init_state
            pretrainable = self.dataset == "scenes" and self.encoder in ("pool", "dilated")
            self.pretrain_steps = AUTO_PRETRAIN if pretrainable and not self.encoder_weights else 0
        require(self.pretrain_steps >= 0, "pretrain_steps", "an int >= 0 or -1 (auto)",
                self.pretrain_steps)  # fmt: skip
        if self.pretrain_steps and (
            self.dataset != "scenes" or self.encoder not in ("pool", "dilated")
        ):
            raise ConfigError(
                "--pretrain-steps trains rnnkit's CNN to name scenes' items: it goes with "
                "--dataset scenes and --encoder pool or dilated (elsewhere: --encoder resnet18 "
                "--encoder-weights FILE|DEFAULT)"
            )
        if self.pretrain_steps and self.encoder_weights:
            raise ConfigError(
                "--pretrain-steps and --encoder-weights both set the CNN's first weights: "
                "pass one of them"
            )
        if self.freeze_encoder and not (self.encoder_weights or self.pretrain_steps):
            raise ConfigError(
                "--freeze-encoder needs --encoder-weights FILE|DEFAULT or --pretrain-steps N (a "
                "frozen random CNN would never learn)"
            )
        if (self.encoder == "features") != bool(self.features):
            raise ConfigError("--features FILE and --encoder features go together")
        if self.features and (self.dataset or self.images):
            raise ConfigError(
                "--encoder features reads --data captions.json and --features FILE alone (not "
                "--dataset scenes, nor --images)"
            )
        if self.dataset and self.data:
            raise ConfigError("expected one of --dataset scenes or --data FILE, got both")
        if self.images and not self.data:
            raise ConfigError("--images goes with --data captions.json")
