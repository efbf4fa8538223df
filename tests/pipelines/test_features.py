"""The feature function uses only data up to each origin hour, and horizons get their own calendar."""

import numpy as np
import pandas as pd

from pipelines.cleaning import clean_readings
from pipelines.features import (
    build_features,
    expand_horizons,
    forecast_inputs,
    latest_observed,
    model_feature_columns,
)
from pipelines.simulator import simulate_readings, station_ids
from pipelines.spec import load_specs

SPEC = load_specs()["air_quality"]


def _clean(days: int = 6) -> pd.DataFrame:
    start = pd.Timestamp("2024-03-01", tz="UTC")
    raw = simulate_readings(station_ids(2), start, start + pd.Timedelta(days=days), seed=5)
    return clean_readings(raw, SPEC, start, start + pd.Timedelta(days=days))


def test_features_never_look_into_the_future():
    clean = _clean()
    cutoff = pd.Timestamp("2024-03-04 12:00", tz="UTC")
    before = build_features(clean, SPEC)
    tampered = clean.copy()
    tampered.loc[tampered.timestamp > cutoff, ["no2", "co", "nox"]] *= 10
    after = build_features(tampered, SPEC)
    past = before.timestamp <= cutoff
    pd.testing.assert_frame_equal(before[past], after[past])


def test_lags_and_rolling_means_are_the_station_own_history():
    clean = _clean()
    features = build_features(clean, SPEC)
    s1 = clean[clean.station == "S001"].set_index("timestamp")["no2"]
    f1 = features[features.station == "S001"].set_index("timestamp")
    t = pd.Timestamp("2024-03-03 10:00", tz="UTC")
    assert f1.loc[t, "no2_lag0"] == s1.loc[t] or np.isnan(s1.loc[t])
    assert f1.loc[t, "no2_lag24"] == s1.loc[t - pd.Timedelta(hours=24)] or np.isnan(
        s1.loc[t - pd.Timedelta(hours=24)]
    )
    window = s1.loc[t - pd.Timedelta(hours=5) : t]
    assert np.isclose(f1.loc[t, "no2_mean6h"], window.mean())


def test_forecast_inputs_cover_every_horizon_with_the_target_hour_calendar():
    features = build_features(_clean(), SPEC)
    task = SPEC.task("forecast")
    inputs = forecast_inputs(features, SPEC, task)
    assert len(inputs) == 2 * len(task.horizons)
    assert set(model_feature_columns(SPEC, task)) <= set(inputs.columns)
    row = inputs[(inputs.station == "S001") & (inputs.horizon == 5)].iloc[0]
    assert row["target_hour"] == (row["timestamp"] + pd.Timedelta(hours=5)).hour
    expanded = expand_horizons(features.head(3), [1, 2, 3], SPEC)
    assert expanded["horizon"].tolist() == [1.0, 2.0, 3.0]


def test_forecasts_start_from_each_station_latest_observed_hour():
    features = build_features(_clean(), SPEC).sample(frac=1, random_state=2)  # any row order
    last = features["timestamp"].max()
    silent = (features.station == "S002") & (features.timestamp > last - pd.Timedelta(hours=5))
    features.loc[silent, ["no2_lag0", "co_lag0"]] = np.nan  # S002's sensors fell silent 5 hours ago

    latest = latest_observed(features, SPEC, ["no2", "co"]).set_index("station")["timestamp"]

    assert latest.to_dict() == {"S001": last, "S002": last - pd.Timedelta(hours=5)}
    inputs = forecast_inputs(features, SPEC, SPEC.task("forecast"))
    assert inputs.groupby("station")["timestamp"].unique().map(list).to_dict() == {
        "S001": [last],
        "S002": [last - pd.Timedelta(hours=5)],
    }
