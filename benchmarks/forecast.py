"""rnnkit forecast (its defaults, 5 seeds) vs seasonal naive, ETS and auto-ARIMA, same split.

    python benchmarks/forecast.py [--seeds 5] [--datasets airline,co2,sunspots]

Each dataset's last periods are held out (airline: the last 36 of 144 months, the split of
sktime's forecasting tutorial, where seasonal naive scores MAPE 0.132, ExponentialSmoothing
0.051 and AutoARIMA 0.041; co2: the last 36 months; sunspots: the last 22 years, two solar
cycles). rnnkit trains with its defaults only (``Forecaster(dataset=NAME, holdout=K, seed=S)``,
the same as ``rnnkit forecast train --dataset NAME --holdout K --seed S``) on the periods
before, once per seed, and is scored on the held-out periods. In the same run and on the same
split:

- seasonal naive and ETS are rnnkit's own eval baselines (statsmodels ExponentialSmoothing,
  additive trend and season, as in the sktime tutorial);
- ARIMA is an auto-ARIMA written here on statsmodels' SARIMAX (pmdarima, which sktime's
  AutoARIMA wraps, is not installed): the seasonal difference D is taken when the STL seasonal
  strength is >= 0.64 (Hyndman's rule), the difference d by repeated KPSS tests (as pmdarima
  does), and the orders p, q <= 2, P, Q <= 1 minimize AIC.

The tables print MAPE (a fraction), sMAPE and MASE, and the ratio of rnnkit's mean MAPE over
each baseline's (below 1: rnnkit is better).
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np

from rnnkit.data.datasets import load_dataset
from rnnkit.tasks.forecast import Forecaster, scores

HOLDOUT = {"airline": 36, "co2": 36, "sunspots": 22}
SKTIME_TUTORIAL = {"seasonal naive": 0.132, "ETS": 0.051, "ARIMA": 0.041}  # airline MAPE


def auto_arima(y: np.ndarray, periods: int, m: int) -> tuple[np.ndarray, str]:
    """Forecast ``periods`` ahead with the SARIMA of least AIC (see the module docstring)."""
    from statsmodels.tsa.seasonal import STL
    from statsmodels.tsa.statespace.sarimax import SARIMAX
    from statsmodels.tsa.stattools import kpss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and interpolation notes of statsmodels
        seasonal_d = 0
        if m > 1 and len(y) >= 3 * m:
            fit = STL(y, period=m, robust=True).fit()
            strength = 1 - np.var(fit.resid) / np.var(fit.seasonal + fit.resid)
            seasonal_d = int(strength >= 0.64)
        z = y[m:] - y[:-m] if seasonal_d else y
        d = 0
        while d < 2 and kpss(np.diff(z, d), regression="c", nlags="auto")[1] < 0.05:
            d += 1
        best = (np.inf, None, "")
        seasonal_orders = itertools.product(range(2), range(2)) if m > 1 else [(0, 0)]
        for (p, q), (sp, sq) in itertools.product(
            itertools.product(range(3), range(3)), list(seasonal_orders)
        ):
            order, seasonal = (p, d, q), (sp, seasonal_d, sq, m if m > 1 else 0)
            trend = "c" if d + seasonal_d == 0 else None
            try:
                result = SARIMAX(y, order=order, seasonal_order=seasonal, trend=trend).fit(
                    disp=False
                )
            except (np.linalg.LinAlgError, ValueError):
                continue
            if result.aic < best[0]:
                name = f"({p},{d},{q})" + (f"({sp},{seasonal_d},{sq})[{m}]" if m > 1 else "")
                best = (result.aic, result, name)
        return best[1].forecast(periods), best[2]


def run_dataset(name: str, seeds: int) -> None:
    holdout = HOLDOUT[name]
    data = load_dataset(name)
    y = data.frame[data.target[0]].to_numpy(dtype=float)
    history, truth = y[:-holdout, None], y[-holdout:, None]
    print(f"\n{name}: last {holdout} of {len(y)} periods held out, season {data.season}")
    rows, mapes = [], []
    t0 = time.perf_counter()
    for seed in range(seeds):
        result = Forecaster(dataset=name, holdout=holdout, seed=seed).fit().evaluate()
        mapes.append(result["model"]["mape"])
        rows.append((f"rnnkit seed {seed}", result["model"]))
    seconds = (time.perf_counter() - t0) / seeds
    baselines = result["baselines"]
    mean = {k: float(np.mean([r[1][k] for r in rows])) for k in ("mape", "smape", "mase")}
    rows.append((f"rnnkit mean of {seeds}", mean))
    forecast, order = auto_arima(y[:-holdout], holdout, data.season)
    table = [
        ("seasonal naive", "seasonal naive", baselines["seasonal_naive"]),
        ("ETS", "ETS", baselines["ets"]),
        ("ARIMA", f"auto-ARIMA {order}",
         scores([truth], [forecast[:, None]], [history], data.season)),
    ]  # fmt: skip
    print(f"{'':34}{'MAPE':>9}{'sMAPE':>9}{'MASE':>9}{'rnnkit/it':>11}" +
          ("   sktime tutorial" if name == "airline" else ""))  # fmt: skip
    for label, s in rows:
        print(f"{label:34}{s['mape']:9.4f}{s['smape']:9.4f}{s['mase']:9.3f}")
    for key, label, s in table:
        ref_text = f"{SKTIME_TUTORIAL[key]:18.3f}" if name == "airline" else ""
        print(f"{label:34}{s['mape']:9.4f}{s['smape']:9.4f}{s['mase']:9.3f}"
              f"{mean['mape'] / s['mape']:11.2f}{ref_text}")  # fmt: skip
    print(f"rnnkit: {seconds:.1f} s per seed (train + eval); MAPEs " +
          " ".join(f"{m:.4f}" for m in mapes))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", default="airline,co2,sunspots")
    args = parser.parse_args()
    for name in args.datasets.split(","):
        run_dataset(name, args.seeds)


if __name__ == "__main__":
    main()
