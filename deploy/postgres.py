"""The PostgreSQL server the stack uses (the machine's own): connection URLs and creating databases."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import psycopg2
from psycopg2 import sql

from deploy.env import StackError


@contextlib.contextmanager
def postgres_admin(env: Mapping[str, str]) -> Iterator[Any]:
    """A cursor on the server's `postgres` database in autocommit mode (CREATE/DROP DATABASE)."""
    try:
        conn = psycopg2.connect(
            host=env["DAGSTER_PG_HOST"],
            port=int(env["DAGSTER_PG_PORT"]),
            user=env["DAGSTER_PG_USER"],
            password=env.get("DAGSTER_PG_PASSWORD") or None,
            dbname="postgres",
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        raise StackError(
            f"PostgreSQL at {env['DAGSTER_PG_HOST']}:{env['DAGSTER_PG_PORT']} is not reachable: {exc}"
        ) from exc
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def ensure_database(env: Mapping[str, str], name: str) -> None:
    """Create a PostgreSQL database unless it exists (CREATE DATABASE has no IF NOT EXISTS)."""
    with postgres_admin(env) as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def postgres_url(env: Mapping[str, str], database: str) -> str:
    password = env.get("DAGSTER_PG_PASSWORD")
    auth = quote(env["DAGSTER_PG_USER"]) + (f":{quote(password)}" if password else "")
    return f"postgresql://{auth}@{env['DAGSTER_PG_HOST']}:{env['DAGSTER_PG_PORT']}/{database}"
