"""ResNet-18/50 (He et al. 2016) in plain torch, with torchvision's module and parameter names
(conv1, bn1, layer1..layer4 of BasicBlock or Bottleneck, downsample.0/.1), so that a
torchvision ``state_dict`` loads into it; torchvision itself is not needed.

``ResNetEncoder`` is the captioner's ``--encoder resnet18|resnet50``: the backbone up to
layer4 (no average pool, no fc) gives an (S/32) x (S/32) grid of 512 (resnet18) or 2048
(resnet50) features, the annotation vectors (and the attention's scored features).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from rnnkit.train.config import ConfigError

# torchvision's DEFAULT weights of each: the file torch.hub caches them as, and its address
DEFAULT_WEIGHTS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, bias=False)


def _downsample(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(_conv(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """Two conv3x3 (the first of ``stride``) and the identity (or a 1x1 conv) added."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = _conv(c_in, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(c_in, planes, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """conv1x1, conv3x3 (of ``stride``, as torchvision's v1.5), conv1x1 to 4 x planes."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1, self.bn1 = _conv(c_in, planes, 1), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = _conv(planes, out, 1), nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(c_in, out, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


ARCHS = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet50": (Bottleneck, (3, 4, 6, 3))}


class ResNet(nn.Module):
    """torchvision's ResNet up to layer4: (B, 3, S, S) -> (B, dim, S/32, S/32); no fc."""

    def __init__(self, arch: str):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"ResNet: expected one of {sorted(ARCHS)}, got {arch!r}")
        block, depths = ARCHS[arch]
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.relu, self.maxpool = nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        c = 64
        for k, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
            blocks = []
            for j in range(depth):
                blocks.append(block(c, planes, 2 if k > 0 and j == 0 else 1))
                c = planes * block.expansion
            setattr(self, f"layer{k + 1}", nn.Sequential(*blocks))
        self.dim = c
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _read_state(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"expected a state_dict (a dict of tensors), got {type(state).__name__}")
    return state


def default_weights(arch: str) -> Path:
    """torchvision's DEFAULT weights of ``arch`` where torch.hub has them cached."""
    url = DEFAULT_WEIGHTS[arch]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    if not cached.is_file():
        raise ConfigError(
            f"--encoder-weights DEFAULT: torchvision's {arch} weights are not cached at "
            f"{cached}; download {url} and pass it as --encoder-weights FILE"
        )
    return cached


def load_backbone(backbone: ResNet, weights: str, arch: str) -> None:
    """Load a torchvision/PyTorch state_dict (.pth/.pt, or .safetensors) of ``arch`` into
    ``backbone`` (fc.* ignored, a leading ``module.`` stripped); ``DEFAULT``: torchvision's."""
    path = default_weights(arch) if weights == "DEFAULT" else Path(weights)
    fix = f"pass a state_dict of torchvision's {arch} (torchvision.models.{arch}().state_dict())"
    load_state(backbone, path, f"a {arch}", fix, ignore="fc.")


def load_state(module: nn.Module, path: str | Path, what: str, fix: str, ignore: str = "") -> None:
    """Load the state_dict FILE ``path`` (.safetensors, or .pth/.pt read with weights_only)
    into ``module``, keys starting with ``ignore`` (when given) and a leading ``module.``
    aside; anything missing, extra or of another shape is one ConfigError that names ``what``
    the file should hold and ``fix``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--encoder-weights {path}: no such file; {fix}")
    try:
        state = _read_state(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-line error
        raise ConfigError(f"--encoder-weights {path}: unreadable ({e}); {fix}") from None
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not (ignore and k.startswith(ignore))}
    ours = module.state_dict()
    missing = sorted(k for k in set(ours) - set(state) if not k.endswith("num_batches_tracked"))
    extra = sorted(set(state) - set(ours))
    shapes = sorted(
        k for k in set(ours) & set(state) if tuple(ours[k].shape) != tuple(state[k].shape)
    )
    if missing or extra or shapes:
        parts = [
            f"{kind} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
            for kind, keys in (("missing", missing), ("unexpected", extra), ("shape of", shapes))
            if keys
        ]
        raise ConfigError(f"--encoder-weights {path}: not {what}: {'; '.join(parts)}; {fix}")
    module.load_state_dict(state, strict=False)  # all but num_batches_tracked checked above


class ResNetEncoder(nn.Module):
    """``--encoder resnet18|resnet50``: (B, C, S, S) images (C = 1 repeated to 3) ->
    (annotations (B, L, D), the same as the scored features), L = (S // 32)^2 (ceil), D =
    512 or 2048. ``normalise``: ImageNet's mean and std first (pretrained weights).
    ``freeze``: the backbone's parameters are not trained and its batch norms stay in eval
    mode (their running statistics unchanged)."""

    def __init__(self, in_channels: int, arch: str, normalise: bool, freeze: bool):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"--encoder {arch}: expected 1 or 3 image channels, got {in_channels}")
        self.backbone, self.normalise, self.freeze = ResNet(arch), normalise, freeze
        self.dim, self.arch = self.backbone.dim, arch
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN)[:, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD)[:, None, None], persistent=False)
        if freeze:
            self.backbone.requires_grad_(False)

    def load_weights(self, weights: str) -> None:
        load_backbone(self.backbone, weights, self.arch)

    def train(self, mode: bool = True) -> ResNetEncoder:
        super().train(mode)
        if self.freeze:
            self.backbone.eval()
        return self

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = images.expand(-1, 3, -1, -1) if images.size(1) == 1 else images
        if self.normalise:
            x = (x - self.mean) / self.std
        feats = self.backbone(x).flatten(2).transpose(1, 2)  # (B, L, D)
        return feats, feats
