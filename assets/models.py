"""model → evaluation → champion → output, one chain per task of a pipeline; one small builder each.

model trains the spec's candidates and registers the best as a new MLflow model version; evaluation scores
it against the seasonal-naive baseline and the current champion on the holdout and carries the blocking
promotion gates; champion moves the registry alias (only reached when every gate passed); the output asset
(forecasts, exceedance risk) predicts the next hours with whatever the alias names.

MLflow, scikit-learn and what needs them (training, evaluation) are imported in the assets that use them:
every run worker imports this code location before the run starts, and they are a large part of that.
"""

import datetime as dt
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd

from assets.features import AFTER_CHECKS
from assets.figures import residual_figure
from assets.metadata import frame_metadata
from assets.model_logging import log_evaluation, log_trained_model
from events.tags import CHAMPION, PROMOTED_AT_TAG, PROMOTED_BY_RUN_TAG, TRACE_TAG, sources_from_tags
from pipelines.keys import PipelineKeys, Task
from pipelines.outputs import output_table
from pipelines.spec import ModelCandidate, PipelineSpec, RegressionTask
from resources.events import EventBus
from resources.failures import failing_as_dagster
from resources.lake_store import content_hash
from resources.mlflow_registry import MlflowRegistry
from resources.promotion import announce_champion, headline_metrics

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

MLFLOW_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)


class TrainingConfig(dg.Config):
    """Train one algorithm with these hyper-parameters instead of the spec's candidates (e.g. from a
    `training.requested` event). Empty: the spec's candidates compete."""

    algorithm: str | None = None
    params: dict[str, Any] = {}
    search: dict[str, Any] = {}  # tabular tasks: a search space and budget (pipelines.spec.SearchSpec)


def requested_candidates(spec: PipelineSpec, task: Task, config: TrainingConfig) -> list[ModelCandidate]:
    """The candidates to train: the one requested, or the spec's when none is."""
    from pipelines.models import requested_candidate

    try:
        requested = requested_candidate(spec, task, config.algorithm, config.params)
    except ValueError as exc:
        raise dg.Failure(f"training request rejected: {exc}") from None
    return [requested] if requested else list(task.candidates)


def served_model(registry: MlflowRegistry, model_name: str, version: "ModelVersion") -> Any:
    """A registered version as it serves: a forecast model with each target's source from its tags."""
    model = registry.load_python_model(f"models:/{model_name}/{version.version}")
    sources = sources_from_tags(dict(version.tags))
    return model.with_sources(sources) if sources else model


def _common(spec: PipelineSpec) -> dict[str, Any]:
    """What every asset of a task's chain shares: group, owner, storage, retries on MLflow outages, and
    materializing only after the blocking checks upstream passed."""
    return dict(
        group_name=spec.name,
        owners=[spec.owner],
        io_manager_key="lake_io_manager",
        retry_policy=MLFLOW_RETRY,
        automation_condition=AFTER_CHECKS,
    )


def _lake_uri(context: dg.AssetExecutionContext, key: dg.AssetKey) -> str:
    """Where the latest materialization of `key` lives in the lake (its `lake_uri` metadata)."""
    event = context.instance.get_latest_materialization_event(key)
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    uri = meta.get("lake_uri")
    return str(uri.value) if uri is not None else ""


def model_lineage(
    context: dg.AssetExecutionContext, key: dg.AssetKey, training_key: dg.AssetKey
) -> dict[str, str]:
    """What a model's MLflow run records of where it came from: the Dagster run and asset, the training set
    in the lake, and the trace id of the event that started the run."""
    lineage = {
        "dagster.run_id": context.run_id,
        "dagster.asset_key": key.to_user_string(),
        "data_uri.training_set": _lake_uri(context, training_key),
    }
    if trace_id := context.run.tags.get(TRACE_TAG):
        lineage["trace_id"] = trace_id
    return lineage


def registered_model_output(model_name: str, logged: Any, report: Any) -> dg.Output[dict]:
    """A model asset's value (the registered version) and metadata (the chosen candidate and every
    candidate's calibration score): `logged` from model_logging, `report` from training."""
    metadata: dict[str, Any] = {
        "model": model_name,
        "version": logged.version,
        "chosen_candidate": report.chosen,
        **{f"calibration_score.{k}": v for k, v in report.scores.items()},
        **report.details,
    }
    if logged.run_url:
        metadata["mlflow_run"] = dg.MetadataValue.url(logged.run_url)
    result = {
        "model": model_name,
        "version": logged.version,
        "run_id": logged.run_id,
        "experiment_id": logged.experiment_id,
        "model_uri": logged.uri,
        "chosen": report.chosen,
        "data_version": logged.data_version,
    }
    return dg.Output(result, metadata=metadata, data_version=dg.DataVersion(f"{model_name}/{logged.version}"))


def model_asset(spec: PipelineSpec, task: Task) -> dg.AssetsDefinition:
    keys = PipelineKeys(spec)
    key, training_key = dg.AssetKey(keys.model(task)), dg.AssetKey(keys.training_set)
    model_name = keys.model_name(task)

    @dg.asset(
        key=key,
        ins={"training_set": dg.AssetIn(training_key)},
        description=f"{task.description} Candidates trained on the train split, the best registered in MLflow as "
        f"a new version of '{model_name}'.",
        kinds={"scikitlearn", "mlflow"},
        tags={"layer": "model", "task": task.name},
        **_common(spec),
    )
    @failing_as_dagster
    def model(
        context: dg.AssetExecutionContext,
        config: TrainingConfig,
        mlflow_registry: dg.ResourceParam[MlflowRegistry],
        training_set: pd.DataFrame,
    ) -> dg.Output[dict]:
        from pipelines.models import train_exceedance_model, train_forecast_model

        candidates = requested_candidates(spec, task, config)
        train = train_forecast_model if isinstance(task, RegressionTask) else train_exceedance_model
        try:
            trained, report = train(training_set, spec, task, candidates)
        except ValueError as exc:
            raise dg.Failure(f"training {model_name} failed: {exc}") from exc
        logged = log_trained_model(
            mlflow_registry,
            spec,
            task,
            trained,
            report,
            candidates,
            training_set,
            run_name=f"{task.name}-{context.run_id[:8]}",
            lineage=model_lineage(context, key, training_key),
            requested=bool(config.algorithm),
        )
        return registered_model_output(model_name, logged, report)

    return model


def evaluation_asset(spec: PipelineSpec, task: Task) -> dg.AssetsDefinition:
    keys = PipelineKeys(spec)
    key = dg.AssetKey(keys.evaluation(task))
    model_name = keys.model_name(task)

    @dg.asset(
        key=key,
        ins={
            "model": dg.AssetIn(dg.AssetKey(keys.model(task))),
            "training_set": dg.AssetIn(dg.AssetKey(keys.training_set)),
        },
        description="The new version against the seasonal-naive baseline and the current champion on the same "
        "holdout; its checks are the promotion gates.",
        kinds={"mlflow"},
        tags={"layer": "evaluation", "task": task.name},
        check_specs=[
            dg.AssetCheckSpec(
                "beats_baseline",
                asset=key,
                blocking=True,
                description=f"Improves {task.promotion.metric} on the naive baseline by the spec's margin.",
            ),
            dg.AssetCheckSpec(
                "beats_champion",
                asset=key,
                blocking=True,
                description="At least as good as the current champion by the spec's margin.",
            ),
            dg.AssetCheckSpec(
                "calibrated",
                asset=key,
                blocking=True,
                description="Interval coverage (or probability calibration) within tolerance on holdout.",
            ),
        ],
        **_common(spec),
    )
    @failing_as_dagster
    def evaluation(
        context: dg.AssetExecutionContext,
        mlflow_registry: dg.ResourceParam[MlflowRegistry],
        model: dict,
        training_set: pd.DataFrame,
    ):
        from pipelines.evaluation import evaluate_candidate, holdout

        current = mlflow_registry.champion(model_name)
        champion, champion_version = None, None
        if current is not None and str(current.version) != model["version"]:
            champion_version = str(current.version)
            champion = served_model(mlflow_registry, model_name, current)
        candidate = mlflow_registry.load_python_model(model["model_uri"])
        verdict = evaluate_candidate(candidate, training_set, task, champion, champion_version)
        log_evaluation(
            mlflow_registry,
            model_name,
            model["version"],
            model["run_id"],
            verdict.metrics,
            verdict.champion_metrics,
            verdict.gates,
            residual_figure(verdict.predicted, holdout(training_set), task.targets)
            if verdict.predicted is not None
            else None,
            verdict.sources,
        )
        result = {
            **model,
            "metrics": verdict.metrics,
            "champion_version": champion_version,
            "champion_metrics": verdict.champion_metrics,
            "gates": {g.name: g.passed for g in verdict.gates},
            "sources": {t: s for t, (s, _) in verdict.sources.items()},
        }
        holdout_metrics = {f"holdout.{k}": v for k, v in verdict.metrics.items()}
        served = {f"source.{t}": f"{s}: {why}" for t, (s, why) in verdict.sources.items()}
        yield dg.Output(result, metadata={"version": model["version"], **served, **holdout_metrics})
        for gate in verdict.gates:
            yield dg.AssetCheckResult(
                check_name=gate.name,
                asset_key=key,
                passed=gate.passed,
                description=gate.description,
                metadata=gate.metadata,
            )

    return evaluation


def champion_asset(spec: PipelineSpec, task: Task) -> dg.AssetsDefinition:
    keys = PipelineKeys(spec)
    model_name = keys.model_name(task)

    @dg.asset(
        key=dg.AssetKey(keys.champion(task)),
        ins={"evaluation": dg.AssetIn(dg.AssetKey(keys.evaluation(task)))},
        description=f"Moves the '{CHAMPION}' alias of '{model_name}' to the evaluated version (reached only when every "
        "promotion gate passed) and announces model.promoted.",
        kinds={"mlflow"},
        tags={"layer": "champion", "task": task.name},
        **_common(spec),
    )
    @failing_as_dagster
    def champion(
        context: dg.AssetExecutionContext,
        mlflow_registry: dg.ResourceParam[MlflowRegistry],
        events: dg.ResourceParam[EventBus],
        evaluation: dict,
    ) -> dg.Output[dict]:
        change = mlflow_registry.promote(
            model_name,
            evaluation["version"],
            tags={
                PROMOTED_AT_TAG: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                PROMOTED_BY_RUN_TAG: context.run_id,
            },
        )
        announce_champion(
            events,
            spec.name,
            task.name,
            change,
            evaluation["metrics"],
            trace_id=context.run.tags.get(TRACE_TAG),
        )
        context.log.info(
            f"{model_name}: champion is now version {change.version} (was {change.previous or 'none'})"
        )
        return dg.Output(
            {
                "model": model_name,
                "version": change.version,
                "previous": change.previous,
                "metrics": headline_metrics(evaluation["metrics"]),
            },
            metadata={"version": change.version, "previous": change.previous or "none"},
        )

    return champion


def output_asset(spec: PipelineSpec, task: Task) -> dg.AssetsDefinition:
    keys = PipelineKeys(spec)
    key = dg.AssetKey(keys.output(task))
    model_name = keys.model_name(task)

    @dg.asset(
        key=key,
        ins={
            "features": dg.AssetIn(dg.AssetKey(keys.features)),
            "champion": dg.AssetIn(dg.AssetKey(keys.champion(task))),
        },
        description=(
            f"{', '.join(task.targets)} for the next {max(task.horizons)} hours at every station with "
            f"{task.interval_level:.0%} intervals, from the current champion."
            if isinstance(task, RegressionTask)
            else f"Per station, the probability that {task.target} exceeds {task.threshold:g} within {task.within_hours} h."
        ),
        kinds={"pandas", "parquet"},
        tags={"layer": "serving", "task": task.name},
        check_specs=[
            dg.AssetCheckSpec(
                "served_as_decided",
                asset=key,
                description="Each target's published forecasts come from the source (model or seasonal-naive "
                "baseline) its champion's gates decided.",
            )
        ]
        if isinstance(task, RegressionTask)
        else [],
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=dt.timedelta(hours=spec.checks.freshness_hours)
        ),
        **_common(spec),
    )
    @failing_as_dagster
    def output(
        context: dg.AssetExecutionContext,
        mlflow_registry: dg.ResourceParam[MlflowRegistry],
        events: dg.ResourceParam[EventBus],
        features: pd.DataFrame,
        champion: dict,
    ):
        current = mlflow_registry.champion(model_name)
        if current is None:
            raise dg.Failure(f"'{model_name}' has no champion yet: no version has passed the promotion gates")
        version = str(current.version)
        model = served_model(mlflow_registry, model_name, current)
        frame = output_table(features, model, spec, task, model_name, version)
        data_version = content_hash(frame)
        events.publish(
            "dataset.materialized",
            {
                "pipeline": spec.name,
                "asset": key.to_user_string(),
                "data_version": data_version,
                "rows": len(frame),
            },
            trace_id=context.run.tags.get(TRACE_TAG),
        )
        if not isinstance(task, RegressionTask):
            yield dg.Output(
                frame,
                data_version=dg.DataVersion(data_version),
                metadata={**frame_metadata(frame, preview_rows=10), "model_version": version},
            )
            return
        sources = {t: model.source(t) for t in task.targets}
        yield dg.Output(
            frame,
            data_version=dg.DataVersion(data_version),
            metadata={
                **frame_metadata(frame, preview_rows=10),
                "model_version": version,
                **{f"source.{t}": s for t, s in sources.items()},
            },
        )
        yield served_as_decided(key, frame, sources_from_tags(dict(current.tags)), task)

    return output


def served_as_decided(
    key: dg.AssetKey, frame: pd.DataFrame, decided: dict[str, str], task: RegressionTask
) -> dg.AssetCheckResult:
    """Whether every target's published rows name the source the champion's gates decided (a version
    from before per-target decisions serves the model for every target)."""
    from pipelines.models import MODEL

    published = frame.groupby("pollutant", observed=True)["source"].unique()
    wrong = {
        t: sorted(published.get(t, []))
        for t in task.targets
        if list(published.get(t, [])) != [decided.get(t, MODEL)]
    }
    return dg.AssetCheckResult(
        check_name="served_as_decided",
        asset_key=key,
        passed=not wrong,
        description="; ".join(f"{t}: served by the {decided.get(t, MODEL)}" for t in task.targets)
        if not wrong
        else "; ".join(
            f"{t}: published {', '.join(v) or 'nothing'}, decided {decided.get(t, MODEL)}"
            for t, v in wrong.items()
        ),
        metadata={f"source.{t}": decided.get(t, MODEL) for t in task.targets},
    )


def build_task_assets(spec: PipelineSpec, task: Task) -> list[dg.AssetsDefinition]:
    """The task's chain: model → evaluation → champion → output."""
    return [builder(spec, task) for builder in (model_asset, evaluation_asset, champion_asset, output_asset)]
