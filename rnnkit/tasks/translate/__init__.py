"""Sequence to sequence with attention: ``rnnkit translate train | predict | eval`` and
``Translator``.

``config.py`` (its Config), ``model.py`` (``Seq2Seq``), ``data.py`` (splits, tokenizers,
batches), ``api.py`` (``Translator``: fit, translate, evaluate, load; ``train_run``,
``load_model``, ``evaluate_model``), ``cli.py`` (the verbs).
"""

from rnnkit.tasks.translate.api import Translator, evaluate_model, load_model, train_run
from rnnkit.tasks.translate.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.translate.model import Seq2Seq

__all__ = [
    "Config", "FIXED_ON_RESUME", "Seq2Seq", "TASK", "Translator", "evaluate_model", "load_model",
    "train_run",
]  # fmt: skip
