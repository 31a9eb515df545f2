"""Real time series by name, offline: the datasets bundled with sktime and statsmodels.

``load_dataset(name)`` returns a ``Dataset``: a long-form DataFrame with a ``time`` column of
dates, its target and covariate columns, and the series' usual seasonal period. Nothing is
downloaded; sktime and statsmodels are the optional extra ``rnnkit[data]``, and a dataset whose
package is missing says which extra to install.

==========  ===========  =========================================================  =========
name        package      series                                                     season
==========  ===========  =========================================================  =========
airline     sktime       airline passengers (thousands), monthly 1949-1960          12
lynx        sktime       lynx trappings in Canada, yearly 1821-1934                 10
shampoo     sktime       shampoo sales, monthly, 3 years                            12
uschange    sktime       US consumption growth with income, production, savings     4
                         and unemployment as covariates, quarterly 1970-2016
co2         statsmodels  Mauna Loa CO2 (ppm), weekly 1958-2001 averaged to monthly  12
                         (5 months without readings linearly interpolated)
sunspots    statsmodels  yearly sunspot activity 1700-2008                          11
nile        statsmodels  Nile flow volume at Aswan, yearly 1871-1970                1
macrodata   statsmodels  US real GDP, quarterly 1959-2009 (other columns:           4
                         covariates to pick with --covariates)
elnino      statsmodels  Pacific sea surface temperature, monthly 1950-2010         12
==========  ===========  =========================================================  =========
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from rnnkit.data.series import SeriesDataError


@dataclass
class Dataset:
    """A named dataset: ``frame`` (long form, dates in ``time``), its columns' roles, season."""

    name: str
    frame: pd.DataFrame
    target: list[str]
    covariates: list[str] = field(default_factory=list)
    season: int = 1
    time: str = "time"


def _require(package: str, name: str):
    try:
        return importlib.import_module(package)
    except ImportError as e:
        raise SeriesDataError(
            f"--dataset {name} is bundled with {package}, which is not installed; install the "
            "extra: pip install 'rnnkit[data]'"
        ) from e


def _sktime(loader: str, name: str):
    _require("sktime", name)
    return getattr(importlib.import_module("sktime.datasets"), loader)()


def _statsmodels(name: str) -> pd.DataFrame:
    _require("statsmodels", name)
    return getattr(importlib.import_module("statsmodels.datasets"), name).load_pandas().data


def _from_sktime_series(y: pd.Series, column: str) -> pd.DataFrame:
    return pd.DataFrame({"time": y.index.to_timestamp(), column: y.to_numpy(dtype=float)})


def _airline() -> Dataset:
    y = _sktime("load_airline", "airline")
    return Dataset("airline", _from_sktime_series(y, "passengers"), ["passengers"], season=12)


def _lynx() -> Dataset:
    y = _sktime("load_lynx", "lynx")
    return Dataset("lynx", _from_sktime_series(y, "trappings"), ["trappings"], season=10)


def _shampoo() -> Dataset:
    y = _sktime("load_shampoo_sales", "shampoo")
    return Dataset("shampoo", _from_sktime_series(y, "sales"), ["sales"], season=12)


def _uschange() -> Dataset:
    y, x = _sktime("load_uschange", "uschange")
    frame = x.astype(float).assign(consumption=y.to_numpy(dtype=float))
    frame.columns = [str(c).lower() for c in frame.columns]
    frame.insert(0, "time", pd.date_range("1970-01-01", periods=len(frame), freq="QS"))
    covariates = ["income", "production", "savings", "unemployment"]
    return Dataset("uschange", frame, ["consumption"], covariates, season=4)


def _co2() -> Dataset:
    weekly = _statsmodels("co2")
    monthly = weekly.resample("MS").mean().interpolate(method="linear")
    frame = pd.DataFrame({"time": monthly.index, "co2": monthly["co2"].to_numpy()})
    return Dataset("co2", frame, ["co2"], season=12)


def _yearly(name: str, year: str, column: str, target: str, season: int) -> Dataset:
    data = _statsmodels(name)
    times = pd.to_datetime(data[year].astype(int).astype(str), format="%Y")
    frame = pd.DataFrame({"time": times, target: data[column].to_numpy(dtype=float)})
    return Dataset(name, frame, [target], season=season)


def _macrodata() -> Dataset:
    data = _statsmodels("macrodata")
    frame = data.drop(columns=["year", "quarter"]).astype(float)
    frame.insert(0, "time", pd.date_range("1959-01-01", periods=len(frame), freq="QS"))
    return Dataset("macrodata", frame, ["realgdp"], season=4)


def _elnino() -> Dataset:
    data = _statsmodels("elnino")
    months = data.drop(columns=["YEAR"]).to_numpy(dtype=float).reshape(-1)  # (years * 12,)
    start = f"{int(data['YEAR'].iloc[0])}-01-01"
    times = pd.date_range(start, periods=len(months), freq="MS")
    return Dataset("elnino", pd.DataFrame({"time": times, "temperature": months}), ["temperature"],
                   season=12)  # fmt: skip


DATASETS: dict[str, Callable[[], Dataset]] = {
    "airline": _airline,
    "lynx": _lynx,
    "shampoo": _shampoo,
    "uschange": _uschange,
    "co2": _co2,
    "sunspots": lambda: _yearly("sunspots", "YEAR", "SUNACTIVITY", "sunactivity", 11),
    "nile": lambda: _yearly("nile", "year", "volume", "volume", 1),
    "macrodata": _macrodata,
    "elnino": _elnino,
}


def load_dataset(name: str) -> Dataset:
    """The dataset ``name`` (one of ``DATASETS``), read from sktime's or statsmodels' files."""
    if name not in DATASETS:
        raise SeriesDataError(f"--dataset: unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]()
