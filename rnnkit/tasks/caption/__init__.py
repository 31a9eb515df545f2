"""Image captioning with soft and hard attention (Show, Attend and Tell): ``rnnkit caption
train | predict | eval`` and ``Captioner``.

``config.py`` (its Config), ``scenes.py`` (the generated scenes), ``data.py`` (splits,
vocabulary, batches), ``model.py`` (``CaptionModel``), ``pretrain.py`` (the encoder taught
to name the item under each cell first, ``--pretrain-steps``), ``backbone.py``
(torchvision's ResNet in plain torch), ``features.py`` (precomputed annotations),
``api.py`` (``Captioner``: fit, caption, evaluate, load; ``train_run``, ``load_model``,
``evaluate_model``), ``cli.py``.
"""

from rnnkit.tasks.caption.api import Captioner, evaluate_model, load_model, train_run
from rnnkit.tasks.caption.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.caption.model import CaptionModel

__all__ = [
    "CaptionModel", "Captioner", "Config", "FIXED_ON_RESUME", "TASK", "evaluate_model",
    "load_model", "train_run",
]  # fmt: skip
