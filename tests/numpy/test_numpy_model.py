"""CharRNN's contract: no torch, state handling, checkpoints, sampling, dtypes, argument errors."""

import subprocess
import sys

import numpy as np
import pytest

from rnnkit.numpy import CharRNN


def test_importing_the_engine_does_not_import_torch():
    code = "import sys, rnnkit.numpy; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_chunks_with_carried_state_equal_one_long_pass(kind):
    model = CharRNN(6, 8, 2, kind, 3, seed=0)
    x = np.random.default_rng(0).integers(0, 6, (2, 12))
    whole, whole_state = model.log_probs(x, model.init_state(2))
    state, parts = model.init_state(2), []
    for chunk in np.split(x, [5, 9], axis=1):
        logp, state = model.log_probs(chunk, state)
        parts.append(logp)
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, atol=1e-13)
    for a, b in zip(np.atleast_1d(state), np.atleast_1d(whole_state), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-13)


def test_streams_are_independent():
    model = CharRNN(5, 6, model="gru", seed=0)
    x = np.random.default_rng(0).integers(0, 5, (3, 7))
    batched, _ = model.log_probs(x, model.init_state(3))
    for b in range(3):
        alone, _ = model.log_probs(x[b : b + 1], model.init_state(1))
        np.testing.assert_allclose(batched[b : b + 1], alone, atol=1e-13)


def test_log_probs_normalize_and_loss_is_their_mean():
    model = CharRNN(7, 5, model="lstm", seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 7, (2, 9)), rng.integers(0, 7, (2, 9))
    logp, _ = model.log_probs(x, model.init_state(2))
    assert logp.shape == (2, 9, 7)
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0)
    loss, _, _ = model.loss_and_grads(x, y, model.init_state(2))
    picked = np.take_along_axis(logp, y[..., None], -1)
    assert loss == pytest.approx(-picked.mean(), rel=1e-12)


def test_float32_matches_float64():
    m64 = CharRNN(9, 16, 2, "lstm", 4, seed=0)
    m32 = CharRNN(9, 16, 2, "lstm", 4, dtype=np.float32)
    m32.load_state_dict(m64.state_dict())
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 9, (4, 10)), rng.integers(0, 9, (4, 10))
    l64, g64, _ = m64.loss_and_grads(x, y, m64.init_state(4))
    l32, g32, s32 = m32.loss_and_grads(x, y, m32.init_state(4))
    assert l32 == pytest.approx(l64, rel=1e-5)
    assert all(g.dtype == np.float32 for g in g32.values()) and s32[0].dtype == np.float32
    for name in g64:
        np.testing.assert_allclose(g32[name], g64[name], atol=1e-5, err_msg=name)


def test_state_dict_round_trip_and_errors():
    a, b = CharRNN(5, 4, seed=0), CharRNN(5, 4, seed=1)
    b.load_state_dict(a.state_dict())
    for name, value in a.state_dict().items():
        np.testing.assert_array_equal(b.params[name], value)
    sd = a.state_dict()
    sd["head.weight"] = sd["head.weight"][:, :3]
    with pytest.raises(ValueError, match=r"head\.weight expected shape \(5, 4\)"):
        b.load_state_dict(sd)
    sd = a.state_dict()
    sd["embed.weight"] = np.zeros((5, 2))
    with pytest.raises(ValueError, match="unexpected keys"):
        b.load_state_dict(sd)


def test_frozen_parameters_get_no_gradient():
    model = CharRNN(5, 4, frozen=("rnn.bias_hh_l0",))
    x = np.zeros((1, 3), np.int64)
    _, grads, _ = model.loss_and_grads(x, x, model.init_state(1))
    assert "rnn.bias_hh_l0" not in grads and "rnn.bias_ih_l0" in grads
    with pytest.raises(ValueError, match="unknown parameters"):
        CharRNN(5, 4, frozen=("nope",))


def test_dropout_only_in_training():
    plain, dropped = CharRNN(6, 8, 2, "lstm", 3, seed=0), CharRNN(6, 8, 2, "lstm", 3, dropout=0.5)
    dropped.load_state_dict(plain.state_dict())
    x = np.random.default_rng(0).integers(0, 6, (4, 9))
    np.testing.assert_array_equal(
        plain.log_probs(x, plain.init_state(4))[0], dropped.log_probs(x, dropped.init_state(4))[0]
    )
    loss, _, _ = plain.loss_and_grads(x, x, plain.init_state(4))
    assert dropped.loss_and_grads(x, x, dropped.init_state(4))[0] != pytest.approx(loss)
    with pytest.raises(ValueError, match="dropout"):
        CharRNN(5, 4, dropout=1.0)


def test_sampling_is_deterministic_under_a_seed():
    model = CharRNN(10, 8, model="gru", seed=0)
    a = model.sample([1, 2], 50, rng=np.random.default_rng(7))
    b = model.sample([1, 2], 50, rng=np.random.default_rng(7))
    c = model.sample([1, 2], 50, rng=np.random.default_rng(8))
    assert a == b != c and len(a) == 50 and all(0 <= i < 10 for i in a)
    assert model.sample([1], 0) == []


def test_temperature_zero_is_greedy():
    model = CharRNN(10, 8, model="lstm", seed=0)
    ids = model.sample([3], 20, temperature=0)
    assert ids == model.sample([3], 20, temperature=1.0, top_k=1, rng=np.random.default_rng(0))
    seq = [3]  # greedy by hand: the argmax of each next-char distribution
    for _ in range(20):
        logp, _ = model.log_probs(np.array([seq]), model.init_state(1))
        seq.append(int(logp[0, -1].argmax()))
    assert ids == seq[1:]


def test_top_k_draws_only_among_the_k_most_likely():
    model = CharRNN(10, 8, seed=0)
    logp, state = model.log_probs(np.array([[4]]), model.init_state(1))
    top3 = set(np.argsort(logp[0, -1])[-3:])
    rng = np.random.default_rng(0)
    firsts = {model.sample([4], 1, top_k=3, rng=rng)[0] for _ in range(200)}
    assert firsts <= top3 and len(firsts) > 1


def test_argument_errors():
    with pytest.raises(ValueError, match="model must be one of"):
        CharRNN(5, 4, model="transformer")
    with pytest.raises(ValueError, match="dtype"):
        CharRNN(5, 4, dtype=np.float16)
    with pytest.raises(ValueError, match="nonlinearity"):
        CharRNN(5, 4, model="lstm", nonlinearity="relu")
    model = CharRNN(5, 4, 2)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\)"):
        model.log_probs(np.array([[0, 5]]), model.init_state(1))
    with pytest.raises(ValueError, match=r"\(B, T\) integer ids"):
        model.log_probs(np.zeros((1, 3)), model.init_state(1))
    with pytest.raises(ValueError, match=r"state of shape \(2, 1, 4\)"):
        model.log_probs(np.array([[0, 1]]), np.zeros((1, 1, 4)))
    with pytest.raises(ValueError, match="at least one prime"):
        model.sample([], 5)
