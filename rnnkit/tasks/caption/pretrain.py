"""The encoder trained to tell which item lies under each grid cell before it learns to caption
(``--pretrain-steps``).

Show, Attend and Tell's encoder was a CNN trained on ImageNet classification before the
captioner: its features at a location say what object is there. A CNN trained from scratch by
the captions alone need not: on ``--dataset scenes`` (benchmarks/caption.py) its features
learned at one seed to fire beside the items, where the soft attention then looked
(localisation 0.25 against 0.55-0.58 at two other seeds). This module gives rnnkit's small
CNN (``pool`` or ``dilated``) a start that puts what an item is on the cells it covers: each
batch puts one to PRETRAIN_ITEMS items of the training split (never the test split) on an
empty canvas at random places, and a linear classifier of each cell's annotation (and,
``dilated``, of each cell's local features, what the attention scores) must name the item
whose box covers the cell's centre, or say "background". Naming the item from the mean over
the cells instead (an earlier version) taught the encoder what the canvas holds but not
where: at two seeds of three the soft attention then looked beside the items (localisation
0.13 and 0.20 on the validation split; per cell, one item a canvas: 0.49 and 0.56; one to
three: 0.62 and 0.62, and 0.61 at the third seed). The classifiers are dropped
afterwards; the encoder's weights start the captioner and the run keeps them
(``encoder.safetensors``, usable as ``--encoder-weights`` of another run).
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
PRETRAIN_ITEMS = 3  # the most items on one pretraining canvas (chosen on validation)


def item_batch(items: np.ndarray, labels: np.ndarray, canvas: int, rng: np.random.Generator,
               size: int, most: int = 1) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``size`` canvases (size, 1, canvas, canvas), each with 1 to ``most`` random items at
    random places (overlapping items: the brighter pixel wins), and per pixel the label of
    the item whose box covers it, the last placed where boxes overlap, -1 where none does
    (size, canvas, canvas), int64."""
    images = np.zeros((size, 1, canvas, canvas), dtype=np.float32)
    where = np.full((size, canvas, canvas), -1, dtype=np.int64)
    counts = rng.integers(1, most + 1, size)
    for i, count in enumerate(counts):
        for k in rng.integers(0, len(items), count):
            y, x = rng.integers(0, canvas - ITEM + 1, 2)
            box = (slice(y, y + ITEM), slice(x, x + ITEM))
            images[i, 0][box] = np.maximum(images[i, 0][box], items[k])
            where[i][box] = labels[k]
    return torch.from_numpy(images), torch.from_numpy(where)


def cell_targets(where: torch.Tensor, grid: int, background: int) -> torch.Tensor:
    """(B, S, S) pixel labels (-1: none) -> (B, grid * grid) the label at each grid cell's
    centre, ``background`` where there is none, in the encoder's row-major cell order."""
    size = where.size(-1)
    centres = ((torch.arange(grid) + 0.5) * size / grid).long()
    cells = where[:, centres][:, :, centres].flatten(1)
    return torch.where(cells < 0, torch.full_like(cells, background), cells)


def pretrain_encoder(encoder: nn.Module, items: np.ndarray, labels: np.ndarray, canvas: int,
                     steps: int, seed: int, device: str = "cpu",
                     progress: bool = True) -> dict[str, float]:  # fmt: skip
    """Train ``encoder`` (rnnkit's caption ``Encoder``: images -> (annotations, local
    features), each (B, L, D) on a square grid) for ``steps`` steps to name, at each grid
    cell, the item of ``items`` (N, 28, 28) in [0, 1] with ``labels`` (N,) under it or the
    background, on ``canvas`` x ``canvas`` images of 1 to PRETRAIN_ITEMS items; AdamW at
    PRETRAIN_LR with one-cycle warmup and cosine decay, batches of PRETRAIN_BATCH. Seeded by
    ``seed`` alone and run in a forked RNG, so what the caller draws afterwards is unchanged.
    Returns the accuracy on the cells of items (of the features the attention scores) and the
    loss over the last tenth of the steps (training batches), and the seconds taken."""
    if steps < 1 or len(items) == 0:
        raise ValueError(f"pretrain_encoder: need steps >= 1 and items, got {steps}, {len(items)}")
    classes = int(labels.max()) + 1  # and the background, class `classes`
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        encoder.eval()  # the probe for the feature sizes leaves the batch-norm statistics be
        with torch.no_grad():
            probe = encoder(torch.zeros(1, 1, canvas, canvas, device=device))
        grid = round(probe[0].size(1) ** 0.5)
        heads = nn.ModuleList(nn.Linear(p.size(-1), classes + 1) for p in probe).to(device)
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
            x, where = item_batch(items, labels, canvas, rng, PRETRAIN_BATCH, PRETRAIN_ITEMS)
            x, y = x.to(device), cell_targets(where, grid, classes).to(device)
            outputs = encoder(x)
            logits = [head(f) for head, f in zip(heads, outputs, strict=False)]  # (B, L, K+1)
            loss = sum(F.cross_entropy(z.flatten(0, 1), y.flatten()) for z in logits)
            value = loss.item() / len(logits)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step >= steps - tail:
                on_item = y < classes
                right += int((logits[-1].argmax(-1) == y)[on_item].sum())
                seen += int(on_item.sum())
                losses.append(value)
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{value:.3f}")
        bar.close()
    return {
        "pretrain_accuracy": right / max(seen, 1),
        "pretrain_loss": float(np.mean(losses)),
        "pretrain_seconds": time.perf_counter() - start,
    }
