"""The ES-RNN network (Smyl 2020, the M4 winner): per-series Holt-Winters and one global LSTM.

``holt_winters`` is the exponential smoothing part alone (differentiable, torch),
``DilatedLSTM`` the stack of (optionally dilated) LSTM layers, ``ESRNN`` the hybrid. Training,
loading and forecasting a panel are in ``rnnkit.tasks.forecast.esrnn``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.nn import LSTM

SeasonalLevel = Literal["current", "previous"]


def holt_winters(
    y: Tensor,
    alpha: Tensor | float,
    gamma: Tensor | float,
    init_seasonality: Tensor,
    season: int,
    *,
    initial_level: Tensor | float | None = None,
    multiplicative: bool = True,
    seasonal_level: SeasonalLevel = "current",
) -> tuple[Tensor, Tensor]:
    """Holt-Winters without trend, per series: (levels (N, T), seasonality (N, T + m)).

    y (N, T) or (T,); alpha, gamma: (N,) or scalars; init_seasonality s_0 .. s_{m-1}: (N, m)
    or (m,). Multiplicative (Smyl's form, ``seasonal_level="current"``)::

        l_t     = alpha y_t / s_t + (1 - alpha) l_{t-1}
        s_{t+m} = gamma y_t / l_t + (1 - gamma) s_t

    ``seasonal_level="previous"`` divides by l_{t-1} instead (Hyndman's state-space form, which
    statsmodels' ExponentialSmoothing computes). Additive: y_t - s_t and y_t - l for the
    ratios. l_{-1} = ``initial_level``, by default y_0 / s_0 (y_0 - s_0), so that l_0 = y_0 /
    s_0 as in Smyl's code. With m = 1 there is no seasonality (ones; zeros when additive) and
    the levels are simple exponential smoothing. Every output is differentiable in y, alpha,
    gamma, the initial seasonality and level.
    """
    if seasonal_level not in ("current", "previous"):
        raise ValueError(f"holt_winters: expected seasonal_level current or previous, got "
                         f"{seasonal_level!r}")  # fmt: skip
    one = y.dim() == 1
    y = y[None] if one else y  # (N, T)
    if y.dim() != 2 or y.shape[1] < 1:
        raise ValueError(f"holt_winters: expected y of shape (N, T) or (T,), got {tuple(y.shape)}")
    n, t_len = y.shape
    m = max(1, int(season))
    if m == 1:
        init = torch.full((n, 1), 1.0 if multiplicative else 0.0, dtype=y.dtype, device=y.device)
    else:
        init = init_seasonality[None] if init_seasonality.dim() == 1 else init_seasonality
        if init.shape[-1] != m:
            raise ValueError(
                f"holt_winters: expected {m} initial seasonal indices, got {init.shape[-1]}"
            )
        init = init.expand(n, m)  # (N, m)
    s = list(init.unbind(1))  # s_0 .. s_{m-1}, each (N,)
    if initial_level is None:
        level = y[:, 0] / s[0] if multiplicative else y[:, 0] - s[0]
    else:
        level = torch.as_tensor(initial_level, dtype=y.dtype, device=y.device).expand(n)
    levels = []
    for t in range(t_len):
        y_t = y[:, t]
        new = alpha * (y_t / s[t] if multiplicative else y_t - s[t]) + (1 - alpha) * level
        if m > 1:
            ref = new if seasonal_level == "current" else level
            ratio = y_t / ref if multiplicative else y_t - ref
            s.append(gamma * ratio + (1 - gamma) * s[t])
        else:
            s.append(s[t])
        levels.append(new)
        level = new
    levels_t, seasonality = torch.stack(levels, 1), torch.stack(s, 1)  # (N, T), (N, T + m)
    return (levels_t[0], seasonality[0]) if one else (levels_t, seasonality)


def run_dilated(lstm: nn.Module, x: Tensor, dilation: int) -> Tensor:
    """``lstm`` (batch-first, one layer) over x (N, T, F) with its recurrence connecting t to
    t - ``dilation``: run over the ``dilation`` interleaved sub-sequences x[:, r::d]. (N, T, H)."""
    n, t, f = x.shape
    if dilation == 1:
        return lstm(x)[0]
    pad = -t % dilation  # zeros after the end: the outputs before them are unchanged (causal)
    x = F.pad(x, (0, 0, 0, pad))  # (N, T', F)
    steps = (t + pad) // dilation
    x = x.reshape(n, steps, dilation, f).transpose(1, 2)  # (N, d, T'/d, F): position j d + r
    out = lstm(x.reshape(n * dilation, steps, f))[0]  # (N d, T'/d, H)
    out = out.reshape(n, dilation, steps, -1).transpose(1, 2)  # (N, T'/d, d, H)
    return out.reshape(n, steps * dilation, -1)[:, :t]  # (N, T, H)


class DilatedLSTM(nn.Module):
    """One-layer LSTMs stacked, layer k's recurrence connecting t to t - d_k (Chang et al.
    2017, as in Smyl's ES-RNN), with residual connections from the second layer on.

    ``forward(x)``: x (N, T, F) batch-first -> (N, T, H). Dilations (1,) is a plain LSTM.
    """

    def __init__(self, input_size: int, hidden_size: int, dilations: Sequence[int] = (1,)):
        super().__init__()
        if not dilations or any(int(d) < 1 for d in dilations):
            raise ValueError(f"DilatedLSTM: expected dilations >= 1, got {list(dilations)}")
        self.dilations = tuple(int(d) for d in dilations)
        self.layers = nn.ModuleList(
            LSTM(input_size if k == 0 else hidden_size, hidden_size, batch_first=True)
            for k in range(len(self.dilations))
        )

    def forward(self, x: Tensor) -> Tensor:
        for k, (d, lstm) in enumerate(zip(self.dilations, self.layers, strict=True)):
            out = run_dilated(lstm, x, d)  # (N, T, H)
            x = out if k == 0 else x + out
        return x


class ESRNN(nn.Module):
    """Smyl's ES-RNN: per-series Holt-Winters level and seasonality, one global (dilated) LSTM.

    Per series i (a row of the per-series table): alpha_i = sigmoid(a_i), gamma_i =
    sigmoid(g_i) and initial seasonal indices s_{i,0..m-1} = exp(c_i) (multiplicative; c_i
    itself when additive) give the levels l_t and seasonality s_t of ``holt_winters``. At every
    step t the LSTM reads the window of the last L (``input_length``) values, deseasonalised
    and normalised by the level at t,

        x_{t,j} = log(y_j / (s_j l_t))            (additive: (y_j - s_j - l_t) / sigma_i)

    for j = t-L+1 .. t, and predicts the H (``horizon``) normalised values after t (each
    quantile's when ``quantiles``): forecasts y_{t+k} = exp(out_k) l_t s_{t+k} (additive:
    l_t + s_{t+k} + sigma_i out_k), the seasonal index of period t+k repeating the last season
    beyond m steps. sigma_i is a fixed per-series scale (the mean absolute change over the
    training periods). The loss is the pinball loss of the normalised targets (at 0.5 for a
    point forecast: the log-space median) plus, in training mode, ``level_penalty`` times
    Smyl's level variability penalty, the mean squared change of the log level's steps.

    Args: n_series (rows of the per-series table), season m, input_length L, horizon H,
    hidden_size, dilations (one LSTM layer each, ``DilatedLSTM``); keyword-only quantiles
    (levels; default the median), multiplicative (else additive), level_penalty,
    seasonal_level (of ``holt_winters``), series_gain (the per-series parameters are stored
    divided by it: > 1 moves them that much faster under Adam than the network's weights) and
    zero_head (the last layer starts at zero: the untrained forecast is Holt-Winters').

    ``forward(x, targets=None) -> (output, loss)``: x (B, 1 + T): x[:, 0] the series' rows in
    the per-series table, x[:, 1:] the values, NaN after each series' end; targets (B, T) the
    values the loss counts (NaN elsewhere). output (B, T - L + 1, H, Q): the normalised
    forecasts from each window's end t = L-1 .. T-1. ``forecast(x)`` -> (B, H, Q) from each
    series' last period, on the original scale.
    """

    def __init__(
        self,
        n_series: int,
        season: int,
        input_length: int,
        horizon: int,
        hidden_size: int = 32,
        dilations: Sequence[int] = (1,),
        *,
        quantiles: Sequence[float] = (),
        multiplicative: bool = True,
        level_penalty: float = 0.0,
        seasonal_level: SeasonalLevel = "current",
        series_gain: float = 1.0,
        zero_head: bool = False,
    ):
        super().__init__()
        if min(n_series, season, input_length, horizon, hidden_size) < 1:
            raise ValueError(
                "ESRNN: expected n_series, season, input_length, horizon and hidden_size >= 1, "
                f"got {n_series}, {season}, {input_length}, {horizon}, {hidden_size}"
            )
        self.season, self.input_length, self.horizon = season, input_length, horizon
        self.multiplicative, self.level_penalty = multiplicative, level_penalty
        self.seasonal_level: SeasonalLevel = seasonal_level
        # per-series parameters, 1-D so that weight decay (matrices only) leaves them alone,
        # stored divided by series_gain (> 1: they move that much faster under Adam)
        self.series_gain = series_gain
        self.alpha_logit = nn.Parameter(torch.zeros(n_series))
        self.gamma_logit = nn.Parameter(torch.full((n_series,), -2.0 / series_gain))
        self.season_init = nn.Parameter(torch.zeros(n_series * season))  # (N m,)
        self.register_buffer("scale", torch.ones(n_series))  # sigma_i of the additive form
        self.register_buffer("quantiles", torch.tensor(list(quantiles) or [0.5]))
        self.rnn = DilatedLSTM(input_length, hidden_size, dilations)
        q = len(self.quantiles)
        self.head = nn.Sequential(
            nn.Linear(hidden_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, horizon * q)
        )
        if zero_head:  # the untrained forecast is Holt-Winters' l_T s_{T+k}
            nn.init.zeros_(self.head[2].weight)
            nn.init.zeros_(self.head[2].bias)

    def smoothing(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """(alpha, gamma) of series ``rows``: (B,) each."""
        gain = self.series_gain
        return torch.sigmoid(gain * self.alpha_logit[rows]), torch.sigmoid(
            gain * self.gamma_logit[rows]
        )

    def components(self, rows: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(levels (B, T), seasonality (B, T + m)) of the values y (B, T) of series ``rows``."""
        m = self.season
        gain = self.series_gain
        init = gain * self.season_init.view(-1, m)[rows]  # (B, m)
        init = init.exp() if self.multiplicative else init
        alpha, gamma = self.smoothing(rows)
        return holt_winters(
            y, alpha, gamma,
            init, m, multiplicative=self.multiplicative, seasonal_level=self.seasonal_level,
        )  # fmt: skip

    def _season_index(self, t_len: int, device: torch.device) -> Tensor:
        """(T - L + 1, H): the seasonality index of period t + k for window ends t."""
        ends = torch.arange(self.input_length - 1, t_len, device=device)  # (Tw,)
        ahead = torch.arange(self.horizon, device=device) % self.season  # (H,) (k - 1) mod m
        return ends[:, None] + 1 + ahead[None]  # (Tw, H)

    def _run(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """rows (B,), the filled values (B, T), lengths (B,), levels (B, T), the future
        seasonality (B, Tw, H) of each window's end and the network's output (B, Tw, H, Q)."""
        if x.dim() != 2 or x.shape[1] < 1 + self.input_length:
            raise ValueError(
                f"ESRNN: expected x of shape (B, 1 + T) with T >= {self.input_length}, "
                f"got {tuple(x.shape)}"
            )
        rows, values = x[:, 0].long(), x[:, 1:]  # (B,), (B, T)
        observed = ~torch.isnan(values)
        lengths = observed.sum(1)  # (B,)
        last = values.gather(1, (lengths - 1).clamp(min=0)[:, None])  # (B, 1)
        y = torch.where(observed, values, last)  # finite after the end: no NaN gradients
        levels, seas = self.components(rows, y)  # (B, T), (B, T + m)
        t_len, el = y.shape[1], self.input_length
        if self.multiplicative:
            windows = (y / seas[:, :t_len]).unfold(1, el, 1)  # (B, Tw, L)
            inputs = torch.log(windows / levels[:, el - 1 :, None])
        else:
            windows = (y - seas[:, :t_len]).unfold(1, el, 1)  # (B, Tw, L)
            inputs = (windows - levels[:, el - 1 :, None]) / self.scale[rows, None, None]
        out = self.head(self.rnn(inputs))  # (B, Tw, H Q)
        out = out.unflatten(-1, (self.horizon, len(self.quantiles)))  # (B, Tw, H, Q)
        future = seas[:, self._season_index(t_len, y.device)]  # (B, Tw, H)
        return rows, y, lengths, levels, future, out

    def forward(self, x: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        rows, y, lengths, levels, future, out = self._run(x)
        if targets is None:
            return out, None
        if targets.shape != y.shape:
            raise ValueError(
                f"ESRNN: expected targets of shape {tuple(y.shape)}, got {tuple(targets.shape)}"
            )
        h, t_len = self.horizon, y.shape[1]
        ahead = F.pad(targets, (0, h), value=float("nan"))  # (B, T + H)
        ahead = ahead.unfold(1, h, 1)[:, self.input_length : self.input_length + out.shape[1]]
        valid = ~torch.isnan(ahead)  # (B, Tw, H): periods t + 1 .. t + H
        level = levels[:, self.input_length - 1 :]  # (B, Tw): l_t at each window's end
        if self.multiplicative:
            valid &= ahead > 0
            base = level[..., None] * future  # (B, Tw, H)
            z = torch.log(torch.where(valid, ahead, base) / base)
        else:
            base = level[..., None] + future
            z = (torch.where(valid, ahead, base) - base) / self.scale[rows, None, None]
        err = z[..., None] - out  # (B, Tw, H, Q)
        q = self.quantiles
        pinball = torch.maximum(q * err, (q - 1) * err) * valid[..., None]
        loss = pinball.sum() / (valid.sum() * len(q)).clamp(min=1)
        if self.training and self.level_penalty > 0 and t_len > 2:
            loss = loss + self.level_penalty * self._level_variability(rows, levels, lengths)
        return out, loss

    def _level_variability(self, rows: Tensor, levels: Tensor, lengths: Tensor) -> Tensor:
        """Smyl's penalty: the mean of (d_t - d_{t-1})^2, d_t the step of the log level."""
        if self.multiplicative:
            steps = torch.log(levels).diff(dim=1)  # (B, T - 1)
        else:
            steps = levels.diff(dim=1) / self.scale[rows, None]
        change = steps.diff(dim=1)  # (B, T - 2): at periods 2 .. T-1
        keep = torch.arange(2, levels.shape[1], device=levels.device)[None] < lengths[:, None]
        return (change.square() * keep).sum() / keep.sum().clamp(min=1)

    @torch.no_grad()
    def forecast(self, x: Tensor) -> Tensor:
        """The H periods after each series' end, on the original scale: (B, H, Q)."""
        was_training = self.training
        self.eval()
        try:
            rows, _, lengths, levels, future, out = self._run(x)
        finally:
            self.train(was_training)
        at = (lengths - self.input_length).clamp(min=0)  # the window ending at the last period
        b = torch.arange(len(x), device=x.device)
        level = levels[b, lengths - 1]  # (B,): l_T
        out, future = out[b, at], future[b, at]  # (B, H, Q), (B, H)
        if self.multiplicative:
            return torch.exp(out) * (level[:, None] * future)[..., None]
        return (level[:, None] + future)[..., None] + self.scale[rows, None, None] * out
