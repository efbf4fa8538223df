"""Run retries skip a run failed by a blocking check and keep retrying others (dagster_internals/run_retries.py).

Dagster tags a failed run `dagster/will_retry` at the moment it fails, from the run's tags and the instance's
run_retries settings: these tests read Dagster's own decision on an instance with retries enabled."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from dagster_internals.run_retries import (
    RETRY_ON_STEP_FAILURE_TAG,
    is_blocking_check_failure,
    no_run_retry_after_a_blocking_check,
)
from tests.contract.dagster_api import attribute, changed

USED_BY = "dagster_internals/run_retries.py (no run retry after a blocking check failed)"
WILL_RETRY = "dagster/will_retry"


@dg.asset(
    check_specs=[dg.AssetCheckSpec("gate", asset="gated", blocking=True)],
    hooks={no_run_retry_after_a_blocking_check},
)
def gated():
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="gate", passed=False, description="worse than the champion")


@dg.asset(hooks={no_run_retry_after_a_blocking_check})
def unreachable() -> int:
    raise ConnectionError("S3 endpoint http://127.0.0.1:1 is unreachable")


@dg.asset(hooks={no_run_retry_after_a_blocking_check})
def downstream(gated: int) -> int:
    return gated


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides={"run_retries": {"enabled": True, "max_retries": 1}}) as instance:
        yield instance


def _failed_run(instance: dg.DagsterInstance, *assets) -> dg.DagsterRun:
    result = dg.materialize(list(assets), instance=instance, raise_on_error=False)
    assert not result.success
    return instance.get_run_by_id(result.run_id)


def test_dagster_still_reads_the_tag_when_a_run_fails():
    tags = attribute("dagster._core.storage.tags", "RETRY_ON_ASSET_OR_OP_FAILURE_TAG", USED_BY)
    if tags != RETRY_ON_STEP_FAILURE_TAG:
        changed(f"the run retry tag: {tags!r} instead of {RETRY_ON_STEP_FAILURE_TAG!r}", USED_BY)
    attribute("dagster._core.errors", "DagsterAssetCheckFailedError", USED_BY)


def test_a_run_failed_by_a_blocking_check_will_not_be_retried(instance: dg.DagsterInstance):
    run = _failed_run(instance, gated, downstream)

    if run.tags.get(RETRY_ON_STEP_FAILURE_TAG) != "false":
        changed("how a blocking check fails its step: the failure hook did not recognise it", USED_BY)
    assert run.tags[WILL_RETRY] == "false"


def test_a_run_failed_for_another_reason_is_still_retried(instance: dg.DagsterInstance):
    run = _failed_run(instance, unreachable)

    assert run.tags[RETRY_ON_STEP_FAILURE_TAG] == "true"
    assert run.tags[WILL_RETRY] == "true"


def test_a_run_with_both_failures_is_retried(instance: dg.DagsterInstance):
    run = _failed_run(instance, gated, downstream, unreachable)

    assert run.tags[WILL_RETRY] == "true"


def test_only_a_blocking_check_failure_counts_as_one():
    assert not is_blocking_check_failure(ConnectionError("S3 is away"))
    assert not is_blocking_check_failure(None)
