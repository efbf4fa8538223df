"""What a model version records in MLflow: the training run (parameters, calibration scores, the feature
importance figure, the pyfunc model with its signature and input example, data and code versions), and
after evaluation its holdout metrics, residual figure and gate verdicts. Plain functions over the
registry client; the assets pass in what only Dagster knows (run id, asset key, the input's lake URI).

MLflow and scikit-learn are imported inside them, as in assets/models.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import pipelines
from assets.figures import feature_importance_figure
from events.tags import CODE_VERSION_TAG, DATA_VERSION_PREFIX, GATE_PREFIX, source_tags
from pipelines.features import model_feature_columns
from pipelines.keys import PipelineKeys, Task
from pipelines.spec import ModelCandidate, PipelineSpec, RegressionTask, TabularSpec, TabularTask
from pipelines.training_set import exceedance_label_column, label_column
from resources.lake_store import content_hash
from resources.mlflow_registry import MlflowRegistry

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pipelines.evaluation import Gate
    from pipelines.models import TrainingReport
    from pipelines.tabular_models import TabularModel, TabularReport

TRAINING_SET_VERSION_TAG = f"{DATA_VERSION_PREFIX}training_set"
# Run tags also set on the registered version, so the registry alone says where a version came from.
VERSION_TAGS = ("pipeline", "task", "dagster.run_id", TRAINING_SET_VERSION_TAG, CODE_VERSION_TAG)


@cache
def code_version() -> str:
    """The git commit the code runs from, or the package version outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(pipelines.__file__).parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        from importlib.metadata import version

        return version("mlops-platform")


@dataclass(frozen=True)
class LoggedModel:
    """A trained model's MLflow run and registered version."""

    model: str
    version: str
    run_id: str
    experiment_id: str
    run_url: str | None
    data_version: str  # content hash of the training set it learnt from

    @property
    def uri(self) -> str:
        return f"models:/{self.model}/{self.version}"


def training_params(
    task: Task,
    candidates: Sequence[ModelCandidate],
    chosen: ModelCandidate,
    columns: list[str],
    training_set: pd.DataFrame,
    requested: bool,
) -> dict[str, Any]:
    """The run's parameters: the chosen algorithm and hyper-parameters, what competed, the data's size
    and the task's horizon or threshold; `requested` when one algorithm was asked for."""
    task_params = (
        {"horizons": f"{min(task.horizons)}..{max(task.horizons)}", "interval_level": task.interval_level}
        if isinstance(task, RegressionTask)
        else {"threshold": task.threshold, "within_hours": task.within_hours}
    )
    return {
        "algorithm": chosen.algorithm,
        **{f"param.{k}": v for k, v in chosen.params.items()},
        "candidates": ",".join(c.name for c in candidates),
        "features": len(columns),
        "train_rows": int((training_set["split"] == "train").sum()),
        **task_params,
        "requested": requested,
    }


def log_trained_model(
    registry: MlflowRegistry,
    spec: PipelineSpec,
    task: Task,
    trained: Any,
    report: TrainingReport,
    candidates: Sequence[ModelCandidate],
    training_set: pd.DataFrame,
    *,
    run_name: str,
    lineage: dict[str, str],
    requested: bool = False,
) -> LoggedModel:
    """Log `trained` (the report's chosen candidate) as an MLflow run of the pipeline's experiment and
    register it as a new version of the task's model. `lineage`: tags naming where the run came from
    (Dagster run and asset, the input's lake URI, the trace id)."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    model_name = PipelineKeys(spec).model_name(task)
    columns = model_feature_columns(spec, task)
    data_version = content_hash(training_set)
    tags = {
        "pipeline": spec.name,
        "task": task.name,
        **lineage,
        TRAINING_SET_VERSION_TAG: data_version,
        CODE_VERSION_TAG: code_version(),
        "chosen_candidate": report.chosen,
    }
    calibration = training_set[training_set["split"] == "calibration"]
    example = calibration[columns].head(5).astype(float)
    chosen = next(c for c in candidates if c.name == report.chosen)
    label = (
        label_column(task.targets[0]) if isinstance(task, RegressionTask) else exceedance_label_column(task)
    )
    with registry.start_run(spec.name, run_name, tags) as run:
        mlflow.log_params(training_params(task, candidates, chosen, columns, training_set, requested))
        mlflow.log_metrics({f"calibration_score.{k}": v for k, v in report.scores.items()} | report.details)
        mlflow.log_figure(
            # A forecast model's estimators take the columns before its seasonal-naive inputs.
            feature_importance_figure(
                trained, calibration, label, columns[: getattr(trained, "estimator_columns", len(columns))]
            ),
            "feature_importance.png",
        )
        logged = mlflow.pyfunc.log_model(
            name="model",
            python_model=trained,
            signature=infer_signature(example, trained.predict_frame(example)),
            input_example=example,
            code_paths=[str(Path(pipelines.__file__).parent)],
            pip_requirements=[
                f"mlflow=={mlflow.__version__}",
                f"scikit-learn=={sklearn.__version__}",
                f"pandas=={pd.__version__}",
                f"numpy=={np.__version__}",
            ],
        )
    version = registry.register_version(
        model_name, logged, run.info.run_id, {k: tags[k] for k in VERSION_TAGS if k in tags}
    )
    return LoggedModel(
        model=model_name,
        version=version,
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        run_url=registry.run_url(run.info.experiment_id, run.info.run_id),
        data_version=data_version,
    )


def log_evaluation(
    registry: MlflowRegistry,
    model: str,
    version: str,
    run_id: str,
    metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    gates: Sequence[Gate],
    residuals: Figure | None = None,
    sources: dict[str, tuple[str, str]] | None = None,
) -> None:
    """Add the holdout results to the version's run (its metrics, the champion's on the same holdout, the
    residual figure), each gate's verdict to the version (`gate.<name>`: passed/failed) and, for a
    forecast, what serves each target and why (`source.<target>`, `source_reason.<target>`)."""
    registry.log_metrics(
        run_id,
        {f"holdout.{k}": v for k, v in metrics.items()}
        | {f"champion_holdout.{k}": v for k, v in (champion_metrics or {}).items()},
    )
    if residuals is not None:
        registry.log_figure(run_id, residuals, "holdout_residuals.png")
    registry.set_version_tags(
        model,
        version,
        {f"{GATE_PREFIX}{g.name}": "passed" if g.passed else "failed" for g in gates}
        | source_tags(sources or {}),
    )


def tabular_input_example(training_set: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Five complete calibration rows as clients send them (booleans as bool, no missing values)."""
    rows = training_set.loc[training_set["split"] == "calibration", columns].dropna().head(5)
    return rows.astype({c: bool for c in columns if str(rows[c].dtype) == "boolean"})


def log_tabular_model(
    registry: MlflowRegistry,
    spec: TabularSpec,
    task: TabularTask,
    trained: TabularModel,
    report: TabularReport,
    training_set: pd.DataFrame,
    *,
    run_name: str,
    lineage: dict[str, str],
    requested: bool = False,
) -> LoggedModel:
    """Log a tabular model (one scikit-learn pipeline from raw columns, inside the pyfunc) as an MLflow run,
    each search trial as a nested run, and register it as a new version of the task's model."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    model_name = PipelineKeys(spec).model_name(task)
    data_version = content_hash(training_set)
    tags = {
        "pipeline": spec.name,
        "task": task.name,
        **lineage,
        TRAINING_SET_VERSION_TAG: data_version,
        CODE_VERSION_TAG: code_version(),
        "chosen_candidate": report.chosen,
    }
    chosen = next(c for c in task.candidates if report.chosen.startswith(c.name))
    example = tabular_input_example(training_set, trained.input_columns)
    output = trained.predict_frame(example).drop(columns=["prediction_set"], errors="ignore")
    with registry.start_run(spec.name, run_name, tags) as run:
        mlflow.log_params(
            {
                "algorithm": chosen.algorithm,
                **{f"param.{k}": v for k, v in report.params.items()},
                "candidates": ",".join(report.scores),
                "inputs": len(trained.input_columns),
                "train_rows": int((training_set["split"] == "train").sum()),
                "level": task.level,
                "requested": requested,
            }
        )
        mlflow.log_metrics({f"calibration_score.{k}": v for k, v in report.scores.items()} | report.details)
        for candidate, trials in report.trials.items():
            for trial in trials:
                with mlflow.start_run(
                    experiment_id=run.info.experiment_id,
                    run_name=f"{candidate}-trial-{trial.number}",
                    nested=True,
                ):
                    mlflow.log_params({"candidate": candidate, **trial.params})
                    mlflow.log_metric(f"calibration.{task.promotion.metric}", trial.score)
        logged = mlflow.pyfunc.log_model(
            name="model",
            python_model=trained,
            signature=infer_signature(example, output),
            input_example=example,
            code_paths=[str(Path(pipelines.__file__).parent)],
            pip_requirements=[
                f"mlflow=={mlflow.__version__}",
                f"scikit-learn=={sklearn.__version__}",
                f"pandas=={pd.__version__}",
                f"numpy=={np.__version__}",
            ],
        )
    version = registry.register_version(
        model_name, logged, run.info.run_id, {k: tags[k] for k in VERSION_TAGS if k in tags}
    )
    return LoggedModel(
        model=model_name,
        version=version,
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        run_url=registry.run_url(run.info.experiment_id, run.info.run_id),
        data_version=data_version,
    )
