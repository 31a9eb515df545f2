"""The encoder trained to name single items before it learns to caption (``--pretrain-steps``).

Show, Attend and Tell's encoder was a CNN trained on ImageNet classification before the
captioner: its features at a location say what object is there. A CNN trained from scratch by
the captions alone need not: on ``--dataset scenes`` (benchmarks/caption.py) its features
learned at one seed to fire beside the items, where the soft attention then looked
(localisation 0.25 against 0.55-0.58 at two other seeds). This module gives rnnkit's small
CNN (``pool`` or ``dilated``) the same start on scenes: each batch puts one item of the
training split (never the test split) on an empty canvas at a random place, and the class is
read from the mean over the grid cells of a linear classifier of each cell's annotation (and,
``dilated``, of each cell's local features too), so each cell's features learn what item is
under them. The classifiers are dropped afterwards; the encoder's weights start the captioner
and the run keeps them (``encoder.safetensors``, usable as ``--encoder-weights`` of another
run). On scenes it made every attention caption better (benchmarks/caption.py); where soft
attention looks still depends on the seed.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.text import progress_bar

ITEM = 28  # scenes' items are 28x28
PRETRAIN_LR = 2e-3
PRETRAIN_BATCH = 64


def item_batch(items: np.ndarray, labels: np.ndarray, canvas: int, rng: np.random.Generator,
               size: int) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``size`` canvases (size, 1, canvas, canvas) with one random item each at a random
    place, and the items' labels (size,)."""
    pick = rng.integers(0, len(items), size)
    ys, xs = rng.integers(0, canvas - ITEM + 1, (2, size))
    images = np.zeros((size, 1, canvas, canvas), dtype=np.float32)
    for i, k in enumerate(pick):
        images[i, 0, ys[i] : ys[i] + ITEM, xs[i] : xs[i] + ITEM] = items[k]
    return torch.from_numpy(images), torch.from_numpy(labels[pick].astype(np.int64))


def pretrain_encoder(encoder: nn.Module, items: np.ndarray, labels: np.ndarray, canvas: int,
                     steps: int, seed: int, device: str = "cpu",
                     progress: bool = True) -> dict[str, float]:  # fmt: skip
    """Train ``encoder`` (rnnkit's caption ``Encoder``: images -> (annotations, local
    features), each (B, L, D)) for ``steps`` steps to classify ``items`` (N, 28, 28) in [0, 1]
    with ``labels`` (N,), each put alone on a ``canvas`` x ``canvas`` image; AdamW at
    PRETRAIN_LR with one-cycle warmup and cosine decay, batches of PRETRAIN_BATCH. Seeded by
    ``seed`` alone and run in a forked RNG, so what the caller draws afterwards is unchanged.
    Returns the accuracy and loss over the last tenth of the steps (training batches) and
    the seconds taken."""
    if steps < 1 or len(items) == 0:
        raise ValueError(f"pretrain_encoder: need steps >= 1 and items, got {steps}, {len(items)}")
    classes = int(labels.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        encoder.eval()  # the probe for the feature sizes leaves the batch-norm statistics be
        with torch.no_grad():
            probe = encoder(torch.zeros(1, 1, canvas, canvas, device=device))
        heads = nn.ModuleList(nn.Linear(p.size(-1), classes) for p in probe).to(device)
        if probe[0] is probe[1]:  # pool: the annotations are the local features
            heads = heads[:1]
        params = [*encoder.parameters(), *heads.parameters()]
        opt = torch.optim.AdamW(params, PRETRAIN_LR)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, PRETRAIN_LR, total_steps=steps,
                                                    pct_start=0.05)  # fmt: skip
        encoder.train()
        start, tail, right, seen, losses = time.perf_counter(), max(1, steps // 10), 0, 0, []
        bar = progress_bar(steps, "pretraining the encoder", "step", progress)
        for step in range(steps):
            x, y = item_batch(items, labels, canvas, rng, PRETRAIN_BATCH)
            x, y = x.to(device), y.to(device)
            outputs = encoder(x)
            logits = [head(f).mean(1) for head, f in zip(heads, outputs, strict=False)]
            loss = sum(F.cross_entropy(z, y) for z in logits)
            value = loss.item() / len(logits)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step >= steps - tail:
                right += int((logits[0].argmax(1) == y).sum())
                seen += len(y)
                losses.append(value)
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{value:.3f}")
        bar.close()
    return {
        "pretrain_accuracy": right / seen,
        "pretrain_loss": float(np.mean(losses)),
        "pretrain_seconds": time.perf_counter() - start,
    }
