"""rnnkit caption's attention, step by step: the map scored for a word is the one of the step
that writes it (checked against teacher forcing and on hand-made maps), and localisation
is the attention mass inside the named item's boxes."""

import itertools

import numpy as np
import pytest
import torch

from rnnkit.tasks.caption.api import localization
from rnnkit.tasks.caption.config import Config
from rnnkit.tasks.caption.data import Vocabulary
from rnnkit.tasks.caption.model import CaptionModel

NAMES = ("sandal", "bag", "shirt")
VOCAB = Vocabulary(["a", "sandal", "to", "the", "left", "of", "bag", "two", "bags", "shirt"])


def test_attention_maps_are_those_of_the_steps_that_write_each_word():
    torch.manual_seed(0)
    cfg = Config(dataset="scenes", channels=16, hidden_size=24, embedding_size=8,
                 attention_size=8, dropout=0.0)  # fmt: skip
    m = CaptionModel(cfg, len(VOCAB), 1).eval()
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    outputs = [VOCAB.encode("a sandal to the left of a bag"), VOCAB.encode("two bags")]
    maps = m.attention_maps(x, outputs)  # (B, T, L): step t writes outputs[t], then END
    # teacher forcing on START, words, END: the alpha that predicts target t + 1
    targets = torch.zeros(2, 10, dtype=torch.long)
    for row, o in enumerate(outputs):
        targets[row, : len(o) + 2] = torch.tensor([2, *o, 3])
    state, alphas = m.encode(x), []
    for t in range(9):
        z, alpha, beta = m.attend(state)
        alphas.append(alpha)
        _, state = m.advance(targets[:, t], beta * z, state)
    alphas = torch.stack(alphas, 1)  # (B, T, L)
    assert torch.allclose(maps[0], alphas[0])
    assert torch.allclose(maps[1, :3], alphas[1, :3]) and (maps[1, 3:] == 0).all()


def _grid_on(box, g=8, size=64):
    """A (g, g) map with all its mass on the cells inside ``box`` (x0, y0, x1, y1)."""
    cell = size // g
    grid = np.zeros((g, g))
    grid[box[1] // cell : box[3] // cell, box[0] // cell : box[2] // cell] = 1
    return grid / grid.sum()


def test_localization_scores_the_step_that_names_the_item():
    ids = VOCAB.encode("a sandal to the left of a bag")  # the nouns at steps 1 and 7
    sandal, bag = ("sandal", 0, 16, 24, 48), ("bag", 40, 8, 64, 56)
    uniform = np.full((8, 8), 1 / 64)
    right = np.stack([uniform] * 8 + [uniform])  # (T + 1, g, g): the words, then END
    right[1], right[7] = _grid_on(sandal[1:]), _grid_on(bag[1:])
    found = localization([right], [ids], VOCAB, [[sandal, bag]], NAMES, 64)
    chance = np.mean([24 * 32 / 64**2, 24 * 48 / 64**2])
    assert found == pytest.approx((1.0, chance))
    late = np.roll(right, 1, axis=0)  # each map one step late: on the words after the nouns
    found = localization([late], [ids], VOCAB, [[sandal, bag]], NAMES, 64)
    assert found[0] == pytest.approx(np.mean([24 * 32 / 64**2, 24 * 48 / 64**2]))
    # two items of a kind: both boxes count; a scene without the named item is skipped
    two = [("bag", 0, 0, 16, 16), ("bag", 48, 48, 64, 64), ("shirt", 20, 20, 40, 40)]
    grid = np.stack([uniform, (_grid_on(two[0][1:]) + _grid_on(two[1][1:])) / 2, uniform])
    found = localization([grid, grid], [VOCAB.encode("two bags")] * 2, VOCAB,
                         [two, [two[2]]], NAMES, 64)  # fmt: skip
    assert found == pytest.approx((1.0, 2 * 256 / 64**2))


class _Given(torch.nn.Module):
    """An encoder that hands the annotation vectors over as they are, as the annotations and as
    the local features the attention scores: (B, 1, L, D) -> ((B, L, D), (B, L, D))."""

    def forward(self, x):
        return x[:, 0], x[:, 0]


def _marked(n, g, L=4, classes=4):
    """Toy annotations (n, 1, L, classes + 1): an item of a random class at each location, one
    location marked (the last feature); the caption is the marked item's class, which only
    the marked location tells for sure."""
    feats = torch.zeros(n, L, classes + 1)
    kinds = torch.randint(0, classes, (n, L), generator=g)  # (n, L)
    feats.scatter_(2, kinds[..., None], 1.0)
    where = torch.randint(0, L, (n,), generator=g)
    feats[torch.arange(n), where, classes] = 1.0
    words = kinds[torch.arange(n), where] + 4  # ids after PAD, UNK, START, END
    targets = torch.stack([torch.full((n,), 2), words, torch.full((n,), 3)], 1)  # (n, 3)
    return feats[:, None], targets, where


@pytest.mark.parametrize("cost", ["caption", "to-go"])
def test_hard_loss_gradient_is_that_of_the_expected_cost(cost):
    # the exact gradient of E_s[sum_t -log p(y_t | s, a)], summing p(s) cost(s) over all 4^3
    # location choices of three steps (a direct reimplementation of the steps), against the
    # mean gradient of the hard model's loss (always sampled) over 100000 copies of the image
    torch.manual_seed(0)
    cfg = Config(dataset="scenes", attention="hard", mix=0.0, channels=5, hidden_size=6,
                 embedding_size=4, attention_size=4, dropout=0.0, doubly_stochastic=0.0,
                 entropy_weight=0.0, reinforce_cost=cost)  # fmt: skip
    m = CaptionModel(cfg, 8, 1).double()
    m.encoder = _Given()
    x = _marked(1, torch.Generator().manual_seed(1))[0].double()  # (1, 1, 4, 5)
    y = torch.tensor([[2, 5, 6, 3]])  # START, two words, END: three steps
    first, expected = m.encode(x), 0.0
    for s in itertools.product(range(4), repeat=3):
        state, log_p, nll = first, 0.0, 0.0
        for t in range(3):
            _, alpha, _ = m.attend(state)
            log_p = log_p + alpha[0, s[t]].log()
            logits, state = m.advance(y[:, t], state.feats[:, s[t]], state)
            nll = nll + torch.nn.functional.cross_entropy(logits, y[:, t + 1])
        expected = expected + log_p.exp() * nll
    everything, attention = list(m.parameters()), list(m.attention.parameters())
    exact = torch.autograd.grad(expected, everything)
    n = 100_000
    # any b is unbiased; the expected cost keeps the variance low (to-go: b per word)
    m.baseline.fill_(expected.item() / (3 if cost == "to-go" else 1))
    _, loss = m.train()(x.expand(n, -1, -1, -1), y.expand(n, -1))
    found = torch.autograd.grad(loss * 3, everything)  # the loss is per target: 3 n of them
    for params in (everything, attention):  # the attention's: REINFORCE's part alone
        pick = [i for i, p in enumerate(everything) if any(p is q for q in params)]
        e = torch.cat([exact[i].flatten() for i in pick])
        a = torch.cat([found[i].flatten() for i in pick])
        assert (a - e).norm() < 0.08 * e.norm(), ((a - e).norm() / e.norm(), len(params))


def _train_on_marked(mix, steps=100, **kw):
    """Hard attention trained on ``_marked`` toys: (the mean attention on the marked location
    after ``steps`` steps, at the step that writes the word (the expected context); beta)."""
    torch.manual_seed(0)
    # the doubly stochastic term off: with one word and four locations it asks for uniform
    # attention (sum_t alpha_ti = 1 cannot hold), REINFORCE is what is tested here
    # the first state from the mean annotation (blind to where the mark is): the word can then
    # be read through the attention alone (hard's default, grid, would show the first state
    # where the mark is, and nothing would be left for REINFORCE to learn)
    cfg = Config(dataset="scenes", attention="hard", mix=mix, channels=5, hidden_size=16,
                 embedding_size=8, attention_size=16, dropout=0.0, doubly_stochastic=0.0,
                 init_state="mean", **kw)  # fmt: skip
    m = CaptionModel(cfg, 8, 1)
    m.encoder = _Given()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y, _ = _marked(32, g)
        _, loss = m.train()(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y, where = _marked(500, g)
    with torch.no_grad():
        _, alpha, beta = m.eval().attend(m.encode(x))
    return alpha[torch.arange(500), where].mean().item(), beta


@pytest.mark.parametrize(("mix", "cost"), [(0.0, "caption"), (0.5, "caption"), (0.0, "to-go")])
def test_hard_attention_learns_where_to_look_on_a_toy(mix, cost):
    # mix 0: every batch sampled, so the attention learns from REINFORCE alone; chance is 1/4
    mass, beta = _train_on_marked(mix, reinforce_cost=cost)
    assert mass > 0.9
    assert (beta == 1).all()  # hard attention has no gate: its context is a_s itself


def test_the_toy_catches_a_reinforce_of_the_wrong_sign(monkeypatch):
    import rnnkit.tasks.caption.model as model_module

    right = model_module.reinforce_surrogate
    monkeypatch.setattr(model_module, "reinforce_surrogate", lambda c, lp, b: -right(c, lp, b))
    assert _train_on_marked(0.0)[0] < 0.4


def test_the_toy_catches_a_gate_on_hard_attention(monkeypatch):
    # with the soft attention's gate beta, the decoder shuts out the sampled locations while
    # they are still noise, and REINFORCE then finds no location better than another
    build = CaptionModel.__init__

    def gated(self, *args, **kw):
        build(self, *args, **kw)
        self.gate = torch.nn.Linear(16, 1)

    monkeypatch.setattr(CaptionModel, "__init__", gated)
    assert _train_on_marked(0.0)[0] < 0.6
