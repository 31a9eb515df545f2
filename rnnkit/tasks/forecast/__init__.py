"""Sequence regression and forecasting: ``rnnkit forecast train | predict | eval`` and
``Forecaster``.

``config.py`` (its Config), ``model.py`` (``RegLSTM`` and ``forecast``), ``esrnn.py`` (ES-RNN),
``methods.py`` (every model of a run behind ``predict_panel``; ETS and seasonal naive as
``Statistical``), ``data.py`` (the panel of a config, the lengths resolved for short series,
layout, scalers, the forecast table), ``backtest.py`` (rolling-origin evaluation),
``select.py`` (``--model auto``), ``api.py`` (``Forecaster``: fit, predict, evaluate,
cross_validation, load; ``fit_run``, ``train_model``, ``evaluate_holdout``), ``cli.py``.
"""

from rnnkit.metrics import baseline_methods, ets, naive, scores, seasonal_naive
from rnnkit.tasks.forecast.api import (
    Fitted,
    Forecaster,
    build_model,
    evaluate_holdout,
    fit_run,
    load_run,
    train_model,
)
from rnnkit.tasks.forecast.backtest import Backtest, backtest
from rnnkit.tasks.forecast.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.forecast.data import forecast_frame, layout_of, load_panel, scalers_for
from rnnkit.tasks.forecast.methods import Statistical, predict_panel
from rnnkit.tasks.forecast.model import RegLSTM, forecast, median_index
from rnnkit.tasks.forecast.select import select_model

__all__ = [
    "Backtest", "Config", "FIXED_ON_RESUME", "Fitted", "Forecaster", "RegLSTM", "Statistical",
    "TASK", "backtest", "baseline_methods", "build_model", "ets", "evaluate_holdout", "fit_run",
    "forecast", "forecast_frame", "layout_of", "load_panel", "load_run", "median_index", "naive",
    "predict_panel", "scalers_for", "scores", "seasonal_naive", "select_model", "train_model",
]  # fmt: skip
