"""rnnkit.metrics.forecasting and .baselines against sktime and statsmodels, and by hand."""

import math
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from rnnkit.metrics import (
    baseline_methods,
    ets,
    mae,
    mape,
    mase,
    naive,
    rmse,
    scores,
    seasonal_naive,
    smape,
)
from rnnkit.metrics.forecasting import _mase_ratios

# sktime 1.2 warns on every forecaster it builds that a config default will change in 1.3
SKTIME_REMEMBER_DATA = "ignore:The default of config ``remember_data``:FutureWarning"


@pytest.fixture(scope="module")
def skf():
    """sktime.performance_metrics.forecasting, imported once (it is slow to import)."""
    return pytest.importorskip("sktime.performance_metrics.forecasting")


def _series(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A positive truth and a noisy forecast of it."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(1, 10, shape)
    return y, y + rng.normal(0, 2, shape)


# ---------------------------------------------------------------------------------------------
# scores


@pytest.mark.parametrize("shape", [(30,), (30, 1), (30, 3)])
def test_scores_match_sktime(skf, shape):
    y, p = _series(0, shape)
    assert mae(y, p) == pytest.approx(skf.mean_absolute_error(y, p), rel=1e-12)
    # ours pools every value; sktime averages the columns' RMSEs, so compare on one column
    sk_rmse = skf.mean_squared_error(y.ravel(), p.ravel(), square_root=True)
    assert rmse(y, p) == pytest.approx(sk_rmse, rel=1e-12)
    sk_mape = skf.mean_absolute_percentage_error(y, p, symmetric=False)
    assert mape(y, p) == pytest.approx(sk_mape, rel=1e-12)
    sk_smape = skf.mean_absolute_percentage_error(y, p, symmetric=True)
    assert smape(y, p) == pytest.approx(sk_smape, rel=1e-12)


def test_mape_leaves_zero_truths_out(skf):
    # sktime divides by max(|y|, eps), so a zero truth weighs |p| / eps: ours leaves it out
    y, p = _series(1, (40,))
    y[::4] = 0.0
    expected = skf.mean_absolute_percentage_error(y[y != 0], p[y != 0], symmetric=False)
    assert mape(y, p) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(mape(np.zeros(5), np.arange(5.0)))


def test_smape_of_both_zero_is_zero(skf):
    y, p = _series(2, (40,))
    both = np.arange(40) % 5 == 0
    y[both], p[both], y[1] = 0.0, 0.0, 0.0  # y[1] alone 0: a term of 2
    rest = skf.mean_absolute_percentage_error(y[~both], p[~both], symmetric=True)
    assert smape(y, p) == pytest.approx(rest * (~both).sum() / len(y), rel=1e-12)  # 0 each
    assert smape(y, p) == pytest.approx(skf.mean_absolute_percentage_error(y, p, symmetric=True))
    assert smape(np.zeros(3), np.zeros(3)) == 0.0
    assert smape(np.array([0.0, 1.0]), np.array([0.0, -1.0])) == 1.0  # (0 + 2) / 2


@pytest.mark.parametrize("columns", [1, 3])
@pytest.mark.parametrize("length", [3, 4, 5, 24])  # season 4: lag 1, 1, 4, 4
def test_mase_matches_sktime_per_column(skf, columns, length):
    season = 4
    rng = np.random.default_rng(length)
    history = rng.uniform(1, 10, (length, columns))
    y, p = _series(length, (6, columns))
    lag = season if length > season else 1
    per_column = skf.mean_absolute_scaled_error(
        y, p, y_train=history, sp=lag, multioutput="raw_values"
    )
    assert mase(y, p, history, season) == pytest.approx(np.mean(per_column), rel=1e-12)
    if columns == 1:  # one series as 1-d arrays
        assert mase(y[:, 0], p[:, 0], history[:, 0], season) == pytest.approx(per_column[0])


def test_mase_leaves_flat_histories_out(skf):
    # sktime divides by max(scale, eps): ours leaves out a column whose history never changes
    history = np.column_stack([np.arange(10.0) % 3, np.full(10, 5.0)])  # (10, 2)
    y, p = _series(3, (4, 2))
    expected = skf.mean_absolute_scaled_error(y[:, 0], p[:, 0], y_train=history[:, 0], sp=2)
    assert mase(y, p, history, 2) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(mase(y[:, 1], p[:, 1], history[:, 1], 2))
    assert math.isnan(mase(y, p, history[:1], 2))  # one period: nothing to scale by


def test_scores_of_several_series(skf):
    season, rng = 3, np.random.default_rng(4)
    pairs = [_series(seed, (k, 2)) for seed, k in enumerate([5, 2, 7])]
    truth, pred = [y for y, _ in pairs], [p for _, p in pairs]
    history = [rng.uniform(1, 10, (t, 2)) for t in (12, 3, 8)]  # the 2nd falls back to lag 1
    y, p = np.concatenate(truth), np.concatenate(pred)  # (14, 2)
    result = scores(truth, pred, history, season)
    assert list(result) == ["mae", "rmse", "mape", "smape", "mase"]
    assert result["mae"] == pytest.approx(skf.mean_absolute_error(y, p), rel=1e-12)
    sk_rmse = skf.mean_squared_error(y.ravel(), p.ravel(), square_root=True)  # pooled
    assert result["rmse"] == pytest.approx(sk_rmse, rel=1e-12)
    assert result["mape"] == pytest.approx(skf.mean_absolute_percentage_error(y, p), rel=1e-12)
    sk_smape = skf.mean_absolute_percentage_error(y, p, symmetric=True)
    assert result["smape"] == pytest.approx(sk_smape, rel=1e-12)
    ratios = [
        skf.mean_absolute_scaled_error(
            t, f, y_train=h, sp=season if len(h) > season else 1, multioutput="raw_values"
        )
        for t, f, h in zip(truth, pred, history, strict=True)
    ]  # each (2,)
    assert result["mase"] == pytest.approx(np.mean(ratios), rel=1e-12)


def test_scores_refuse_unequal_shapes():
    with pytest.raises(ValueError, match=r"mae: expected truth and forecast of one shape"):
        mae(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"mase: expected a history of 2 columns, got 1"):
        mase(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((5, 1)), 1)
    with pytest.raises(ValueError, match=r"mase: expected season >= 1, got 0"):
        mase(np.zeros(3), np.zeros(3), np.zeros(5), 0)


# ---------------------------------------------------------------------------------------------
# baselines


def _sktime_naive(history: np.ndarray, periods: int, sp: int) -> np.ndarray:
    naive_forecaster = pytest.importorskip("sktime.forecasting.naive").NaiveForecaster
    forecaster = naive_forecaster(strategy="last", sp=sp).fit(pd.DataFrame(history))
    return forecaster.predict(fh=np.arange(1, periods + 1)).to_numpy()  # (periods, n)


@pytest.mark.filterwarnings(SKTIME_REMEMBER_DATA)
@pytest.mark.parametrize("columns", [1, 3])
@pytest.mark.parametrize("length", [4, 5, 13])  # season 4: as long as a season, and longer
def test_naive_baselines_match_sktime(columns, length):
    history = np.random.default_rng(length).uniform(1, 10, (length, columns))
    np.testing.assert_array_equal(naive(history, 9, 4), _sktime_naive(history, 9, 1))
    np.testing.assert_array_equal(seasonal_naive(history, 9, 4), _sktime_naive(history, 9, 4))


def test_seasonal_naive_falls_back_to_naive():
    # sktime leaves the periods it has no value a season earlier for NaN; ours repeats the last
    history = np.arange(6.0).reshape(3, 2)  # shorter than the season
    np.testing.assert_array_equal(seasonal_naive(history, 4, 12), naive(history, 4, 12))
    np.testing.assert_array_equal(naive(history, 2, 12), [[4.0, 5.0], [4.0, 5.0]])


@pytest.mark.parametrize("length", [30, 10])  # two seasons known: additive season; else none
def test_ets_is_statsmodels(length):
    holtwinters = pytest.importorskip("statsmodels.tsa.holtwinters")
    rng, season = np.random.default_rng(5), 6
    t = np.arange(length)[:, None]
    history = 10 + 0.2 * t + np.sin(2 * np.pi * t / season) + rng.normal(0, 0.3, (length, 2))
    out = ets(history, 7, season)
    assert out.shape == (7, 2) and np.isfinite(out).all()
    seasonal = "add" if length >= 2 * season else None
    for j in range(2):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fit = holtwinters.ExponentialSmoothing(
                history[:, j], trend="add", seasonal=seasonal,
                seasonal_periods=season if seasonal else None, initialization_method="estimated",
            ).fit()  # fmt: skip
        np.testing.assert_allclose(out[:, j], fit.forecast(7), rtol=1e-12)


def test_baseline_methods(monkeypatch):
    pytest.importorskip("statsmodels")
    assert baseline_methods() == {"naive": naive, "seasonal_naive": seasonal_naive, "ets": ets}
    monkeypatch.setitem(sys.modules, "statsmodels", None)  # import statsmodels fails
    assert baseline_methods() == {"naive": naive, "seasonal_naive": seasonal_naive}


# ---------------------------------------------------------------------------------------------
# where ours and sktime's differ on purpose (the module docstring's list), and by how much


def test_mape_with_a_zero_truth_differs_from_sktime_by_design(skf):
    y, p = _series(6, (12,))
    y[3] = 0.0
    theirs = skf.mean_absolute_percentage_error(y, p, symmetric=False)
    eps = np.finfo(np.float64).eps
    assert theirs == pytest.approx((np.abs(y - p) / np.maximum(np.abs(y), eps)).mean())
    assert theirs > 1e12  # one zero truth weighs |p| / eps: the score says nothing else
    assert mape(y, p) == pytest.approx(skf.mean_absolute_percentage_error(y[y != 0], p[y != 0]))


def test_mase_of_a_flat_history_differs_from_sktime_by_design(skf):
    y, p = _series(7, (5,))
    flat = np.full(12, 4.0)
    assert skf.mean_absolute_scaled_error(y, p, y_train=flat, sp=1) > 1e12  # MAE / eps
    assert math.isnan(mase(y, p, flat, 1))


def test_columns_pool_where_sktime_averages(skf):
    y, p = _series(8, (6, 3))
    p[:, 2] += 5.0  # one column much worse: the averages part
    history = np.random.default_rng(8).uniform(1, 10, (20, 3)) * [1.0, 1.0, 10.0]  # (20, 3)
    # RMSE: ours of every value pooled = sktime's of one column; sktime's mean of the columns'
    column_rmse = skf.mean_squared_error(y, p, square_root=True, multioutput="raw_values")
    assert skf.mean_squared_error(y, p, square_root=True) == pytest.approx(column_rmse.mean())
    assert rmse(y, p) == pytest.approx(np.sqrt((column_rmse**2).mean()), rel=1e-12)
    assert rmse(y, p) > column_rmse.mean() * 1.01
    # MASE: ours the mean of the columns' ratios; sktime's the mean MAE over the mean scale
    ratios = skf.mean_absolute_scaled_error(y, p, y_train=history, sp=4, multioutput="raw_values")
    assert mase(y, p, history, 4) == pytest.approx(ratios.mean(), rel=1e-12)
    scale = np.abs(history[4:] - history[:-4]).mean(axis=0)  # (3,)
    theirs = skf.mean_absolute_scaled_error(y, p, y_train=history, sp=4)
    assert theirs == pytest.approx(np.abs(y - p).mean() / scale.mean(), rel=1e-12)
    assert abs(mase(y, p, history, 4) - theirs) > 0.05


def test_scores_of_many_series_are_the_per_series_ones():
    rng, season = np.random.default_rng(9), 4
    shapes = [(6, 20), (6, 20), (5, 20), (3, 4), (3, 4), (2, 1), (2, 1)]  # (K, T), 2 columns
    truth, pred, history = [], [], []
    for k, t in shapes * 3:  # groups of one shape, short and one-period histories
        truth.append(rng.normal(size=(k, 2)))
        pred.append(rng.normal(size=(k, 2)))
        history.append(rng.normal(size=(t, 2)))
    history[1][:, 0] = 1.0  # a flat column: left out
    ratios = np.concatenate(
        [_mase_ratios(t, f, h, season) for t, f, h in zip(truth, pred, history, strict=True)]
    )
    assert scores(truth, pred, history, season)["mase"] == pytest.approx(ratios.mean(), rel=1e-12)
    with pytest.raises(ValueError, match="mase: expected a history of 2 columns, got 1"):
        scores(truth[:2], pred[:2], [history[0], history[0][:, :1]], season)
