"""Character-level language model: ``rnnkit charlm train | sample | eval`` and ``CharLM``.

The model reads a stream of characters and predicts the next one (Karpathy's char-rnn):
``config.py`` (its Config and the NumPy engine's presets), ``model.py`` (``CharLMNet``, scoring
and sampling), ``numpy_engine.py`` (the same model on the NumPy engine; ``--preset
min-char-rnn``), ``api.py`` (``CharLM``: fit, sample, score, load; ``train_run``), ``cli.py``.
Training streams contiguous batches with the recurrent state carried from one batch to the next
(truncated BPTT) through the one trainer.
"""

from rnnkit.tasks.charlm.api import CharLM, load_model, score_ids, train_run
from rnnkit.tasks.charlm.config import FIXED_ON_RESUME, TASK, Config, preset_values
from rnnkit.tasks.charlm.model import EVAL_ROWS, CharLMNet, evaluate_text, sample_text

__all__ = [
    "CharLM", "CharLMNet", "Config", "EVAL_ROWS", "FIXED_ON_RESUME", "TASK", "evaluate_text",
    "load_model", "preset_values", "sample_text", "score_ids", "train_run",
]  # fmt: skip
