"""Forecast scores: MAE, RMSE, MAPE, sMAPE and MASE (fractions, not %).

With truth y_i, forecast p_i and error e_i = |y_i - p_i| over the N scored values:

    MAE   = 1/N sum_i e_i
    RMSE  = sqrt(1/N sum_i e_i^2)
    MAPE  = mean over the i with y_i != 0 of e_i / |y_i|          (NaN when every y_i is 0)
    sMAPE = 1/N sum_i 2 e_i / (|y_i| + |p_i|)                     (a term is 0 where both are 0)
    MASE  = MAE / (1/(T-m) sum_{t=m}^{T-1} |h_t - h_{t-m}|)       (per series and column)

MASE scales by the in-sample MAE of the seasonal-naive forecast on the history h_0 .. h_{T-1},
with lag m = season, or 1 when the history is not longer than a season (Hyndman & Koehler 2006).

Unlike sktime, which divides by max(denominator, float eps) and averages per column: MAPE leaves
zero truths out, MASE leaves out columns whose history never changes, and over several columns
MAE...sMAPE pool every value (RMSE is then not sktime's mean of the columns' RMSEs) while MASE
averages the per-column ratios (not sktime's mean MAE over mean scale). tests/metrics/
test_forecasting.py checks the agreement with sktime where there is one, and each difference.
"""

from __future__ import annotations

import math

import numpy as np


def _pair(y: np.ndarray, p: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Truth and forecast as float arrays of one shape."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"{name}: expected truth and forecast of one shape, got {y.shape} and "
                         f"{p.shape}")  # fmt: skip
    return y, p


def mae(y: np.ndarray, p: np.ndarray) -> float:
    """Mean absolute error: 1/N sum_i |y_i - p_i|."""
    y, p = _pair(y, p, "mae")
    return float(np.abs(y - p).mean())


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    """Root mean squared error: sqrt(1/N sum_i (y_i - p_i)^2)."""
    y, p = _pair(y, p, "rmse")
    return float(np.sqrt(((y - p) ** 2).mean()))


def mape(y: np.ndarray, p: np.ndarray) -> float:
    """Mean absolute percentage error over the non-zero truths: mean_{y_i != 0} |y_i - p_i| /
    |y_i|; NaN when every truth is 0."""
    y, p = _pair(y, p, "mape")
    nonzero = y != 0
    if not nonzero.any():
        return math.nan
    return float((np.abs(y - p)[nonzero] / np.abs(y[nonzero])).mean())


def smape(y: np.ndarray, p: np.ndarray) -> float:
    """Symmetric MAPE: 1/N sum_i 2 |y_i - p_i| / (|y_i| + |p_i|), a term 0 where y_i = p_i = 0
    (a perfect forecast of 0)."""
    y, p = _pair(y, p, "smape")
    denom = np.abs(y) + np.abs(p)
    both_zero = denom == 0
    terms = np.where(both_zero, 0.0, 2 * np.abs(y - p) / np.where(both_zero, 1.0, denom))
    return float(terms.mean())


def _columns(x: np.ndarray) -> np.ndarray:
    """(T,) or (T, n) as (T, n)."""
    x = np.asarray(x, dtype=float)
    return x.reshape(len(x), -1)


def _mase_ratios(
    truth: np.ndarray, pred: np.ndarray, history: np.ndarray, season: int
) -> np.ndarray:
    """MAE / seasonal-naive in-sample MAE of each column whose scale is > 0: (<= n,)."""
    if season < 1:
        raise ValueError(f"mase: expected season >= 1, got {season}")
    t, f = _pair(_columns(truth), _columns(pred), "mase")  # (K, n) each
    h = _columns(history)  # (T, n)
    if h.shape[1] != t.shape[1]:
        raise ValueError(f"mase: expected a history of {t.shape[1]} columns, got {h.shape[1]}")
    if len(h) < 2:  # no in-sample forecast to scale by
        return np.empty(0)
    m = season if len(h) > season else 1
    scale = np.abs(h[m:] - h[:-m]).mean(axis=0)  # (n,)
    keep = scale > 0
    return np.abs(t - f).mean(axis=0)[keep] / scale[keep]


def mase(truth: np.ndarray, pred: np.ndarray, history: np.ndarray, season: int) -> float:
    """Mean absolute scaled error of one series: each column's MAE over the in-sample MAE of
    its seasonal-naive forecast (lag ``season``, or 1 when the history is not longer), averaged
    over the columns whose scale is > 0; NaN when none is. truth, pred (K,) or (K, n); history
    (T,) or (T, n)."""
    ratios = _mase_ratios(truth, pred, history, season)
    return float(ratios.mean()) if len(ratios) else math.nan


def _mase_ratios_many(
    truth: list[np.ndarray], pred: list[np.ndarray], history: list[np.ndarray], season: int
) -> np.ndarray:
    """``_mase_ratios`` of every series, computed for the series of one shape together."""
    groups: dict[tuple, list[int]] = {}
    for i, (t, f, h) in enumerate(zip(truth, pred, history, strict=True)):
        groups.setdefault((np.shape(t), np.shape(f), np.shape(h)), []).append(i)
    ratios = []
    for index in groups.values():
        first = _mase_ratios(truth[index[0]], pred[index[0]], history[index[0]], season)  # checks
        if len(index) == 1 or np.shape(history[index[0]])[0] < 2:
            ratios += [first] if len(index) == 1 else []
            continue
        t = np.stack([_columns(truth[i]) for i in index])  # (S, K, n)
        f = np.stack([_columns(pred[i]) for i in index])  # (S, K, n)
        h = np.stack([_columns(history[i]) for i in index])  # (S, T, n)
        m = season if h.shape[1] > season else 1
        scale = np.abs(h[:, m:] - h[:, :-m]).mean(axis=1)  # (S, n)
        keep = scale > 0
        ratios.append(np.abs(t - f).mean(axis=1)[keep] / scale[keep])
    return np.concatenate(ratios) if ratios else np.empty(0)


def scores(
    truth: list[np.ndarray], pred: list[np.ndarray], history: list[np.ndarray], season: int
) -> dict[str, float]:
    """MAE, RMSE, MAPE, sMAPE (fractions, not %) over every held-out value of every series,
    and MASE: each series' MAE over the in-sample MAE of its seasonal-naive forecast, averaged.
    Arrays per series: truth and pred (K, n), history (T, n). Zeros are left out of MAPE.
    Series of one shape are scored together (a catalogue of 10^5 series in well under a
    second)."""
    y, p = np.concatenate(truth), np.concatenate(pred)  # (sum K, n)
    ratios = _mase_ratios_many(truth, pred, history, season)  # (<= series * n,)
    return {
        "mae": mae(y, p),
        "rmse": rmse(y, p),
        "mape": mape(y, p),
        "smape": smape(y, p),
        "mase": float(ratios.mean()) if len(ratios) else math.nan,
    }
