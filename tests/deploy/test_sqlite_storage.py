"""The local profile's Dagster storage (shipped dagster.yaml): Dagster's SQLite files, pooled connections."""

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from dagster_internals.storage import PooledSqliteEventLogStorage

REPO = Path(__file__).resolve().parents[2]
DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01")


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def daily(context: dg.AssetExecutionContext) -> None:
    context.log.info(f"{len(context.partition_keys)} days")


def _materialize_days(instance: dg.DagsterInstance, first: str, last: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [daily],
        instance=instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )


def test_events_are_written_to_dagsters_own_files_and_read_back_without_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert _materialize_days(instance, "2024-01-01", "2024-01-31").success
        storage = instance.event_log_storage
        for day in range(1, 21):  # twenty more runs: twenty more database files
            assert _materialize_days(instance, f"2024-02-{day:02d}", f"2024-02-{day:02d}").success
        assert len(storage._engines) <= PooledSqliteEventLogStorage.MAX_ENGINES
        runs = instance.get_runs()
    # The same home without the storage section: Dagster's stock SQLite storage reads everything.
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as stock:
        assert type(stock.event_log_storage) is not PooledSqliteEventLogStorage
        assert len(stock.get_runs()) == len(runs) == 21
        materialized = stock.get_materialized_partitions(daily.key)
        assert len(materialized) == 31 + 20
        first_run = stock.all_logs(runs[-1].run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        assert len(first_run) == 31
