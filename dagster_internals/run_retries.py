"""Run retries skip runs that failed because a blocking check failed: that failure is deterministic, a
retry would fail the same way after redoing the whole run. Runs that failed for anything else (a service
away longer than the step's RetryPolicy, a run worker that died) are still retried as dagster.yaml says.

Dagster decides at the moment a run fails, from the run's `dagster/retry_on_asset_or_op_failure` tag
(instance default: `run_retries.retry_on_asset_or_op_failure`). A failure hook on every asset sets that tag
as each step fails: `false` for a blocking check failure, `true` for any other step failure, which wins
within the run, so a run that also lost a step to an outage is retried. Tags pass to re-executions, so the
run that set `true` is named in OTHER_STEP_FAILURE_TAG. Telling a blocking check failure apart takes
Dagster's private error class; tests/contract/test_run_retries.py checks it.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.errors import DagsterAssetCheckFailedError

RETRY_ON_STEP_FAILURE_TAG = "dagster/retry_on_asset_or_op_failure"
OTHER_STEP_FAILURE_TAG = "mlops/step_failed_not_by_a_check"


def is_blocking_check_failure(error: BaseException | None) -> bool:
    """The step failed only because a blocking check on its asset failed."""
    return isinstance(error, DagsterAssetCheckFailedError)


@dg.failure_hook(name="no_run_retry_after_a_blocking_check")
def no_run_retry_after_a_blocking_check(context: dg.HookContext) -> None:
    instance, run_id = context.instance, context.run_id
    if not is_blocking_check_failure(context.op_exception):
        instance.add_run_tags(run_id, {RETRY_ON_STEP_FAILURE_TAG: "true", OTHER_STEP_FAILURE_TAG: run_id})
        return
    run = instance.get_run_by_id(run_id)
    if run is not None and run.tags.get(OTHER_STEP_FAILURE_TAG) != run_id:
        context.log.info(
            "a blocking check failed: a retry would fail the same way, so this run is not retried"
        )
        instance.add_run_tags(run_id, {RETRY_ON_STEP_FAILURE_TAG: "false"})
