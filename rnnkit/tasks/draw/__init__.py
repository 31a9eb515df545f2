"""DRAW, a recurrent network that draws images: ``rnnkit draw train | sample | eval`` and
``Draw``.

``config.py`` (its Config), ``model.py`` (``DRAW``: encoder and decoder LSTMs, a latent per
step, the canvas, Gaussian read and write attention from ``rnnkit.nn.glimpse``), ``data.py``
(the splits, binarized; the training batches), ``api.py`` (``Draw``: fit, sample, drawing,
nll_bound, evaluate, load; ``train_run``, ``bound_report``, ``write_drawings``), ``cli.py``.
"""

from rnnkit.tasks.draw.api import (
    Draw,
    bound_report,
    bound_terms,
    load_model,
    train_run,
    write_drawings,
)
from rnnkit.tasks.draw.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.draw.data import Splits, make_splits
from rnnkit.tasks.draw.model import DRAW, Drawing, Output, gaussian_kl

__all__ = [
    "DRAW", "Config", "Draw", "Drawing", "FIXED_ON_RESUME", "Output", "Splits", "TASK",
    "bound_report", "bound_terms", "gaussian_kl", "load_model", "make_splits", "train_run",
    "write_drawings",
]  # fmt: skip
