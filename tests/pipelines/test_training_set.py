"""The training set: labels are the future of the same station, and the split never leaks backwards."""

import numpy as np
import pandas as pd

from pipelines.cleaning import clean_readings
from pipelines.features import build_features
from pipelines.simulator import simulate_readings, station_ids
from pipelines.spec import load_specs
from pipelines.training_set import build_training_set

SPEC = load_specs()["air_quality"]


def test_labels_baselines_and_time_split():
    start = pd.Timestamp("2024-03-01", tz="UTC")
    raw = simulate_readings(station_ids(2), start, start + pd.Timedelta(days=20), seed=9)
    clean = clean_readings(raw, SPEC, start, start + pd.Timedelta(days=20))
    training = build_training_set(build_features(clean, SPEC), SPEC)

    series = clean.set_index(["station", "timestamp"])["no2"]
    row = training.dropna(subset=["label_no2", "baseline_no2"]).iloc[100]
    h = pd.Timedelta(hours=row["horizon"])
    assert row["label_no2"] == series.loc[(row["station"], row["timestamp"] + h)]
    assert row["baseline_no2"] == series.loc[(row["station"], row["timestamp"] + h - pd.Timedelta(hours=24))]

    last = training.groupby("split")["timestamp"].max()
    first = training.groupby("split")["timestamp"].min()
    gap = pd.Timedelta(hours=SPEC.split.gap_hours)
    assert last["train"] + gap <= first["calibration"]
    assert last["calibration"] + gap <= first["holdout"]
    assert set(np.unique(training["horizon"])) == set(range(1, 25))
    assert set(training["label_exceedance"].dropna().unique()) <= {0.0, 1.0}


def test_features_in_any_row_order_give_the_same_training_set():
    start = pd.Timestamp("2024-03-01", tz="UTC")
    raw = simulate_readings(station_ids(3), start, start + pd.Timedelta(days=10), seed=4)
    features = build_features(clean_readings(raw, SPEC, start, start + pd.Timedelta(days=10)), SPEC)
    shuffled = features.sample(frac=1, random_state=1)

    pd.testing.assert_frame_equal(build_training_set(shuffled, SPEC), build_training_set(features, SPEC))
