"""Forecasting windows: the series of a Panel as model inputs and targets, and back.

A ``Layout`` (saved with every forecast run) says how: per series, the targets are optionally
logged, differenced at ``lag`` (``y[t] - y[t - lag]``) and scaled by a ``Scaler`` fitted on the
training periods only; covariates are scaled the same way. ``model_space`` turns a series into
per-period model inputs and targets; ``build_windows`` gathers the training or validation
windows of a panel into a ``WindowSet`` whose ``batch`` makes (x, y) tensors. A window's targets
always lie after its inputs, and ``build_windows`` takes only windows whose last target lies in
the periods asked for, so the training windows never see validation or test values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.series import (
    Panel,
    Scaler,
    Series,
    SeriesDataError,
    calendar_features,
    difference,
    future_times,
    integrate,
    sliding_windows,
)


@dataclass
class Layout:
    """How a series becomes model inputs and outputs; saved with every checkpoint.

    Per step t the input is [targets (n), past covariates (P), known-future covariates and
    calendar features (K') of t, and of t+1 .. t+H]: F = n + P + K' (H + 1) columns; the
    output is the next H targets, O = H n (times Q quantiles). ``lag`` is the differencing lag.
    """

    targets: list[str]
    past: list[str]
    future: list[str]
    calendar: list[str]
    freq: str | int
    season: int
    lag: int
    input_length: int
    horizon: int
    transform: str = "none"
    scaler: str = "standard"
    relative: bool = True  # targets: the change from the window's last (scaled) value

    @property
    def known_size(self) -> int:
        return len(self.future) + 2 * len(self.calendar)

    @property
    def input_size(self) -> int:
        return len(self.targets) + len(self.past) + self.known_size * (self.horizon + 1)

    @property
    def output_size(self) -> int:
        return self.horizon * len(self.targets)

    @property
    def history_needed(self) -> int:
        """Periods of history a forecast reads: the input length plus the differencing lag."""
        return self.input_length + self.lag

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def transformed_targets(s: Series, layout: Layout) -> np.ndarray:
    """The targets (T, n) of ``s`` with the layout's transform (none or log) applied."""
    if layout.transform != "log":
        return s.y
    if np.any(s.y <= 0):
        t, j = np.argwhere(s.y <= 0)[0]
        raise SeriesDataError(
            f"series {s.id!r}: --transform log needs positive targets, but {layout.targets[j]!r} "
            f"is {s.y[t, j]:g} at {s.time[t]}; use --transform none"
        )
    return np.log(s.y)


def _future(s: Series, rows: int) -> np.ndarray:
    """(rows, K) known-future covariates; beyond the known ones, the last one held."""
    future = s.future[:rows]
    return np.concatenate([future, np.repeat(future[-1:], rows - len(future), axis=0)])


def _unscaled_columns(s: Series, layout: Layout) -> np.ndarray:
    """(T - lag, n + P + K): differenced targets, past and future covariates, before scaling."""
    d = difference(transformed_targets(s, layout), layout.lag)  # (T', n)
    future = _future(s, len(s))[layout.lag :]
    return np.concatenate([d, s.past[layout.lag :], future], axis=1)


def fit_scaler(s: Series, layout: Layout, train_end: int) -> Scaler:
    """The scaler of series ``s``, fitted on its first ``train_end`` periods only."""
    return Scaler.fit(_unscaled_columns(s, layout)[: train_end - layout.lag], layout.scaler)


def model_space(s: Series, layout: Layout, scaler: Scaler) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (T', F), targets (T', n)) of series ``s``, T' = T - lag; see ``Layout``."""
    n, p, h, t = len(layout.targets), len(layout.past), layout.horizon, len(s)
    scaled = scaler.transform(_unscaled_columns(s, layout))  # (T', n + P + K)
    future = scaler.transform(_future(s, t + h), slice(n + p, None))  # (T + H, K)
    known = future  # (T + H, K')
    if layout.calendar:  # (the times only for them: a date range per series costs)
        times = s.time.append(future_times(s.time[-1], layout.freq, h))
        known = np.concatenate([future, calendar_features(times, layout.calendar)], 1)
    leads = sliding_windows(known[layout.lag + 1 :], h)  # (T', H, K')
    leads = leads.reshape(len(leads), -1)  # (T', H K')
    inputs = np.concatenate([scaled[:, : n + p], known[layout.lag : t], leads], axis=1)
    return inputs, scaled[:, :n]


def forecast_input(s: Series, layout: Layout, scaler: Scaler) -> tuple[np.ndarray, np.ndarray]:
    """(x (L, F), origin (n,)): the model input of a forecast from the end of ``s``, and the
    scaled value its output is relative to (zeros unless ``layout.relative``)."""
    inputs, targets = model_space(s, layout, scaler)
    origin = targets[-1] if layout.relative else np.zeros(targets.shape[1])
    return inputs[-layout.input_length :], origin


def from_model_space(
    out: np.ndarray, origin: np.ndarray, scaler: Scaler, paths: np.ndarray, layout: Layout
) -> np.ndarray:
    """Model outputs (Q, H, n) back to transformed targets (Q, H, n): the origin added, the
    scaling undone, and the differences integrated after each of the ``paths`` (Q, T, n)."""
    d = scaler.inverse(out + origin, slice(0, len(layout.targets)))  # (Q, H, n)
    return np.stack([integrate(d[k], paths[k], layout.lag) for k in range(len(d))])


def untransformed(y: np.ndarray, layout: Layout) -> np.ndarray:
    """Undo ``transformed_targets``."""
    return np.exp(y) if layout.transform == "log" else y


def extended(s: Series, y: np.ndarray, layout: Layout) -> Series:
    """Series ``s`` with transformed targets ``y`` (T + k, n): k forecast periods appended
    (the past covariates dropped when k > 0: a recursive forecast has none)."""
    k = len(y) - len(s)
    times = s.time.append(future_times(s.time[-1], layout.freq, k))
    past = s.past if k == 0 else np.empty((len(y), 0))
    return Series(s.id, times, untransformed(y, layout), past, s.future)


class WindowSet:
    """Training or validation windows over the model-space rows of every series.

    ``inputs`` (R, F) and ``targets`` (R, n) are the series' rows one after another; window w
    reads the L rows from ``starts[w]`` and is trained on the H targets after each of its steps
    (many-to-many, y (B, L, H n)) or after its last step (many-to-one, y (B, H n)).
    """

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, starts: np.ndarray, layout: Layout):
        self.inputs = torch.tensor(inputs, dtype=torch.float32)
        self.targets = torch.tensor(targets, dtype=torch.float32)
        self.starts = torch.as_tensor(starts, dtype=torch.long)
        self.length, self.horizon = layout.input_length, layout.horizon
        self.relative = layout.relative

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, index: Tensor, many_to_one: bool) -> tuple[Tensor, Tensor]:
        """(x (B, L, F), y) of the windows ``index``."""
        steps = torch.arange(self.length)
        first = self.starts[index]  # (B,)
        x = self.inputs[first[:, None] + steps]  # (B, L, F)
        ahead = 1 + torch.arange(self.horizon)  # (H,)
        if many_to_one:
            origin = first + self.length - 1  # (B,)
            y = self.targets[origin[:, None] + ahead]  # (B, H, n)
            if self.relative:
                y = y - self.targets[origin][:, None]
            return x, y.flatten(1)  # (B, H n)
        origin = first[:, None] + steps  # (B, L)
        y = self.targets[origin[..., None] + ahead]  # (B, L, H, n)
        if self.relative:
            y = y - self.targets[origin][:, :, None]
        return x, y.flatten(2)  # (B, L, H n)


def build_windows(
    panel: Panel, layout: Layout, scalers: dict[str, Scaler], ends: list[tuple[int, int]],
    stride: int = 1,
) -> WindowSet:  # fmt: skip
    """The windows whose last target period lies in [lo, hi) of each series (``ends``), every
    ``stride`` periods, counted back from the last one."""
    inputs, targets, starts, offset = [], [], [], 0
    span = layout.input_length + layout.horizon
    for s, (lo, hi) in zip(panel.series, ends, strict=True):
        x, y = model_space(s, layout, scalers[s.id])
        # a window from model row r (period r + lag) has its last target at r + lag + span - 1
        last = hi - layout.lag - span
        first = max(0, lo - layout.lag - span + 1)
        starts.append(offset + np.arange(last, first - 1, -stride)[::-1])
        inputs.append(x)
        targets.append(y)
        offset += len(x)
    return WindowSet(
        np.concatenate(inputs), np.concatenate(targets), np.concatenate(starts), layout
    )
