"""The forecast origins of many series as arrays: the model inputs of a recursive forecast from
the end of every series of a panel at once.

``series_windows.forecast_input`` builds one series' input from its whole history; a forecast
of N series needs only the last ``input_length + lag`` periods of each, the known-future
covariates and calendar features of the periods ahead, and the scalers' constants: stacked once
into arrays, the inputs of every step of the recursion are slices and array operations over all
series together (``Origins.inputs``, ``Origins.append``), with the same numbers as
``forecast_input`` and ``from_model_space`` series by series.
"""

from __future__ import annotations

import numpy as np

from rnnkit.data.series import Panel, Scaler, calendar_features, future_times
from rnnkit.data.series_windows import Layout, transformed_targets, untransformed


def _known(panel: Panel, layout: Layout, scalers: list[Scaler], rows: int) -> np.ndarray:
    """(N, L + rows, K') known-future covariates (scaled) and calendar features of the L
    periods before each series' end and the ``rows`` after it."""
    n, p, length = len(layout.targets), len(layout.past), layout.input_length
    parts = []
    for s, scaler in zip(panel.series, scalers, strict=True):
        future = s.future[len(s) - length : len(s) + rows]  # (<= L + rows, K)
        held = np.repeat(s.future[-1:], length + rows - len(future), axis=0)  # the last, held
        parts.append(scaler.transform(np.concatenate([future, held]), slice(n + p, None)))
    known = np.stack(parts)  # (N, L + rows, K)
    if not layout.calendar:
        return known
    calendar = np.empty((*known.shape[:2], 2 * len(layout.calendar)))  # (N, L + rows, C)
    groups: dict[tuple, list[int]] = {}  # series on one stretch of the grid share the features
    for i, s in enumerate(panel.series):
        groups.setdefault((s.time[len(s) - length], s.time[-1]), []).append(i)
    for index in groups.values():
        s = panel.series[index[0]]
        times = s.time[len(s) - length :].append(future_times(s.time[-1], layout.freq, rows))
        calendar[index] = calendar_features(times, layout.calendar)
    return np.concatenate([known, calendar], axis=2)


class Origins:
    """The recursion of a forecast over every series of ``panel`` from its end, as arrays.

    ``paths`` (N, Q, W + rows, n) holds, per series and quantile path, the last W = L + lag
    transformed targets and then the forecasts made so far; ``inputs()`` is the model input of
    the next step (read from the median path), ``append(out)`` adds the model's output.
    """

    def __init__(
        self, panel: Panel, layout: Layout, scalers: dict[str, Scaler], quantiles: int,
        median: int, periods: int,
    ):  # fmt: skip
        self.layout, self.median = layout, median
        h, self.length = layout.horizon, layout.input_length
        self.rows = -(-periods // h) * h  # the periods forecast, whole horizons
        self.width = self.length + layout.lag  # W: the history a step reads
        tails = np.stack(
            [transformed_targets(s, layout)[len(s) - self.width :] for s in panel.series]
        )  # (N, W, n)
        n_series, _, n = tails.shape
        self.paths = np.zeros((n_series, quantiles, self.width + self.rows, n))
        self.paths[:, :, : self.width] = tails[:, None]
        fitted = [scalers[s.id] for s in panel.series]
        self.loc = np.stack([sc.loc[:n] for sc in fitted])[:, None]  # (N, 1, n)
        self.scale = np.stack([sc.scale[:n] for sc in fitted])[:, None]  # (N, 1, n)
        p = len(layout.past)  # past covariates: read at the first step only (none after)
        self.past = np.stack(
            [sc.transform(s.past[len(s) - self.length :], slice(n, n + p))
             for s, sc in zip(panel.series, fitted, strict=True)]
        )  # (N, L, P)  # fmt: skip
        self.known = _known(panel, layout, fitted, self.rows)  # (N, L + rows, K')
        self.done = 0

    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """(x (N, L, F), origin (N, n)): the model input of the next step and the scaled value
        its output is relative to (zeros unless ``layout.relative``)."""
        lag, end, h = self.layout.lag, self.width + self.done, self.layout.horizon
        y = self.paths[:, self.median, end - self.width : end]  # (N, W, n)
        d = y[:, lag:] - y[:, :-lag] if lag else y  # (N, L, n) differences
        scaled = (d - self.loc) / self.scale  # (N, L, n)
        past = self.past if self.done == 0 else self.past[:, :, :0]  # (N, L, P or 0)
        known = self.known[:, self.done : self.done + self.length + h]  # (N, L + H, K')
        leads = np.lib.stride_tricks.sliding_window_view(known[:, 1:], h, axis=1)  # (N,L,K',H)
        leads = leads.swapaxes(2, 3).reshape(len(y), self.length, h * known.shape[2])
        x = np.concatenate([scaled, past, known[:, : self.length], leads], axis=2)  # (N, L, F)
        origin = scaled[:, -1] if self.layout.relative else np.zeros_like(scaled[:, -1])
        return x, origin  # (N, L, F) with leads (N, L, H K'), (N, n)

    def append(self, out: np.ndarray, origin: np.ndarray) -> None:
        """Add the model's output ``out`` (N, Q, H, n) in model space (relative to ``origin``
        (N, n)) to every path: scaling undone, differences integrated along each path."""
        lag, end = self.layout.lag, self.width + self.done
        d = (out + origin[:, None, None]) * self.scale[:, None] + self.loc[:, None]  # (N,Q,H,n)
        for j in range(self.layout.horizon):  # y[t] = y[t - lag] + d[t]
            before = self.paths[:, :, end + j - lag] if lag else 0.0
            self.paths[:, :, end + j] = before + d[:, :, j]
        self.done += self.layout.horizon

    def forecasts(self, periods: int) -> np.ndarray:
        """(N, periods, n, Q): the first ``periods`` forecasts on the original scale."""
        ahead = self.paths[:, :, self.width : self.width + periods]  # (N, Q, periods, n)
        return np.moveaxis(untransformed(ahead, self.layout), 1, -1)
