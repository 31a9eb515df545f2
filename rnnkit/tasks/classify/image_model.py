"""Image classifiers: the CNN of Jaderberg et al. (2015), behind a spatial transformer or not,
and a spatial transformer before an LSTM over the rectified image's rows.

Images come as the sequences classification reads: x (B, T=H, F=W), every sequence H rows
long. ``ImageClassifier`` views them as (B, 1, H, W); the shapes scale with the input:

- ``cnn``: conv 5x5 (``channels``) - ReLU - max-pool 2 - conv 5x5 (2 ``channels``) - ReLU -
  max-pool 2 - dense (``hidden_size``) - ReLU - dropout - softmax, the paper's baseline shape
  (two convolutional and two max-pooling layers) for distorted MNIST.
- ``st-cnn``: the same CNN behind a ``SpatialTransformer`` (``--transform``, affine by default)
  whose localisation net reads the input: conv 5x5 (``channels``/2) - ReLU - max-pool 2 - conv
  5x5 (``channels``) - ReLU - max-pool 2 - dense 32 - ReLU, as the paper's (two convolutional
  layers, two max-pooling layers and a dense layer); ``--localization half``, rnnkit's first
  and the runs saved before it, reads the input downsampled by 2 with half those filters
  (``benchmarks/stn.py``: the full one errs less on validation at 2000 steps). The output keeps
  the input's size.
- ``st-lstm``: the transformer, then an LSTM (``--cell``, ``--hidden-size``, ``--num-layers``,
  ``--bidirectional``) reading the rectified image row by row, its last state to the softmax.

Pixels are standardized with one mean and std of the training set (the buffers ``mean`` and
``std``, (W,), hold it in every entry). The transformer samples the raw pixels, so what it reads
beyond the image is 0, the background, and its output is standardized for the network after it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.data.ucr import SequenceDataError, SequenceSet
from rnnkit.nn import RNNS, SpatialTransformer
from rnnkit.tasks.classify.config import Config
from rnnkit.tasks.classify.model import SequenceClassifier, _last_state
from rnnkit.train.run import write_plot
from rnnkit.viz.stn import plot_transforms

LOCALIZATION_FEATURES = 32
TRANSFORMS_SHOWN = 16  # images in transforms.png


def _pooled(n: int, times: int) -> int:
    """A side of ``n`` after ``times`` max-pools of 2 (ceil mode: never below 1)."""
    for _ in range(times):
        n = math.ceil(n / 2)
    return n


def _conv(channels_in: int, channels_out: int) -> list[nn.Module]:
    """conv 5x5 (same size) - ReLU - max-pool 2 (ceil mode)."""
    return [
        nn.Conv2d(channels_in, channels_out, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
    ]


def localization_net(
    height: int, width: int, channels: int, resolution: str = "full"
) -> nn.Sequential:
    """The localisation net of ST-CNN: (B, 1, H, W) -> (B, 32) features; ``resolution``
    "full" reads the input with ``channels``/2 and ``channels`` filters, "half" (rnnkit's
    first, kept for the runs saved with it) the input downsampled by 2 with ``channels``/4 and
    ``channels``/2."""
    if resolution == "half":
        c1, c2 = max(1, channels // 4), max(1, channels // 2)
        first = [nn.MaxPool2d(2, ceil_mode=True)]
    else:
        c1, c2 = max(1, channels // 2), channels
        first = []
    side = _pooled(height, 2 + len(first)) * _pooled(width, 2 + len(first))
    return nn.Sequential(
        *first, *_conv(1, c1), *_conv(c1, c2), nn.Flatten(),
        nn.Linear(c2 * side, LOCALIZATION_FEATURES), nn.ReLU(),
    )  # fmt: skip


def check_images(data: SequenceSet, height: int, width: int) -> SequenceSet:
    """``data`` checked to hold images of ``height`` x ``width`` (every sequence ``height``
    rows of ``width`` values); SequenceDataError otherwise."""
    if data.x.shape[1:] != (height, width) or not bool((data.lengths == height).all()):
        got = f"{data.x.shape[1]} x {data.x.shape[2]}"
        if not bool((data.lengths == data.x.shape[1]).all()):
            got = "sequences of unequal lengths"
        raise SequenceDataError(
            f"{data.source}: the model reads images of {height} x {width} pixels (rows x "
            f"columns), got {got}; pass images of the training size"
        )
    return data


def pixel_stats(data: SequenceSet) -> tuple[np.ndarray, np.ndarray]:
    """One mean and std (std >= 1e-6) of all pixels, each repeated (W,) for the buffers."""
    width = data.num_features
    mean, std = float(data.x.mean()), max(float(data.x.std()), 1e-6)
    return np.full(width, mean, np.float32), np.full(width, std, np.float32)


class ImageClassifier(SequenceClassifier):
    """CNN, ST-CNN or ST-LSTM (see the module docstring) over images (B, H, W).

    Submodules: ``transformer`` (SpatialTransformer, or None for ``cnn``), then ``features``
    (the two conv blocks) and ``dense``, or for ``st-lstm`` ``rnn``; ``drop`` and ``head``.
    """

    image = True

    def __init__(self, height: int, width: int, num_classes: int, cfg: Config):
        super().__init__(width, num_classes)
        self.height, self.width, self.kind = height, width, cfg.model
        self.drop = nn.Dropout(cfg.dropout)
        self._reader(cfg)  # first: with one seed, the CNN of st-cnn starts as cnn's
        self.transformer = None
        if cfg.model in ("st-cnn", "st-lstm"):
            self.transformer = SpatialTransformer(
                localization_net(height, width, cfg.channels, cfg.localization), cfg.transform,
                grid=cfg.tps_grid,
            )  # fmt: skip

    def _reader(self, cfg: Config) -> None:
        """What reads the (rectified) image: the CNN, or for ``st-lstm`` the LSTM."""
        height, width, num_classes = self.height, self.width, self.num_classes
        if cfg.model == "st-lstm":
            self.num_layers, self.directions = cfg.num_layers, 2 if cfg.bidirectional else 1
            self.rnn = RNNS[cfg.cell](
                width, cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
                dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                bidirectional=cfg.bidirectional,
            )  # fmt: skip
            self.head = nn.Linear(self.directions * cfg.hidden_size, num_classes)
            return
        c = cfg.channels
        self.features = nn.Sequential(*_conv(1, c), *_conv(c, 2 * c), nn.Flatten())
        self.dense = nn.Linear(2 * c * _pooled(height, 2) * _pooled(width, 2), cfg.hidden_size)
        self.head = nn.Linear(cfg.hidden_size, num_classes)

    def _standardize(self, x: PackedSequence | Tensor) -> Tensor:
        """The raw images (B, H, W), checked (``logits`` standardizes them)."""
        if isinstance(x, PackedSequence):
            raise SequenceDataError(
                f"{self.kind}: expected images (all {self.height} rows long), got sequences "
                f"of unequal lengths"
            )
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.height, self.width):
            raise SequenceDataError(
                f"{self.kind}: expected images (B, {self.height}, {self.width}), got "
                f"{tuple(x.shape)}"
            )
        return x

    def rectified(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """What the network after the transformer sees, standardized (B, 1, H, W), and the
        transformation (None without a transformer), of raw images x (B, H, W)."""
        raw = x.unsqueeze(1)  # (B, 1, H, W)
        z = (raw - self.mean) / self.std  # (B, 1, H, W), the (W,) buffers broadcast
        if self.transformer is None:
            return z, None
        out, theta = self.transformer(z, source=raw)  # sampled raw: 0 beyond the image
        return (out - self.mean) / self.std, theta

    @torch.no_grad()
    def transformed(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """The transformer's output in pixels (B, H, W) and its transformation, of x (B, H, W)."""
        z, theta = self.rectified(self._standardize(x))
        return (z * self.std + self.mean)[:, 0], theta

    def logits(self, x: Tensor) -> Tensor:
        z, _ = self.rectified(x)  # (B, 1, H, W)
        if self.kind == "st-lstm":
            _, state = self.rnn(z[:, 0])  # the rows as steps: (B, H, W)
            h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
            return self.head(self.drop(_last_state(h_n, self.num_layers, self.directions)))
        hidden = F.relu(self.dense(self.features(z)))  # (B, hidden_size)
        return self.head(self.drop(hidden))


def describe_image_model(cfg: Config) -> str:
    """One line naming ``cfg``'s image model, for the start of training."""
    st = f"{cfg.transform} ST, " if cfg.model in ("st-cnn", "st-lstm") else ""
    if cfg.model == "st-lstm":
        return f"ST-LSTM ({st}{cfg.cell.upper()} {cfg.hidden_size} over the rows)"
    return f"{cfg.model.upper()} ({st}conv {cfg.channels}-{2 * cfg.channels}, {cfg.hidden_size})"


def write_transforms(
    model: ImageClassifier, data: SequenceSet, out: Path, count: int = TRANSFORMS_SHOWN
) -> Path:
    """``out``/transforms.png (``out`` a folder) or ``out`` (a .png path): the first ``count``
    images of ``data`` beside what the model's transformer made of them, the region each read
    outlined on its input. Returns the path."""
    path = out / "transforms.png" if out.is_dir() else out
    n = min(count, len(data))
    x = torch.from_numpy(data.x[:n]).to(model.mean.device)  # (n, H, W)
    was_training = model.training
    model.eval()
    outputs, theta = model.transformed(x)  # (n, H, W)
    model.train(was_training)
    st = model.transformer
    grid = st.grid_of(theta.float(), tuple(outputs.shape[1:])).cpu().numpy()  # (n, H, W, 2)
    outlines = np.concatenate(
        [grid[:, 0], grid[:, :, -1], grid[:, -1, ::-1], grid[:, ::-1, 0]], axis=1
    )  # (n, P, 2): the output's edge, clockwise, as normalized (x, y) of the input
    height, width = data.x.shape[1:]
    if st.align_corners:  # normalized -> pixel coordinates (pixel centres at 0..W-1)
        scale, offset = np.array([width - 1, height - 1]) / 2, 0.0
    else:
        scale, offset = np.array([width, height]) / 2, -0.5
    outlines = (outlines + 1) * scale + offset  # (n, P, 2)
    return write_plot(
        lambda p: plot_transforms(data.x[:n], outputs.cpu().numpy(), p, outlines, st.transform),
        path,
        "transforms plot",
    )
