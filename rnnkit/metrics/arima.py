"""An automatic seasonal ARIMA on statsmodels' SARIMAX (pmdarima's ``auto_arima``, which
sktime's AutoARIMA wraps, is not a dependency).

The seasonal difference D is taken when the STL seasonal strength is >= 0.64 (Hyndman's rule),
the difference d by repeated KPSS tests (as pmdarima does), and the orders p, q <= 2, P, Q <= 1
and the constant minimize AIC: 9 orders, 36 with a season, each fitted by maximum likelihood
with and without a constant where d + D <= 1 (the mean, or with one difference the drift: a
trend that the forecast carries on; twice the fits), without one where d + D = 2, as Hyndman &
Khandakar's auto.arima (2008) searches it. BLAS runs on one thread meanwhile (with
threadpoolctl): its threads only wait on matrices this small, and on a machine shared with other
jobs a search took 16 times longer with two.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings

import numpy as np

MAX_PQ, MAX_SEASONAL_PQ = 2, 1


def auto_arima(y: np.ndarray, periods: int, season: int) -> tuple[np.ndarray, str]:
    """Forecast ``periods`` after the 1-D series ``y`` with the SARIMA of least AIC: the
    forecast (periods,) and the order, e.g. ``(1,1,0)(0,1,1)[12]``."""
    from statsmodels.tsa.seasonal import STL
    from statsmodels.tsa.statespace.sarimax import SARIMAX
    from statsmodels.tsa.stattools import kpss

    y, m = np.asarray(y, dtype=np.float64), season
    if y.ndim != 1 or len(y) < 4 or periods < 1 or m < 1:
        raise ValueError(f"auto_arima: expected a 1-D series of >= 4 periods, periods >= 1 and "
                         f"season >= 1, got shape {y.shape}, {periods} and {m}")  # fmt: skip
    with warnings.catch_warnings(), np.errstate(all="ignore"), _one_blas_thread():
        warnings.simplefilter("ignore")  # convergence and interpolation notes of statsmodels
        seasonal_d = 0
        if m > 1 and len(y) >= 3 * m:
            fit = STL(y, period=m, robust=True).fit()
            strength = 1 - np.var(fit.resid) / np.var(fit.seasonal + fit.resid)
            seasonal_d = int(strength >= 0.64)
        z = y[m:] - y[:-m] if seasonal_d else y
        d = 0
        while d < 2 and len(z) - d > 3 and np.ptp(np.diff(z, d)) > 0:
            if kpss(np.diff(z, d), regression="c", nlags="auto")[1] >= 0.05:
                break
            d += 1
        best: tuple[float, object, str] = (np.inf, None, "")
        pq = itertools.product(range(MAX_PQ + 1), range(MAX_PQ + 1))
        seasonal_pq = itertools.product(range(MAX_SEASONAL_PQ + 1), repeat=2) if m > 1 else [(0, 0)]
        constants = ("c", None) if d + seasonal_d <= 1 else (None,)  # "c" with d=1: drift
        for (p, q), (sp, sq), trend in itertools.product(pq, list(seasonal_pq), constants):
            order, seasonal = (p, d, q), (sp, seasonal_d, sq, m if m > 1 else 0)
            try:
                result = SARIMAX(y, order=order, seasonal_order=seasonal, trend=trend).fit(
                    disp=False
                )
            except (np.linalg.LinAlgError, ValueError):
                continue
            if np.isfinite(result.aic) and result.aic < best[0]:
                name = f"({p},{d},{q})" + (f"({sp},{seasonal_d},{sq})[{m}]" if m > 1 else "")
                if trend:
                    name += " with drift" if d + seasonal_d else " with mean"
                best = (result.aic, result, name)
        if best[1] is None:  # nothing fitted: the last value, as naive
            return np.repeat(y[-1], periods), "none (naive)"
        return np.asarray(best[1].forecast(periods), dtype=np.float64), best[2]


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def arima(history: np.ndarray, periods: int, season: int) -> np.ndarray:
    """``auto_arima`` per column of ``history`` (T, n): (periods, n)."""
    return np.stack([auto_arima(col, periods, season)[0] for col in history.T], axis=1)
