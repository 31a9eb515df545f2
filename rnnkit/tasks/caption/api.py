"""The Python API of ``rnnkit caption``: ``Captioner(**config).fit().caption(images)``.

``train_run`` is what ``rnnkit caption train`` and ``Captioner.fit`` both run; ``load_model``
rebuilds a model and its vocabulary from a checkpoint alone; ``caption_images`` and
``evaluate_model`` (BLEU-1..4 and CIDEr by pycocoevalcap, the share of distinct captions and,
on scenes, attention localisation) use it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors.torch import save

from rnnkit.data.images import ImageDataError
from rnnkit.data.text import progress_bar
from rnnkit.metrics.captioning import caption_scores, distinct_share
from rnnkit.tasks.caption.config import TASK, Config
from rnnkit.tasks.caption.data import (
    CaptionBatches,
    CaptionSet,
    Splits,
    Vocabulary,
    as_input,
    encode_set,
    eval_batches,
    load_splits,
    read_image,
)
from rnnkit.tasks.caption.model import CaptionModel, Encoder
from rnnkit.tasks.caption.pretrain import pretrain_encoder
from rnnkit.tasks.caption.scenes import noun_classes, scene_items
from rnnkit.train.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    load_checkpoint,
    load_weights,
    require_meta,
    resolve_checkpoint,
    strip_prefix,
)
from rnnkit.train.config import config_from_dict, saved_config
from rnnkit.train.run import open_run, write_plot
from rnnkit.train.runtime import resolve_device, seed_everything
from rnnkit.train.torch_engine import TorchEngine
from rnnkit.train.trainer import Trainer
from rnnkit.viz.caption import plot_caption_attention

EVAL_BATCH = 64
PLOTTED = 4  # test images in attention.png


class Loaded(NamedTuple):
    """A trained model (eval mode), its config, checkpoint metadata and vocabulary."""

    model: CaptionModel
    cfg: Config
    meta: dict
    vocab: Vocabulary


def load_model(path: str | Path, device: str = "auto") -> Loaded:
    """The model of a run directory or checkpoint file."""
    path = resolve_checkpoint(path)
    tensors, meta = load_checkpoint(path, task=TASK)
    keys = ("config", "vocabulary", "in_channels", "image_size", "max_caption_length")
    require_meta(meta, keys, path)
    try:
        vocab = Vocabulary.from_dict(meta["vocabulary"])
        in_channels = int(meta["in_channels"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: {e}; use the checkpoint as rnnkit wrote it, or train again"
        ) from None
    cfg = saved_config(Config, meta["config"])
    model = CaptionModel(cfg, len(vocab), in_channels)
    load_weights(model, strip_prefix("model", tensors), path)
    return Loaded(model.to(resolve_device(device)).eval(), cfg, meta, vocab)


# ---------------------------------------------------------------------------------------------
# images in, captions out


def as_images(loaded: Loaded, images: Any) -> np.ndarray:
    """``images`` as the model reads them, (N, C, S, S) uint8: an array (N, C, S, S) or (N, S, S)
    of uint8 or of floats in [0, 1], or image files (resized)."""
    C, S = int(loaded.meta["in_channels"]), int(loaded.meta["image_size"])
    if loaded.cfg.encoder == "features":  # annotations, not pixels
        values = np.asarray(images) if not isinstance(images, str | Path) else np.zeros(0)
        if values.ndim != 4 or values.shape[1:] != (C, S, S) or values.dtype.kind != "f":
            raise ImageDataError(
                f"a run of --encoder features captions annotations, floats (N, {C}, {S}, {S}), "
                f"not images (rnnkit caption predict RUN NAME... --features FILE)"
            )
        return values.astype(np.float32)
    if isinstance(images, str | Path) or (
        isinstance(images, list | tuple) and images and isinstance(images[0], str | Path)
    ):
        paths = [images] if isinstance(images, str | Path) else list(images)
        for p in paths:
            if not Path(p).is_file():
                raise ImageDataError(f"{p}: no such image file")
        try:
            return np.stack([read_image(p, S, C) for p in paths])
        except (OSError, ValueError, SyntaxError) as e:
            raise ImageDataError(f"cannot read an image ({e}); pass JPEG or PNG files") from None
    values = np.asarray(images)
    values = values[:, None] if values.ndim == 3 and C == 1 else values  # (N, 1, S, S)
    if values.ndim != 4 or values.shape[1:] != (C, S, S):
        raise ImageDataError(f"images: expected shape (N, {C}, {S}, {S}), got {values.shape}")
    if values.dtype != np.uint8:
        if values.min() < 0 or values.max() > 1:
            raise ImageDataError("images: expected uint8, or floats in [0, 1]")
        values = np.round(values * 255).astype(np.uint8)
    return values


def decode_limit(loaded: Loaded) -> int:
    """The longest caption in words: ``--max-length``, else the longest training caption + 5."""
    return loaded.cfg.max_length or int(loaded.meta["max_caption_length"]) + 5


@torch.no_grad()
def caption_ids(
    loaded: Loaded, images: np.ndarray, *, beam: int | None = None,
    max_length: int | None = None, progress: bool = False,
) -> list[list[int]]:  # fmt: skip
    """The word ids of each image's caption (without START and END), EVAL_BATCH at a time."""
    model, device = loaded.model.eval(), next(loaded.model.parameters()).device
    beam, max_length = beam or loaded.cfg.beam, max_length or decode_limit(loaded)
    outputs: list[list[int]] = []
    bar = progress_bar(len(images), "captioning", "image", progress)
    for start in range(0, len(images), EVAL_BATCH):
        x = as_input(images[start : start + EVAL_BATCH]).to(device)
        outputs += model.decode(x, max_length=max_length, beam=beam).tokens
        bar.update(len(x))
    bar.close()
    return outputs


def caption_images(loaded: Loaded, images: Any, **options: Any) -> list[str]:
    """The caption of each image (options: beam, max_length)."""
    outputs = caption_ids(loaded, as_images(loaded, images), **options)
    return [loaded.vocab.decode(ids) for ids in outputs]


@torch.no_grad()
def attention_grids(loaded: Loaded, images: np.ndarray, outputs: list[list[int]]) -> list | None:
    """Each image's (T, g, g) attention of the words of its output (then END); None without
    attention."""
    if loaded.model.attention is None:
        return None
    device = next(loaded.model.parameters()).device
    grids = []
    for start in range(0, len(images), EVAL_BATCH):
        part = outputs[start : start + EVAL_BATCH]
        maps = loaded.model.attention_maps(
            as_input(images[start : start + EVAL_BATCH]).to(device), part
        )
        g = int(round(maps.size(2) ** 0.5))
        for m, o in zip(maps, part, strict=True):
            grids.append(m[: len(o) + 1].reshape(-1, g, g).cpu().numpy())  # (T, g, g)
    return grids


def localization(grids: list, outputs: list[list[int]], vocab: Vocabulary, boxes: list,
                 names: Sequence[str], size: int) -> tuple[float, float] | None:  # fmt: skip
    """(the mean share of attention mass inside the boxes of the item a word names, at the
    step that writes it; the boxes' mean share of the image: chance), over the nouns of the
    outputs that name an item of their image; None when there is none."""
    nouns = noun_classes(tuple(names))
    masses, chances = [], []
    for grid, ids, items in zip(grids, outputs, boxes, strict=True):
        g = grid.shape[1]
        cell = size // g
        for t, i in enumerate(ids):
            kind = nouns.get(vocab.words[i])
            mask = np.zeros((size, size), dtype=np.float64)
            for name, x0, y0, x1, y1 in items:
                if name == kind:
                    mask[y0:y1, x0:x1] = 1.0
            if not mask.any():
                continue
            share = mask[: g * cell, : g * cell].reshape(g, cell, g, cell).mean((1, 3))  # (g, g)
            masses.append(float((grid[t] * share).sum()))
            chances.append(float(mask.mean()))
    return (float(np.mean(masses)), float(np.mean(chances))) if masses else None


def evaluate_model(loaded: Loaded, data: CaptionSet, names: Sequence[str] = (),
                   progress: bool = False, **options: Any) -> dict[str, float]:  # fmt: skip
    """BLEU-1..4, CIDEr, n, distinct_captions (their share), top_caption_share (the share of
    the most frequent caption) and, for scenes with attention, localization and
    localization_chance (see ``localization``)."""
    if not len(data):
        raise ImageDataError("no images to evaluate on (an empty test split?)")
    outputs = caption_ids(loaded, data.images, progress=progress, **options)
    hyps = [loaded.vocab.decode(ids) for ids in outputs]
    report = caption_scores(hyps, data.captions)
    counts = np.unique(hyps, return_counts=True)[1]
    report |= {
        "distinct_captions": distinct_share(hyps),
        "top_caption_share": counts.max() / len(hyps),
    }
    if data.boxes is not None and names and loaded.model.attention is not None:
        grids = attention_grids(loaded, data.images, outputs)
        found = localization(grids, outputs, loaded.vocab, data.boxes, names, data.images.shape[-1])
        if found is not None:
            report |= {"localization": found[0], "localization_chance": found[1]}
    return report


def write_attention(loaded: Loaded, images: np.ndarray, path: Path, **options: Any) -> Path | None:
    """attention.png of ``images`` at ``path`` (None: the model has no attention)."""
    if loaded.model.attention is None:
        return None
    outputs = caption_ids(loaded, images, **options)
    grids = attention_grids(loaded, images, outputs)
    words = [[loaded.vocab.words[i] for i in o] + ["</s>"] for o in outputs]
    pictures = [im.astype(np.float32) / 255 for im in images]
    return write_plot(
        lambda p: plot_caption_attention(pictures, words, grids, p), path, "attention map"
    )


# ---------------------------------------------------------------------------------------------
# training


@torch.no_grad()
def mean_loss(model: CaptionModel, data: CaptionSet, encoded: list) -> float:
    """Mean cross-entropy per target word (with END), teacher-forced, on every caption."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for x, y in eval_batches(data, encoded, EVAL_BATCH):
        t = model.terms(x.to(device), y.to(device), False)
        total, count = total + t.nll.sum().item(), count + int(t.real.sum())
    return total / count


def pretrain(model: CaptionModel, cfg: Config, out: Path, verbose: bool) -> dict[str, float]:
    """``--pretrain-steps``: the encoder trained first to name the scenes' training item under
    each grid cell (``pretrain.py``), its weights kept as ``out``/encoder.safetensors; returns
    its scores."""
    items, labels, _, source = scene_items(cfg.scenes_folder, "train")
    if verbose:
        print(f"caption: pretraining the encoder for {cfg.pretrain_steps} steps to name the "
              f"item under each cell ({len(items)} {source} items)", flush=True)  # fmt: skip
    device = resolve_device(cfg.device)
    encoder = model.encoder.to(device)
    scores = pretrain_encoder(encoder, items, labels, cfg.canvas, cfg.pretrain_steps,
                              cfg.seed, device, cfg.progress and verbose)  # fmt: skip
    model.encoder.cpu()
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.encoder.state_dict().items()}
    atomic_write_bytes(out / "encoder.safetensors", save(state))
    if verbose:
        print(f"caption: pretrained: accuracy {scores['pretrain_accuracy']:.3f} on the items' "
              f"cells of the last training batches, {scores['pretrain_seconds']:.0f} s",
              flush=True)  # fmt: skip
    return scores


def train_run(cfg: Config, splits: Splits, out: Path, resume_from: tuple | None = None,
              verbose: bool = True) -> tuple[Trainer, dict | None]:  # fmt: skip
    """Train ``cfg`` on ``splits`` into the run directory ``out``; then (unless interrupted)
    score best.safetensors on the test split and draw attention.png. Returns (trainer, test
    scores or None)."""
    if resume_from is not None:
        vocab = Vocabulary.from_dict(resume_from[1]["vocabulary"])
    else:
        vocab = Vocabulary.fit(splits.train.captions, cfg.min_count)
    fit = encode_set(splits.train, vocab, cfg.max_words)
    valid = encode_set(splits.valid, vocab)
    seed_everything(cfg.seed)
    in_channels = int(splits.train.images.shape[1])
    model = CaptionModel(cfg, len(vocab), in_channels)
    if cfg.encoder_weights and resume_from is None:  # a resumed run has them in its checkpoint
        model.encoder.load_weights(cfg.encoder_weights)
    pretrained = {}
    if cfg.pretrain_steps and resume_from is None:
        pretrained = pretrain(model, cfg, out, verbose)
    if cfg.freeze_encoder and isinstance(model.encoder, Encoder):  # a ResNet freezes itself
        model.encoder.freeze()
    batches = CaptionBatches(splits.train, fit, cfg.batch_size, cfg.seed)
    engine = TorchEngine(model, cfg, batches, lambda m: mean_loss(m, splits.valid, valid))
    meta = {
        "vocabulary": vocab.to_dict(), "in_channels": in_channels,
        "image_size": int(splits.train.images.shape[-1]), "names": list(splits.names),
        "max_caption_length": int(max(len(c) for caps in fit for c in caps)),
        "data_source": splits.source,
    }  # fmt: skip
    trainer = Trainer(engine, cfg, out, task=TASK, meta=meta, unit="word",
                      resume_from=resume_from, verbose=verbose)  # fmt: skip
    if verbose:
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"caption: {splits.source}: {len(splits.train)} training images, "
            f"{len(splits.valid)} validation, {len(splits.test)} test; {len(vocab)} words; "
            f"attention {cfg.attention}, {n_params:,} parameters; {batches.per_epoch} steps "
            f"per epoch -> {out}",
            flush=True,
        )
    summary = trainer.fit()
    if pretrained:
        trainer.add_results(**pretrained)
    if summary["stop_reason"] == "interrupted":
        return trainer, None
    best = load_model(out, cfg.device)
    if cfg.attention == "hard":  # the REINFORCE gradient's variance on a validation batch
        x, y = next(eval_batches(splits.valid, valid, min(cfg.batch_size, 32)))
        with torch.enable_grad():
            device = next(best.model.parameters()).device
            trainer.add_results(**best.model.reinforce_variance(x.to(device), y.to(device)))
    if not len(splits.test):
        return trainer, None
    report = evaluate_model(best, splits.test, splits.names, progress=verbose)
    trainer.add_results(**{f"test_{k}": v for k, v in report.items()})
    if cfg.encoder != "features":  # annotations have no pixels to draw
        write_attention(best, splits.test.images[:PLOTTED], out / "attention.png")
    return trainer, report


class Captioner:
    """The Python API of ``rnnkit caption``.

    ``Captioner(**config)`` takes fields of ``Config`` (``dataset="scenes", attention="hard",
    max_steps=500``). ``fit(images, captions)`` trains on images (N, C, S, S) or (N, S, S)
    (uint8, or floats in [0, 1]) and each one's captions (a list of strings), a
    ``valid_fraction`` and ``test_fraction`` held out at random (None: the config's
    ``dataset`` or ``data``), in ``out`` (default: a temporary directory, removed after; the
    model stays in memory). ``caption(images, beam=5)`` captions images (arrays or files),
    ``evaluate()`` scores the held-out test split. ``Captioner.load(run)`` loads any run.
    """

    def __init__(self, **config: Any):
        self.cfg = config_from_dict(Config, {"tensorboard": False} | config)
        self.loaded: Loaded | None = None
        self.splits: Splits | None = None
        self.summary: dict[str, Any] = {}

    def _splits(self, images: Any, captions: Sequence[Sequence[str]] | None) -> Splits:
        if images is None:
            return load_splits(self.cfg)
        if self.cfg.encoder == "features":
            raise ImageDataError("fit: --encoder features trains on data= and features= alone")
        values = np.asarray(images)
        values = values[:, None] if values.ndim == 3 else values  # (N, 1, S, S)
        if values.ndim != 4 or captions is None or len(captions) != len(values):
            raise ImageDataError(
                f"fit: expected images (N, C, S, S) or (N, S, S) and N lists of captions, got "
                f"shape {values.shape} and {None if captions is None else len(captions)} lists"
            )
        if values.dtype != np.uint8:
            values = np.round(np.clip(values, 0, 1) * 255).astype(np.uint8)
        caps = [[str(c) for c in ([cs] if isinstance(cs, str) else cs)] for cs in captions]
        order = np.random.default_rng(self.cfg.seed).permutation(len(values))
        n_test = int(self.cfg.test_fraction * len(values))
        n_valid = int(self.cfg.valid_fraction * len(values))
        parts = np.split(order, [n_test, n_test + n_valid])

        def part(index: np.ndarray) -> CaptionSet:
            return CaptionSet(values[index], [caps[i] for i in index])

        test, valid, train = (part(p) for p in parts)
        return Splits(train, valid if len(valid) else train, test, "arrays")

    def fit(self, images: Any = None, captions: Sequence[Sequence[str]] | None = None,
            out: str | Path | None = None, verbose: bool = False) -> Captioner:  # fmt: skip
        """Train; returns self. Prints nothing unless ``verbose``."""
        splits = self._splits(images, captions)
        cfg = dataclasses.replace(self.cfg)
        held_out = dataclasses.replace(splits, test=CaptionSet(splits.test.images[:0], []))
        with tempfile.TemporaryDirectory(prefix="rnnkit-caption-") as tmp:
            with open_run(out if out is not None else tmp, False, TASK) as run:
                trainer, _ = train_run(cfg, held_out, run, verbose=verbose)
            self.loaded = load_model(run, cfg.device)
        self.splits, self.summary = splits, trainer.summary
        return self

    @classmethod
    def load(cls, run: str | Path, device: str = "auto") -> Captioner:
        """The captioner of a run directory or checkpoint (``rnnkit caption train --out``)."""
        self = cls.__new__(cls)
        self.loaded = load_model(run, device)
        self.cfg, self.summary, self.splits = self.loaded.cfg, {}, None
        return self

    def _ready(self) -> Loaded:
        if self.loaded is None:
            raise RuntimeError("Captioner: expected a trained model; call fit() or load() first")
        return self.loaded

    def caption(self, images: Any, beam: int | None = None, **options: Any) -> list[str]:
        """Captions of ``images`` (an array, or image files); ``beam`` 1 is greedy search,
        default the config's; options: max_length."""
        return caption_images(self._ready(), images, beam=beam, **options)

    def evaluate(self, data: CaptionSet | None = None, **options: Any) -> dict[str, float]:
        """BLEU-1..4, CIDEr, distinct captions (and localisation on scenes) on ``data``
        (default: the held-out test split)."""
        loaded = self._ready()
        if data is None:
            if self.splits is None:
                self.splits = load_splits(self.cfg, test_only=True)
            data = self.splits.test
        names = self.splits.names if self.splits is not None else loaded.meta.get("names", ())
        return evaluate_model(loaded, data, names, **options)
