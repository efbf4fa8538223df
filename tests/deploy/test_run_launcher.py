"""The forkserver run launcher on a real SQLite instance configured by the shipped dagster.yaml."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher import WorkerStatus

from dagster_internals.run_launcher import WORKER_TAG, ForkserverRunLauncher
from tests.deploy import jobs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # the shipped storage lives under $DAGSTER_HOME
    return tmp_path


@pytest.fixture
def instance(home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        yield instance


def launch(instance: dg.DagsterInstance, job: dg.JobDefinition) -> str:
    run = instance.create_run_for_job(
        job_def=job, job_code_origin=dg.reconstructable(job).get_python_origin()
    )
    instance.launch_run(run.run_id, workspace=None)  # type: ignore[arg-type]  # this launcher needs none
    return run.run_id


def wait_for(
    instance: dg.DagsterInstance, run_id: str, statuses: set, timeout: float = 60.0
) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in statuses:
            return run
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} is {run.status if run else None}, not in {statuses}")


def worker_pid(run: dg.DagsterRun) -> int:
    return int(run.tags[WORKER_TAG].rpartition(":")[2])


def test_the_shipped_instances_launch_runs_with_the_forkserver_launcher(instance: dg.DagsterInstance) -> None:
    assert isinstance(instance.run_launcher, ForkserverRunLauncher)


def test_a_run_executes_in_a_worker_forked_from_the_warm_process(instance: dg.DagsterInstance) -> None:
    run_id = launch(instance, jobs.quick)

    run = wait_for(instance, run_id, {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE})

    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["test/pid"] == str(worker_pid(run)) != str(os.getpid())
    assert run.tags["test/pandas_preloaded"] == "True"


def test_terminating_from_another_process_cancels_the_run(home: Path, instance: dg.DagsterInstance) -> None:
    run_id = launch(instance, jobs.slow)
    run = wait_for(instance, run_id, {dg.DagsterRunStatus.STARTED})

    # The webserver's instance: its own launcher, which never launched this run.
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as webserver:
        assert webserver.run_launcher.terminate(run_id)

    run = wait_for(instance, run_id, {dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE}, timeout=20)
    assert run.status == dg.DagsterRunStatus.CANCELED
    assert not webserver.run_launcher.terminate(run_id)  # finished: nothing to terminate


def test_a_worker_killed_from_outside_is_reported_failed(instance: dg.DagsterInstance) -> None:
    run_id = launch(instance, jobs.slow)
    run = wait_for(instance, run_id, {dg.DagsterRunStatus.STARTED})
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING

    os.kill(worker_pid(run), signal.SIGKILL)

    deadline = time.monotonic() + 10
    while (health := instance.run_launcher.check_run_worker_health(run)).status == WorkerStatus.RUNNING:
        assert time.monotonic() < deadline, "the killed worker still looks alive"
        time.sleep(0.1)
    assert health.status == WorkerStatus.FAILED
    assert str(worker_pid(run)) in (health.msg or "")
