"""Reading series into a checked ``Panel``: from a CSV file, a DataFrame or an N×T×F cube.

``panel_from_frame`` reads a DataFrame in long form (a time column, an optional series-id
column, target and covariate columns) or wide form (a time column and one column per series) and
checks it: unknown columns, unparsable or missing times, non-numeric values, duplicated
timestamps, timestamps off the grid, missing values and infinities each raise ``SeriesDataError``
naming the column and series and the fix. Rows may come in any order: each series is sorted by
time. Missing values (gaps in the grid included) are an error unless a ``fill`` policy is given.
``panel_from_array`` makes a panel of integer steps from an array, ``read_csv`` reads a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from rnnkit.data.series_panel import Panel, Series, SeriesDataError
from rnnkit.data.series_time import _grid, _infer_freq, _parse_time

Fill = Literal["error", "ffill", "interpolate", "zero"]
FILLS: tuple[str, ...] = ("error", "ffill", "interpolate", "zero")
WIDE_ID = "__id__"  # the series column of a wide frame melted to long form


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
    repeated = (np.diff(codes[order]) == 0) & (np.diff(key[order]) == 0)  # all series at once
    if repeated.any():  # the first series with a repeat, named with its repeats
        sid = ids[codes[order[np.flatnonzero(repeated)[0]]]]
        _check_unique(f"series {sid!r}" if named else f"column {time!r} (--time)",
                      times[rows[sid]], fix)  # fmt: skip
    return rows


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
    if len(times) == len(grid) and times.equals(grid):  # on the grid without gaps: as it is
        block = np.asarray(block, dtype=np.float64)
    elif not times.isin(grid).all():
        off = times[~times.isin(grid)][0]
        raise SeriesDataError(
            f"{label}: timestamp {off} is not on the {freq!r} grid starting at {times[0]}; pass "
            "the right --freq, or resample the data to a regular grid"
        )
    else:
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
