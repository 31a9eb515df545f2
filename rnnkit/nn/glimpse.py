"""The Gaussian glimpse of DRAW (Gregor et al. 2015, section 3.2): read and write attention.

An N x N grid of 2-D Gaussian filters is laid on an image of A columns and B rows. Its centre
(g_X, g_Y), stride delta (the distance between neighbouring filters), isotropic variance
sigma^2 and intensity gamma come from a linear map of the decoder state h (five numbers)::

    (g~_X, g~_Y, log sigma^2, log delta~, log gamma) = W h + b
    g_X = (A + 1) / 2 (g~_X + 1)          g_Y = (B + 1) / 2 (g~_Y + 1)
    delta = (max(A, B) - 1) / (N - 1) delta~

Filter i of the grid (i = 1..N) is centred at mu_X^i = g_X + (i - N/2 - 1/2) delta (the same
on Y). Pixel coordinates are the paper's, a = 1..A and b = 1..B, so g~ = 0 is the image's
centre. The filterbanks are, each row normalized to sum to 1 (``EPS`` guards the division)::

    F_X[i, a] = exp(-(a - mu_X^i)^2 / (2 sigma^2)) / Z_X      (N, A)
    F_Y[j, b] = exp(-(b - mu_Y^j)^2 / (2 sigma^2)) / Z_Y      (N, B)

and the glimpses::

    read(x)  = gamma F_Y x F_X^T           (B, A) image -> (N, N) patch
    write(w) = 1 / gamma F_Y^T w F_X       (N, N) patch -> (B, A) image

Shapes: B batch (the leading dimension of every tensor here), H image rows (the paper's B),
W image columns (A), N the grid size, C optional channels between batch and rows.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

EPS = 1e-8  # added to each filter's normalizer, as in the paper's implementations
INITS = ("cover", "linear")  # GaussianGlimpse's inits of its placement map


class Glimpse(NamedTuple):
    """The parameters of a batch of glimpses, each (B,), in pixel units (1-based)."""

    center_x: Tensor
    center_y: Tensor
    stride: Tensor
    variance: Tensor
    intensity: Tensor

    def box(self, size: int) -> Tensor:
        """(B, 4) boxes (x0, y0, x1, y1) in 0-based pixel coordinates that the N x N grid
        covers: from the first filter's centre to the last's, widened by half a stride."""
        half = self.stride * size / 2  # (B,)
        cx, cy = self.center_x - 1, self.center_y - 1  # 1-based -> 0-based
        return torch.stack([cx - half, cy - half, cx + half, cy + half], dim=-1)  # (B, 4)


def glimpse_params(raw: Tensor, height: int, width: int, size: int) -> Glimpse:
    """The glimpse of the linear map's output ``raw`` (B, 5): (g~_X, g~_Y, log sigma^2,
    log delta~, log gamma), on images of ``height`` x ``width`` with an N = ``size`` grid."""
    if raw.dim() != 2 or raw.size(-1) != 5:
        raise ValueError(f"glimpse_params: expected raw (B, 5), got {tuple(raw.shape)}")
    gx, gy, log_var, log_stride, log_gamma = raw.unbind(-1)  # each (B,)
    scale = (max(height, width) - 1) / max(size - 1, 1)
    return Glimpse(
        center_x=(width + 1) / 2 * (gx + 1),
        center_y=(height + 1) / 2 * (gy + 1),
        stride=scale * torch.exp(log_stride),
        variance=torch.exp(log_var),
        intensity=torch.exp(log_gamma),
    )


def filterbank(center: Tensor, stride: Tensor, variance: Tensor, size: int, length: int) -> Tensor:
    """The (B, N, length) bank of N = ``size`` normalized 1-D Gaussians along an axis of
    ``length`` pixels, centred at ``center + (i - N/2 - 1/2) stride`` (i = 1..N); each (B,)."""
    i = torch.arange(1, size + 1, dtype=center.dtype, device=center.device)  # (N,)
    a = torch.arange(1, length + 1, dtype=center.dtype, device=center.device)  # (L,)
    mu = center[:, None] + (i - size / 2 - 0.5) * stride[:, None]  # (B, N)
    d2 = (a[None, None, :] - mu[:, :, None]) ** 2  # (B, N, L)
    f = torch.exp(-d2 / (2 * variance[:, None, None]))  # (B, N, L)
    return f / (f.sum(-1, keepdim=True) + EPS)  # (B, N, L)


def filterbanks(glimpse: Glimpse, size: int, height: int, width: int) -> tuple[Tensor, Tensor]:
    """(F_X (B, N, W), F_Y (B, N, H)) of ``glimpse`` with an N = ``size`` grid."""
    fx = filterbank(glimpse.center_x, glimpse.stride, glimpse.variance, size, width)
    fy = filterbank(glimpse.center_y, glimpse.stride, glimpse.variance, size, height)
    return fx, fy


def _check_bank(owner: str, fx: Tensor, fy: Tensor, intensity: Tensor) -> None:
    if fx.dim() != 3 or fy.dim() != 3 or fx.size(0) != fy.size(0) or fx.size(1) != fy.size(1):
        raise ValueError(
            f"{owner}: expected filterbanks F_X (B, N, W) and F_Y (B, N, H), got "
            f"{tuple(fx.shape)} and {tuple(fy.shape)}"
        )
    if intensity.shape != fx.shape[:1]:
        raise ValueError(
            f"{owner}: expected intensity (B,) = ({fx.size(0)},), got {tuple(intensity.shape)}"
        )


def _per_batch(t: Tensor, ndim: int) -> Tensor:
    """(B,) -> (B, 1, ..., 1) with ``ndim`` dims, to scale a batch of images or patches."""
    return t.reshape(t.shape + (1,) * (ndim - 1))


def read(images: Tensor, fx: Tensor, fy: Tensor, intensity: Tensor) -> Tensor:
    """gamma F_Y x F_X^T: images (B, H, W) or (B, C, H, W) -> patches (B, N, N) or (B, C, N, N)."""
    _check_bank("read", fx, fy, intensity)
    if images.dim() not in (3, 4) or images.shape[-2:] != (fy.size(2), fx.size(2)):
        raise ValueError(
            f"read: expected images (B, [C,] H, W) with H, W = {fy.size(2)}, {fx.size(2)} "
            f"(the filterbanks'), got {tuple(images.shape)}"
        )
    if images.dim() == 3:
        patch = fy @ images @ fx.transpose(-1, -2)  # (B, N, N)
    else:  # the channels side by side: two plain batched matmuls, no broadcast (faster)
        (b, c, h, w), n = images.shape, fx.size(1)
        rows = fy @ images.transpose(1, 2).reshape(b, h, c * w)  # (B, N, C W)
        patch = rows.view(b, n * c, w) @ fx.transpose(-1, -2)  # (B, N C, N)
        patch = patch.view(b, n, c, n).transpose(1, 2)  # (B, C, N, N)
    return _per_batch(intensity, patch.dim()) * patch


def write(patches: Tensor, fx: Tensor, fy: Tensor, intensity: Tensor) -> Tensor:
    """1/gamma F_Y^T w F_X: patches (B, N, N) or (B, C, N, N) -> images (B, [C,] H, W)."""
    _check_bank("write", fx, fy, intensity)
    n = fx.size(1)
    if patches.dim() not in (3, 4) or patches.shape[-2:] != (n, n):
        raise ValueError(
            f"write: expected patches (B, [C,] N, N) with N = {n} (the filterbanks'), got "
            f"{tuple(patches.shape)}"
        )
    if patches.dim() == 4:
        fx, fy = fx[:, None], fy[:, None]  # (B, 1, N, W), (B, 1, N, H)
    image = fy.transpose(-1, -2) @ patches @ fx  # (B, [C,] H, W)
    return image / _per_batch(intensity, image.dim())


class GaussianGlimpse(nn.Module):
    """A Gaussian attention window of N x N filters on images of ``height`` x ``width``,
    placed by a linear map of a state of ``hidden_size`` (``params``: nn.Linear(hidden, 5)).

    ``glimpse(h) -> Glimpse``; ``read(x, h)``: x (B, [C,] H, W) -> (B, [C,] N, N);
    ``write(w, h)``: w (B, [C,] N, N) -> (B, [C,] H, W). ``read`` of several images (the
    image and DRAW's error image) stacks them as channels.

    ``init``: "cover" (default) starts the bias at the glimpse that tiles the whole image, the
    centre at the image's centre (g~ = 0), the stride spanning it (delta~ = 1), gamma = 1 and
    the filters' deviation half the stride, so that neighbouring filters overlap and a read is
    a smooth N x N summary of the image (a write a smooth full-image layer); "linear" keeps
    nn.Linear's init, bias near 0 as the paper's implementations (sigma^2 near 1 pixel: N x N
    point samples spaced by the stride). The weights are nn.Linear's in both.
    """

    def __init__(
        self,
        hidden_size: int,
        size: int,
        height: int,
        width: int,
        init: Literal["cover", "linear"] = "cover",
    ):
        super().__init__()
        for name, value in (("size", size), ("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GaussianGlimpse: {name} must be a positive int, got {value!r}")
        if init not in INITS:
            raise ValueError(f"GaussianGlimpse: init must be one of {INITS}, got {init!r}")
        self.size, self.height, self.width, self.init = size, height, width, init
        self.params = nn.Linear(hidden_size, 5)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.params.reset_parameters()
        if self.init == "cover":
            stride = max((max(self.height, self.width) - 1) / max(self.size - 1, 1), 1.0)
            with torch.no_grad():
                self.params.bias.zero_()  # centre, delta~ = 1, gamma = 1
                self.params.bias[2] = 2 * math.log(stride / 2)  # log sigma^2: sigma = delta / 2

    def extra_repr(self) -> str:
        return f"size={self.size}, height={self.height}, width={self.width}, init={self.init!r}"

    def glimpse(self, h: Tensor) -> Glimpse:
        return glimpse_params(self.params(h), self.height, self.width, self.size)

    def banks(self, h: Tensor) -> tuple[Tensor, Tensor, Glimpse]:
        """(F_X (B, N, W), F_Y (B, N, H), the glimpse) placed by ``h`` (B, hidden)."""
        g = self.glimpse(h)
        return (*filterbanks(g, self.size, self.height, self.width), g)

    def read(self, images: Tensor, h: Tensor) -> Tensor:
        fx, fy, g = self.banks(h)
        return read(images, fx, fy, g.intensity)

    def write(self, patches: Tensor, h: Tensor) -> Tensor:
        fx, fy, g = self.banks(h)
        return write(patches, fx, fy, g.intensity)
