"""Sequence regression and forecasting: ``rnnkit forecast train | predict | eval``.

The model is the classic "LSTM followed by a fully connected layer" (``RegLSTM``): an
``rnnkit.nn.LSTM`` over (T, N, F) or batch-first (N, T, F) inputs and a Linear head, predicting
targets at every step (many-to-many) or from the last state only (many-to-one). One global model
learns from every series of a panel (``rnnkit.data.series``) at once.

Forecasting (``rnnkit.data.series_windows``): per series, the targets are optionally logged,
differenced (``--difference seasonal``: y[t] - y[t-m]) and scaled with statistics of the
training periods only; the input at step t is [targets, past covariates, known-future
covariates and calendar features of t and of the H steps after t]. From the last step's state
(``--head many-to-one``) or from every step's (``many-to-many``, denser supervision) the head
predicts the next H (horizon) targets, as changes from the value at that step (``--relative``:
a model that outputs zeros forecasts "seasonal naive plus the last seasonal change"). Forecasts
further than H recurse on the median forecast. Every reported number is on the original scale:
the scaling, the differencing and the log are undone.

Evaluation holds out the last ``--holdout`` periods of each series (validation, if any, is the
``--val-periods`` before them) and scores the model and, on the same split, the naive,
seasonal-naive and statsmodels ExponentialSmoothing baselines by MAE, RMSE, MAPE, sMAPE and
MASE.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import math
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rnnkit.data.datasets import load_dataset
from rnnkit.data.series import (
    CALENDAR,
    Panel,
    Scaler,
    SeriesDataError,
    check_lengths,
    future_times,
    panel_from_array,
    panel_from_frame,
    read_csv,
    season_of,
    split_points,
)
from rnnkit.data.series_windows import (
    Layout,
    build_windows,
    extended,
    fit_scaler,
    forecast_input,
    from_model_space,
    transformed_targets,
    untransformed,
)
from rnnkit.nn import LSTM
from rnnkit.train.checkpoint import load_checkpoint, resolve_checkpoint, strip_prefix
from rnnkit.train.config import (
    ConfigError,
    TrainConfig,
    add_config_args,
    config_from_args,
    config_from_dict,
    flag_name,
    option,
)
from rnnkit.train.trainer import Trainer, prepare_run_dir, resume_config, seed_everything
from rnnkit.viz.forecast import plot_forecast

TASK = "forecast"
LOSSES = ("mse", "mae", "huber", "quantile")
# config fields that shape the model or the data: a resumed run cannot change them
FIXED_ON_RESUME = (
    "csv", "dataset", "time", "target", "id", "covariates", "future_covariates", "calendar",
    "freq", "fill", "holdout", "val_periods", "input_length", "horizon", "head", "relative",
    "hidden_size",
    "num_layers", "layer_norm", "loss", "quantiles", "difference", "season", "transform", "scaler",
    "batch_size", "stride",
)  # fmt: skip


def _names(text: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``: the comma-separated lists of the config."""
    return [t.strip() for t in text.split(",") if t.strip()]


# ---------------------------------------------------------------------------------------------
# config


@dataclass
class Config(TrainConfig):
    """Hyperparameters of forecasting (and, inherited, of training).

    The defaults (24 periods in, the holdout's periods out at once, seasonal differencing,
    standard scaling, relative targets, one LSTM layer of 32 units read many-to-one, 500 steps
    of AdamW on one thread) forecast airline's last 36 months at MAPE 0.035 (mean of 5 seeds;
    seasonal naive 0.132, ETS 0.051, auto-ARIMA 0.041), in about 3 seconds.
    """

    # the data
    csv: str = option("", "CSV file, long form (--time, --target, [--id]) or wide form")
    dataset: str = option("", "a named offline dataset instead of --csv (airline, co2, ...)")
    time: str = option("", "time column of --csv (dates or integer steps)")
    target: str = option("", "target column(s), comma-separated ('' = wide form)")
    id: str = option("", "series-id column ('' = one series)")
    covariates: str = option("", "past-observed covariate columns, comma-separated")
    future_covariates: str = option("", "known-future covariate columns, comma-separated")
    calendar: str = option("", f"calendar features, comma-separated: {', '.join(CALENDAR)}")
    freq: str = option("", "time grid: pandas alias (MS, D, h) or int step ('' = inferred)")
    fill: Literal["error", "ffill", "interpolate", "zero"] = option(
        "error", "missing values and gaps: refuse them, or fill them"
    )
    holdout: int = option(0, "last periods of each series held out for the test")
    val_periods: int = option(
        0, "periods before the holdout for validation (0 = none: the loss on training windows)"
    )
    # the model
    input_length: int = option(24, "periods the model reads before forecasting")
    horizon: int = option(0, "periods forecast at once (0 = --holdout); longer ones recurse")
    head: Literal["many-to-one", "many-to-many"] = option(
        "many-to-one", "train the last step of a window to forecast, or every step"
    )
    relative: bool = option(
        True, "forecast the change from the last input (differenced, scaled) value"
    )
    hidden_size: int = option(32, "LSTM units")
    num_layers: int = option(1, "LSTM layers")
    dropout: float = option(0.0, "dropout between LSTM layers")
    layer_norm: bool = option(False, "layer-normalized LSTM cells")
    loss: Literal["mse", "mae", "huber", "quantile"] = option("mse", "training loss")
    quantiles: str = option("0.1,0.5,0.9", "quantiles of --loss quantile (0.5 included)")
    huber_delta: float = option(1.0, "--loss huber: the threshold between L2 and L1")
    difference: Literal["seasonal", "first", "none"] = option(
        "seasonal", "model y[t] - y[t - season], y[t] - y[t - 1], or y"
    )
    season: int = option(0, "seasonal period (0 = from the dataset or the frequency)")
    transform: Literal["none", "log"] = option("none", "log the targets first (positive data)")
    scaler: Literal["standard", "minmax", "robust", "none"] = option(
        "standard", "per-series scaling, fitted on the training periods"
    )
    batch_size: int = option(32, "windows per batch")
    stride: int = option(1, "periods between two training windows")
    # the training loop, with defaults for small data
    lr: float = option(3e-3, "peak learning rate")
    warmup_steps: int = option(20, "steps of linear warmup from 0 to lr")
    max_steps: int = option(500, "stop after this many steps (0 = no limit)")
    eval_every: int = option(50, "evaluate and checkpoint every this many steps")
    threads: int = option(1, "CPU threads for torch (0 = torch's default; small models: 1)")
    divergence_factor: float = option(
        10.0, "stop when the train loss exceeds this times the first loss (0 = on NaN/inf only)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("input_length", "hidden_size", "num_layers", "batch_size", "stride"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"{flag_name(name)}: expected an int >= 1, got {getattr(self, name)}"
                )
        for name in ("horizon", "holdout", "val_periods", "season"):
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"{flag_name(name)}: expected an int >= 0, got {getattr(self, name)}"
                )
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout: expected a number in [0, 1), got {self.dropout}")
        if self.huber_delta <= 0:
            raise ConfigError(f"--huber-delta: expected a number > 0, got {self.huber_delta}")
        if self.horizon == 0 and self.holdout == 0:
            raise ConfigError("--horizon: expected the periods to forecast (or --holdout), got 0")
        if self.csv and self.dataset:
            raise ConfigError("--csv and --dataset: expected one source of data, got both")
        if self.csv and not self.time:
            raise ConfigError("--csv: expected --time to name the time column, got none")
        qs = self.quantile_levels()
        if self.loss == "quantile" and (0.5 not in qs or any(not 0 < q < 1 for q in qs)):
            raise ConfigError(
                f"--quantiles: expected levels in (0, 1) including 0.5, got {self.quantiles!r}"
            )

    def quantile_levels(self) -> list[float]:
        """The quantile levels of --loss quantile (empty for the other losses)."""
        if self.loss != "quantile":
            return []
        try:
            return sorted(float(q) for q in _names(self.quantiles))
        except ValueError:
            raise ConfigError(
                f"--quantiles: expected numbers like 0.1,0.5,0.9, got {self.quantiles!r}"
            ) from None


# ---------------------------------------------------------------------------------------------
# the model


class RegLSTM(nn.Module):
    """An LSTM followed by a Linear head: sequence regression, many-to-many or many-to-one.

    Args: input_size F, output_size O, hidden_size H=32, num_layers=1; keyword-only
    ``many_to_one`` (predict from the last step only), ``batch_first``, ``dropout`` (between
    LSTM layers), ``loss`` (mse, mae, huber or quantile), ``quantiles`` (levels, for the quantile
    loss), ``huber_delta`` and any extra of ``rnnkit.nn.LSTM`` (layer_norm, zoneout, ...).

    ``forward(x, targets=None) -> (output, loss)``. x: (T, N, F), (N, T, F) with batch_first,
    or unbatched (T, F). output: many-to-many (T, N, O) / (N, T, O) / (T, O); many-to-one (N, O)
    / (O,); with quantiles a last dim Q more. targets: the shape of output without Q; loss: the
    mean loss (None without targets).
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        hidden_size: int = 32,
        num_layers: int = 1,
        *,
        many_to_one: bool = False,
        batch_first: bool = False,
        dropout: float = 0.0,
        loss: str = "mse",
        quantiles: list[float] | tuple[float, ...] = (),
        huber_delta: float = 1.0,
        **lstm_extras: Any,
    ):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"RegLSTM: expected loss in {LOSSES}, got {loss!r}")
        if (loss == "quantile") != bool(quantiles):
            raise ValueError("RegLSTM: expected quantiles with loss='quantile' and only with it")
        self.output_size, self.many_to_one, self.batch_first = output_size, many_to_one, batch_first
        self.loss_name, self.huber_delta = loss, huber_delta
        self.register_buffer("quantiles", torch.tensor(list(quantiles), dtype=torch.float32))
        self.lstm = LSTM(
            input_size, hidden_size, num_layers, batch_first=batch_first,
            dropout=dropout if num_layers > 1 else 0.0, **lstm_extras,
        )  # fmt: skip
        self.head = nn.Linear(hidden_size, output_size * max(1, len(quantiles)))

    def forward(self, x: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        out, _ = self.lstm(x)  # (T, N, H), (N, T, H) or (T, H)
        if self.many_to_one:
            out = out[:, -1] if self.batch_first and out.dim() == 3 else out[-1]  # (N, H) / (H,)
        output = self.head(out)  # (..., O * Q)
        if len(self.quantiles):
            output = output.unflatten(-1, (self.output_size, len(self.quantiles)))  # (..., O, Q)
        loss = None if targets is None else self.loss_fn(output, targets)
        return output, loss

    def loss_fn(self, output: Tensor, targets: Tensor) -> Tensor:
        """The mean loss of ``output`` against ``targets`` (output's shape without Q)."""
        expected = output.shape[:-1] if len(self.quantiles) else output.shape
        if targets.shape != expected:
            raise ValueError(
                f"RegLSTM: expected targets of shape {tuple(expected)}, got {tuple(targets.shape)}"
            )
        if self.loss_name == "quantile":
            err = targets.unsqueeze(-1) - output  # (..., O, Q)
            q = self.quantiles
            return torch.maximum(q * err, (q - 1) * err).mean()
        if self.loss_name == "mae":
            return (output - targets).abs().mean()
        if self.loss_name == "huber":
            return nn.functional.huber_loss(output, targets, delta=self.huber_delta)
        return nn.functional.mse_loss(output, targets)

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The output for ``x`` in eval mode, without gradients."""
        was_training = self.training
        self.eval()
        try:
            return self(x)[0]
        finally:
            self.train(was_training)


# ---------------------------------------------------------------------------------------------
# forecasting


def median_index(model: RegLSTM) -> int:
    """The index of the 0.5 quantile in the model's output (0 without quantiles)."""
    return int(torch.argmin((model.quantiles - 0.5).abs())) if len(model.quantiles) else 0


@torch.no_grad()
def forecast(
    model: RegLSTM,
    layout: Layout,
    panel: Panel,
    scalers: dict[str, Scaler],
    periods: int,
) -> list[np.ndarray]:
    """Forecasts of the ``periods`` after each series' end, on the original scale: one array
    (periods, n, Q) per series (Q = 1 without quantiles; with them, Q levels in order).

    Beyond the horizon the forecast recurses on its median; each quantile is integrated along
    its own path (for differenced targets: an interval that widens with the horizon).
    """
    h, n = layout.horizon, len(layout.targets)
    if periods > h and layout.past:
        raise SeriesDataError(
            f"a forecast of {periods} periods with --horizon {h} would need the past covariates "
            f"{', '.join(layout.past)} after the series' end; train with --horizon >= {periods}"
        )
    check_lengths(panel, layout.history_needed, "--input-length plus the differencing lag")
    q, mid = len(model.quantiles) or 1, median_index(model)
    device = model.head.weight.device
    for s in panel.series:
        known_until = len(s.future)
        if layout.future and known_until < len(s) + periods:
            raise SeriesDataError(
                f"series {s.id!r}: --future-covariates are known for {known_until - len(s)} "
                f"period(s) after its end, the forecast needs {periods}; add rows after the end "
                "with the covariates and empty targets"
            )
    # paths (Q, T + done, n) in transformed space; the median path is what the model reads
    paths = [np.repeat(transformed_targets(s, layout)[None], q, axis=0) for s in panel.series]
    done = 0
    while done < periods:
        inputs = [
            forecast_input(extended(s, path[mid], layout), layout, scalers[s.id])
            for s, path in zip(panel.series, paths, strict=True)
        ]
        x = torch.tensor(np.stack([i[0] for i in inputs]), dtype=torch.float32, device=device)
        out = model.predict(x)  # (N, L, H n[, Q]) or (N, H n[, Q])
        out = out if model.many_to_one else out[:, -1]  # (N, H n[, Q])
        out = out.reshape(len(x), h, n, q).permute(0, 3, 1, 2).double().cpu().numpy()  # (N,Q,H,n)
        for i, s in enumerate(panel.series):
            new = from_model_space(out[i], inputs[i][1], scalers[s.id], paths[i], layout)
            paths[i] = np.concatenate([paths[i], new], axis=1)  # (Q, T + done + H, n)
        done += h
    results = []
    for s, path in zip(panel.series, paths, strict=True):
        ahead = untransformed(path[:, len(s) : len(s) + periods], layout)  # (Q, periods, n)
        results.append(np.moveaxis(ahead, 0, -1))  # (periods, n, Q)
    return results


# ---------------------------------------------------------------------------------------------
# evaluation: metrics and baselines on the held-out periods


def scores(
    truth: list[np.ndarray], pred: list[np.ndarray], history: list[np.ndarray], season: int
) -> dict[str, float]:
    """MAE, RMSE, MAPE, sMAPE (fractions, not %) over every held-out value of every series,
    and MASE: each series' MAE over the in-sample MAE of its seasonal-naive forecast, averaged.
    Arrays per series: truth and pred (K, n), history (T, n). Zeros are left out of MAPE."""
    y, p = np.concatenate(truth), np.concatenate(pred)  # (sum K, n)
    err = np.abs(y - p)
    nonzero, denom = y != 0, np.abs(y) + np.abs(p)
    both_zero = denom == 0  # sMAPE: a perfect forecast of 0 scores 0
    smape = np.where(both_zero, 0.0, 2 * err / np.where(both_zero, 1.0, denom))
    ratios = []
    for t, f, h in zip(truth, pred, history, strict=True):
        m = season if len(h) > season else 1
        scale = np.abs(h[m:] - h[:-m]).mean(axis=0)  # (n,)
        ratios += [e / s for e, s in zip(np.abs(t - f).mean(0), scale, strict=True) if s > 0]
    return {
        "mae": float(err.mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "mape": float((err[nonzero] / np.abs(y[nonzero])).mean()) if nonzero.any() else math.nan,
        "smape": float(smape.mean()),
        "mase": float(np.mean(ratios)) if ratios else math.nan,
    }


def naive(history: np.ndarray, periods: int, season: int) -> np.ndarray:
    """The last value of ``history`` (T, n), repeated: (periods, n)."""
    return np.repeat(history[-1:], periods, axis=0)


def seasonal_naive(history: np.ndarray, periods: int, season: int) -> np.ndarray:
    """The value one season earlier: (periods, n). Falls back to naive if too short."""
    m = season if len(history) >= season else 1
    return history[len(history) - m + np.arange(periods) % m]


def ets(history: np.ndarray, periods: int, season: int) -> np.ndarray:
    """statsmodels' ExponentialSmoothing, additive trend (and additive season when m > 1 and
    two seasons are known), per column: (periods, n). Its fitting warnings are silenced."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    out = np.empty((periods, history.shape[1]))
    seasonal = "add" if season > 1 and len(history) >= 2 * season else None
    for j in range(history.shape[1]):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # convergence and overflow notes of the optimizer
            fit = ExponentialSmoothing(
                history[:, j], trend="add", seasonal=seasonal,
                seasonal_periods=season if seasonal else None, initialization_method="estimated",
            ).fit()  # fmt: skip
            out[:, j] = fit.forecast(periods)
    return out


def baseline_methods() -> dict[str, Any]:
    """The baselines eval compares with: naive, seasonal_naive and, with statsmodels, ets."""
    methods: dict[str, Any] = {"naive": naive, "seasonal_naive": seasonal_naive}
    try:
        import statsmodels  # noqa: F401
    except ImportError:
        return methods
    return methods | {"ets": ets}


def evaluate_holdout(
    model: RegLSTM, layout: Layout, panel: Panel, scalers: dict[str, Scaler], holdout: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Forecast the last ``holdout`` periods of each series from the periods before them.

    Returns ({"model": scores, "baselines": {name: scores}}, plot items for
    ``rnnkit.viz.forecast.plot_forecast``).
    """
    if holdout < 1:
        raise ConfigError("--holdout: expected the periods to evaluate on (>= 1), got 0")
    check_lengths(panel, layout.history_needed + holdout, "--input-length, lag and --holdout")
    history = panel.head([len(s) - holdout for s in panel.series])
    preds = forecast(model, layout, history, scalers, holdout)  # each (K, n, Q)
    mid = median_index(model)
    truth = [s.y[-holdout:] for s in panel.series]
    past = [s.y for s in history.series]
    result = {"model": scores(truth, [p[..., mid] for p in preds], past, layout.season)}
    result["baselines"] = {
        name: scores(truth, [f(h, holdout, layout.season) for h in past], past, layout.season)
        for name, f in baseline_methods().items()
    }
    items = []
    for s, p in zip(panel.series, preds, strict=True):
        for j, name in enumerate(layout.targets):
            item = {
                "id": s.id, "target": name, "time": s.time, "values": s.y[:, j],
                "forecast_time": s.time[-holdout:], "forecast": p[:, j, mid],
            }  # fmt: skip
            if p.shape[-1] > 1:
                item["lower"], item["upper"] = p[:, j, 0], p[:, j, -1]
            items.append(item)
    return result, items


# ---------------------------------------------------------------------------------------------
# data, model and run: building and loading


def _resolved(cfg: Config, season: int) -> Config:
    """``cfg`` with its season and horizon (0 = the holdout) made explicit."""
    return dataclasses.replace(cfg, season=season, horizon=cfg.horizon or cfg.holdout)


def load_panel(cfg: Config, data: Any = None) -> tuple[Panel, Config]:
    """The panel of ``data`` (a DataFrame, a CSV path or an (N, T, F) array; None: --csv or
    --dataset) and ``cfg`` resolved: a dataset's columns and season filled in, so that the
    saved config says what was used."""
    if isinstance(data, np.ndarray):
        cube = panel_from_array(data)
        names = _names(cfg.target)
        unknown = [t for t in names if t not in cube.targets]
        if unknown:
            raise SeriesDataError(
                f"--target {','.join(unknown)}: an array's features are named "
                f"{', '.join(cube.targets)}"
            )
        target = [cube.targets.index(t) for t in names] or None
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
        data, time=cfg.time, target=_names(cfg.target), id=cfg.id or None,
        past=_names(cfg.covariates), future=_names(cfg.future_covariates), freq=freq,
        fill=cfg.fill,
    )  # fmt: skip
    return panel, _resolved(cfg, cfg.season or season_of(panel.freq))


def layout_of(cfg: Config, panel: Panel) -> Layout:
    """The layout of ``cfg`` (its season resolved by ``load_panel``) on ``panel``."""
    lag = {"none": 0, "first": 1, "seasonal": cfg.season}[cfg.difference]
    return Layout(
        panel.targets, panel.past, panel.future, _names(cfg.calendar), panel.freq, cfg.season,
        lag, cfg.input_length, cfg.horizon, cfg.transform, cfg.scaler, cfg.relative,
    )  # fmt: skip


def build_model(cfg: Config, layout: Layout) -> RegLSTM:
    """The RegLSTM of ``cfg`` for ``layout`` (batch-first)."""
    return RegLSTM(
        layout.input_size, layout.output_size, cfg.hidden_size, cfg.num_layers,
        many_to_one=cfg.head == "many-to-one", batch_first=True, dropout=cfg.dropout,
        loss=cfg.loss, quantiles=cfg.quantile_levels(), huber_delta=cfg.huber_delta,
        layer_norm=cfg.layer_norm,
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


def load_run(path: str | Path) -> tuple[RegLSTM, Layout, dict[str, Scaler], Config]:
    """(model, layout, scalers, config) of a forecast run directory or checkpoint file."""
    tensors, meta = load_checkpoint(resolve_checkpoint(path), task=TASK)
    cfg = config_from_dict(Config, meta["config"])
    layout = Layout(**meta["layout"])
    scalers = {k: Scaler.from_dict(v) for k, v in meta["scalers"].items()}
    model = build_model(cfg, layout)
    model.load_state_dict(strip_prefix("model", tensors))
    return model.eval(), layout, scalers, cfg


def train_model(
    cfg: Config,
    panel: Panel,
    out: Path,
    resume_from: tuple[dict, dict] | None = None,
    log=print,
) -> tuple[RegLSTM, Layout, dict[str, Scaler], dict[str, Any]]:
    """Train on ``panel`` into the run directory ``out``; returns (model with the best weights,
    layout, scalers, summary)."""
    layout = layout_of(cfg, panel)
    need = layout.history_needed + layout.horizon + cfg.val_periods + cfg.holdout
    check_lengths(panel, need, "--input-length, --horizon, the lag, --val-periods and --holdout")
    ends = [split_points(len(s), cfg.holdout, cfg.val_periods) for s in panel.series]
    scalers = {
        s.id: fit_scaler(s, layout, te) for s, (te, _) in zip(panel.series, ends, strict=True)
    }
    train = build_windows(panel, layout, scalers, [(0, te) for te, _ in ends], cfg.stride)
    val = build_windows(panel, layout, scalers, ends) if cfg.val_periods else train
    many_to_one = cfg.head == "many-to-one"
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)

    def train_batch(step: int) -> tuple[Tensor, Tensor]:
        epoch, i = divmod(step, steps_per_epoch)  # a new order of the windows every epoch
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(len(train), generator=generator)
        return train.batch(order[i * cfg.batch_size : (i + 1) * cfg.batch_size], many_to_one)

    def evaluate(model: nn.Module) -> float:
        total = 0.0
        for index in torch.arange(len(val)).split(1024):
            x, y = val.batch(index, many_to_one=True)
            out = model(x.to(model.head.weight.device))[0]
            out = out if many_to_one else out[:, -1]  # the forecast from the window's end
            total += model.loss_fn(out, y.to(out.device)).item() * len(index)
        return total / len(val)

    seed_everything(cfg.seed)
    model = build_model(cfg, layout)
    meta = {"layout": layout.to_dict(), "scalers": {k: v.to_dict() for k, v in scalers.items()}}
    trainer = Trainer(
        model, cfg, train_batch, evaluate, out, task=TASK, meta=meta, unit="value",
        resume_from=resume_from,
    )  # fmt: skip
    few = "; few windows: shorten --input-length or --horizon" if len(train) < 8 else ""
    log(
        f"forecast: {len(panel.series)} series, {len(train)} training windows, "
        f"{len(val) if cfg.val_periods else 0} validation windows; input {layout.input_size} "
        f"features x {cfg.input_length} periods -> {cfg.horizon} periods x "
        f"{len(layout.targets)} target(s); difference lag {layout.lag}, season {layout.season}{few}"
    )
    summary = trainer.fit()
    best, _ = load_checkpoint(out / "best.safetensors", task=TASK)
    model.load_state_dict(strip_prefix("model", best))
    return model.eval(), layout, scalers, summary


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


# ---------------------------------------------------------------------------------------------
# the Python API


class Forecaster:
    """The Python API of ``rnnkit forecast``: ``Forecaster(**config).fit(data).predict()``.

    Keyword arguments are fields of ``Config`` (``input_length=24, horizon=12, holdout=36``,
    ``time="date", target=["sales"]`` ...; column lists may be lists). ``fit(data)`` takes a
    DataFrame, a CSV path or an (N, T, F) array (None: the config's csv or dataset) and trains
    in ``out`` (default: a temporary directory, removed after). Then ``predict()`` forecasts
    after each series' end, ``evaluate()`` scores the held-out periods against the baselines.
    """

    def __init__(self, **config: Any):
        values = {k: ",".join(map(str, v)) if isinstance(v, list | tuple) else v
                  for k, v in config.items()}  # fmt: skip
        if "freq" in values and isinstance(values["freq"], int):
            values["freq"] = str(values["freq"])
        self.cfg = config_from_dict(Config, {"tensorboard": False} | values)
        self.model: RegLSTM | None = None
        self.layout: Layout | None = None
        self.scalers: dict[str, Scaler] = {}
        self.panel: Panel | None = None
        self.summary: dict[str, Any] = {}

    def fit(self, data: Any = None, out: str | Path | None = None, verbose: bool = False):
        """Train on ``data``; returns self."""
        self.panel, self.cfg = load_panel(self.cfg, data)
        quiet = contextlib.ExitStack()
        if not verbose:  # the trainer's progress bar and evaluation lines
            quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
            quiet.enter_context(contextlib.redirect_stderr(io.StringIO()))
        with quiet, tempfile.TemporaryDirectory(prefix="rnnkit-forecast-") as tmp:
            run = prepare_run_dir(out if out is not None else tmp, resume=False)
            self.model, self.layout, self.scalers, self.summary = train_model(
                self.cfg, self.panel, run
            )
        return self

    @classmethod
    def load(cls, run: str | Path) -> Forecaster:
        """The forecaster of a run directory or checkpoint (``rnnkit forecast train --out``)."""
        self = cls.__new__(cls)
        self.model, self.layout, self.scalers, self.cfg = load_run(run)
        self.panel, self.summary = None, {}
        return self

    def _data(self, data: Any) -> Panel:
        if self.model is None:
            raise RuntimeError("Forecaster: expected a fitted model; call fit() or load() first")
        if data is None and self.panel is not None:
            return self.panel
        return load_panel(self.cfg, data)[0]

    def predict(self, data: Any = None, periods: int | None = None) -> pd.DataFrame:
        """Forecasts of the ``periods`` (default: horizon) after each series' end, as a
        DataFrame (id, time, [target,] value, [quantiles])."""
        panel = self._data(data)
        periods = periods or self.layout.horizon
        scalers = scalers_for(panel, self.layout, self.scalers, [len(s) for s in panel.series])
        preds = forecast(self.model, self.layout, panel, scalers, periods)
        return forecast_frame(panel, self.layout, preds, self.cfg.quantile_levels())

    def evaluate(self, data: Any = None, holdout: int | None = None) -> dict[str, Any]:
        """Scores on the last ``holdout`` (default: the config's) periods: the model's and the
        baselines', as ``rnnkit forecast eval --json`` prints them."""
        return self._evaluate(data, holdout)[0]

    def _evaluate(self, data: Any, holdout: int | None):
        panel = self._data(data)
        holdout = holdout or self.cfg.holdout
        ends = [len(s) - holdout for s in panel.series]
        scalers = scalers_for(panel, self.layout, self.scalers, ends)
        return evaluate_holdout(self.model, self.layout, panel, scalers, holdout)


# ---------------------------------------------------------------------------------------------
# the verbs


def _table(result: dict[str, Any]) -> str:
    rows = [("model", result["model"])] + list(result["baselines"].items())
    lines = [f"{'':16}" + "".join(f"{k:>11}" for k in ("mae", "rmse", "mape", "smape", "mase"))]
    for name, s in rows:
        lines.append(f"{name:16}" + "".join(f"{v:11.4g}" for v in s.values()))
    return "\n".join(lines)


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    """The result with NaN (e.g. MAPE of an all-zero truth) as null."""
    if isinstance(result, dict):
        return {k: _jsonable(v) for k, v in result.items()}
    return None if isinstance(result, float) and not math.isfinite(result) else result


def train(args: argparse.Namespace) -> int:
    """``rnnkit forecast train``: train, then score the holdout and draw forecast.png."""
    out = prepare_run_dir(args.out, args.resume)
    resume_from = None
    if args.resume:
        cfg, resume_from = resume_config(Config, args, out, TASK, FIXED_ON_RESUME)
    else:
        cfg = config_from_args(Config, args)
    panel, cfg = load_panel(cfg)
    model, layout, scalers, summary = train_model(cfg, panel, out, resume_from)
    print(
        f"done: {summary['steps']} steps ({summary['stop_reason']}), best evaluation loss "
        f"{summary['best_val_loss']:.4f} at step {summary['best_step']} -> {out}"
    )
    if cfg.holdout:
        result, items = evaluate_holdout(model, layout, panel, scalers, cfg.holdout)
        (out / "eval.json").write_text(json.dumps(_jsonable(result), indent=2) + "\n")
        plot_forecast(items, out / "forecast.png", f"last {cfg.holdout} periods held out")
        print(f"held-out {cfg.holdout} periods:\n{_table(result)}")
    return 130 if summary["stop_reason"] == "interrupted" else 0


def predict(args: argparse.Namespace) -> int:
    """``rnnkit forecast predict``: forecasts after each series' end, as CSV."""
    if args.periods is not None and args.periods < 1:
        raise ConfigError(f"--periods: expected an int >= 1, got {args.periods}")
    frame = Forecaster.load(args.run).predict(args.csv, args.periods)
    if args.out:
        frame.to_csv(args.out, index=False)
        print(f"{len(frame)} forecast rows -> {args.out}", file=sys.stderr)
    else:
        frame.to_csv(sys.stdout, index=False)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit forecast eval``: scores on the held-out periods, model and baselines."""
    fc = Forecaster.load(args.run)
    if args.holdout is not None and args.holdout < 1:
        raise ConfigError(f"--holdout: expected an int >= 1, got {args.holdout}")
    result, items = fc._evaluate(args.csv, args.holdout)
    plot = args.plot or (Path(args.run) / "forecast.png" if Path(args.run).is_dir() else None)
    if plot:
        plot_forecast(items, plot, f"last {args.holdout or fc.cfg.holdout} periods held out")
    print(json.dumps(_jsonable(result)) if args.json else _table(result))
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the verbs train, predict and eval to the ``forecast`` parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    p = verbs.add_parser("train", help="train a forecaster", description="Train a forecaster.")
    p.add_argument("--out", default="runs/forecast", help="run directory (default: runs/forecast)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    add_config_args(p, Config)
    p.set_defaults(func=train)

    about = "Forecast the periods after each series' end, as CSV."
    p = verbs.add_parser("predict", help="forecast after each series' end", description=about)
    p.add_argument("run", metavar="RUN", help="run directory or checkpoint file")
    p.add_argument("--csv", default=None, help="series to forecast (default: the run's data)")
    p.add_argument("--out", default=None, help="CSV file to write (default: stdout)")
    p.add_argument("--periods", type=int, default=None, help="periods ahead (default: horizon)")
    p.set_defaults(func=predict)

    about = "MAE, RMSE, MAPE, sMAPE and MASE on the held-out periods: model and baselines."
    p = verbs.add_parser("eval", help="score the held-out periods", description=about)
    p.add_argument("run", metavar="RUN", help="run directory or checkpoint file")
    p.add_argument("--csv", default=None, help="series to score (default: the run's data)")
    p.add_argument("--holdout", type=int, default=None, help="periods (default: the run's)")
    p.add_argument("--plot", default=None, help="forecast plot (default: RUN/forecast.png)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=evaluate)
