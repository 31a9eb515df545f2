"""The Python API of ``rnnkit forecast``: ``Forecaster(**config).fit(data).predict()``.

``fit_run`` is what ``rnnkit forecast train`` and ``Forecaster.fit`` both run: the lengths the
config leaves to the data resolved (``data.resolve_lengths``), the model chosen when
``--model auto`` (``select.py``), then fitted: ``train_model`` (RegLSTM), ``train_esrnn``
(ES-RNN) or nothing to train (ETS, seasonal naive: ``methods.Statistical``). ``load_run``
rebuilds a forecaster from a checkpoint alone; ``evaluate_holdout`` scores the model and the
baselines (``rnnkit.metrics``) on the held-out periods; ``Forecaster.cross_validation`` runs a
backtest (``backtest.py``).

RegLSTM: per series, the targets are optionally logged, differenced (``--difference
seasonal``: y[t] - y[t-m]) and scaled with statistics of the training periods only; the input
at step t is [targets, past covariates, known-future covariates and calendar features of t and
of the H steps after t]. From the last step's state (``--head many-to-one``) or from every
step's (``many-to-many``, denser supervision) the head predicts the next H targets, as changes
from the value at that step (``--relative``). Evaluation holds out the last ``--holdout``
periods of each series (validation, if any, is the ``--val-periods`` before them) and scores
the model and, on the same split, the naive, seasonal-naive and ETS baselines (``--baselines``)
by MAE, RMSE, MAPE, sMAPE, MASE.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rnnkit.data.batch import ShardedBatch
from rnnkit.data.series import Panel, Scaler, check_lengths, split_points
from rnnkit.data.series_windows import Layout, build_windows, fit_scaler
from rnnkit.metrics import scores
from rnnkit.tasks.forecast.backtest import Backtest, backtest, baseline_forecasts, check_windows
from rnnkit.tasks.forecast.config import TASK, Config
from rnnkit.tasks.forecast.data import (
    forecast_frame,
    layout_of,
    load_panel,
    resolve_horizon,
    resolve_lengths,
    scalers_for,
)
from rnnkit.tasks.forecast.methods import (
    STATISTICAL,
    Statistical,
    combine,
    median_of,
    predict_panel,
    quantiles_of,
    save_statistical,
)
from rnnkit.tasks.forecast.model import RegLSTM, check_periods
from rnnkit.tasks.forecast.select import select_model
from rnnkit.train import distributed
from rnnkit.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    require_meta,
    resolve_checkpoint,
    save_checkpoint,
    strip_prefix,
)
from rnnkit.train.config import ConfigError, config_from_dict
from rnnkit.train.run import open_run
from rnnkit.train.runtime import resolve_device, seed_everything
from rnnkit.train.torch_engine import TorchEngine
from rnnkit.train.trainer import Trainer


def evaluate_holdout(
    model: Any,
    layout: Layout,
    panel: Panel,
    scalers: dict[str, Scaler],
    holdout: int,
    baselines: str = "all",
    cfg: Config | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Forecast the last ``holdout`` periods of each series from the periods before them, by a
    run's ``model`` (``methods.predict_panel``) and the ``baselines`` (none, fast or all).

    Returns ({"model": scores, "baselines": {name: scores}}, plot items for
    ``rnnkit.viz.forecast.plot_forecast``).
    """
    if holdout < 1:
        raise ConfigError("--holdout: expected the periods to evaluate on (>= 1), got 0")
    need = layout.history_needed if isinstance(model, RegLSTM) else 2
    check_lengths(panel, need + holdout, "--input-length, lag and --holdout")
    history = panel.head([len(s) - holdout for s in panel.series])
    preds = predict_panel(model, layout, scalers, history, holdout)  # each (K, n, Q)
    cfg = cfg or Config(horizon=layout.horizon)
    truth = [s.y[-holdout:] for s in panel.series]
    past = [s.y for s in history.series]
    result = {"model": scores(truth, [median_of(p, cfg) for p in preds], past, layout.season)}
    result["baselines"] = {
        name: scores(truth, values, past, layout.season)
        for name, values in baseline_forecasts(past, holdout, layout.season, baselines).items()
    }
    items = []
    for s, p in zip(panel.series, preds, strict=True):
        mid = median_of(p, cfg)
        for j, name in enumerate(layout.targets):
            item = {
                "id": s.id, "target": name, "time": s.time, "values": s.y[:, j],
                "forecast_time": s.time[-holdout:], "forecast": mid[:, j],
            }  # fmt: skip
            if p.shape[-1] > 1:
                item["lower"], item["upper"] = p[:, j, 0], p[:, j, -1]
            items.append(item)
    return result, items


def build_model(cfg: Config, layout: Layout) -> RegLSTM:
    """The RegLSTM of ``cfg`` for ``layout`` (batch-first)."""
    return RegLSTM(
        layout.input_size, layout.output_size, cfg.hidden_size, cfg.num_layers,
        many_to_one=cfg.head == "many-to-one", batch_first=True, dropout=cfg.dropout,
        loss=cfg.loss, quantiles=cfg.quantile_levels(), huber_delta=cfg.huber_delta,
        layer_norm=cfg.layer_norm,
    )  # fmt: skip


def load_run(
    path: str | Path, device: str = "auto"
) -> tuple[Any, Layout, dict[str, Scaler], Config]:
    """(model on ``device``, layout, scalers, config) of a forecast run directory or checkpoint
    file; the model is a RegLSTM, an ES-RNN or a ``Statistical`` method (``methods.py``)."""
    path = resolve_checkpoint(path)
    tensors, meta = load_checkpoint(path, task=TASK)
    require_meta(meta, ("config", "layout", "scalers"), path)
    cfg = config_from_dict(Config, meta["config"])
    try:
        layout = Layout(**meta["layout"])
        for name in ("season", "lag", "input_length", "horizon"):
            value = getattr(layout, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"layout {name} is {value!r}")
        scalers = {k: Scaler.from_dict(v) for k, v in meta["scalers"].items()}
    except (TypeError, KeyError, ValueError, AttributeError) as e:
        raise CheckpointError(
            f"{path}: the checkpoint's layout or scalers are damaged ({e}); use the checkpoint "
            f"as rnnkit wrote it, or train again"
        ) from e
    if cfg.model in STATISTICAL:
        return Statistical(cfg.model, layout.season), layout, scalers, cfg
    if cfg.model.endswith("es-rnn"):
        from rnnkit.tasks.forecast.esrnn import load_esrnn

        model = load_esrnn(tensors, meta, cfg)
    else:  # reglstm (and "auto": the runs from before the choice)
        model = build_model(cfg, layout)
        load_weights(model, strip_prefix("model", tensors), path)
    model = model.to(resolve_device(device)).eval()
    return combine(cfg.model, layout.season, model), layout, scalers, cfg


@dataclass
class Fitted:
    """What ``fit_run`` made: the model, its layout and scalers, the resolved config, the
    summary (summary.json), the trainer of a network (None for a statistical model) and the
    notes on what was resolved or chosen."""

    model: Any
    layout: Layout
    scalers: dict[str, Scaler]
    cfg: Config
    summary: dict[str, Any]
    trainer: Trainer | None = None
    notes: list[str] = field(default_factory=list)


def _add_layout(out: Path, layout: Layout) -> None:
    """Add the layout (what predict needs of the data: targets, frequency, horizon) to the
    checkpoints of an ES-RNN run, whose trainer does not write it."""
    for name in ("best.safetensors", "last.safetensors"):
        if (out / name).is_file() and distributed.current().is_main:
            tensors, meta = load_checkpoint(out / name, task=TASK)
            save_checkpoint(out / name, tensors, meta | {"layout": layout.to_dict(),
                                                         "scalers": {}})  # fmt: skip


def _previous_selection(out: Path) -> dict[str, Any] | None:
    """The report of ``--model auto`` in the summary.json of the run resumed in ``out``."""
    try:
        return json.loads((out / "summary.json").read_text()).get("selection")
    except (OSError, ValueError, AttributeError):
        return None


def fit_run(
    cfg: Config,
    panel: Panel,
    out: Path,
    resume_from: tuple[dict, dict] | None = None,
    verbose: bool = True,
) -> Fitted:
    """What ``rnnkit forecast train`` and ``Forecaster.fit`` run: the lengths the config leaves
    to the data resolved, the model chosen (``--model auto``, ``select.py``), then fitted on
    the periods before the holdout, into the run directory ``out``."""
    notes, selection = [], None
    if cfg.model == "auto":
        cfg, notes = resolve_horizon(cfg, panel)
        if verbose:
            print("forecast: choosing the model by backtests on the training periods")
        cfg, selection = select_model(cfg, panel, verbose)
        notes.append(f"--model auto: {selection['chosen']}")
    resolved, more = resolve_lengths(cfg, panel)
    if not cfg.model.endswith("reglstm"):  # ES-RNN resolves its own input length
        resolved = dataclasses.replace(resolved, input_length=cfg.input_length)
        more = [n for n in more if not n.startswith("--input-length")]
    cfg, notes = resolved, notes + more
    if verbose and notes:
        print("resolved: " + "; ".join(notes))
    if selection is None and resume_from is not None:  # chosen when the run started
        selection = _previous_selection(out)
    results = {"selection": selection} if selection else {}
    if cfg.model in STATISTICAL:
        layout = layout_of(cfg, panel)
        summary = {"task": TASK, "model": cfg.model, "steps": 0, "stop_reason": "fitted"}
        save_statistical(out, cfg, layout, summary | results)
        return Fitted(Statistical(cfg.model, cfg.season), layout, {}, cfg, summary | results,
                      None, notes)  # fmt: skip
    if cfg.model.endswith("es-rnn"):
        from rnnkit.tasks.forecast.esrnn import train_esrnn

        model, trainer = train_esrnn(cfg, panel, out, resume_from, verbose)
        layout, scalers = layout_of(cfg, panel), {}
        _add_layout(out, layout)
    else:
        model, layout, scalers, trainer = train_model(cfg, panel, out, resume_from, verbose)
    model = combine(cfg.model, cfg.season, model)
    summary = trainer.add_results(**results) if results else trainer.summary
    return Fitted(model, layout, scalers, cfg, summary, trainer, notes)


EVAL_WINDOWS = 16384  # the most windows an evaluation scores (a fixed sample of more)


def evaluation_windows(n: int, seed: int) -> Tensor:
    """The indices of the windows each evaluation scores: all n, or a fixed sample of
    ``EVAL_WINDOWS`` of them (drawn once from ``seed``, sorted), so that scoring a catalogue of
    many series costs no more than a few training steps and still compares checkpoints on the
    same windows."""
    if n <= EVAL_WINDOWS:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)[:EVAL_WINDOWS].sort().values


def train_model(
    cfg: Config,
    panel: Panel,
    out: Path,
    resume_from: tuple[dict, dict] | None = None,
    verbose: bool = True,
) -> tuple[RegLSTM, Layout, dict[str, Scaler], Trainer]:
    """Train on ``panel`` into the run directory ``out`` (held by ``open_run``); returns (model
    with the best weights, layout, scalers, the trainer: its ``summary``)."""
    layout = layout_of(cfg, panel)
    if cfg.holdout:  # what evaluating the holdout will need, checked before any training
        check_periods(layout, cfg.holdout)
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

    dist = distributed.current()

    def train_batch(step: int) -> tuple[Tensor, Tensor] | ShardedBatch:
        epoch, i = divmod(step, steps_per_epoch)  # a new order of the windows every epoch
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(len(train), generator=generator)
        index = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]  # the global batch
        if not dist.enabled:
            return train.batch(index, many_to_one)
        # torchrun: this rank's part; every window has as many loss terms
        part = distributed.shard(index.numpy())
        share = 0.0 if part.empty else len(part.index) / len(index)
        return ShardedBatch(*train.batch(torch.from_numpy(part.index), many_to_one), share)

    scored = evaluation_windows(len(val), cfg.seed)

    def evaluate(model: nn.Module) -> float:
        total = 0.0
        for index in scored.split(1024):
            x, y = val.batch(index, many_to_one=True)
            out = model(x.to(model.head.weight.device))[0]
            out = out if many_to_one else out[:, -1]  # the forecast from the window's end
            total += model.loss_fn(out, y.to(out.device)).item() * len(index)
        return total / len(scored)

    seed_everything(cfg.seed)
    model = build_model(cfg, layout)
    meta = {"layout": layout.to_dict(), "scalers": {k: v.to_dict() for k, v in scalers.items()}}
    trainer = Trainer(
        TorchEngine(model, cfg, train_batch, evaluate), cfg, out, task=TASK, meta=meta,
        unit="value", resume_from=resume_from, verbose=verbose,
    )  # fmt: skip
    few = "; few windows: shorten --input-length or --horizon" if len(train) < 8 else ""
    trainer.write(
        f"forecast: {len(panel.series)} series, {len(train)} training windows, "
        f"{len(val) if cfg.val_periods else 0} validation windows; input {layout.input_size} "
        f"features x {cfg.input_length} periods -> {cfg.horizon} periods x "
        f"{len(layout.targets)} target(s); difference lag {layout.lag}, season {layout.season}{few}"
    )
    trainer.fit()
    distributed.barrier()  # under torchrun: best.safetensors written by rank 0
    best, _ = load_checkpoint(out / "best.safetensors", task=TASK)
    model.load_state_dict(strip_prefix("model", best))
    return model.eval(), layout, scalers, trainer


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
        self.model: Any = None
        self.layout: Layout | None = None
        self.scalers: dict[str, Scaler] = {}
        self.panel: Panel | None = None
        self.summary: dict[str, Any] = {}
        self.notes: list[str] = []

    def fit(self, data: Any = None, out: str | Path | None = None, verbose: bool = False):
        """Train on ``data``; returns self. ``notes`` says what was resolved or chosen,
        ``summary["selection"]`` the validation scores of ``--model auto``'s candidates."""
        self.panel, cfg = load_panel(self.cfg, data)
        with tempfile.TemporaryDirectory(prefix="rnnkit-forecast-") as tmp:
            with open_run(out if out is not None else tmp, False, TASK) as run:
                fitted = fit_run(cfg, self.panel, run, verbose=verbose)
        self.model, self.layout, self.scalers = fitted.model, fitted.layout, fitted.scalers
        self.cfg, self.summary, self.notes = fitted.cfg, fitted.summary, fitted.notes
        return self

    @classmethod
    def load(cls, run: str | Path, device: str = "auto") -> Forecaster:
        """The forecaster of a run directory or checkpoint (``rnnkit forecast train --out``),
        on ``device``."""
        self = cls.__new__(cls)
        self.model, self.layout, self.scalers, self.cfg = load_run(run, device)
        self.panel, self.summary, self.notes = None, {}, []
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
        preds = predict_panel(self.model, self.layout, self.scalers, panel,
                              periods or self.layout.horizon)  # fmt: skip
        return forecast_frame(panel, self.layout, preds, quantiles_of(preds, self.cfg))

    def evaluate(self, data: Any = None, holdout: int | None = None) -> dict[str, Any]:
        """Scores on the last ``holdout`` (default: the config's) periods: the model's and the
        baselines', as ``rnnkit forecast eval --json`` prints them."""
        return self._evaluate(data, holdout)[0]

    def _evaluate(self, data: Any, holdout: int | None):
        panel = self._data(data)
        holdout = holdout or self.cfg.holdout
        ends = [len(s) - holdout for s in panel.series]
        scalers = scalers_for(panel, self.layout, self.scalers, ends)
        return evaluate_holdout(self.model, self.layout, panel, scalers, holdout,
                                self.cfg.baselines, self.cfg)  # fmt: skip

    def cross_validation(
        self, windows: int = 1, step: int | None = None, periods: int | None = None,
        data: Any = None,
    ) -> Backtest:  # fmt: skip
        """Rolling-origin evaluation (``backtest.py``): ``windows`` windows of ``periods``
        (default: the horizon) periods, ``step`` (default: periods) apart, the last at each
        series' end, each forecast from the periods before it by the fitted model (not refitted,
        as neuralforecast's ``refit=False``). The windows must lie in the periods the model did
        not learn from: the config's holdout. Returns a ``Backtest``: the long frame (id,
        cutoff, time, actual, forecast, baselines) and the scores per window and overall."""
        panel = self._data(data)
        periods = periods or self.layout.horizon
        step = step or periods
        lengths = [len(s) for s in panel.series]
        check_windows(lengths, windows, step, periods, [n - self.cfg.holdout for n in lengths],
                      f"held-out periods (--holdout {self.cfg.holdout}) the model did not train "
                      "on")  # fmt: skip
        ends = [n - self.cfg.holdout for n in lengths]  # unseen series: scaled as in evaluate
        scalers = scalers_for(panel, self.layout, self.scalers, ends)

        def fn(history: Panel, k: int) -> list[np.ndarray]:
            preds = predict_panel(self.model, self.layout, scalers, history, k)
            return [median_of(p, self.cfg) for p in preds]

        return backtest(fn, panel, windows, step, periods, self.layout.season, self.cfg.baselines)
