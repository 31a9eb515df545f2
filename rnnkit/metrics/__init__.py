"""Every score and baseline a task reports, on NumPy arrays: classification (accuracy, F1,
confusion, log loss), forecasting (MAE, RMSE, MAPE, sMAPE, MASE) and forecast baselines (naive,
seasonal naive, ETS)."""

from rnnkit.metrics.baselines import baseline_methods, ets, naive, seasonal_naive
from rnnkit.metrics.classification import classification_report, format_report, log_loss
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
]
