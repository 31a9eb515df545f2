"""Handwriting generation and synthesis (Graves 2013): ``rnnkit handwriting train | write |
eval`` and ``Handwriter``.

``config.py`` (its Config), ``data.py`` (lines, splits, alphabet, batches), ``model.py``
(``HandwritingModel``: the prediction and synthesis networks, ``SoftWindow``), ``api.py``
(``Handwriter``: fit, write, evaluate, load; ``train_run``, ``evaluate_lines``,
``write_text``), ``cli.py`` (the verbs).
"""

from rnnkit.tasks.handwriting.api import (
    Handwriter,
    Writing,
    evaluate_lines,
    load_model,
    load_splits,
    train_run,
    window_alignment,
    write_text,
)
from rnnkit.tasks.handwriting.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.handwriting.data import Alphabet, StrokeBatch, Targets, make_batch
from rnnkit.tasks.handwriting.model import HandwritingModel, SoftWindow

__all__ = [
    "Alphabet", "Config", "FIXED_ON_RESUME", "HandwritingModel", "Handwriter", "SoftWindow",
    "StrokeBatch", "TASK", "Targets", "Writing", "evaluate_lines", "load_model", "load_splits",
    "make_batch", "train_run", "window_alignment", "write_text",
]  # fmt: skip
