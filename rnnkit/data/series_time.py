"""Time in series: reading a time column, the frequency and its grid, seasons, calendar features.

``_parse_time`` reads a time column as integer steps or datetimes, ``_infer_freq`` finds the one
frequency of all series and ``_grid`` lays out a series' periods on it (used by ``series_read``);
``future_times`` gives the periods after a series' end, ``season_of`` the usual seasonal period
of a frequency and ``calendar_features`` the sin/cos encoding of the ``CALENDAR`` features.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from rnnkit.data.series_panel import SeriesDataError

CALENDAR: dict[str, float] = {  # calendar feature -> its period (encoded as sin, cos)
    "hour": 24,
    "dayofweek": 7,
    "dayofmonth": 31,
    "dayofyear": 366,
    "weekofyear": 53,
    "month": 12,
    "quarter": 4,
}


def _parse_time(col: pd.Series, name: str) -> tuple[pd.Index, bool]:
    """(times, is_integer): integer steps, or datetimes (periods become their start)."""
    where = f"column {name!r} (--time)"
    if col.isna().any():
        row = int(np.flatnonzero(col.isna().to_numpy())[0])
        raise SeriesDataError(f"{where} is empty at row {row}; every row needs a time")
    if isinstance(col.dtype, pd.PeriodDtype):
        return pd.DatetimeIndex(col.dt.to_timestamp()), False
    if pd.api.types.is_bool_dtype(col.dtype):
        raise SeriesDataError(f"{where}: expected dates or integers, got bools")
    if pd.api.types.is_numeric_dtype(col.dtype):
        values = col.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise SeriesDataError(
                f"{where}: expected dates or integer steps, got non-integer "
                f"numbers such as {values[values != np.round(values)][:1].tolist()}"
            )
        return pd.Index(values.astype(np.int64)), True
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return pd.DatetimeIndex(col), False
    is_int = col.astype(str).str.strip().str.fullmatch(r"[+-]?\d+").to_numpy(dtype=bool)
    if is_int.all():  # integers held as text or objects: steps, as when read from a CSV
        return pd.Index(col.astype(str).astype(np.int64)), True
    if is_int.any():
        mostly_int = is_int.mean() >= 0.5
        odd = np.flatnonzero(~is_int if mostly_int else is_int)
        kind = "integer steps" if mostly_int else "dates"
        raise SeriesDataError(
            f"{where}: expected {kind} like most rows, got {col.iloc[odd[0]]!r} at row {odd[0]} "
            f"({len(odd)} row(s) in all); write every time as a date (e.g. 2020-01-31), or every "
            "time as an integer step"
        )
    try:
        parsed = pd.to_datetime(col, format="mixed", errors="coerce")
    except (ValueError, TypeError) as e:  # e.g. time zones that differ between rows
        first = str(e).split(".")[0]
        raise SeriesDataError(
            f"{where}: cannot read the times as one series of dates ({first}); write every time "
            "the same way, in one time zone"
        ) from e
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise SeriesDataError(
            f"{where}: cannot read {col.iloc[bad[0]]!r} at row {bad[0]} as a date "
            f"({len(bad)} row(s) in all); expected dates (e.g. 2020-01-31) or integer steps"
        )
    return pd.DatetimeIndex(parsed), False


def _infer_freq(groups: list[tuple[str, pd.Index]], integer: bool) -> str | int:
    """The one frequency of all series: an int step, or a pandas alias inferred from them."""
    if integer:
        steps = [int(np.diff(t.to_numpy()).min()) for _, t in groups if len(t) > 1]
        return math.gcd(*steps) if steps else 1
    found: dict[str, str] = {}
    inferred: dict[bytes, str | None] = {}  # series on the same times: inferred once
    for sid, times in groups:
        if len(times) >= 3:
            key = times.asi8.tobytes()
            if key not in inferred:
                inferred[key] = pd.infer_freq(times)
            if inferred[key] is not None:
                found.setdefault(inferred[key], sid)
    if not found:
        raise SeriesDataError(
            "cannot infer the frequency of the time column (gaps or irregular timestamps); "
            "pass it with --freq (e.g. MS, D, h, W-SUN)"
        )
    if len(found) > 1:
        described = ", ".join(f"series {sid!r} has {f}" for f, sid in found.items())
        raise SeriesDataError(f"series of different frequencies ({described}); pass --freq")
    return next(iter(found))


def _grid(times: pd.Index, freq: str | int) -> pd.Index:
    """The periods on the grid ``freq`` from the first of ``times`` to the last."""
    return _grid_between(times[0], times[-1], freq)


@functools.lru_cache(maxsize=1024)  # series of a panel mostly share their first and last times
def _grid_between(first, last, freq: str | int) -> pd.Index:
    if isinstance(freq, int):
        return pd.Index(np.arange(int(first), int(last) + 1, freq, dtype=np.int64))
    return pd.date_range(first, last, freq=freq)


def future_times(last, freq: str | int, n: int) -> pd.Index:
    """The ``n`` periods after ``last`` on the grid ``freq``."""
    if isinstance(freq, int):
        return pd.Index(np.arange(1, n + 1, dtype=np.int64) * freq + int(last))
    return pd.date_range(last, periods=n + 1, freq=freq)[1:]


def season_of(freq: str | int) -> int:
    """The usual seasonal period of a frequency: 12 for monthly, 4 quarterly, 7 daily ...; 1 if
    none is usual (yearly, integer steps, multiples such as ``2h``)."""
    if isinstance(freq, int):
        return 1
    offset = pd.tseries.frequencies.to_offset(freq)
    if offset.n != 1:
        return 1
    code = offset.rule_code.split("-")[0].upper()
    for prefix, period in (("MIN", 60), ("M", 12), ("Q", 4), ("W", 52), ("D", 7), ("B", 5)):
        if code.startswith(prefix):
            return period
    return 24 if code in ("H", "BH", "CBH") else 1


def calendar_features(times: pd.Index, names: Sequence[str]) -> np.ndarray:
    """(T, 2 * len(names)) sin and cos of each calendar feature of ``times`` (see CALENDAR)."""
    if not names:
        return np.empty((len(times), 0))
    if not isinstance(times, pd.DatetimeIndex):
        raise SeriesDataError("--calendar: calendar features need dates in the time column")
    columns = []
    for name in names:
        if name not in CALENDAR:
            raise SeriesDataError(
                f"--calendar: unknown feature {name!r}; known: {', '.join(CALENDAR)}"
            )
        if name == "weekofyear":
            value = times.isocalendar().week.to_numpy(dtype=np.float64) - 1
        elif name in ("dayofmonth", "dayofyear", "month", "quarter"):
            value = getattr(times, name.replace("dayofmonth", "day")).to_numpy(np.float64) - 1
        else:
            value = getattr(times, name).to_numpy(dtype=np.float64)
        angle = 2 * np.pi * value / CALENDAR[name]
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1)
