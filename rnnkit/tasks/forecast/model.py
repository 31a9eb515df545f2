"""The forecasting network and the forecast it makes.

``RegLSTM`` is the classic "LSTM followed by a fully connected layer": an ``rnnkit.nn.LSTM``
over (T, N, F) or batch-first (N, T, F) inputs and a Linear head, predicting targets at every
step (many-to-many) or from the last state only (many-to-one). ``forecast`` runs it over the
windows of a panel (``rnnkit.data.series_windows``): from the last step's state the head
predicts the next H (horizon) targets; forecasts further than H recurse on the median forecast;
every number returned is on the original scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.series import Panel, Scaler, SeriesDataError, check_lengths
from rnnkit.data.series_origins import Origins
from rnnkit.data.series_windows import Layout
from rnnkit.nn import LSTM, REGRESSION_LOSSES, regression_loss

PREDICT_BATCH = 8192  # windows the model reads at once in ``forecast`` (bounds its memory)


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
        if loss not in REGRESSION_LOSSES:
            raise ValueError(f"RegLSTM: expected loss in {REGRESSION_LOSSES}, got {loss!r}")
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
        return regression_loss(self.loss_name, output, targets, self.quantiles, self.huber_delta)

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The output for ``x`` in eval mode, without gradients."""
        was_training = self.training
        self.eval()
        try:
            return self(x)[0]
        finally:
            self.train(was_training)


def check_periods(layout: Layout, periods: int) -> None:
    """SeriesDataError when a forecast of ``periods`` would need past covariates after the
    series' end (forecasts beyond the horizon recurse on their own output, not covariates)."""
    if periods > layout.horizon and layout.past:
        raise SeriesDataError(
            f"a forecast of {periods} periods with --horizon {layout.horizon} would need the "
            f"past covariates {', '.join(layout.past)} after the series' end; train with "
            f"--horizon >= {periods}"
        )


def median_index(model: RegLSTM) -> int:
    """The index of the 0.5 quantile in the model's output (0 without quantiles)."""
    return int(torch.argmin((model.quantiles - 0.5).abs())) if len(model.quantiles) else 0


def _last_output(model: RegLSTM, x: Tensor) -> np.ndarray:
    """The model's output from the last step of each window of x (B, L, F): (B, H n[, Q])."""
    out = model.predict(x)  # (B, L, H n[, Q]) or (B, H n[, Q])
    return (out if model.many_to_one else out[:, -1]).double().cpu().numpy()


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
    its own path (for differenced targets: an interval that widens with the horizon). The
    inputs of all series are built as arrays (``rnnkit.data.series_origins``) and the model
    reads them PREDICT_BATCH windows at a time.
    """
    h, n = layout.horizon, len(layout.targets)
    check_periods(layout, periods)
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
    origins = Origins(panel, layout, scalers, q, mid, periods)  # every series as arrays
    while origins.done < periods:
        x, origin = origins.inputs()  # (N, L, F), (N, n)
        out = np.concatenate([
            _last_output(model, torch.tensor(part, dtype=torch.float32, device=device))
            for part in np.array_split(x, max(1, -(-len(x) // PREDICT_BATCH)))
        ])  # (N, H n[, Q])  # fmt: skip
        origins.append(out.reshape(len(x), h, n, q).transpose(0, 3, 1, 2), origin)  # (N,Q,H,n)
    return list(origins.forecasts(periods))  # N of (periods, n, Q)
