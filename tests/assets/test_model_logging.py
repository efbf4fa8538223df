"""What a model version records in MLflow, logged through the registry client without Dagster, on a real
local MLflow store; and that doing so prints nothing to the terminal (no registry chatter, no bars)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from assets.figures import feature_importance_figure, residual_figure
from assets.model_logging import log_evaluation, log_trained_model
from events.tags import CODE_VERSION_TAG, DATA_VERSION_PREFIX, GATE_PREFIX
from pipelines.evaluation import Gate, holdout
from pipelines.features import model_feature_columns
from pipelines.keys import PipelineKeys
from pipelines.spec import load_specs
from pipelines.training_set import label_column
from resources.mlflow_registry import MlflowRegistry

SPEC = load_specs()["air_quality"]
TASK = SPEC.task("forecast")
MODEL = PipelineKeys(SPEC).model_name(TASK)


def test_a_trained_model_becomes_a_registered_version_with_its_lineage(ridge_forecast, tmp_path: Path, capfd):
    training_set, candidates = ridge_forecast.training_set, ridge_forecast.candidates
    model, report = ridge_forecast.model, ridge_forecast.report
    registry = MlflowRegistry(
        f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "artifacts").as_uri()
    )

    logged = log_trained_model(
        registry,
        SPEC,
        TASK,
        model,
        report,
        candidates,
        training_set,
        run_name="forecast-test",
        lineage={"dagster.run_id": "run-1", "trace_id": "trace-1"},
    )
    rows = holdout(training_set)
    metrics = {"no2.mae": 1.0}
    log_evaluation(
        registry,
        logged.model,
        logged.version,
        logged.run_id,
        metrics,
        None,
        [Gate("beats_baseline", True, "", {}), Gate("calibrated", False, "", {})],
        residual_figure(model.predict_frame(rows), rows, TASK.targets),
    )
    registry.verify_artifacts(MODEL, logged.version)

    assert (logged.model, logged.version) == (MODEL, "1")
    version = registry.client().get_model_version(MODEL, "1")
    assert version.tags["dagster.run_id"] == "run-1" and version.tags[CODE_VERSION_TAG]
    assert version.tags[f"{DATA_VERSION_PREFIX}training_set"] == logged.data_version
    assert version.tags[f"{GATE_PREFIX}beats_baseline"] == "passed"
    assert version.tags[f"{GATE_PREFIX}calibrated"] == "failed"
    run = registry.get_run(logged.run_id)
    assert run.data.params["algorithm"] == "ridge" and run.data.tags["trace_id"] == "trace-1"
    assert run.data.metrics["holdout.no2.mae"] == 1.0
    artifacts = {a.path for a in registry.client().list_artifacts(logged.run_id)}
    assert {"feature_importance.png", "holdout_residuals.png"} <= artifacts
    loaded = registry.load_python_model(logged.uri)
    example = training_set[model_feature_columns(SPEC, TASK)].head(3)
    pd.testing.assert_frame_equal(loaded.predict_frame(example), model.predict_frame(example))

    err = capfd.readouterr().err
    for chatter in (
        "Successfully registered",
        "Created version",
        "Downloading artifacts",
        "CloudPickle",
        "Validating",
    ):
        assert chatter not in err, err


def test_figures_show_the_strongest_features_and_one_residual_panel_per_target(ridge_forecast):
    training_set, model = ridge_forecast.training_set, ridge_forecast.model
    rows = holdout(training_set)
    columns = model_feature_columns(SPEC, TASK)

    importance = feature_importance_figure(model, rows, label_column("no2"), columns)
    [bars] = importance.axes
    names = [label.get_text() for label in bars.get_yticklabels()]
    assert 0 < len(names) <= 15 and set(names) <= set(columns)

    residuals = residual_figure(model.predict_frame(rows), rows, TASK.targets)
    assert [ax.get_title() for ax in residuals.axes] == [
        f"Holdout residuals by horizon, {t}" for t in TASK.targets
    ]
    median = residuals.axes[0].get_lines()[0].get_xdata()
    np.testing.assert_array_equal(np.sort(median), sorted(rows["horizon"].unique()))
