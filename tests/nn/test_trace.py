"""rnnkit.nn.trace and return_gates: the traced (reference) path equals the fused one, and the
gates are the ones the equations give from torch.nn's own outputs."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit.nn as rnn

L, N, H_IN, H = 6, 3, 4, 5
LAYERS = {
    "lstm": (rnn.LSTM, ("i", "f", "g", "o", "c", "h")),
    "gru": (rnn.GRU, ("r", "z", "n", "h")),
    "rnn": (rnn.RNN, ("h",)),
}


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("layers,bidir,batch_first", [(1, False, False), (2, True, True),
                                                      (2, False, True)])  # fmt: skip
@pytest.mark.parametrize("packed", [False, True])
def test_traced_gates_equal_the_fused_outputs_and_states(mode, layers, bidir, batch_first, packed):
    cls, names = LAYERS[mode]
    layer = cls(H_IN, H, layers, batch_first=batch_first, bidirectional=bidir).double().eval()
    x = torch.randn(N, L, H_IN, dtype=torch.float64)  # (N, L, H_in)
    lengths = torch.tensor([6, 3, 5])
    x_in = x if batch_first else x.transpose(0, 1)
    if packed:
        x_in = pack_padded_sequence(x_in, lengths, batch_first=batch_first, enforce_sorted=False)
    output, state = layer(x_in)  # the fused kernel
    traced_output, traced_state, gates = layer(x_in, return_gates=True)
    states = state if isinstance(state, tuple) else (state,)
    traced_states = traced_state if isinstance(traced_state, tuple) else (traced_state,)
    if packed:
        output = pad_packed_sequence(output, batch_first=batch_first)[0]
        traced_output = pad_packed_sequence(traced_output, batch_first=batch_first)[0]
    torch.testing.assert_close(traced_output, output)
    for s, t in zip(states, traced_states, strict=True):
        torch.testing.assert_close(t, s)

    d = 2 if bidir else 1
    assert len(gates) == layers
    for k, layer_gates in enumerate(gates):
        assert tuple(layer_gates) == names
        for g in layer_gates.values():
            assert g.shape == (L, N, d, H)
        # the final state of each direction is h (and c) at its last step: the forward
        # direction's at each sequence's last valid step, the reverse one's at step 0
        steps = lengths - 1 if packed else torch.full((N,), L - 1)
        for name, final in zip(("h", "c"), states, strict=False):
            final = final.view(layers, d, N, H)[k]  # (D, N, H)
            torch.testing.assert_close(layer_gates[name][steps, torch.arange(N), 0], final[0])
            if bidir:
                torch.testing.assert_close(layer_gates[name][0, :, 1], final[1])
    last_h = gates[-1]["h"].flatten(2)  # (L, N, D*H): the output, time-major
    out_tm = output.transpose(0, 1) if batch_first else output
    torch.testing.assert_close(last_h, out_tm)
    if packed:  # padded steps are zero, as the output is
        for name in names:
            assert not gates[0][name][3:, 1].any() and not gates[0][name][5:, 2].any()


def test_lstm_gates_follow_the_equations_from_torch_nn():
    """i, f, g, o from the weights and torch.nn.LSTM's own h_{t-1}; c and h by the recursion."""
    ref = torch.nn.LSTM(H_IN, H, 2, bidirectional=True).double()
    ours = rnn.LSTM(H_IN, H, 2, bidirectional=True).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(L, N, H_IN, dtype=torch.float64)
    out, _ = ref(x)  # (L, N, 2H)
    with rnn.trace(ours) as t:
        ours(x)
    layer1 = t[""][1]  # the layer itself is the traced model: its name is ""
    first = torch.nn.LSTM(H_IN, H, 1, bidirectional=True).double()  # layer 0 alone
    first.load_state_dict({k: v for k, v in ref.state_dict().items() if "_l0" in k})
    layer0_out, _ = first(x)  # (L, N, 2H): the input of layer 1
    for d, sfx, steps in ((0, "", range(L)), (1, "_reverse", reversed(range(L)))):
        w_ih, w_hh = getattr(ref, "weight_ih_l1" + sfx), getattr(ref, "weight_hh_l1" + sfx)
        b = getattr(ref, "bias_ih_l1" + sfx) + getattr(ref, "bias_hh_l1" + sfx)
        h_prev = torch.zeros(N, H, dtype=torch.float64)
        c_prev = torch.zeros(N, H, dtype=torch.float64)
        for step in steps:  # layer 1, direction d, in the order it reads the steps
            pre = layer0_out[step] @ w_ih.T + h_prev @ w_hh.T + b  # (N, 4H)
            i, f, g, o = pre.chunk(4, -1)
            expected = {"i": i.sigmoid(), "f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}
            for name, value in expected.items():
                torch.testing.assert_close(layer1[name][step, :, d], value)
            c = expected["f"] * c_prev + expected["i"] * expected["g"]
            h = out[step, :, d * H : (d + 1) * H]  # torch.nn's output of this direction
            torch.testing.assert_close(layer1["c"][step, :, d], c)
            torch.testing.assert_close(layer1["h"][step, :, d], h)
            torch.testing.assert_close(h, expected["o"] * c.tanh())
            h_prev, c_prev = h, c


def test_gru_gates_follow_the_equations_from_torch_nn():
    ref = torch.nn.GRU(H_IN, H).double()
    ours = rnn.GRU(H_IN, H).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(L, N, H_IN, dtype=torch.float64)
    out, _ = ref(x)
    _, _, gates = ours(x, return_gates=True)
    h_prev = torch.zeros(N, H, dtype=torch.float64)
    for step in range(L):
        gi = x[step] @ ref.weight_ih_l0.T + ref.bias_ih_l0  # (N, 3H)
        gh = h_prev @ ref.weight_hh_l0.T + ref.bias_hh_l0  # (N, 3H)
        r = (gi[:, :H] + gh[:, :H]).sigmoid()
        z = (gi[:, H : 2 * H] + gh[:, H : 2 * H]).sigmoid()
        n = (gi[:, 2 * H :] + r * gh[:, 2 * H :]).tanh()
        for name, value in {"r": r, "z": z, "n": n, "h": out[step]}.items():
            torch.testing.assert_close(gates[0][name][step, :, 0], value)
        torch.testing.assert_close((1 - z) * n + z * h_prev, out[step])
        h_prev = out[step]


def test_trace_a_model_runs_fused_outside_the_block_and_reference_inside(monkeypatch):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn.LSTM(H_IN, H, batch_first=True)
            self.cell = rnn.GRUCell(H, H)
            self.head = torch.nn.Linear(H, 2)

        def forward(self, x):
            out, _ = self.rnn(x)  # (N, L, H)
            return self.head(self.cell(out[:, -1]))

    net = Net().eval()
    x = torch.randn(N, L, H_IN)
    before = net(x)
    fused_calls = []
    fused = net.rnn._fused
    monkeypatch.setattr(net.rnn, "_fused", lambda *a: fused_calls.append(1) or fused(*a))
    with rnn.trace(net) as t:
        traced = net(x)
    assert not fused_calls  # inside: the reference path
    torch.testing.assert_close(traced, before)
    assert [c.name for c in t.calls] == ["rnn", "cell"]
    assert t["rnn"][0]["f"].shape == (L, N, 1, H)  # time-major although batch_first
    assert set(t["cell"]) == {"r", "z", "n", "h"} and t["cell"]["h"].shape == (N, H)
    after = net(x)
    assert fused_calls == [1]  # outside: the fused kernel again, with the same result
    assert torch.equal(after, before)
    assert "forward" not in vars(net.rnn) and "forward" not in vars(net.cell)
    with pytest.raises(KeyError, match="no call of 'head'"):
        t["head"]


@pytest.mark.parametrize("cls", [rnn.LSTMCell, rnn.GRUCell, rnn.RNNCell])
def test_cells_return_gates_equal_their_fused_step(cls):
    cell = cls(H_IN, H).double()
    x = torch.randn(N, H_IN, dtype=torch.float64)
    hx = torch.randn(N, H, dtype=torch.float64)
    hx = (hx, torch.randn(N, H, dtype=torch.float64)) if cls is rnn.LSTMCell else hx
    fused = cell(x, hx)
    traced, gates = cell(x, hx, return_gates=True)
    for a, b in zip(traced if isinstance(traced, tuple) else (traced,),
                    fused if isinstance(fused, tuple) else (fused,), strict=True):  # fmt: skip
        torch.testing.assert_close(a, b)
    h = fused[0] if isinstance(fused, tuple) else fused
    torch.testing.assert_close(gates["h"], h)
    if cls is rnn.LSTMCell:
        torch.testing.assert_close(gates["c"], gates["f"] * hx[1] + gates["i"] * gates["g"])
    _, unbatched = cell(x[0], None, return_gates=True)
    assert all(v.shape == (H,) for v in unbatched.values())


def test_unbatched_input_gives_a_batch_of_one():
    _, _, gates = rnn.LSTM(H_IN, H)(torch.randn(L, H_IN), return_gates=True)
    assert gates[0]["i"].shape == (L, 1, 1, H)


def test_trace_refuses_a_model_without_rnnkit_layers_and_a_nested_trace():
    with pytest.raises(ValueError, match="Sequential has no rnnkit.nn layer or cell$"):
        with rnn.trace(torch.nn.Sequential()):
            pass
    holder = torch.nn.Module()
    holder.lstm = torch.nn.LSTM(2, 3)
    with pytest.raises(ValueError, match="lstm is torch.nn's.*rnnkit.nn's layer"):
        with rnn.trace(holder):
            pass
    layer = rnn.GRU(2, 3)
    with rnn.trace(layer):
        with pytest.raises(ValueError, match="already traced"):
            with rnn.trace(layer):
                pass
    assert "forward" not in vars(layer)
