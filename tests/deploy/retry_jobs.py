"""A code location for the run-retry test under a real daemon: one job a blocking check fails, one whose
first attempt loses a service (its retry, a run with a parent, succeeds)."""

import dagster as dg

from dagster_internals.run_retries import no_run_retry_after_a_blocking_check

HOOKS = {no_run_retry_after_a_blocking_check}


@dg.asset(check_specs=[dg.AssetCheckSpec("beats_champion", asset="candidate", blocking=True)], hooks=HOOKS)
def candidate():
    yield dg.Output(1)
    yield dg.AssetCheckResult(
        check_name="beats_champion", passed=False, description="worse than the champion"
    )


@dg.asset(hooks=HOOKS)
def promoted(candidate: int) -> int:
    return candidate


@dg.asset(hooks=HOOKS)
def landed_file(context: dg.AssetExecutionContext) -> int:
    if context.run.parent_run_id is None:
        raise ConnectionError("S3 endpoint http://127.0.0.1:1 is unreachable")
    return 1


defs = dg.Definitions(
    assets=[candidate, promoted, landed_file],
    jobs=[
        dg.define_asset_job("promote", selection=[candidate, promoted]),
        dg.define_asset_job("ingest", selection=[landed_file]),
    ],
)
