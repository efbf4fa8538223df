"""The image's entry point (deploy/roles.py): a role per command, a health probe per role, and the
one-shot `migrate` job against the real PostgreSQL."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psycopg2
import pytest

from deploy import roles
from tests.conftest import port_open, require
from tests.throwaway import drop_databases, free_port_block

REPO = Path(__file__).resolve().parents[2]


def test_a_command_that_is_no_role_runs_as_given():
    done = subprocess.run(
        [sys.executable, "-m", "deploy.roles", sys.executable, "-c", "print('as given')"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "as given"
    usage = subprocess.run([sys.executable, "-m", "deploy.roles"], cwd=REPO, capture_output=True, text=True)
    assert usage.returncode == 2 and "code-server" in usage.stderr


def test_health_probes_the_role_the_container_was_started_with(tmp_path, monkeypatch):
    role_file = tmp_path / "role"
    monkeypatch.setattr(roles, "ROLE_FILE", role_file)
    assert roles.main(["health"]) == 0  # a one-shot job (no role recorded) is never unhealthy
    port = free_port_block(1)
    monkeypatch.setattr(roles, "API_PORT", str(port))
    monkeypatch.setitem(
        roles.ROLES,
        "api",
        roles.Role(roles.ROLES["api"].command, lambda: roles.http_ok(f"http://127.0.0.1:{port}/healthz")),
    )
    role_file.write_text("api")
    assert roles.main(["health"]) == 1  # nothing answers yet

    class Healthz(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert roles.main(["health"]) == 0
    finally:
        server.shutdown()


def test_the_mlflow_and_api_roles_build_their_database_urls_from_the_postgres_settings(monkeypatch):
    for name, value in {
        "DAGSTER_PG_HOST": "postgres", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "mlops",
        "DAGSTER_PG_PASSWORD": "p@ss word", "MLFLOW_PG_DB": "mlops_mlflow", "API_PG_DB": "mlops_api",
        "MLOPS_MLFLOW_BUCKET": "mlflow",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    command = roles.ROLES["mlflow"].command()
    assert (
        command[command.index("--backend-store-uri") + 1]
        == "postgresql://mlops:p%40ss%20word@postgres:5432/mlops_mlflow"
    )
    assert command[command.index("--artifacts-destination") + 1] == "s3://mlflow"
    api = roles.ROLES["api"].env()
    assert api["MLOPS_API_DATABASE_URL"].endswith("@postgres:5432/mlops_api")
    assert api["MLOPS_API_ROOT_PATH"] == "/api"


@pytest.mark.services
def test_migrate_creates_the_databases_and_brings_both_schemas_up_to_date(tmp_path):
    require(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": f"mlops_test_migrate_dagster_{suffix}",
        "MLFLOW_PG_DB": f"mlops_test_migrate_mlflow_{suffix}",
        "API_PG_DB": f"mlops_test_migrate_api_{suffix}",
    }  # fmt: skip
    (tmp_path / "dagster.yaml").write_text(
        (REPO / "deploy" / "compose" / "dagster" / "dagster.yaml").read_text()
    )
    try:
        for attempt in (1, 2):  # the second run finds everything in place and changes nothing
            done = subprocess.run(
                [sys.executable, "-m", "deploy.roles", "migrate"],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, f"attempt {attempt}:\n{done.stdout}\n{done.stderr}"
        tables = {}
        for database in (env["DAGSTER_PG_DB"], env["MLFLOW_PG_DB"], env["API_PG_DB"]):
            conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=database)
            try:
                with conn.cursor() as cur:
                    cur.execute(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                    )
                    tables[database] = {row[0] for row in cur.fetchall()}
            finally:
                conn.close()
        assert {"runs", "event_logs"} <= tables[env["DAGSTER_PG_DB"]]
        assert {"experiments", "registered_models", "alembic_version"} <= tables[env["MLFLOW_PG_DB"]]
        assert env["API_PG_DB"] in tables  # the API creates its own tables on start
    finally:
        drop_databases(env, (env["DAGSTER_PG_DB"], env["MLFLOW_PG_DB"], env["API_PG_DB"]))
