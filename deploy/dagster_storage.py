"""Dagster's PostgreSQL storage with a small connection pool (deploy/dagster/dagster.yaml names it).

dagster-postgres opens a new PostgreSQL connection for every statement group (SQLAlchemy's NullPool), so
that short-lived processes hold nothing open; only dagster-webserver switches to a pool. The daemon and
the run workers are long enough lived to pay for that: creating one sensor run over a 60-day file (144
planned events) opened 311 connections, 1.6 s of connection set-up in the daemon alone plus a server
backend started for each on the same two cores. Here every process keeps up to POOL_SIZE connections
open (more in bursts, closed after use), checks a pooled connection before using it (a restarted server
costs no failed operation) and recycles connections hourly.
"""

from __future__ import annotations

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

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
