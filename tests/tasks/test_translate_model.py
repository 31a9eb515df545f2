"""rnnkit.tasks.translate.model: padding changes nothing (teacher-forced and decoded), beam 1
is greedy, the attention is a distribution over the real source steps, and the model learns
to reverse sequences (which needs the attention, or at least the encoder)."""

import pytest
import torch

from rnnkit.data.tokens import END, PAD, START
from rnnkit.tasks.translate.config import Config
from rnnkit.tasks.translate.model import Seq2Seq, reorder

V = 9  # 4 specials + tokens 4..8
STEPS = 200
KINDS = ["none", "bahdanau", "dot", "general", "concat"]


def model_of(seed=0, **config):
    torch.manual_seed(seed)
    cfg = Config(**{"hidden_size": 12, "embedding_size": 6, "dropout": 0.0, **config})
    return Seq2Seq(cfg, V, V).eval()


def sources(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.full((len(lengths), max(lengths)), PAD)
    for i, n in enumerate(lengths):
        x[i, :n] = torch.randint(4, V, (n,), generator=g)
    return x


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("kind", KINDS)
def test_padding_changes_nothing(kind, cell):
    model = model_of(attention=kind, cell=cell, num_layers=2)
    x = sources([5, 2, 4])
    y = torch.tensor([[START, 4, 5, 6, END], [START, 7, END, PAD, PAD], [START, 8, 8, END, PAD]])
    logits, _ = model(x, y)
    for i, (n, t) in enumerate([(5, 4), (2, 2), (4, 3)]):
        alone, _ = model(x[i : i + 1, :n], y[i : i + 1, : t + 1])
        torch.testing.assert_close(logits[i, :t], alone[0], atol=1e-5, rtol=1e-5)
    for beam in (1, 3):
        together = model.decode(x, max_length=7, beam=beam, length_penalty=0.6)
        for i, n in enumerate([5, 2, 4]):
            alone = model.decode(x[i : i + 1, :n], max_length=7, beam=beam, length_penalty=0.6)
            assert alone.tokens[0] == together.tokens[i]
            assert alone.scores[0].item() == pytest.approx(together.scores[i].item(), abs=1e-5)


@pytest.mark.parametrize("kind", ["none", "bahdanau", "general"])
def test_beam_one_is_greedy(kind):
    model = model_of(seed=3, attention=kind)
    x = sources([6, 3, 5, 1, 4], seed=1)
    greedy = model.decode(x, max_length=8)
    beam = model.decode(x, max_length=8, beam=1)
    assert greedy.tokens == beam.tokens
    torch.testing.assert_close(greedy.scores, beam.scores)


@pytest.mark.parametrize("kind", ["bahdanau", "dot", "general", "concat"])
def test_attention_is_a_distribution_over_the_source(kind):
    model = model_of(attention=kind)
    x = sources([5, 2])
    state = model.encode(x)
    for token in (START, 5, 6):
        _, weights, state = model.step(torch.tensor([token, token]), state)
        torch.testing.assert_close(weights.sum(1), torch.ones(2))
        assert (weights[1, 2:] == 0).all() and (weights[:, :2] > 0).all()
    found = model.decode(x[1:, :2], max_length=5)
    maps = model.attention_weights(x[1:, :2], found.tokens[0])
    assert maps.shape == (len(found.tokens[0]) + 1, 2)
    assert model_of(attention="none").attention_weights(x[:1], [4]) is None


def test_reorder_selects_rows_of_every_part():
    model = model_of(cell="lstm")
    state = model.encode(sources([3, 2, 1]))
    index = torch.tensor([2, 2, 0])
    moved = reorder(state, index)
    torch.testing.assert_close(moved.hidden[0], state.hidden[0][:, index])
    torch.testing.assert_close(moved.memory, state.memory[index])
    assert moved.mask.tolist() == state.mask[index].tolist()


def test_options_change_what_they_say():
    tied = model_of(tie_embeddings=True, embedding_size=12)
    assert tied.output.weight is tied.target_embedding.weight
    model = model_of(teacher_forcing=0.5).train()
    x, y = sources([3, 3]), torch.tensor([[START, 4, 5, END], [START, 6, 7, END]])
    torch.manual_seed(0)
    a, _ = model(x, y)
    torch.manual_seed(1)
    b, _ = model(x, y)
    assert not torch.equal(a, b)  # fed its own tokens at random
    with pytest.raises(ValueError, match="needs the targets"):
        model(x)
    with pytest.raises(ValueError, match="a source of no tokens"):
        model.encode(torch.tensor([[4, 5], [PAD, PAD]]))


@pytest.mark.parametrize("kind", ["bahdanau", "general"])
def test_learns_to_reverse(kind):
    """Reverse 3..5 tokens: STEPS steps of teacher forcing give exact reversals with beam 3."""
    torch.manual_seed(0)
    model = model_of(attention=kind, hidden_size=32, embedding_size=16, label_smoothing=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    g = torch.Generator().manual_seed(0)

    def batch(n):
        lengths = torch.randint(3, 6, (n,), generator=g).tolist()
        x = sources(lengths, seed=int(torch.randint(0, 10**6, (1,), generator=g)))
        y = torch.full((n, 7), PAD)
        for i, m in enumerate(lengths):
            y[i, 0], y[i, 1 : m + 1], y[i, m + 1] = START, x[i, :m].flip(0), END
        return x, y, lengths

    model.train()
    for _ in range(STEPS):
        x, y, _ = batch(32)
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, _, lengths = batch(50)
    found = model.decode(x, max_length=8, beam=3)
    right = [found.tokens[i] == x[i, :n].flip(0).tolist() for i, n in enumerate(lengths)]
    assert sum(right) >= 48, sum(right)
