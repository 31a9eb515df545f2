"""panel_from_frame on many series: the checks made for all series at once give the panel (and
the errors) of reading each series alone."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.series import SeriesDataError, panel_from_frame


def _frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """n monthly series of different starts and lengths; series 7 has a gap of two months."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n):
        months = pd.date_range(pd.Timestamp("2015-01-01") + pd.DateOffset(months=i % 5),
                               periods=20 + i % 7, freq="MS")  # fmt: skip
        if i == 7:
            months = months.delete([5, 6])
        parts.append(pd.DataFrame({"id": f"s{i:02d}", "month": months,
                                   "y": rng.normal(size=len(months))}))  # fmt: skip
    return pd.concat(parts).sample(frac=1.0, random_state=seed)  # rows in any order


def test_panel_of_many_is_each_series_read_alone():
    frame = _frame()
    panel = panel_from_frame(frame, time="month", target=["y"], id="id", fill="ffill")
    assert panel.freq == "MS" and len(panel.series) == 40
    for s in panel.series:
        alone = panel_from_frame(frame[frame["id"] == s.id], time="month", target=["y"],
                                 id="id", fill="ffill", freq="MS").series[0]  # fmt: skip
        assert s.time.equals(alone.time)
        np.testing.assert_array_equal(s.y, alone.y)
    gap = panel.series[7]
    assert len(gap) == 20 + 7 % 7 and gap.y[5, 0] == gap.y[4, 0] == gap.y[6, 0]  # filled


def test_errors_name_the_series_as_alone():
    frame = _frame()
    with pytest.raises(SeriesDataError, match=r"series 's07': column 'y' has 2 missing"):
        panel_from_frame(frame, time="month", target=["y"], id="id")
    repeated = pd.concat([frame, frame[frame["id"] == "s23"].iloc[:2]])
    with pytest.raises(SeriesDataError, match=r"series 's23': 2 timestamps appear more than once"):
        panel_from_frame(repeated, time="month", target=["y"], id="id", fill="ffill")
