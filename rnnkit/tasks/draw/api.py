"""The Python API of ``rnnkit draw``: ``Draw(**config).fit(images).sample(64)``.

``train_run`` is what ``rnnkit draw train`` and ``Draw.fit`` both run; ``load_model`` rebuilds
the network from a checkpoint alone; ``bound_report`` scores binary images by the variational
bound (nats per image, one draw of the latents from a fixed seed, as the paper reports it);
``write_drawings`` writes the sample grid, the GIF and the PNG strip of the canvas per step.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.tasks.draw.config import TASK, Config
from rnnkit.tasks.draw.data import (
    Splits,
    check_binary,
    load_images,
    make_splits,
    steps_per_epoch,
    train_batch,
)
from rnnkit.tasks.draw.model import DRAW, Drawing
from rnnkit.train import distributed
from rnnkit.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    require_meta,
    resolve_checkpoint,
    strip_prefix,
)
from rnnkit.train.config import ConfigError, config_from_dict
from rnnkit.train.run import open_run
from rnnkit.train.runtime import resolve_device, seed_everything
from rnnkit.train.torch_engine import TorchEngine
from rnnkit.train.trainer import Trainer
from rnnkit.viz.images import image_grid, save_gif, save_grid

EVAL_BATCH = 500
EVAL_SEED = 0  # the latents' draw of every evaluation: the same images score the same
STRIP_ROWS = 8  # samples in the PNG strip of the canvas per step


def load_model(path: str | Path, device: str = "auto") -> tuple[DRAW, Config, dict]:
    """The network (eval mode), config and checkpoint metadata of a run directory or file."""
    path = resolve_checkpoint(path)
    tensors, meta = load_checkpoint(path, task=TASK)
    require_meta(meta, ("config", "height", "width"), path)
    sizes = (meta["height"], meta["width"])
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
        raise CheckpointError(
            f"{path}: the checkpoint's height or width is damaged (edited?); use the checkpoint "
            f"as rnnkit wrote it, or train again"
        )
    cfg = config_from_dict(Config, meta["config"])
    model = DRAW(*sizes, cfg)
    load_weights(model, strip_prefix("model", tensors), path)
    return model.to(resolve_device(device)).eval(), cfg, meta


# ---------------------------------------------------------------------------------------------
# the bound


@torch.no_grad()
def bound_terms(
    model: DRAW, images: np.ndarray, seed: int = EVAL_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """(reconstruction (N,), KL (N,)) in nats of binary ``images`` (N, H, W), the latents drawn
    from ``seed`` (the global RNG is left as it was)."""
    device = model.write_patch.weight.device
    recon, kl = [], []
    check_seed(seed)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, len(images), EVAL_BATCH):
            x = torch.from_numpy(images[start : start + EVAL_BATCH].astype(np.float32))
            out, _ = model(x.to(device))
            recon.append(out.reconstruction.double().cpu().numpy())
            kl.append(out.kl.double().cpu().numpy())
    return np.concatenate(recon), np.concatenate(kl)


def bound_report(model: DRAW, images: np.ndarray, seed: int = EVAL_SEED) -> dict[str, Any]:
    """{"nll_bound", "reconstruction", "kl", "n"}: the mean terms of the bound, nats per image."""
    recon, kl = bound_terms(model, images, seed)
    return {
        "nll_bound": float((recon + kl).mean()),
        "reconstruction": float(recon.mean()),
        "kl": float(kl.mean()),
        "n": len(images),
    }


# ---------------------------------------------------------------------------------------------
# training


def train_run(
    cfg: Config,
    splits: Splits,
    out: Path,
    resume_from: tuple[dict, dict] | None = None,
    verbose: bool = True,
) -> tuple[Trainer, dict[str, Any] | None]:
    """Train ``cfg`` on ``splits`` in the run directory ``out`` (held by ``open_run``), then
    score best.safetensors on the test images (into summary.json). Returns the trainer and
    the test report (None without test images or on Ctrl-C)."""
    if distributed.from_env().enabled:
        raise ConfigError("rnnkit draw trains in one process; run it without torchrun")
    height, width = splits.shape
    seed_everything(cfg.seed)
    model = DRAW(height, width, cfg)

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = train_batch(cfg, splits, step)  # (B, H, W)
        return x, x  # the images are their own targets

    def validate(m: DRAW) -> float:
        return bound_report(m, splits.val)["nll_bound"]

    engine = TorchEngine(model, cfg, batch, validate)
    trainer = Trainer(
        engine, cfg, out, task=TASK, meta={"height": height, "width": width}, unit="pixel",
        resume_from=resume_from, verbose=verbose,
    )  # fmt: skip
    if verbose:
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"draw: {splits.source}: {len(splits.fit)} training, {len(splits.val)} validation"
            + (f", {len(splits.test)} test" if splits.test is not None else "")
            + f" images of {height} x {width} ({cfg.binarize} binarization); DRAW "
            f"({cfg.attention} attention, {cfg.steps} steps, LSTM {cfg.hidden_size}, latent "
            f"{cfg.latent_size}), {n_params:,} parameters; {steps_per_epoch(cfg, splits)} steps "
            f"per epoch -> {out}",
            flush=True,
        )
    summary = trainer.fit()
    if summary["stop_reason"] == "interrupted" or splits.test is None:
        return trainer, None
    best, _, _ = load_model(out, cfg.device)
    report = bound_report(best, splits.test)
    trainer.add_results(**{f"test_{k}": v for k, v in report.items()})
    return trainer, report


# ---------------------------------------------------------------------------------------------
# drawings


def check_seed(seed: int) -> int:
    """``seed``, or ConfigError unless it is an int torch takes (0..2**63-1)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ConfigError(f"--seed: expected an int in 0..2**63-1, got {seed!r}")
    return seed


def generator(seed: int | None) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (None: a fresh random seed)."""
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(check_seed(seed))
    return g


def write_drawings(drawing: Drawing, out: Path) -> dict[str, Path]:
    """Into the folder ``out``: samples.png (the final canvases), canvas.gif (the grid at each
    step, the write glimpses as boxes) and canvas.png (a strip per sample: its canvas at each
    step, left to right). Returns {"samples", "gif", "strip"}: the paths."""
    canvases = drawing.canvases.float().cpu().numpy()  # (T, n, H, W)
    boxes = None if drawing.boxes is None else drawing.boxes.float().cpu().numpy()  # (T, n, 4)
    steps, n = canvases.shape[:2]
    paths = {"samples": out / "samples.png", "gif": out / "canvas.gif", "strip": out / "canvas.png"}
    save_grid(canvases[-1], paths["samples"])
    frames = [
        image_grid(canvases[t], boxes=None if boxes is None else boxes[t]) for t in range(steps)
    ]
    save_gif(frames, paths["gif"])
    rows = min(n, STRIP_ROWS)
    strip = canvases[:, :rows].transpose(1, 0, 2, 3).reshape(rows * steps, *canvases.shape[2:])
    strip_boxes = None if boxes is None else boxes[:, :rows].transpose(1, 0, 2).reshape(-1, 4)
    save_grid(strip, paths["strip"], columns=steps, boxes=strip_boxes)  # rows: samples
    return paths


# ---------------------------------------------------------------------------------------------
# the Python API


class Draw:
    """The Python API of ``rnnkit draw``: DRAW, trained on images and drawing new ones.

    ``Draw(**config)`` takes fields of ``Config`` (``attention="none", steps=8``). ``fit(images,
    test_images=None)`` trains on gray images (N, H, W) in [0, 1] (or uint8), binarized as the
    config says (images None: the config's folder, ``data``), in ``out`` (default: a temporary
    directory, removed after; the model stays in memory). ``Draw.load(run)`` loads any run.
    Then ``sample(n)`` gives n drawn images (pixel probabilities), ``drawing(n)`` the canvas
    at every step with the write glimpses, ``nll_bound(images)`` each binary image's bound in
    nats and ``evaluate(images)`` the mean bound, reconstruction and KL. Prints nothing unless
    ``fit(verbose=True)``.
    """

    def __init__(self, **config: Any):
        self.cfg = config_from_dict(Config, {"tensorboard": False} | config)
        self.model: DRAW | None = None
        self.summary: dict[str, Any] = {}

    def fit(
        self,
        images: Any = None,
        test_images: Any = None,
        out: str | Path | None = None,
        verbose: bool = False,
    ) -> Draw:
        """Train on ``images`` (and score ``test_images``, into ``summary``); returns self.
        ``out`` must be new or empty (a ConfigError otherwise)."""
        if images is None:
            images = load_images(self.cfg, "train")
        splits = make_splits(self.cfg, images, test_images)
        with tempfile.TemporaryDirectory(prefix="rnnkit-draw-") as tmp:
            with open_run(out if out is not None else tmp, False, TASK) as run:
                trainer, _ = train_run(self.cfg, splits, run, verbose=verbose)
            self.model, self.cfg, _ = load_model(run, self.cfg.device)
        self.summary = trainer.summary
        return self

    @classmethod
    def load(cls, run: str | Path, device: str = "auto") -> Draw:
        """The model of a run directory or checkpoint (``rnnkit draw train --out``)."""
        self = cls.__new__(cls)
        self.model, self.cfg, _ = load_model(run, device)
        self.summary = {}
        return self

    def _model(self) -> DRAW:
        if self.model is None:
            raise RuntimeError("Draw: expected a trained model; call fit() or load() first")
        return self.model

    def drawing(self, n: int = 64, seed: int | None = None) -> Drawing:
        """The canvases (T, n, H, W) of ``n`` images drawn step by step, and the write boxes."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected an int >= 1, got {n!r}")
        return self._model().generate(n, generator(seed))

    def sample(self, n: int = 64, seed: int | None = None) -> np.ndarray:
        """``n`` drawn images (n, H, W): the pixel probabilities of the final canvas."""
        return self.drawing(n, seed).canvases[-1].float().cpu().numpy()

    def nll_bound(self, images: Any, seed: int = EVAL_SEED) -> np.ndarray:
        """The negative variational bound of each binary image (N,), in nats."""
        recon, kl = bound_terms(self._model(), self._binary(images), seed)
        return recon + kl

    def evaluate(self, images: Any, seed: int = EVAL_SEED) -> dict[str, Any]:
        """{"nll_bound", "reconstruction", "kl", "n"} of binary images, nats per image."""
        return bound_report(self._model(), self._binary(images), seed)

    def _binary(self, images: Any) -> np.ndarray:
        model = self._model()
        images = check_binary(images)
        if images.shape[1:] != (model.height, model.width):
            raise ValueError(
                f"images: expected (N, {model.height}, {model.width}) as in training, got "
                f"{images.shape}"
            )
        return images
