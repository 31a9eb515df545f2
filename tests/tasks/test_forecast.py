"""rnnkit forecast: RegLSTM against torch.nn, the inverse pipeline, metrics, CLI and API."""

import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import fails
from torch import nn

from rnnkit.cli import main
from rnnkit.data.series import panel_from_array, split_points
from rnnkit.data.series_windows import Layout, fit_scaler
from rnnkit.tasks.forecast import (
    Forecaster,
    RegLSTM,
    baseline_methods,
    evaluate_holdout,
    forecast,
    naive,
    scores,
    seasonal_naive,
)

TINY = ["--hidden-size", "8", "--max-steps", "30", "--eval-every", "15", "--warmup-steps", "0",
        "--input-length", "12", "--no-tensorboard", "--model", "reglstm"]  # fmt: skip
TINY_API = {"hidden_size": 8, "max_steps": 30, "eval_every": 15, "warmup_steps": 0,
            "input_length": 12, "model": "reglstm"}  # fmt: skip


def seasonal_series(n: int, rng: np.random.Generator, level: float = 100.0) -> np.ndarray:
    t = np.arange(n)
    return level + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, n)


@pytest.fixture
def sales_csv(tmp_path):
    """Two monthly series (60 months) with a known-future covariate, and the same file with six
    future rows per series (covariate known, target empty) for predict."""
    rng = np.random.default_rng(0)
    frames, future = [], []
    for sid, level in (("north", 100.0), ("south", 300.0)):
        times = pd.date_range("2015-01-01", periods=66, freq="MS")
        promo = (np.arange(66) % 5 == 0).astype(float)
        sales = seasonal_series(66, rng, level) + 5 * promo
        frame = pd.DataFrame({"month": times, "shop": sid, "sales": sales, "promo": promo})
        frames.append(frame.iloc[:60])
        future.append(frame.assign(sales=frame["sales"].where(frame.index < 60)))
    pd.concat(frames).to_csv(tmp_path / "sales.csv", index=False)
    pd.concat(future).to_csv(tmp_path / "sales_future.csv", index=False)
    return tmp_path / "sales.csv", tmp_path / "sales_future.csv"


# --- the model --------------------------------------------------------------------------------


def test_reglstm_is_torch_lstm_plus_linear():
    model = RegLSTM(3, 2, hidden_size=5, num_layers=2)
    lstm, head = nn.LSTM(3, 5, 2), nn.Linear(5, 2)
    lstm.load_state_dict({k[5:]: v for k, v in model.state_dict().items() if k.startswith("lstm.")})
    head.load_state_dict({"weight": model.head.weight, "bias": model.head.bias})
    x = torch.randn(7, 4, 3)  # (T, N, F)
    expected = head(lstm(x)[0])  # (T, N, O)
    out, loss = model(x)
    torch.testing.assert_close(out, expected)
    assert loss is None
    torch.testing.assert_close(model(x[:, 0])[0], expected[:, 0])  # unbatched (T, F)
    model.batch_first = model.lstm.batch_first = True
    torch.testing.assert_close(model(x.transpose(0, 1))[0], expected.transpose(0, 1))
    model.many_to_one = True
    torch.testing.assert_close(model(x.transpose(0, 1))[0], expected[-1])  # (N, O)


def test_reglstm_losses():
    torch.manual_seed(0)
    out, y = torch.randn(4, 3), torch.randn(4, 3)
    err = y - out
    for name, expected in [
        ("mse", (err**2).mean()),
        ("mae", err.abs().mean()),
        ("huber", torch.where(err.abs() < 0.5, 0.5 * err**2, 0.5 * (err.abs() - 0.25)).mean()),
    ]:
        model = RegLSTM(2, 3, 4, loss=name, huber_delta=0.5)
        torch.testing.assert_close(model.loss_fn(out, y), expected)
    model = RegLSTM(2, 3, 4, loss="quantile", quantiles=[0.1, 0.5, 0.9], many_to_one=True)
    pred, loss = model(torch.randn(6, 5, 2), y[:1].expand(5, 3))  # (T, N, F) -> (N, O, Q)
    assert pred.shape == (5, 3, 3)
    q = torch.tensor([0.1, 0.5, 0.9])
    e = y[:1].expand(5, 3).unsqueeze(-1) - pred
    torch.testing.assert_close(loss, torch.maximum(q * e, (q - 1) * e).mean())
    with pytest.raises(ValueError, match=r"expected targets of shape \(5, 3\), got \(5, 2\)"):
        model(torch.randn(6, 5, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="expected quantiles with loss='quantile'"):
        RegLSTM(2, 3, loss="quantile")


# --- inverse pipeline: a zero head forecasts persistence exactly ------------------------------


@pytest.mark.parametrize("transform", ["none", "log"])
@pytest.mark.parametrize("relative", [True, False])
def test_zero_head_undoes_scaling_differencing_and_log(transform, relative):
    """A head that outputs 0 forecasts 'seasonal naive + the last seasonal difference' when
    relative, 'seasonal naive + the mean training difference' when not: checks the scaler,
    the integration, the log and the recursion beyond the horizon against hand-written code."""
    y = seasonal_series(60, np.random.default_rng(1))
    panel = panel_from_array(y)
    layout = Layout(["f0"], [], [], [], 1, 12, lag=12, input_length=12, horizon=12,
                    transform=transform, scaler="robust", relative=relative)  # fmt: skip
    scalers = {"0": fit_scaler(panel.series[0], layout, 48)}
    model = RegLSTM(layout.input_size, layout.output_size, 4, many_to_one=True, batch_first=True)
    nn.init.zeros_(model.head.weight)
    nn.init.zeros_(model.head.bias)
    z = np.log(y) if transform == "log" else y
    d = z[12:] - z[:-12]
    step = d[-1] if relative else np.median(d[:36])  # robust scaler: loc = training median
    path = list(z)
    for _ in range(30):  # 30 > horizon: recursion
        path.append(path[-12] + step)
    expected = np.array(path[60:])
    expected = np.exp(expected) if transform == "log" else expected
    got = forecast(model, layout, panel, scalers, 30)[0]  # (30, 1, 1)
    np.testing.assert_allclose(got[:, 0, 0], expected, rtol=1e-6)


def test_holdout_forecast_never_sees_the_holdout():
    y = seasonal_series(60, np.random.default_rng(2))
    layout = Layout(["f0"], [], [], [], 1, 12, lag=12, input_length=12, horizon=6)
    model = RegLSTM(layout.input_size, layout.output_size, 4, many_to_one=True, batch_first=True)
    forecasts = []
    for tail in (0.0, 500.0):
        z = y.copy()
        z[-6:] += tail
        panel = panel_from_array(z)
        scalers = {"0": fit_scaler(panel.series[0], layout, split_points(60, 6, 0)[0])}
        result, items = evaluate_holdout(model, layout, panel, scalers, holdout=6)
        forecasts.append(items[0]["forecast"])
    np.testing.assert_array_equal(forecasts[0], forecasts[1])


# --- metrics and baselines --------------------------------------------------------------------


def test_scores_by_hand():
    history = [np.array([[1.0], [3.0], [2.0], [4.0]])]  # seasonal-naive (m=2) in-sample MAE: 1
    truth, pred = [np.array([[2.0], [4.0]])], [np.array([[3.0], [4.0]])]
    s = scores(truth, pred, history, season=2)
    assert s["mae"] == 0.5 and s["rmse"] == pytest.approx(np.sqrt(0.5))
    assert s["mape"] == pytest.approx(0.25) and s["smape"] == pytest.approx((2 / 5) / 2)
    assert s["mase"] == pytest.approx(0.5)
    assert np.isnan(scores([np.zeros((2, 1))], [np.ones((2, 1))], history, 2)["mape"])


def test_baselines():
    h = np.arange(24, dtype=float)[:, None] % 12  # (T, n)
    assert naive(h, 3, 12)[:, 0].tolist() == [11.0, 11.0, 11.0]
    assert seasonal_naive(h, 14, 12)[:, 0].tolist() == [*range(12), 0, 1]
    trend = 5.0 + 2.0 * np.arange(30, dtype=float)[:, None]
    ets = baseline_methods()["ets"]
    np.testing.assert_allclose(ets(trend, 4, 1)[:, 0], 5.0 + 2.0 * np.arange(30, 34), rtol=1e-3)


def test_no_statsmodels_no_ets(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsmodels", None)
    assert set(baseline_methods()) == {"naive", "seasonal_naive"}


# --- the CLI: train, predict from the reloaded run, eval ----------------------------------------


def test_cli_train_predict_eval(tmp_path, sales_csv, capsys):
    csv, future_csv = sales_csv
    run = tmp_path / "run"
    argv = ["forecast", "train", "--csv", str(csv), "--time", "month", "--target", "sales",
            "--id", "shop", "--future-covariates", "promo", "--calendar", "month",
            "--horizon", "6", "--holdout", "6", "--val-periods", "6", "--out", str(run),
            *TINY]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 series" in out and "seasonal_naive" in out
    for name in ("config.json", "metrics.csv", "summary.json", "loss.png", "last.safetensors",
                 "best.safetensors", "forecast.png", "eval.json"):  # fmt: skip
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["season"] == 12 and config["horizon"] == 6

    assert main(["forecast", "eval", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"model", "baselines"}
    assert set(result["baselines"]) == {"naive", "seasonal_naive", "ets"}
    assert set(result["model"]) == {"mae", "rmse", "mape", "smape", "mase"}
    assert result == json.loads((run / "eval.json").read_text())

    out_csv = tmp_path / "forecast.csv"
    assert (
        main(["forecast", "predict", str(run), "--csv", str(future_csv), "--out", str(out_csv)])
        == 0
    )
    frame = pd.read_csv(out_csv)
    assert list(frame.columns) == ["id", "time", "value"] and len(frame) == 12
    assert frame["time"].iloc[0] == "2020-01-01" and frame["time"].iloc[5] == "2020-06-01"
    assert np.isfinite(frame["value"]).all()
    # the same forecasts from the Python API on the reloaded run
    again = Forecaster.load(run / "best.safetensors").predict(str(future_csv))
    np.testing.assert_allclose(again["value"], frame["value"], rtol=1e-9)
    # without the covariate's future rows: a clear error
    capsys.readouterr()
    message = "series 'north': --future-covariates are known for 0 period(s) after its end"
    fails(["forecast", "predict", str(run), "--csv", str(csv)], capsys, message)

    # resume: continues to the new budget; the data and model flags cannot change
    assert main(["forecast", "train", "--out", str(run), "--resume", "--max-steps", "40"]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 40
    capsys.readouterr()
    fails(["forecast", "train", "--out", str(run), "--resume", "--input-length", "6"], capsys,
          "--resume: --input-length cannot change (12 -> 6)")  # fmt: skip


def test_api_quantiles_on_a_cube(tmp_path):
    rng = np.random.default_rng(3)
    cube = np.stack(
        [
            np.stack([seasonal_series(50, rng, lvl), rng.normal(size=50)], axis=1)
            for lvl in (10.0, 20.0, 30.0)
        ]
    )  # (N, T, F) fmt: skip
    fc = Forecaster(target="f0", horizon=5, holdout=5, loss="quantile", head="many-to-many",
                    **TINY_API)  # fmt: skip
    fc.fit(cube, out=tmp_path / "run")
    pred = fc.predict()
    assert list(pred.columns) == ["id", "time", "value", "q0.1", "q0.5", "q0.9"]
    assert len(pred) == 15 and pred["time"].iloc[0] == 50
    np.testing.assert_array_equal(pred["value"], pred["q0.5"])
    reloaded = Forecaster.load(tmp_path / "run").predict(cube)
    pd.testing.assert_frame_equal(reloaded, pred)
    result = fc.evaluate()
    assert set(result["model"]) == {"mae", "rmse", "mape", "smape", "mase"}
    more = np.concatenate([cube, cube[:1] * 2])  # a series the run has not seen: own scaler
    assert len(fc.predict(more)) == 20
    with pytest.raises(ValueError, match="would need the past covariates f1 after the series' end"):
        fc.predict(periods=8)


# --- bad input: one line on stderr, exit code 2 -------------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--target", "revenue"], "--target: unknown column 'revenue'; the columns are"),
        (
            ["--target", "sales", "--input-length", "60", "--model", "reglstm"],
            "series 'north' has 60 periods, fewer",
        ),
        (["--target", "sales", "--horizon", "-1"], "--horizon: expected an int >= 0, got -1"),
        (["--target", "sales", "--loss", "quantile", "--quantiles", "0.1,0.9"], "including 0.5"),
        (["--target", "sales", "--dataset", "airline"], "expected one source of data, got both"),
        (
            ["--target", "sales", "--hidden-size", "x"],
            "argument --hidden-size: expected int, got 'x'",
        ),
    ],
)
def test_bad_train_inputs(tmp_path, sales_csv, capsys, extra, message):
    argv = ["forecast", "train", "--csv", str(sales_csv[0]), "--time", "month", "--id", "shop",
            "--holdout", "6", "--out", str(tmp_path / "run"), *extra]  # fmt: skip
    fails(argv, capsys, message)
    assert not (tmp_path / "run" / "config.json").exists()


def test_missing_extra_and_missing_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sktime", None)
    argv = ["forecast", "train", "--dataset", "airline", "--holdout", "12", "--out", str(tmp_path)]
    fails(argv, capsys, "install the extra: pip install 'rnnkit[data]'")
    fails(["forecast", "eval", str(tmp_path / "nothing")], capsys, "no such run directory")
    fails(["forecast", "predict", str(tmp_path / "nothing")], capsys, "no such run directory")


def test_evaluation_scores_a_fixed_sample_of_many_windows(tmp_path, monkeypatch):
    from rnnkit.tasks.forecast import api

    assert torch.equal(api.evaluation_windows(10, 0), torch.arange(10))
    monkeypatch.setattr(api, "EVAL_WINDOWS", 7)
    sample = api.evaluation_windows(100, 3)
    assert len(sample) == 7 and len(set(sample.tolist())) == 7 and 0 <= sample.min()
    assert sample.max() < 100 and torch.equal(sample, sample.sort().values)
    assert torch.equal(sample, api.evaluation_windows(100, 3))  # the same at every evaluation
    scored, original = [], api.evaluation_windows

    def spy(n: int, seed: int) -> torch.Tensor:
        scored.append((n, len(original(n, seed))))
        return original(n, seed)

    monkeypatch.setattr(api, "evaluation_windows", spy)
    rng = np.random.default_rng(0)
    cube = np.stack([seasonal_series(60, rng, 10.0)[:, None] for _ in range(2)])  # (2, 60, 1)
    fc = Forecaster(horizon=4, holdout=4, **TINY_API).fit(cube, out=tmp_path / "run")
    assert scored and scored[0][0] > 7 and scored[0][1] == 7  # of many windows, 7 scored
    assert np.isfinite(fc.summary["best_val_loss"])
