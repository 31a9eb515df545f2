"""rnnkit caption's model: attention sums to 1, the doubly stochastic term's gradient by
finite differences, REINFORCE unbiased on a toy problem with a known gradient, the hard
attention's loss and baseline, and captions that end with END or at the length limit."""

import pytest
import torch

from rnnkit.tasks.caption.config import Config
from rnnkit.tasks.caption.model import CaptionModel, doubly_stochastic, reinforce_surrogate
from rnnkit.train.config import ConfigError, config_to_dict, saved_config

V = 12


def model(attention, **kw):
    torch.manual_seed(0)
    cfg = Config(dataset="scenes", attention=attention, channels=16, hidden_size=24,
                 embedding_size=8, attention_size=8, dropout=0.0, **kw)  # fmt: skip
    return CaptionModel(cfg, V, 1)


def batch(B=3, T=5):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(B, 1, 32, 32, generator=g)
    y = torch.randint(4, V, (B, T + 2), generator=g)
    y[:, 0], y[:, -1] = 2, 3
    y[0, -2:] = torch.tensor([3, 0])  # a shorter caption, padded
    return x, y


@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_attention_sums_to_one_over_locations(attention):
    m = model(attention).eval()
    x, _ = batch()
    state = m.encode(x)
    assert state.feats.shape == (3, 16, 16)  # a 4x4 grid of 32x32 images
    _, alpha, beta = m.attend(state)
    assert torch.allclose(alpha.sum(1), torch.ones(3)) and (alpha >= 0).all()
    if attention == "soft":  # the gate; hard attention has none (its context is a_s)
        assert ((beta > 0) & (beta < 1)).all()
    else:
        assert m.gate is None and (beta == 1).all()
    maps = m.attention_maps(x, [[5, 6], [7], [4, 5, 6]])
    assert maps.shape == (3, 4, 16)
    assert torch.allclose(maps.sum(2), torch.tensor([[1.0, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]]))
    assert model("none").attention_maps(x, [[5]]) is None


def test_doubly_stochastic_gradient_by_finite_differences():
    g = torch.Generator().manual_seed(0)
    alphas = torch.softmax(torch.randn(2, 4, 6, generator=g, dtype=torch.float64), -1)
    real = torch.tensor([[True] * 4, [True, True, False, False]])
    alphas.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: doubly_stochastic(a, real), (alphas,))
    direct = torch.stack([((1 - alphas[b, real[b]].sum(0)) ** 2).sum() for b in range(2)])
    assert torch.allclose(doubly_stochastic(alphas, real), direct)


def test_soft_loss_is_cross_entropy_plus_lambda_times_the_penalty():
    m = model("soft", doubly_stochastic=0.7).train()
    x, y = batch()
    torch.manual_seed(3)
    _, loss = m(x, y)
    t = m.terms(x, y, False)
    n = t.real.sum()
    assert torch.allclose(loss, t.nll.sum() / n + 0.7 * t.penalty.sum() / n)
    ce = torch.nn.functional.cross_entropy(t.logits.transpose(1, 2), y[:, 1:], ignore_index=0)
    assert torch.allclose(t.nll.sum() / n, ce)


def test_reinforce_is_unbiased_on_a_toy_problem():
    # E_s[f(s)] with s ~ softmax(theta): the exact gradient sum_s f(s) grad p(s)
    torch.manual_seed(0)
    theta = torch.tensor([0.3, -0.5, 1.0, 0.0], requires_grad=True)
    f = torch.tensor([2.0, -1.0, 0.5, 3.0])
    (exact,) = torch.autograd.grad((torch.softmax(theta, 0) * f).sum(), theta)
    for baseline in (0.0, 1.2):
        n = 200_000
        probs = torch.softmax(theta, 0)
        s = torch.multinomial(probs.detach(), n, replacement=True)
        surrogate = reinforce_surrogate(f[s], probs[s].log(), baseline).mean()
        (estimate,) = torch.autograd.grad(surrogate, theta)
        assert torch.allclose(estimate, exact, atol=0.02), (baseline, estimate, exact)


def test_hard_attention_loss_gradient_and_baseline():
    m = model("hard", mix=0.0).train()  # always sampled
    x, y = batch()
    torch.manual_seed(5)
    _, loss = m(x, y)
    torch.manual_seed(5)
    torch.rand(())  # the mixing draw, then the same locations
    t = m.terms(x, y, True)
    # the value logged is the cross-entropy (+ lambda * the doubly stochastic term); the
    # REINFORCE surrogate adds its gradient alone
    n = t.real.sum().item()
    assert loss.item() == pytest.approx((t.nll.sum().item() + t.penalty.sum().item()) / n)
    assert m.baseline.item() == pytest.approx(0.1 * t.nll.sum(1).mean().item())
    loss.backward()
    assert m.attention.v.weight.grad.abs().sum() > 0  # REINFORCE reaches the scores
    variance = m.reinforce_variance(x, y, draws=4)
    assert all(v >= 0 for v in variance.values()) and len(variance) == 2
    m.eval()  # inference: the expected context, deterministic
    with torch.no_grad():
        assert torch.equal(m(x, y)[1], m(x, y)[1])


@pytest.mark.parametrize("attention", ["none", "soft", "hard"])
@pytest.mark.parametrize("beam", [1, 3])
def test_captions_end_with_end_or_the_limit(attention, beam):
    m = model(attention).eval()
    x, _ = batch(B=4)
    found = m.decode(x, max_length=6, beam=beam)
    assert len(found.tokens) == 4
    for tokens, ended in zip(found.tokens, found.ended.tolist(), strict=True):
        assert ended or len(tokens) == 6
        assert 3 not in tokens and 2 not in tokens


def test_first_state_of_each_init_state():
    x, _ = batch()
    zero = model("soft", init_state="zero").eval()
    state = zero.encode(x)
    assert (state.h == 0).all() and (state.c == 0).all()
    feats = torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(2))
    shuffled = feats[:, torch.randperm(16, generator=torch.Generator().manual_seed(3))]
    mean, grid = model("none", init_state="mean"), model("none", init_state="grid")
    assert torch.allclose(mean.summary(feats), mean.summary(shuffled))  # blind to where
    assert grid.summary(feats).shape == (3, 16 * 16)  # D features of each of 4x4 cells
    assert not torch.allclose(grid.summary(feats), grid.summary(shuffled))
    assert grid.encode(x).h.abs().sum() > 0 and model("none").encode(x).h.abs().sum() > 0
    with pytest.raises(ConfigError, match="init-state zero needs --attention soft or hard"):
        Config(dataset="scenes", attention="none", init_state="zero")


def test_a_checkpoint_of_an_older_rnnkit_keeps_its_architecture():
    values = config_to_dict(Config(dataset="scenes"))
    for name in ("init_state", "sharpness", "encoder", "image_input", "pretrain_steps"):
        values.pop(name)  # not saved by older ones
    old = saved_config(Config, values)
    assert old.pretrain_steps == 0 and Config(dataset="scenes").pretrain_steps == 1000
    assert (old.init_state, old.first_state, old.sharpness) == ("mean", "mean", 0.0)
    assert old.image_input == "first" and CaptionModel(old, V, 1).cell.input_size == 64 + 64
    assert old.encoder == "pool" and CaptionModel(old, V, 1).encoder.context is None
    assert CaptionModel(old, V, 1).init_h.in_features == 64  # the mean annotation, as then


def test_dilated_encoder_scores_local_features_and_reads_wide_ones():
    """encoder dilated: a 16x16 grid of a 64x64 image; the attention's scores come from
    features that see 25 pixels, the context from ones that see 73 (a change at one corner
    reaches cells 2 away in the first, 8 in the second)."""
    m = model("soft", encoder="dilated").eval()
    x = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(4))
    y = x.clone()
    y[0, 0, 0, 0] += 1.0
    with torch.no_grad():
        (fx, lx), (fy, ly) = m.encoder(x), m.encoder(y)
        state = m.encode(x)
    assert fx.shape == lx.shape == (1, 256, 16)
    assert torch.allclose(state.keys, m.attention.project(lx))
    changed = lambda a, b: (a - b).abs().amax(2)[0].reshape(16, 16) > 1e-6  # noqa: E731
    rows, cols = changed(lx, ly).nonzero(as_tuple=True)
    assert max(rows.max(), cols.max()) == 2
    rows, cols = changed(fx, fy).nonzero(as_tuple=True)
    assert max(rows.max(), cols.max()) == 8
    assert model("soft").encode(x).feats.shape == (1, 64, 16)  # pool: an 8x8 grid


@pytest.mark.parametrize("attention", ["none", "soft", "hard"])
def test_image_input_every_feeds_the_summary_at_every_step(attention):
    """image_input every: the image summary (the 4x4 grid of D features, flattened) is part
    of z_t at every step, after the attention's context; with the first state made blind to
    the image, the first word's scores still depend on it (with "first", never)."""
    auto = {"none": "every", "soft": "first", "hard": "first"}[attention]
    assert Config(dataset="scenes", attention=attention).image_input == auto  # saved resolved
    x, y = batch()
    every, first = model(attention, image_input="every"), model(attention, image_input="first")
    D, P = 16, 16 * 16
    assert every.cell.input_size == 8 + P + (D if attention != "none" else 0)
    assert every.out_z.in_features == every.cell.input_size - 8
    assert every.encode(x).image.shape == (3, P) and first.encode(x).image.shape == (3, 0)
    for m in (every, first):
        if m.init_h is not None:
            with torch.no_grad():  # h_0, c_0 = tanh(bias): the same for every image
                m.init_h.weight.zero_(), m.init_c.weight.zero_()
        if m.attention is not None:  # and the attention's context blind to it too
            m.attend = lambda s: (s.h.new_zeros(len(s.h), D),) * 2 + (s.h.new_ones(len(s.h), 1),)
    other = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(9))
    tokens = y[:, 0]
    logits = lambda m, images: m.eval()._log_probs(tokens, m.encode(images))[0]  # noqa: E731
    assert not torch.allclose(logits(every, x), logits(every, other))
    assert torch.allclose(logits(first, x), logits(first, other))
    for beam in (1, 3):  # the summary travels with the beams
        found = every.decode(x, max_length=6, beam=beam)
        assert len(found.tokens) == 3
    fresh = model(attention, image_input="every").train()
    fresh(x, y)[1].backward()
    assert fresh.out_z.weight.grad[:, -P:].abs().sum() > 0  # the summary's part learns


def test_forget_bias_sets_the_forget_gates_at_the_start():
    H = 24  # the gates of torch's LSTM, in order i, f, g, o
    cell = model("none", image_input="first", forget_bias=2.0).cell
    assert torch.equal(cell.bias_ih[H : 2 * H], torch.full((H,), 2.0))
    assert torch.equal(cell.bias_hh[H : 2 * H], torch.zeros(H))
    assert model("none").cell.bias_ih[H : 2 * H].abs().max() < 1  # unset: torch's uniform init
