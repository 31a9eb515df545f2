"""Mixture density outputs for pen strokes (Bishop 1994; Graves 2013, section 4.1).

A network's output vector ``y`` (last dim ``1 + 6M``) parameterises the distribution of the
next pen offset ``(x1, x2, x3)``: ``x1, x2`` real (dx, dy), ``x3`` in {0, 1} (end of stroke).
In the order of the vector:

    e   = sigmoid(y_e)                       end-of-stroke probability  (1)
    pi  = softmax(y_pi)                      mixture weights            (M)
    mu1, mu2 = y_mu1, y_mu2                  means                      (M, M)
    s1, s2   = exp(y_s1), exp(y_s2)          standard deviations        (M, M)
    rho = tanh(y_rho)                        correlations               (M)

    Pr(x) = sum_k pi_k N(x1, x2 | mu_k, s_k, rho_k) * (e if x3 = 1 else 1 - e)

``mdn_nll`` computes ``-log Pr(x)`` in the log domain (log-softmax, log-sum-exp, and
``log(1 - rho^2) = -2 log cosh(y_rho)``), so no density underflows and no correlation of
+-1 divides by zero. ``mdn_sample`` draws from it with Graves' bias ``b`` (section 5.4):
``pi = softmax(y_pi * (1 + b))``, ``s = exp(y_s - b)``; b = 0 samples the model itself, a larger
b gives likelier, cleaner samples.

Shapes: ``(..., 1 + 6M)`` outputs, ``(..., 3)`` targets; the leading dims are any (B, T).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOG_2PI = math.log(2 * math.pi)


class MixtureParams(NamedTuple):
    """The parameters of a mixture density output, each (..., M) but ``e_logit`` (...,):
    ``log_pi`` log mixture weights, ``mu1, mu2`` means, ``log_s1, log_s2`` log standard
    deviations, ``rho_hat`` correlations before tanh, ``e_logit`` end of stroke before sigmoid."""

    e_logit: Tensor
    log_pi: Tensor
    mu1: Tensor
    mu2: Tensor
    log_s1: Tensor
    log_s2: Tensor
    rho_hat: Tensor

    @property
    def rho(self) -> Tensor:
        return torch.tanh(self.rho_hat)


def mdn_size(mixtures: int) -> int:
    """The output size of a head of ``mixtures`` Gaussians: 1 + 6M."""
    return 1 + 6 * mixtures


def split_params(y: Tensor, bias: float = 0.0) -> MixtureParams:
    """The mixture parameters of outputs ``y`` (..., 1 + 6M), with the sampling bias ``bias``
    (0: the model's own distribution)."""
    if y.size(-1) < 7 or (y.size(-1) - 1) % 6:
        raise ValueError(f"mdn: expected outputs of size 1 + 6M (M >= 1), got {y.size(-1)}")
    e, pi, mu1, mu2, s1, s2, rho = torch.split(y, [1] + [(y.size(-1) - 1) // 6] * 6, dim=-1)
    return MixtureParams(
        e.squeeze(-1), F.log_softmax(pi * (1 + bias), dim=-1), mu1, mu2, s1 - bias, s2 - bias, rho
    )


def _log_cosh(x: Tensor) -> Tensor:
    """log(cosh(x)), without overflow for large |x|."""
    a = x.abs()
    return a + torch.log1p(torch.exp(-2 * a)) - math.log(2)


def gaussian_log_density(p: MixtureParams, x1: Tensor, x2: Tensor) -> Tensor:
    """log N(x1, x2 | mu_k, s_k, rho_k) of each component: (..., M) for x1, x2 (...,)."""
    z1 = (x1.unsqueeze(-1) - p.mu1) * torch.exp(-p.log_s1)  # (..., M)
    z2 = (x2.unsqueeze(-1) - p.mu2) * torch.exp(-p.log_s2)  # (..., M)
    rho = p.rho
    log_one_minus_rho2 = -2 * _log_cosh(p.rho_hat)  # log(1 - rho^2), stable at |rho| -> 1
    z = z1**2 + z2**2 - 2 * rho * z1 * z2
    return (
        -LOG_2PI - p.log_s1 - p.log_s2 - 0.5 * log_one_minus_rho2
        - 0.5 * z * torch.exp(-log_one_minus_rho2)
    )  # fmt: skip


def mdn_nll(y: Tensor, target: Tensor) -> Tensor:
    """-log Pr(target) of each point: (...,) for outputs ``y`` (..., 1 + 6M) and targets
    (..., 3) = (dx, dy, end_of_stroke)."""
    if target.size(-1) != 3 or target.shape[:-1] != y.shape[:-1]:
        raise ValueError(
            f"mdn_nll: expected targets {tuple(y.shape[:-1]) + (3,)} for outputs "
            f"{tuple(y.shape)}, got {tuple(target.shape)}"
        )
    p = split_params(y)
    log_joint = p.log_pi + gaussian_log_density(p, target[..., 0], target[..., 1])  # (..., M)
    log_mix = torch.logsumexp(log_joint, -1)
    eos = F.binary_cross_entropy_with_logits(p.e_logit, target[..., 2], reduction="none")
    return eos - log_mix


def mdn_sample(y: Tensor, bias: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
    """One point (..., 3) = (dx, dy, end_of_stroke in {0, 1}) drawn from outputs ``y``
    (..., 1 + 6M) with the bias ``bias`` (>= 0); ``generator`` makes it repeatable."""
    if bias < 0:
        raise ValueError(f"mdn_sample: expected a bias >= 0, got {bias}")
    p = split_params(y.detach().float(), bias)
    shape = p.e_logit.shape
    k = torch.multinomial(p.log_pi.reshape(-1, p.log_pi.size(-1)).exp(), 1, generator=generator)
    k = k.view(*shape, 1)  # (..., 1): the component of each point

    def pick(t: Tensor) -> Tensor:
        return t.gather(-1, k).squeeze(-1)  # (...,)

    mu1, mu2, s1, s2, rho = (pick(t) for t in (p.mu1, p.mu2, p.log_s1, p.log_s2, p.rho))
    z = torch.randn((*shape, 2), generator=generator, device=y.device)  # (..., 2)
    x1 = mu1 + s1.exp() * z[..., 0]
    x2 = mu2 + s2.exp() * (rho * z[..., 0] + torch.sqrt(1 - rho**2) * z[..., 1])
    u = torch.rand(shape, generator=generator, device=y.device)
    eos = (u < torch.sigmoid(p.e_logit)).to(x1.dtype)
    return torch.stack([x1, x2, eos], dim=-1)


def mixture_density(y: Tensor, x1: Tensor, x2: Tensor) -> Tensor:
    """The density sum_k pi_k N(x1, x2 | ...) of outputs ``y`` (1 + 6M,) at points x1, x2 (any
    equal shapes): for heat maps of the prediction at one step."""
    p = split_params(y)  # each (M,): broadcast over the P points
    logp = p.log_pi + gaussian_log_density(p, x1.reshape(-1), x2.reshape(-1))  # (P, M)
    return torch.logsumexp(logp, -1).exp().view(x1.shape)


class MixtureDensityHead(nn.Module):
    """A linear layer to the ``1 + 6M`` outputs of M bivariate Gaussians and an end-of-stroke
    Bernoulli (see the module docstring); ``loss(y, target)`` is ``mdn_nll``, ``sample(y,
    bias)`` is ``mdn_sample``. ``clip`` > 0 clips the derivatives that reach the outputs to
    [-clip, clip] (Graves 2013 clips them to [-100, 100])."""

    def __init__(self, in_features: int, mixtures: int, clip: float = 0.0):
        super().__init__()
        if isinstance(mixtures, bool) or not isinstance(mixtures, int) or mixtures < 1:
            raise ValueError(f"MixtureDensityHead: mixtures must be an int >= 1, got {mixtures!r}")
        self.mixtures, self.clip = mixtures, clip
        self.linear = nn.Linear(in_features, mdn_size(mixtures))

    def forward(self, h: Tensor) -> Tensor:
        y = self.linear(h)  # (..., 1 + 6M)
        if self.clip > 0 and y.requires_grad:
            y.register_hook(lambda g: g.clamp(-self.clip, self.clip))
        return y

    @staticmethod
    def loss(y: Tensor, target: Tensor) -> Tensor:
        return mdn_nll(y, target)

    @staticmethod
    def sample(y: Tensor, bias: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        return mdn_sample(y, bias, generator)

    def extra_repr(self) -> str:
        return f"mixtures={self.mixtures}" + (f", clip={self.clip}" if self.clip else "")
