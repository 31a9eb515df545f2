"""ES-RNN (``--model es-rnn``): train, load and forecast Smyl's hybrid on a panel.

The network (``ESRNN``, ``holt_winters``, ``DilatedLSTM``) is in ``esrnn_model.py`` and
re-exported here. ``train_esrnn`` trains one global LSTM and the per-series Holt-Winters
coefficients of every (series, target) of a panel on the periods before ``--holdout`` (the
``--val-periods`` before it validate) through ``rnnkit.train.Trainer``; ``load_esrnn``
rebuilds the model from a checkpoint (its JSON meta says all), ``forecast_esrnn`` forecasts
after each series' end.

Choices:

- Form: multiplicative when every value before the holdout is > 0, else additive (y - l - s,
  normalised by each series' mean absolute change): uschange's growth rates go negative.
- Loss: the pinball loss of the normalised targets at 0.5 (a point forecast: the log-space
  median; Smyl used 0.48-0.49 on M4 to offset its positive bias, we keep the median) whatever
  --loss of RegLSTM's is set, or at --quantiles with --loss quantile.
- Season m and horizon H are resolved as ``layout_of`` does (--season, else the dataset's or
  the frequency's; --horizon, else --holdout). Covariates are not read by ES-RNN.
- Layers: --dilations "1,2" gives one LSTM layer per dilation (residual from the second on);
  without, --num-layers plain layers.
- Each step trains on --batch-size (series, target) rows, every window of each.

Defaults, chosen by validation on the periods before each test (``benchmarks/
forecast_esrnn.py``: airline, lynx, nile, shampoo, uschange; two rounds, 20 candidates; a third
round of lr 1e-2, gain 30, 16 units, Hyndman's seasonal form, no weight decay did not beat
them): 8 LSTM units, 100 steps (what the config's RegLSTM defaults --hidden-size 32 and
--max-steps 500 mean here; other values are used as given; the default --divergence-factor
means NaN/inf only), an input of one season (8 periods without one), the per-series
coefficients at 10x the network's pace, the last layer starting at zero, no level penalty. At
these, the test MASE against ETS: airline 1.48 vs 0.71, lynx 0.69 vs 0.72, nile 0.91 vs 0.86,
shampoo 1.26 vs 0.81, uschange 0.47 vs 0.32 (mean of 3 seeds): ES-RNN, fitted on one short
series at a time, does not yet beat ETS on most of them.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.series import Panel, SeriesDataError, check_lengths, season_of, split_points
from rnnkit.tasks.forecast.config import TASK, Config, names
from rnnkit.tasks.forecast.esrnn_model import ESRNN, DilatedLSTM, holt_winters, run_dilated
from rnnkit.tasks.forecast.model import median_index
from rnnkit.train.checkpoint import CheckpointError, load_checkpoint, load_weights, strip_prefix
from rnnkit.train.runtime import seed_everything
from rnnkit.train.torch_engine import TorchEngine
from rnnkit.train.trainer import Trainer

__all__ = [
    "ESRNN", "DilatedLSTM", "holt_winters", "run_dilated", "train_esrnn", "load_esrnn",
    "forecast_esrnn", "sizes_of", "dilations_of", "with_defaults", "LEVEL_PENALTY",
    "HIDDEN_SIZE", "MAX_STEPS",
]  # fmt: skip

# the defaults, chosen by validation before the test periods (benchmarks/forecast_esrnn.py);
# the config's hidden size 32 and 500 steps (RegLSTM's defaults) mean these
HIDDEN_SIZE = 8
MAX_STEPS = 100
LEVEL_PENALTY = 0.0  # weight of Smyl's level variability penalty (10, 50: worse)
SERIES_GAIN = 10.0  # per-series parameters move this much faster than the network's
ZERO_HEAD = True  # the untrained forecast is Holt-Winters' (the last layer zero)
INPUT_SEASONS = 1  # --input-length 0: this many seasons
INPUT_NONSEASONAL = 8  # --input-length 0 without seasonality: this many periods


def dilations_of(cfg: Config) -> list[int]:
    """The dilation of each LSTM layer: --dilations, else --num-layers ones."""
    if not cfg.dilations:
        return [1] * cfg.num_layers
    try:
        dilations = [int(d) for d in names(cfg.dilations)]
    except ValueError:
        dilations = []
    if not dilations or min(dilations) < 1:
        raise ValueError(f"--dilations: expected ints >= 1 like 1,2, got {cfg.dilations!r}")
    if cfg.num_layers not in (1, len(dilations)):
        raise ValueError(
            f"--num-layers {cfg.num_layers} and --dilations {cfg.dilations}: expected one "
            "dilation per layer; drop --num-layers (the dilations give the layers)"
        )
    return dilations


def with_defaults(cfg: Config) -> Config:
    """``cfg`` with ES-RNN's defaults where it holds the config's (RegLSTM's) hidden size,
    steps and divergence factor. The divergence check is NaN/inf only: with the last layer
    zero the first loss is Holt-Winters' own, near 0 on regular data, so that a ratio to it
    would stop healthy runs."""
    fields = {f.name: f.default for f in dataclasses.fields(Config)}
    ours = (("hidden_size", HIDDEN_SIZE), ("max_steps", MAX_STEPS), ("divergence_factor", 0.0))
    changes = {name: value for name, value in ours if getattr(cfg, name) == fields[name]}
    return dataclasses.replace(cfg, **changes)


def sizes_of(cfg: Config, panel: Panel) -> tuple[int, int, int]:
    """(season m, horizon H, input length L) of ``cfg`` on ``panel``: --season, else the
    frequency's; --horizon, else --holdout, else one season (10% of the shortest series when
    m = 1); --input-length, else ``INPUT_SEASONS`` seasons (``INPUT_NONSEASONAL`` periods when
    m = 1), fewer where the shortest series' training periods need it."""
    season = cfg.season or season_of(panel.freq)
    shortest = min(len(s) for s in panel.series)
    horizon = cfg.horizon or cfg.holdout or (season if season > 1 else max(1, shortest // 10))
    if cfg.input_length:
        return season, horizon, cfg.input_length
    wanted = INPUT_SEASONS * season if season > 1 else INPUT_NONSEASONAL
    room = shortest - cfg.holdout - cfg.val_periods - horizon  # periods for the first window
    return season, horizon, max(1, min(wanted, room))


def _rows(panel: Panel) -> list[tuple[str, str, np.ndarray]]:
    """(id, target, values (T,)) of every target of every series: the per-series table."""
    return [
        (s.id, name, np.asarray(s.y[:, j], dtype=np.float64))
        for s in panel.series
        for j, name in enumerate(panel.targets)
    ]


def _padded(values: list[np.ndarray], ends: list[int], starts: list[int] | None = None):
    """(N, max end) float32: row i holds values[i][starts[i]:ends[i]] at its periods, NaN
    elsewhere (after the end, and before ``starts``)."""
    out = np.full((len(values), max(ends)), np.nan, dtype=np.float32)
    for i, (v, e) in enumerate(zip(values, ends, strict=True)):
        s = 0 if starts is None else starts[i]
        out[i, s:e] = v[s:e]
    return torch.from_numpy(out)


def _packed(rows: Tensor, values: Tensor) -> Tensor:
    """ESRNN's input (B, 1 + T): the rows, then the values."""
    return torch.cat([rows.to(values.dtype)[:, None], values], dim=1)


def _initial_seasonality(y: np.ndarray, m: int, multiplicative: bool) -> np.ndarray:
    """Classical seasonal indices of up to the first 3 whole seasons (log ratios to each
    season's mean, or differences): (m,), zeros with fewer than one season."""
    seasons = min(3, len(y) // m)
    if m == 1 or seasons == 0:
        return np.zeros(m)
    block = y[: seasons * m].reshape(seasons, m)  # (seasons, m)
    if multiplicative:
        idx = np.log(block / block.mean(1, keepdims=True)).mean(0)
    else:
        idx = (block - block.mean(1, keepdims=True)).mean(0)
    return idx - idx.mean()


def train_esrnn(
    cfg: Config,
    panel: Panel,
    out: Path,
    resume_from: tuple[dict, dict] | None = None,
    verbose: bool = True,
) -> tuple[ESRNN, Trainer]:
    """Train ES-RNN on ``panel`` into the run directory ``out`` (held by ``open_run``);
    returns (the model with the best weights, in eval mode; the trainer: its ``summary``)."""
    cfg = with_defaults(cfg)
    season, horizon, input_length = sizes_of(cfg, panel)
    cfg = dataclasses.replace(cfg, season=season, horizon=horizon, input_length=input_length)
    dilations = dilations_of(cfg)
    need = input_length + horizon + cfg.val_periods + cfg.holdout
    check_lengths(panel, need, "es-rnn's --input-length, --horizon, --val-periods and --holdout")
    rows = _rows(panel)
    values = [v for _, _, v in rows]
    ends = [split_points(len(v), cfg.holdout, cfg.val_periods) for v in values]
    train_ends, val_ends = [te for te, _ in ends], [ve for _, ve in ends]
    # the form, from the periods before the holdout only
    multiplicative = all(bool((v[:ve] > 0).all()) for v, ve in zip(values, val_ends, strict=True))
    for (sid, name, v), ve in zip(rows, val_ends, strict=True):
        if not np.isfinite(v[:ve]).all():
            raise SeriesDataError(f"series {sid!r} {name}: es-rnn needs finite values")
    quantiles = cfg.quantile_levels()

    seed_everything(cfg.seed)
    model = ESRNN(
        len(rows), season, input_length, horizon, cfg.hidden_size, dilations,
        quantiles=quantiles, multiplicative=multiplicative, level_penalty=LEVEL_PENALTY,
        series_gain=SERIES_GAIN, zero_head=ZERO_HEAD,
    )  # fmt: skip
    with torch.no_grad():
        init = [_initial_seasonality(v[:te], season, multiplicative)
                for v, te in zip(values, train_ends, strict=True)]  # fmt: skip
        model.season_init.copy_(torch.tensor(np.concatenate(init)) / SERIES_GAIN)
        if not multiplicative:
            sigma = [
                np.abs(np.diff(v[:te])).mean() for v, te in zip(values, train_ends, strict=True)
            ]
            model.scale.copy_(torch.tensor([s if s > 0 else 1.0 for s in sigma]))

    index = torch.arange(len(rows))
    train_values = _packed(index, _padded(values, train_ends))  # (N, 1 + max te)
    if cfg.val_periods:
        val_x = _packed(index, _padded(values, val_ends))
        val_y = _padded(values, val_ends, train_ends)  # targets in [te, ve) only
    else:
        val_x, val_y = train_values, train_values[:, 1:]
    batch = min(cfg.batch_size, len(rows))
    steps_per_epoch = math.ceil(len(rows) / batch)

    def train_batch(step: int) -> tuple[Tensor, Tensor]:
        epoch, i = divmod(step, steps_per_epoch)  # a new order of the rows every epoch
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(len(rows), generator=generator)[i * batch : (i + 1) * batch]
        width = max(train_ends[j] for j in order.tolist())
        x = train_values[order, : 1 + width]  # (B, 1 + T)
        return x, x[:, 1:]

    def evaluate(model: nn.Module) -> float:
        device = model.scale.device
        total, count = 0.0, 0
        for part in index.split(1024):
            x, y = val_x[part].to(device), val_y[part].to(device)
            weight = int((~torch.isnan(y)).sum())
            total += model(x, y)[1].item() * weight
            count += weight
        return total / max(count, 1)

    meta = {
        "esrnn": {
            "rows": [[sid, name] for sid, name, _ in rows],
            "starts": [str(s.time[0]) for s in panel.series for _ in panel.targets],
            "targets": list(panel.targets),
            "season": season,
            "horizon": horizon,
            "input_length": input_length,
            "hidden_size": cfg.hidden_size,
            "dilations": dilations,
            "quantiles": quantiles,
            "multiplicative": multiplicative,
            "level_penalty": LEVEL_PENALTY,
            "series_gain": SERIES_GAIN,
        }  # fmt: skip
    }
    trainer = Trainer(
        TorchEngine(model, cfg, train_batch, evaluate), cfg, out, task=TASK, meta=meta,
        unit="value", resume_from=resume_from, verbose=verbose,
    )  # fmt: skip
    form = "multiplicative" if multiplicative else "additive (values <= 0)"
    ignored = "; covariates are not read by es-rnn" if panel.past or panel.future else ""
    trainer.write(
        f"forecast (es-rnn): {len(panel.series)} series x {len(panel.targets)} target(s), "
        f"{form} Holt-Winters, season {season}; {input_length} periods in -> {horizon} "
        f"out; LSTM {cfg.hidden_size} units, dilations {dilations}, {cfg.max_steps} steps"
        f"{ignored}"
    )
    model.info = meta["esrnn"]  # the per-series table: forecast_esrnn matches series by it
    trainer.fit()
    best, _ = load_checkpoint(out / "best.safetensors", task=TASK)
    model.load_state_dict(strip_prefix("model", best))
    return model.eval(), trainer


def load_esrnn(tensors: dict[str, Any], meta: dict[str, Any], cfg: Config) -> ESRNN:
    """The ES-RNN of a checkpoint: its tensors (``model.``-prefixed, as ``load_checkpoint``
    returns them, or the bare state dict) and meta (``meta["esrnn"]``, written by
    ``train_esrnn``), in eval mode on the CPU."""
    info = meta.get("esrnn")
    try:
        model = ESRNN(
            len(info["rows"]), int(info["season"]), int(info["input_length"]),
            int(info["horizon"]), int(info["hidden_size"]), [int(d) for d in info["dilations"]],
            quantiles=[float(q) for q in info["quantiles"]],
            multiplicative=bool(info["multiplicative"]),
            level_penalty=float(info["level_penalty"]), series_gain=float(info["series_gain"]),
        )  # fmt: skip
    except (TypeError, KeyError, ValueError) as e:
        raise CheckpointError(
            f"the checkpoint's es-rnn meta is missing or damaged ({e!r}); use the checkpoint as "
            "rnnkit wrote it, or train again"
        ) from e
    model.info = info  # the per-series table: forecast_esrnn matches series by it
    prefixed = any(k.startswith("model.") for k in tensors)
    load_weights(model, strip_prefix("model", tensors) if prefixed else tensors, "es-rnn")
    return model.eval()


def _table(model: ESRNN) -> dict[str, Any]:
    info = getattr(model, "info", None)
    if info is None:
        raise ValueError("forecast_esrnn: expected a model of train_esrnn or load_esrnn")
    return info


@torch.no_grad()
def forecast_esrnn(model: ESRNN, panel: Panel, periods: int) -> list[np.ndarray]:
    """Forecasts of the ``periods`` after each series' end, on the original scale: one array
    (periods, n_targets, Q) per series (Q = 1 without quantiles). Beyond the horizon the
    forecast recurses on its median. Series are matched by id (and target) to the per-series
    parameters of training; each must start where its training series did."""
    info = _table(model)
    if periods < 1:
        raise ValueError(f"forecast_esrnn: expected periods >= 1, got {periods}")
    where = {(sid, name): i for i, (sid, name) in enumerate(info["rows"])}
    starts = info["starts"]
    table, values = [], []
    for s in panel.series:
        for j, name in enumerate(panel.targets):
            i = where.get((s.id, name))
            if i is None:
                raise SeriesDataError(
                    f"series {s.id!r} (target {name}) was not in es-rnn's training panel: its "
                    "smoothing coefficients are learned per series; train on a panel with it"
                )
            if str(s.time[0]) != starts[i]:
                raise SeriesDataError(
                    f"series {s.id!r} starts at {s.time[0]}, its training series at {starts[i]}: "
                    "es-rnn's seasonality runs from the first period; pass the series from there"
                )
            v = np.asarray(s.y[:, j], dtype=np.float64)
            if model.multiplicative and not (v > 0).all():
                raise SeriesDataError(
                    f"series {s.id!r} {name}: a value <= 0, and es-rnn was trained "
                    "multiplicative (on positive data)"
                )
            table.append(i)
            values.append(v)
    check_lengths(panel, model.input_length, "es-rnn's --input-length")
    device = model.scale.device
    q, mid = len(model.quantiles), median_index(model)
    lengths = [len(v) for v in values]
    paths = [np.repeat(v[None], q, axis=0) for v in values]  # each (Q, T + done)
    done = 0
    while done < periods:
        med = [p[mid] for p in paths]
        x = _packed(torch.tensor(table), _padded(med, [len(m) for m in med])).to(device)
        new = torch.cat([model.forecast(part) for part in x.split(1024)])  # (R, H, Q)
        new = new.permute(0, 2, 1).double().cpu().numpy()  # (R, Q, H)
        paths = [np.concatenate([p, n], axis=1) for p, n in zip(paths, new, strict=True)]
        done += model.horizon
    n = len(panel.targets)
    ahead = [p[:, t : t + periods].T for p, t in zip(paths, lengths, strict=True)]  # (K, Q)
    return [np.stack(ahead[k * n : (k + 1) * n], axis=1) for k in range(len(panel.series))]
