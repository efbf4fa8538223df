"""run_failure_events: a failed run is announced as `run.failed` with its trace id, once the broker confirms."""

from __future__ import annotations

import pytest

from events.tags import TRACE_TAG
from pipelines.keys import RUN_FAILURE_SENSOR, PipelineKeys
from pipelines.spec import load_specs
from sensors.run_failures import run_failed_event_id
from tests.events.conftest import Platform, Subscriber

pytestmark = pytest.mark.broker
KEYS = PipelineKeys(load_specs()["air_quality"])


def fail_a_run(platform: Platform, trace_id: str) -> str:
    """Training with an empty lake fails at its first step, as it would in production."""
    result = platform.defs.resolve_job_def(KEYS.train_job).execute_in_process(
        instance=platform.instance, tags={TRACE_TAG: trace_id}, raise_on_error=False
    )
    assert not result.success
    return result.run_id


def test_failed_run_is_announced_with_its_trace_id_exactly_once(platform):
    subscriber = Subscriber(platform.url, platform.exchange, ["run.failed"])
    try:
        started = platform.tick(sensor=RUN_FAILURE_SENSOR)
        assert "started watching" in started.skip_message
        run_id = fail_a_run(platform, "trace-failed")

        announced = platform.tick(started.cursor, sensor=RUN_FAILURE_SENSOR)
        assert "announced 1 failed run" in announced.skip_message
        again = platform.tick(announced.cursor, sensor=RUN_FAILURE_SENSOR)
        assert again.skip_message == "no new failed runs"

        [event] = subscriber.received()
        assert event["type"] == "run.failed"
        assert event["id"] == run_failed_event_id(run_id)
        assert event["trace_id"] == "trace-failed"
        assert event["payload"]["run_id"] == run_id
        assert event["payload"]["job"] == KEYS.train_job
        assert event["payload"]["pipeline"] == "air_quality"
        assert event["payload"]["error"].startswith("step ")
    finally:
        subscriber.close()
