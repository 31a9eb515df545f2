"""``rnnkit forecast train | predict | eval``: thin wrappers of the Python API."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from rnnkit.tasks.forecast.api import Forecaster, evaluate_holdout, fit_run
from rnnkit.tasks.forecast.config import FIXED_ON_RESUME, TASK, Config
from rnnkit.tasks.forecast.data import load_panel
from rnnkit.tasks.forecast.methods import STATISTICAL
from rnnkit.train.config import ConfigError, add_device_arg, add_train_parser, train_values
from rnnkit.train.run import (
    EXIT_INTERRUPTED,
    check_output_file,
    start_run,
    write_json,
    write_plot,
)
from rnnkit.viz.backtest import plot_backtest
from rnnkit.viz.forecast import plot_forecast

# what the CLI suggests when memory runs out (rnnkit.cli), by verb
_TOO_LARGE = "the model or the data does not fit in memory here; use a machine with more"
MEMORY_HINTS = {
    "train": "use a smaller --hidden-size, --batch-size or --input-length, or --model ets",
    "predict": _TOO_LARGE,
    "eval": _TOO_LARGE,
}


def _table(result: dict[str, Any]) -> str:
    rows = [("model", result["model"])] + list(result["baselines"].items())
    lines = [f"{'':16}" + "".join(f"{k:>11}" for k in ("mae", "rmse", "mape", "smape", "mase"))]
    for name, s in rows:
        lines.append(f"{name:16}" + "".join(f"{v:11.4g}" for v in s.values()))
    return "\n".join(lines)


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    """The result with NaN (e.g. MAPE of an all-zero truth) as null."""
    if isinstance(result, dict):
        return {k: _jsonable(v) for k, v in result.items()}
    return None if isinstance(result, float) and not math.isfinite(result) else result


def _refuse_statistical_resume(args: argparse.Namespace) -> None:
    """--resume of a run of ETS or seasonal naive: fitted in one go, nothing to resume."""
    saved = Path(args.out or "") / "config.json"
    if not (args.resume and args.out and saved.is_file()):
        return
    try:
        model = json.loads(saved.read_text()).get("model")
    except (OSError, ValueError, AttributeError):
        return  # start_run says what is wrong with the run directory
    if model in STATISTICAL:
        raise ConfigError(
            f"--resume: the run in {args.out} is --model {model}, fitted on each history with "
            f"nothing to train or resume; use it as it is (rnnkit forecast predict "
            f"{args.out}), or train another model with another --out"
        )


def train(args: argparse.Namespace) -> int:
    """``rnnkit forecast train``: train, then score the holdout and draw forecast.png."""
    _refuse_statistical_resume(args)
    with start_run(
        Config,
        train_values(Config, args),
        args.out,
        TASK,
        resume=args.resume,
        fixed=FIXED_ON_RESUME,
    ) as (out, run):
        panel, cfg = load_panel(run.config)
        fitted = fit_run(cfg, panel, out, run.resume_from)
        summary, trainer, cfg = fitted.summary, fitted.trainer, fitted.cfg
        if trainer is not None and not trainer.dist.is_main:  # under torchrun, rank 0 reports
            return 0
        if trainer is None:
            print(f"done: {cfg.model} (nothing to train: fitted on each history) -> {out}")
        else:
            print(
                f"done: {summary['steps']} steps ({summary['stop_reason']}), best evaluation "
                f"loss {summary['best_val_loss']:.4f} at step {summary['best_step']} -> {out}"
            )
        if summary["stop_reason"] == "interrupted":
            return EXIT_INTERRUPTED
        if cfg.holdout:
            result, items = evaluate_holdout(
                fitted.model, fitted.layout, panel, fitted.scalers, cfg.holdout, cfg.baselines, cfg
            )
            write_json(out / "eval.json", _jsonable(result))
            results = {"holdout": cfg.holdout, "test": _jsonable(result)["model"]}
            if trainer is not None:
                trainer.add_results(**results)
            else:
                write_json(out / "summary.json", summary | results)
            title = f"last {cfg.holdout} periods held out"
            plot_forecast(items, out / "forecast.png", title, fitted.layout.season)
            print(f"held-out {cfg.holdout} periods ({cfg.model}):\n{_table(result)}")
    return 0


def predict(args: argparse.Namespace) -> int:
    """``rnnkit forecast predict``: forecasts after each series' end, as CSV."""
    if args.periods is not None and args.periods < 1:
        raise ConfigError(f"--periods: expected an int >= 1, got {args.periods}")
    fc = Forecaster.load(args.run, args.device)
    if args.out:  # never over the data read (--csv, else the run's), nor the run's files
        inputs = [args.csv or fc.cfg.csv, args.run]
        check_output_file(args.out, "--out", args.overwrite, inputs)
    frame = fc.predict(args.csv, args.periods)
    if args.out:
        frame.to_csv(args.out, index=False)
        print(f"{len(frame)} forecast rows -> {args.out}", file=sys.stderr)
    else:
        frame.to_csv(sys.stdout, index=False)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit forecast eval``: scores on the held-out periods, model and baselines; with
    --windows, a backtest (backtest.csv, backtest.json and backtest.png in RUN)."""
    for name in ("holdout", "windows", "step", "periods"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name}: expected an int >= 1, got {value}")
    if args.plot == "none":
        plot = None
    elif args.plot:
        plot = check_output_file(args.plot, "--plot", overwrite=True)
    else:  # RUN/forecast.png (backtest.png), when RUN is a run directory
        name = "backtest.png" if args.windows else "forecast.png"
        plot = Path(args.run) / name if Path(args.run).is_dir() else None
    fc = Forecaster.load(args.run, args.device)
    if args.windows:
        return _backtest(fc, args, plot)
    result, items = fc._evaluate(args.csv, args.holdout)
    if plot is not None:
        title = f"last {args.holdout or fc.cfg.holdout} periods held out"
        season = fc.layout.season  # the MASE that ranks a sample of many series
        write_plot(lambda p: plot_forecast(items, p, title, season), plot, "forecast plot")
    print(json.dumps(_jsonable(result)) if args.json else _table(result))
    return 0


def _backtest(fc: Forecaster, args: argparse.Namespace, plot: Path | None) -> int:
    result = fc.cross_validation(args.windows, args.step, args.periods, args.csv)
    panel = fc._data(args.csv)
    if Path(args.run).is_dir():
        result.frame.to_csv(Path(args.run) / "backtest.csv", index=False)
        write_json(Path(args.run) / "backtest.json", _jsonable(result.to_dict()))
    if plot is not None:
        history = {s.id: pd.Series(s.y[:, 0], index=s.time) for s in panel.series}
        draw = lambda p: plot_backtest(result.frame, result.windows, history, p)  # noqa: E731
        write_plot(draw, plot, "backtest plot")
    if args.json:
        print(json.dumps(_jsonable(result.to_dict())))
        return 0
    for w in result.windows:
        cutoff = w["cutoff"][0] + (" ..." if len(w["cutoff"]) > 1 else "")
        print(f"window {w['window']} (after {cutoff}):\n{_table(w)}")
    print(f"all {len(result.windows)} windows:\n{_table(result.overall)}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the verbs train, predict and eval to the ``forecast`` parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    add_train_parser(verbs, TASK, Config, train, "a forecaster")

    about = "Forecast the periods after each series' end, as CSV."
    p = verbs.add_parser("predict", help="forecast after each series' end", description=about)
    p.add_argument("run", metavar="RUN", help="run directory or checkpoint file")
    p.add_argument("--csv", default=None, help="series to forecast (default: the run's data)")
    p.add_argument("--out", default=None, help="CSV file to write (default: stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--periods", type=int, default=None, help="periods ahead (default: horizon)")
    add_device_arg(p)
    p.set_defaults(func=predict)

    about = "MAE, RMSE, MAPE, sMAPE and MASE on the held-out periods: model and baselines."
    p = verbs.add_parser("eval", help="score the held-out periods", description=about)
    p.add_argument("run", metavar="RUN", help="run directory or checkpoint file")
    p.add_argument("--csv", default=None, help="series to score (default: the run's data)")
    p.add_argument("--holdout", type=int, default=None, help="periods (default: the run's)")
    p.add_argument(
        "--plot", default=None, help="forecast plot (default: RUN/forecast.png; none: no plot)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument(
        "--windows",
        type=int,
        default=None,
        help="backtest: rolling windows ending at each series' end (in the holdout)",
    )
    p.add_argument(
        "--step",
        type=int,
        default=None,
        help="backtest: periods between two windows (default: --periods)",
    )
    p.add_argument(
        "--periods",
        type=int,
        default=None,
        help="backtest: periods per window (default: the horizon)",
    )
    add_device_arg(p)
    p.set_defaults(func=evaluate)
