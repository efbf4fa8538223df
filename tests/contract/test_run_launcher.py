"""The private Dagster API behind dagster_internals/run_launcher.py (the forkserver run launcher)."""

from __future__ import annotations

from dagster._core.launcher import RunLauncher

from dagster_internals.run_launcher import ForkserverRunLauncher
from tests.contract.dagster_api import attribute, changed, parameters

USED_BY = "dagster_internals/run_launcher.py (each run worker is a fork of a warm process)"


def test_a_run_worker_can_execute_a_run_as_dagster_api_execute_run_does():
    execute = attribute("dagster._cli.api", "_execute_run_command_body", USED_BY)
    parameters(execute, ["run_id", "instance", "write_stream_fn", "set_exit_code_on_failure"], USED_BY)
    start = attribute(
        "dagster._core.execution.run_cancellation_thread", "start_run_cancellation_thread", USED_BY
    )
    parameters(start, ["instance", "run_id"], USED_BY)
    attribute("dagster._utils.interrupts", "capture_interrupts", USED_BY)


def test_the_launcher_implements_every_abstract_method_of_dagsters_run_launcher():
    for name in ("CheckRunHealthResult", "LaunchRunContext", "RunLauncher", "WorkerStatus"):
        attribute("dagster._core.launcher", name, USED_BY)
    for name in ("ConfigurableClass", "ConfigurableClassData"):
        attribute("dagster._serdes", name, USED_BY)
    missing = sorted(RunLauncher.__abstractmethods__ - set(vars(ForkserverRunLauncher)))
    if missing:
        changed(f"`RunLauncher`: new abstract method(s) {missing}", USED_BY)
    for name in ("launch_run", "terminate", "check_run_worker_health", "supports_check_run_worker_health"):
        attribute(RunLauncher, name, USED_BY)
    attribute(attribute("dagster._core.launcher", "LaunchRunContext", USED_BY), "dagster_run", USED_BY)
    for status in ("RUNNING", "FAILED", "NOT_FOUND", "UNKNOWN"):
        attribute(attribute("dagster._core.launcher", "WorkerStatus", USED_BY), status, USED_BY)
