"""rnnkit.viz.forecast: the sample of many series drawn in forecast.png, and the picture."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.metrics import mase
from rnnkit.viz import forecast as viz


def _items(n: int, known: bool = True) -> list[dict]:
    """n items of 30 periods, the last 6 forecast; item i's forecast is off by i (its MASE
    grows with i), except the flat item 5 (no MASE); without ``known``, no truth after."""
    rng = np.random.default_rng(0)
    time = pd.date_range("2020-01-01", periods=30, freq="MS")
    items = []
    for i in range(n):
        values = 10 + np.cumsum(rng.normal(0, 1, 30)) if i != 5 else np.full(30, 3.0)
        item = {"id": f"s{i}", "target": "y", "time": time if known else time[:24],
                "values": values if known else values[:24], "forecast_time": time[24:],
                "forecast": values[24:] + i}  # fmt: skip
        items.append(item)
    return items


def test_few_items_are_all_drawn_in_order():
    items = _items(9)
    assert viz.sample_items(items) == (items, "")


def test_many_items_sample_the_worst_the_best_and_some_at_random():
    items = _items(40)
    chosen, what = viz.sample_items(items, season=12)
    assert what == "9 of 40 series: the 3 worst by MASE, the 3 best, 3 at random"
    ids = [item["id"] for item in chosen]
    score = {
        f"s{i}": mase(it["values"][24:], it["forecast"], it["values"][:24], 12)
        for i, it in enumerate(items)
    }
    ranked = sorted((k for k in score if np.isfinite(score[k])), key=score.get)
    assert ids[:3] == ranked[::-1][:3] and ids[3:6] == ranked[:3]
    assert len(set(ids)) == 9 and "s5" not in ids[:6]  # the flat one is never ranked
    for item in chosen[:6]:
        assert item["mase"] == pytest.approx(score[item["id"]])
    assert viz.sample_items(items, season=12) == (chosen, what)  # seeded: the same each run
    assert all("mase" not in item for item in items)  # the caller's items are left as they were


def test_forecasts_without_truth_are_sampled_at_random():
    chosen, what = viz.sample_items(_items(30, known=False))
    assert what == "9 of 30 series at random" and len(chosen) == 9
    assert all("mase" not in item for item in chosen)


def test_a_given_mase_is_used():
    items = [item | {"mase": float(-i)} for i, item in enumerate(_items(12))]  # s11 the best
    chosen, _ = viz.sample_items(items)
    assert [item["id"] for item in chosen[:6]] == ["s0", "s1", "s2", "s11", "s10", "s9"]


def test_plot_forecast_says_it_draws_a_sample(tmp_path, monkeypatch):
    titles = []
    monkeypatch.setattr(viz.Figure, "suptitle", lambda self, t, **kw: titles.append(t))
    viz.plot_forecast(_items(40), tmp_path / "forecast.png", "last 6 periods held out", 12)
    assert (tmp_path / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    assert titles == [
        "last 6 periods held out; 9 of 40 series: the 3 worst by MASE, the 3 best, 3 at random"
    ]
    with pytest.raises(ValueError, match="expected at least one series to draw, got none"):
        viz.plot_forecast([], tmp_path / "none.png")
