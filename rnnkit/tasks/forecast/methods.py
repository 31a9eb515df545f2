"""Every model a forecast run can hold, behind one call: ``predict_panel``.

A run's model is a ``RegLSTM`` (``model.py``), an ES-RNN (``esrnn.py``), a ``Combination``
(the mean of a network and ETS or auto-ARIMA, or both: ``combine``) or a ``Statistical``
method: ETS, auto-ARIMA, seasonal naive, naive, or the mean of auto-ARIMA and one of the others,
which has nothing to learn ahead and is fitted anew on each history it forecasts from (as
statsforecast's models are); its checkpoint holds no weights and no pickle, only the config (the
method, the season) and the layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.series import Panel, Scaler
from rnnkit.data.series_windows import Layout
from rnnkit.metrics.arima import arima
from rnnkit.metrics.baselines import ets, naive, seasonal_naive
from rnnkit.tasks.forecast.config import TASK, Config
from rnnkit.tasks.forecast.data import scalers_for
from rnnkit.tasks.forecast.model import RegLSTM, forecast
from rnnkit.train.checkpoint import save_checkpoint
from rnnkit.train.config import config_to_dict
from rnnkit.train.run import write_json

STATISTICAL = {"ets": ets, "seasonal-naive": seasonal_naive, "naive": naive, "arima": arima}


def _with_arima(method):
    return lambda history, periods, season: (
        (arima(history, periods, season) + method(history, periods, season)) / 2
    )


# "arima+ets" and the like: the mean of auto-ARIMA and another (what --model auto makes)
STATISTICAL |= {
    f"arima+{k}": _with_arima(STATISTICAL[k]) for k in ("ets", "seasonal-naive", "naive")
}


class Statistical:
    """A statistical method (``STATISTICAL``) as a run's model: ``forecast`` fits each history
    it is given."""

    def __init__(self, method: str, season: int):
        if method not in STATISTICAL:
            raise ValueError(f"Statistical: expected one of {', '.join(STATISTICAL)}, got "
                             f"{method!r}")  # fmt: skip
        self.method, self.season = method, season

    def forecast(self, panel: Panel, periods: int) -> list[np.ndarray]:
        """One (periods, n, 1) forecast per series, after its end."""
        fn = STATISTICAL[self.method]
        return [fn(s.y, periods, self.season)[..., None] for s in panel.series]


class Combination:
    """The mean of the forecasts of several models (ETS and a network: ``--model
    ets+reglstm``), as M4's combinations; ``parts[-1]`` is the network (or a Combination
    that holds it)."""

    def __init__(self, parts: list[Any]):
        self.parts = parts


def combine(model_name: str, season: int, network: Any) -> Any:
    """``network`` in the mean with the statistical methods that prefix ``model_name``:
    ``ets+reglstm`` the mean of ETS and the network, ``arima+ets+reglstm`` the mean of
    auto-ARIMA and that mean; ``reglstm`` the network itself."""
    for method in reversed(model_name.split("+")[:-1]):
        network = Combination([Statistical(method, season), network])
    return network


def predict_panel(
    model: Any, layout: Layout, scalers: dict[str, Scaler], panel: Panel, periods: int
) -> list[np.ndarray]:
    """Forecasts of the ``periods`` after each series' end by a run's ``model``: one
    (periods, n, Q) array per series, on the original scale. A series the RegLSTM has no
    scaler of gets one fitted on its whole history."""
    if isinstance(model, Statistical):
        return model.forecast(panel, periods)
    if isinstance(model, Combination):  # each quantile the mean of the parts' (or their one)
        each = [predict_panel(m, layout, scalers, panel, periods) for m in model.parts]
        return [np.mean(np.broadcast_arrays(*preds), axis=0) for preds in zip(*each, strict=True)]
    if isinstance(model, RegLSTM):
        ends = [len(s) for s in panel.series]
        return forecast(model, layout, panel, scalers_for(panel, layout, scalers, ends), periods)
    from rnnkit.tasks.forecast.esrnn import forecast_esrnn

    return forecast_esrnn(model, panel, periods)


def median_of(pred: np.ndarray, cfg: Config) -> np.ndarray:
    """The median forecast (periods, n) of a (periods, n, Q) forecast."""
    levels = cfg.quantile_levels()
    q = pred.shape[-1]
    return pred[..., levels.index(0.5) if len(levels) == q else q // 2]


def quantiles_of(preds: list[np.ndarray], cfg: Config) -> list[float]:
    """The quantile levels of forecasts (none when they are a single value)."""
    levels = cfg.quantile_levels()
    return levels if preds and preds[0].shape[-1] == len(levels) > 1 else []


def save_statistical(out: Path, cfg: Config, layout: Layout, summary: dict[str, Any]) -> None:
    """A run of a statistical model: config.json, best.safetensors (no tensors: the config and
    the layout in its meta) and summary.json."""
    write_json(out / "config.json", config_to_dict(cfg))
    meta = {"task": TASK, "config": config_to_dict(cfg), "layout": layout.to_dict(),
            "scalers": {}}  # fmt: skip
    save_checkpoint(out / "best.safetensors", {}, meta)
    write_json(out / "summary.json", summary)
