"""The Python API of ``rnnkit handwriting``: ``Handwriter.load(run).write(text, bias=...)``.

``train_run`` is what ``rnnkit handwriting train`` and ``Handwriter.fit`` both run;
``load_model`` rebuilds a network from a checkpoint alone; ``evaluate_lines`` scores one on
held-out lines (negative log-likelihood of the normalised offsets, in nats); ``write_text``
samples a line, optionally primed with a style line (Graves 2013, section 5.5).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.strokes import StrokeSet
from rnnkit.nn.mdn import mdn_nll
from rnnkit.tasks.handwriting.config import TASK, Config
from rnnkit.tasks.handwriting.data import (
    Alphabet,
    load_lines,
    make_batch,
    normalised,
    offset_scale,
    split_lines,
)
from rnnkit.tasks.handwriting.model import HandwritingModel
from rnnkit.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    require_meta,
    resolve_checkpoint,
    strip_prefix,
)
from rnnkit.train.config import config_from_dict
from rnnkit.train.run import open_run
from rnnkit.train.runtime import resolve_device, seed_everything
from rnnkit.train.torch_engine import TorchEngine
from rnnkit.train.trainer import Trainer

EVAL_BATCH = 64


@dataclass
class Splits:
    """A config's lines (fit, validation, test), its alphabet and the scale of offsets."""

    fit: StrokeSet
    val: StrokeSet
    test: StrokeSet
    alphabet: Alphabet
    scale: np.ndarray
    chars_per_point: float


def load_splits(cfg: Config) -> Splits:
    """The lines of ``cfg`` split, the alphabet of all their texts and the scale of the
    training lines' offsets."""
    data = load_lines(cfg)
    fit, val, test = split_lines(cfg, data)
    cpp = float(np.mean([len(t) / len(s) for s, t in zip(fit.strokes, fit.texts, strict=True)]))
    return Splits(fit, val, test, Alphabet.fit(data.texts), offset_scale(fit), cpp)


def load_model(path: str | Path, device: str = "auto") -> tuple[HandwritingModel, Config, dict]:
    """The model (eval mode), config and checkpoint metadata of a run directory or file."""
    path = resolve_checkpoint(path)
    tensors, meta = load_checkpoint(path, task=TASK)
    require_meta(meta, ("config", "alphabet", "scale"), path)
    alphabet, scale = meta["alphabet"], meta["scale"]
    if not (
        isinstance(alphabet, str)
        and alphabet
        and isinstance(scale, list)
        and len(scale) == 2
        and all(isinstance(s, float) and s > 0 for s in scale)
    ):
        raise CheckpointError(
            f"{path}: the checkpoint's alphabet or scale is damaged (edited?); use the "
            f"checkpoint as rnnkit wrote it, or train again"
        )
    cfg = config_from_dict(Config, meta["config"])
    model = HandwritingModel(cfg, len(alphabet))
    load_weights(model, strip_prefix("model", tensors), path)
    return model.to(resolve_device(device)).eval(), cfg, meta


# ---------------------------------------------------------------------------------------------
# evaluation


def _encoded(lines: StrokeSet, alphabet: Alphabet) -> list[np.ndarray]:
    return [alphabet.encode(t, f"{lines.source}: a line's text") for t in lines.texts]


def _eval_batches(model: HandwritingModel, lines: StrokeSet, alphabet: Alphabet):
    """(index, batch, targets) of ``lines`` in batches of similar lengths."""
    texts, scale = _encoded(lines, alphabet), model.scale.cpu().numpy()
    order = np.argsort([len(s) for s in lines.strokes], kind="stable")
    device = model.scale.device
    for start in range(0, len(order), EVAL_BATCH):
        index = order[start : start + EVAL_BATCH]
        x, y = make_batch([lines.strokes[i] for i in index], [texts[i] for i in index], scale)
        yield index, x.to(device), y.to(device)


@torch.no_grad()
def evaluate_lines(model: HandwritingModel, lines: StrokeSet, alphabet: Alphabet) -> dict:
    """``{"nll_per_point", "nll_per_sequence", "n"}``: the mean negative log-likelihood (nats)
    of the normalised offsets per predicted point and per line, over ``n`` lines."""
    total, points = 0.0, 0
    for _, x, y in _eval_batches(model, lines, alphabet):
        out = model.run(x)
        nll = mdn_nll(out.y.double(), y.offsets.double())  # (B, T)
        total += float((nll * y.mask).sum())
        points += int(y.mask.sum())
    return {
        "nll_per_point": total / points,
        "nll_per_sequence": total / len(lines),
        "n": len(lines),
    }


@torch.no_grad()
def window_alignment(model: HandwritingModel, lines: StrokeSet, alphabet: Alphabet) -> dict:
    """How the synthesis network's window moves over held-out lines (teacher-forced), its
    mean position the alpha-weighted mean of the Gaussians' kappa (characters at 0..U-1):
    ``monotone`` the fraction of lines where it never moves back half a character or more
    (never back to an earlier character), ``monotone_strict`` never back more than 0.01;
    ``past_last`` the fraction where it ends past the last character's position (> U - 1),
    ``past_end`` past the middle between it and the end marker (> U - 0.5); ``end_median``
    the median of the final position minus the last character's; ``n`` the lines."""
    if not model.synthesis:
        raise ValueError("window_alignment: a prediction network has no window")
    counts = dict.fromkeys(("monotone", "monotone_strict", "past_last", "past_end"), 0)
    ends = []  # the final position minus the last character's (U - 1), per line
    for index, x, y in _eval_batches(model, lines, alphabet):
        position = model.run(x).position  # (B, T)
        for row, i in enumerate(index):
            p = position[row, : int(y.mask[row].sum())].cpu().numpy()
            fall = float(np.max(p[:-1] - p[1:], initial=0.0))  # the largest step back
            counts["monotone"] += fall < 0.5
            counts["monotone_strict"] += fall <= 0.01
            counts["past_last"] += bool(p[-1] > len(lines.texts[i]) - 1)
            counts["past_end"] += bool(p[-1] > len(lines.texts[i]) - 0.5)
            ends.append(float(p[-1]) - (len(lines.texts[i]) - 1))
    rates = {k: v / len(lines) for k, v in counts.items()}
    return rates | {"end_median": float(np.median(ends)), "n": len(lines)}


# ---------------------------------------------------------------------------------------------
# training


def train_run(
    cfg: Config,
    splits: Splits,
    out: Path,
    resume_from: tuple[dict, dict] | None = None,
    verbose: bool = True,
) -> tuple[Trainer, dict | None]:
    """Train ``cfg`` on ``splits`` in the run directory ``out`` (held by ``open_run``), then
    score best.safetensors on the test lines (into summary.json). Returns the trainer and the
    test scores (None on Ctrl-C)."""
    fit, alphabet = splits.fit, splits.alphabet
    texts = _encoded(fit, alphabet)
    seed_everything(cfg.seed)
    model = HandwritingModel(cfg, len(alphabet), splits.chars_per_point)
    model.scale.copy_(torch.from_numpy(splits.scale))
    steps_per_epoch = math.ceil(len(fit) / cfg.batch_size)

    def train_batch(step: int):
        epoch, i = divmod(step, steps_per_epoch)
        order = np.random.default_rng((cfg.seed, epoch)).permutation(len(fit))
        index = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
        return make_batch([fit.strokes[j] for j in index], [texts[j] for j in index], splits.scale)

    def validate(m: HandwritingModel) -> float:
        return evaluate_lines(m, splits.val, alphabet)["nll_per_point"]

    engine = TorchEngine(model, cfg, train_batch, validate)
    meta = {
        "alphabet": alphabet.chars, "scale": [float(s) for s in splits.scale],
        "source": fit.source,
    }  # fmt: skip
    trainer = Trainer(
        engine, cfg, out, task=TASK, meta=meta, unit="point", resume_from=resume_from,
        verbose=verbose,
    )  # fmt: skip
    if verbose:
        n_params = sum(p.numel() for p in model.parameters())
        kind = "synthesis" if cfg.synthesis else "prediction"
        print(
            f"handwriting: {fit.source}: {len(fit)} training, {len(splits.val)} validation, "
            f"{len(splits.test)} test lines, {len(alphabet)} characters; {kind} network "
            f"({cfg.num_layers} x LSTM {cfg.hidden_size}, {cfg.mixtures} mixtures), "
            f"{n_params:,} parameters -> {out}",
            flush=True,
        )
    summary = trainer.fit()
    if summary["stop_reason"] == "interrupted":
        return trainer, None
    best, _, _ = load_model(out, cfg.device)
    report = evaluate_lines(best, splits.test, alphabet)
    trainer.add_results(**{f"test_{k}": v for k, v in report.items()})
    return trainer, report


# ---------------------------------------------------------------------------------------------
# writing


@dataclass
class Writing:
    """A written line: ``offsets`` (N, 3) (dx, dy, end_of_stroke) in the data's units,
    ``text`` what the window read (the style's text first when primed; '' for a prediction
    network), ``phi`` (N, U + 1) the window at each point (None: prediction network), ``y``
    (N, 1 + 6M) the mixture outputs each point was drawn from, ``finished`` whether the window
    passed the last character."""

    offsets: np.ndarray
    text: str
    phi: np.ndarray | None
    y: np.ndarray
    finished: bool


def write_text(
    model: HandwritingModel,
    alphabet: Alphabet,
    text: str = "",
    bias: float = 0.0,
    style: tuple[np.ndarray, str] | np.ndarray | None = None,
    seed: int | None = None,
    max_points: int = 0,
) -> Writing:
    """Write ``text`` (synthesis) or free strokes (prediction), sampling with ``bias``.
    ``style`` primes it: (offsets (P, 3), the text they write) for synthesis, offsets for
    prediction. ``max_points`` 0: 40 per character (synthesis), else 700. Characters the
    model never saw raise ValueError before anything is sampled."""
    if bias < 0:
        raise ValueError(f"--bias: expected a number >= 0, got {bias}")
    if max_points < 0:
        raise ValueError(f"--max-points: expected an int >= 0 (0 = the default), got {max_points}")
    if seed is not None and not 0 <= seed < 2**64:  # what torch.Generator takes
        raise ValueError(f"--seed: expected an int in 0..2**64-1, got {seed}")
    style_offsets, style_text = style if isinstance(style, tuple) else (style, "")
    if model.synthesis:
        if not text:
            raise ValueError("--text: empty; the synthesis network writes a given text")
        if style_offsets is not None and not style_text:
            raise ValueError("--style-text: expected the text the style strokes write")
        sep = " " if " " in alphabet.index else ""  # the style's text, then the text
        full = f"{style_text}{sep}{text}" if style_offsets is not None else text
        alphabet.encode(text, "--text")
        if style_text:
            alphabet.encode(style_text, "--style-text")
        ids = torch.from_numpy(alphabet.encode(full))
    else:
        if text or style_text:
            flag = "--text" if text else "--style-text"
            raise ValueError(
                f"{flag}: a prediction network reads no text; train with --synthesis, or drop it"
            )
        full, ids = "", None
    prime = None
    if style_offsets is not None:
        style_offsets = np.asarray(style_offsets, dtype=np.float32)
        if style_offsets.ndim != 2 or style_offsets.shape[1] != 3 or len(style_offsets) < 2:
            raise ValueError(
                f"--style: expected offsets (P, 3) with P >= 2, got {style_offsets.shape}"
            )
        prime = torch.from_numpy(normalised(style_offsets, model.scale.cpu().numpy()))
    if not max_points:
        max_points = 40 * len(full) if model.synthesis else 700
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
    g = model.generate(ids, max_points, bias, generator, prime)
    offsets = g.points.cpu().numpy().astype(np.float32)
    offsets[:, :2] *= model.scale.cpu().numpy()
    phi = None if g.phi is None else g.phi.cpu().numpy()
    return Writing(offsets, full, phi, g.y.cpu().numpy(), g.finished)


class Handwriter:
    """The Python API of ``rnnkit handwriting``.

    ``Handwriter(**config).fit(out=...)`` trains (fields of ``Config``: ``synthesis=True,
    max_steps=500``); ``Handwriter.load(run)`` loads a run; ``write(text, bias=1.0,
    style=(offsets, text))`` samples a line (a ``Writing``); ``evaluate()`` scores the run's
    test lines.
    """

    def __init__(self, **config: Any):
        self.cfg = config_from_dict(Config, {"tensorboard": False} | config)
        self.model: HandwritingModel | None = None
        self.alphabet = Alphabet("")
        self.summary: dict[str, Any] = {}

    def fit(self, out: str | Path | None = None, verbose: bool = False) -> Handwriter:
        """Train on the config's data in ``out`` (default: a temporary directory); self."""
        splits = load_splits(self.cfg)
        with tempfile.TemporaryDirectory(prefix="rnnkit-handwriting-") as tmp:
            with open_run(out if out is not None else tmp, False, TASK) as run:
                trainer, _ = train_run(self.cfg, splits, run, verbose=verbose)
            self._set(*load_model(run, self.cfg.device))
        self.summary = trainer.summary
        return self

    @classmethod
    def load(cls, run: str | Path, device: str = "auto") -> Handwriter:
        """The network of a run directory or checkpoint."""
        self = cls.__new__(cls)
        self._set(*load_model(run, device))
        self.summary = {}
        return self

    def _set(self, model: HandwritingModel, cfg: Config, meta: dict) -> None:
        self.model, self.cfg, self.alphabet = model, cfg, Alphabet(meta["alphabet"])

    def _model(self) -> HandwritingModel:
        if self.model is None:
            raise RuntimeError("Handwriter: expected a trained model; call fit() or load()")
        return self.model

    def write(
        self,
        text: str = "",
        bias: float = 0.0,
        style: tuple[np.ndarray, str] | np.ndarray | None = None,
        seed: int | None = None,
        max_points: int = 0,
    ) -> Writing:
        """A written line (see ``write_text``)."""
        return write_text(self._model(), self.alphabet, text, bias, style, seed, max_points)

    def evaluate(self, lines: StrokeSet | None = None) -> dict:
        """NLL per point and per line on ``lines`` (default: the run's test lines)."""
        lines = lines if lines is not None else load_splits(self.cfg).test
        return evaluate_lines(self._model(), lines, self.alphabet)
