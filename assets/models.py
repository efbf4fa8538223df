"""model → evaluation → champion → outputs, one chain per task of a pipeline.

model trains the spec's candidates and registers the best as a new MLflow model version; evaluation scores
it against the seasonal-naive baseline and the current champion on the holdout and carries the blocking
promotion gates; champion moves the registry alias (only reached when every gate passed); the output asset
(forecasts, exceedance risk) predicts the next hours with whatever the alias names.

MLflow, scikit-learn and what needs them (training, evaluation) are imported in the assets that use them:
every run worker imports this code location before the run starts, and they are ~4 s of it on two cores.
"""

import datetime as dt
import subprocess
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import numpy as np
import pandas as pd

import pipelines
from assets.features import AFTER_CHECKS
from assets.metadata import frame_metadata
from pipelines.features import forecast_inputs, latest_observed, model_feature_columns
from pipelines.spec import ClassificationTask, ModelCandidate, PipelineSpec, RegressionTask
from pipelines.training_set import exceedance_label_column, label_column
from resources.events import EventBus
from resources.lake import content_hash
from resources.mlflow_registry import CHAMPION, MlflowRegistry

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MLFLOW_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)
TRACE_TAG = "mlops/trace_id"
GATES = ("beats_baseline", "beats_champion", "calibrated")


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


class TrainingConfig(dg.Config):
    """Train one algorithm with these hyper-parameters instead of the spec's candidates (e.g. from a
    `training.requested` event). Empty: the spec's candidates compete."""

    algorithm: str | None = None
    params: dict[str, Any] = {}


def requested_candidates(
    spec: PipelineSpec, task: RegressionTask | ClassificationTask, config: TrainingConfig
) -> list[ModelCandidate]:
    """The candidates to train: the one requested, or the spec's when none is."""
    from pipelines.models import requested_candidate

    try:
        requested = requested_candidate(spec, task, config.algorithm, config.params)
    except ValueError as exc:
        raise dg.Failure(f"training request rejected: {exc}") from None
    return [requested] if requested else list(task.candidates)


def _feature_importance_figure(model: Any, rows: pd.DataFrame, label: str, columns: list[str]) -> "Figure":
    # imported here: loading the code location (every run worker, the webserver) skips ~1 s of imports
    from matplotlib.figure import Figure

    from pipelines.evaluation import permutation_importance

    labelled = rows.dropna(subset=[label])
    sample = labelled.sample(n=min(500, len(labelled)), random_state=0)
    estimator = (
        model.estimators[next(iter(model.estimators))] if hasattr(model, "estimators") else model.estimator
    )
    importance = permutation_importance(estimator, sample, sample[label], columns).sort_values().tail(15)
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    ax.barh(importance.index, importance.to_numpy())
    ax.set_xlabel(
        "rise in Brier score when shuffled"
        if hasattr(estimator, "predict_proba")
        else "drop in R² when shuffled"
    )
    ax.set_title(f"Permutation importance ({label})")
    # fixed room for the feature names: tight_layout measured the text for ~0.1-0.2 s per figure
    fig.subplots_adjust(left=0.3, right=0.97, top=0.92, bottom=0.1)
    return fig


def _residual_figure(predicted: pd.DataFrame, rows: pd.DataFrame, targets: list[str]) -> "Figure":
    """Holdout residuals by horizon: median and the 25-75% and 5-95% bands (how error grows with lead time)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6 * len(targets), 4))
    axes = fig.subplots(1, len(targets), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        residual = rows[label_column(target)].to_numpy() - predicted[target].to_numpy()
        bands = (
            pd.Series(residual).groupby(rows["horizon"].to_numpy()).quantile([0.05, 0.25, 0.5, 0.75, 0.95])
        )
        q = bands.unstack()
        ax.fill_between(q.index, q[0.05], q[0.95], alpha=0.2, color="tab:blue", label="5–95%")
        ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.4, color="tab:blue", label="25–75%")
        ax.plot(q.index, q[0.5], color="tab:blue", label="median")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("horizon (h)")
        ax.set_ylabel(f"{target}: observed − predicted")
        ax.set_title(f"Holdout residuals by horizon, {target}")
        ax.legend(loc="upper left")
    # fixed margins: tight_layout measures every label first
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.13, wspace=0.25)
    return fig


def _input_metadata(context: dg.AssetExecutionContext, key: dg.AssetKey) -> dict[str, str]:
    event = context.instance.get_latest_materialization_event(key)
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    uri = meta.get("lake_uri")
    return {"uri": str(uri.value) if uri is not None else ""}


def build_task_assets(
    spec: PipelineSpec, task: RegressionTask | ClassificationTask
) -> list[dg.AssetsDefinition]:
    p = spec.name
    training_key = dg.AssetKey([p, "training_set"])
    features_key = dg.AssetKey([p, "features"])
    model_key = dg.AssetKey([p, f"{task.name}_model"])
    evaluation_key = dg.AssetKey([p, f"{task.name}_evaluation"])
    champion_key = dg.AssetKey([p, f"{task.name}_champion"])
    output_key = dg.AssetKey([p, task.output_asset])
    model_name = spec.registered_model_name(task)
    regression = isinstance(task, RegressionTask)
    common = dict(group_name=p, owners=[spec.owner], io_manager_key="lake_io_manager")

    @dg.asset(
        key=model_key,
        ins={"training_set": dg.AssetIn(training_key)},
        description=f"{task.description} Candidates trained on the train split, the best registered in MLflow as "
        f"a new version of '{model_name}'.",
        kinds={"scikitlearn", "mlflow"},
        tags={"layer": "model", "task": task.name},
        retry_policy=MLFLOW_RETRY,
        automation_condition=AFTER_CHECKS,
        **common,
    )
    def model(
        context: dg.AssetExecutionContext,
        config: TrainingConfig,
        mlflow_registry: MlflowRegistry,
        training_set: pd.DataFrame,
    ) -> dg.Output[dict]:
        import mlflow
        import sklearn
        from mlflow.models import infer_signature

        from pipelines.models import train_exceedance_model, train_forecast_model

        candidates = requested_candidates(spec, task, config)
        try:
            if regression:
                trained, report = train_forecast_model(training_set, spec, task, candidates)
            else:
                trained, report = train_exceedance_model(training_set, spec, task, candidates)
        except ValueError as exc:
            raise dg.Failure(f"training {model_name} failed: {exc}") from exc
        columns = model_feature_columns(spec, task)
        data_version = content_hash(training_set)
        tags = {
            "pipeline": p,
            "task": task.name,
            "dagster.run_id": context.run_id,
            "dagster.asset_key": model_key.to_user_string(),
            "data_version.training_set": data_version,
            "data_uri.training_set": _input_metadata(context, training_key)["uri"],
            "code_version": code_version(),
            "chosen_candidate": report.chosen,
        }
        trace_id = context.run.tags.get(TRACE_TAG)
        if trace_id:
            tags["trace_id"] = trace_id
        example = training_set[training_set["split"] == "calibration"][columns].head(5).astype(float)
        chosen = next(c for c in candidates if c.name == report.chosen)
        with mlflow_registry.start_run(p, f"{task.name}-{context.run_id[:8]}", tags) as run:
            mlflow.log_params(
                {
                    "algorithm": chosen.algorithm,
                    **{f"param.{k}": v for k, v in chosen.params.items()},
                    "candidates": ",".join(c.name for c in candidates),
                    "features": len(columns),
                    "train_rows": int((training_set["split"] == "train").sum()),
                    **(
                        {
                            "horizons": f"{min(task.horizons)}..{max(task.horizons)}",
                            "interval_level": task.interval_level,
                        }
                        if regression
                        else {"threshold": task.threshold, "within_hours": task.within_hours}
                    ),
                    "requested": bool(config.algorithm),
                }
            )
            mlflow.log_metrics(
                {f"calibration_score.{k}": v for k, v in report.scores.items()} | report.details
            )
            label = label_column(task.targets[0]) if regression else exceedance_label_column(task)
            mlflow.log_figure(
                _feature_importance_figure(
                    trained, training_set[training_set["split"] == "calibration"], label, columns
                ),
                "feature_importance.png",
            )
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=trained,
                signature=infer_signature(example, trained.predict_frame(example)),
                input_example=example,
                registered_model_name=model_name,
                code_paths=[str(Path(pipelines.__file__).parent)],
                pip_requirements=[
                    f"mlflow=={mlflow.__version__}",
                    f"scikit-learn=={sklearn.__version__}",
                    f"pandas=={pd.__version__}",
                    f"numpy=={np.__version__}",
                ],
            )
            experiment_id = run.info.experiment_id
            run_id = run.info.run_id
        version = str(info.registered_model_version)
        client = mlflow_registry.client()
        for key in ("pipeline", "task", "dagster.run_id", "data_version.training_set", "code_version"):
            client.set_model_version_tag(model_name, version, key, tags[key])
        url = mlflow_registry.run_url(experiment_id, run_id)
        result = {
            "model": model_name,
            "version": version,
            "run_id": run_id,
            "experiment_id": experiment_id,
            "model_uri": f"models:/{model_name}/{version}",
            "chosen": report.chosen,
            "data_version": data_version,
        }
        metadata: dict[str, Any] = {
            "model": model_name,
            "version": version,
            "chosen_candidate": report.chosen,
            **{f"calibration_score.{k}": v for k, v in report.scores.items()},
        }
        if url:
            metadata["mlflow_run"] = dg.MetadataValue.url(url)
        return dg.Output(result, metadata=metadata, data_version=dg.DataVersion(f"{model_name}/{version}"))

    @dg.asset(
        key=evaluation_key,
        ins={"model": dg.AssetIn(model_key), "training_set": dg.AssetIn(training_key)},
        description="The new version against the seasonal-naive baseline and the current champion on the same "
        "holdout; its checks are the promotion gates.",
        kinds={"mlflow"},
        tags={"layer": "evaluation", "task": task.name},
        check_specs=[
            dg.AssetCheckSpec(
                "beats_baseline",
                asset=evaluation_key,
                blocking=True,
                description=f"Improves {task.promotion.metric} on the naive baseline by the spec's margin.",
            ),
            dg.AssetCheckSpec(
                "beats_champion",
                asset=evaluation_key,
                blocking=True,
                description="At least as good as the current champion by the spec's margin.",
            ),
            dg.AssetCheckSpec(
                "calibrated",
                asset=evaluation_key,
                blocking=True,
                description="Interval coverage (or probability calibration) within tolerance on holdout.",
            ),
        ],
        retry_policy=MLFLOW_RETRY,
        automation_condition=AFTER_CHECKS,
        **common,
    )
    def evaluation(
        context: dg.AssetExecutionContext,
        mlflow_registry: MlflowRegistry,
        model: dict,
        training_set: pd.DataFrame,
    ):
        from mlflow.entities import Metric

        from pipelines.evaluation import (
            climatology,
            exceedance_gates,
            exceedance_metrics,
            forecast_gates,
            forecast_metrics,
            holdout,
        )

        rows = holdout(training_set)

        def score(scored_model: Any) -> tuple[dict[str, float], pd.DataFrame | None]:
            """The holdout metrics, and for a forecast model its predictions (for the residual figure)."""
            if regression:
                predicted = scored_model.predict_frame(rows)
                return forecast_metrics(predicted, rows, task), predicted
            return exceedance_metrics(scored_model, rows, task, climatology(training_set, task)), None

        metrics, predicted = score(mlflow_registry.load_python_model(model["model_uri"]))
        current = mlflow_registry.champion(model_name)
        champion_metrics, champion_version = None, None
        if current is not None and str(current.version) != model["version"]:
            champion_version = str(current.version)
            champion_metrics, _ = score(
                mlflow_registry.load_python_model(f"models:/{model_name}/{str(current.version)}")
            )
        gates = (forecast_gates if regression else exceedance_gates)(
            task, metrics, champion_metrics, champion_version
        )

        client = mlflow_registry.client()
        logged_at = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        client.log_batch(
            model["run_id"],
            metrics=[
                Metric(f"{prefix}.{key}", value, logged_at, 0)
                for prefix, scores in (("holdout", metrics), ("champion_holdout", champion_metrics or {}))
                for key, value in scores.items()
            ],
        )
        if predicted is not None:
            client.log_figure(
                model["run_id"],
                _residual_figure(predicted, rows, task.targets),
                "holdout_residuals.png",
            )
        for gate in gates:
            client.set_model_version_tag(
                model_name, model["version"], f"gate.{gate.name}", "passed" if gate.passed else "failed"
            )

        result = {
            **model,
            "metrics": metrics,
            "champion_version": champion_version,
            "champion_metrics": champion_metrics,
            "gates": {g.name: g.passed for g in gates},
        }
        yield dg.Output(
            result, metadata={"version": model["version"], **{f"holdout.{k}": v for k, v in metrics.items()}}
        )
        for gate in gates:
            yield dg.AssetCheckResult(
                check_name=gate.name,
                asset_key=evaluation_key,
                passed=gate.passed,
                description=gate.description,
                metadata=gate.metadata,
            )

    @dg.asset(
        key=champion_key,
        ins={"evaluation": dg.AssetIn(evaluation_key)},
        description=f"Moves the '{CHAMPION}' alias of '{model_name}' to the evaluated version (reached only when every "
        "promotion gate passed) and announces model.promoted.",
        kinds={"mlflow"},
        tags={"layer": "champion", "task": task.name},
        retry_policy=MLFLOW_RETRY,
        automation_condition=AFTER_CHECKS,
        **common,
    )
    def champion(
        context: dg.AssetExecutionContext, mlflow_registry: MlflowRegistry, events: EventBus, evaluation: dict
    ):
        previous = mlflow_registry.champion(model_name)
        version = evaluation["version"]
        mlflow_registry.promote(
            model_name,
            version,
            tags={
                "promoted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "promoted_by_run": context.run_id,
                "previous_champion": str(previous.version) if previous else "",
            },
        )
        headline = {
            k: v
            for k, v in evaluation["metrics"].items()
            if k.split(".")[-1] in ("mae", "rmse", "coverage", "brier", "roc_auc")
        }
        events.publish(
            "model.promoted",
            {"pipeline": p, "task": task.name, "model": model_name, "version": version, "metrics": headline},
            trace_id=context.run.tags.get(TRACE_TAG),
        )
        context.log.info(
            f"{model_name}: champion is now version {version} (was {str(previous.version) if previous else 'none'})"
        )
        return dg.Output(
            {
                "model": model_name,
                "version": version,
                "previous": str(previous.version) if previous else None,
                "metrics": headline,
            },
            metadata={"version": version, "previous": str(previous.version) if previous else "none"},
        )

    @dg.asset(
        key=output_key,
        ins={"features": dg.AssetIn(features_key), "champion": dg.AssetIn(champion_key)},
        description=(
            f"{', '.join(task.targets)} for the next {max(task.horizons)} hours at every station with "
            f"{task.interval_level:.0%} intervals, from the current champion."
            if regression
            else f"Per station, the probability that {task.target} exceeds {task.threshold:g} within {task.within_hours} h."
        ),
        kinds={"pandas", "parquet"},
        tags={"layer": "serving", "task": task.name},
        retry_policy=MLFLOW_RETRY,
        automation_condition=AFTER_CHECKS,
        **common,
    )
    def predictions(
        context: dg.AssetExecutionContext,
        mlflow_registry: MlflowRegistry,
        events: EventBus,
        features: pd.DataFrame,
        champion: dict,
    ) -> dg.Output[pd.DataFrame]:
        current = mlflow_registry.champion(model_name)
        if current is None:
            raise dg.Failure(f"'{model_name}' has no champion yet: no version has passed the promotion gates")
        model = mlflow_registry.load_python_model(f"models:/{model_name}@{CHAMPION}")
        st, ts = spec.station_column, spec.timestamp_column
        if regression:
            inputs = forecast_inputs(features, spec, task)
            predicted = model.predict_frame(inputs)
            frame = pd.concat(
                [
                    pd.DataFrame(
                        {
                            st: inputs[st].to_numpy(),
                            "issued_at": inputs[ts].to_numpy(),
                            "target_time": inputs["target_time"].to_numpy(),
                            "horizon": inputs["horizon"].astype(int).to_numpy(),
                            "pollutant": target,
                            "prediction": predicted[target].to_numpy(),
                            "lower": predicted[f"{target}_lower"].to_numpy(),
                            "upper": predicted[f"{target}_upper"].to_numpy(),
                            "interval_level": task.interval_level,
                        }
                    )
                    for target in task.targets
                ],
                ignore_index=True,
            )
        else:
            latest = latest_observed(features, spec, [task.target])
            frame = pd.DataFrame(
                {
                    st: latest[st].to_numpy(),
                    "issued_at": latest[ts].to_numpy(),
                    "window_end": (latest[ts] + pd.Timedelta(hours=task.within_hours)).to_numpy(),
                    "pollutant": task.target,
                    "threshold": task.threshold,
                    "probability": model.predict_frame(latest)["probability"].to_numpy(),
                }
            )
        frame["model"] = model_name
        frame["model_version"] = str(current.version)
        version = content_hash(frame)
        events.publish(
            "dataset.materialized",
            {
                "pipeline": p,
                "asset": output_key.to_user_string(),
                "data_version": version,
                "rows": len(frame),
            },
            trace_id=context.run.tags.get(TRACE_TAG),
        )
        return dg.Output(
            frame,
            data_version=dg.DataVersion(version),
            metadata={**frame_metadata(frame, preview_rows=10), "model_version": str(current.version)},
        )

    return [model, evaluation, champion, predictions]
