"""Sequence regression and forecasting: ``rnnkit forecast train | predict | eval`` and
``Forecaster``.

``config.py`` (its Config), ``model.py`` (``RegLSTM`` and ``forecast``), ``data.py`` (the
panel of a config, layout, scalers, the forecast table), ``api.py`` (``Forecaster``: fit,
predict, evaluate, load; ``train_model``, ``evaluate_holdout``), ``cli.py`` (the verbs).
"""

from rnnkit.metrics import baseline_methods, ets, naive, scores, seasonal_naive
from rnnkit.tasks.forecast.api import (
    Forecaster,
    build_model,
    evaluate_holdout,
    load_run,
    train_model,
)
from rnnkit.tasks.forecast.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.forecast.data import forecast_frame, layout_of, load_panel, scalers_for
from rnnkit.tasks.forecast.model import RegLSTM, forecast, median_index

__all__ = [
    "Config", "FIXED_ON_RESUME", "Forecaster", "RegLSTM", "TASK", "baseline_methods",
    "build_model", "ets", "evaluate_holdout", "forecast", "forecast_frame", "layout_of",
    "load_panel", "load_run", "median_index", "naive", "scalers_for", "scores", "seasonal_naive",
    "train_model",
]  # fmt: skip
