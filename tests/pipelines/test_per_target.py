"""Per-target sources: a target whose model cannot beat the seasonal-naive forecast is served by that
baseline with its own calibrated interval, while the other target keeps its model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.cleaning import clean_readings
from pipelines.evaluation import evaluate_candidate
from pipelines.features import build_features, forecast_inputs, model_feature_columns
from pipelines.models import BASELINE, MODEL, train_forecast_model
from pipelines.outputs import output_table
from pipelines.simulator import simulate_readings
from pipelines.spec import load_specs
from pipelines.training_set import build_training_set

SPEC = load_specs()["air_quality_landing"]
TASK = SPEC.task("forecast")
START, END = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-04-01", tz="UTC")


@pytest.fixture(scope="module")
def diurnal():
    """Two stations whose CO follows a slowly changing daily shape: 'same hour yesterday' wins for CO."""
    raw = simulate_readings(["site_1", "site_2"], START, END, 5, ["diurnal_dominated"])
    features = build_features(clean_readings(raw, SPEC, START, END), SPEC)
    training_set = build_training_set(features, SPEC)
    candidate = TASK.candidates[0].model_copy(update={"params": {"max_iter": 60, "min_samples_leaf": 40}})
    model, _ = train_forecast_model(training_set, SPEC, TASK, [candidate])
    return features, training_set, model, evaluate_candidate(model, training_set, TASK)


def test_the_target_the_model_cannot_beat_is_served_by_the_seasonal_naive_baseline(diurnal):
    _, _, _, verdict = diurnal
    m = verdict.metrics
    assert m["co.mae"] > m["co.baseline_mae"], "the scenario should make CO's model lose to naive"
    assert verdict.sources["co"][0] == BASELINE and "seasonal naive" in verdict.sources["co"][1]
    assert verdict.sources["no2"][0] == MODEL
    assert m["co.served_mae"] == pytest.approx(m["co.baseline_mae"])
    assert m["no2.served_mae"] == pytest.approx(m["no2.mae"])
    assert m["no2.mae"] < m["no2.baseline_mae"]
    assert m["co.served_by_model"] == 0.0 and m["no2.served_by_model"] == 1.0
    # The baseline serves with its own interval (reported next to its width), not the model's.
    assert m["co.served_coverage"] == m["co.baseline_coverage"]
    assert m["co.served_interval_width"] == m["co.baseline_interval_width"] != m["co.interval_width"]
    # One target passing is enough to promote; the gates say which source serves which target.
    gates = {g.name: g for g in verdict.gates}
    assert gates["beats_baseline"].passed and gates["calibrated"].passed
    assert "co: " in gates["beats_baseline"].description
    assert "served by the baseline" in gates["beats_baseline"].description


def test_the_baseline_interval_is_conformal_on_the_calibration_split(diurnal):
    _, training_set, model, _ = diurnal
    rows = training_set[(training_set["split"] == "calibration") & training_set["label_co"].notna()]
    rows = rows.dropna(subset=["baseline_co"])
    band = model.with_sources({"co": BASELINE}).predict_frame(rows)
    inside = (rows["label_co"] >= band["co_lower"]) & (rows["label_co"] <= band["co_upper"])
    assert inside.mean() >= 0.9
    np.testing.assert_allclose(band["co"].to_numpy(), rows["baseline_co"].to_numpy())


def test_no_target_passing_blocks_as_before(diurnal):
    _, training_set, model, _ = diurnal
    strict = TASK.model_copy(
        update={"promotion": TASK.promotion.model_copy(update={"min_improvement_over_baseline": 0.9})}
    )
    verdict = evaluate_candidate(model, training_set, strict)
    assert {t: s for t, (s, _) in verdict.sources.items()} == {"no2": BASELINE, "co": BASELINE}
    assert not {g.name: g.passed for g in verdict.gates}["beats_baseline"]


def test_published_forecasts_of_a_baseline_target_are_yesterdays_values_with_the_baseline_interval(diurnal):
    features, _, model, verdict = diurnal
    served = model.with_sources({t: s for t, (s, _) in verdict.sources.items()})
    table = output_table(features, served, SPEC, TASK, "m", "1")
    co, no2 = table[table["pollutant"] == "co"], table[table["pollutant"] == "no2"]
    assert set(co["source"]) == {BASELINE} and set(no2["source"]) == {MODEL}
    inputs = forecast_inputs(features, SPEC, TASK)
    # Horizon h is served by the value observed 24 - h hours before the origin (the same hour yesterday).
    latest = features[features["station"] == "site_1"].dropna(subset=["co_lag0"]).iloc[-1]
    first = co[(co["station"] == "site_1") & (co["horizon"] == 1)].iloc[0]
    assert first["prediction"] == pytest.approx(latest["co_lag23"])
    assert (co["upper"] - co["prediction"]).to_numpy() == pytest.approx(
        (co["prediction"] - co["lower"]).to_numpy()
    )
    # The model's estimators never see the baseline columns, and the API's column order ends with them.
    assert model_feature_columns(SPEC, TASK)[-2:] == ["baseline_no2", "baseline_co"]
    assert model.estimator_columns == len(model.feature_columns) - 2
    np.testing.assert_allclose(
        served.predict_frame(inputs)["no2"].to_numpy(), model.predict_frame(inputs)["no2"].to_numpy()
    )


def test_a_baseline_can_only_serve_a_target_it_was_calibrated_for():
    spec = load_specs()["air_quality"]
    task = spec.task("forecast")
    assert not task.per_target_sources  # the default pipeline is gated as a whole, as before
    assert "baseline_no2" not in model_feature_columns(spec, task)
