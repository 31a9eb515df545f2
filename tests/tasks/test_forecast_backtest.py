"""rnnkit forecast: backtests, defaults for short series, --model auto, statistical runs."""

import json

import numpy as np
import pandas as pd
import pytest
from cli_helpers import fails

from rnnkit.cli import main
from rnnkit.data.series import panel_from_array
from rnnkit.metrics import ets, naive, scores, seasonal_naive
from rnnkit.metrics.arima import arima
from rnnkit.tasks.forecast import Config, Forecaster, RegLSTM, predict_panel, select
from rnnkit.tasks.forecast.backtest import backtest, cutoffs, validation_windows
from rnnkit.tasks.forecast.data import default_horizon, resolve_lengths
from rnnkit.tasks.forecast.methods import STATISTICAL, Combination, combine
from rnnkit.tasks.forecast.select import choose, with_arima

TINY = {"hidden_size": 8, "max_steps": 20, "eval_every": 10, "warmup_steps": 0}


def seasonal_cube(n: int, length: int, seed: int = 0) -> np.ndarray:
    """(n, length, 1) monthly-like series: level, trend, a 12-period season and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    rows = [
        50 * (i + 1) + 0.3 * t + 8 * np.sin(2 * np.pi * t / 12 + i) + rng.normal(0, 1, length)
        for i in range(n)
    ]
    return np.stack(rows)[..., None]


def long_csv(path, cube: np.ndarray, freq: str = "MS", start: str = "2000-01-01"):
    frames = [
        pd.DataFrame({"time": pd.date_range(start, periods=cube.shape[1], freq=freq),
                      "id": f"s{i}", "y": series[:, 0]})
        for i, series in enumerate(cube)
    ]  # fmt: skip
    pd.concat(frames).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted():
    """A RegLSTM fitted on 2 series of 60 periods, the last 12 held out, horizon 4."""
    cube = seasonal_cube(2, 60)
    fc = Forecaster(model="reglstm", horizon=4, holdout=12, season=12, input_length=12,
                    baselines="fast", **TINY)  # fmt: skip
    return fc.fit(cube), cube


# --- backtests --------------------------------------------------------------------------------


def test_cutoffs_and_validation_windows():
    assert cutoffs(60, 3, 4, 4) == [48, 52, 56]
    assert validation_windows(100, 12, lambda p: p >= 40) == (3, 4)  # 100 - 20 = 80 >= 40
    assert validation_windows(50, 12, lambda p: p >= 36) == (1, 4)
    assert validation_windows(20, 12, lambda p: p >= 32) == (0, 4)


def test_backtest_windows_never_overlap_training(fitted):
    fc, cube = fitted
    result = fc.cross_validation(windows=3, step=4)
    frame = result.frame
    columns = ["id", "cutoff", "time", "actual", "forecast", "naive", "seasonal_naive"]
    assert list(frame.columns) == columns
    assert len(frame) == 2 * 3 * 4
    assert frame["time"].min() >= 48 and (frame["time"] > frame["cutoff"]).all()
    assert sorted(frame["cutoff"].unique()) == [47, 51, 55]
    np.testing.assert_array_equal(frame["actual"], cube[:, 48:, 0].reshape(2, 3, 4).ravel())
    # each window reads only the periods up to its cutoff: change the later ones, same forecast
    changed = cube.copy()
    changed[:, 52:] += 1000.0
    again = fc.cross_validation(windows=3, step=4, data=changed).frame
    first = frame["cutoff"] == 47
    np.testing.assert_allclose(again.loc[first, "forecast"], frame.loc[first, "forecast"])
    assert not np.allclose(again.loc[~first, "forecast"], frame.loc[~first, "forecast"])
    with pytest.raises(ValueError, match="span the last 16 periods, more than the 12 held-out"):
        fc.cross_validation(windows=4, step=4)


def test_window_metrics_equal_scores(fitted):
    fc, cube = fitted
    result = fc.cross_validation(windows=3, step=4)
    pooled = {"truth": [], "pred": [], "past": []}
    for w, cut in zip(result.windows, (48, 52, 56), strict=True):
        rows = result.frame[result.frame["cutoff"] == cut - 1]
        truth = [rows.loc[rows["id"] == i, ["actual"]].to_numpy() for i in ("0", "1")]
        pred = [rows.loc[rows["id"] == i, ["forecast"]].to_numpy() for i in ("0", "1")]
        past = [cube[i, :cut] for i in range(2)]
        assert w["model"] == scores(truth, pred, past, 12)
        snaive = [seasonal_naive(p, 4, 12) for p in past]
        assert w["baselines"]["seasonal_naive"] == scores(truth, snaive, past, 12)
        # the same as evaluating the series cut after the window
        assert w["model"] == pytest.approx(fc.evaluate(cube[:, : cut + 4], holdout=4)["model"])
        for key, value in (("truth", truth), ("pred", pred), ("past", past)):
            pooled[key] += value
    assert result.overall["model"] == scores(pooled["truth"], pooled["pred"], pooled["past"], 12)


def test_backtest_of_a_function_by_hand():
    y = np.arange(30.0)[None, :, None] % 7  # (1, 30, 1), season 7
    panel = panel_from_array(y)
    result = backtest(lambda h, k: [seasonal_naive(s.y, k, 7) for s in h.series], panel, 2, 5,
                      3, season=7, baselines="fast")  # fmt: skip
    assert result.windows[0]["model"]["mae"] == 0.0 and result.overall["model"]["mae"] == 0.0
    np.testing.assert_array_equal(result.frame["forecast"], result.frame["seasonal_naive"])


def test_cli_eval_windows(tmp_path, capsys):
    csv = long_csv(tmp_path / "s.csv", seasonal_cube(2, 60))
    run = tmp_path / "run"
    argv = ["forecast", "train", "--csv", str(csv), "--time", "time", "--id", "id",
            "--target", "y", "--horizon", "4", "--holdout", "12", "--model", "reglstm",
            "--baselines", "fast",
            "--hidden-size", "8", "--max-steps", "20", "--eval-every", "10", "--no-tensorboard",
            "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["forecast", "eval", str(run), "--windows", "3", "--step", "4"]) == 0
    out = capsys.readouterr().out
    assert "window 2 (after 2004-08-01 ...)" in out and "all 3 windows" in out
    for name in ("backtest.png", "backtest.csv", "backtest.json"):
        assert (run / name).is_file(), name
    saved = json.loads((run / "backtest.json").read_text())
    assert len(saved["windows"]) == 3 and set(saved["overall"]) == {"model", "baselines"}
    assert len(pd.read_csv(run / "backtest.csv")) == 24
    fails(["forecast", "eval", str(run), "--windows", "2", "--step", "12"], capsys,
          "use fewer windows or a smaller step")  # fmt: skip
    fails(["forecast", "eval", str(run), "--windows", "0"], capsys, "--windows: expected an int")


# --- defaults that adapt to short series ------------------------------------------------------


def test_default_horizon_and_lengths():
    assert default_horizon(12, 144) == 12 and default_horizon(1, 100) == 10
    assert default_horizon(1, 20) == 2 and default_horizon(12, 20) == 5
    panel = panel_from_array(seasonal_cube(1, 36))
    cfg, notes = resolve_lengths(Config(holdout=6, season=12, horizon=6), panel)
    # 30 training periods: a seasonal lag leaves 30 - 12 - 6 - 7 = 5 < 12: first differences
    assert (cfg.difference, cfg.input_length) == ("first", 16)
    assert notes == ["--difference first", "--input-length 16 (30 training periods in the "
                     "shortest)"]  # fmt: skip
    cfg, _ = resolve_lengths(Config(holdout=36, season=12, horizon=36), panel_from_array(
        seasonal_cube(1, 144)))  # fmt: skip
    assert (cfg.difference, cfg.input_length) == ("seasonal", 24)  # airline: the default
    fixed = Config(holdout=6, season=12, horizon=6, input_length=9, difference="seasonal")
    assert resolve_lengths(fixed, panel)[0] == fixed


def test_36_monthly_periods_train(tmp_path, capsys):
    """shampoo's shape (36 months, 6 held out) with the defaults, and the resolved config."""
    csv = long_csv(tmp_path / "s.csv", seasonal_cube(1, 36))
    run = tmp_path / "run"
    argv = ["forecast", "train", "--csv", str(csv), "--time", "time", "--target", "y",
            "--holdout", "6", "--model", "reglstm", "--max-steps", "20", "--no-tensorboard",
            "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "resolved: --difference first; --input-length 16" in out
    config = json.loads((run / "config.json").read_text())
    assert (config["difference"], config["input_length"], config["horizon"]) == ("first", 16, 6)
    assert (run / "eval.json").is_file()


def test_yearly_panel_of_20_periods_takes_a_default_horizon(tmp_path, capsys):
    rng = np.random.default_rng(1)
    cube = np.cumsum(rng.normal(1, 1, (5, 20, 1)), axis=1) + 10  # (5, 20, 1)
    csv = long_csv(tmp_path / "y.csv", cube, freq="YS", start="1990-01-01")
    run = tmp_path / "run"
    argv = ["forecast", "train", "--csv", str(csv), "--time", "time", "--id", "id",
            "--target", "y", "--model", "reglstm", "--max-steps", "20", "--no-tensorboard",
            "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "--horizon 2 (10% of the shortest series; no --horizon or --holdout given)" in out
    config = json.loads((run / "config.json").read_text())
    assert (config["horizon"], config["difference"], config["input_length"]) == (2, "first", 10)
    assert main(["forecast", "predict", str(run)]) == 0
    assert len(pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))) == 10


# --- --model auto and statistical runs ----------------------------------------------------------


def test_auto_choices_ignore_the_holdout():
    cube = seasonal_cube(1, 66, seed=4)
    noisy = cube.copy()
    noisy[:, -12:] = np.random.default_rng(9).normal(0, 100, (1, 12, 1))
    reports = []
    for data in (cube, noisy):
        fc = Forecaster(holdout=12, horizon=6, season=12, **TINY | {"max_steps": 10}).fit(data)
        reports.append(fc.summary["selection"])
        assert fc.cfg.model == reports[-1]["chosen"].split()[0]
    assert reports[0] == reports[1]
    names = [row["model"] for row in reports[0]["candidates"]]
    assert names[:4] == ["seasonal-naive", "ets", "naive", "reglstm"]
    assert reports[0]["windows"] == 3
    grid = {(r["difference"], r["input_length"]) for r in reports[0]["candidates"][3:]
            if r["model"] == "reglstm"}  # fmt: skip
    # 54 training periods, 3 windows of 6 periods 2 apart: 44 to fit on; inputs that leave 8
    # windows: 44 - 12 - 6 - 7 = 19 after a seasonal lag, 30 (capped at 24) after a first one
    assert grid == {("seasonal", 19), ("seasonal", 9), ("first", 24), ("first", 12)}


def test_auto_chooses_the_least_finite_validation_mase():
    scored = [("seasonal-naive", 1.2), ("ets", float("nan")), ("naive", 0.9), ("reglstm", 0.9)]
    assert choose([{"model": m, "mase": v} for m, v in scored]) == 2  # NaN last, ties: earlier


def test_auto_offers_naive_only_where_it_differs_from_seasonal_naive():
    cube = np.cumsum(np.random.default_rng(3).normal(size=(1, 40, 1)), axis=1)
    fc = Forecaster(holdout=4, horizon=4, season=1, **TINY | {"max_steps": 5}).fit(cube)
    names = [row["model"] for row in fc.summary["selection"]["candidates"]]
    assert "seasonal-naive" in names and "naive" not in names


def test_auto_forecasts_the_mean_of_its_choice_and_auto_arima():
    cube = np.cumsum(np.random.default_rng(5).normal(size=(1, 40, 1)), axis=1)
    fc = Forecaster(holdout=4, horizon=4, season=1, **TINY | {"max_steps": 5}).fit(cube)
    rows = fc.summary["selection"]["candidates"]
    winner = rows[choose(rows)]["model"]
    assert fc.cfg.model == f"arima+{winner}" == fc.summary["selection"]["chosen"].split()[0]
    y = fc.panel.series[0].y
    if isinstance(fc.model, Combination):  # a network's choice: auto-ARIMA and the network
        other = predict_panel(fc.model.parts[1], fc.layout, fc.scalers, fc.panel, 4)[0][..., 0]
    else:
        other = STATISTICAL[winner](y, 4, 1)
    expected = (arima(y, 4, 1) + other)[:, 0] / 2
    np.testing.assert_allclose(fc.predict(periods=4)["value"], expected, rtol=1e-5)


def test_auto_arima_is_left_out_of_short_series_and_large_panels(monkeypatch):
    panel = panel_from_array(np.random.default_rng(0).normal(size=(3, 20, 1)))
    assert with_arima(panel, 12)  # 8 training periods
    assert not with_arima(panel, 13)
    monkeypatch.setattr(select, "MAX_ARIMA_SERIES", 2)
    assert not with_arima(panel, 4)


def test_combine_nests_the_statistical_methods_before_the_network():
    net = RegLSTM.__new__(RegLSTM)  # any model: only its place is checked
    model = combine("arima+ets+reglstm", 12, net)
    assert (model.parts[0].method, model.parts[1].parts[0].method) == ("arima", "ets")
    assert model.parts[1].parts[1] is net and combine("es-rnn", 12, net) is net


@pytest.mark.parametrize(
    "model, method", [("ets", ets), ("seasonal-naive", seasonal_naive), ("naive", naive)]
)
def test_statistical_run_predicts_and_evaluates(tmp_path, capsys, model, method):
    cube = seasonal_cube(2, 48)
    csv = long_csv(tmp_path / "s.csv", cube)
    run = tmp_path / "run"
    argv = ["forecast", "train", "--csv", str(csv), "--time", "time", "--id", "id",
            "--target", "y", "--holdout", "6", "--model", model, "--baselines", "fast",
            "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    assert f"done: {model}" in capsys.readouterr().out
    assert json.loads((run / "summary.json").read_text())["test"]["mase"] > 0
    fc = Forecaster.load(run)
    pred = fc.predict()
    cube = pd.read_csv(csv)["y"].to_numpy().reshape(2, 48, 1)  # as read (the parser rounds)
    np.testing.assert_allclose(pred["value"][:6], method(cube[0], 6, 12)[:, 0])
    expected = scores([c[-6:] for c in cube], [method(c[:-6], 6, 12) for c in cube],
                      [c[:-6] for c in cube], 12)  # fmt: skip
    assert fc.evaluate()["model"] == pytest.approx(expected)
    assert main(["forecast", "eval", str(run), "--windows", "2", "--step", "3",
                 "--periods", "3"]) == 0  # fmt: skip


def test_combination_run_is_the_mean_of_ets_and_the_network(tmp_path):
    cube = seasonal_cube(2, 48)
    fc = Forecaster(model="ets+reglstm", holdout=6, season=12, baselines="fast", **TINY)
    fc.fit(cube, out=tmp_path / "run")
    assert isinstance(fc.model, Combination) and isinstance(fc.model.parts[1], RegLSTM)
    pred = fc.predict(periods=6)
    net = predict_panel(fc.model.parts[1], fc.layout, fc.scalers, fc.panel, 6)
    pairs = zip(fc.panel.series, net, strict=True)
    expected = [(ets(s.y, 6, 12) + p[..., 0]) / 2 for s, p in pairs]
    np.testing.assert_allclose(pred["value"], np.concatenate(expected)[:, 0])
    again = Forecaster.load(tmp_path / "run").predict(cube, periods=6)
    np.testing.assert_allclose(again["value"], pred["value"], rtol=1e-6)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"] == "ets+reglstm"


def test_esrnn_run_predicts_evaluates_and_reloads(tmp_path):
    cube = seasonal_cube(2, 48)
    fc = Forecaster(model="es-rnn", holdout=6, season=12, baselines="none", **TINY)
    fc.fit(cube, out=tmp_path / "run")
    pred = fc.predict()
    assert len(pred) == 12 and np.isfinite(pred["value"]).all()
    again = Forecaster.load(tmp_path / "run")
    np.testing.assert_allclose(again.predict(cube)["value"], pred["value"], rtol=1e-5)
    assert again.evaluate(cube)["model"] == pytest.approx(fc.evaluate()["model"], rel=1e-5)
    assert len(again.cross_validation(2, 3, 3, data=cube).frame) == 12


def test_resume_keeps_the_selection_report_and_refuses_a_statistical_run(tmp_path, capsys):
    csv = long_csv(tmp_path / "s.csv", seasonal_cube(1, 48))
    data = ["--csv", str(csv), "--time", "time", "--id", "id", "--target", "y"]
    run = tmp_path / "run"
    argv = ["forecast", "train", *data, "--holdout", "6", "--model", "reglstm", "--max-steps",
            "10", "--eval-every", "5", "--hidden-size", "8", "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    report = {"chosen": "reglstm", "windows": 3, "candidates": []}  # as --model auto left it
    (run / "summary.json").write_text(json.dumps(summary | {"selection": report}))
    assert main(["forecast", "train", "--out", str(run), "--resume", "--max-steps", "20"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 20 and summary["selection"] == report
    capsys.readouterr()
    ets_run = tmp_path / "ets"
    argv = ["forecast", "train", *data, "--holdout", "6", "--model", "ets", "--out", str(ets_run)]
    assert main(argv) == 0
    fails(["forecast", "train", "--out", str(ets_run), "--resume"], capsys,
          "is --model ets, fitted on each history with nothing to train or resume")  # fmt: skip
