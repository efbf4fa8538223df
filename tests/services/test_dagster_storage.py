"""The services profile's Dagster storage (dagster_internals.storage.py) against the machine's PostgreSQL:
a pool instead of a connection per statement group, and a pooled connection the server dropped costs no
failed operation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dagster_internals.storage import PooledPostgresStorage
from deploy.env import load_env
from deploy.postgres import ensure_database, postgres_admin
from tests.conftest import port_open, require
from tests.throwaway import drop_databases

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
PG_ENV = {k: v for k, v in load_env().items() if k.startswith("DAGSTER_")}


def _admin(sql: str, params: tuple = ()) -> list[tuple]:
    with postgres_admin(PG_ENV) as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def sessions(database: str) -> int:
    """Connections ever opened to the database (PostgreSQL ≥ 14 counts them)."""
    return _admin("SELECT sessions FROM pg_stat_database WHERE datname = %s", (database,))[0][0]


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dg.DagsterInstance, str]]:
    require(port_open(PG_ENV["DAGSTER_PG_HOST"], int(PG_ENV["DAGSTER_PG_PORT"])), "PostgreSQL")
    database = f"mlops_storage_{uuid.uuid4().hex[:10]}"
    env = {**PG_ENV, "DAGSTER_PG_DB": database}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ensure_database(env, database)
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "deploy" / "dagster" / "dagster.yaml").read_text())
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        yield instance, database
    finally:
        instance.dispose()
        drop_databases(env, [database])


def test_the_services_instance_pools_its_connections(instance):
    dagster_instance, database = instance
    assert dagster_instance.get_ref().storage_data.class_name == PooledPostgresStorage.__name__

    partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01")

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def daily() -> None: ...

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run(), deps=[daily])
    def cleaned() -> None: ...

    job = dg.Definitions(assets=[daily, cleaned]).resolve_implicit_global_asset_job_def()
    tags = {
        "dagster/asset_partition_range_start": "2024-01-01",
        "dagster/asset_partition_range_end": "2024-03-01",
    }
    before = sessions(database)
    run = dagster_instance.create_run_for_job(job, tags=tags)
    opened = sessions(database) - before
    planned = dagster_instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    assert len(planned) == 2 * 61  # one per asset and day, each written on its own
    # dagster-postgres's NullPool opens a connection per statement group: ~2 per planned event.
    assert opened <= 10, f"{opened} connections for one run over 61 days"


def test_a_connection_the_server_dropped_is_replaced_before_use(instance):
    dagster_instance, database = instance
    first = dagster_instance.create_run_for_job(dg.GraphDefinition(name="noop").to_job())
    killed = _admin(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    )[0][0]
    assert killed >= 1  # the pool held at least one connection open
    # The next operations run on fresh connections instead of failing on the dead ones.
    assert dagster_instance.get_run_by_id(first.run_id) is not None
    second = dagster_instance.create_run_for_job(dg.GraphDefinition(name="noop").to_job())
    assert {r.run_id for r in dagster_instance.get_runs()} == {first.run_id, second.run_id}
