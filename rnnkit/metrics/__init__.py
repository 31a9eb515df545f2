"""Every score and baseline a task reports, on NumPy arrays: classification (accuracy, F1,
confusion, log loss), forecasting (MAE, RMSE, MAPE, sMAPE, MASE) and forecast baselines (naive,
seasonal naive, ETS; ``forecast_baselines`` for many series at once)."""

from rnnkit.metrics.baselines import (
    baseline_methods,
    ets,
    forecast_baselines,
    naive,
    seasonal_naive,
)
from rnnkit.metrics.classification import classification_report, format_report, log_loss
from rnnkit.metrics.exp_smoothing import holt_winters
from rnnkit.metrics.forecasting import mae, mape, mase, rmse, scores, smape

__all__ = [
    "classification_report",
    "log_loss",
    "format_report",
    "mae",
    "rmse",
    "mape",
    "smape",
    "mase",
    "scores",
    "naive",
    "seasonal_naive",
    "ets",
    "baseline_methods",
    "forecast_baselines",
    "holt_winters",
]
