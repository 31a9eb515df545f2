"""Forecast baselines: what a model's scores are compared with.

Each takes a history h_0 .. h_{T-1} (T, n) of n targets, the periods K to forecast and the
season m, and returns the forecast p_0 .. p_{K-1} (K, n) of the periods after the history:

    naive           p_k = h_{T-1}
    seasonal_naive  p_k = h_{T-m+(k mod m)}     (m = 1 when T < m)
    ets             statsmodels' Holt-Winters exponential smoothing, additive trend and season
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

Baseline = Callable[[np.ndarray, int, int], np.ndarray]


def naive(history: np.ndarray, periods: int, season: int) -> np.ndarray:
    """The last value of ``history`` (T, n), repeated: (periods, n)."""
    return np.repeat(history[-1:], periods, axis=0)


def seasonal_naive(history: np.ndarray, periods: int, season: int) -> np.ndarray:
    """The value one season earlier: (periods, n). Falls back to naive if too short."""
    m = season if len(history) >= season else 1
    return history[len(history) - m + np.arange(periods) % m]


def ets(history: np.ndarray, periods: int, season: int) -> np.ndarray:
    """statsmodels' ExponentialSmoothing, additive trend (and additive season when m > 1 and
    two seasons are known), per column: (periods, n). Its fitting warnings are silenced."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    out = np.empty((periods, history.shape[1]))
    seasonal = "add" if season > 1 and len(history) >= 2 * season else None
    for j in range(history.shape[1]):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # convergence and overflow notes of the optimizer
            fit = ExponentialSmoothing(
                history[:, j], trend="add", seasonal=seasonal,
                seasonal_periods=season if seasonal else None, initialization_method="estimated",
            ).fit()  # fmt: skip
            out[:, j] = fit.forecast(periods)
    return out


def baseline_methods() -> dict[str, Baseline]:
    """The baselines eval compares with: naive, seasonal_naive and, with statsmodels, ets."""
    methods: dict[str, Baseline] = {"naive": naive, "seasonal_naive": seasonal_naive}
    try:
        import statsmodels  # noqa: F401
    except ImportError:
        return methods
    return methods | {"ets": ets}
