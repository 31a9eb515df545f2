"""rnnkit.nn.Attention: each score against its formula written out step by step, masks,
gradients in float64, and a padded batch equal to each sequence alone."""

import pytest
import torch

from rnnkit.nn import Attention, lengths_mask

B, T, Q, K = 3, 5, 4, 6
SCORES = ["bahdanau", "dot", "general", "concat"]


def _inputs(score, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    key_size = Q if score == "dot" else K
    query = torch.randn(B, Q, generator=g, dtype=dtype)
    keys = torch.randn(B, T, key_size, generator=g, dtype=dtype)
    lengths = torch.tensor([5, 3, 1])
    return query, keys, lengths_mask(lengths, T), lengths


def _naive(att, query, keys, lengths):
    """The published formulas, one query and one key at a time, softmax over valid steps."""
    context, weights = [], []
    for b in range(query.size(0)):
        q, n = query[b], int(lengths[b])
        scores = []
        for t in range(n):
            k = keys[b, t]
            if att.score == "dot":
                s = q @ k
            elif att.score == "general":
                s = q @ (att.key_proj.weight @ k)
            elif att.score == "bahdanau":
                s = att.v.weight[0] @ torch.tanh(
                    att.query_proj.weight @ q + att.key_proj.weight @ k + att.key_proj.bias
                )
            else:  # concat: W [q; k] + b with W = [W_q | W_k]
                w = torch.cat([att.query_proj.weight, att.key_proj.weight], dim=1)
                s = att.v.weight[0] @ torch.tanh(w @ torch.cat([q, k]) + att.key_proj.bias)
            scores.append(s)
        a = torch.softmax(torch.stack(scores), 0)
        weights.append(torch.cat([a, a.new_zeros(keys.size(1) - n)]))
        context.append((a[:, None] * keys[b, :n]).sum(0))
    return torch.stack(context), torch.stack(weights)


@pytest.mark.parametrize("score", SCORES)
def test_matches_formula_and_masks(score):
    torch.manual_seed(0)
    query, keys, mask, lengths = _inputs(score)
    att = Attention(Q, keys.size(2), score)
    context, weights = att(query, keys, mask)
    want_context, want_weights = _naive(att, query, keys, lengths)
    torch.testing.assert_close(weights, want_weights)
    torch.testing.assert_close(context, want_context)
    torch.testing.assert_close(weights.sum(1), torch.ones(B))
    assert (weights[~mask] == 0).all()
    # the projected keys, computed once, give the same
    again, _ = att(query, keys, mask, projected=att.project(keys))
    torch.testing.assert_close(again, context)


@pytest.mark.parametrize("score", SCORES)
def test_padding_changes_nothing(score):
    torch.manual_seed(1)
    query, keys, mask, lengths = _inputs(score)
    att = Attention(Q, keys.size(2), score)
    noisy = keys.clone()
    noisy[~mask] = 1e3  # whatever sits in the padding
    context, weights = att(query, noisy, mask)
    for b in range(B):
        n = int(lengths[b])
        alone, w = att(query[b : b + 1], keys[b : b + 1, :n], mask[b : b + 1, :n])
        torch.testing.assert_close(context[b : b + 1], alone)
        torch.testing.assert_close(weights[b : b + 1, :n], w)


@pytest.mark.parametrize("score", SCORES)
def test_gradcheck_float64(score):
    torch.manual_seed(2)
    query, keys, mask, _ = _inputs(score, torch.float64)
    att = Attention(Q, keys.size(2), score).double()
    query.requires_grad_(True)
    keys.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda q, k: att(q, k, mask), (query, keys))


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected score one of"):
        Attention(Q, K, "luong")
    with pytest.raises(ValueError, match="query_size == key_size"):
        Attention(Q, K, "dot")
    att = Attention(Q, K)
    with pytest.raises(ValueError, match=r"expected query \(B, Q\)"):
        att(torch.zeros(B, Q), torch.zeros(B, T, K), torch.ones(B, T + 1, dtype=torch.bool))
