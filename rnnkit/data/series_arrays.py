"""Per-series arrays for forecasting: differences, scalers, sliding windows, split points.

The forecasting pipeline works per series on NumPy arrays: ``difference``/``integrate``, a
``Scaler`` fitted on the training periods only, ``sliding_windows`` and ``split_points``
(training, validation and test are consecutive periods of each series, the test last).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rnnkit.data.series_panel import SeriesDataError

ScalerKind = Literal["standard", "minmax", "robust", "none"]


def difference(y: np.ndarray, lag: int) -> np.ndarray:
    """(T - lag, n) differences y[t] - y[t - lag] of a (T, n) array; lag 0 returns y."""
    return y if lag == 0 else y[lag:] - y[:-lag]


def integrate(d: np.ndarray, history: np.ndarray, lag: int) -> np.ndarray:
    """Undo ``difference``: the (H, ...) values whose differences are ``d``, after ``history``
    (at least ``lag`` periods, same trailing dims)."""
    if lag == 0:
        return d
    if len(history) < lag:
        raise SeriesDataError(
            f"integrate: expected >= {lag} periods of history, got {len(history)}"
        )
    out = np.concatenate([history[-lag:], np.zeros_like(d)])
    for h in range(len(d)):
        out[lag + h] = out[h] + d[h]
    return out[lag:]


@dataclass
class Scaler:
    """Per-column affine scaling ``(x - loc) / scale``, fitted on training periods only.

    ``standard``: mean and std; ``minmax``: min and range (to 0..1); ``robust``: median and
    interquartile range; ``none``: 0 and 1. A constant column gets scale 1.
    """

    loc: np.ndarray  # (C,)
    scale: np.ndarray  # (C,)

    @classmethod
    def fit(cls, x: np.ndarray, kind: ScalerKind) -> Scaler:
        """Fit on ``x`` (T, C), the training periods of one series."""
        if len(x) == 0 or kind == "none":
            return cls(np.zeros(x.shape[1]), np.ones(x.shape[1]))
        if kind == "standard":
            loc, scale = x.mean(0), x.std(0)
        elif kind == "minmax":
            loc, scale = x.min(0), x.max(0) - x.min(0)
        elif kind == "robust":
            q1, loc, q3 = np.percentile(x, [25, 50, 75], axis=0)
            scale = q3 - q1
        else:
            raise SeriesDataError(
                f"--scaler: expected standard, minmax, robust or none, got {kind!r}"
            )
        scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(loc)), scale, 1.0)
        return cls(loc.astype(np.float64), scale.astype(np.float64))

    def transform(self, x: np.ndarray, columns: slice = slice(None)) -> np.ndarray:
        """Scale ``x`` (..., C') holding ``columns`` of the fitted columns."""
        return (x - self.loc[columns]) / self.scale[columns]

    def inverse(self, x: np.ndarray, columns: slice = slice(None)) -> np.ndarray:
        """Undo ``transform`` for ``x`` (..., C') holding ``columns`` of the fitted columns."""
        return x * self.scale[columns] + self.loc[columns]

    def to_dict(self) -> dict[str, list[float]]:
        return {"loc": self.loc.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> Scaler:
        return cls(np.asarray(d["loc"], dtype=np.float64), np.asarray(d["scale"], np.float64))


def sliding_windows(x: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """(W, length, ...) windows of ``x`` (T, ...) every ``stride`` steps, as a view."""
    if len(x) < length:
        return np.empty((0, length, *x.shape[1:]), dtype=x.dtype)
    view = np.lib.stride_tricks.sliding_window_view(x, length, axis=0)  # (T-length+1, ..., L)
    return np.moveaxis(view, -1, 1)[::stride]  # (W, length, ...)


def split_points(length: int, holdout: int, val: int) -> tuple[int, int]:
    """(train_end, val_end) of a series of ``length``: train [0, train_end), validation
    [train_end, val_end), test [val_end, length) = the last ``holdout`` periods."""
    val_end = length - holdout
    return val_end - val, val_end
