"""Run retries under a real dagster-daemon on the shipped instance config (run_retries: max_retries 1):
a run a blocking check failed is not run again; a run that lost a service still is."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import dagster as dg

from definitions import build_definitions
from tests.events.daemon import BIN, REPO, DaemonProcess

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def test_every_platform_asset_carries_the_no_retry_hook():
    defs = build_definitions()
    keys = [spec.key for spec in defs.resolve_all_asset_specs()]
    assert len(keys) > 10
    for key in keys:
        hooks = {hook.name for hook in defs.resolve_assets_def(key).hook_defs}
        assert "no_run_retry_after_a_blocking_check" in hooks, key.to_user_string()


def _launch(daemon: DaemonProcess, workspace: Path, job: str) -> None:
    done = subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-j", job],
        cwd=REPO, env=daemon.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _wait(daemon: DaemonProcess, probe, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; daemon log:\n{daemon.tail()}")


def _finished_run(instance: dg.DagsterInstance, job: str, **tags: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job, statuses=list(FINISHED), tags=tags or None))
    return runs[0] if runs else None


def test_the_daemon_retries_an_outage_but_not_a_failed_gate(tmp_path: Path):
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - python_module:\n      module_name: tests.deploy.retry_jobs\n"
        f"      working_directory: {REPO}\n"
    )
    daemon = DaemonProcess(tmp_path / "dagster", {}, workspace=workspace).start()
    try:
        instance = daemon.instance()
        _launch(daemon, workspace, "promote")
        gated = _wait(daemon, lambda: _finished_run(instance, "promote"), "the gated run to fail")
        assert gated.status == dg.DagsterRunStatus.FAILURE

        _launch(daemon, workspace, "ingest")
        first = _wait(daemon, lambda: _finished_run(instance, "ingest"), "the run that lost S3 to fail")
        assert first.status == dg.DagsterRunStatus.FAILURE
        retried = _wait(
            daemon,
            lambda: _finished_run(instance, "ingest", **{"dagster/parent_run_id": first.run_id}),
            "the retry of the run that lost S3",
        )
        assert retried.status == dg.DagsterRunStatus.SUCCESS

        # The retry daemon handles failures in order: by now it has decided about the gated run too.
        assert instance.get_run_by_id(gated.run_id).tags["dagster/will_retry"] == "false"
        assert not instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": gated.run_id}))
        assert len(instance.get_runs(filters=dg.RunsFilter(job_name="promote"))) == 1
    finally:
        daemon.stop()
