"""The platform image's entry point: its command names the role a container plays (`docker run IMAGE api`).

    code-server  Dagster code location (`dagster code-server start`, gRPC on 4000; reloads definitions)
    webserver    Dagster UI and GraphQL under /dagster (3000)
    daemon       schedules, sensors, the run queue, run monitoring
    api          the prediction API (8000)
    app          the analyst app, Streamlit under /app (8501)
    mlflow       MLflow tracking server, PostgreSQL backend, artifacts proxied to S3 (5000), Prometheus metrics
    exporter     the platform's state for Prometheus (`mlops exporter`, 9108)
    migrate      one-shot: create the databases when missing, upgrade Dagster's and MLflow's schemas
    buckets      one-shot: the lake, landing and MLflow buckets on any S3 endpoint (Compose's MinIO job does more)
    health       the Docker HEALTHCHECK: probes the role this container was started with
    <anything>   run as a command (`docker run IMAGE mlops materialize --days 30`)

Ports are the container's own (Compose maps nothing but nginx); database URLs are built from the
DAGSTER_PG_* variables, as in the process stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.env import BIN_DIR, REPO_DIR
from deploy.nginx import API_PREFIX, DAGSTER_PREFIX
from deploy.postgres import ensure_database, postgres_url
from deploy.services import command_ok, ensure_buckets, http_ok

ROLE_FILE = Path("/tmp/mlops-role")
WORKSPACE = REPO_DIR / "deploy" / "compose" / "dagster" / "workspace.yaml"
CODE_SERVER_PORT = "4000"
WEBSERVER_PORT = "3000"
API_PORT = "8000"
APP_PORT = "8501"
MLFLOW_PORT = "5000"
EXPORTER_PORT = "9108"
MLFLOW_METRICS_DIR = "/tmp/mlflow-metrics"  # its workers' pooled Prometheus metrics (--expose-prometheus)
APP_PREFIX = "app"


@dataclass(frozen=True)
class Role:
    command: Callable[[], list[str]]
    healthy: Callable[[], bool]
    env: Callable[[], dict[str, str]] = dict  # set for the process, unless the container sets it already


def _mlflow_command() -> list[str]:
    env = os.environ
    return [
        str(BIN_DIR / "mlflow"), "server",
        "--backend-store-uri", postgres_url(env, env["MLFLOW_PG_DB"]),
        "--artifacts-destination", f"s3://{env['MLOPS_MLFLOW_BUCKET']}",
        "--host", "0.0.0.0", "--port", MLFLOW_PORT,
        "--workers", env.get("MLFLOW_WORKERS", "2"),
        "--expose-prometheus", MLFLOW_METRICS_DIR,
    ]  # fmt: skip


def _api_env() -> dict[str, str]:
    return {
        "MLOPS_API_DATABASE_URL": postgres_url(os.environ, os.environ["API_PG_DB"]),
        "MLOPS_API_ROOT_PATH": API_PREFIX,
    }


ROLES: dict[str, Role] = {
    "code-server": Role(
        lambda: [
            str(BIN_DIR / "dagster"),
            "code-server",
            "start",
            "-h",
            "0.0.0.0",
            "-p",
            CODE_SERVER_PORT,
            "-m",
            "definitions",
            "-d",
            str(REPO_DIR),
        ],
        lambda: command_ok(
            [str(BIN_DIR / "dagster"), "api", "grpc-health-check", "-p", CODE_SERVER_PORT], os.environ
        ),
    ),
    "webserver": Role(
        lambda: [
            str(BIN_DIR / "dagster-webserver"),
            "-h",
            "0.0.0.0",
            "-p",
            WEBSERVER_PORT,
            "-w",
            str(WORKSPACE),
            "--path-prefix",
            DAGSTER_PREFIX,
        ],
        lambda: http_ok(f"http://127.0.0.1:{WEBSERVER_PORT}{DAGSTER_PREFIX}/server_info"),
    ),
    "daemon": Role(
        lambda: [str(BIN_DIR / "dagster-daemon"), "run", "-w", str(WORKSPACE)],
        lambda: command_ok([str(BIN_DIR / "dagster-daemon"), "liveness-check"], os.environ),
    ),
    "api": Role(
        lambda: [str(BIN_DIR / "mlops"), "serve", "--host", "0.0.0.0", "--port", API_PORT],
        lambda: http_ok(f"http://127.0.0.1:{API_PORT}/healthz"),
        _api_env,
    ),
    "app": Role(
        lambda: [
            str(BIN_DIR / "streamlit"),
            "run",
            str(REPO_DIR / "ui" / "server.py"),
            "--server.address",
            "0.0.0.0",
            "--server.port",
            APP_PORT,
            "--server.baseUrlPath",
            APP_PREFIX,
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        lambda: http_ok(f"http://127.0.0.1:{APP_PORT}/{APP_PREFIX}/_stcore/health"),
    ),
    "mlflow": Role(
        _mlflow_command,
        lambda: http_ok(f"http://127.0.0.1:{MLFLOW_PORT}/health"),
        lambda: {"PROMETHEUS_MULTIPROC_DIR": MLFLOW_METRICS_DIR},
    ),
    "exporter": Role(
        lambda: [
            str(BIN_DIR / "mlops"),
            "exporter",
            "--host",
            "0.0.0.0",
            "--port",
            EXPORTER_PORT,
            "--dagster-url",
            f"http://dagster-webserver:{WEBSERVER_PORT}{DAGSTER_PREFIX}",
        ],  # fmt: skip
        lambda: http_ok(f"http://127.0.0.1:{EXPORTER_PORT}/metrics"),
    ),
}


def migrate() -> int:
    """Create the three databases if missing, then bring Dagster's and MLflow's schemas up to date."""
    env = os.environ
    for database in (env["DAGSTER_PG_DB"], env["MLFLOW_PG_DB"], env["API_PG_DB"]):
        ensure_database(env, database)
        print(f"database {database}: ready", flush=True)
    for step in (
        [str(BIN_DIR / "dagster"), "instance", "migrate"],
        [str(BIN_DIR / "mlflow"), "db", "upgrade", postgres_url(env, env["MLFLOW_PG_DB"])],
    ):
        print(f"$ {' '.join(step[:3])}", flush=True)
        if subprocess.run(step, check=False).returncode != 0:
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    role, rest = args[0], args[1:]
    if role == "health":
        started = ROLE_FILE.read_text().strip() if ROLE_FILE.exists() else ""
        return 0 if started not in ROLES or ROLES[started].healthy() else 1
    if role == "migrate":
        return migrate()
    if role == "buckets":
        ensure_buckets(os.environ)
        return 0
    env = dict(os.environ)
    if role in ROLES:
        ROLE_FILE.write_text(role)
        command = [*ROLES[role].command(), *rest]
        env = {**ROLES[role].env(), **env}
    else:
        command = args
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main())
