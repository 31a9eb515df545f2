"""Hand-written BPTT against centered finite differences, in float64 (relative error < 1e-6)."""

import numpy as np
import pytest

from rnnkit.numpy import GRU, LSTM, RNN, CharRNN, check_gradients

TOL = 1e-6
KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]


def random_state(model: CharRNN, batch_size: int, rng: np.random.Generator):
    """A non-zero carried state, as after an earlier chunk."""
    state = model.init_state(batch_size)
    if isinstance(state, tuple):
        return tuple(rng.uniform(-0.8, 0.8, s.shape) for s in state)
    return rng.uniform(-0.8, 0.8, state.shape)


@pytest.mark.parametrize("kind, nonlinearity", KINDS)
@pytest.mark.parametrize("num_layers, embedding_size", [(1, 0), (2, 0), (2, 3)])
@pytest.mark.parametrize("carried", [False, True])
def test_char_rnn_gradients(kind, nonlinearity, num_layers, embedding_size, carried):
    V, H, B, T = 5, 4, 2, 5
    rng = np.random.default_rng(0)
    # embedding_size 0: one-hot input, a column lookup into weight_ih_l0
    model = CharRNN(V, H, num_layers, kind, embedding_size, nonlinearity=nonlinearity, seed=1)
    x, y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    state = random_state(model, B, rng) if carried else model.init_state(B)
    loss, grads, _ = model.loss_and_grads(x, y, state)
    assert set(grads) == set(model.params)
    errors = check_gradients(lambda: model.loss_and_grads(x, y, state)[0], model.params, grads)
    assert max(errors.values()) < TOL, errors


def test_sum_reduction_gradients():
    model = CharRNN(6, 5, model="rnn", seed=2)
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 6, (1, 7)), rng.integers(0, 6, (1, 7))
    h = random_state(model, 1, rng)
    loss, grads, _ = model.loss_and_grads(x, y, h, reduction="sum")
    mean, _, _ = model.loss_and_grads(x, y, h)
    assert loss == pytest.approx(7 * mean)

    def f():
        return model.loss_and_grads(x, y, h, reduction="sum")[0]

    assert max(check_gradients(f, model.params, grads).values()) < TOL


@pytest.mark.parametrize(
    "layer_cls, kwargs", [(RNN, {}), (RNN, {"nonlinearity": "relu"}), (LSTM, {}), (GRU, {})]
)
def test_layer_gradients_wrt_inputs_and_states(layer_cls, kwargs):
    """Float input x, initial state and a gradient arriving at the final state (dhT)."""
    T, B, I, H = 4, 3, 3, 4
    rng = np.random.default_rng(3)
    layer = layer_cls(I, H, **kwargs)
    for p in layer.parameters().values():
        p[...] = rng.uniform(-0.6, 0.6, p.shape)
    x = rng.standard_normal((T, B, I))
    h0 = rng.uniform(-0.8, 0.8, (B, H))
    c0 = rng.uniform(-0.8, 0.8, (B, H))
    r_out, r_h, r_c = (rng.standard_normal(s) for s in [(T, B, H), (B, H), (B, H)])
    is_lstm = layer_cls is LSTM

    def loss():  # sum(out * r_out) + sum(hT * r_h) (+ sum(cT * r_c))
        out, last = layer.forward(x, (h0, c0) if is_lstm else h0)
        if is_lstm:
            return np.sum(out * r_out) + np.sum(last[0] * r_h) + np.sum(last[1] * r_c)
        return np.sum(out * r_out) + np.sum(last * r_h)

    loss()
    dx, dstate, grads = layer.backward(r_out, (r_h, r_c) if is_lstm else r_h)
    grads["x"], grads["h0"] = dx, dstate[0] if is_lstm else dstate
    values = {**layer.parameters(), "x": x, "h0": h0}
    if is_lstm:
        grads["c0"], values["c0"] = dstate[1], c0
    errors = check_gradients(loss, values, grads)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_gradients_through_dropout(kind):
    """Dropout after each layer: the same masks on every call (a re-seeded dropout_rng)."""
    rng = np.random.default_rng(4)
    model = CharRNN(5, 4, 2, kind, 3, seed=1, dropout=0.3)
    x, y = rng.integers(0, 5, (2, 5)), rng.integers(0, 5, (2, 5))
    state = random_state(model, 2, rng)

    def loss_and_grads():
        model.dropout_rng = np.random.default_rng(7)
        return model.loss_and_grads(x, y, state)

    loss, grads, _ = loss_and_grads()
    assert loss != pytest.approx(model.loss_and_grads(x, y, state)[0])  # other masks
    errors = check_gradients(lambda: loss_and_grads()[0], model.params, grads)
    assert max(errors.values()) < TOL, errors
