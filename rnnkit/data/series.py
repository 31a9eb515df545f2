"""Time series: panels of series from DataFrames, CSV files or N×T×F cubes, windows, scalers.

A ``Panel`` is N series on one regular time grid each (a pandas frequency such as ``MS``, or
integer steps), with the same columns: targets, past-observed covariates (known up to the
series' end) and known-future covariates (known beyond it too, e.g. a holiday flag or a price
plan). ``panel_from_frame`` reads a DataFrame in long form (a time column, an optional series-id
column, target and covariate columns) or wide form (a time column and one column per series) and
checks it: unknown columns, unparsable or missing times, non-numeric values, duplicated
timestamps, timestamps off the grid, missing values and infinities each raise ``SeriesDataError``
naming the column and series and the fix. Rows may come in any order: each series is sorted by
time. Missing values (gaps in the grid included) are an error unless a ``fill`` policy is given.

The forecasting pipeline then works per series on NumPy arrays: ``difference``/``integrate``,
a ``Scaler`` fitted on the training periods only, ``calendar_features`` of the time index,
``sliding_windows`` and ``split_points`` (training, validation and test are consecutive periods
of each series, the test last).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

Fill = Literal["error", "ffill", "interpolate", "zero"]
FILLS: tuple[str, ...] = ("error", "ffill", "interpolate", "zero")
ScalerKind = Literal["standard", "minmax", "robust", "none"]
WIDE_ID = "__id__"  # the series column of a wide frame melted to long form
CALENDAR: dict[str, float] = {  # calendar feature -> its period (encoded as sin, cos)
    "hour": 24,
    "dayofweek": 7,
    "dayofmonth": 31,
    "dayofyear": 366,
    "weekofyear": 53,
    "month": 12,
    "quarter": 4,
}


class SeriesDataError(ValueError):
    """Time series data that cannot be used; the message names the column/series and the fix."""


# ---------------------------------------------------------------------------------------------
# the panel


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


# ---------------------------------------------------------------------------------------------
# reading: columns, times, values


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV file as a DataFrame, or SeriesDataError saying why it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise SeriesDataError(f"--csv {path}: no such file; pass the path of a CSV file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SeriesDataError(f"--csv {path}: not a readable CSV file ({first})") from e
    if df.empty:
        raise SeriesDataError(f"--csv {path}: no data rows; the file needs a header and rows")
    return df


def _check_columns(df: pd.DataFrame, roles: dict[str, list[str]]) -> None:
    """Every named column exists and has one role; roles: flag -> columns."""
    seen: dict[str, str] = {}
    for flag, columns in roles.items():
        for c in columns:
            if c not in df.columns:
                known = ", ".join(map(str, df.columns))
                raise SeriesDataError(f"{flag}: unknown column {c!r}; the columns are: {known}")
            if c in seen:
                raise SeriesDataError(f"column {c!r} is given both as {seen[c]} and as {flag}")
            seen[c] = flag


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


def _numeric(df: pd.DataFrame, columns: list[str], flag: dict[str, str]) -> np.ndarray:
    """The columns as a float64 (rows, len(columns)) array; non-numbers raise."""
    out = np.empty((len(df), len(columns)))
    for j, c in enumerate(columns):
        raw = df[c]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SeriesDataError(
                f"column {c!r} ({flag[c]}) holds {raw.iloc[row]!r} at row {row}; expected numbers "
                "(leave a cell empty for a missing value)"
            )
        out[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _series_codes(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(code of each row, ids): the series of ``col`` in the order of its values (numbers by
    value, text by text, categories in their order), whatever the order of the rows."""
    if pd.api.types.is_numeric_dtype(col.dtype) or isinstance(col.dtype, pd.CategoricalDtype):
        codes, uniques = pd.factorize(col, sort=True)
    else:
        codes, uniques = pd.factorize(col.astype(str), sort=True)
    return codes, [str(u) for u in uniques]


def _check_unique(label: str, times: pd.Index, fix: str) -> None:
    """``times`` (sorted) hold each timestamp once, or SeriesDataError naming the first few."""
    counts = times.value_counts(sort=False)  # in time order
    repeated = counts[counts > 1]
    if repeated.empty:
        return
    first = zip(repeated.index[:3].astype(str), repeated.iloc[:3], strict=True)  # 2020-05-01
    if len(repeated) == 1:
        what = "timestamp {} appears in {} rows".format(*next(first))
    else:
        shown = ", ".join(f"{t} ({n} rows)" for t, n in first)
        more = f" and {len(repeated) - 3} more" if len(repeated) > 3 else ""
        what = f"{len(repeated)} timestamps appear more than once: {shown}{more}"
    raise SeriesDataError(f"{label}: {what}; {fix}")


def _series_rows(
    df: pd.DataFrame, time: str, times: pd.Index, id: str | None, name: str
) -> dict[str, np.ndarray]:
    """Series id -> its row numbers sorted by time (one series ``name`` without ``id``); a
    timestamp repeated within a series raises."""
    if id and df[id].isna().any():
        row = int(np.flatnonzero(df[id].isna().to_numpy())[0])
        raise SeriesDataError(f"column {id!r} (--id) is empty at row {row}")
    codes, ids = _series_codes(df[id]) if id else (np.zeros(len(df), np.int64), [name])
    key = times.asi8 if isinstance(times, pd.DatetimeIndex) else times.to_numpy(np.int64)
    order = np.lexsort((key, codes))  # rows by series, then by time (stable)
    rows = dict(zip(ids, np.split(order, np.flatnonzero(np.diff(codes[order])) + 1), strict=True))
    named = bool(id) and id != WIDE_ID  # series named by an id column
    keys = [id, time] if named else time
    fix = (
        f"keep one row per {'series and ' if named else ''}time: aggregate the repeats, e.g. "
        f"df.groupby({keys!r}, as_index=False).mean(), or drop them with "
        f"df.drop_duplicates({keys!r})"
        + ("" if id else "; pass --id if the rows hold several series")
    )
    for sid, r in rows.items():
        _check_unique(f"series {sid!r}" if named else f"column {time!r} (--time)", times[r], fix)
    return rows


def _infer_freq(groups: list[tuple[str, pd.Index]], integer: bool) -> str | int:
    """The one frequency of all series: an int step, or a pandas alias inferred from them."""
    if integer:
        steps = [int(np.diff(t.to_numpy()).min()) for _, t in groups if len(t) > 1]
        return math.gcd(*steps) if steps else 1
    found: dict[str, str] = {}
    for sid, times in groups:
        if len(times) >= 3:
            freq = pd.infer_freq(times)
            if freq is not None:
                found.setdefault(freq, sid)
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
    if isinstance(freq, int):
        return pd.Index(np.arange(int(times[0]), int(times[-1]) + 1, freq, dtype=np.int64))
    return pd.date_range(times[0], times[-1], freq=freq)


def _fill(values: np.ndarray, how: str) -> np.ndarray:
    """NaNs of each column filled: ffill (leading ones backward), interpolate, or zero."""
    if how == "zero":
        return np.nan_to_num(values, nan=0.0, posinf=np.inf, neginf=-np.inf)
    frame = pd.DataFrame(values)
    if how == "interpolate":
        frame = frame.interpolate(method="linear", limit_direction="both")
    return frame.ffill().bfill().to_numpy(dtype=np.float64)


def _describe_missing(label: str, times: pd.Index, values: np.ndarray, names: list[str]) -> str:
    for j, name in enumerate(names):
        rows = np.flatnonzero(np.isnan(values[:, j]))
        if len(rows):
            return (
                f"{label}: column {name!r} has {len(rows)} missing value(s) (first at "
                f"{times[rows[0]]})"
            )
    return label


def _one_series(
    sid: str,
    times: pd.Index,
    block: np.ndarray,
    names: tuple[list[str], list[str], list[str]],
    freq: str | int,
    fill: str,
) -> Series:
    """Check and complete one series (``times`` sorted and unique): on the grid, finite, gaps
    filled."""
    targets, past, future = names
    label = f"series {sid!r}"
    grid = _grid(times, freq)
    if not times.isin(grid).all():
        off = times[~times.isin(grid)][0]
        raise SeriesDataError(
            f"{label}: timestamp {off} is not on the {freq!r} grid starting at {times[0]}; pass "
            "the right --freq, or resample the data to a regular grid"
        )
    block = pd.DataFrame(block, index=times).reindex(grid).to_numpy(np.float64, copy=True)
    # trailing rows without targets: the future part, for known-future covariates only
    n_y = len(targets)
    has_y = ~np.all(np.isnan(block[:, :n_y]), axis=1)
    if not has_y.any():
        raise SeriesDataError(f"{label}: every target value is missing")
    end = int(np.flatnonzero(has_y)[-1]) + 1
    if end < len(grid) and not future:
        raise SeriesDataError(
            f"{label}: the targets are missing in the last {len(grid) - end} row(s) (from "
            f"{grid[end]}); rows after a series' end are only for --future-covariates; remove them"
        )
    observed, ahead = block[:end, : n_y + len(past)], block[:, n_y + len(past) :]
    for part, cols, tms in ((observed, targets + past, grid[:end]), (ahead, future, grid)):
        inf = np.isinf(part)
        if inf.any():
            row, col = np.argwhere(inf)[0]
            raise SeriesDataError(
                f"{label}: column {cols[col]!r} is infinite at {tms[row]}; replace or drop it"
            )
        if np.isnan(part).any():
            if fill == "error":
                gaps = len(grid) - len(times)
                gap_text = f" ({gaps} timestamp(s) missing from the grid)" if gaps else ""
                raise SeriesDataError(
                    _describe_missing(label, tms, part, cols)
                    + f"{gap_text}; pass --fill ffill|interpolate|zero, or fix the data"
                )
            part[:] = _fill(part, fill)
    return Series(sid, grid[:end], observed[:, :n_y], observed[:, n_y:], ahead)


def panel_from_frame(
    df: pd.DataFrame,
    *,
    time: str,
    target: Sequence[str] = (),
    id: str | None = None,
    past: Sequence[str] = (),
    future: Sequence[str] = (),
    freq: str | int | None = None,
    fill: Fill = "error",
) -> Panel:
    """A checked Panel from a DataFrame in long or wide form.

    Long form: ``time``, ``target`` column(s), optional ``id`` (one series per id, in the order
    of the ids; without it one series, named after its targets) and covariate columns.
    Wide form (``target`` empty): every column other than ``time`` and the covariates is one
    series with target ``value``, in column order; covariates are shared.
    The rows may come in any order: each series' rows are sorted by time (stably, without a
    word), as pandas and sktime users expect of a long-form table whose rows are identified by
    their time, so shuffled rows give the same panel as sorted ones. A timestamp that appears
    twice in a series raises SeriesDataError, before the frequency is inferred.
    ``freq``: a pandas alias or an int step; None infers it. ``fill``: how to fill missing values
    and gaps ("error" refuses them). Rows after a series' last target hold future covariates.
    """
    if fill not in FILLS:
        raise SeriesDataError(f"--fill: expected one of {', '.join(FILLS)}, got {fill!r}")
    target, past, future = list(target), list(past), list(future)
    roles = {"--time": [time], "--id": [id] if id else [], "--target": target}
    _check_columns(df, roles | {"--covariates": past, "--future-covariates": future})
    if df.empty:
        raise SeriesDataError("no data rows; expected one row per time (and series)")
    if not target:  # wide form: one series per remaining column
        if id:
            raise SeriesDataError("--id: the wide form (no --target) has one column per series")
        columns = [c for c in df.columns if c not in [time, *past, *future]]
        if not columns:
            raise SeriesDataError("no series columns: pass --target, or add one column per series")
        long = df.melt(id_vars=[time, *past, *future], value_vars=columns, var_name=WIDE_ID)
        long[WIDE_ID] = pd.Categorical(long[WIDE_ID], categories=columns)  # column order
        return panel_from_frame(
            long, time=time, target=["value"], id=WIDE_ID, past=past, future=future,
            freq=freq, fill=fill,
        )  # fmt: skip
    flags = {c: "--target" for c in target} | {c: "--covariates" for c in past}
    flags |= {c: "--future-covariates" for c in future}
    values = _numeric(df, target + past + future, flags)  # (rows, n_y + P + K)
    times, integer = _parse_time(df[time], time)
    if freq and isinstance(freq, str) == integer:
        expected = "an int step" if integer else "a pandas alias such as MS or D"
        raise SeriesDataError(
            f"--freq {freq}: the time column {time!r} holds {'integers' if integer else 'dates'}"
            f"; expected {expected}"
        )
    rows = _series_rows(df, time, times, id, ",".join(target))  # id -> rows in time order
    groups = [(sid, times[r]) for sid, r in rows.items()]
    if freq is None or freq == "":
        freq = _infer_freq(groups, integer)
    elif not isinstance(freq, int) and not integer:
        try:
            pd.tseries.frequencies.to_offset(freq)
        except ValueError as e:
            raise SeriesDataError(f"--freq: {freq!r} is not a pandas frequency (e.g. MS, D)") from e
    names = (target, past, future)
    series = [_one_series(sid, t, values[rows[sid]], names, freq, fill) for sid, t in groups]
    return Panel(series, target, past, future, freq)


def panel_from_array(
    x: np.ndarray, *, target: Sequence[int] | None = None, names: Sequence[str] | None = None
) -> Panel:
    """A Panel of integer steps from an N×T×F cube, a T×F matrix or a length-T vector.

    ``target``: the feature indices to forecast (default: all); the other features are
    past-observed covariates. ``names``: the F feature names (default ``f0``, ``f1`` ...).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :, None]  # (1, T, 1)
    elif x.ndim == 2:
        x = x[None]  # (1, T, F)
    if x.ndim != 3:
        raise SeriesDataError(f"expected an array (N, T, F), (T, F) or (T,), got {x.ndim} dims")
    n, t, f = x.shape
    names = list(names) if names is not None else [f"f{j}" for j in range(f)]
    if len(names) != f:
        raise SeriesDataError(f"names: expected {f} feature names, got {len(names)}")
    target = list(range(f)) if target is None else [int(j) for j in target]
    if not target or any(not 0 <= j < f for j in target):
        raise SeriesDataError(f"target: expected feature indices in 0..{f - 1}, got {target}")
    rest = [j for j in range(f) if j not in target]
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        i, step, j = bad[0]
        raise SeriesDataError(
            f"series {i}: feature {names[j]!r} is {x[i, step, j]} at step {step}; expected finite "
            "values (fill them first)"
        )
    times = pd.Index(np.arange(t, dtype=np.int64))
    series = [
        Series(str(i), times, x[i][:, target], x[i][:, rest], np.empty((t, 0))) for i in range(n)
    ]
    return Panel(series, [names[j] for j in target], [names[j] for j in rest], [], 1)


def check_lengths(panel: Panel, need: int, what: str) -> None:
    """Every series has at least ``need`` periods; ``what`` says what needs them."""
    for s in panel.series:
        if len(s) < need:
            raise SeriesDataError(
                f"series {s.id!r} has {len(s)} periods, fewer than the {need} needed for {what}; "
                "lower these, or remove the series"
            )


# ---------------------------------------------------------------------------------------------
# per-series arrays: calendar, differences, scalers, windows, splits


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
