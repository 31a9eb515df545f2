"""rnnkit.nn.mdn against a direct density computation, finite differences and seeded sampling."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal

from rnnkit.nn.mdn import (
    MixtureDensityHead,
    mdn_nll,
    mdn_sample,
    mdn_size,
    mixture_density,
    split_params,
)


def direct_nll(y, target):
    """-log Pr(target) computed the plain way: a sum of densities of torch.distributions."""
    m = (y.size(-1) - 1) // 6
    e, pi, mu1, mu2, s1, s2, rho = torch.split(y, [1] + [m] * 6, dim=-1)
    pi, s1, s2, rho = torch.softmax(pi, -1), s1.exp(), s2.exp(), torch.tanh(rho)
    out = torch.empty(y.shape[:-1], dtype=y.dtype)
    for idx in torch.cartesian_prod(*[torch.arange(n) for n in y.shape[:-1]]):
        i = tuple(idx.tolist())
        density = 0.0
        for k in range(m):
            cov = torch.tensor(
                [
                    [s1[i][k] ** 2, rho[i][k] * s1[i][k] * s2[i][k]],
                    [rho[i][k] * s1[i][k] * s2[i][k], s2[i][k] ** 2],
                ],
                dtype=y.dtype,
            )
            mean = torch.stack([mu1[i][k], mu2[i][k]])
            density += pi[i][k] * MultivariateNormal(mean, cov).log_prob(target[i][:2]).exp()
        bern = Bernoulli(logits=e[i][0]).log_prob(target[i][2])
        out[i] = -(torch.log(density) + bern)
    return out


def random_case(b=3, t=4, m=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(b, t, mdn_size(m), generator=g, dtype=dtype)
    target = torch.randn(b, t, 3, generator=g, dtype=dtype)
    target[..., 2] = (torch.rand(b, t, generator=g) < 0.3).to(dtype)
    return y, target


def test_nll_matches_a_direct_density_computation():
    y, target = random_case()
    torch.testing.assert_close(mdn_nll(y, target), direct_nll(y, target), rtol=1e-9, atol=1e-9)


def test_nll_gradients_match_finite_differences():
    y, target = random_case(b=2, t=3, m=3, seed=1)
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y: mdn_nll(y, target), (y,), eps=1e-6, atol=1e-6)


def test_nll_is_stable_where_a_direct_computation_is_not():
    y, target = random_case(b=1, t=2, m=2, seed=2, dtype=torch.float32)
    y = y.clone()
    y[..., 5:7] = -30.0  # tiny sigmas: a density computed directly overflows/underflows
    y[..., -2:] = 40.0  # rho = tanh(40) == 1 in float32: 1 - rho^2 is 0
    y.requires_grad_(True)
    nll = mdn_nll(y, target)
    nll.sum().backward()
    assert torch.isfinite(nll).all() and torch.isfinite(y.grad).all()


def test_single_component_is_a_bivariate_normal():
    y, target = random_case(b=2, t=2, m=1, seed=3)
    torch.testing.assert_close(mdn_nll(y, target), direct_nll(y, target))


def test_mixture_density_integrates_to_one():
    y, _ = random_case(b=1, t=1, m=4, seed=4)
    y = y[0, 0].clone()
    y[1 + 4 * 2 : 1 + 4 * 4] = -1.0  # sigmas e^-1: the grid holds the mass
    grid = torch.linspace(-8, 8, 801, dtype=torch.float64)
    x1, x2 = torch.meshgrid(grid, grid, indexing="ij")
    mass = mixture_density(y, x1, x2).sum() * (grid[1] - grid[0]) ** 2
    assert abs(mass.item() - 1) < 1e-3


def test_sampling_with_a_seed_repeats_and_follows_the_moments():
    y, _ = random_case(b=1, t=1, m=2, seed=5)
    y = y.expand(20000, 1, -1).float()
    a = mdn_sample(y, generator=torch.Generator().manual_seed(7))
    b = mdn_sample(y, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == (20000, 1, 3)
    p = split_params(y[0, 0])
    pi = p.log_pi.exp()
    mean = torch.stack([(pi * p.mu1).sum(), (pi * p.mu2).sum()])
    torch.testing.assert_close(a[:, 0, :2].mean(0), mean, atol=0.05, rtol=0)
    assert abs(a[:, 0, 2].mean().item() - torch.sigmoid(p.e_logit).item()) < 0.02
    # the correlation of one component: all weight on component 0
    y1 = y.clone()
    y1[..., 1] = 50.0
    s = mdn_sample(y1, generator=torch.Generator().manual_seed(8))[:, 0, :2]
    corr = torch.corrcoef(s.T)[0, 1].item()
    assert abs(corr - torch.tanh(split_params(y1[0, 0]).rho_hat[0]).item()) < 0.03


def test_bias_sharpens_the_samples():
    y, _ = random_case(b=1, t=1, m=3, seed=6)
    y = y.expand(5000, 1, -1).float()
    spread = [
        mdn_sample(y, bias, torch.Generator().manual_seed(0))[:, 0, :2].std(0).sum().item()
        for bias in (0.0, 1.0, 3.0)
    ]
    assert spread[0] > spread[1] > spread[2]
    with pytest.raises(ValueError, match="bias >= 0"):
        mdn_sample(y, -1.0)


def test_head_shapes_clip_and_errors():
    head = MixtureDensityHead(8, 4, clip=0.5)
    h = torch.randn(2, 3, 8, requires_grad=True)
    y = head(h)
    assert y.shape == (2, 3, 25)
    (y * 1000).sum().backward()  # derivatives of 1000 at the outputs, clipped to 0.5
    torch.testing.assert_close(head.linear.bias.grad, torch.full((25,), 0.5 * 6))
    with pytest.raises(ValueError, match="1 \\+ 6M"):
        mdn_nll(torch.zeros(2, 8), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="expected targets"):
        mdn_nll(torch.zeros(2, 7), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="mixtures"):
        MixtureDensityHead(8, 0)
    assert "mixtures=4" in repr(head)
    assert math.isfinite(head.loss(y, torch.zeros(2, 3, 3)).sum().item())
