"""The simulator is a pure function of (station, hour, seed) and looks like a real network."""

import numpy as np
import pandas as pd
import pytest

from pipelines.simulator import SENTINEL, simulate_readings, station_ids


def test_any_window_regenerates_the_same_hours_exactly():
    stations = station_ids(3)
    month = simulate_readings(stations, "2024-03-01", "2024-04-01", seed=7)
    day = simulate_readings(stations, "2024-03-10", "2024-03-11", seed=7)
    same_day = month[(month.timestamp >= "2024-03-10") & (month.timestamp < "2024-03-11")].reset_index(
        drop=True
    )
    pd.testing.assert_frame_equal(day, same_day)
    one_station = simulate_readings(["S002"], "2024-03-10", "2024-03-11", seed=7)
    pd.testing.assert_frame_equal(one_station, day[day.station == "S002"].reset_index(drop=True))


def test_seed_changes_the_readings():
    a = simulate_readings(["S001"], "2024-03-01", "2024-03-02", seed=1)
    b = simulate_readings(["S001"], "2024-03-01", "2024-03-02", seed=2)
    assert not np.allclose(a["no2"].to_numpy()[:10], b["no2"].to_numpy()[:10])


def test_readings_carry_real_world_flaws_at_realistic_rates():
    frame = simulate_readings(station_ids(10), "2024-01-01", "2024-03-01", seed=42)
    expected_rows = 10 * 60 * 24
    assert frame.duplicated(["station", "timestamp"]).sum() > 0
    unique_hours = len(frame.drop_duplicates(["station", "timestamp"]))
    assert 0.95 * expected_rows < unique_hours < expected_rows  # gaps of hours and days
    sentinel_share = (frame["no2"] == SENTINEL).mean()
    assert 0.005 < sentinel_share < 0.05


def test_traffic_cycle_weekdays_and_winter():
    frame = simulate_readings(station_ids(5), "2024-01-01", "2024-12-31", seed=3)
    frame = frame[frame["nox"] != SENTINEL]
    hours = frame.timestamp.dt.hour
    weekday = frame.timestamp.dt.dayofweek < 5
    assert frame[weekday & (hours == 8)]["nox"].mean() > 1.5 * frame[weekday & (hours == 3)]["nox"].mean()
    assert frame[weekday]["nox"].mean() > frame[~weekday]["nox"].mean()
    month = frame.timestamp.dt.month
    assert frame[month == 1]["no2"].mean() > frame[month == 7]["no2"].mean()
    assert frame[month == 7]["temperature"].mean() > frame[month == 1]["temperature"].mean() + 10


def test_scenarios_make_the_data_harder_and_leave_the_default_alone():
    stations, start, end = station_ids(2), "2024-01-01", "2024-12-31"
    default = simulate_readings(stations, start, end, seed=3)
    outage = simulate_readings(stations, start, end, seed=3, scenarios=["analyser_outage"])
    pd.testing.assert_frame_equal(default.drop(columns="co"), outage.drop(columns="co"))
    co_lost = (outage["co"] == SENTINEL).groupby([outage["station"], outage["timestamp"].dt.date]).mean()
    assert (co_lost == 1).sum() >= 2 * 5  # whole days without CO, several stretches per station
    assert 0.12 < (outage["co"] == SENTINEL).mean() < 0.3

    noisy = simulate_readings(stations, start, end, seed=3, scenarios=["noisy_winter"])
    ratio = np.log(noisy["nox"].where(noisy["nox"] > 0) / default["nox"].where(default["nox"] > 0))
    month = noisy["timestamp"].dt.month
    assert ratio[month == 1].std() > 0.05 and ratio[month == 7].abs().max() < 0.05

    with pytest.raises(ValueError, match="unknown simulator scenarios"):
        simulate_readings(stations, start, end, seed=3, scenarios=["volcano"])
