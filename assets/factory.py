"""The asset factory: one declarative spec in, the pipeline's whole asset graph, jobs and schedules out."""

from __future__ import annotations

import dagster as dg

from assets.features import build_feature_assets
from assets.ingestion import build_ingestion_assets
from assets.models import build_task_assets
from dagster_internals.run_retries import no_run_retry_after_a_blocking_check
from pipelines.keys import PipelineKeys
from pipelines.spec import AnySpec, PipelineSpec, SimulatorSource, TabularSpec


def partitions_for(spec: PipelineSpec) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(),
        end_offset=spec.partitions.end_offset_days,
        timezone="UTC",
    )


def build_pipeline_definitions(spec: AnySpec) -> dg.Definitions:
    if isinstance(spec, TabularSpec):
        from assets.tabular import build_tabular_definitions

        return build_tabular_definitions(spec)
    keys = PipelineKeys(spec)
    partitions = partitions_for(spec)
    assets = [*build_ingestion_assets(spec, partitions), *build_feature_assets(spec)]
    for task in spec.tasks:
        assets += build_task_assets(spec, task)
    assets = [asset.with_hooks({no_run_retry_after_a_blocking_check}) for asset in assets]

    group = dg.AssetSelection.groups(spec.name)
    ingest = dg.AssetSelection.assets(dg.AssetKey(keys.raw), dg.AssetKey(keys.clean))
    outputs = dg.AssetSelection.assets(*[dg.AssetKey(path) for path in keys.outputs])
    ingest_job = dg.define_asset_job(
        keys.ingest_job,
        selection=ingest,
        description=f"Ingest and clean days of {spec.name} (select a partition range for a backfill).",
    )
    train_job = dg.define_asset_job(
        keys.train_job,
        selection=group - ingest,
        description=f"Features, training set, models, evaluation, promotion and outputs of {spec.name}.",
    )
    refresh_job = dg.define_asset_job(
        keys.refresh_job,
        selection=group,
        description=f"Ingest days of {spec.name} (a partition or a range) and everything downstream in one run.",
    )
    forecast_job = dg.define_asset_job(
        keys.forecast_job,
        selection=outputs,
        description=f"Refresh {spec.name}'s outputs from the latest features with the current champions.",
    )
    schedules = [
        dg.ScheduleDefinition(
            name=keys.forecast_schedule,
            job=forecast_job,
            cron_schedule="15 * * * *",
            default_status=dg.DefaultScheduleStatus.STOPPED,
        )
    ]
    if isinstance(spec.source, SimulatorSource):
        schedules.append(
            dg.build_schedule_from_partitioned_job(
                ingest_job, name=keys.ingest_schedule, hour_of_day=1, minute_of_hour=0
            )
        )
    return dg.Definitions(
        assets=assets, jobs=[ingest_job, refresh_job, train_job, forecast_job], schedules=schedules
    )
