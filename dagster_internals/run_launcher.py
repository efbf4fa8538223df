"""Dagster run launcher that starts each run worker as a fork of a warm process (both dagster.yaml name it).

Dagster's DefaultRunLauncher asks the code server to start a run; the code server *spawns* a fresh
interpreter that imports Dagster, pandas and the code location before the run can start, for every run
(bench/event_latency.py shows where a run's launch goes). Here the launching process (the daemon) keeps a
multiprocessing forkserver that has imported those libraries once; a run worker is a fork of it that
imports only the project's own modules (from disk, so a changed pipeline is picked up by the next run) and
executes the run as `dagster api execute_run` does.

The worker needs the launching host and the code location's environment, as local processes have (the
stack and `mlops up` run the daemon beside the code). Terminating a run is cross-process: the webserver
marks it CANCELING and the worker's own cancellation thread interrupts it. The run monitoring daemon
asks `check_run_worker_health`, so a worker killed from outside fails its run within a poll interval.

Private Dagster API used here (tests/contract/test_run_launcher.py checks each): `dagster._cli.api.
_execute_run_command_body`, `start_run_cancellation_thread`, `capture_interrupts`, the `RunLauncher`
base class and `ConfigurableClass`.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes import ConfigurableClass, ConfigurableClassData

WORKER_TAG = "mlops/run_worker"
"""`host:pid` of a run's worker process."""

DEFAULT_PRELOAD = ("dagster", "dagster_postgres", "pandas", "pyarrow.parquet", "pika", "pydantic")
"""Libraries every run worker imports; not the project's modules, which may change between runs."""


def run_worker(run_id: str, instance_ref, home: str) -> None:
    """Body of a forked run worker: what `dagster api execute_run` does, plus the cancellation thread that
    lets another process (the webserver) terminate the run by marking it CANCELING. `home` is the
    launching instance's directory: the forkserver's environment is the one it started with, and an
    instance config may name `DAGSTER_HOME` (the local dagster.yaml's storage does)."""
    os.environ["DAGSTER_HOME"] = home
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.execution.run_cancellation_thread import start_run_cancellation_thread
    from dagster._core.instance import DagsterInstance
    from dagster._utils.interrupts import capture_interrupts

    with capture_interrupts(), DagsterInstance.from_ref(instance_ref) as instance:
        thread, stop = start_run_cancellation_thread(instance, run_id)
        try:
            exit_code = _execute_run_command_body(
                run_id, instance, lambda _event: None, set_exit_code_on_failure=True
            )
        finally:
            stop.set()
            thread.join()
    sys.exit(exit_code)


class ForkserverRunLauncher(RunLauncher, ConfigurableClass):
    """Launches runs as forks of a warm forkserver in the launching process (the daemon)."""

    def __init__(self, preload_modules: Sequence[str] = DEFAULT_PRELOAD, inst_data=None) -> None:
        self._inst_data = inst_data
        self._preload_modules = list(preload_modules)
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        from dagster import Array, Field

        return {
            "preload_modules": Field(
                Array(str),
                is_required=False,
                default_value=list(DEFAULT_PRELOAD),
                description="Modules the warm process imports once for every run worker.",
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> ForkserverRunLauncher:
        return cls(preload_modules=config_value["preload_modules"], inst_data=inst_data)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if run.job_code_origin is None:
            raise ValueError(f"run {run.run_id} has no code origin to load its job from")
        forkserver = multiprocessing.get_context("forkserver")
        # Only the first call in a process starts the server; later calls do not change its preloads.
        forkserver.set_forkserver_preload(self._preload_modules)
        worker = forkserver.Process(
            target=run_worker,
            args=(run.run_id, self._instance.get_ref(), self._instance.root_directory),
            name=f"dagster-run-{run.run_id}",
        )
        worker.start()
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: f"{socket.gethostname()}:{worker.pid}"})

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        host, _, pid = run.tags.get(WORKER_TAG, "").rpartition(":")
        if not pid:
            return CheckRunHealthResult(WorkerStatus.NOT_FOUND, f"run has no {WORKER_TAG} tag")
        if host != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"the worker runs on {host}, not here")
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone")
        except PermissionError:
            pass  # it exists, under another user
        return CheckRunHealthResult(WorkerStatus.RUNNING)
