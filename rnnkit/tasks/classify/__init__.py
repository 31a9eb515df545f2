"""Sequence classification and tagging, and image classification: ``rnnkit classify train |
eval | predict`` and ``Classifier``.

``config.py`` (its Config), ``model.py`` (``RecurrentClassifier``, ``LSTMFCN``),
``image_model.py`` (``ImageClassifier``: CNN, ST-CNN, ST-LSTM), ``data.py`` (named sets,
image folders, splits), ``api.py`` (``Classifier``: fit, predict, predict_proba, evaluate, load;
``train_run``, ``evaluate_model``), ``cli.py`` (the verbs).
"""

from rnnkit.data.ucr import LabelEncoder, load_file, stratified_split
from rnnkit.metrics import classification_report, format_report
from rnnkit.nn import MaskedBatchNorm1d
from rnnkit.tasks.classify.api import (
    Classifier,
    evaluate_model,
    load_model,
    mean_loss,
    predict_proba,
    train_run,
)
from rnnkit.tasks.classify.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.classify.data import load_named, load_splits
from rnnkit.tasks.classify.image_model import ImageClassifier
from rnnkit.tasks.classify.model import (
    LSTMFCN,
    RecurrentClassifier,
    SequenceClassifier,
    build_model,
)

__all__ = [
    "Classifier", "Config", "FIXED_ON_RESUME", "ImageClassifier", "LSTMFCN", "LabelEncoder",
    "MaskedBatchNorm1d",
    "RecurrentClassifier", "SequenceClassifier", "TASK", "build_model", "classification_report",
    "evaluate_model", "format_report", "load_file", "load_model", "load_named", "load_splits",
    "mean_loss", "predict_proba", "stratified_split", "train_run",
]  # fmt: skip
