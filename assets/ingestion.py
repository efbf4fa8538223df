"""raw and clean: daily-partitioned readings as the source gave them, then cleaned onto an hourly grid.

Both run a partition range in one run (single-run backfills), and carry their data checks in the same
step so that a failing blocking check stops everything downstream in that run.
"""

import datetime as dt
from fnmatch import fnmatch
from typing import Any

import dagster as dg
import pandas as pd

from assets.metadata import frame_metadata
from pipelines.cleaning import clean_readings
from pipelines.keys import PipelineKeys
from pipelines.parsing import parse_source_file
from pipelines.quality import (
    check_no_duplicates,
    check_row_count,
    check_schema,
    check_value_ranges,
    missing_share_by_day,
)
from pipelines.simulator import simulate_readings, station_ids
from pipelines.spec import AnySpec, FilesSource, PipelineSpec
from resources.failures import failing_as_dagster
from resources.lake_store import content_hash
from resources.object_store import ObjectStore

S3_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL)
# Yesterday's readings are expected by 03:00 UTC: a materialization since midnight, when the day closed.
RAW_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 3 * * *", lower_bound_delta=dt.timedelta(hours=3))


class RawConfig(dg.Config):
    """Which landing files to read; empty means every file under the pipeline's landing folder."""

    files: list[str] = []


def landing_files(landing: ObjectStore, spec: AnySpec, only: list[str]) -> list[tuple[str, bytes]]:
    """The names and bytes of the landing files to read: `only` these, or every file matching the spec."""
    assert spec.source.kind == "files"
    folder = landing.path(spec.source.prefix or spec.name)
    with landing.reporting_unavailable():
        if only:
            paths = [folder / name.rsplit("/", 1)[-1] for name in only]
        elif folder.exists():
            paths = sorted(
                (p for p in folder.iterdir() if any(fnmatch(p.name, pat) for pat in spec.source.patterns)),
                key=lambda p: p.name,
            )
        else:
            paths = []
        return [(p.name, p.read_bytes()) for p in paths]


def read_source(
    spec: PipelineSpec, landing: ObjectStore, start: pd.Timestamp, end: pd.Timestamp, files: list[str]
) -> pd.DataFrame:
    """The source's readings in [start, end): simulated, or parsed from landing files."""
    if not isinstance(spec.source, FilesSource):
        return simulate_readings(
            station_ids(spec.source.stations), start, end, spec.source.seed, spec.source.scenarios
        )
    ts = spec.timestamp_column
    frames = []
    for name, content in landing_files(landing, spec, files):
        parsed = parse_source_file(content, name, spec)
        # Concatenate only files with rows in this window, so a file that lost a column is reported as such.
        rows = parsed[(parsed[ts] >= start) & (parsed[ts] < end)]
        if len(rows):
            frames.append(rows)
    if not frames:
        return pd.DataFrame(columns=[spec.station_column, ts])
    return pd.concat(frames, ignore_index=True)


def _window(context: dg.AssetExecutionContext) -> tuple[pd.Timestamp, pd.Timestamp, int]:
    window = context.partition_time_window
    start, end = pd.Timestamp(window.start).tz_convert("UTC"), pd.Timestamp(window.end).tz_convert("UTC")
    return start, end, max(1, int((end - start) / pd.Timedelta(days=1)))


def _partition_version(context: dg.AssetExecutionContext, frame: pd.DataFrame) -> dg.DataVersion | None:
    """The content hash as data version for a one-day run; a range run leaves each day's hash to the lake
    (one data version would wrongly be stamped on every day of the range)."""
    return dg.DataVersion(content_hash(frame)) if len(context.partition_keys) == 1 else None


def _frame_metadata(context: dg.AssetExecutionContext, frame: pd.DataFrame) -> dict[str, Any]:
    """A one-day run describes its frame; in a range run the lake gives each day its own row count,
    object and hash (output metadata would stamp the range's figures, preview included, on every day)."""
    return frame_metadata(frame) if len(context.partition_keys) == 1 else {}


def missing_shares(frame: pd.DataFrame, spec: PipelineSpec) -> dict[str, dict[str, float]]:
    """Per day (partition key), the share of hours each declared column is missing."""
    shares = missing_share_by_day(frame, spec)
    return {
        day.strftime("%Y-%m-%d"): {f"{c}.missing_share": v for c, v in row.items()}
        for day, row in zip(shares.index, shares.to_dict("records"), strict=True)
    }


def build_ingestion_assets(
    spec: PipelineSpec, partitions: dg.DailyPartitionsDefinition
) -> list[dg.AssetsDefinition]:
    keys = PipelineKeys(spec)
    raw_key, clean_key = dg.AssetKey(keys.raw), dg.AssetKey(keys.clean)
    common = dict(
        group_name=spec.name,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        owners=[spec.owner],
        io_manager_key="lake_io_manager",
        metadata={"partition_expr": spec.timestamp_column},
        retry_policy=S3_RETRY,
    )
    source_kind = "simulator" if not isinstance(spec.source, FilesSource) else "files"

    @dg.asset(
        key=raw_key,
        description=f"Readings exactly as the {source_kind} source gave them, typed, one partition per day; never edited.",
        kinds={"pandas", "parquet"},
        tags={"layer": "raw", "source": source_kind},
        freshness_policy=RAW_FRESHNESS,
        check_specs=[
            dg.AssetCheckSpec(
                "schema", asset=raw_key, blocking=True, description="Declared columns present and typed."
            ),
            dg.AssetCheckSpec(
                "value_ranges", asset=raw_key, blocking=True, description="Unusable readings under the limit."
            ),
            dg.AssetCheckSpec(
                "row_count", asset=raw_key, blocking=True, description="Enough rows per station and day."
            ),
        ],
        **common,
    )
    @failing_as_dagster
    def raw(context: dg.AssetExecutionContext, config: RawConfig, landing: dg.ResourceParam[ObjectStore]):
        start, end, days = _window(context)
        frame = read_source(spec, landing, start, end, config.files)
        yield dg.Output(
            frame, data_version=_partition_version(context, frame), metadata=_frame_metadata(context, frame)
        )
        for name, (passed, text, meta) in {
            "schema": check_schema(frame, spec),
            "value_ranges": check_value_ranges(frame, spec),
            "row_count": check_row_count(frame, spec, days),
        }.items():
            yield dg.AssetCheckResult(
                check_name=name, asset_key=raw_key, passed=passed, description=text, metadata=meta
            )

    @dg.asset(
        key=clean_key,
        ins={"raw": dg.AssetIn(raw_key)},
        description="Sentinels and out-of-range values made missing, duplicates dropped, one row per station and "
        f"hour, gaps up to {spec.max_gap_hours} h interpolated.",
        kinds={"pandas", "parquet"},
        tags={"layer": "clean"},
        check_specs=[
            dg.AssetCheckSpec(
                "no_duplicates", asset=clean_key, blocking=True, description="One row per (station, hour)."
            ),
        ],
        automation_condition=dg.AutomationCondition.eager()
        & dg.AutomationCondition.all_deps_blocking_checks_passed(),
        **common,
    )
    def clean(context: dg.AssetExecutionContext, raw: pd.DataFrame):
        start, end, _ = _window(context)
        frame = clean_readings(raw, spec, start, end)
        passed, text, meta = check_no_duplicates(frame, spec)
        for day, shares in missing_shares(frame, spec).items():
            context.add_asset_metadata(shares, partition_key=day)
        yield dg.Output(
            frame, data_version=_partition_version(context, frame), metadata=_frame_metadata(context, frame)
        )
        yield dg.AssetCheckResult(
            check_name="no_duplicates", asset_key=clean_key, passed=passed, description=text, metadata=meta
        )

    return [raw, clean]
