"""The extras torch lacks: layer norm, recurrent dropout, zoneout, forget bias, impl choice."""

import pytest
import torch
from torch.nn.utils.rnn import pack_sequence

import rnnkit.nn as rnn

L, N, H_IN, H = 4, 2, 3, 4
LAYERS = {"rnn": rnn.RNN, "lstm": rnn.LSTM, "gru": rnn.GRU}
CELLS = {"rnn": rnn.RNNCell, "lstm": rnn.LSTMCell, "gru": rnn.GRUCell}


def _as_tensor(result):
    out, state = result
    states = state if isinstance(state, tuple) else (state,)
    return torch.cat([out.flatten(), *(s.flatten() for s in states)])


def _seeded(module, seed=0):
    """The module as a function of its input whose random masks are fixed (reseeded per call)."""

    def f(x):
        torch.manual_seed(seed)
        return _as_tensor(module(x))

    return f


EXTRAS = [
    {"layer_norm": True},
    {"recurrent_dropout": 0.3},
    {"zoneout": 0.3},
    {"layer_norm": True, "recurrent_dropout": 0.2, "zoneout": 0.2},
]


@pytest.mark.parametrize("extras", EXTRAS, ids=lambda e: "+".join(e))
@pytest.mark.parametrize("kind", list(LAYERS))
def test_gradcheck_float64(kind, extras):
    module = LAYERS[kind](H_IN, H, num_layers=2, bidirectional=True, **extras).double().train()
    x = torch.randn(L, N, H_IN, dtype=torch.float64, requires_grad=True)
    assert not module.uses_fused
    assert torch.autograd.gradcheck(_seeded(module), (x,))
    # and with respect to the parameters, through the same fixed masks
    params = tuple(module.parameters())

    def of_params(*values):
        torch.manual_seed(0)
        return _as_tensor(
            torch.func.functional_call(module, dict(zip(names, values, strict=True)), (x,))
        )

    names = [n for n, _ in module.named_parameters()]
    assert torch.autograd.gradcheck(of_params, params, fast_mode=True)


def _loop(cell, x, h, c=None, h_mask=None, zoneout=0.0, training=True):
    """An independent step loop: cell over time, masks and zoneout written out."""
    outs = []
    for t in range(x.size(0)):
        h_in = h if h_mask is None else h * h_mask
        if isinstance(cell, rnn.GRUCell):  # the mask acts on W_hh h only, not on z * h
            gi = cell._gi(x[t])
            (i_r, i_z, i_n), (h_r, h_z, h_n) = gi.chunk(3, -1), cell._gh(h_in).chunk(3, -1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            new_h, new_c = (1 - z) * torch.tanh(i_n + r * h_n) + z * h, None
        elif c is None:
            new_h, new_c = cell(x[t], h_in), None
        else:
            new_h, new_c = cell(x[t], (h_in, c))
        if zoneout and training:
            m_h = torch.bernoulli(torch.full_like(new_h, zoneout))
            new_h = m_h * h + (1 - m_h) * new_h
            if c is not None:
                m_c = torch.bernoulli(torch.full_like(new_c, zoneout))
                new_c = m_c * c + (1 - m_c) * new_c
        elif zoneout:
            new_h = zoneout * h + (1 - zoneout) * new_h
            new_c = zoneout * c + (1 - zoneout) * new_c if c is not None else None
        outs.append(new_h)
        h, c = new_h, new_c
    return torch.stack(outs), h, c


def _cell_from_layer(kind, layer):
    cell = CELLS[kind](H_IN, H, layer_norm=layer.layer_norm)
    cell.load_state_dict(
        {k.removesuffix("_l0"): v for k, v in layer.state_dict().items()}, strict=True
    )
    return cell


@pytest.mark.parametrize("kind", list(LAYERS))
def test_recurrent_dropout_is_one_mask_per_sequence(kind):
    p = 0.4
    layer = LAYERS[kind](H_IN, H, recurrent_dropout=p).train()
    cell = _cell_from_layer(kind, layer)
    x = torch.randn(L, N, H_IN)
    torch.manual_seed(3)
    out, _ = layer(x)
    torch.manual_seed(3)
    mask = torch.bernoulli(torch.full((N, H), 1 - p)) / (1 - p)  # sampled once, used at every t
    c0 = torch.zeros(N, H) if kind == "lstm" else None
    expected, _, _ = _loop(cell, x, torch.zeros(N, H), c0, h_mask=mask)
    torch.testing.assert_close(out, expected)
    layer.eval()  # identity at eval: the fused kernel runs
    assert layer.uses_fused
    torch.testing.assert_close(layer(x)[0], _loop(cell, x, torch.zeros(N, H), c0)[0])


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_zoneout(kind, training):
    p = 0.5
    layer = LAYERS[kind](H_IN, H, zoneout=p).train(training)
    cell = _cell_from_layer(kind, layer)
    x = torch.randn(L, N, H_IN)
    h0 = torch.randn(1, N, H)
    c0 = torch.randn(1, N, H) if kind == "lstm" else None
    torch.manual_seed(5)
    out, state = layer(x, (h0, c0) if kind == "lstm" else h0)
    torch.manual_seed(5)
    expected, h, c = _loop(cell, x, h0[0], None if c0 is None else c0[0], None, p, training)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(state[0][0] if kind == "lstm" else state[0], h)
    if training:  # each unit either kept its old value or took the new one
        plain, _, _ = _loop(cell, x, h0[0], None if c0 is None else c0[0])
        assert not torch.allclose(out, plain)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_layer_norm_layer_runs_the_layer_norm_cell(kind):
    layer = LAYERS[kind](H_IN, H, layer_norm=True)
    cell = _cell_from_layer(kind, layer)
    x = torch.randn(L, N, H_IN)
    c0 = torch.zeros(N, H) if kind == "lstm" else None
    torch.testing.assert_close(layer(x)[0], _loop(cell, x, torch.zeros(N, H), c0)[0])
    names = [n for n, _ in layer.named_parameters()]
    assert "ln_ih_l0" in names and "ln_hh_l0" in names
    assert ("ln_c_weight_l0" in names) == (kind == "lstm")


@pytest.mark.parametrize("kind", list(LAYERS))
def test_packed_sequences_with_extras_match_one_by_one(kind):
    layer = LAYERS[kind](H_IN, H, num_layers=2, bidirectional=True, layer_norm=True).eval()
    layer.zoneout = 0.3  # eval: the expectation, deterministic
    seqs = [torch.randn(n, H_IN) for n in (4, 2, 3)]
    packed_out, state = layer(pack_sequence(seqs, enforce_sorted=False))
    h_n = state[0] if kind == "lstm" else state
    unpacked, lengths = torch.nn.utils.rnn.pad_packed_sequence(packed_out)
    for b, seq in enumerate(seqs):
        out_b, state_b = layer(seq)  # unbatched, one sequence
        torch.testing.assert_close(unpacked[: lengths[b], b], out_b)
        torch.testing.assert_close(h_n[:, b], state_b[0] if kind == "lstm" else state_b)


def test_forget_bias_layer():
    torch.manual_seed(0)
    layer = rnn.LSTM(H_IN, H, num_layers=2, bidirectional=True, forget_bias=1.0)
    torch.manual_seed(0)
    plain = torch.nn.LSTM(H_IN, H, num_layers=2, bidirectional=True)
    for name, value in layer.state_dict().items():
        if name.startswith("bias_ih"):
            other = layer.state_dict()[name.replace("bias_ih", "bias_hh")]
            torch.testing.assert_close(value[H : 2 * H] + other[H : 2 * H], torch.ones(H))
            for gate in (0, 2, 3):  # the other gates keep torch's init
                sl = slice(gate * H, (gate + 1) * H)
                assert torch.equal(value[sl], plain.state_dict()[name][sl])
        elif name.startswith("weight"):
            assert torch.equal(value, plain.state_dict()[name])
    assert layer.uses_fused  # only an init: the fused kernel still runs


def test_impl_selection():
    assert rnn.LSTM(H_IN, H).uses_fused
    assert not rnn.LSTM(H_IN, H, impl="reference").uses_fused
    assert not rnn.GRU(H_IN, H, layer_norm=True).uses_fused
    assert not rnn.GRU(H_IN, H, zoneout=0.1).eval().uses_fused
    for extra in ({"layer_norm": True}, {"recurrent_dropout": 0.1}, {"zoneout": 0.1}):
        with pytest.raises(ValueError, match="no fused kernel"):
            rnn.LSTM(H_IN, H, impl="fused", **extra)
    assert "layer_norm=True" in repr(rnn.GRU(H_IN, H, layer_norm=True))
    assert repr(rnn.GRU(H_IN, H)) == f"GRU({H_IN}, {H})"
