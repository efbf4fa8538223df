"""Cleaning: sentinels and out-of-range go missing, duplicates go, a full hourly grid, short gaps filled."""

import numpy as np
import pandas as pd

from pipelines.cleaning import clean_readings, fill_short_gaps
from pipelines.spec import load_specs

SPEC = load_specs()["air_quality"]
DAY = pd.Timestamp("2024-03-01", tz="UTC")


def _raw(rows):
    frame = pd.DataFrame(rows, columns=["station", "timestamp", "no2"])
    for column in SPEC.column_names:
        if column not in frame:
            frame[column] = 1.0
    frame["timestamp"] = DAY + pd.to_timedelta(frame["timestamp"], unit="h")
    return frame


def test_fill_short_gaps_fills_only_short_inside_runs():
    row = np.array([[np.nan, 1.0, np.nan, 3.0, np.nan, np.nan, np.nan, np.nan, 8.0, np.nan]])
    out = fill_short_gaps(row, max_gap=3)[0]
    assert np.isnan(out[0]) and np.isnan(out[-1])  # edges stay missing
    assert out[2] == 2.0  # a one-hour gap is interpolated
    assert np.isnan(out[4:8]).all()  # a four-hour gap stays missing


def test_fill_short_gaps_is_np_interp_between_the_known_neighbours():
    rng = np.random.default_rng(7)
    values = rng.normal(50, 20, (300, 24))
    values[rng.random(values.shape) < 0.3] = np.nan
    filled = fill_short_gaps(values, 3)
    for row, out in zip(values, filled, strict=True):
        known = np.flatnonzero(~np.isnan(row))
        for x in np.flatnonzero(np.isnan(row)):
            lo, hi = known[known < x], known[known > x]
            if len(lo) and len(hi) and hi[0] - lo[-1] - 1 <= 3:
                assert out[x] == np.interp(x, known, row[known])
            else:
                assert np.isnan(out[x])
        assert np.array_equal(out[known], row[known])


def test_clean_gives_one_row_per_station_hour_with_sentinels_and_outliers_removed():
    raw = _raw(
        [
            ("A", 0, 10.0),
            ("A", 1, -200.0),
            ("A", 2, 30.0),
            ("A", 2, 99.0),  # sentinel, duplicate hour
            ("A", 3, 5000.0),
            ("A", 4, 50.0),  # out of range
            ("B", 0, 7.0),
        ]
    )
    clean = clean_readings(raw, SPEC, DAY, DAY + pd.Timedelta(days=1))
    assert len(clean) == 2 * 24
    assert not clean.duplicated(["station", "timestamp"]).any()
    a = clean[clean.station == "A"].set_index("timestamp")["no2"]
    assert a.iloc[1] == 20.0  # the sentinel hour interpolated between 10 and 30
    assert a.iloc[2] == 30.0  # the first of two rows for one hour kept
    assert a.iloc[3] == 40.0  # the out-of-range reading replaced by interpolation
    assert np.isnan(a.iloc[5:]).all()  # nothing after the last reading is invented


def test_a_window_cleans_exactly_like_its_days_one_by_one():
    from pipelines.simulator import simulate_readings, station_ids

    start = pd.Timestamp("2024-02-01", tz="UTC")
    raw = simulate_readings(station_ids(4), start, start + pd.Timedelta(days=10), seed=3)
    raw = raw[~((raw.station == "S002") & (raw.timestamp.dt.day == 4))]  # a station silent for a whole day
    window = clean_readings(raw, SPEC, start, start + pd.Timedelta(days=10))
    days = []
    for i in range(10):
        day = start + pd.Timedelta(days=i)
        rows = raw[(raw.timestamp >= day) & (raw.timestamp < day + pd.Timedelta(days=1))]
        days.append(clean_readings(rows, SPEC, day, day + pd.Timedelta(days=1)))
    one_by_one = pd.concat(days).sort_values(["station", "timestamp"], ignore_index=True)
    pd.testing.assert_frame_equal(window.sort_values(["station", "timestamp"], ignore_index=True), one_by_one)
    assert len(window) == (4 * 10 - 1) * 24
