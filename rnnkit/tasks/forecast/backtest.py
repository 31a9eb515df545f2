"""Rolling-origin evaluation (backtests), as neuralforecast's ``cross_validation`` and darts'
``historical_forecasts``.

K windows of H periods end every S periods, the last at each series' end: window k (0 = the
earliest) has its cutoff at ``T - H - (K - 1 - k) S`` and forecasts the H periods after it from
the periods up to it alone. The forecaster is not refitted per window (neuralforecast's
``refit=False``): a network forecasts every window with the weights it has; a statistical method
(ETS, seasonal naive) fits each window's history anew, as it always does. ``backtest`` returns a
long DataFrame (id, cutoff, time, [target,] actual, forecast, one column per baseline) and the
scores (``rnnkit.metrics.scores``) of each window and of all windows together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rnnkit.data.series import Panel
from rnnkit.metrics import baseline_methods, scores

# forecasts of ``periods`` after the end of each series of a panel: (periods, n) per series
ForecastFn = Callable[[Panel, int], list[np.ndarray]]
BASELINE_KINDS = {"none": (), "fast": ("naive", "seasonal_naive"),
                  "all": ("naive", "seasonal_naive", "ets")}  # fmt: skip


def baseline_forecasts(
    histories: list[np.ndarray], periods: int, season: int, kind: str = "all"
) -> dict[str, list[np.ndarray]]:
    """The baselines of ``kind`` (none, fast: naive and seasonal naive, all: and ETS when
    statsmodels is installed): {name: one (periods, n) forecast per history (T, n)}."""
    try:  # the vectorised baselines, where rnnkit.metrics has them
        from rnnkit.metrics.baselines import forecast_baselines
    except ImportError:
        methods = baseline_methods()
        return {
            name: [methods[name](h, periods, season) for h in histories]
            for name in BASELINE_KINDS[kind]
            if name in methods
        }
    return forecast_baselines(histories, periods, season, kind=kind)


def cutoffs(length: int, windows: int, step: int, periods: int) -> list[int]:
    """The cutoffs (periods of history) of the ``windows`` windows of a series of ``length``,
    earliest first; the last window ends at the series' end."""
    return [length - periods - (windows - 1 - k) * step for k in range(windows)]


def check_windows(
    lengths: list[int], windows: int, step: int, periods: int, first_allowed: list[int],
    where: str,
) -> None:  # fmt: skip
    """ValueError unless every window's cutoff is at or after ``first_allowed`` (per series:
    the first period the forecaster did not learn from); ``where`` names those periods."""
    for name, value in (("--windows", windows), ("--step", step), ("--periods", periods)):
        if value < 1:
            raise ValueError(f"{name}: expected an int >= 1, got {value}")
    span = periods + (windows - 1) * step
    for length, first in zip(lengths, first_allowed, strict=True):
        if length - span < first:
            raise ValueError(
                f"--windows {windows} --step {step} of {periods} periods span the last {span} "
                f"periods, more than the {length - first} {where}; use fewer windows or a "
                "smaller step"
            )


@dataclass
class Backtest:
    """A backtest's ``frame`` (one row per series, cutoff, period [and target]), the scores of
    each ``window`` ({"cutoff": k, "model": ..., "baselines": {...}}) and ``overall``."""

    frame: pd.DataFrame
    windows: list[dict[str, Any]] = field(default_factory=list)
    overall: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"windows": self.windows, "overall": self.overall}


def _window_scores(truth, model, baselines, past, season) -> dict[str, Any]:
    return {
        "model": scores(truth, model, past, season),
        "baselines": {k: scores(truth, v, past, season) for k, v in baselines.items()},
    }


def _text(t: Any) -> str:
    """A period as text: a date without its midnight time."""
    return str(t.date()) if isinstance(t, pd.Timestamp) and t == t.normalize() else str(t)


def backtest(
    forecast_fn: ForecastFn,
    panel: Panel,
    windows: int,
    step: int,
    periods: int,
    season: int,
    baselines: str = "all",
) -> Backtest:
    """Rolling-origin evaluation of ``forecast_fn`` on ``panel`` (see the module docstring).

    Window k forecasts from ``panel.head(cutoff)``; its scores are ``scores`` of the forecasts
    of its H periods (MASE scaled by each series' history up to the cutoff); ``overall`` pools
    every window's values (MASE: the mean over series and windows).
    """
    lengths = [len(s) for s in panel.series]
    check_windows(lengths, windows, step, periods, [1] * len(lengths), "periods of the series")
    rows, per_window = [], []
    every: dict[str, list] = {"truth": [], "model": [], "past": []}
    every_base: dict[str, list] = {}
    for k in range(windows):
        cuts = [cutoffs(n, windows, step, periods)[k] for n in lengths]
        history = panel.head(cuts)
        past = [s.y for s in history.series]
        truth = [s.y[c : c + periods] for s, c in zip(panel.series, cuts, strict=True)]
        model = [np.asarray(p, dtype=float) for p in forecast_fn(history, periods)]
        base = baseline_forecasts(past, periods, season, baselines)
        last_seen = [_text(s.time[c - 1]) for s, c in zip(panel.series, cuts, strict=True)]
        scored = _window_scores(truth, model, base, past, season)
        per_window.append({"window": k, "cutoff": last_seen} | scored)
        for key, value in (("truth", truth), ("model", model), ("past", past)):
            every[key] += value
        for name, value in base.items():
            every_base.setdefault(name, []).extend(value)
        for i, (s, c) in enumerate(zip(panel.series, cuts, strict=True)):
            for j, target in enumerate(panel.targets):
                part = {"id": s.id, "cutoff": s.time[c - 1], "time": s.time[c : c + periods]}
                if len(panel.targets) > 1:
                    part["target"] = target
                part |= {"actual": truth[i][:, j], "forecast": model[i][:, j]}
                part |= {name: value[i][:, j] for name, value in base.items()}
                rows.append((i, k, j, pd.DataFrame(part)))
    overall = _window_scores(every["truth"], every["model"], every_base, every["past"], season)
    rows.sort(key=lambda row: row[:3])  # by series, then cutoff (and target)
    frame = pd.concat([row[3] for row in rows], ignore_index=True)
    return Backtest(frame, per_window, overall)


def validation_windows(train_length: int, periods: int, fits: Callable[[int], bool]) -> tuple[
    int, int
]:  # fmt: skip
    """(windows K, step S) of the validation backtest at the end of ``train_length`` periods:
    S = max(1, H // 3) and the most K <= 3 for which ``fits(K H-span)`` (the periods left
    before the windows are enough to fit on); (0, S) when not even one window fits."""
    step = max(1, periods // 3)
    for k in (3, 2, 1):
        span = periods + (k - 1) * step
        if span < train_length and fits(train_length - span):
            return k, step
    return 0, step
