"""A tabular pipeline's graph: raw → clean → training_set → model → evaluation → champion.

raw is every landing file as text, exactly as exported; clean types it by the spec; training_set splits it
(by the time column, else stratified random with the spec's seed). model, evaluation and champion follow the
time-series tasks: the same MLflow logging, the same blocking gates, the same alias move and event, plus a
non-blocking check per slice. scikit-learn and MLflow are imported inside the assets, as in assets/models.py.
"""

import dagster as dg
import pandas as pd

from assets.features import AFTER_CHECKS
from assets.ingestion import S3_RETRY, RawConfig, landing_files
from assets.metadata import frame_metadata
from assets.model_logging import log_evaluation, log_tabular_model
from assets.models import TrainingConfig, _common, champion_asset, model_lineage, registered_model_output
from pipelines.keys import PipelineKeys
from pipelines.spec import TabularCandidate, TabularSpec, TabularTask
from pipelines.tabular_parsing import clean_table, read_table
from resources.failures import failing_as_dagster
from resources.lake_store import content_hash
from resources.mlflow_registry import MlflowRegistry
from resources.object_store import ObjectStore

MIN_SPLIT_ROWS = 30


def requested_tabular_candidates(
    spec: TabularSpec, task: TabularTask, config: TrainingConfig
) -> list[TabularCandidate]:
    """The one candidate a training request names, or the spec's."""
    from pipelines.tabular_models import requested_tabular_candidate

    try:
        requested = requested_tabular_candidate(
            spec, task, config.algorithm, config.params, config.search or None
        )
    except ValueError as exc:
        raise dg.Failure(f"training request rejected: {exc}") from None
    return [requested] if requested else list(task.candidates)


def _data_assets(spec: TabularSpec) -> list[dg.AssetsDefinition]:
    keys = PipelineKeys(spec)
    task = spec.tasks[0]
    raw_key, clean_key, training_key = (dg.AssetKey(p) for p in (keys.raw, keys.clean, keys.training_set))
    common = dict(
        group_name=spec.name, owners=[spec.owner], io_manager_key="lake_io_manager", retry_policy=S3_RETRY
    )

    @dg.asset(
        key=raw_key,
        description="Every landing file's rows as text, exactly as exported (read by the spec's declarations).",
        kinds={"pandas", "parquet"},
        tags={"layer": "raw", "source": "files"},
        **common,
    )
    @failing_as_dagster
    def raw(context: dg.AssetExecutionContext, config: RawConfig, landing: dg.ResourceParam[ObjectStore]):
        frames = []
        for name, content in landing_files(landing, spec, config.files):
            try:
                frames.append(read_table(content, name, spec).assign(_file=name))
            except ValueError as exc:
                raise dg.Failure(str(exc)) from None
        if not frames:
            raise dg.Failure(f"no landing files for {spec.name}: upload one first")
        frame = pd.concat(frames, ignore_index=True)
        return dg.Output(
            frame,
            data_version=dg.DataVersion(content_hash(frame)),
            metadata={**frame_metadata(frame), "files": len(frames)},
        )

    @dg.asset(
        key=clean_key,
        ins={"raw": dg.AssetIn(raw_key)},
        description="Rows typed by the spec: sentinels and unusable values missing, categories mapped and matched, "
        "target labels normalized, rows without a target and exact duplicates dropped.",
        kinds={"pandas", "parquet"},
        tags={"layer": "clean"},
        check_specs=[
            dg.AssetCheckSpec(
                "row_count",
                asset=clean_key,
                blocking=True,
                description=f"At least the spec's min_rows ({spec.min_rows}) rows.",
            ),
            dg.AssetCheckSpec(
                "valid_values",
                asset=clean_key,
                blocking=False,
                description="Few values unusable by the declared types.",
            ),
        ],
        automation_condition=AFTER_CHECKS,
        **common,
    )
    def clean(context: dg.AssetExecutionContext, raw: pd.DataFrame):
        frame, invalid = clean_table(raw.drop(columns="_file"), spec, task.target)
        yield dg.Output(
            frame, data_version=dg.DataVersion(content_hash(frame)), metadata=frame_metadata(frame)
        )
        yield dg.AssetCheckResult(
            check_name="row_count",
            asset_key=clean_key,
            passed=len(frame) >= spec.min_rows,
            description=f"{len(frame)} usable rows of {len(raw)} (need {spec.min_rows})",
            metadata={"rows": len(frame), "raw_rows": len(raw)},
        )
        bad = {k: v for k, v in invalid.items() if v}
        worst = max(bad.values(), default=0) / max(len(raw), 1)
        yield dg.AssetCheckResult(
            check_name="valid_values",
            asset_key=clean_key,
            passed=worst <= 0.05,
            severity=dg.AssetCheckSeverity.WARN,
            description=", ".join(f"{k}: {v}" for k, v in bad.items()) or "every present value fits its type",
            metadata={f"{k}.invalid": v for k, v in invalid.items()},
        )

    @dg.asset(
        key=training_key,
        ins={"clean": dg.AssetIn(clean_key)},
        description="The clean rows split into train, calibration and holdout "
        + ("by time." if spec.time_column else f"at random (stratified, seed {spec.split.seed})."),
        kinds={"pandas", "parquet"},
        tags={"layer": "training"},
        check_specs=[
            dg.AssetCheckSpec(
                "enough_rows",
                asset=training_key,
                blocking=True,
                description="Every split has rows to learn from.",
            )
        ],
        automation_condition=AFTER_CHECKS,
        **common,
    )
    def training_set(context: dg.AssetExecutionContext, clean: pd.DataFrame):
        from pipelines.tabular_models import SPLITS, split_rows

        frame = split_rows(clean, spec, task)
        counts = {s: int((frame["split"] == s).sum()) for s in SPLITS}
        yield dg.Output(
            frame,
            data_version=dg.DataVersion(content_hash(frame)),
            metadata={**frame_metadata(frame), **{f"rows.{k}": v for k, v in counts.items()}},
        )
        short = [f"{k}: {v}" for k, v in counts.items() if v < MIN_SPLIT_ROWS]
        yield dg.AssetCheckResult(
            check_name="enough_rows",
            asset_key=training_key,
            passed=not short,
            description=f"splits below {MIN_SPLIT_ROWS} rows ({', '.join(short)})"
            if short
            else ", ".join(f"{k}: {v}" for k, v in counts.items()),
            metadata={f"rows.{k}": float(v) for k, v in counts.items()},
        )

    return [raw, clean, training_set]


def tabular_model_asset(spec: TabularSpec, task: TabularTask) -> dg.AssetsDefinition:
    keys = PipelineKeys(spec)
    key, training_key = dg.AssetKey(keys.model(task)), dg.AssetKey(keys.training_set)
    model_name = keys.model_name(task)

    @dg.asset(
        key=key,
        ins={"training_set": dg.AssetIn(training_key)},
        description=f"{task.description} One scikit-learn pipeline (preprocessing and estimator) per candidate, "
        f"the best recalibrated and registered in MLflow as a new version of '{model_name}'.",
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
        from pipelines.tabular_models import train_tabular_model

        candidates = requested_tabular_candidates(spec, task, config)
        try:
            trained, report = train_tabular_model(training_set, spec, task, candidates)
        except ValueError as exc:
            raise dg.Failure(f"training {model_name} failed: {exc}") from exc
        logged = log_tabular_model(
            mlflow_registry, spec, task, trained, report, training_set,
            run_name=f"{task.name}-{context.run_id[:8]}",
            lineage=model_lineage(context, key, training_key),
            requested=bool(config.algorithm),
        )  # fmt: skip
        return registered_model_output(model_name, logged, report)

    return model


def tabular_evaluation_asset(spec: TabularSpec, task: TabularTask) -> dg.AssetsDefinition:
    keys = PipelineKeys(spec)
    key = dg.AssetKey(keys.evaluation(task))
    model_name = keys.model_name(task)
    gates = {
        "beats_baseline": f"Improves {task.promotion.metric} on the no-skill baseline by the spec's margin.",
        "beats_champion": "At least as good as the current champion by the spec's margin.",
        "calibrated": "Calibration error under the limit and prediction sets covering the truth (or intervals) as declared.",
    }

    @dg.asset(
        key=key,
        ins={
            "model": dg.AssetIn(dg.AssetKey(keys.model(task))),
            "training_set": dg.AssetIn(dg.AssetKey(keys.training_set)),
        },
        description="The new version against the no-skill baseline and the current champion on the same holdout, "
        "with metrics per slice; its blocking checks are the promotion gates.",
        kinds={"mlflow"},
        tags={"layer": "evaluation", "task": task.name},
        check_specs=[
            dg.AssetCheckSpec(name, asset=key, blocking=True, description=text)
            for name, text in gates.items()
        ]
        + [
            dg.AssetCheckSpec(
                "slices",
                asset=key,
                blocking=False,
                description="No slice worse than overall by more than the spec's tolerance (warns).",
            )
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
        from pipelines.tabular_evaluation import evaluate_tabular, metric_name

        current = mlflow_registry.champion(model_name)
        champion, champion_version = None, None
        if current is not None and str(current.version) != model["version"]:
            champion_version = str(current.version)
            champion = mlflow_registry.load_python_model(f"models:/{model_name}/{champion_version}")
        candidate = mlflow_registry.load_python_model(model["model_uri"])
        verdict = evaluate_tabular(candidate, training_set, spec, task, champion, champion_version)
        log_evaluation(
            mlflow_registry,
            model_name,
            model["version"],
            model["run_id"],
            verdict.metrics,
            verdict.champion_metrics,
            verdict.gates,
        )
        mlflow_registry.log_metrics(
            model["run_id"],
            {
                f"holdout.{metric_name('slice', name, k)}": v
                for name, found in verdict.slices.items()
                for k, v in found.items()
            },
        )
        result = {
            **model,
            "metrics": verdict.metrics,
            "champion_version": champion_version,
            "champion_metrics": verdict.champion_metrics,
            "gates": {g.name: g.passed for g in verdict.gates},
            "slices": verdict.slices,
        }
        yield dg.Output(
            result,
            metadata={"version": model["version"], **{f"holdout.{k}": v for k, v in verdict.metrics.items()}},
        )
        for gate in verdict.gates:
            yield dg.AssetCheckResult(
                check_name=gate.name,
                asset_key=key,
                passed=gate.passed,
                description=gate.description,
                metadata=gate.metadata,
            )
        check = verdict.slice_check
        yield dg.AssetCheckResult(
            check_name="slices", asset_key=key, passed=check.passed, severity=dg.AssetCheckSeverity.WARN,
            description=check.description, metadata=check.metadata,
        )  # fmt: skip

    return evaluation


def build_tabular_definitions(spec: TabularSpec) -> dg.Definitions:
    """The tabular graph and its two jobs: refresh (a landed file: everything) and train (from the clean rows on)."""
    from dagster_internals.run_retries import no_run_retry_after_a_blocking_check

    keys = PipelineKeys(spec)
    task = spec.tasks[0]
    assets = [
        *_data_assets(spec),
        tabular_model_asset(spec, task),
        tabular_evaluation_asset(spec, task),
        champion_asset(spec, task),
    ]
    assets = [asset.with_hooks({no_run_retry_after_a_blocking_check}) for asset in assets]
    group = dg.AssetSelection.groups(spec.name)
    ingest = dg.AssetSelection.assets(dg.AssetKey(keys.raw), dg.AssetKey(keys.clean))
    refresh = dg.define_asset_job(
        keys.refresh_job,
        selection=group,
        description=f"Read every landing file of {spec.name}, then train, gate and promote.",
    )
    train = dg.define_asset_job(
        keys.train_job,
        selection=group - ingest,
        description=f"Split, train, gate and promote {spec.name} from its clean rows.",
    )
    return dg.Definitions(assets=assets, jobs=[refresh, train])
