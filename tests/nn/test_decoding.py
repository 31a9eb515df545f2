"""rnnkit.nn.decoding: beam search against exhaustive search on a tiny vocabulary, K=1 equal to
greedy, results that do not depend on the batch size, sampling and its temperature."""

import itertools
import math

import pytest
import torch

from rnnkit.nn.decoding import beam_search, greedy, length_penalty, sample, select_batch

V, START, END = 4, 3, 0  # tokens 0..3: 0 ends, 3 starts (also a token the model may emit)


def _log_probs(row_seed: int, prefix: tuple[int, ...]) -> torch.Tensor:
    """A fixed, arbitrary next-token distribution for each (sequence, prefix)."""
    g = torch.Generator().manual_seed(hash((row_seed, prefix)) % 2**31)
    return torch.log_softmax(2.0 * torch.randn(V, generator=g, dtype=torch.float64), 0)


def step(tokens, state):
    """State: (row seeds (B,), prefixes (B, t)) with the batch on dim 0."""
    seeds, prefixes = state
    prefixes = torch.cat([prefixes, tokens[:, None]], 1)  # (B, t + 1)
    rows = [_log_probs(int(s), tuple(p.tolist()[1:])) for s, p in zip(seeds, prefixes, strict=True)]
    return torch.stack(rows).float(), (seeds, prefixes)


def start_state(seeds):
    seeds = torch.tensor(seeds)
    return seeds, torch.empty(len(seeds), 0, dtype=torch.long)


def exhaustive(row_seed, max_length, alpha):
    """(best normalized score, tokens) over every sequence: ended by END, or max_length long."""
    best = (-math.inf, None)
    for n in range(max_length + 1):
        for body in itertools.product([t for t in range(V) if t != END], repeat=n):
            ends = n < max_length
            seq = body + ((END,) if ends else ())
            score = sum(float(_log_probs(row_seed, seq[:i])[seq[i]]) for i in range(len(seq)))
            norm = score / length_penalty(len(seq), alpha)
            if norm > best[0]:
                best = (norm, list(body))
    return best


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_wide_beam_is_exhaustive_search(alpha):
    seeds, max_length = list(range(6)), 4
    kw = dict(start=START, end=END, max_length=max_length, length_penalty_alpha=alpha)
    found = beam_search(step, start_state(seeds), len(seeds), beam=3**max_length, **kw)
    for i, s in enumerate(seeds):
        score, tokens = exhaustive(s, max_length, alpha)
        assert found.tokens[i] == tokens
        assert found.scores[i].item() == pytest.approx(score, abs=1e-5)


def test_beam_one_is_greedy():
    seeds = list(range(20))
    kw = dict(start=START, end=END, max_length=6)
    g = greedy(step, start_state(seeds), len(seeds), **kw)
    b = beam_search(step, start_state(seeds), len(seeds), beam=1, **kw)
    assert g.tokens == b.tokens
    torch.testing.assert_close(g.scores, b.scores)
    assert g.ended.tolist() == b.ended.tolist()
    assert not all(g.ended.tolist()) and any(g.ended.tolist())  # both kinds of endings seen


@pytest.mark.parametrize("beam", [2, 5])
def test_batch_size_changes_nothing(beam):
    seeds = list(range(7))
    kw = dict(start=START, end=END, max_length=6, beam=beam, length_penalty_alpha=0.6)
    together = beam_search(step, start_state(seeds), len(seeds), **kw)
    for i, s in enumerate(seeds):
        alone = beam_search(step, start_state([s]), 1, **kw)
        assert alone.tokens[0] == together.tokens[i]
        assert alone.scores[0].item() == together.scores[i].item()


def test_wider_beam_finds_at_least_as_good():
    seeds = list(range(12))
    kw = dict(start=START, end=END, max_length=5)
    g = greedy(step, start_state(seeds), len(seeds), **kw)
    b = beam_search(step, start_state(seeds), len(seeds), beam=3**5, **kw)
    assert (b.scores >= g.scores - 1e-6).all() and (b.scores > g.scores + 1e-6).any()


def test_reorder_of_a_state_with_the_batch_on_dim_1():
    """A state laid out as torch.nn.RNN's (layers, B, H): a reorder function of the caller's."""

    def step_t(tokens, state):
        seeds, prefixes = state
        lp, (seeds, prefixes) = step(tokens, (seeds[0], prefixes.transpose(0, 1)))
        return lp, (seeds[None], prefixes.transpose(0, 1))

    def reorder(state, index):
        return tuple(s.index_select(1, index) for s in state)

    seeds, prefixes = start_state(list(range(5)))
    kw = dict(start=START, end=END, max_length=5, beam=4)
    want = beam_search(step, (seeds, prefixes), 5, **kw)
    got = beam_search(step_t, (seeds[None], prefixes.T), 5, reorder=reorder, **kw)
    assert got.tokens == want.tokens


def test_sampling():
    seeds = [0] * 4000
    kw = dict(start=START, end=END, max_length=1)
    cold = sample(step, start_state(seeds[:5]), 5, temperature=0.0, **kw)
    assert cold.tokens == greedy(step, start_state(seeds[:5]), 5, **kw).tokens
    probs = torch.softmax(_log_probs(0, ()) / 0.5, 0)
    g = torch.Generator().manual_seed(0)
    drawn = sample(step, start_state(seeds), len(seeds), temperature=0.5, generator=g, **kw)
    first = torch.tensor([t[0] if t else END for t in drawn.tokens])
    freq = torch.bincount(first, minlength=V).double() / len(seeds)
    torch.testing.assert_close(freq, probs, atol=0.03, rtol=0)  # 4000 draws: sd < 0.008
    g = torch.Generator().manual_seed(0)
    again = sample(step, start_state(seeds), len(seeds), temperature=0.5, generator=g, **kw)
    assert again.tokens == drawn.tokens


def test_bad_arguments():
    kw = dict(start=START, end=END)
    with pytest.raises(ValueError, match="max_length >= 1"):
        greedy(step, start_state([0]), 1, max_length=0, **kw)
    with pytest.raises(ValueError, match="beam >= 1"):
        beam_search(step, start_state([0]), 1, max_length=3, beam=0, **kw)
    with pytest.raises(ValueError, match="temperature >= 0"):
        sample(step, start_state([0]), 1, max_length=3, temperature=-1.0, **kw)
    with pytest.raises(TypeError, match="select_batch"):
        select_batch(object(), torch.tensor([0]))
