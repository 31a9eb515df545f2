"""The handwriting networks: the soft window against a direct computation, state, sampling."""

import numpy as np
import pytest
import torch

from rnnkit.tasks.handwriting import (
    Alphabet,
    Config,
    HandwritingModel,
    SoftWindow,
    StrokeBatch,
    Targets,
    make_batch,
)
from rnnkit.tasks.handwriting.model import _clip_grad

TINY = {"hidden_size": 8, "num_layers": 3, "mixtures": 2, "window_mixtures": 3}


def direct_window(window, h, kappa, text, lengths, vocab):
    """phi and w of one step, written out as sums over k and u (u = length: the end marker,
    id ``vocab``)."""
    p = torch.exp(window.linear(h))
    k_ = window.mixtures
    a, b, k = p[:, :k_], p[:, k_ : 2 * k_], p[:, 2 * k_ :]
    kappa = kappa + k
    bsz, u_max = text.shape
    phi = torch.zeros(bsz, u_max + 1, dtype=h.dtype)
    w = torch.zeros(bsz, vocab + 1, dtype=h.dtype)
    for i in range(bsz):
        for u in range(int(lengths[i]) + 1):
            gauss = [a[i, j] * torch.exp(-b[i, j] * (kappa[i, j] - u) ** 2) for j in range(k_)]
            phi[i, u] = sum(gauss)
            w[i, text[i, u] if u < lengths[i] else vocab] += phi[i, u]
    return w, kappa, phi


def batch(b=3, t=7, u=5, vocab=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(0, vocab, (b, u), generator=g)
    mask = torch.arange(u) < torch.tensor([u, 3, 1])[:b, None]  # texts of 5, 3 and 1 chars
    x = StrokeBatch(torch.randn(b, t, 3, generator=g), text, mask)
    return x, Targets(torch.randn(b, t, 3, generator=g), torch.ones(b, t, dtype=torch.bool))


def test_window_matches_a_direct_computation_and_its_gradients():
    torch.manual_seed(0)
    window = SoftWindow(4, 3, chars_per_point=0.5).double()
    x, _ = batch()
    lengths = x.text_mask.sum(1)
    ids = torch.cat([x.text, torch.zeros(3, 1, dtype=torch.long)], 1)  # (B, U + 1)
    ids[torch.arange(3), lengths] = 6  # the end marker
    valid = torch.arange(6) <= lengths[:, None]
    chars = torch.nn.functional.one_hot(ids, 7).double() * valid[..., None]
    h, kappa = torch.randn(3, 4, dtype=torch.float64), torch.rand(3, 3, dtype=torch.float64)
    w, new_kappa, phi, _ = window(h, kappa, chars, lengths)
    w_ref, kappa_ref, phi_ref = direct_window(window, h, kappa, x.text, lengths, 6)
    torch.testing.assert_close(phi, phi_ref)
    torch.testing.assert_close(w, w_ref)
    torch.testing.assert_close(new_kappa, kappa_ref)
    # the window vector sums the weights (one-hot rows sum to 1), the marker's last
    torch.testing.assert_close(w.sum(-1), phi.sum(-1))
    torch.testing.assert_close(w[:, 6], phi[torch.arange(3), lengths])
    h.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda h: window(h, kappa, chars, lengths)[0], (h,))


def test_window_positions_only_move_forward():
    model = HandwritingModel(Config(synthesis=True, **TINY), vocab_size=6)
    x, _ = batch(t=30)
    out = model.run(x)
    assert out.phi.shape == (3, 30, 6) and out.position.shape == (3, 30)
    # each sequence: weights beyond its text and past-the-end slot are zero
    assert torch.all(out.phi[1, :, 4:] == 0) and torch.all(out.phi[2, :, 2:] == 0)
    kappas = []
    state = None
    for t in range(30):
        step = StrokeBatch(x.strokes[:, t : t + 1], x.text, x.text_mask)
        o = model.run(step, state)
        state = o.state
        kappas.append(state.kappa)
    assert torch.all(torch.diff(torch.stack(kappas), dim=0) > 0)


@pytest.mark.parametrize("synthesis", [False, True])
def test_running_in_pieces_equals_running_whole(synthesis):
    model = HandwritingModel(Config(synthesis=synthesis, **TINY), vocab_size=6)
    x, _ = batch(t=9)
    whole = model.run(x)
    first = model.run(StrokeBatch(x.strokes[:, :4], x.text, x.text_mask))
    second = model.run(StrokeBatch(x.strokes[:, 4:], x.text, x.text_mask), first.state)
    torch.testing.assert_close(torch.cat([first.y, second.y], 1), whole.y)


def test_skip_connections_and_sizes():
    cfg = Config(synthesis=True, **TINY)
    model = HandwritingModel(cfg, vocab_size=6)
    h = cfg.hidden_size
    assert model.cell1.weight_ih.shape == (4 * h, 3 + 7)  # the point, the window (+ marker)
    for rnn in model.rnns:  # the point, the window and the layer below
        assert rnn.weight_ih_l0.shape == (4 * h, 3 + 7 + h)
    assert model.head.linear.in_features == cfg.num_layers * h  # every layer to the output
    x, y = batch()
    _, loss = model(x, y)
    loss.backward()
    for rnn in model.rnns:  # each layer's input weights of the points get a gradient
        assert rnn.weight_ih_l0.grad[:, :3].abs().sum() > 0
    pred = HandwritingModel(Config(**TINY))
    assert pred.rnn1.weight_ih_l0.shape == (4 * h, 3) and pred.rnns[0].input_size == 3 + h


def test_loss_is_the_mean_nll_of_valid_points():
    model = HandwritingModel(Config(**TINY))
    x, y = batch()
    mask = y.mask.clone()
    mask[0, 4:] = False
    y = Targets(y.offsets, mask)
    out, loss = model(x, y)
    from rnnkit.nn.mdn import mdn_nll

    expected = mdn_nll(out.y, y.offsets)[mask].mean()
    torch.testing.assert_close(loss, expected)
    assert y.numel() == int(mask.sum())


def test_derivatives_are_clipped():
    t = torch.ones(3, requires_grad=True)
    (_clip_grad(t * 1, 0.5) * torch.tensor([10.0, -10.0, 0.1])).sum().backward()
    torch.testing.assert_close(t.grad, torch.tensor([0.5, -0.5, 0.1]))


def test_sampling_repeats_with_a_seed_and_stops_past_the_end():
    model = HandwritingModel(Config(synthesis=True, **TINY), vocab_size=6, chars_per_point=0.3)
    text = torch.tensor([1, 2, 3])
    a = model.generate(text, 200, 0.5, torch.Generator().manual_seed(3))
    b = model.generate(text, 200, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a.points, b.points) and a.finished
    last = a.phi[-1]
    assert last[-1] > last[:-1].max() and a.points[-1, 2] == 1
    assert not torch.all(a.phi[:-1, -1] > a.phi[:-1, :-1].max(1).values)  # not before
    c = model.generate(text, 200, 0.5, torch.Generator().manual_seed(4))
    assert not (c.points.shape == a.points.shape and torch.equal(c.points, a.points))
    with pytest.raises(ValueError, match="needs a text"):
        model.generate(None, 5)


def test_priming_reads_the_style_first():
    model = HandwritingModel(Config(**TINY))
    style = torch.randn(12, 3)
    style[:, 2] = 0
    free = model.generate(None, 5, 0.0, torch.Generator().manual_seed(0))
    primed = model.generate(None, 5, 0.0, torch.Generator().manual_seed(0), prime=style)
    assert not torch.equal(free.y[0], primed.y[0])
    x = StrokeBatch(torch.cat([torch.tensor([[0.0, 0.0, 1.0]]), style[1:]])[None], *[None] * 2)
    torch.testing.assert_close(primed.y[0], model.run(x).y[0, -1])


def test_batches_and_alphabet():
    lines = [np.array([[5, 5, 0], [1, 2, 0], [3, 4, 1]], np.float32), np.ones((2, 3), np.float32)]
    alphabet = Alphabet.fit(["ab", "ba c"])
    assert alphabet.chars == " abc" and list(alphabet.encode("cab")) == [3, 1, 2]
    with pytest.raises(ValueError, match="never saw 'Q', 'X'"):
        alphabet.encode("aXQ")
    x, y = make_batch(lines, [alphabet.encode("ab"), alphabet.encode("c")], np.array([1.0, 2.0]))
    assert x.strokes.shape == (2, 2, 3) and y.mask.tolist() == [[True, True], [True, False]]
    torch.testing.assert_close(x.strokes[0], torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]))
    torch.testing.assert_close(y.offsets[0], torch.tensor([[1.0, 1.0, 0.0], [3.0, 2.0, 1.0]]))
    assert x.text_mask.tolist() == [[True, True], [True, False]]
