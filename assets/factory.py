"""The asset factory: one declarative spec in, the pipeline's whole asset graph, jobs and schedules out."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets.features import build_feature_assets
from assets.ingestion import build_ingestion_assets
from assets.models import build_task_assets
from dagster_internals.run_retries import no_run_retry_after_a_blocking_check
from pipelines.spec import PipelineSpec, SimulatorSource


def partitions_for(spec: PipelineSpec) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(),
        end_offset=spec.partitions.end_offset_days,
        timezone="UTC",
    )


def ingest_job_name(spec: PipelineSpec) -> str:
    return f"{spec.name}_ingest"


def train_job_name(spec: PipelineSpec) -> str:
    return f"{spec.name}_train"


def refresh_job_name(spec: PipelineSpec) -> str:
    return f"{spec.name}_refresh"


def forecast_job_name(spec: PipelineSpec) -> str:
    return f"{spec.name}_forecast"


def build_pipeline_definitions(spec: PipelineSpec) -> dg.Definitions:
    partitions = partitions_for(spec)
    assets = [*build_ingestion_assets(spec, partitions), *build_feature_assets(spec)]
    for task in spec.tasks:
        assets += build_task_assets(spec, task)
    assets = [asset.with_hooks({no_run_retry_after_a_blocking_check}) for asset in assets]

    group = dg.AssetSelection.groups(spec.name)
    ingest = dg.AssetSelection.assets(dg.AssetKey([spec.name, "raw"]), dg.AssetKey([spec.name, "clean"]))
    outputs = dg.AssetSelection.assets(*[dg.AssetKey([spec.name, t.output_asset]) for t in spec.tasks])
    ingest_job = dg.define_asset_job(
        ingest_job_name(spec),
        selection=ingest,
        partitions_def=partitions,
        description=f"Ingest and clean days of {spec.name} (select a partition range for a backfill).",
    )
    train_job = dg.define_asset_job(
        train_job_name(spec),
        selection=group - ingest,
        description=f"Features, training set, models, evaluation, promotion and outputs of {spec.name}.",
    )
    refresh_job = dg.define_asset_job(
        refresh_job_name(spec),
        selection=group,
        partitions_def=partitions,
        description=f"Ingest days of {spec.name} (a partition or a range) and everything downstream in one run.",
    )
    forecast_job = dg.define_asset_job(
        forecast_job_name(spec),
        selection=outputs,
        description=f"Refresh {spec.name}'s outputs from the latest features with the current champions.",
    )
    schedules = [
        dg.ScheduleDefinition(
            name=f"{spec.name}_hourly_forecasts",
            job=forecast_job,
            cron_schedule="15 * * * *",
            default_status=dg.DefaultScheduleStatus.STOPPED,
        )
    ]
    if isinstance(spec.source, SimulatorSource):
        schedules.append(dg.build_schedule_from_partitioned_job(ingest_job, hour_of_day=1, minute_of_hour=0))

    freshness = [
        *dg.build_time_partition_freshness_checks(
            assets=[dg.AssetKey([spec.name, "raw"])], deadline_cron="0 3 * * *"
        ),
        *dg.build_last_update_freshness_checks(
            assets=[dg.AssetKey([spec.name, t.output_asset]) for t in spec.tasks],
            lower_bound_delta=dt.timedelta(hours=spec.checks.freshness_hours),
        ),
    ]
    return dg.Definitions(
        assets=assets,
        asset_checks=freshness,
        jobs=[ingest_job, refresh_job, train_job, forecast_job],
        schedules=schedules,
    )
