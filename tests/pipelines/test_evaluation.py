"""A candidate judged on the holdout against the baseline and the current champion (no Dagster, no MLflow)."""

from pipelines.evaluation import evaluate_candidate, holdout
from pipelines.spec import load_specs

TASK = load_specs()["air_quality"].task("forecast")


def test_the_first_candidate_has_no_champion_to_beat(ridge_forecast):
    training_set, model = ridge_forecast.training_set, ridge_forecast.model
    verdict = evaluate_candidate(model, training_set, TASK)

    assert [g.name for g in verdict.gates] == ["beats_baseline", "beats_champion", "calibrated"]
    beats_champion = verdict.gates[1]
    assert beats_champion.passed and "no champion yet" in beats_champion.description
    assert verdict.champion_metrics is None
    assert len(verdict.predicted) == len(holdout(training_set))
    assert {f"{t}.{m}" for t in TASK.targets for m in ("mae", "coverage")} <= set(verdict.metrics)


def test_a_candidate_as_good_as_the_champion_passes_that_gate_on_the_same_rows(ridge_forecast):
    training_set, model = ridge_forecast.training_set, ridge_forecast.model
    verdict = evaluate_candidate(model, training_set, TASK, champion=model, champion_version="3")

    assert verdict.champion_metrics == verdict.metrics
    beats_champion = verdict.gates[1]
    assert beats_champion.passed and "champion v3" in beats_champion.description
