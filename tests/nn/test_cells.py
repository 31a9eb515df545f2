"""rnnkit.nn cells against torch.nn cells; layer-norm cells against the paper's equations."""

import itertools

import pytest
import torch

import rnnkit.nn as rnn

CELLS = {
    "rnn_tanh": (rnn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (rnn.LSTMCell, torch.nn.LSTMCell, {}),
    "gru": (rnn.GRUCell, torch.nn.GRUCell, {}),
}
N, H_IN, H = 3, 4, 5


@pytest.mark.parametrize(
    "name,bias,batched,with_state,impl",
    list(
        itertools.product(
            CELLS, (True, False), (True, False), (True, False), ("fused", "reference")
        )
    ),
)
def test_cell_matches_torch(name, bias, batched, with_state, impl):
    ours_cls, torch_cls, extra = CELLS[name]
    torch.manual_seed(0)
    ours = ours_cls(H_IN, H, bias, **extra, impl=impl)
    torch.manual_seed(0)
    theirs = torch_cls(H_IN, H, bias, **extra)
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value)  # same seed, same init
    lead = (N,) if batched else ()
    x = torch.randn(*lead, H_IN, requires_grad=True)
    hx = None
    if with_state:
        h = torch.randn(*lead, H, requires_grad=True)
        hx = (h, torch.randn(*lead, H, requires_grad=True)) if name == "lstm" else h
    out_ours, out_theirs = ours(x, hx), theirs(x, hx)
    outs = [out_ours] if isinstance(out_ours, torch.Tensor) else list(out_ours)
    refs = [out_theirs] if isinstance(out_theirs, torch.Tensor) else list(out_theirs)
    leaves = [x] + ([] if hx is None else list(hx) if name == "lstm" else [hx])
    weights = [torch.randn_like(r) for r in refs]
    grads = [
        torch.autograd.grad(
            sum((o * w).sum() for o, w in zip(os_, weights, strict=True)),
            leaves + list(m.parameters()),
        )
        for os_, m in ((outs, ours), (refs, theirs))
    ]
    torch.testing.assert_close(outs, refs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-5)


def _ln(v, gain, bias=None):
    mean = v.mean(-1, keepdim=True)
    var = v.var(-1, unbiased=False, keepdim=True)
    out = (v - mean) / torch.sqrt(var + 1e-5) * gain
    return out if bias is None else out + bias


def test_layer_norm_lstm_cell_follows_ba_et_al():
    cell = rnn.LSTMCell(H_IN, H, layer_norm=True).double()
    with torch.no_grad():
        for p in cell.parameters():  # non-trivial gains and shifts
            p.uniform_(-1, 1)
    x, h, c = (torch.randn(N, s, dtype=torch.float64) for s in (H_IN, H, H))
    gates = (
        _ln(x @ cell.weight_ih.T, cell.ln_ih)
        + cell.bias_ih
        + _ln(h @ cell.weight_hh.T, cell.ln_hh)
        + cell.bias_hh
    )
    i, f, g, o = gates.chunk(4, 1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(_ln(c_new, cell.ln_c_weight, cell.ln_c_bias))
    got_h, got_c = cell(x, (h, c))
    torch.testing.assert_close(got_c, c_new)
    torch.testing.assert_close(got_h, h_new)


def test_layer_norm_gru_and_rnn_cells():
    gru = rnn.GRUCell(H_IN, H, layer_norm=True).double()
    elman = rnn.RNNCell(H_IN, H, layer_norm=True).double()
    x, h = torch.randn(N, H_IN, dtype=torch.float64), torch.randn(N, H, dtype=torch.float64)
    gi = _ln(x @ gru.weight_ih.T, gru.ln_ih) + gru.bias_ih
    gh = _ln(h @ gru.weight_hh.T, gru.ln_hh) + gru.bias_hh
    (ir, iz, in_), (hr, hz, hn) = gi.chunk(3, 1), gh.chunk(3, 1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    expected = (1 - z) * torch.tanh(in_ + r * hn) + z * h
    torch.testing.assert_close(gru(x, h), expected)
    pre = _ln(x @ elman.weight_ih.T, elman.ln_ih) + elman.bias_ih
    pre = pre + _ln(h @ elman.weight_hh.T, elman.ln_hh) + elman.bias_hh
    torch.testing.assert_close(elman(x, h), torch.tanh(pre))


def test_layer_norm_cells_gradcheck():
    for cell in (rnn.LSTMCell(3, 4, layer_norm=True), rnn.GRUCell(3, 4, layer_norm=True)):
        cell = cell.double()
        x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)

        def f(x, cell=cell):
            out = cell(x)
            return out if isinstance(out, torch.Tensor) else torch.cat(out, -1)

        assert torch.autograd.gradcheck(f, (x,))


def test_lstm_cell_forget_bias():
    cell = rnn.LSTMCell(H_IN, H, forget_bias=1.0)
    torch.testing.assert_close(cell.bias_ih[H : 2 * H] + cell.bias_hh[H : 2 * H], torch.ones(H))
    with pytest.raises(ValueError, match="forget_bias needs bias=True"):
        rnn.LSTMCell(H_IN, H, bias=False, forget_bias=1.0)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: rnn.RNNCell(0, 3), "input_size must be a positive int"),
        (lambda: rnn.GRUCell(3, -1), "hidden_size must be a positive int"),
        (lambda: rnn.RNNCell(3, 3, nonlinearity="sigmoid"), "Unknown nonlinearity"),
        (lambda: rnn.LSTMCell(3, 3, impl="cuda"), "impl must be one of"),
        (lambda: rnn.GRUCell(3, 3, layer_norm=True, impl="fused"), "no fused kernel"),
    ],
)
def test_bad_cell_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_cell_inputs():
    cell = rnn.LSTMCell(H_IN, H)
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D, got 3D"):
        cell(torch.randn(1, N, H_IN))
    with pytest.raises(ValueError, match="tuple"):
        cell(torch.randn(N, H_IN), torch.randn(N, H))
    with pytest.raises(RuntimeError, match="dtype"):
        cell(torch.randn(N, H_IN), (torch.randn(N, H).double(), torch.randn(N, H).double()))
    with pytest.raises(RuntimeError, match="hidden1 has inconsistent hidden_size"):
        cell(torch.randn(N, H_IN), (torch.randn(N, H), torch.randn(N, H + 1)))
    with pytest.raises(ValueError, match="unbatched 1-D hidden state"):
        rnn.GRUCell(H_IN, H)(torch.randn(H_IN), torch.randn(N, H))
    with pytest.raises(RuntimeError, match="does not match the weights"):
        rnn.GRUCell(H_IN, H)(torch.randn(N, H_IN, dtype=torch.float64))
