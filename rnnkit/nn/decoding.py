"""Decoding a sequence token by token from any step function: greedy, sampling, beam search.

A decoder is given as ``step(tokens, state) -> (log_probs, state)``: the tokens of the last
step (B,) and the decoder's state in, the log-probabilities of the next token (B, V) and the
new state out. The state may be anything (a tensor, nested tuples/lists/dicts of tensors,
None); beam search reorders it with ``reorder(state, index)`` (default ``select_batch``: each
tensor's rows ``index`` along dim 0; pass another for states with the batch elsewhere, such as
torch.nn.RNN's (layers, B, H)). Translation and captioning both decode through here.

Every search starts from the token ``start`` and stops a sequence at ``end`` (not included in
the output) or after ``max_length`` tokens. Rows never mix: a sequence decodes the same alone
or in a batch of any size.

Beam search (``beam_search``) keeps the ``beam`` best prefixes of each sequence by total
log-probability; a hypothesis that ends (``end`` among the ``beam`` best candidates of a step)
is scored by its log-probability divided by the length penalty of Wu et al. 2016 (GNMT),
((5 + length) / 6) ** length_penalty, length counting ``end``. A sequence is done when it has
``beam`` ended hypotheses and no live prefix can beat the worst of them any more (log-probs only
fall, so a prefix's bound is its score under the most favourable length still reachable): with
a beam as wide as all prefixes this is exhaustive search, with ``beam=1`` and no length penalty
it is greedy search.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]


class Decoded(NamedTuple):
    """The result of a search: each sequence's tokens (without start and end), its score
    (B,) (total log-probability; beam search: divided by the length penalty) and whether it
    ended with the end token (B,) (else it reached ``max_length``)."""

    tokens: list[list[int]]
    scores: Tensor
    ended: Tensor


def select_batch(state: Any, index: Tensor) -> Any:
    """``state`` with each tensor's rows ``index`` along dim 0 (nested tuples, lists, dicts)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.index_select(0, index.to(state.device))
    if isinstance(state, dict):
        return {k: select_batch(v, index) for k, v in state.items()}
    if isinstance(state, tuple | list):
        return type(state)(select_batch(s, index) for s in state)
    raise TypeError(f"select_batch: expected tensors in tuples, lists or dicts, got {type(state)}")


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's length penalty ((5 + length) / 6) ** alpha (1 for alpha 0)."""
    return ((5.0 + length) / 6.0) ** alpha


def _check(batch_size: int, max_length: int) -> None:
    if batch_size < 1 or max_length < 1:
        raise ValueError(
            f"decoding: expected batch_size >= 1 and max_length >= 1, got {batch_size} and "
            f"{max_length}"
        )


def _run(step: StepFn, state: Any, batch_size: int, start: int, end: int, max_length: int,
         choose: Callable[[Tensor], Tensor], device: Any) -> Decoded:  # fmt: skip
    """Greedy or sampling: ``choose(log_probs (B, V)) -> tokens (B,)`` at each step."""
    _check(batch_size, max_length)
    tokens = torch.full((batch_size,), start, dtype=torch.long, device=device)
    scores = torch.zeros(batch_size, dtype=torch.float64, device=device)
    ended = torch.zeros(batch_size, dtype=torch.bool, device=device)
    out: list[Tensor] = []
    for _ in range(max_length):
        log_probs, state = step(tokens, state)  # (B, V)
        chosen = choose(log_probs)  # (B,)
        chosen = torch.where(ended, torch.full_like(chosen, end), chosen)  # done rows: end
        scores += torch.where(ended, 0.0, log_probs.gather(1, chosen[:, None])[:, 0].double())
        out.append(chosen)
        ended |= chosen == end
        tokens = chosen
        if bool(ended.all()):
            break
    rows = torch.stack(out, 1).tolist()  # (B, steps)
    seqs = [r[: r.index(end)] if end in r else r for r in rows]
    return Decoded(seqs, scores.float(), ended)


@torch.no_grad()
def greedy(
    step: StepFn, state: Any, batch_size: int, *, start: int, end: int, max_length: int,
    device: Any = None,
) -> Decoded:  # fmt: skip
    """The most probable token at each step."""
    return _run(step, state, batch_size, start, end, max_length, lambda lp: lp.argmax(1), device)


@torch.no_grad()
def sample(
    step: StepFn, state: Any, batch_size: int, *, start: int, end: int, max_length: int,
    temperature: float = 1.0, generator: torch.Generator | None = None, device: Any = None,
) -> Decoded:  # fmt: skip
    """A token drawn at each step from softmax(log_probs / temperature); a temperature at or
    near 0 picks greedily."""
    if not temperature >= 0:
        raise ValueError(f"sample: expected a temperature >= 0, got {temperature}")

    def choose(log_probs: Tensor) -> Tensor:
        if temperature < 1e-4:
            return log_probs.argmax(1)
        probs = torch.softmax(log_probs.float() / temperature, dim=1)  # (B, V)
        return torch.multinomial(probs, 1, generator=generator)[:, 0]

    return _run(step, state, batch_size, start, end, max_length, choose, device)


class _Hypotheses:
    """The ended hypotheses of one sequence: the ``beam`` best by normalized score."""

    def __init__(self, beam: int):
        self.beam, self.items = beam, []  # [(normalized score, tokens, ended)]

    def add(self, score: float, tokens: list[int], ended: bool) -> None:
        self.items.append((score, tokens, ended))
        self.items.sort(key=lambda item: -item[0])
        del self.items[self.beam :]

    def worst(self) -> float:
        return self.items[-1][0] if len(self.items) >= self.beam else -math.inf


@torch.no_grad()
def beam_search(
    step: StepFn, state: Any, batch_size: int, *, start: int, end: int, max_length: int,
    beam: int = 5, length_penalty_alpha: float = 0.0,
    reorder: Callable[[Any, Tensor], Any] = select_batch, device: Any = None,
) -> Decoded:  # fmt: skip
    """The best of ``beam`` hypotheses per sequence (see the module docstring); ``state`` is
    the state of ``batch_size`` sequences, repeated here for the beams."""
    _check(batch_size, max_length)
    if beam < 1:
        raise ValueError(f"beam_search: expected beam >= 1, got {beam}")
    B, K, alpha = batch_size, beam, length_penalty_alpha
    state = reorder(state, torch.arange(B, device=device).repeat_interleave(K))  # B*K rows
    scores = torch.full((B, K), -math.inf, dtype=torch.float64, device=device)
    scores[:, 0] = 0.0  # one live prefix (start) per sequence at first
    prefixes: list[list[list[int]]] = [[[] for _ in range(K)] for _ in range(B)]
    tokens = torch.full((B * K,), start, dtype=torch.long, device=device)
    found = [_Hypotheses(K) for _ in range(B)]
    done = [False] * B
    for t in range(1, max_length + 1):
        log_probs, state = step(tokens, state)  # (B*K, V)
        V = log_probs.size(1)
        total = scores[:, :, None] + log_probs.double().view(B, K, V)  # (B, K, V)
        top, where = total.view(B, K * V).topk(min(2 * K, K * V), dim=1)  # (B, 2K)
        top_l, where_l = top.tolist(), where.tolist()
        next_scores = torch.full((B, K), -math.inf, dtype=torch.float64)
        next_tokens = torch.full((B, K), end, dtype=torch.long)
        parents = torch.zeros((B, K), dtype=torch.long)
        next_prefixes: list[list[list[int]]] = [[[] for _ in range(K)] for _ in range(B)]
        for b in range(B):
            if done[b]:
                continue
            k = 0
            for rank, (score, flat) in enumerate(zip(top_l[b], where_l[b], strict=True)):
                if score == -math.inf or k == K:
                    break
                parent, token = divmod(flat, V)
                if token == end:  # ends here: kept if among the beam best candidates
                    if rank < K:
                        found[b].add(score / length_penalty(t, alpha), prefixes[b][parent], True)
                    continue
                next_scores[b, k], next_tokens[b, k], parents[b, k] = score, token, parent
                next_prefixes[b][k] = prefixes[b][parent] + [token]
                k += 1
            live = next_scores[b].max().item()
            if t == max_length:  # out of length: the live prefixes end here
                for j in range(K):
                    if next_scores[b, j] > -math.inf:
                        norm = next_scores[b, j].item() / length_penalty(t, alpha)
                        found[b].add(norm, next_prefixes[b][j], False)
            elif live == -math.inf or _bound(live, t, max_length, alpha) <= found[b].worst():
                done[b] = True
        if all(done) or t == max_length:
            break
        scores, prefixes = next_scores.to(scores.device), next_prefixes
        for b in range(B):  # a done sequence's beams are dead
            if done[b]:
                scores[b] = -math.inf
        index = (torch.arange(B)[:, None] * K + parents).view(-1)  # (B*K,) rows of the parents
        state = reorder(state, index.to(tokens.device))
        tokens = next_tokens.view(-1).to(tokens.device)
    best = [max(f.items, key=lambda item: item[0]) for f in found]
    return Decoded(
        [b[1] for b in best],
        torch.tensor([b[0] for b in best], dtype=torch.float32),
        torch.tensor([b[2] for b in best]),
    )


def _bound(score: float, length: int, max_length: int, alpha: float) -> float:
    """The best normalized score a live prefix of ``score`` at ``length`` can still end with:
    its log-probability can only fall, its length grow up to ``max_length``."""
    if score >= 0:  # log-probs of 0: no fall
        return score / length_penalty(length + 1, alpha)
    best_length = max_length if alpha > 0 else length + 1  # where the penalty divides most
    return score / length_penalty(best_length, alpha)
