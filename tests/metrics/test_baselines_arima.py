"""rnnkit.metrics.arima: the automatic SARIMA that --model auto averages with its choice."""

import numpy as np
import pytest

pytest.importorskip("statsmodels")

from rnnkit.metrics import arima as arima_module  # noqa: E402
from rnnkit.metrics.arima import arima, auto_arima  # noqa: E402


def _ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(1, n):
        y[t] = phi * y[t - 1] + rng.normal()
    return 10 + y


def test_auto_arima_finds_an_ar1_and_forecasts_towards_its_mean(monkeypatch):
    monkeypatch.setattr(arima_module, "MAX_PQ", 1)  # 4 models, for time
    y = _ar1(80, 0.8, seed=1)
    forecast, order = auto_arima(y, 12, 1)
    assert order[3] == "0" and order != "(0,0,0)"  # stationary: d = 0, and not white noise
    assert forecast.shape == (12,)
    gaps = np.abs(forecast - y.mean())
    assert gaps[-1] < gaps[0]  # mean-reverting


def test_auto_arima_differences_a_random_walk_and_a_strong_season(monkeypatch):
    monkeypatch.setattr(arima_module, "MAX_PQ", 0)  # one model: the differences are tested
    monkeypatch.setattr(arima_module, "MAX_SEASONAL_PQ", 0)
    walk = np.cumsum(np.random.default_rng(2).normal(size=120)) + 100
    assert auto_arima(walk, 5, 1)[1] == "(0,1,0)"
    both = arima(np.stack([walk, walk + 5], axis=1), 5, 1)  # per column: (T, n) -> (K, n)
    np.testing.assert_allclose(both, [[walk[-1], walk[-1] + 5]] * 5, rtol=1e-6)  # a walk: naive
    t = np.arange(48)
    seasonal = 20 * np.sin(2 * np.pi * t / 4) + np.random.default_rng(3).normal(0, 1, 48)
    forecast, order = auto_arima(seasonal, 8, 4)
    assert order == "(0,0,0)(0,1,0)[4]"  # D = 1: the seasonal naive forecast
    np.testing.assert_allclose(forecast, 20 * np.sin(2 * np.pi * np.arange(48, 56) / 4), atol=4)


def test_auto_arima_carries_a_drift_on_with_one_difference(monkeypatch):
    monkeypatch.setattr(arima_module, "MAX_PQ", 0)
    rng = np.random.default_rng(4)
    trending = np.cumsum(2.0 + rng.normal(size=60))  # a walk that climbs 2 a period
    forecast, order = auto_arima(trending, 6, 1)
    assert order == "(0,1,0) with drift"  # AIC keeps the constant: with d = 1 it is the drift
    steps = np.diff(np.concatenate([[trending[-1]], forecast]))
    np.testing.assert_allclose(steps, np.diff(trending).mean(), rtol=1e-3)  # the mean climb
    monkeypatch.setattr(arima_module, "MAX_PQ", 1)
    ar1 = _ar1(80, 0.8, seed=1) + 50  # stationary around 50: the constant is the mean
    assert auto_arima(ar1, 4, 1)[1].endswith(" with mean")


def test_auto_arima_bad_input():
    with pytest.raises(ValueError, match="auto_arima: expected a 1-D series"):
        auto_arima(np.ones((5, 2)), 3, 1)
    with pytest.raises(ValueError, match="periods >= 1"):
        auto_arima(np.arange(10.0), 0, 1)
