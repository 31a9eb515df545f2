"""The NumPy engine against torch.nn (float64): same weights -> same losses, gradients, states.

The torch side is the char model's layout, CharLM with submodules ``embed`` (absent for one-hot
input), ``rnn`` (batch_first) and ``head``, so the state_dict keys must match exactly.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.numpy import CharRNN

TORCH_RNN = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]


class TorchCharLM(torch.nn.Module):
    def __init__(self, V, H, L, kind, E, nonlinearity="tanh"):
        super().__init__()
        self.vocab_size = V
        self.embed = torch.nn.Embedding(V, E) if E else None
        kw = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
        self.rnn = TORCH_RNN[kind](E or V, H, L, batch_first=True, **kw)
        self.head = torch.nn.Linear(H, V)

    def forward(self, x, state):
        if self.embed is None:
            e = F.one_hot(x, self.vocab_size).to(self.head.weight.dtype)  # (B, T, V)
        else:
            e = self.embed(x)  # (B, T, E)
        out, state = self.rnn(e, state)
        return self.head(out), state  # (B, T, V)


def to_torch(state):
    if isinstance(state, tuple):
        return tuple(torch.from_numpy(s.copy()) for s in state)
    return torch.from_numpy(state.copy())


def assert_state_equal(ours, theirs, **tol):
    if isinstance(ours, tuple):
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b.detach().numpy(), **tol)
    else:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **tol)


@pytest.mark.parametrize("kind, nonlinearity", KINDS)
@pytest.mark.parametrize("embedding_size", [0, 4])
def test_loss_grads_and_state_equal_torch(kind, nonlinearity, embedding_size):
    V, H, L, B, T = 7, 5, 2, 3, 6
    rng = np.random.default_rng(0)
    model = CharRNN(V, H, L, kind, embedding_size, nonlinearity=nonlinearity, seed=0)
    ref = TorchCharLM(V, H, L, kind, embedding_size, nonlinearity).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})

    x, y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    state = model.init_state(B)  # a carried, non-zero state: run one chunk first
    _, _, state = model.loss_and_grads(rng.integers(0, V, (B, T)), y, state)
    loss, grads, new_state = model.loss_and_grads(x, y, state)

    logits, ref_state = ref(torch.from_numpy(x), to_torch(state))
    ref_loss = F.cross_entropy(logits.reshape(B * T, V), torch.from_numpy(y).reshape(B * T))
    ref_loss.backward()
    assert loss == pytest.approx(ref_loss.item(), rel=1e-12)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-6, atol=1e-12, err_msg=name)
    assert_state_equal(new_state, ref_state, rtol=1e-6, atol=1e-12)

    logp, _ = model.log_probs(x, state)
    np.testing.assert_allclose(logp, F.log_softmax(logits, -1).detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_torch_checkpoint_gives_same_probabilities(kind, dtype):
    """torch-initialized weights loaded into the engine: same probabilities to 1e-5."""
    torch.manual_seed(0)
    V, H, L, E, B, T = 11, 16, 2, 6, 2, 20
    ref = TorchCharLM(V, H, L, kind, E)  # float32, as torch trains
    model = CharRNN(V, H, L, kind, E, dtype=dtype)
    model.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).integers(0, V, (B, T))
    logp, state = model.log_probs(x, model.init_state(B))
    with torch.no_grad():
        logits, ref_state = ref(torch.from_numpy(x), None)
    np.testing.assert_allclose(np.exp(logp), F.softmax(logits, -1).numpy(), atol=1e-5)
    assert_state_equal(state, ref_state, atol=1e-5)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_state_dict_matches_torch_layout_and_init(kind):
    V, H, L, E = 9, 32, 2, 5
    for emb in (0, E):
        ours = CharRNN(V, H, L, kind, emb, seed=0).state_dict()
        theirs = TorchCharLM(V, H, L, kind, emb).state_dict()
        assert list(ours) == list(theirs)  # same names, same order
        for name, value in theirs.items():
            assert ours[name].shape == tuple(value.shape), name
    ours = CharRNN(V, H, L, kind, E, seed=0).state_dict()
    bound = 1 / np.sqrt(H)  # torch: U(-1/sqrt(H), 1/sqrt(H)) for rnn.* and head.*, N(0, 1) embed
    assert 0.8 < ours.pop("embed.weight").std() < 1.2
    uniform = np.concatenate([v.ravel() for v in ours.values()])
    assert np.abs(uniform).max() <= bound
    assert abs(uniform.std() - bound / np.sqrt(3)) < 0.05 * bound  # std of U(-b, b) = b / sqrt(3)
