"""Forecast baselines: what a model's scores are compared with.

Each takes a history h_0 .. h_{T-1} (T, n) of n targets, the periods K to forecast and the
season m, and returns the forecast p_0 .. p_{K-1} (K, n) of the periods after the history:

    naive           p_k = h_{T-1}
    seasonal_naive  p_k = h_{T-m+(k mod m)}     (m = 1 when T < m)
    ets             statsmodels' Holt-Winters exponential smoothing, additive trend and season

``forecast_baselines`` makes them for many series at once: naive and seasonal naive as array
operations, and ETS as ``rnnkit.metrics.exp_smoothing`` (the same model fitted for every series
together, instead of statsmodels one series at a time: 5,000 series of 120 periods in seconds).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from rnnkit.metrics.exp_smoothing import holt_winters

Baseline = Callable[[np.ndarray, int, int], np.ndarray]
BASELINE_KINDS = ("none", "fast", "all")  # --baselines: none, naive ones, naive ones and ETS


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


def forecast_baselines(
    histories: list[np.ndarray], periods: int, season: int, kind: str = "all"
) -> dict[str, list[np.ndarray]]:
    """The baselines' forecasts (periods, n) of each history (T, n) (or (periods,) of a (T,)),
    by name: none, "fast" (naive, seasonal_naive) or "all" (and ets, by ``holt_winters``)."""
    if kind not in BASELINE_KINDS:
        raise ValueError(f"--baselines: expected one of {', '.join(BASELINE_KINDS)}, got {kind!r}")
    if periods < 1 or season < 1:
        raise ValueError(
            f"forecast_baselines: expected periods >= 1 and season >= 1, got {periods} and {season}"
        )
    if kind == "none":
        return {}
    for i, h in enumerate(histories):
        if len(h) == 0:
            raise ValueError(f"forecast_baselines: history {i} is empty; expected >= 1 period")
    cols = [np.asarray(h, dtype=np.float64).reshape(len(h), -1) for h in histories]  # (T, n)
    naive_out, seasonal_out = [np.empty(0)] * len(cols), [np.empty(0)] * len(cols)
    groups: dict[tuple[int, int], list[int]] = {}  # (lag, columns) -> histories
    for i, c in enumerate(cols):
        groups.setdefault((season if len(c) >= season else 1, c.shape[1]), []).append(i)
    ahead = np.arange(periods)
    for (m, _), index in groups.items():
        tails = np.stack([cols[i][-m:] for i in index])  # (N, m, n): the last season
        last = np.repeat(tails[:, -1:], periods, axis=1)  # (N, K, n)
        repeated = tails[:, ahead % m]  # (N, K, n)
        for i, a, b in zip(index, last, repeated, strict=True):
            shape = (periods, *np.shape(histories[i])[1:])
            naive_out[i], seasonal_out[i] = a.reshape(shape), b.reshape(shape)
    out = {"naive": naive_out, "seasonal_naive": seasonal_out}
    if kind == "all":
        out["ets"] = holt_winters(histories, periods, season)
    return out
