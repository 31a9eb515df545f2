"""rnnkit.data.series_origins through forecast(): the arrays of every series at once give the
numbers of the former loop over series (kept below as the reference)."""

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.data.series import Panel, Series
from rnnkit.data.series_windows import (
    Layout,
    extended,
    fit_scaler,
    forecast_input,
    from_model_space,
    transformed_targets,
    untransformed,
)
from rnnkit.tasks.forecast import RegLSTM, forecast, median_index


@torch.no_grad()
def reference_forecast(model, layout, panel, scalers, periods):
    """forecast() as it was: one series at a time (forecast_input on the whole history)."""
    h, n = layout.horizon, len(layout.targets)
    q, mid = len(model.quantiles) or 1, median_index(model)
    paths = [np.repeat(transformed_targets(s, layout)[None], q, axis=0) for s in panel.series]
    done = 0
    while done < periods:
        inputs = [
            forecast_input(extended(s, path[mid], layout), layout, scalers[s.id])
            for s, path in zip(panel.series, paths, strict=True)
        ]
        x = torch.tensor(np.stack([i[0] for i in inputs]), dtype=torch.float32)
        out = model.predict(x)
        out = out if model.many_to_one else out[:, -1]
        out = out.reshape(len(x), h, n, q).permute(0, 3, 1, 2).double().numpy()  # (N,Q,H,n)
        for i, s in enumerate(panel.series):
            new = from_model_space(out[i], inputs[i][1], scalers[s.id], paths[i], layout)
            paths[i] = np.concatenate([paths[i], new], axis=1)
        done += h
    return [
        np.moveaxis(untransformed(path[:, len(s) : len(s) + periods], layout), 0, -1)
        for s, path in zip(panel.series, paths, strict=True)
    ]


def _panel(lengths, targets=1, past=0, future=0, extra=0, dates=True, seed=0) -> Panel:
    """Series of ``lengths`` (monthly dates ending at different months, or integer steps) with
    positive targets, past covariates and known-future covariates ``extra`` periods ahead."""
    rng = np.random.default_rng(seed)
    series = []
    for i, length in enumerate(lengths):
        start = pd.Timestamp("2000-01-01") + pd.DateOffset(months=3 * i)
        time = (pd.date_range(start, periods=length, freq="MS") if dates
                else pd.Index(np.arange(length) * 2 + i))  # fmt: skip
        t = np.arange(length)[:, None]
        y = 50 + i + 0.3 * t + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, (length, targets))
        series.append(Series(f"s{i}", time, y, rng.normal(size=(length, past)),
                             rng.normal(size=(length + extra, future))))  # fmt: skip
    names = lambda k, p: [f"{p}{j}" for j in range(k)]  # noqa: E731
    freq = "MS" if dates else 2
    return Panel(series, names(targets, "y"), names(past, "p"), names(future, "f"), freq)


CASES = {  # name: (panel, layout keywords, periods, model keywords)
    "seasonal, recursion": (dict(lengths=[40, 55, 33]), dict(lag=12), 17, {}),
    "log, absolute, first": (
        dict(lengths=[30, 31]),
        dict(lag=1, transform="log", relative=False, scaler="robust"),
        9,
        {},
    ),  # fmt: skip
    "no lag, many-to-many": (
        dict(lengths=[25, 28]),
        dict(lag=0, scaler="minmax"),
        7,
        dict(many_to_one=False),
    ),  # fmt: skip
    "quantiles, 2 targets": (
        dict(lengths=[36, 40], targets=2),
        dict(lag=12),
        11,
        dict(loss="quantile", quantiles=(0.1, 0.5, 0.9)),
    ),  # fmt: skip
    "past covariates": (dict(lengths=[30, 34], past=2), dict(lag=1), 4, {}),
    "future, calendar": (
        dict(lengths=[40, 44, 40], future=2, extra=14),
        dict(lag=12, calendar=["month", "quarter"]),
        14,
        {},
    ),  # fmt: skip
    "integer steps": (dict(lengths=[26, 30], future=1, extra=5, dates=False), dict(lag=1), 5, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_forecast_is_the_former_loop_over_series(case):
    spec, keywords, periods, model_keywords = CASES[case]
    panel = _panel(**spec)
    layout = Layout(panel.targets, panel.past, panel.future, keywords.pop("calendar", []),
                    panel.freq, 12, input_length=8, horizon=5 if periods > 5 else periods,
                    **keywords)  # fmt: skip
    keywords["calendar"] = layout.calendar  # CASES stays as it was for a rerun
    scalers = {s.id: fit_scaler(s, layout, len(s) - 3) for s in panel.series}
    torch.manual_seed(0)
    model = RegLSTM(layout.input_size, layout.output_size, 6, batch_first=True,
                    **{"many_to_one": True} | model_keywords)  # fmt: skip
    got = forecast(model, layout, panel, scalers, periods)
    expected = reference_forecast(model, layout, panel, scalers, periods)
    q = len(model.quantiles) or 1
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape == (periods, len(panel.targets), q)
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)


def test_forecast_reads_the_model_in_batches(monkeypatch):
    import rnnkit.tasks.forecast.model as model_module

    panel = _panel([30] * 7)
    layout = Layout(panel.targets, [], [], [], "MS", 12, lag=12, input_length=8, horizon=4)
    scalers = {s.id: fit_scaler(s, layout, 27) for s in panel.series}
    model = RegLSTM(layout.input_size, layout.output_size, 4, many_to_one=True, batch_first=True)
    whole = forecast(model, layout, panel, scalers, 6)
    monkeypatch.setattr(model_module, "PREDICT_BATCH", 3)  # 7 windows: 3 batches
    for a, b in zip(whole, forecast(model, layout, panel, scalers, 6), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
