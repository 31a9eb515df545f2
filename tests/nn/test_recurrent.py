"""rnnkit.nn.RNN/LSTM/GRU against torch.nn: outputs, final states and every gradient."""

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit.nn as rnn

MODES = {  # name -> (rnnkit class, torch class, constructor kwargs)
    "rnn_tanh": (rnn.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnn.LSTM, torch.nn.LSTM, {}),
    "gru": (rnn.GRU, torch.nn.GRU, {}),
}
L, N, H_IN, H, P = 5, 3, 4, 6, 3
LENGTHS = [5, 2, 4]  # unsorted on purpose: exercises sorted_indices / unsorted_indices

CASES = [
    (mode, layers, bidir, batch_first, bias, proj, kind, init_state, impl)
    for mode in MODES
    for layers, bidir, batch_first, bias, kind, init_state, impl in itertools.product(
        (1, 2, 3),
        (False, True),
        (False, True),
        (False, True),
        ("batched", "unbatched", "packed"),
        (False, True),
        ("fused", "reference"),
    )
    for proj in ((0, P) if mode == "lstm" else (0,))
]


def _make_pair(mode, **kwargs):
    ours_cls, torch_cls, extra = MODES[mode]
    reference = torch_cls(H_IN, H, **extra, **kwargs)
    ours_kwargs = {k: v for k, v in kwargs.items()}
    ours = ours_cls(H_IN, H, **extra, **ours_kwargs)
    ours.load_state_dict(reference.state_dict())
    return ours, reference


def _inputs(kind, batch_first, layers, bidir, proj, is_lstm, init_state):
    """Input and initial states, fresh leaves, for one case."""
    d = 2 if bidir else 1
    if kind == "unbatched":
        x = torch.randn(L, H_IN)
        state_shape = (layers * d,)
    else:
        x = torch.randn(N, L, H_IN) if batch_first else torch.randn(L, N, H_IN)
        state_shape = (layers * d, N)
    x.requires_grad_(True)
    hx = None
    if init_state:
        h0 = torch.randn(*state_shape, proj or H, requires_grad=True)
        hx = (h0, torch.randn(*state_shape, H, requires_grad=True)) if is_lstm else h0
    return x, hx


def _run(module, x, hx, kind, batch_first):
    if kind == "packed":
        x_in = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        out, state = module(x_in, hx)
        return out.data, state
    return module(x, hx)


def _flatten(out, state):
    return [out, *(state if isinstance(state, tuple) else (state,))]


@pytest.mark.parametrize(
    "mode,layers,bidir,batch_first,bias,proj,kind,init_state,impl",
    CASES,
    ids=["-".join(str(v) for v in case) for case in CASES],
)
def test_matches_torch(mode, layers, bidir, batch_first, bias, proj, kind, init_state, impl):
    kwargs = {"num_layers": layers, "bidirectional": bidir, "batch_first": batch_first}
    kwargs["bias"] = bias
    if proj:
        kwargs["proj_size"] = proj
    ours, reference = _make_pair(mode, **kwargs)
    ours.impl = impl
    is_lstm = mode == "lstm"
    x, hx = _inputs(kind, batch_first, layers, bidir, proj, is_lstm, init_state)

    expected = _flatten(*_run(reference, x, hx, kind, batch_first))
    actual = _flatten(*_run(ours, x, hx, kind, batch_first))
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-5)

    # gradients of one random linear functional of every output, w.r.t. everything
    weights = [torch.randn_like(e) for e in expected]
    leaves = [x, *([] if hx is None else (hx if is_lstm else (hx,)))]
    grads = []
    for outs, module in ((expected, reference), (actual, ours)):
        loss = sum((o * w).sum() for o, w in zip(outs, weights, strict=True))
        grads.append(torch.autograd.grad(loss, leaves + list(module.parameters())))
    for g_ours, g_ref in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(g_ours, g_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", list(MODES))
def test_state_dict_moves_both_ways_and_init_matches(mode):
    ours_cls, torch_cls, extra = MODES[mode]
    kwargs = {"num_layers": 2, "bidirectional": True, **extra}
    if mode == "lstm":
        kwargs["proj_size"] = 2
    torch.manual_seed(0)
    ours = ours_cls(H_IN, H, **kwargs)
    torch.manual_seed(0)
    theirs = torch_cls(H_IN, H, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs.state_dict()[key]), key  # same seed, same init
    fresh_torch = torch_cls(H_IN, H, **kwargs)
    fresh_torch.load_state_dict(ours.state_dict())  # strict both ways
    fresh_ours = ours_cls(H_IN, H, **kwargs)
    fresh_ours.load_state_dict(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


@pytest.mark.parametrize("mode", list(MODES))
def test_dropout_between_layers(mode):
    ours, reference = _make_pair(mode, num_layers=2, dropout=0.5)
    x = torch.randn(L, N, H_IN)
    ours.eval(), reference.eval()
    torch.testing.assert_close(_flatten(*ours(x)), _flatten(*reference(x)))
    ours.train(), reference.train()
    torch.manual_seed(1)
    expected = _flatten(*reference(x))
    torch.manual_seed(1)
    torch.testing.assert_close(_flatten(*ours(x)), expected)  # fused: torch's own masks
    ours.impl = "reference"
    torch.manual_seed(1)
    first = ours(x)[0]
    torch.manual_seed(1)
    assert torch.equal(first, ours(x)[0])  # seeded
    ours.eval()
    assert not torch.allclose(first, ours(x)[0])  # the masks did act


def test_reference_path_runs_on_float64():
    ours, reference = _make_pair("lstm", num_layers=2, bidirectional=True)
    ours.double(), reference.double()
    ours.impl = "reference"
    x = torch.randn(L, N, H_IN, dtype=torch.float64)
    torch.testing.assert_close(_flatten(*ours(x)), _flatten(*reference(x)), atol=1e-12, rtol=0)
