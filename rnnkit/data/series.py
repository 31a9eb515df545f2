"""Time series: panels of series from DataFrames, CSV files or N×T×F cubes, windows, scalers.

A ``Panel`` is N series on one regular time grid each (a pandas frequency such as ``MS``, or
integer steps), with the same columns: targets, past-observed covariates and known-future
covariates. This module is the entry point of the series data; it re-exports what these files
hold, one concept each:

- ``series_panel.py``: ``Panel``, ``Series``, ``SeriesDataError`` and ``check_lengths``;
- ``series_read.py``: ``panel_from_frame`` (long or wide DataFrames, checked: each problem raises
  ``SeriesDataError`` naming the column and series and the fix; rows in any order; missing
  values an error unless a ``fill`` policy is given), ``panel_from_array`` and ``read_csv``;
- ``series_time.py``: the time column, the frequency and its grid, ``future_times``,
  ``season_of`` and ``calendar_features``;
- ``series_arrays.py``: the per-series arrays of the forecasting pipeline: ``difference``/
  ``integrate``, a ``Scaler`` fitted on the training periods only, ``sliding_windows`` and
  ``split_points`` (training, validation and test are consecutive periods, the test last).

Forecasting windows are in ``series_windows.py``, named data sets in ``datasets.py``.
"""

from rnnkit.data.series_arrays import (
    Scaler,
    ScalerKind,
    difference,
    integrate,
    sliding_windows,
    split_points,
)
from rnnkit.data.series_panel import Panel, Series, SeriesDataError, check_lengths
from rnnkit.data.series_read import (
    FILLS,
    WIDE_ID,
    Fill,
    panel_from_array,
    panel_from_frame,
    read_csv,
)
from rnnkit.data.series_time import CALENDAR, calendar_features, future_times, season_of

__all__ = [
    "Panel", "Series", "SeriesDataError", "check_lengths",
    "FILLS", "WIDE_ID", "Fill", "panel_from_array", "panel_from_frame", "read_csv",
    "CALENDAR", "calendar_features", "future_times", "season_of",
    "Scaler", "ScalerKind", "difference", "integrate", "sliding_windows", "split_points",
]  # fmt: skip
