"""ES-RNN: Holt-Winters against statsmodels, the dilated LSTM against a step loop, gradients,
training through the Trainer, checkpoints, forecasts and errors."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import rnnkit.tasks.forecast.esrnn as esrnn
from rnnkit.data.series import Panel, SeriesDataError, panel_from_array, panel_from_frame
from rnnkit.tasks.forecast.config import Config
from rnnkit.tasks.forecast.esrnn import (
    ESRNN,
    DilatedLSTM,
    dilations_of,
    forecast_esrnn,
    holt_winters,
    load_esrnn,
    sizes_of,
    train_esrnn,
)
from rnnkit.train.checkpoint import load_checkpoint
from rnnkit.train.run import open_run

TINY = {"hidden_size": 8, "input_length": 12, "horizon": 6, "holdout": 6, "max_steps": 40,
        "eval_every": 20, "warmup_steps": 0, "lr": 1e-2, "batch_size": 2, "threads": 1,
        "tensorboard": False, "progress": False}  # fmt: skip


def seasonal_panel(n_series: int = 3, periods: int = 48, seed: int = 0, shift: float = 0.0):
    """Monthly series with trend and multiplicative seasonality (minus ``shift``)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        t = np.arange(periods)
        y = (50 + 10 * i + 0.5 * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 12 + i))
        y = y * np.exp(rng.normal(0, 0.02, periods)) - shift
        times = pd.date_range("2015-01-01", periods=periods, freq="MS")
        frames.append(pd.DataFrame({"month": times, "id": f"s{i}", "sales": y}))
    return panel_from_frame(pd.concat(frames), time="month", target=["sales"], id="id")


def train(tmp_path, panel: Panel, **overrides):
    cfg = Config(**(TINY | {"season": 12} | overrides))
    with open_run(tmp_path / "run", False, "forecast") as run:
        model, trainer = train_esrnn(cfg, panel, run, verbose=False)
    return model, trainer, cfg


# --- Holt-Winters -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mul", "add"])
def test_holt_winters_equals_statsmodels(kind):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    rng = np.random.default_rng(1)
    m, t = 4, np.arange(40)
    y = 10 + 0.2 * t + 2 * np.sin(2 * np.pi * t / m) + rng.normal(0, 0.3, len(t))
    init = np.array([1.1, 0.9, 1.05, 0.95]) if kind == "mul" else np.array([0.4, -0.3, 0.2, -0.3])
    fit = ExponentialSmoothing(
        y, trend=None, seasonal=kind, seasonal_periods=m, initialization_method="known",
        initial_level=9.5, initial_seasonal=init,
    ).fit(smoothing_level=0.3, smoothing_seasonal=0.2, optimized=False)  # fmt: skip
    levels, seasonality = holt_winters(
        torch.tensor(y), 0.3, 0.2, torch.tensor(init), m, initial_level=9.5,
        multiplicative=kind == "mul", seasonal_level="previous",
    )  # fmt: skip
    np.testing.assert_allclose(levels.numpy(), fit.level, rtol=0, atol=1e-6)
    np.testing.assert_allclose(seasonality[m:].numpy(), fit.season, rtol=0, atol=1e-6)
    # its forecast: the last level times (plus) the next indices; statsmodels' m-th step reuses
    # the index of period T-1 instead of its update s_{T-1+m} (Hyndman's s_T), so m-1 steps
    last = levels[-1] * seasonality[-m:] if kind == "mul" else levels[-1] + seasonality[-m:]
    np.testing.assert_allclose(last[:-1].numpy(), fit.forecast(m - 1), rtol=0, atol=1e-6)


def test_holt_winters_smyl_form_equals_the_equations_and_batches():
    rng = np.random.default_rng(2)
    y = rng.uniform(5, 15, (3, 25))
    alpha, gamma = np.array([0.2, 0.5, 0.9]), np.array([0.1, 0.3, 0.6])
    init = rng.uniform(0.8, 1.2, (3, 5))
    levels, seasonality = holt_winters(
        torch.tensor(y), torch.tensor(alpha), torch.tensor(gamma), torch.tensor(init), 5
    )
    for i in range(3):  # Smyl's equations, one series at a time: l_0 = y_0 / s_0
        s, lev = list(init[i]), None
        for t in range(25):
            new = (
                y[i, t] / s[t] if lev is None else alpha[i] * y[i, t] / s[t] + (1 - alpha[i]) * lev
            )
            s.append(gamma[i] * y[i, t] / new + (1 - gamma[i]) * s[t])
            assert levels[i, t].item() == pytest.approx(new, abs=1e-9)
            lev = new
        np.testing.assert_allclose(seasonality[i].numpy(), s, atol=1e-9)
    flat, _ = holt_winters(torch.tensor(y[0]), alpha[0], gamma[0], torch.tensor(init[0]), 5)
    np.testing.assert_allclose(flat.numpy(), levels[0].numpy(), atol=1e-12)
    # season 1: simple exponential smoothing, no seasonality
    ses, ones = holt_winters(torch.tensor(y[0]), 0.3, 0.5, torch.zeros(1), 1)
    assert (ones == 1).all()
    assert ses[3].item() == pytest.approx(0.3 * y[0, 3] + 0.7 * ses[2].item())


def test_holt_winters_gradients_match_finite_differences():
    y = torch.rand(2, 12, dtype=torch.float64) + 1
    args = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
            for v in ([0.3, 0.6], [0.2, 0.4], [[1.1, 0.9, 1.0], [0.95, 1.05, 1.0]])]  # fmt: skip

    def f(y, a, g, s):
        levels, seasonality = holt_winters(y, a, g, s, 3)
        return levels.sum() + seasonality.square().sum()

    assert torch.autograd.gradcheck(f, (y.requires_grad_(), *args))


# --- the dilated LSTM -------------------------------------------------------------------------


def test_dilated_lstm_equals_a_step_loop():
    torch.manual_seed(0)
    net = DilatedLSTM(3, 5, dilations=(1, 3, 2)).double()
    x = torch.randn(4, 11, 3, dtype=torch.float64)
    inputs = x
    for k, (d, lstm) in enumerate(zip(net.dilations, net.layers, strict=True)):
        cell = nn.LSTMCell(inputs.shape[-1], 5).double()
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(lstm, f"{name}_l0"))
        hs, cs = [], []
        for t in range(x.shape[1]):  # the state of t - d (zeros before the first d steps)
            h, c = cell(inputs[:, t], (hs[t - d], cs[t - d]) if t >= d else None)
            hs.append(h)
            cs.append(c)
        out = torch.stack(hs, 1)  # (N, T, H)
        inputs = out if k == 0 else inputs + out
    torch.testing.assert_close(net(x), inputs, rtol=1e-10, atol=1e-10)


# --- the model --------------------------------------------------------------------------------


def test_gradients_reach_smoothing_seasonality_and_lstm():
    torch.manual_seed(0)
    model = ESRNN(3, 4, 6, 3, hidden_size=5, dilations=(1, 2), level_penalty=0.1)
    y = torch.rand(3, 30) + 1
    y[2, 25:] = float("nan")  # a shorter series
    x = torch.cat([torch.arange(3.0)[:, None], y], 1)  # (B, 1 + T)
    out, loss = model(x, y)
    assert out.shape == (3, 30 - 6 + 1, 3, 1)
    loss.backward()
    for name in ("alpha_logit", "gamma_logit", "season_init", "rnn.layers.0.weight_ih_l0",
                 "rnn.layers.1.weight_hh_l0", "head.2.weight"):  # fmt: skip
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_forecast_is_level_times_seasonality_times_exp_output():
    torch.manual_seed(0)
    model = ESRNN(1, 4, 4, 6, hidden_size=3)
    y = torch.rand(1, 20) + 1
    x = torch.cat([torch.zeros(1, 1), y], 1)
    levels, seasonality = model.components(torch.zeros(1, dtype=torch.long), y)
    out, _ = model(x)
    expected = (
        torch.exp(out[0, -1, :, 0]) * levels[0, -1] * seasonality[0, [20, 21, 22, 23, 20, 21]]
    )
    torch.testing.assert_close(model.forecast(x)[0, :, 0], expected)


# --- training, checkpoints, forecasts ---------------------------------------------------------


def test_train_lowers_the_loss_and_the_checkpoint_restores_the_forecasts(tmp_path):
    panel = seasonal_panel()
    model, trainer, cfg = train(tmp_path, panel, val_periods=6)
    first = trainer.summary["best_val_loss"]
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    losses = metrics["train_loss"].dropna()
    assert losses.iloc[-1] < losses.iloc[0]
    assert metrics["val_loss"].dropna().min() < metrics["val_loss"].dropna().iloc[0]
    assert model.multiplicative
    history = panel.head([len(s) - 6 for s in panel.series])
    preds = forecast_esrnn(model, history, 15)  # beyond the horizon: recursion
    assert len(preds) == 3 and all(p.shape == (15, 1, 1) for p in preds)
    assert all((p > 0).all() for p in preds)
    tensors, meta = load_checkpoint(tmp_path / "run" / "best.safetensors", task="forecast")
    restored = load_esrnn(tensors, meta, cfg)
    for a, b in zip(preds, forecast_esrnn(restored, history, 15), strict=True):
        np.testing.assert_array_equal(a, b)
    assert trainer.summary["best_val_loss"] == first


def test_quantiles_and_the_additive_form_for_values_below_zero(tmp_path):
    panel = seasonal_panel(2, 40, shift=60.0)  # crosses zero
    model, _, _ = train(tmp_path, panel, loss="quantile", quantiles="0.1,0.5,0.9", max_steps=20,
                        dilations="1,2")  # fmt: skip
    assert not model.multiplicative and model.scale.min() > 0
    preds = forecast_esrnn(model, panel, 8)
    assert all(p.shape == (8, 1, 3) and np.isfinite(p).all() for p in preds)


def test_the_holdout_reaches_nothing(tmp_path):
    panel = seasonal_panel(2, 40)
    noisy = seasonal_panel(2, 40)
    for s in noisy.series:
        s.y[-6:] = np.random.default_rng(5).uniform(1, 500, (6, 1))
    a, _, _ = train(tmp_path / "a", panel, max_steps=10)
    b, _, _ = train(tmp_path / "b", noisy, max_steps=10)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


def test_bad_input_gives_one_line_errors(tmp_path):
    panel = seasonal_panel(2, 30)
    with pytest.raises(SeriesDataError, match="fewer than the 31 needed for es-rnn") as e:
        train(tmp_path / "a", panel, input_length=13, horizon=6, holdout=6, val_periods=6)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="--dilations: expected ints >= 1"):
        train(tmp_path / "b", panel, dilations="1,x")
    model, _, _ = train(tmp_path / "c", seasonal_panel(2, 30), max_steps=2)
    other = seasonal_panel(3, 30)
    with pytest.raises(SeriesDataError, match="'s2' .* was not in es-rnn's training panel"):
        forecast_esrnn(model, other, 6)
    with pytest.raises(SeriesDataError, match="starts at"):
        forecast_esrnn(model, _late(other), 6)


def _late(panel: Panel) -> Panel:
    """The panel without its first period."""
    return Panel(
        [type(s)(s.id, s.time[1:], s.y[1:], s.past[1:], s.future[1:]) for s in panel.series[:2]],
        panel.targets, freq=panel.freq,
    )  # fmt: skip


def test_sizes_and_layers_of_the_config():
    panel = seasonal_panel(2, 40)
    cfg = Config(holdout=6, season=12, input_length=0, horizon=0)
    assert sizes_of(cfg, panel) == (12, 6, 12 * esrnn.INPUT_SEASONS)
    short = seasonal_panel(2, 20)  # 20 - 6 - 6: 8 periods for the first window
    assert sizes_of(cfg, short) == (12, 6, min(8, 12 * esrnn.INPUT_SEASONS))
    assert sizes_of(Config(horizon=3, input_length=5), short) == (12, 3, 5)  # monthly: 12
    resolved = esrnn.with_defaults(Config(holdout=1))  # the config's 32 units, 500 steps
    assert (resolved.hidden_size, resolved.max_steps) == (esrnn.HIDDEN_SIZE, esrnn.MAX_STEPS)
    assert esrnn.with_defaults(Config(holdout=1, hidden_size=16)).hidden_size == 16
    assert dilations_of(Config(holdout=1, dilations="1,3")) == [1, 3]
    assert dilations_of(Config(holdout=1, num_layers=2)) == [1, 1]
    with pytest.raises(ValueError, match="expected one dilation per layer"):
        dilations_of(Config(holdout=1, dilations="1,3", num_layers=3))


def test_resume_continues_the_run_exactly(tmp_path):
    panel = seasonal_panel(2, 40)
    constant = {"schedule": "constant", "eval_every": 10}
    straight, _, _ = train(tmp_path / "a", panel, max_steps=30, **constant)
    _, _, cfg = train(tmp_path / "b", panel, max_steps=20, **constant)
    last = load_checkpoint(tmp_path / "b" / "run" / "last.safetensors", task="forecast")
    cfg = Config(**(TINY | {"season": 12, "max_steps": 30} | constant))
    with open_run(tmp_path / "b" / "run", True, "forecast") as run:
        resumed, trainer = train_esrnn(cfg, panel, run, resume_from=last, verbose=False)
    assert trainer.summary["steps"] == 30
    for (name, p), q in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


def test_each_target_is_a_row_of_its_own(tmp_path):
    t = np.arange(36)
    small = 10 + 2 * np.sin(2 * np.pi * t / 12)
    cube = np.stack([np.stack([small, 100 * small], -1), np.stack([small + 5, small], -1)])
    panel = panel_from_array(cube)  # (2 series, 36, 2 targets)
    cfg = Config(**(TINY | {"season": 12, "max_steps": 5, "holdout": 0, "horizon": 4}))
    with open_run(tmp_path / "run", False, "forecast") as run:
        model, _ = train_esrnn(cfg, panel, run, verbose=False)
    assert len(model.alpha_logit) == 4
    preds = forecast_esrnn(model, panel, 4)
    assert [p.shape for p in preds] == [(4, 2, 1), (4, 2, 1)]
    ratio = preds[0][:, 1, 0] / preds[0][:, 0, 0]  # the second target is 100x the first
    np.testing.assert_allclose(ratio, 100, rtol=0.05)
