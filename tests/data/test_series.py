"""rnnkit.data.series, series_windows and datasets: parsing, checks, scalers, windows, splits."""

import sys

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.datasets import load_dataset
from rnnkit.data.series import (
    Scaler,
    SeriesDataError,
    calendar_features,
    check_lengths,
    difference,
    integrate,
    panel_from_array,
    panel_from_frame,
    read_csv,
    season_of,
    sliding_windows,
    split_points,
)
from rnnkit.data.series_windows import Layout, build_windows, fit_scaler


def long_frame(months: int = 30) -> pd.DataFrame:
    """Two monthly series a and b, a covariate x and a known-future covariate promo."""
    times = pd.date_range("2020-01-01", periods=months, freq="MS")
    rows = []
    for sid, level in (("a", 10.0), ("b", 50.0)):
        for t, time in enumerate(times):
            rows.append({"date": time.strftime("%Y-%m-%d"), "store": sid, "sales": level + t,
                         "x": t * 0.5, "promo": t % 2})  # fmt: skip
    return pd.DataFrame(rows)


def parse(df: pd.DataFrame, **kw):
    spec = {"time": "date", "target": ["sales"], "id": "store", "past": ["x"], "future": ["promo"]}
    return panel_from_frame(df, **(spec | kw))


# --- reading: long, wide, arrays --------------------------------------------------------------


def test_long_form_csv(tmp_path):
    path = tmp_path / "sales.csv"
    long_frame().to_csv(path, index=False)
    panel = parse(read_csv(path))
    assert panel.ids == ["a", "b"] and panel.freq == "MS" and season_of(panel.freq) == 12
    assert panel.targets == ["sales"] and panel.past == ["x"] and panel.future == ["promo"]
    a = panel.series[0]
    assert a.y.shape == (30, 1) and a.past.shape == (30, 1) and a.future.shape == (30, 1)
    assert a.time[0] == pd.Timestamp("2020-01-01") and a.y[3, 0] == 13.0
    assert panel.series[1].y[0, 0] == 50.0


def test_wide_form_csv(tmp_path):
    times = pd.date_range("2021-01-04", periods=20, freq="D")
    df = pd.DataFrame({"day": times, "north": np.arange(20.0), "south": -np.arange(20.0),
                       "temp": np.ones(20)})  # fmt: skip
    df.to_csv(tmp_path / "wide.csv", index=False)
    panel = panel_from_frame(read_csv(tmp_path / "wide.csv"), time="day", past=["temp"])
    assert panel.ids == ["north", "south"] and panel.targets == ["value"] and panel.freq == "D"
    assert np.array_equal(panel.series[1].y[:, 0], -np.arange(20.0))
    assert panel.series[1].past.shape == (20, 1)  # the covariate is shared


def test_integer_time_and_one_series():
    df = pd.DataFrame({"t": [3, 4, 5, 6], "y": [1.0, 2, 3, 4]})
    panel = panel_from_frame(df, time="t", target=["y"])
    assert panel.freq == 1 and panel.ids == ["y"] and list(panel.series[0].time) == [3, 4, 5, 6]


def test_panel_from_array_cube():
    cube = np.arange(2 * 10 * 3, dtype=float).reshape(2, 10, 3)  # (N, T, F)
    panel = panel_from_array(cube, target=[2])
    assert panel.targets == ["f2"] and panel.past == ["f0", "f1"] and len(panel.series) == 2
    assert np.array_equal(panel.series[1].y[:, 0], cube[1, :, 2])
    assert panel_from_array(np.arange(5.0)).series[0].y.shape == (5, 1)
    cube[1, 4, 0] = np.nan
    with pytest.raises(SeriesDataError, match="series 1: feature 'f0' is nan at step 4"):
        panel_from_array(cube)


def test_trailing_rows_carry_future_covariates():
    df = long_frame(24)
    df.loc[df["date"] >= "2021-10-01", ["sales", "x"]] = np.nan  # the last 3 months: future
    panel = parse(df)
    a = panel.series[0]
    assert len(a) == 21 and a.future.shape == (24, 1) and a.future[23, 0] == 23 % 2


# --- every bad input: one clear error naming the column or series and the fix ----------------


@pytest.mark.parametrize(
    "change, kw, message",
    [
        (lambda df: df, {"target": ["revenue"]}, "--target: unknown column 'revenue'; the columns"),
        (lambda df: df, {"past": ["sales"]}, "column 'sales' is given both as --target and"),
        (lambda df: df.assign(sales=df["sales"].astype(object).where(df.index != 5, "n/a")), {},
         "column 'sales' \\(--target\\) holds 'n/a' at row 5; expected numbers"),
        (lambda df: df.assign(date=df["date"].where(df.index != 2, "someday")), {},
         "column 'date' \\(--time\\): cannot read .* as a date"),
        (lambda df: df.assign(date=df["date"].where(df.index != 2, None)), {},
         "column 'date' \\(--time\\) is empty at row 2"),
        (lambda df: df.drop(index=7), {"freq": None},
         "series 'a': column 'sales' has 1 missing value.*1 timestamp.*--fill"),
        (lambda df: df.assign(sales=df["sales"].where(df.index != 40, np.nan)), {},
         "series 'b': column 'sales' has 1 missing value\\(s\\) \\(first at 2020-11-01.*--fill"),
        (lambda df: df.assign(x=df["x"].where(df.index != 3, np.inf)), {},
         "series 'a': column 'x' is infinite at 2020-04-01"),
        (lambda df: pd.concat([df, df.iloc[[4]]]), {},
         "series 'a': timestamp 2020-05-01 appears in 2 rows; keep one row per series and time"),
        (lambda df: df.assign(date=df["date"].where(df.index != 3, "2020-04-15")), {"freq": "MS"},
         "series 'a': timestamp 2020-04-15 00:00:00 is not on the 'MS' grid"),
        (lambda df: df.assign(sales=df["sales"].where(df.index < 28, np.nan)), {"future": []},
         "series 'a': the targets are missing in the last 2 row\\(s\\).*remove them"),
        (lambda df: df, {"fill": "mean"}, "--fill: expected one of error, ffill"),
        (lambda df: df, {"freq": 7}, "--freq 7: .* holds dates; expected a pandas alias"),
    ],
)  # fmt: skip
def test_bad_inputs(change, kw, message):
    with pytest.raises(SeriesDataError, match=message):
        parse(change(long_frame()), **kw)


def test_irregular_times_need_freq():
    df = pd.DataFrame({"t": ["2020-01-01", "2020-01-03", "2020-01-04", "2020-01-09"], "y": 1.0})
    with pytest.raises(SeriesDataError, match="cannot infer the frequency.*pass it with --freq"):
        panel_from_frame(df, time="t", target=["y"])
    with pytest.raises(SeriesDataError, match="missing value.*--fill"):
        panel_from_frame(df, time="t", target=["y"], freq="D")


def test_unreadable_csv(tmp_path):
    with pytest.raises(SeriesDataError, match="no such file"):
        read_csv(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SeriesDataError, match="not a readable CSV"):
        read_csv(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("date,sales\n")
    with pytest.raises(SeriesDataError, match="no data rows"):
        read_csv(tmp_path / "header.csv")


def test_short_series():
    panel = parse(long_frame(12))
    with pytest.raises(
        SeriesDataError, match="series 'a' has 12 periods, fewer than the 20 needed"
    ):
        check_lengths(panel, 20, "the windows")


@pytest.mark.parametrize(
    "fill, expected",
    [("ffill", [12.0, 12.0, 12.0, 15.0]), ("interpolate", [12.0, 13.0, 14.0, 15.0]),
     ("zero", [12.0, 0.0, 0.0, 15.0])],
)  # fmt: skip
def test_fill_policies(fill, expected):
    df = long_frame()
    df = df.drop(index=3).assign(sales=df["sales"].where(df.index != 4, np.nan))  # gap + NaN
    a = parse(df, fill=fill).series[0]
    assert len(a) == 30 and a.y[2:6, 0].tolist() == expected
    assert not np.isnan(a.past).any()


# --- calendar, differences, scalers, windows, splits ----------------------------------------


def test_calendar_features():
    times = pd.date_range("2020-01-01", periods=12, freq="MS")
    cal = calendar_features(times, ["month", "quarter"])  # (12, 4)
    assert cal.shape == (12, 4)
    np.testing.assert_allclose(cal[:, 0], np.sin(2 * np.pi * np.arange(12) / 12), atol=1e-12)
    np.testing.assert_allclose(cal[3, 2:], [np.sin(np.pi / 2), np.cos(np.pi / 2)], atol=1e-12)
    with pytest.raises(SeriesDataError, match="unknown feature 'moon'"):
        calendar_features(times, ["moon"])
    with pytest.raises(SeriesDataError, match="need dates"):
        calendar_features(pd.Index(np.arange(5)), ["month"])


@pytest.mark.parametrize("lag", [0, 1, 12])
def test_difference_integrate_round_trip(lag):
    y = np.random.default_rng(0).normal(size=(40, 2)).cumsum(0)
    d = difference(y, lag)
    assert d.shape == (40 - lag, 2)
    np.testing.assert_allclose(integrate(d[20 - lag :], y[:20], lag), y[20:], atol=1e-12)


@pytest.mark.parametrize("kind", ["standard", "minmax", "robust", "none"])
def test_scaler_inversion(kind):
    x = np.random.default_rng(1).normal(3, 5, size=(50, 3))
    x[:, 2] = 7.0  # a constant column: scale 1
    scaler = Scaler.fit(x[:30], kind)
    z = scaler.transform(x)
    np.testing.assert_allclose(scaler.inverse(z), x, atol=1e-12)
    np.testing.assert_allclose(scaler.inverse(z[:, 1:], slice(1, None)), x[:, 1:], atol=1e-12)
    restored = Scaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(restored.transform(x), z)
    if kind == "standard":
        np.testing.assert_allclose(z[:30, :2].mean(0), 0, atol=1e-12)
        np.testing.assert_allclose(z[:30, :2].std(0), 1, atol=1e-12)
    if kind == "minmax":
        assert z[:30, :2].min() == 0 and z[:30, :2].max() == 1
    assert scaler.scale[2] == 1.0 or kind == "none"


def test_sliding_windows_and_split_points():
    x = np.arange(10)
    w = sliding_windows(x, 4, stride=3)
    assert w.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert sliding_windows(np.zeros((10, 2)), 4).shape == (7, 4, 2)
    assert sliding_windows(x, 11).shape == (0, 11)
    assert split_points(100, holdout=12, val=6) == (82, 88)


def test_windows_do_not_leak_validation_or_test():
    """Training windows and scalers are the same whatever the validation and test values are;
    every training target lies before the validation periods."""
    y = 10 + np.sin(np.arange(80) * 2 * np.pi / 12) + 0.1 * np.arange(80)
    layout = Layout(["f0"], [], [], [], 1, 12, 12, input_length=8, horizon=4)
    train_end, val_end = split_points(80, holdout=10, val=6)
    built = []
    for tail in (0.0, 1000.0):
        z = y.copy()
        z[train_end:] += tail * np.arange(1, 80 - train_end + 1)  # wreck validation and test
        panel = panel_from_array(z)
        scalers = {s.id: fit_scaler(s, layout, train_end) for s in panel.series}
        train = build_windows(panel, layout, scalers, [(0, train_end)])
        val = build_windows(panel, layout, scalers, [(train_end, val_end)])
        x, t = train.batch(np.arange(len(train)), many_to_one=True)
        built.append((scalers["0"].to_dict(), x, t, len(val)))
    assert built[0][0] == built[1][0]
    assert np.array_equal(built[0][1], built[1][1]) and np.array_equal(built[0][2], built[1][2])
    # model row r is period r + lag; the last training window's last target is train_end - 1
    assert len(built[0][1]) == train_end - 12 - 8 - 4 + 1 and built[0][3] == 6


def test_window_batches_many_to_many_and_relative():
    layout = Layout(["f0"], [], [], [], 1, 1, 0, input_length=3, horizon=2, scaler="none")
    panel = panel_from_array(np.arange(10.0))
    scalers = {"0": Scaler.fit(np.zeros((1, 1)), "none")}
    ws = build_windows(panel, layout, scalers, [(0, 10)])
    x, y = ws.batch(np.array([0, 2]), many_to_one=False)  # (B, L, F), (B, L, H n)
    assert x[:, :, 0].tolist() == [[0, 1, 2], [2, 3, 4]]
    assert y[1].tolist() == [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]  # relative to each step
    layout.relative = False
    x, y = build_windows(panel, layout, scalers, [(0, 10)]).batch(np.array([2]), True)
    assert y.tolist() == [[5.0, 6.0]]
    strided = build_windows(panel, layout, scalers, [(0, 10)], stride=2)
    assert strided.starts.tolist() == [1, 3, 5]  # counted back from the last window


def test_log_transform_needs_positive_targets():
    layout = Layout(["f0"], [], [], [], 1, 1, 0, 3, 2, transform="log")
    panel = panel_from_array(np.array([3.0, 2.0, 0.0, 4.0]))
    with pytest.raises(SeriesDataError, match="--transform log needs positive targets, but 'f0'"):
        fit_scaler(panel.series[0], layout, 4)


# --- the named datasets ------------------------------------------------------------------------


def test_datasets_load_offline():
    airline = load_dataset("airline")
    assert airline.target == ["passengers"] and len(airline.frame) == 144 and airline.season == 12
    us = load_dataset("uschange")
    assert us.covariates == ["income", "production", "savings", "unemployment"]
    panel = panel_from_frame(us.frame, time=us.time, target=us.target, past=us.covariates)
    assert season_of(panel.freq) == 4 and panel.series[0].past.shape == (187, 4)
    co2 = load_dataset("co2")
    assert co2.frame["co2"].notna().all() and len(co2.frame) == 526
    with pytest.raises(SeriesDataError, match="unknown dataset 'tides'; known: airline"):
        load_dataset("tides")


@pytest.mark.parametrize("name, package", [("airline", "sktime"), ("sunspots", "statsmodels")])
def test_dataset_without_the_extra(monkeypatch, name, package):
    monkeypatch.setitem(sys.modules, package, None)  # import fails as if not installed
    with pytest.raises(
        SeriesDataError, match=rf"bundled with {package}.*pip install 'rnnkit\[data\]'"
    ):
        load_dataset(name)


# --- row order, repeated and unreadable timestamps --------------------------------------------


def test_duplicated_timestamp_in_one_series():
    """Repeats are named as such (not "cannot infer the frequency"), with the pandas fix."""
    df = long_frame(12).query("store == 'a'").drop(columns="store")
    df = pd.concat([df, df.iloc[[6, 4, 4]]]).sample(frac=1, random_state=0)
    with pytest.raises(SeriesDataError) as e:
        panel_from_frame(df, time="date", target=["sales"])
    assert str(e.value) == (
        "column 'date' (--time): 2 timestamps appear more than once: 2020-05-01 (3 rows), "
        "2020-07-01 (2 rows); keep one row per time: aggregate the repeats, e.g. "
        "df.groupby('date', as_index=False).mean(), or drop them with "
        "df.drop_duplicates('date'); pass --id if the rows hold several series"
    )
    fixed = panel_from_frame(df.groupby("date", as_index=False).mean(), time="date",
                             target=["sales"])  # fmt: skip
    assert fixed.freq == "MS" and len(fixed.series[0]) == 12


def test_duplicated_timestamps_in_one_series_of_a_panel():
    df = long_frame(24)
    b = df.index[df["store"] == "b"]
    df = pd.concat([df, df.loc[b[[3, 5, 9, 11, 20]]]])  # five repeats in b, a is clean
    with pytest.raises(SeriesDataError) as e:
        parse(df, future=[], freq=None)
    assert str(e.value).startswith(
        "series 'b': 5 timestamps appear more than once: 2020-04-01 (2 rows), 2020-06-01 "
        "(2 rows), 2020-10-01 (2 rows) and 2 more; keep one row per series and time: aggregate "
        "the repeats, e.g. df.groupby(['store', 'date'], as_index=False).mean()"
    )
    wide = long_frame(12).pivot(index="date", columns="store", values="sales").reset_index()
    with pytest.raises(SeriesDataError, match="column 'date' \\(--time\\): timestamp 2020-03-01"):
        panel_from_frame(pd.concat([wide, wide.iloc[[2]]]), time="date")


@pytest.mark.parametrize("seed", [0, 1])
def test_shuffled_rows_give_the_sorted_panel(seed):
    """Rows are identified by their time: any row order gives the same series, in the same
    order, with the same values, so the forecasts are the same too."""
    df = long_frame(24)
    df.loc[df["date"] >= "2021-10-01", ["sales", "x"]] = np.nan  # future rows, out of order too
    zero = df[df["store"] == "a"].assign(store="0", sales=lambda d: d["sales"] * 2)
    df = pd.concat([df, zero])  # ids "a", "b", "0": the panel has "0" first
    shuffled = df.sample(frac=1, random_state=seed)
    assert not shuffled["date"].is_monotonic_increasing
    want, got = parse(df.sort_values(["store", "date"])), parse(shuffled)
    assert got.ids == want.ids == ["0", "a", "b"] and got.freq == want.freq == "MS"
    for s, t in zip(got.series, want.series, strict=True):
        assert s.id == t.id and s.time.equals(t.time) and len(s) == 21
        for part in ("y", "past", "future"):
            np.testing.assert_array_equal(getattr(s, part), getattr(t, part))
    ints = pd.DataFrame({"t": [5, 3, 4, 6], "y": [5.0, 3, 4, 6]})
    one = panel_from_frame(ints, time="t", target=["y"]).series[0]
    assert list(one.time) == [3, 4, 5, 6] and one.y[:, 0].tolist() == [3.0, 4.0, 5.0, 6.0]
    wide = pd.DataFrame({"day": pd.date_range("2021-01-04", periods=9, freq="D"),
                         "zeta": np.arange(9.0), "alpha": -np.arange(9.0)})  # fmt: skip
    panel = panel_from_frame(wide.sample(frac=1, random_state=seed), time="day")
    assert panel.ids == ["zeta", "alpha"] and panel.series[0].y[:, 0].tolist() == list(range(9))


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "column 'date' \\(--time\\) is empty at row 7; every row needs a time"),
        ("NaT", "column 'date' \\(--time\\): cannot read 'NaT' at row 7 as a date \\(1 row"),
        ("2020-13-45", "cannot read '2020-13-45' at row 7 as a date .*expected dates \\(e.g."),
        ("soon", "column 'date' \\(--time\\): cannot read 'soon' at row 7 as a date"),
        (5, "column 'date' \\(--time\\): expected dates like most rows, got 5 at row 7 "
            "\\(1 row\\(s\\) in all\\); write every time as a date"),
    ],
)  # fmt: skip
def test_unreadable_or_missing_times(tmp_path, value, message):
    df = long_frame(12)
    df["date"] = df["date"].astype(object)
    df.loc[7, "date"] = value
    with pytest.raises(SeriesDataError, match=message):
        parse(df)
    df.to_csv(tmp_path / "bad.csv", index=False)  # and the same read back from a CSV
    with pytest.raises(SeriesDataError, match=message.replace("got 5", "got '5'")):
        parse(read_csv(tmp_path / "bad.csv"))


def test_integer_times_mixed_with_dates():
    df = pd.DataFrame({"t": ["1", "2", "2020-01-03", "4", "x"], "y": 1.0})
    with pytest.raises(SeriesDataError, match="expected integer steps like most rows, got "
                       "'2020-01-03' at row 2 \\(2 row\\(s\\) in all\\)"):  # fmt: skip
        panel_from_frame(df, time="t", target=["y"])
    steps = pd.DataFrame({"t": ["3", "1", "2"], "y": [3.0, 1, 2]})  # integers as text: steps
    one = panel_from_frame(steps, time="t", target=["y"])
    assert one.freq == 1 and one.series[0].y[:, 0].tolist() == [1.0, 2.0, 3.0]
