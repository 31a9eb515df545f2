"""The NumPy engine against min-char-rnn as written: characters per second and time to a loss.

    python benchmarks/numpy_engine.py --data ../shared/data/tinyshakespeare.txt [--minutes 5]

Three trainers of a vanilla tanh RNN, hidden 100, 25-step truncated BPTT with the state carried
across chunks:
  (a) min-char-rnn as written (tests/numpy/min_char_rnn_reference.py): batch 1, one-hot column
      vectors, a Python loop over time steps, Adagrad 0.1, every gradient clipped to [-5, 5];
  (b) the engine's min-char-rnn preset (rnnkit.numpy.MinCharRNN): the same algorithm, float64;
  (c) the engine batched: B=32 streams, float32, a 16-wide embedding instead of the one-hot
      input, Adam, gradient norm clipped to 5.
chars/s: the three take turns, --rounds rounds of --round-seconds each (so a change of load on
the machine hits all three alike); the median of each is reported.
Time to a loss: the last 10% of the text is held out and the validation loss (nats/char) is
measured on a fixed slice of it (--val-chars, read as 32 streams from a zero state), off the
clock. (a) trains for --minutes; its final validation loss is the target, and (b) and (c) train
until they reach it (or for --minutes). No sampling in any of the three.
BLAS runs single-threaded (OPENBLAS_NUM_THREADS=1 unless set), the same for all three.
Goal: (c) >= 20x the chars/s of (a), and reaches (a)'s loss >= 10x sooner.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

from rnnkit.numpy import Adam, CharRNN, MinCharRNN, MinCharRNNConfig, clip_grad_norm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "numpy"))
import min_char_rnn_reference as reference  # noqa: E402

HIDDEN, SEQ = 100, 25
# a trainer: step() trains one chunk and returns the characters it trained on;
# evaluate() returns the validation loss in nats/char
Trainer = tuple[Callable[[], int], Callable[[], float]]


def validation_loss(model: CharRNN, val: np.ndarray, streams: int = 32) -> float:
    """Mean nats/char predicting val (1-D ids), read as `streams` rows each from a zero state."""
    n = (len(val) - 1) // streams
    x = val[: streams * n].reshape(streams, n)  # (streams, n)
    y = val[1 : streams * n + 1].reshape(streams, n)
    logp, _ = model.log_probs(x, model.init_state(streams))  # (streams, n, V)
    return float(-np.take_along_axis(logp, y[..., None], -1).mean())


def reference_trainer(text: str, vocab: int, val: np.ndarray, seed: int) -> Trainer:
    """(a): the reference loop; evaluated by copying its weights into a float64 CharRNN."""
    loop = reference.train(text, seed=seed, hidden_size=HIDDEN, seq_length=SEQ, sample_every=0)
    model, last = CharRNN(vocab, HIDDEN), {}

    def step() -> int:
        last.update(next(loop))
        return SEQ

    def evaluate() -> float:
        if not last:
            return float(np.log(vocab))
        Wxh, Whh, Why, bh, by = last["params"]
        model.load_state_dict(
            {
                "rnn.weight_ih_l0": Wxh,
                "rnn.weight_hh_l0": Whh,
                "rnn.bias_ih_l0": bh.ravel(),  # (H, 1) -> (H,)
                "rnn.bias_hh_l0": np.zeros(HIDDEN),
                "head.weight": Why,
                "head.bias": by.ravel(),
            }
        )
        return validation_loss(model, val)

    return step, evaluate


def preset_trainer(ids: np.ndarray, vocab: int, val: np.ndarray, seed: int) -> Trainer:
    """(b): rnnkit.numpy.MinCharRNN, float64, no sampling."""
    preset = MinCharRNN(ids, vocab, MinCharRNNConfig(sample_every=0), seed=seed)

    def step() -> int:
        preset.step()
        return SEQ

    return step, lambda: validation_loss(preset.model, val)


def batched_trainer(
    ids: np.ndarray, vocab: int, val: np.ndarray, seed: int, batch: int, lr: float, embed: int
) -> Trainer:
    """(c): B contiguous streams of the training text, float32, Adam, clip by norm 5."""
    model = CharRNN(vocab, HIDDEN, embedding_size=embed, dtype=np.float32, seed=seed)
    opt = Adam(lr=lr)
    length = len(ids) // batch
    streams = ids[: batch * length].reshape(batch, length)  # (B, L)
    p, state = 0, model.init_state(batch)

    def step() -> int:
        nonlocal p, state
        if p + SEQ + 1 > length:
            p, state = 0, model.init_state(batch)  # wrap: start again from a zero state
        x, y = streams[:, p : p + SEQ], streams[:, p + 1 : p + SEQ + 1]  # (B, T)
        _, grads, state = model.loss_and_grads(x, y, state)
        clip_grad_norm(grads, 5.0)
        opt.step(model.params, grads)
        p += SEQ
        return batch * SEQ

    return step, lambda: validation_loss(model, val)


def throughput(makers: list[Callable[[], Trainer]], rounds: int, seconds: float) -> list[float]:
    """Median chars/s of each trainer, the trainers taking turns for `seconds` each round."""
    steps = [make()[0] for make in makers]
    for step in steps:
        step()  # warm up: buffers, first allocations
    rates: list[list[float]] = [[] for _ in steps]
    for _ in range(rounds):
        for step, r in zip(steps, rates, strict=True):
            chars, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                chars += step()
            r.append(chars / elapsed)
    return [statistics.median(r) for r in rates]


def train_until(
    trainer: Trainer,
    seconds: float,
    next_eval: Callable[[float], float],
    target: float | None = None,
) -> list[tuple[float, float]]:
    """Train for `seconds` of training time, or until the validation loss <= target.

    Returns the validation curve [(training seconds, loss)]; after an evaluation at time t the
    next one comes at next_eval(t). Evaluations are off the clock.
    """
    step, evaluate = trainer
    curve, clock = [(0.0, evaluate())], 0.0
    due = next_eval(0.0)
    while clock < seconds:
        start = time.perf_counter()
        step()
        clock += time.perf_counter() - start
        if clock >= due or clock >= seconds:
            curve.append((clock, evaluate()))
            due = next_eval(clock)
            if target is not None and curve[-1][1] <= target:
                break
    return curve


def first_time(curve: list[tuple[float, float]], target: float) -> float | None:
    return next((t for t, loss in curve if loss <= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a text file (tinyshakespeare)")
    parser.add_argument("--minutes", type=float, default=5.0, help="(a)'s training time")
    parser.add_argument("--val-chars", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=32, help="(c)'s streams")
    parser.add_argument("--lr", type=float, default=5e-3, help="(c)'s Adam learning rate")
    parser.add_argument("--embed", type=int, default=16, help="(c)'s embedding (0: one-hot)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    text = Path(args.data).read_text()
    split = int(0.9 * len(text))
    chars = sorted(set(text))
    if sorted(set(text[:split])) != chars:
        raise SystemExit("the first 90% of the text must hold every character of the text")
    lut = {c: i for i, c in enumerate(chars)}
    ids = np.array([lut[c] for c in text], dtype=np.int64)
    train_ids, val = ids[:split], ids[split : split + args.val_chars + 1]
    V, seconds = len(chars), 60 * args.minutes
    names = [
        "(a) min-char-rnn as written, B=1",
        "(b) engine, min-char-rnn preset, B=1",
        f"(c) engine, B={args.batch}, f32, embed {args.embed}, Adam {args.lr:g}",
    ]
    makers = [
        lambda: reference_trainer(text[:split], V, val, args.seed),
        lambda: preset_trainer(train_ids, V, val, args.seed),
        lambda: batched_trainer(train_ids, V, val, args.seed, args.batch, args.lr, args.embed),
    ]
    print(f"{args.data}: {len(text):,} chars, V={V}; train {split:,}, val slice {len(val) - 1:,}")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    rates = throughput(makers, args.rounds, args.round_seconds)
    # (a): evaluated every 1/60 of its run; its best validation loss is the target
    curve_a = train_until(makers[0](), seconds, lambda t: t + seconds / 60)
    target = min(loss for _, loss in curve_a)
    # (b), (c): evaluated at training times 5% apart (from 0.05 s), until they reach the target
    curves = [curve_a]
    for make in makers[1:]:
        curves.append(train_until(make(), seconds, lambda t: max(0.05, 1.05 * t), target))

    time_a = first_time(curve_a, target)
    print(f"target: (a)'s best validation loss in {args.minutes:g} min, {target:.4f} nats/char\n")
    print(f"{'trainer':46s} {'chars/s':>9s} {'x (a)':>7s} {'to target':>10s} {'x sooner':>9s}")
    for name, rate, curve in zip(names, rates, curves, strict=True):
        reached = first_time(curve, target)
        when = f"{reached:9.2f}s" if reached is not None else "   not yet"
        sooner = f"{time_a / reached:8.1f}x" if reached else "        -"
        print(f"{name:46s} {rate:9,.0f} {rate / rates[0]:6.1f}x {when} {sooner}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("\nvalidation curves (training seconds: nats/char):")
    for name, curve in zip(names, curves, strict=True):
        points = curve[:: max(1, len(curve) // 12)] + curve[-1:]
        print(f"  {name[:3]} " + ", ".join(f"{t:.2f}s: {loss:.3f}" for t, loss in points))


if __name__ == "__main__":
    main()
