"""The private Dagster API behind dagster_internals/storage.py (pooled PostgreSQL and SQLite storages)."""

from __future__ import annotations

from pathlib import Path

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster_postgres import DagsterPostgresStorage

from tests.contract.dagster_api import attribute, calls, parameters

SQLITE = "dagster_internals/storage.py's PooledSqliteEventLogStorage (the local instance's event log)"
POSTGRES = "dagster_internals/storage.py's PooledPostgresStorage (the services instance's storage)"


def test_the_sqlite_event_log_still_opens_every_connection_through_connect(tmp_path: Path):
    attribute(
        "dagster._core.storage.event_log.sqlite.sqlite_event_log", "SQLITE_BUSY_TIMEOUT_SECONDS", SQLITE
    )
    attribute("dagster._core.storage.sqlite_storage", "_event_logs_directory", SQLITE)
    parameters(SqliteEventLogStorage._connect, ["shard"], SQLITE)
    parameters(SqliteEventLogStorage.conn_string_for_shard, ["shard_name"], SQLITE)
    parameters(SqliteEventLogStorage._initdb, ["engine"], SQLITE)
    for method in ("has_table", "wipe", "dispose"):
        attribute(SqliteEventLogStorage, method, SQLITE)
    calls(SqliteEventLogStorage.run_connection, "self._connect(", SQLITE)
    calls(SqliteEventLogStorage.index_connection, "self._connect(", SQLITE)
    storage = SqliteEventLogStorage(str(tmp_path))
    try:
        for name in ("_initialized_dbs", "_db_lock"):
            attribute(storage, name, SQLITE)
    finally:
        storage.dispose()


def test_the_sqlite_storage_keeps_its_event_log_in_one_attribute(tmp_path: Path):
    attribute(DagsterSqliteStorage, "from_local", SQLITE)
    storage = DagsterSqliteStorage.from_local(str(tmp_path))
    try:
        attribute(storage, "_event_log_storage", SQLITE)
    finally:
        storage.dispose()


def test_the_postgres_storages_keep_their_engines_in_one_attribute():
    for name in ("create_pg_engine", "get_token_provider_from_config", "pg_url_from_config"):
        attribute("dagster_postgres.utils", name, POSTGRES)
    parameters(
        DagsterPostgresStorage.__init__, ["postgres_url", "should_autocreate_tables", "inst_data"], POSTGRES
    )
    for storage_class in ("PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage"):
        cls = attribute("dagster_postgres", storage_class, POSTGRES)
        calls(cls.__init__, "self._engine = create_pg_engine(", POSTGRES)
    calls(DagsterPostgresStorage.__init__, "self._run_storage", POSTGRES)
    calls(DagsterPostgresStorage.__init__, "self._event_log_storage", POSTGRES)
    calls(DagsterPostgresStorage.__init__, "self._schedule_storage", POSTGRES)
