"""``--model auto``: the model, and the RegLSTM's differencing and input length, chosen by
backtests on the training periods only, and its forecast averaged with auto-ARIMA's.

The held-out periods (``--holdout``) are cut off first: nothing after the training periods
reaches a choice. On what is left, K <= 3 windows of H (the horizon) periods, S = H // 3 apart,
end at the last training period (``backtest.validation_windows``: as many windows as leave a
network enough periods to fit on). Each candidate is fitted on the periods before the first
window and forecasts every window without refitting; the statistical ones (seasonal naive,
ETS, naive) fit each window's history. The candidate of least mean MASE over the windows wins
and is then fitted on all the training periods. Candidates: seasonal naive, ETS (with
statsmodels), naive (where the season is > 1; else it is seasonal naive), RegLSTM with seasonal
or first differencing and the longest input the periods allow or half of it (what the config
leaves ``auto``/0), ES-RNN when rnnkit has it, and the mean of ETS and the best of the networks
(M4's lesson: combinations are robust; it costs no more training). The forecast is then the
mean of the winner's and auto-ARIMA's (``rnnkit.metrics.arima``; ``--model arima+WINNER``),
which is fitted on each history it forecasts from, as ETS is; it is left out without
statsmodels, with fewer than ``MIN_ARIMA_PERIODS`` training periods, or more than
``MAX_ARIMA_SERIES`` target series (9 to 72 SARIMAX fits each per forecast: a bound on the
cost, not studied).

``validate`` measures, ``choose`` decides. The rule (least validation MASE), the naive
candidate and the mean with auto-ARIMA were chosen by ``benchmarks/forecast_select.py`` on 24
development series that ``benchmarks/forecast.py``'s holdouts never reach. Ranked among the
benchmark's methods (naive, seasonal naive, ETS, auto-ARIMA, RegLSTM, ES-RNN), the mean with
auto-ARIMA has a mean rank of 2.58 against the least validation MASE's 3.23, a mean MASE of
0.835 against 0.952, is worse than 1.1x the best of naive, seasonal naive and ETS on 6 series
against 7, and beats it on 18 series of 24. Auto-ARIMA alone ranks 2.62 (mean MASE 0.780) and
is worse than 1.1x on 8; auto-ARIMA as a validated candidate (chosen by the least validation
MASE, or kept unless another validates 10-30% better: 4 searches instead of 1) ranks
2.81-3.19; the mean of ETS and auto-ARIMA 2.92 (0.917; 7); Theta, damped-trend ETS and M4's
Comb-style means of ETS, Theta, damped ETS and auto-ARIMA 3.17 or behind; other rules studied
there (keep ETS unless another candidate is 5-50% better, means of the best 2-3, the median,
weights by 1/MASE, the statistical candidates only) 2.90 or behind. (Measured with auto-ARIMA
searching the constant, the drift with one difference; the rule had been chosen before that,
when it ranked 2.62, tied with auto-ARIMA alone.)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import tempfile
from typing import Any

from rnnkit.data.series import Panel, SeriesDataError
from rnnkit.metrics import baseline_methods
from rnnkit.tasks.forecast.backtest import backtest, validation_windows
from rnnkit.tasks.forecast.config import TASK, Config
from rnnkit.tasks.forecast.data import MIN_INPUT, fitting_input, resolve_lengths
from rnnkit.tasks.forecast.methods import STATISTICAL, Statistical, median_of, predict_panel
from rnnkit.train.run import open_run

MIN_ARIMA_PERIODS = 8  # auto-ARIMA beside the choice: the fewest training periods,
MAX_ARIMA_SERIES = 100  # and the most target series (a bound on the cost)


def _has_esrnn() -> bool:
    return importlib.util.find_spec("rnnkit.tasks.forecast.esrnn") is not None


def network_grid(cfg: Config, periods: int) -> list[Config]:
    """RegLSTM candidates fitted on ``periods`` periods: seasonal (when the season fits) and
    first differencing, the longest input length that fits and half of it; a value the config
    fixes stays fixed."""
    h = cfg.horizon
    if cfg.difference != "auto":
        differences = [cfg.difference]
    else:
        seasonal = cfg.season > 1 and fitting_input(periods, cfg.season, h) >= MIN_INPUT
        differences = ["seasonal"] * seasonal + ["first"]
    grid = []
    for difference in differences:
        lag = {"none": 0, "first": 1, "seasonal": cfg.season}[difference]
        longest = fitting_input(periods, lag, h)
        half = max(MIN_INPUT, longest // 2)
        lengths = [cfg.input_length] if cfg.input_length else [longest, half]
        for length in dict.fromkeys(lengths):  # in order, once each
            if length >= MIN_INPUT and lag + length + h <= periods:
                grid.append(dataclasses.replace(cfg, difference=difference, input_length=length))
    return grid


def _describe(cfg: Config) -> dict[str, Any]:
    if not cfg.model.endswith("reglstm"):
        return {"model": cfg.model}
    return {"model": cfg.model, "difference": cfg.difference, "input_length": cfg.input_length}


def _fit_network(cfg: Config, panel: Panel):
    """Fit a candidate network in a temporary run directory; its forecast function."""
    from rnnkit.tasks.forecast.api import train_model
    from rnnkit.tasks.forecast.data import layout_of

    with tempfile.TemporaryDirectory(prefix="rnnkit-select-") as tmp:
        with open_run(tmp, False, TASK) as run:
            if cfg.model == "es-rnn":
                from rnnkit.tasks.forecast.esrnn import train_esrnn

                model = train_esrnn(cfg, panel, run, verbose=False)[0]
                layout, scalers = layout_of(cfg, panel), {}
            else:
                model, layout, scalers, _ = train_model(cfg, panel, run, verbose=False)
    return lambda history, h: [
        median_of(p, cfg) for p in predict_panel(model, layout, scalers, history, h)
    ]


@dataclasses.dataclass
class Validation:
    """What ``validate`` measured: each candidate (its config, its scores, its forecast
    function, fitted on the periods before the first window) on ``windows`` windows of
    ``periods`` periods, ``step`` apart, ending at the last training period."""

    windows: int
    step: int
    periods: int
    candidates: list[Config]
    rows: list[dict[str, Any]]
    forecasts: list[Any]
    note: str = ""


def validate(cfg: Config, panel: Panel, verbose: bool = True) -> Validation:
    """Backtest every candidate on the training periods of ``panel`` (its holdout cut off)."""
    train = panel.head([len(s) - cfg.holdout for s in panel.series])
    shortest, h = min(len(s) for s in train.series), cfg.horizon
    spare = cfg.val_periods  # the networks' own validation periods

    def fits(periods: int) -> bool:
        return fitting_input(periods - spare, 1, h) >= MIN_INPUT

    windows, step = validation_windows(shortest, h, fits)
    networks = windows > 0
    if not networks:  # too short for a network: the statistical models on one window
        windows = 1 if shortest - h >= 2 else 0
    if windows == 0:
        note = f"{shortest} training periods: too few to validate a horizon of {h}"
        return Validation(0, step, h, [], [], [], note)
    span = h + (windows - 1) * step
    statistical = ["seasonal-naive", "ets"] + ["naive"] * (cfg.season > 1)  # naive: m = 1
    candidates = [dataclasses.replace(cfg, model=m) for m in statistical
                  if m != "ets" or "ets" in baseline_methods()]  # fmt: skip
    if networks:
        base = dataclasses.replace(cfg, model="reglstm", holdout=span)
        candidates += network_grid(base, shortest - span - spare)
        if _has_esrnn():
            esrnn = resolve_lengths(dataclasses.replace(base, model="es-rnn"), train)[0]
            candidates.append(dataclasses.replace(esrnn, input_length=cfg.input_length))
    out = Validation(windows, step, h, [], [], [])

    def score(cand: Config, fn) -> None:
        result = backtest(fn, train, windows, step, h, cfg.season, baselines="none")
        row = _describe(cand) | {k: result.overall["model"][k] for k in ("mase", "smape")}
        out.rows.append(row)
        out.candidates.append(cand)
        out.forecasts.append(fn)
        if verbose:
            print(f"  auto: {_label(row):40} validation MASE {row['mase']:.4f}")

    for cand in candidates:
        if cand.model in STATISTICAL:
            model = Statistical(cand.model, cfg.season)
            fn = lambda history, k, m=model: [p[..., 0] for p in m.forecast(history, k)]  # noqa: E731
        else:
            try:
                fn = _fit_network(cand, train)
            except SeriesDataError as e:  # a candidate the series are too short for
                if verbose:
                    print(f"  auto: {cand.model} skipped: {e}")
                continue
        score(cand, fn)
    # the mean of ETS and the best network (M4: combinations are robust), at no more training
    kept, rows, fns = out.candidates, out.rows, out.forecasts
    nets = [i for i, c in enumerate(kept) if c.model in ("reglstm", "es-rnn")]
    if nets and kept[1].model == "ets":
        i = min(nets, key=lambda i: _finite(rows[i]["mase"]))
        combined = dataclasses.replace(kept[i], model=f"ets+{kept[i].model}")
        score(combined, lambda history, k, a=fns[1], b=fns[i]: [
            (p + q) / 2 for p, q in zip(a(history, k), b(history, k), strict=True)
        ])  # fmt: skip
    return out


def choose(rows: list[dict[str, Any]]) -> int:
    """The index of the chosen candidate: the least validation MASE (NaN last, ties: the
    earlier candidate)."""
    return min(range(len(rows)), key=lambda i: (_finite(rows[i]["mase"]), i))


def select_model(cfg: Config, panel: Panel, verbose: bool = True) -> tuple[Config, dict]:
    """(``cfg`` with the chosen model and its lengths, the report: the validation windows and
    each candidate's scores). ``cfg`` has its horizon resolved; only the periods before its
    holdout are read."""
    found = validate(cfg, panel, verbose)
    if not found.rows:
        report = {"chosen": "seasonal-naive", "windows": 0, "candidates": [], "note": found.note}
        return dataclasses.replace(cfg, model="seasonal-naive"), report
    best = choose(found.rows)
    chosen = dataclasses.replace(found.candidates[best], holdout=cfg.holdout)
    label = _label(found.rows[best])
    if with_arima(panel, cfg.holdout):
        chosen = dataclasses.replace(chosen, model=f"arima+{chosen.model}")
        label = f"arima+{label}"
    report = {"chosen": label, "windows": found.windows, "step": found.step,
              "periods": found.periods, "metric": "mase", "candidates": found.rows}  # fmt: skip
    return chosen, report


def with_arima(panel: Panel, holdout: int) -> bool:
    """Whether auto's forecast is the mean of its choice and auto-ARIMA's (see above)."""
    if "ets" not in baseline_methods():  # no statsmodels
        return False
    shortest = min(len(s) for s in panel.series) - holdout
    targets = sum(s.y.shape[1] for s in panel.series)
    return shortest >= MIN_ARIMA_PERIODS and targets <= MAX_ARIMA_SERIES


def _finite(x: float) -> float:
    return x if x == x else float("inf")  # NaN last


def _label(row: dict[str, Any]) -> str:
    if not row["model"].endswith("reglstm"):
        return row["model"]
    return f"{row['model']} (difference {row['difference']}, input length {row['input_length']})"
