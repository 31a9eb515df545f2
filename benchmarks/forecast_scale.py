"""rnnkit forecast on many series: wall time and peak memory of training and of the end-of-run
evaluation (model forecast, baselines, scores, forecast.png) for 1k, 10k and 100k series.

    nice python benchmarks/forecast_scale.py [--sizes 1000,10000,100000] [--steps 300]
                                             [--cap 1500] [--threads 1]

Each size runs in its own process (so that its peak memory, ``ru_maxrss``, is its own) on a
synthetic panel of monthly series of 120 periods (level, trend, a yearly season, a random walk
and noise, every series its own), driven as a user would: ``Forecaster(time="month",
target="y", id="id", holdout=18, model="reglstm", max_steps=STEPS).fit(frame)`` (load, windows
and STEPS training steps), then the evaluation ``rnnkit forecast train --holdout`` runs at the
end of a run (``Forecaster.evaluate`` with the default ``--baselines all``: naive, seasonal
naive and ETS) and ``forecast.png``. Every other value is the default. The peer is the ETS
baseline as it was: statsmodels' ExponentialSmoothing fitted one series at a time, timed on
PEER_SAMPLE series and scaled to the size (the issue measured 9.5 minutes for 5,000 series
that way); both ETS are scored by MASE on that sample.

The step count (300) is the one of the issue's report; the holdout (18 months) is M4's monthly
horizon. Nothing here was tuned on the numbers printed. The goal (issue 19): evaluation no
slower than training, time linear in the number of series. The machine is shared (2 cores,
several jobs): wall times carry that load, the same for both sides of every ratio.

What it showed (2026-12-02, 2 cores shared with four other jobs, load average ~9): evaluation
took 0.12, 0.19 and 0.30 of the fit's time at 1k, 10k and 100k series (1.8 s, 12.8 s, 173 s),
x99 for x100 series; ETS fitted together ~800-900x faster than statsmodels one series at a
time under the same load, with the same MASE on the sample (1.011 vs 1.000, 1.003 vs 0.981,
0.872 vs 0.889); peak memory 430 MB, 601 MB, 2.3 GB (the 12M-row frame included).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

LENGTH, HOLDOUT, SEASON = 120, 18, 12
PEER_SAMPLE = 30  # series fitted by statsmodels one at a time, to scale its time to the size


def panel_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A long frame (id, month, y) of ``n`` monthly series of LENGTH periods."""
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH)[:, None]  # (T, 1)
    level = rng.uniform(50, 500, n)  # (n,)
    walk = np.cumsum(rng.normal(0, 0.02, (LENGTH, n)), axis=0) * level  # (T, n)
    wave = rng.uniform(0, 0.3, n) * level * np.sin(2 * np.pi * t / SEASON + rng.uniform(0, 6, n))
    y = level + rng.normal(0, 0.5, n) * t + wave + walk + rng.normal(0, 0.05, (LENGTH, n)) * level
    months = pd.date_range("2010-01-01", periods=LENGTH, freq="MS")
    return pd.DataFrame({
        "id": np.repeat([f"s{i:06d}" for i in range(n)], LENGTH),
        "month": np.tile(months, n),
        "y": y.T.ravel(),  # (n T,) series after series
    })  # fmt: skip


def _peer(frame: pd.DataFrame, n: int) -> dict[str, float]:
    """statsmodels' ETS on PEER_SAMPLE series, one at a time, against ours on the same ones."""
    from rnnkit.metrics import ets, holt_winters, mase

    y = frame["y"].to_numpy().reshape(n, LENGTH)[:PEER_SAMPLE].T  # (T, S)
    history, truth = y[:-HOLDOUT], y[-HOLDOUT:]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ets(history, HOLDOUT, SEASON)  # (K, S), a statsmodels fit per column
    seconds = time.perf_counter() - start
    ours = holt_winters([history], HOLDOUT, SEASON)[0]
    return {
        "peer_ets_s": seconds * n / y.shape[1],
        "peer_mase": mase(truth, theirs, history, SEASON),
        "ours_mase": mase(truth, ours, history, SEASON),
    }


def run_one(n: int, steps: int, threads: int) -> dict[str, float]:
    """Train and evaluate on ``n`` series in this process; the times and memory."""
    import rnnkit.metrics.baselines as baselines
    from rnnkit.tasks.forecast import Forecaster
    from rnnkit.viz.forecast import plot_forecast

    spent = {"baselines": 0.0}
    fast = baselines.forecast_baselines

    def timed(*args, **kwargs):  # the baselines' share of the evaluation
        start = time.perf_counter()
        try:
            return fast(*args, **kwargs)
        finally:
            spent["baselines"] += time.perf_counter() - start

    baselines.forecast_baselines = timed
    frame = panel_frame(n)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fc = Forecaster(time="month", target="y", id="id", holdout=HOLDOUT, model="reglstm",
                    max_steps=steps, threads=threads, seed=0)  # fmt: skip
    start = time.perf_counter()
    fc.fit(frame)
    fit_s = time.perf_counter() - start
    rss_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result, items = fc._evaluate(None, None)
    eval_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        plot_forecast(items, Path(tmp) / "forecast.png", f"last {HOLDOUT} held out", SEASON)
        plot_s = time.perf_counter() - start
    rss_eval = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "series": n, "fit_s": fit_s, "eval_s": eval_s, "baselines_s": spent["baselines"],
        "plot_s": plot_s, "rss_data_mb": rss_data, "rss_fit_mb": rss_fit, "rss_eval_mb": rss_eval,
        "mase_model": result["model"]["mase"],
        **{f"mase_{k}": v["mase"] for k, v in result["baselines"].items()},
        **_peer(frame, n),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cap", type=float, default=1500, help="seconds per size at most")
    parser.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)  # a child's size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.steps, args.threads)))
        return
    print(
        f"rnnkit forecast at scale: monthly series of {LENGTH} periods, holdout {HOLDOUT}, "
        f"{args.steps} training steps, --threads {args.threads}; shared machine (2 cores)"
    )
    rows = []
    for n in map(int, args.sizes.split(",")):
        command = [sys.executable, __file__, "--one", str(n), "--steps", str(args.steps),
                   "--threads", str(args.threads)]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.cap)
        except subprocess.TimeoutExpired:
            print(f"{n} series: stopped at the cap of {args.cap:.0f} s")
            continue
        if done.returncode != 0:
            print(f"{n} series failed:\n{done.stderr[-2000:]}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    header = (f"{'series':>7} {'fit s':>7} {'eval s':>7} {'(ETS..':>7} {'plot s':>6} "
              f"{'eval/fit':>8} {'peak MB':>8} {'old ETS s':>9} {'old/new':>7} "
              f"{'MASE model':>10} {'snaive':>6} {'ETS':>6} | sample of {PEER_SAMPLE}: "
              f"{'ETS ours':>8} {'statsm.':>7}")  # fmt: skip
    print(header)
    for r in rows:
        print(f"{r['series']:>7} {r['fit_s']:>7.1f} {r['eval_s']:>7.1f} {r['baselines_s']:>7.1f} "
              f"{r['plot_s']:>6.1f} {r['eval_s'] / r['fit_s']:>8.2f} {r['rss_eval_mb']:>8.0f} "
              f"{r['peer_ets_s']:>9.0f} {r['peer_ets_s'] / r['baselines_s']:>7.1f} "
              f"{r['mase_model']:>10.3f} {r['mase_seasonal_naive']:>6.3f} {r['mase_ets']:>6.3f} "
              f"| {'':>13} {r['ours_mase']:>8.3f} {r['peer_mase']:>7.3f}")  # fmt: skip
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        growth = b["series"] / a["series"]
        print(f"{a['series']} -> {b['series']} series (x{growth:g}): fit x"
              f"{b['fit_s'] / a['fit_s']:.1f}, evaluation x{b['eval_s'] / a['eval_s']:.1f}, "
              f"peak memory x{b['rss_eval_mb'] / a['rss_eval_mb']:.1f}")  # fmt: skip
    print(
        "(ETS..: the baselines' part of eval; old ETS: statsmodels one series at a time, "
        f"timed on {PEER_SAMPLE} series and scaled; peak MB: ru_maxrss of the size's process)"
    )


if __name__ == "__main__":
    main()
