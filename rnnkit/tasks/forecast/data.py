"""What only forecasting needs of its data: the panel of a config, its layout, scalers and
the forecasts as a table."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnkit.data.datasets import load_dataset
from rnnkit.data.series import (
    Panel,
    Scaler,
    SeriesDataError,
    future_times,
    panel_from_array,
    panel_from_frame,
    read_csv,
    season_of,
)
from rnnkit.data.series_windows import Layout, fit_scaler
from rnnkit.tasks.forecast.config import Config, names

AUTO_INPUT = 24  # the input length of --input-length 0 where the series allow it
MIN_WINDOWS = 8  # training windows per series that auto lengths leave at least
MIN_INPUT = 4  # the shortest input length auto shrinks to


def _resolved(cfg: Config, season: int) -> Config:
    """``cfg`` with its season and horizon (0 = the holdout) made explicit."""
    return dataclasses.replace(cfg, season=season, horizon=cfg.horizon or cfg.holdout)


def default_horizon(season: int, shortest: int) -> int:
    """The horizon when neither --horizon nor --holdout is given: one season (when > 1), else
    10% of the shortest series, and at most a quarter of it."""
    guess = season if season > 1 else math.ceil(0.1 * shortest)
    return max(1, min(guess, shortest // 4))


def fitting_input(periods: int, lag: int, horizon: int, cap: int = AUTO_INPUT) -> int:
    """The longest input length <= ``cap`` that leaves MIN_WINDOWS training windows in
    ``periods`` with differencing ``lag`` (may be < 1: none fits)."""
    return min(cap, periods - lag - horizon - (MIN_WINDOWS - 1))


def auto_difference(season: int, periods: int, horizon: int) -> str:
    """seasonal where ``periods`` leave an input of a season (at most 12) after the seasonal
    lag, else first."""
    if season > 1 and fitting_input(periods, season, horizon) >= min(season, 12):
        return "seasonal"
    return "first"


def resolve_horizon(cfg: Config, panel: Panel) -> tuple[Config, list[str]]:
    """``cfg`` with its horizon fixed (``default_horizon`` when 0) and a note if it was 0."""
    if cfg.horizon:
        return cfg, []
    shortest = min(len(s) for s in panel.series)
    cfg = dataclasses.replace(cfg, horizon=default_horizon(cfg.season, shortest))
    how = f"season {cfg.season}" if cfg.season > 1 else "10% of the shortest series"
    return cfg, [f"--horizon {cfg.horizon} ({how}; no --horizon or --holdout given)"]


def resolve_lengths(cfg: Config, panel: Panel, spare: int = 0) -> tuple[Config, list[str]]:
    """``cfg`` with the horizon, ``difference`` and ``input_length`` left to the data (0 or
    auto) fixed for the shortest series of ``panel``, with ``spare`` periods more kept from
    training (validation windows); and a note per value fixed."""
    cfg, notes = resolve_horizon(cfg, panel)
    shortest = min(len(s) for s in panel.series)
    periods = shortest - cfg.holdout - cfg.val_periods - spare  # training periods
    if cfg.difference == "auto":
        cfg = dataclasses.replace(cfg, difference=auto_difference(cfg.season, periods, cfg.horizon))
        notes.append(f"--difference {cfg.difference}")
    if not cfg.input_length:
        lag = {"none": 0, "first": 1, "seasonal": cfg.season}[cfg.difference]
        length = max(MIN_INPUT, fitting_input(periods, lag, cfg.horizon))
        cfg = dataclasses.replace(cfg, input_length=length)
        why = "" if length == AUTO_INPUT else f" ({periods} training periods in the shortest)"
        notes.append(f"--input-length {length}{why}")
    return cfg, notes


def load_panel(cfg: Config, data: Any = None) -> tuple[Panel, Config]:
    """The panel of ``data`` (a DataFrame, a CSV path or an (N, T, F) array; None: --csv or
    --dataset) and ``cfg`` resolved: a dataset's columns and season filled in, so that the
    saved config says what was used."""
    if isinstance(data, np.ndarray):
        cube = panel_from_array(data)
        wanted = names(cfg.target)
        unknown = [t for t in wanted if t not in cube.targets]
        if unknown:
            raise SeriesDataError(
                f"--target {','.join(unknown)}: an array's features are named "
                f"{', '.join(cube.targets)}"
            )
        target = [cube.targets.index(t) for t in wanted] or None
        return panel_from_array(data, target=target), _resolved(cfg, cfg.season or 1)
    if data is None and cfg.dataset:
        ds = load_dataset(cfg.dataset)
        cfg = dataclasses.replace(
            cfg, time=ds.time, target=cfg.target or ",".join(ds.target),
            covariates=cfg.covariates or ",".join(ds.covariates), season=cfg.season or ds.season,
        )  # fmt: skip
        data = ds.frame
    elif data is None and cfg.csv:
        data = cfg.csv
    elif data is None:
        raise SeriesDataError("no data: pass --csv PATH --time COL --target COL, or --dataset NAME")
    if isinstance(data, str | Path):
        data = read_csv(data)
    if not cfg.time:
        raise SeriesDataError("--time: expected the name of the time column, got none")
    freq: str | int | None = int(cfg.freq) if cfg.freq.isdigit() else (cfg.freq or None)
    panel = panel_from_frame(
        data, time=cfg.time, target=names(cfg.target), id=cfg.id or None,
        past=names(cfg.covariates), future=names(cfg.future_covariates), freq=freq,
        fill=cfg.fill,
    )  # fmt: skip
    return panel, _resolved(cfg, cfg.season or season_of(panel.freq))


def layout_of(cfg: Config, panel: Panel) -> Layout:
    """The layout of ``cfg`` (its season resolved by ``load_panel``) on ``panel``."""
    lag = {"none": 0, "first": 1, "seasonal": cfg.season}[cfg.difference]
    return Layout(
        panel.targets, panel.past, panel.future, names(cfg.calendar), panel.freq, cfg.season,
        lag, cfg.input_length, cfg.horizon, cfg.transform, cfg.scaler, cfg.relative,
    )  # fmt: skip


def scalers_for(
    panel: Panel, layout: Layout, saved: dict[str, Scaler], ends: list[int]
) -> dict[str, Scaler]:
    """The saved scaler of each series; a series the run has not seen gets one fitted on its
    first ``ends[i]`` periods."""
    return {
        s.id: saved[s.id] if s.id in saved else fit_scaler(s, layout, end)
        for s, end in zip(panel.series, ends, strict=True)
    }


def forecast_frame(
    panel: Panel, layout: Layout, preds: list[np.ndarray], quantiles: list[float]
) -> pd.DataFrame:
    """The forecasts as rows (id, time, [target,] value [, q0.1, ...]): value is the median."""
    rows = []
    mid = quantiles.index(0.5) if quantiles else 0
    for s, p in zip(panel.series, preds, strict=True):
        times = future_times(s.time[-1], layout.freq, len(p))
        for j, name in enumerate(layout.targets):
            part = {"id": s.id, "time": times}
            if len(layout.targets) > 1:
                part["target"] = name
            part["value"] = p[:, j, mid]
            for k, q in enumerate(quantiles):
                part[f"q{q:g}"] = p[:, j, k]
            rows.append(pd.DataFrame(part))
    return pd.concat(rows, ignore_index=True)
