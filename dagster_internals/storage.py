"""Dagster's storages with their connections kept: PostgreSQL for the services profile
(deploy/dagster/dagster.yaml), SQLite for the local one (dagster.yaml); see each class.

PostgreSQL: dagster-postgres opens a new connection for every statement group (SQLAlchemy's NullPool), so
that short-lived processes hold nothing open; only dagster-webserver switches to a pool. The daemon and the
run workers live long enough for that to cost more than it saves: a sensor run over a landed file plans an
event per partition and asset, each with its own connection set-up and server backend on the same cores
(bench/event_latency.py). Here every process keeps up to POOL_SIZE connections open (more in bursts,
closed after use), checks a pooled connection before using it (a restarted server costs no failed
operation) and recycles connections hourly.

Private Dagster API used here (tests/contract/test_storage.py checks each): the storages' `_engine`
attributes and `_connect`, `_initdb`, `_initialized_dbs`, `_db_lock`, `conn_string_for_shard` of the
SQLite event log, `SQLITE_BUSY_TIMEOUT_SECONDS` and `_event_logs_directory`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

POOL_SIZE = 2
MAX_OVERFLOW = 8
POOL_RECYCLE_SECONDS = 3600


class PooledPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` whose run, event-log and schedule storages share the same pool settings."""

    def __init__(
        self, postgres_url: str, should_autocreate_tables: bool = True, inst_data=None, token_provider=None
    ):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            if not hasattr(storage, "_engine"):  # the attribute optimize_for_webserver replaces, too
                raise TypeError(f"{type(storage).__name__} has no engine to pool: dagster-postgres changed")
            storage._engine.dispose()
            storage._engine = create_pg_engine(
                postgres_url,
                token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                pool_recycle=POOL_RECYCLE_SECONDS,
                pool_pre_ping=True,
            )

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value
    ) -> PooledPostgresStorage:
        return cls(
            pg_url_from_config(config_value),
            config_value.get("should_autocreate_tables", True),
            inst_data,
            token_provider=get_token_provider_from_config(config_value),
        )


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log, keeping an engine (and its pooled connection) per database file.

    The stock storage builds a SQLAlchemy engine, opens the file and disposes of both for every
    operation, twice per asset event (the run's file and the cross-run index), and checks whether a table
    exists with yet another engine each time; a run over a range of daily partitions writes events for
    every day. Here the engines of the most recently used MAX_ENGINES files stay open. A transaction
    commits with `synchronous=NORMAL`, which in WAL mode syncs the log at checkpoints instead of at every
    commit: a crash of the process loses nothing; a power cut may lose the last events, never the database.
    """

    MAX_ENGINES = 16

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine (called under `_db_lock`); a forked process starts with none of its parent's."""
        if self._engines_pid != os.getpid():
            for engine in self._engines.values():
                engine.dispose(close=False)
            self._engines.clear()
            self._engines_pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        url, connect_args = self.conn_string_for_shard(shard), {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        if shard not in self._initialized_dbs:  # creating tables takes a second connection: not pooled
            once = create_engine(url, poolclass=NullPool, connect_args=connect_args)
            self._initdb(once)
            once.dispose()
            self._initialized_dbs.add(shard)
        engine = create_engine(url, pool_size=1, max_overflow=0, connect_args=connect_args)
        sa.event.listen(engine, "connect", _sqlite_synchronous_normal)
        self._engines[shard] = engine
        while len(self._engines) > self.MAX_ENGINES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def has_table(self, table_name: str) -> bool:
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)  # tables are only ever added
        return table_name in self._tables

    def _dispose_engines(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._dispose_engines()  # before the files go
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._dispose_engines()


def _sqlite_synchronous_normal(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PooledSqliteStorage(DagsterSqliteStorage):
    """`DagsterSqliteStorage` (the local profile's instance, same files) with the pooled event log above."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage.dispose()
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
