"""run_failure_events: a failed run is announced as `run.failed` with its trace id, once the broker confirms."""

from __future__ import annotations

import pytest

from assets.models import TRACE_TAG
from sensors.run_failures import run_failed_event_id
from tests.events.conftest import Platform, Subscriber

pytestmark = pytest.mark.broker


def fail_a_run(platform: Platform, trace_id: str) -> str:
    """Training with an empty lake fails at its first step, as it would in production."""
    result = platform.defs.resolve_job_def("air_quality_train").execute_in_process(
        instance=platform.instance, tags={TRACE_TAG: trace_id}, raise_on_error=False
    )
    assert not result.success
    return result.run_id


def test_failed_run_is_announced_with_its_trace_id_exactly_once(platform):
    subscriber = Subscriber(platform.url, platform.exchange, ["run.failed"])
    try:
        started = platform.tick(sensor="run_failure_events")
        assert "started watching" in started.skip_message
        run_id = fail_a_run(platform, "trace-failed")

        announced = platform.tick(started.cursor, sensor="run_failure_events")
        assert "announced 1 failed run" in announced.skip_message
        again = platform.tick(announced.cursor, sensor="run_failure_events")
        assert again.skip_message == "no new failed runs"

        [event] = subscriber.received()
        assert event["type"] == "run.failed"
        assert event["id"] == run_failed_event_id(run_id)
        assert event["trace_id"] == "trace-failed"
        assert event["payload"]["run_id"] == run_id
        assert event["payload"]["job"] == "air_quality_train"
        assert event["payload"]["pipeline"] == "air_quality"
        assert event["payload"]["error"].startswith("step ")
    finally:
        subscriber.close()
