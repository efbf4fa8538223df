"""A real `dagster-daemon` on a temporary instance, for end-to-end tests and the latency benchmark.

Started as the leader of its own process group, so stopping it by its PID also stops the code server and
run workers it spawned (via `deploy.supervisor.stop_groups`), and nothing else."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Literal
from unittest import mock

import dagster as dg
import yaml

from deploy.env import load_env
from deploy.postgres import ensure_database
from deploy.supervisor import stop_groups
from events.bus import connect
from resources.unavailable import ServiceUnavailable
from tests.throwaway import drop_databases

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"


class DaemonProcess:
    """A daemon on the shipped instance config: the local dagster.yaml (SQLite under `home`), or with
    `storage="postgres"` the services profile's deploy/dagster/dagster.yaml on a fresh PostgreSQL database
    of the machine's server (dropped by `stop`). Optionally a shorter queued-run dequeue interval, and
    another workspace than the platform's (e.g. a test's own code location)."""

    def __init__(
        self,
        home: Path,
        env: dict[str, str],
        dequeue_interval_seconds: int | None = None,
        storage: Literal["sqlite", "postgres"] = "sqlite",
        workspace: Path = REPO / "workspace.yaml",
    ) -> None:
        self.home = home
        self.workspace = workspace
        self.dequeue_interval_seconds = dequeue_interval_seconds
        self.storage = storage
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(home)}
        if storage == "postgres":
            stack_env = load_env()
            self.env.update(
                {k: v for k, v in stack_env.items() if k.startswith("DAGSTER_")},
                DAGSTER_HOME=str(home),
                DAGSTER_PG_DB=f"mlops_daemon_{uuid.uuid4().hex[:10]}",
            )
        self.log_path = home / "daemon.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> DaemonProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        shipped = REPO / ("deploy/dagster/dagster.yaml" if self.storage == "postgres" else "dagster.yaml")
        config = yaml.safe_load(shipped.read_text())
        if self.dequeue_interval_seconds is not None:
            config["run_coordinator"]["config"]["dequeue_interval_seconds"] = self.dequeue_interval_seconds
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(config))
        if self.storage == "postgres":
            ensure_database(self.env, self.env["DAGSTER_PG_DB"])
            # The instance this process opens (`instance()`) reads the same variables as the daemon's.
            os.environ.update({k: v for k, v in self.env.items() if k.startswith("DAGSTER_PG_")})
        # Create the storage before the daemon starts: the daemon and another process creating a fresh
        # instance at the same moment leave it with two schema heads (see deploy/services.py).
        self.instance().dispose()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def instance(self) -> dg.DagsterInstance:
        from dagster._core.instance.ref import InstanceRef

        # the local dagster.yaml's storage is under $DAGSTER_HOME
        with mock.patch.dict(os.environ, DAGSTER_HOME=str(self.home)):
            return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.home)))

    def wait_for_queue(self, url: str, queue: str, timeout: float = 240.0) -> None:
        """Until the sensor's first tick declared its queue: the daemon loaded the code and consumes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"dagster-daemon exited: {self.tail()}")
            try:
                connection = connect(url)
                try:
                    connection.channel().queue_declare(queue, passive=True)
                    return
                except Exception:  # noqa: BLE001 - NOT_FOUND closes the channel; not there yet
                    pass
                finally:
                    if connection.is_open:
                        connection.close()
            except ServiceUnavailable:
                pass
            time.sleep(1.0)
        raise TimeoutError(f"the event sensor never declared {queue}: {self.tail()}")

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None:
            stop_groups({self.process.pid: 20.0}, reap=self.process.poll)
            self.process = None
        if self.storage == "postgres":
            drop_databases(self.env, [self.env["DAGSTER_PG_DB"]])
