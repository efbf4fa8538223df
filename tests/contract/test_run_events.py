"""The private Dagster API behind dagster_internals/run_events.py: a run's step events, as a logger sees
them, for `mlops materialize`'s progress view."""

from __future__ import annotations

import dagster as dg

from dagster_internals.run_events import StepEvent, step_events_logger
from tests.contract.dagster_api import changed

USED_BY = "dagster_internals/run_events.py (the progress view of `mlops materialize`)"


class ServiceUnavailable(RuntimeError):
    pass


@dg.asset(check_specs=[dg.AssetCheckSpec("schema", asset="raw", blocking=True)])
def raw():
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="schema", passed=True)


@dg.asset(check_specs=[dg.AssetCheckSpec("beats_champion", asset="evaluation", blocking=True)])
def evaluation(raw: int):
    yield dg.Output(raw)
    yield dg.AssetCheckResult(check_name="beats_champion", passed=False, description="MAE 3.1 > champion 2.9")


@dg.asset
def champion(evaluation: int) -> int:
    return evaluation


@dg.asset(retry_policy=dg.RetryPolicy(max_retries=1))
def registry() -> int:
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as exc:
        raise ServiceUnavailable("MLflow tracking server at http://127.0.0.1:1 is unreachable") from exc


def _events() -> list[StepEvent]:
    events: list[StepEvent] = []
    job = dg.define_asset_job("all", selection=[raw, evaluation, champion, registry])
    defs = dg.Definitions(assets=[raw, evaluation, champion, registry], jobs=[job])
    resolved = defs.resolve_job_def("all").with_logger_defs({"steps": step_events_logger(events.append)})
    with dg.instance_for_test() as instance:
        resolved.execute_in_process(
            instance=instance, run_config={"loggers": {"steps": {"config": {}}}}, raise_on_error=False
        )
    return events


def test_a_logger_sees_each_steps_start_end_checks_and_errors():
    events = _events()
    if not events:
        changed("how loggers receive events: no event reached the logger as `record.dagster_meta`", USED_BY)
    seen = {(e.kind, e.step) for e in events}
    expected = {
        ("started", "raw"), ("succeeded", "raw"), ("check", "raw"),
        ("started", "evaluation"), ("check", "evaluation"), ("failed", "evaluation"),
        ("started", "registry"), ("retrying", "registry"), ("failed", "registry"),
    }  # fmt: skip
    if not expected <= seen:
        changed(f"the step events a run logs: missing {sorted(expected - seen)}", USED_BY)
    assert ("started", "champion") not in seen  # abandoned after its upstream failed: no event at all

    succeeded = next(e for e in events if e.kind == "succeeded" and e.step == "raw")
    assert succeeded.seconds is not None and succeeded.seconds >= 0

    checks = {e.check.name: e.check for e in events if e.check is not None}
    assert checks["schema"].passed and checks["schema"].asset == "raw" and checks["schema"].blocking
    gate = checks["beats_champion"]
    assert (gate.passed, gate.blocking) == (False, True)
    assert gate.description == "MAE 3.1 > champion 2.9"

    gated = next(e for e in events if e.kind == "failed" and e.step == "evaluation")
    if not gated.failed_by_check:
        changed(
            "how a blocking check fails its step: the step error is not DagsterAssetCheckFailedError", USED_BY
        )
    lost = next(e for e in events if e.kind == "failed" and e.step == "registry")
    assert not lost.failed_by_check
    # The error that names the service, not Dagster's wrappers around it nor the socket error below it.
    assert lost.error == "ServiceUnavailable: MLflow tracking server at http://127.0.0.1:1 is unreachable"
