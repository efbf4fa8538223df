"""Hyper-parameter search of a tabular candidate: within its trial budget, repeatable with its seed, the
best trial's parameters trained and logged, every trial a nested MLflow run of the version's run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from assets.model_logging import log_tabular_model
from pipelines.census_simulator import census_csv, simulate_census
from pipelines.models import requested_candidate
from pipelines.spec import SearchSpec, TabularSpec, load_specs
from pipelines.tabular_models import split_rows, train_tabular_model
from pipelines.tabular_parsing import clean_table, read_table
from resources.mlflow_registry import MlflowRegistry

SPEC: TabularSpec = load_specs()["census_income"]
SEARCH = {"space": {"C": {"low": 0.001, "high": 10.0, "log": True}}, "trials": 5, "seed": 3}


@pytest.fixture(scope="module")
def census() -> pd.DataFrame:
    raw = read_table(census_csv(simulate_census(1500, seed=8), seed=8), "census.csv", SPEC)
    return split_rows(clean_table(raw, SPEC, "income")[0], SPEC, SPEC.tasks[0])


def searched_task():
    task = SPEC.tasks[0]
    logistic = next(c for c in task.candidates if c.algorithm == "logistic_regression")
    return task.model_copy(
        update={"candidates": [logistic.model_copy(update={"search": SearchSpec(**SEARCH)})]}
    )


def test_search_keeps_its_budget_is_repeatable_and_trains_the_best_trial(census):
    task = searched_task()
    _, report = train_tabular_model(census, SPEC, task)
    _, again = train_tabular_model(census, SPEC, task)
    trials = report.trials["logistic"]
    assert len(trials) == 5
    assert [(t.params, t.score) for t in trials] == [(t.params, t.score) for t in again.trials["logistic"]]
    best = min(trials, key=lambda t: t.score)
    assert report.params == best.params and report.scores["logistic"] == pytest.approx(best.score)


def test_each_trial_is_a_nested_run_of_the_version(census, tmp_path: Path):
    task = searched_task()
    model, report = train_tabular_model(census, SPEC, task)
    registry = MlflowRegistry(
        f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "art").as_uri()
    )
    logged = log_tabular_model(
        registry, SPEC, task, model, report, census, run_name="search", lineage={"dagster.run_id": "r1"}
    )
    client = registry.client()
    children = client.search_runs(
        [logged.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{logged.run_id}'"
    )
    assert len(children) == 5
    assert {float(r.data.params["C"]) for r in children} == {t.params["C"] for t in report.trials["logistic"]}
    assert client.get_run(logged.run_id).data.params["param.C"] == str(report.params["C"])


def test_a_training_request_may_search_and_a_bad_search_is_refused_before_any_run():
    task = SPEC.tasks[0]
    candidate = requested_candidate(SPEC, task, "logistic_regression", {}, SEARCH)
    assert candidate.search == SearchSpec(**SEARCH)
    with pytest.raises(ValueError, match="invalid search"):
        requested_candidate(SPEC, task, "logistic_regression", {}, {"space": {"C": {"low": 5, "high": 1}}})
    with pytest.raises(ValueError, match="tabular"):
        requested_candidate(
            load_specs()["air_quality"], load_specs()["air_quality"].tasks[0], "ridge", {}, SEARCH
        )
