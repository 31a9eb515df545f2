"""The panel of time series: ``Panel``, N ``Series`` with the same columns, and its error.

A ``Panel`` is N series on one regular time grid each (a pandas frequency such as ``MS``, or
integer steps), with the same columns: targets, past-observed covariates (known up to the
series' end) and known-future covariates (known beyond it too, e.g. a holiday flag or a price
plan). ``SeriesDataError`` is what every reader and check of the series raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


class SeriesDataError(ValueError):
    """Time series data that cannot be used; the message names the column/series and the fix."""


@dataclass
class Series:
    """One series: ``time`` (T,) periods, ``y`` (T, n_targets), ``past`` (T, P) and ``future``
    (T + E, K), the known-future covariates of the T periods and of E periods after the end."""

    id: str
    time: pd.Index
    y: np.ndarray
    past: np.ndarray
    future: np.ndarray

    def __len__(self) -> int:
        return len(self.time)


@dataclass
class Panel:
    """N series with the same columns and frequency (a pandas alias, or an int step)."""

    series: list[Series]
    targets: list[str]
    past: list[str] = field(default_factory=list)
    future: list[str] = field(default_factory=list)
    freq: str | int = 1

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.series]

    def head(self, n_periods: Sequence[int]) -> Panel:
        """The panel cut to the first ``n_periods[i]`` periods of series i (future kept whole)."""
        cut = [
            Series(s.id, s.time[:n], s.y[:n], s.past[:n], s.future)
            for s, n in zip(self.series, n_periods, strict=True)
        ]
        return Panel(cut, self.targets, self.past, self.future, self.freq)


def check_lengths(panel: Panel, need: int, what: str) -> None:
    """Every series has at least ``need`` periods; ``what`` says what needs them."""
    for s in panel.series:
        if len(s) < need:
            raise SeriesDataError(
                f"series {s.id!r} has {len(s)} periods, fewer than the {need} needed for {what}; "
                "lower these, or remove the series"
            )
