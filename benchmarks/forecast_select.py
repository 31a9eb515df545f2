"""How ``--model auto`` turns its validation scores into a choice, studied on data that
``benchmarks/forecast.py``'s holdouts never reach.

    nice python benchmarks/forecast_select.py --out /tmp/select [--series airline,...]
    python benchmarks/forecast_select.py --out /tmp/select --rules   # the rules' table

The development series: every bundled data set with ``benchmarks/forecast.py``'s holdout cut off
first (those periods are never read here), and of what is left the last H periods (H = that
holdout) held out as this study's test; for uschange and macrodata every other column too
(income, production, savings, unemployment; realcons, realinv, ..., infl), cut the same way:
23 series. On each, ``select.validate`` backtests auto's candidates on the periods before the
study's test, exactly as ``--model auto`` would; then every candidate is fitted on all those
periods, as auto fits the one it chooses, and forecasts the study's test (MASE). One JSON per
series in ``--out`` (a rerun skips the series already done).

``--rules`` then scores rules that map the validation scores to a forecast, each on every
series: its MASE (mean and geometric mean), its mean rank among itself, naive, seasonal naive,
ETS and auto-ARIMA (``benchmarks/forecast.py``'s), on how many series it is worse than 1.1x the
best of naive, seasonal naive and ETS (the goal of issue 19: none) and its worst ratio. With
``--extra`` it adds Theta (statsmodels' ThetaModel, M3's winner), damped-trend ETS and
auto-ARIMA as candidates, computed from each JSON's stored history (their forecasts of each
validation window and of the test, cached in the JSON; auto-ARIMA's 4 searches a series take
about a minute on the shared machine), the rules built on them (M4's lesson: combinations of
statistical methods rank well and fail gracefully), and ranks among all the benchmark's
methods: the networks too (its RegLSTM is the first of auto's grid, seasonal differences where
they fit and the longest input; ES-RNN auto's; airline's study is too short for them, and they
are not ranked there), with 'W/L', the series where the rule beats / loses to auto's choice
alone. Which rule ``--model auto`` uses, and why, is in ``select.py``'s docstring.

What ``--rules --extra`` printed (seed 0, this machine idle; rows picked from its table, which
is sorted by the rank's margin over the best peer beside it), with auto-ARIMA searching the
constant too (the drift with one difference; before that it had none, as the table of the run
before said, in git history):

    24 development series
    mean ranks among the rule and naive, seasonal naive, ETS, auto-ARIMA, reglstm, es-rnn;
    'peer': the best peer's beside it; 'W/L': the series it wins / loses against auto's rule
    rule                                              mean    geo  rank  peer >1.1x  worst    W/L
    auto-ARIMA alone                                 0.780  0.568  2.62  2.62     8   1.62   16/8
    mean of auto-ARIMA and the least val. MASE       0.835  0.645  2.58  2.50     6   6.51   18/6
    auto-ARIMA unless 30% better                     0.867  0.650  2.81  2.60     8  12.09   13/6
    mean of ETS, auto-ARIMA                          0.917  0.667  2.92  2.46     7   1.82  13/11
    mean of the 2 least val. MASE, + auto-ARIMA      0.950  0.734  2.90  2.42     7   9.25   14/7
    auto-ARIMA unless 10% better                     0.909  0.736  3.02  2.54     8  12.09    7/3
    mean of auto-ARIMA, best network                 0.798  0.625  3.00  2.42     8   6.51  13/10
    least val. MASE, + auto-ARIMA                    0.923  0.745  3.17  2.52     8  12.09    5/2
    weighted by 1/validation MASE                    0.990  0.797  3.12  2.38    11   9.50  10/14
    least validation MASE                            0.952  0.752  3.23  2.46     7  12.09    0/0
    median of ETS, Theta, auto-ARIMA, best network   0.853  0.666  3.17  2.38     8   6.72   14/9
    mean of ETS, Theta, auto-ARIMA                   0.955  0.790  3.29  2.33    11   8.29  12/12
    mean of ETS, Theta, auto-ARIMA, best network     0.886  0.752  3.30  2.33     9   7.01  12/11
    damped ETS                                       1.013  0.746  3.58  2.33    13   2.44  11/13
    Comb: mean of ETS, Theta, damped ETS             1.069  0.891  3.62  2.29    12   8.77  10/14
    Theta                                            1.326  1.158  3.92  2.25    14  23.39   6/18
    auto-ARIMA                                       0.780  0.568  2.12     -     8   1.62   16/8
    ETS                                              1.139  0.780  3.12     -     7   3.20   8/13
    es-rnn                                           0.888  0.796  3.17     -    12   9.13   7/12
    reglstm                                          1.131  0.850  3.83     -    13   4.01   8/13
    seasonal naive                                   1.940  1.495  4.19     -    14  53.21   6/16
    naive                                            1.828  1.520  4.40     -    15  42.72   1/19

Read: auto-ARIMA is the best single method on these series (rank 2.12 among the peers alone;
mean MASE 0.780, 0.863 without the constant), and the mean of auto-ARIMA and auto's choice (the
least validation MASE, naive among the candidates) is the best rule (2.58; auto-ARIMA alone
2.62) with a mean MASE of 0.835 against auto's choice alone's 0.952, beats auto's choice alone
on 18 series of 24 and is worse than 1.1x the best baseline on 6 series (auto's choice alone 7,
auto-ARIMA alone 8): ``--model auto`` takes it (``select.py``), as it did when auto-ARIMA had
no constant (2.62 against auto-ARIMA alone's 2.62 then). Auto-ARIMA as a validated candidate
(the least validation MASE, or kept unless another validates 10-30% better) ranks 2.81-3.19,
since the validation barely predicts the test here; Theta alone fails on the trending macro
series (mean MASE 1.326), and the means with it rank 3.17 or behind. Before ``--extra`` (23
series, ranked among the statistical peers only) the study had kept the least validation MASE
and added naive to the candidates (mean MASE 0.971 to 0.941); keeping ETS unless another
candidate validates 5-50% better, or averaging the best candidates, did no better.
``rules()`` adds naive from the saved history when a JSON was made before it was a candidate
(a duplicate after: the same).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from forecast import auto_arima  # beside this file: benchmarks/forecast.py

from rnnkit.data.datasets import load_dataset
from rnnkit.metrics import ets, naive, seasonal_naive
from rnnkit.tasks.forecast import scores
from rnnkit.tasks.forecast.api import fit_run
from rnnkit.tasks.forecast.backtest import cutoffs
from rnnkit.tasks.forecast.config import Config
from rnnkit.tasks.forecast.data import load_panel, resolve_horizon
from rnnkit.tasks.forecast.methods import median_of, predict_panel
from rnnkit.tasks.forecast.select import _label, validate
from rnnkit.train.config import config_from_dict
from rnnkit.train.run import open_run

HOLDOUT = {
    "airline": 36,
    "co2": 36,
    "sunspots": 22,
    "lynx": 14,
    "shampoo": 6,
    "uschange": 8,
    "nile": 10,
    "elnino": 12,
    "macrodata": 12,
}  # fmt: skip  (benchmarks/forecast.py's)
MORE_COLUMNS = ("uschange", "macrodata")  # every column is a development series
BASELINES = {"naive": naive, "seasonal naive": seasonal_naive, "ETS": ets}


def dev_series() -> list[tuple[str, pd.DataFrame, str, int, int]]:
    """(label, frame cut before the benchmark's holdout, target column, season, H)."""
    out = []
    for name, holdout in HOLDOUT.items():
        ds = load_dataset(name)
        frame = ds.frame.iloc[:-holdout].reset_index(drop=True)
        columns = [c for c in frame.columns if c != ds.time] if name in MORE_COLUMNS else ds.target
        for col in columns:
            out.append((f"{name}:{col}", frame[[ds.time, col]].rename(columns={ds.time: "time"}),
                        col, ds.season, holdout))  # fmt: skip
    return out


def study(label: str, frame: pd.DataFrame, target: str, season: int, h: int, seed: int) -> dict:
    values = {"time": "time", "target": target, "season": season, "holdout": h, "horizon": h,
              "model": "auto", "threads": 1, "baselines": "none", "tensorboard": False,
              "seed": seed}  # fmt: skip
    cfg = config_from_dict(Config, values)
    panel, cfg = load_panel(cfg, frame)
    cfg, _ = resolve_horizon(cfg, panel)
    t0 = time.perf_counter()
    found = validate(cfg, panel, verbose=False)
    history = panel.head([len(s) - h for s in panel.series])
    past = [s.y for s in history.series]
    truth = [s.y[-h:] for s in panel.series]
    rows = []
    for cand, row in zip(found.candidates, found.rows, strict=True):
        with tempfile.TemporaryDirectory(prefix="rnnkit-dev-") as tmp:
            with open_run(tmp, False, "forecast") as run:
                fitted = fit_run(dataclasses.replace(cand, holdout=h), panel, run, verbose=False)
        preds = predict_panel(fitted.model, fitted.layout, fitted.scalers, history, h)
        pred = [median_of(p, fitted.cfg) for p in preds]
        rows.append({"label": _label(row), "val_mase": row["mase"],
                     "test_mase": scores(truth, pred, past, season)["mase"],
                     "forecast": pred[0][:, 0].tolist()})  # fmt: skip
    base = {k: scores(truth, [fn(past[0], h, season)], past, season)["mase"]
            for k, fn in BASELINES.items()}  # fmt: skip
    return {"series": label, "h": h, "season": season, "periods": len(past[0]),
            "windows": found.windows, "step": found.step, "candidates": rows, "baselines": base,
            "truth": truth[0][:, 0].tolist(), "history": past[0][:, 0].tolist(),
            "seconds": time.perf_counter() - t0}  # fmt: skip


def _mase(truth: np.ndarray, pred: np.ndarray, past: np.ndarray, season: int) -> float:
    return scores([truth[:, None]], [pred[:, None]], [past[:, None]], season)["mase"]


def validation_mase(result: dict, method) -> float:
    """The validation MASE of a statistical ``method`` on the windows auto backtested."""
    y, h, m = np.asarray(result["history"]), result["h"], result["season"]
    values = []
    for c in cutoffs(len(y), result["windows"], result["step"], h):
        values.append(_mase(y[c : c + h], method(y[:c, None], h, m)[:, 0], y[:c], m))
    return float(np.mean(values)) if values else float("nan")


def rules(result: dict) -> dict[str, np.ndarray]:
    """Each rule's forecast of the study's test periods on one series."""
    cands = [c | {"forecast": np.asarray(c["forecast"])} for c in result["candidates"]]
    if not cands:
        return {}
    naive_fc = naive(np.asarray(result["history"])[:, None], result["h"], result["season"])[:, 0]
    naive_row = {"label": "naive", "forecast": naive_fc,
                 "val_mase": validation_mase(result, naive)}  # fmt: skip
    by_val = sorted(cands, key=lambda c: _finite(c["val_mase"]))
    by_val_n = sorted([*cands, naive_row], key=lambda c: _finite(c["val_mase"]))
    ets_row = next((c for c in cands if c["label"] == "ets"), by_val[0])
    nets = [c for c in cands if c["label"].startswith(("reglstm", "es-rnn"))]
    out = {"least validation MASE": by_val[0]["forecast"],
           "least validation MASE, naive too": by_val_n[0]["forecast"],
           "ETS": ets_row["forecast"]}  # fmt: skip
    for margin in (0.05, 0.1, 0.2, 0.3, 0.5):
        for suffix, ordered in (("", by_val), (", naive too", by_val_n)):
            bar = (1 - margin) * ets_row["val_mase"]
            pick = ordered[0] if ordered[0]["val_mase"] < bar else ets_row
            out[f"ETS unless {margin:.0%} better{suffix}"] = pick["forecast"]
    stats = [c for c in [*cands, naive_row] if c["label"] in ("seasonal-naive", "ets", "naive")]
    out["least validation MASE, statistical only"] = min(
        stats, key=lambda c: _finite(c["val_mase"])
    )["forecast"]
    out["mean of ETS and the least validation MASE"] = (
        ets_row["forecast"] + by_val_n[0]["forecast"]
    ) / 2
    singles = [c for c in cands if "+" not in c["label"]]
    singles_n = sorted([*singles, naive_row], key=lambda c: _finite(c["val_mase"]))
    for k in (2, 3):
        out[f"mean of {k} best"] = np.mean([c["forecast"] for c in singles_n[:k]], axis=0)
    out["median of all"] = np.median([c["forecast"] for c in [*singles, naive_row]], axis=0)
    if nets:
        best_net = min(nets, key=lambda c: _finite(c["val_mase"]))
        out["mean of ETS and best network"] = (ets_row["forecast"] + best_net["forecast"]) / 2
    weights = np.array([1 / max(_finite(c["val_mase"]), 1e-9) for c in singles_n])
    out["weighted by 1/validation MASE"] = np.average(
        [c["forecast"] for c in singles_n], axis=0, weights=weights
    )
    if "extra" in result:
        out |= combination_rules(result, by_val_n, nets)
    return out


def theta(history: np.ndarray, periods: int, season: int) -> np.ndarray:
    """statsmodels' ThetaModel (M3's winner: SES with drift, on the series deseasonalized when
    m > 1, two seasons are known and its test finds a season): (periods, 1)."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y, seasonal = history[:, 0], season > 1 and len(history) >= 2 * season
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ThetaModel(y, period=season if season > 1 else None, deseasonalize=seasonal).fit()
    return np.asarray(fit.forecast(periods))[:, None]


def damped_ets(history: np.ndarray, periods: int, season: int) -> np.ndarray:
    """``rnnkit.metrics.ets`` with a damped trend: (periods, 1)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = "add" if season > 1 and len(history) >= 2 * season else None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(
            history[:, 0], trend="add", damped_trend=True, seasonal=seasonal,
            seasonal_periods=season if seasonal else None, initialization_method="estimated",
        ).fit()  # fmt: skip
    return np.asarray(fit.forecast(periods))[:, None]


EXTRA = {"ETS": ets, "Theta": theta, "damped ETS": damped_ets,
         "auto-ARIMA": lambda y, h, m: auto_arima(y[:, 0], h, m)[0][:, None]}  # fmt: skip


def add_extra(result: dict) -> bool:
    """Add ETS's, Theta's, damped ETS's and auto-ARIMA's forecasts of each validation window
    and of the test to ``result``, from its stored history; whether anything was added."""
    y, h, m = np.asarray(result["history"])[:, None], result["h"], result["season"]
    extra = result.setdefault("extra", {})
    added = False
    for name, fn in EXTRA.items():
        if "val" not in extra.get(name, {}):
            cuts = cutoffs(len(y), result["windows"], result["step"], h)
            extra[name] = {"test": fn(y, h, m)[:, 0].tolist(),
                           "val": [fn(y[:c], h, m)[:, 0].tolist() for c in cuts]}  # fmt: skip
            added = True
    return added


def combination_rules(result: dict, by_val_n: list[dict], nets: list[dict]) -> dict:
    """The rules with Theta, damped ETS and auto-ARIMA (``add_extra``): M4's lesson that
    combinations of statistical methods rank well and fail gracefully. ``by_val_n``: auto's
    candidates and naive by validation MASE, ``nets``: the networks among them."""
    y, h, m = np.asarray(result["history"]), result["h"], result["season"]
    cuts = cutoffs(len(y), result["windows"], result["step"], h)
    fc = {k: np.asarray(v["test"]) for k, v in result["extra"].items()}
    val = {k: np.asarray(v["val"]) for k, v in result["extra"].items()}
    comb = ("ETS", "Theta", "damped ETS")
    fc["comb"], val["comb"] = np.mean([fc[k] for k in comb], 0), np.mean([val[k] for k in comb], 0)

    def row(k: str) -> dict:
        scores = [_mase(y[c : c + h], v, y[:c], m) for c, v in zip(cuts, val[k], strict=True)]
        return {"label": k, "forecast": fc[k], "val_mase": np.mean(scores) if cuts else np.nan}

    least = by_val_n[0]["forecast"]  # auto's choice
    rows = [row(k) for k in ("Theta", "damped ETS", "comb")]
    arima = row("auto-ARIMA")
    with_arima = sorted([*by_val_n, arima], key=lambda c: _finite(c["val_mase"]))
    out = {"Theta": fc["Theta"], "damped ETS": fc["damped ETS"],
           "Comb: mean of ETS, Theta, damped ETS": fc["comb"],
           "mean of ETS, Theta, auto-ARIMA": np.mean([fc["ETS"], fc["Theta"], fc["auto-ARIMA"]], 0),
           "mean of ETS, auto-ARIMA": (fc["ETS"] + fc["auto-ARIMA"]) / 2,
           "least val. MASE, + Theta, damped, Comb": min(
               [*by_val_n, *rows], key=lambda c: _finite(c["val_mase"]))["forecast"],
           "mean of Comb and the least val. MASE": (fc["comb"] + least) / 2,
           "mean of damped ETS and the least val. MASE": (fc["damped ETS"] + least) / 2,
           "auto-ARIMA alone": fc["auto-ARIMA"],
           "mean of auto-ARIMA and the least val. MASE": (fc["auto-ARIMA"] + least) / 2,
           "least val. MASE, + auto-ARIMA": with_arima[0]["forecast"],
           "mean of the 2 least val. MASE, + auto-ARIMA": np.mean(
               [c["forecast"] for c in with_arima[:2]], axis=0)}  # fmt: skip
    for margin in (0.1, 0.2, 0.3):
        bar = (1 - margin) * arima["val_mase"]
        pick = with_arima[0] if with_arima[0]["val_mase"] < bar else arima
        out[f"auto-ARIMA unless {margin:.0%} better"] = pick["forecast"]
    if nets:
        net = min(nets, key=lambda c: _finite(c["val_mase"]))["forecast"]
        four = [fc["ETS"], fc["Theta"], fc["auto-ARIMA"], net]
        out["mean of auto-ARIMA, best network"] = (fc["auto-ARIMA"] + net) / 2
        out["mean of ETS, auto-ARIMA, best network"] = np.mean([four[0], four[2], net], axis=0)
        out["median of ETS, Theta, auto-ARIMA, best network"] = np.median(four, axis=0)
        out["mean of ETS, Theta, auto-ARIMA, best network"] = np.mean(four, axis=0)
    return out


def report(out: Path, arima: bool = True, extra: bool = False) -> None:
    table = {}
    for path in sorted(out.glob("*.json")):
        r = json.loads(path.read_text())
        y, past, m = np.asarray(r["truth"]), np.asarray(r["history"]), r["season"]
        if extra and add_extra(r):  # cached in the JSON
            path.write_text(json.dumps(r))
        if arima and "auto-ARIMA" not in r["baselines"]:  # benchmarks/forecast.py's, cached
            fc = r["extra"]["auto-ARIMA"]["test"] if extra else auto_arima(past, len(y), m)[0]
            r["baselines"]["auto-ARIMA"] = _mase(y, np.asarray(fc), past, m)
            path.write_text(json.dumps(r))
        row = dict(r["baselines"])
        if extra:  # the benchmark's networks too: its RegLSTM is the first of the grid
            for net in ("reglstm", "es-rnn"):
                found = [c for c in r["candidates"] if c["label"].split(" ")[0] == net]
                row[net] = found[0]["test_mase"] if found else float("nan")
        row |= {name: _mase(y, f, past, m) for name, f in rules(r).items()}
        table[r["series"]] = row
    mase = pd.DataFrame(table)  # (methods, series)
    if not arima:
        mase = mase.drop(index="auto-ARIMA", errors="ignore")
    base = mase.loc[list(BASELINES)]
    peers = [k for k in mase.index if k in (*BASELINES, "auto-ARIMA", "reglstm", "es-rnn")]
    auto = mase.loc["least validation MASE, naive too"]  # auto's rule
    lines = []
    for method in mase.index:  # each rule ranked among itself and the peers
        group = mase.loc[list(dict.fromkeys([*peers, method]))].rank(axis=0)  # NaN: not ranked
        ranks, best_peer = group.loc[method], group.drop(index=method).min(axis=1).min()
        peer_ranks = group.drop(index=method).mean(axis=1)  # the peers' ranks beside it
        ratio = mase.loc[method] / base.min(axis=0)
        wins = f"{(mase.loc[method] < auto).sum()}/{(mase.loc[method] > auto).sum()}"
        lines.append((method, mase.loc[method].mean(), np.exp(np.log(mase.loc[method]).mean()),
                      ranks.mean(), peer_ranks.min() if method not in peers else best_peer,
                      (ratio > 1.1).sum(), ratio.max(), wins))  # fmt: skip
    width = max(40, *(len(k) + 1 for k in mase.index))
    print(f"{len(table)} development series")
    print(f"mean ranks among the rule and {', '.join(peers)};")
    print(
        "'peer': the best peer's beside it; 'W/L': the series it wins / loses against auto's rule"
    )
    print(f"{'rule':{width}}{'mean':>7}{'geo':>7}{'rank':>6}{'peer':>6}{'>1.1x':>6}{'worst':>7}"
          f"{'W/L':>7}")  # fmt: skip
    for method, mean, geo, rank, peer, bad, worst, wins in sorted(lines, key=lambda x: x[3] - x[4]):
        beside = f"{peer:6.2f}" if method not in peers else f"{'-':>6}"  # a peer: among peers
        print(f"{method:{width}}{mean:7.3f}{geo:7.3f}{rank:6.2f}{beside}{bad:6d}{worst:7.2f}"
              f"{wins:>7}")  # fmt: skip
    print("\nper series (MASE):")
    print(mase.round(3).T.to_string())


def _finite(x: float) -> float:
    return x if x == x else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--series", default="", help="comma-separated labels (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rules", action="store_true", help="score the rules on what is in --out")
    parser.add_argument("--no-arima", action="store_true", help="--rules without auto-ARIMA")
    parser.add_argument(
        "--extra",
        action="store_true",
        help="--rules with Theta, damped ETS, their combinations and the networks",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.rules:
        report(out, arima=not args.no_arima, extra=args.extra)
        return
    wanted = set(filter(None, args.series.split(",")))
    for label, frame, target, season, h in dev_series():
        path = out / f"{label.replace(':', '-')}.json"
        if (wanted and label not in wanted and label.split(":")[0] not in wanted) or path.exists():
            continue
        result = study(label, frame, target, season, h, args.seed)
        path.write_text(json.dumps(result))
        best = min(result["candidates"], key=lambda r: r["val_mase"])
        print(f"{label}: {len(result['candidates'])} candidates, validation picks {best['label']} "
              f"(test MASE {best['test_mase']:.3f}; ETS {result['baselines']['ETS']:.3f}), "
              f"{result['seconds']:.0f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
