"""DRAW (Gregor, Danihelka, Graves, Rezende & Wierstra 2015): a recurrent variational
auto-encoder that draws an image over T steps, reading and writing through attention.

At each step t = 1..T (equations 3-8 of the paper; sigma the logistic sigmoid)::

    x^_t     = x - sigma(c_{t-1})                      the error image
    r_t      = read(x, x^_t, h^dec_{t-1})              a glimpse of both
    h^enc_t  = LSTM_enc(h^enc_{t-1}, [r_t, h^dec_{t-1}])
    z_t      ~ Q(Z_t | h^enc_t) = N(mu_t, diag(s_t^2)),  (mu_t, log s_t) = W h^enc_t + b
    h^dec_t  = LSTM_dec(h^dec_{t-1}, z_t)
    c_t      = c_{t-1} + write(h^dec_t)                the canvas, a sum of writes

With ``attention="gaussian"`` read and write go through the Gaussian glimpses of
``rnnkit.nn.glimpse`` (read: N_r x N_r patches of x and x^, scaled by gamma; write: an N_w x N_w
patch W h^dec_t laid on the image); with ``"none"`` read is [x, x^] whole and write a linear
map of h^dec_t to the whole image. The states and the canvas start at zero.

The loss is the negative variational bound in nats per image: the Bernoulli reconstruction
-log D(x | c_T) (D(x|c) = prod sigma(c)^x (1 - sigma(c))^(1 - x)) plus the KL of each Q(Z_t|.)
from the prior N(0, I), summed over the steps. Sampling draws z_t from the prior and runs the
decoder alone. Shapes: B batch, H x W images, T steps, Z latent units, S hidden units.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.nn.cells import LSTMCell
from rnnkit.nn.glimpse import GaussianGlimpse
from rnnkit.nn.glimpse import write as glimpse_write
from rnnkit.tasks.draw.config import Config


class Output(NamedTuple):
    """What ``DRAW.forward`` gives: the final canvas and each image's terms of the bound."""

    logits: Tensor  # (B, H, W): c_T, the logits of the Bernoulli pixels
    reconstruction: Tensor  # (B,): -log D(x | c_T), nats
    kl: Tensor  # (B,): sum over steps of KL(Q(Z_t | .) || N(0, I)), nats


class Drawing(NamedTuple):
    """The canvas at every step of ``DRAW.generate`` and where each write went."""

    canvases: Tensor  # (T, B, H, W): sigma(c_t), pixel probabilities
    boxes: Tensor | None  # (T, B, 4): the write glimpse's (x0, y0, x1, y1); None without attention


def gaussian_kl(mu: Tensor, log_sigma: Tensor) -> Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) summed over the last dim: (..., Z) -> (...)."""
    return 0.5 * (mu.pow(2) + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(-1)


class DRAW(nn.Module):
    """The DRAW network on images of ``height`` x ``width`` (see the module docstring).

    Submodules: ``encoder`` and ``decoder`` (rnnkit.nn.LSTMCell), ``latent``
    (nn.Linear(S, 2Z): mu and log sigma), ``write_patch`` (nn.Linear(S, N_w^2), or (S, H*W)
    without attention) and, with attention, ``read_glimpse`` and ``write_glimpse``
    (GaussianGlimpse, each placed by a linear map of h^dec).

    ``forward(x, targets=None) -> (Output, loss)``: x (B, H, W) binary images; loss the mean
    bound over the batch (nats per image) with targets (the images again), else None.
    ``generate(n)`` draws n images from the prior.
    """

    def __init__(self, height: int, width: int, cfg: Config):
        super().__init__()
        self.height, self.width = height, width
        self.steps, self.latent_size = cfg.steps, cfg.latent_size
        self.attention, self.write_size = cfg.attention, cfg.write_size
        pixels, hidden = height * width, cfg.hidden_size
        if cfg.attention == "gaussian":
            init = cfg.glimpse_init
            self.read_glimpse = GaussianGlimpse(hidden, cfg.read_size, height, width, init)
            self.write_glimpse = GaussianGlimpse(hidden, cfg.write_size, height, width, init)
            read_size, write_size = 2 * cfg.read_size**2, cfg.write_size**2
        else:
            read_size, write_size = 2 * pixels, pixels
        self.encoder = LSTMCell(read_size + hidden, hidden)
        self.decoder = LSTMCell(cfg.latent_size, hidden)
        self.latent = nn.Linear(hidden, 2 * cfg.latent_size)
        self.write_patch = nn.Linear(hidden, write_size)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[1:] != (self.height, self.width):
            raise ValueError(
                f"DRAW: expected images (B, {self.height}, {self.width}), got {tuple(x.shape)}"
            )

    def read(self, x: Tensor, x_hat: Tensor, h_dec: Tensor) -> Tensor:
        """r_t: (B, 2 N_r^2) with attention, else (B, 2 H W)."""
        if self.attention == "gaussian":
            patches = self.read_glimpse.read(torch.stack([x, x_hat], 1), h_dec)  # (B, 2, N, N)
            return patches.flatten(1)  # (B, 2 N^2)
        return torch.cat([x.flatten(1), x_hat.flatten(1)], 1)  # (B, 2 H W)

    def write(self, h_dec: Tensor) -> tuple[Tensor, Tensor | None]:
        """(the write (B, H, W), its glimpse's box (B, 4) or None without attention)."""
        w = self.write_patch(h_dec)  # (B, N_w^2) or (B, H W)
        if self.attention != "gaussian":
            return w.view(-1, self.height, self.width), None  # (B, H, W)
        fx, fy, glimpse = self.write_glimpse.banks(h_dec)
        patch = w.view(-1, self.write_size, self.write_size)  # (B, N_w, N_w)
        image = glimpse_write(patch, fx, fy, glimpse.intensity)  # (B, H, W)
        return image, glimpse.box(self.write_size)

    def forward(self, x: Tensor, targets: Tensor | None = None) -> tuple[Output, Tensor | None]:
        self._check(x)
        batch, hidden = x.size(0), self.decoder.hidden_size
        canvas = x.new_zeros(x.shape)  # (B, H, W)
        h_dec = c_dec = h_enc = c_enc = x.new_zeros(batch, hidden)  # (B, S)
        kl = x.new_zeros(batch)  # (B,)
        for _ in range(self.steps):
            x_hat = x - torch.sigmoid(canvas)  # (B, H, W)
            r = self.read(x, x_hat, h_dec)
            h_enc, c_enc = self.encoder(torch.cat([r, h_dec], 1), (h_enc, c_enc))
            mu, log_sigma = self.latent(h_enc).chunk(2, dim=-1)  # (B, Z) each
            z = mu + torch.exp(log_sigma) * torch.randn_like(mu)  # (B, Z): reparameterised
            kl = kl + gaussian_kl(mu, log_sigma)
            h_dec, c_dec = self.decoder(z, (h_dec, c_dec))
            canvas = canvas + self.write(h_dec)[0]
        target = x if targets is None else targets
        reconstruction = F.binary_cross_entropy_with_logits(
            canvas, target.to(canvas.dtype), reduction="none"
        ).sum((1, 2))  # (B,)
        loss = None if targets is None else (reconstruction + kl).mean()
        return Output(canvas, reconstruction, kl), loss

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None) -> Drawing:
        """Draw ``n`` images: z_t from the prior, the decoder and the writes alone."""
        device = self.write_patch.weight.device
        dtype = self.write_patch.weight.dtype
        hidden = self.decoder.hidden_size
        canvas = torch.zeros(n, self.height, self.width, device=device, dtype=dtype)
        h = c = torch.zeros(n, hidden, device=device, dtype=dtype)  # (n, S)
        canvases, boxes = [], []
        for _ in range(self.steps):
            z = torch.randn(n, self.latent_size, generator=generator, dtype=dtype)  # (n, Z)
            h, c = self.decoder(z.to(device), (h, c))
            image, box = self.write(h)
            canvas = canvas + image
            canvases.append(torch.sigmoid(canvas))
            boxes.append(box)
        stacked = None if boxes[0] is None else torch.stack(boxes)  # (T, n, 4)
        return Drawing(torch.stack(canvases), stacked)  # (T, n, H, W)
