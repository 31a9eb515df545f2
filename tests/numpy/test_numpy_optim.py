"""Optimizers and clipping against torch.optim / torch.nn.utils and their formulas."""

import json

import numpy as np
import pytest
import torch

from rnnkit.numpy import SGD, Adagrad, Adam, RMSProp, clip_elementwise, clip_grad_norm

SHAPES = {"a": (3, 4), "b": (5,)}


def run(opt, torch_opt_cls, torch_kwargs, steps=5):
    """Same gradients through ours and torch's; returns (our params, torch params)."""
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    topt = torch_opt_cls(list(tparams.values()), **torch_kwargs)
    for _ in range(steps):
        grads = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
        for k, p in tparams.items():
            p.grad = torch.from_numpy(grads[k].copy())
        topt.step()
        opt.step(params, grads)
    return params, {k: p.detach().numpy() for k, p in tparams.items()}


@pytest.mark.parametrize(
    "opt, torch_cls, kwargs",
    [
        (SGD(lr=0.1), torch.optim.SGD, {"lr": 0.1}),
        (SGD(lr=0.1, momentum=0.9), torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
        (RMSProp(lr=0.01, alpha=0.9), torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-8}),
        (Adam(lr=0.01, betas=(0.8, 0.99)), torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.99)}),
        (Adagrad(lr=0.1, eps=0.0), torch.optim.Adagrad, {"lr": 0.1, "eps": 0.0}),
    ],
)
def test_optimizers_equal_torch(opt, torch_cls, kwargs):
    ours, theirs = run(opt, torch_cls, kwargs)
    for k in SHAPES:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-14)


def test_adagrad_is_min_char_rnn_update():
    p, g = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    opt = Adagrad(lr=0.1, eps=1e-8)
    opt.step({"p": p}, {"p": g.copy()})
    opt.step({"p": p}, {"p": g.copy()})
    mem1, mem2 = g * g, 2 * g * g
    expected = np.array([1.0, -2.0]) - 0.1 * g / np.sqrt(mem1 + 1e-8)
    expected -= 0.1 * g / np.sqrt(mem2 + 1e-8)
    np.testing.assert_array_equal(p, expected)


def test_only_params_in_grads_are_updated():
    params = {"a": np.ones(3), "frozen": np.ones(3)}
    Adam(lr=0.1).step(params, {"a": np.ones(3)})
    np.testing.assert_array_equal(params["frozen"], np.ones(3))
    assert (params["a"] < 1).all()


def test_buffers_follow_a_changing_set_of_gradients():
    """A parameter's buffer carries on when others join or leave the gradients."""
    g = np.array([1.0, 2.0])
    solo, pa = Adagrad(lr=0.1), {"a": np.zeros(2)}
    mixed, pm = Adagrad(lr=0.1), {"a": np.zeros(2), "b": np.zeros(3)}
    solo.step(pa, {"a": g})
    mixed.step(pm, {"b": np.ones(3), "a": g})
    for _ in range(2):
        solo.step(pa, {"a": g})
        mixed.step(pm, {"a": g})
    np.testing.assert_array_equal(pa["a"], pm["a"])
    np.testing.assert_array_equal(mixed.buffers["sum/a"], 3 * g * g)


def test_state_dict_round_trip_resumes_exactly():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(4) for _ in range(6)]
    a, pa = Adam(lr=0.01), {"w": np.zeros(4)}
    for g in grads[:3]:
        a.step(pa, {"w": g.copy()})
    state = a.state_dict()
    json.dumps({k: v for k, v in state.items() if k != "buffers"})  # scalars are JSON-able
    assert set(state["buffers"]) == {"exp_avg/w", "exp_avg_sq/w"}
    b, pb = Adam(lr=0.5), {"w": pa["w"].copy()}
    b.load_state_dict(state)
    assert b.lr == 0.01 and b.betas == (0.9, 0.999)
    for g in grads[3:]:
        a.step(pa, {"w": g.copy()})
        b.step(pb, {"w": g.copy()})
    np.testing.assert_array_equal(pa["w"], pb["w"])
    with pytest.raises(ValueError, match="Adam"):
        RMSProp().load_state_dict(state)


def test_optimizer_argument_errors():
    with pytest.raises(ValueError, match="lr"):
        Adam(lr=-1)
    with pytest.raises(ValueError, match="betas"):
        Adam(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="shape"):
        SGD().step({"w": np.zeros(3)}, {"w": np.zeros(4)})


def test_clip_elementwise():
    grads = {"a": np.array([-7.0, 0.5, 9.0]), "b": np.array([[5.0, -5.5]])}
    clip_elementwise(grads, 5.0)
    np.testing.assert_array_equal(grads["a"], [-5.0, 0.5, 5.0])
    np.testing.assert_array_equal(grads["b"], [[5.0, -5.0]])
    with pytest.raises(ValueError, match="> 0"):
        clip_elementwise(grads, 0)


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_equals_torch(max_norm):
    rng = np.random.default_rng(0)
    grads = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    tensors = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES.values()]
    for t, g in zip(tensors, grads.values(), strict=True):
        t.grad = torch.from_numpy(g.copy())
    expected = torch.nn.utils.clip_grad_norm_(tensors, max_norm).item()
    assert clip_grad_norm(grads, max_norm) == pytest.approx(expected, rel=1e-12)
    for t, g in zip(tensors, grads.values(), strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)
