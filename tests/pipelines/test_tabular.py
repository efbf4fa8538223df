"""Tabular pipelines without Dagster: a messy export read by declarations, the split, one scikit-learn
pipeline per candidate from raw values, recalibration, conformal sets, gates and slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.census_simulator import census_csv, simulate_census
from pipelines.spec import SpecError, TabularSpec, load_spec, load_specs
from pipelines.tabular_evaluation import evaluate_tabular
from pipelines.tabular_models import split_rows, train_tabular_model
from pipelines.tabular_parsing import clean_table, read_table, type_table

SPEC: TabularSpec = load_specs()["census_income"]
TASK = SPEC.tasks[0]


@pytest.fixture(scope="module")
def census() -> pd.DataFrame:
    raw = read_table(census_csv(simulate_census(4000, seed=3), seed=3), "census.csv", SPEC)
    clean, _ = clean_table(raw, SPEC, TASK.target)
    return split_rows(clean, SPEC, TASK)


@pytest.fixture(scope="module")
def trained(census):
    return train_tabular_model(census, SPEC, TASK)


def test_messy_export_is_read_by_its_declarations():
    content = b"39, State-gov, Bachelors, 13, Never-married, ?, Not-in-family, 2, 2174, 0, 40, yes, ?, 1994-03-02, <=50K\n"
    content += b"50, Private , Masters, 14, Married-civ-spouse, Exec-managerial, Husband, 1, 0, 0, 45, no, Mexico, 1994-05-01, >50K.\n"
    raw = read_table(content, "x.csv", SPEC)
    typed = type_table(raw, SPEC, TASK.target).frame
    assert typed["income"].tolist() == ["<=50K", ">50K"]  # the trailing period is the same class
    assert typed["sex"].tolist() == ["Female", "Male"]  # mapped codes
    assert typed["workclass"].tolist() == ["State-gov", "Private"]  # stray spaces stripped
    assert pd.isna(typed.loc[0, "occupation"]) and pd.isna(typed.loc[0, "native_country"])  # `?` is missing
    assert typed["union_member"].tolist() == [True, False]
    assert typed["age"].dtype == float and typed.loc[1, "hours_per_week"] == 45
    assert typed.loc[0, "surveyed_on"] == pd.Timestamp("1994-03-02")


def test_header_delimiter_decimal_comma_and_quotes_are_declarations(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(
        """
kind: tabular
name: lab
description: lab results
source: {kind: files, parsing: {delimiter: ";", decimal: ",", quotechar: "'", header: true, sentinels: ["NA"]}}
columns:
  - {name: value, source: "Wert", type: numeric}
  - {name: note, type: categorical}
  - {name: flag, type: categorical, allowed: [low, high]}
tasks:
  - {kind: classification, name: flag, target: flag, candidates: [{name: lr, algorithm: logistic_regression}],
     promotion: {metric: log_loss}}
"""
    )
    spec = load_spec(path)
    content = b"Wert;note;flag\n1.234,5;'a; b';high.\nNA;c; low \n"
    typed = type_table(read_table(content, "lab.csv", spec), spec, "flag")
    assert typed.frame["value"].iloc[0] == 1234.5 and pd.isna(typed.frame["value"].iloc[1])
    assert typed.frame["note"].tolist() == ["a; b", "c"]
    assert typed.frame["flag"].tolist() == ["high", "low"]


def test_a_broken_tabular_spec_names_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "kind: tabular\nname: bad\ndescription: x\nsource: {kind: files}\n"
        "columns: [{name: a, type: numeric}, {name: b, type: numeric}]\n"
        "tasks: [{kind: classification, name: t, target: b, candidates: [{name: x, algorithm: random_forest}],"
        " promotion: {metric: mae}}]\n"
    )
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "promotion.metric for classification" in str(err.value)


def test_values_outside_the_declaration_become_missing_and_are_counted():
    content = b"200, Private, Bachelors, 13, Never-married, Sales, Husband, 3, 0, 0, 40, maybe, Canada, 1994-01-01, >50K\n"
    typed = type_table(read_table(content, "x.csv", SPEC), SPEC, TASK.target)
    assert typed.invalid["age"] == 1 and typed.invalid["sex"] == 1 and typed.invalid["union_member"] == 1
    assert pd.isna(typed.frame.loc[0, "age"])


def test_random_split_is_stratified_and_repeatable(census):
    again = split_rows(census.drop(columns="split"), SPEC, TASK)
    assert (again["split"] == census["split"]).all()
    rates = census.groupby("split")["income"].apply(lambda s: (s == ">50K").mean())
    assert rates.max() - rates.min() < 0.02
    assert (census["split"] == "holdout").mean() == pytest.approx(0.2, abs=0.01)


def test_time_column_splits_oldest_to_newest(census):
    spec = SPEC.model_copy(update={"time_column": "surveyed_on"})
    split = split_rows(census.drop(columns="split"), spec, TASK)
    latest = split.groupby("split")["surveyed_on"].agg(["min", "max"])
    assert latest.loc["train", "max"] <= latest.loc["calibration", "min"]
    assert latest.loc["calibration", "max"] <= latest.loc["holdout", "min"]


def test_model_takes_raw_values_and_serves_sets_and_probabilities(census, trained):
    model, report = trained
    assert set(report.scores) == {"logistic", "gradient_boosting", "forest"}
    row = census[model.input_columns].head(3).copy()
    row.loc[row.index[0], "occupation"] = (
        "Astronaut"  # a category never seen: encoded as unknown, not an error
    )
    row.loc[row.index[1], "age"] = np.nan
    out = model.predict_frame(row)
    assert set(out["label"]) <= {"<=50K", ">50K"}
    assert np.allclose(out[["p_<=50K", "p_>50K"]].sum(axis=1), 1)
    assert all(label in s for label, s in zip(out["label"], out["prediction_set"], strict=True))


def test_the_chosen_model_passes_the_gates_against_the_majority_baseline(census, trained):
    model, report = trained
    verdict = evaluate_tabular(model, census, SPEC, TASK)
    m = verdict.metrics
    assert m["log_loss"] < m["baseline_log_loss"] * 0.8
    assert m["accuracy"] > m["baseline_accuracy"]
    assert {g.name: g.passed for g in verdict.gates} == {
        "beats_baseline": True,
        "beats_champion": True,
        "calibrated": True,
    }
    assert abs(m["set_coverage"] - TASK.level) < 0.05
    assert "calibration_ece_before" in report.details
    assert {"sex=Female", "sex=Male", "age_band=30-45"} <= set(verdict.slices)


def test_a_slice_worse_than_overall_by_more_than_the_tolerance_warns(census, trained):
    model, _ = trained
    strict = TASK.model_copy(update={"slice_tolerance": 0.01})
    verdict = evaluate_tabular(model, census, SPEC, strict)
    assert not verdict.slice_check.passed
    assert "worse than overall" in verdict.slice_check.description


def test_champion_that_is_better_blocks_a_worse_candidate(census, trained):
    model, _ = trained
    weak = TASK.model_copy(
        update={
            "candidates": [
                c.model_copy(update={"params": {"C": 1e-4}}) for c in TASK.candidates if c.name == "logistic"
            ]
        }
    )
    worse, _ = train_tabular_model(census, SPEC, weak)
    verdict = evaluate_tabular(worse, census, SPEC, TASK, champion=model, champion_version="1")
    assert {g.name: g.passed for g in verdict.gates}["beats_champion"] is False


def test_regression_task_gives_calibrated_intervals(census):
    spec = SPEC.model_copy(
        update={
            "tasks": [
                TASK.model_copy(
                    update={
                        "kind": "regression",
                        "name": "hours",
                        "target": "hours_per_week",
                        "candidates": [
                            TASK.candidates[0].model_copy(
                                update={"algorithm": "ridge", "params": {"alpha": 1.0}}
                            )
                        ],
                        "promotion": TASK.promotion.model_copy(
                            update={"metric": "mae", "min_improvement_over_baseline": 0.0}
                        ),
                        "slices": [],
                    }
                )
            ]
        }
    )
    task = spec.tasks[0]
    split = split_rows(census.drop(columns="split"), spec, task)
    model, _ = train_tabular_model(split, spec, task)
    verdict = evaluate_tabular(model, split, spec, task)
    assert abs(verdict.metrics["coverage"] - 0.9) < 0.05
    assert verdict.metrics["mae"] <= verdict.metrics["baseline_mae"]


def test_multiclass_target_gets_probabilities_over_every_class_and_covering_sets(census):
    task = TASK.model_copy(
        update={
            "name": "relationship",
            "target": "relationship",
            "exclude": ["surveyed_on", "marital_status", "sex"],
            "candidates": [c for c in TASK.candidates if c.name == "logistic"],
            "slices": [],
        }
    )
    spec = SPEC.model_copy(update={"tasks": [task]})
    split = split_rows(census.drop(columns="split"), spec, task)
    model, _ = train_tabular_model(split, spec, task)
    assert model.classes == sorted(census["relationship"].unique()) and len(model.classes) == 5
    verdict = evaluate_tabular(model, split, spec, task)
    out = model.predict_frame(split[split["split"] == "holdout"].head(50))
    assert np.allclose(out[[f"p_{c}" for c in model.classes]].sum(axis=1), 1)
    assert abs(verdict.metrics["set_coverage"] - task.level) < 0.05
    assert verdict.metrics["log_loss"] < verdict.metrics["baseline_log_loss"]
