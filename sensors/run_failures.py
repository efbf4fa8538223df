"""run_failure_events: announces every failed run as a `run.failed` event, with the run's trace id.

A plain sensor over the instance's run-failure records rather than `@run_failure_sensor`: that one moves
its cursor past a run even when the function raised, so a failure during a broker outage would never be
announced. Here the cursor (the last announced record's storage id) moves only after the broker confirmed,
and each event's id is derived from the run id, so a consumer can drop the rare duplicate.
"""

from __future__ import annotations

import json
import uuid

import dagster as dg

from events.envelope import Envelope, RunFailed, make_event
from events.tags import TRACE_TAG
from pipelines.keys import RUN_FAILURE_SENSOR, pipeline_of_job
from pipelines.spec import PipelineSpec
from resources.events import EventBus
from resources.unavailable import ServiceUnavailable

MAX_FAILURES_PER_TICK = 20
EVENT_NAMESPACE = uuid.UUID("5f0c7d0e-7a39-4c55-9d0e-0e8f4a9f6a11")


def run_failed_event_id(run_id: str) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, f"run.failed/{run_id}"))


def _failure_message(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    records = instance.get_records_for_run(
        run.run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event and event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            return f"step {event.step_key} failed: {error.message.strip() if error else 'unknown error'}"[
                :2000
            ]
    return next(
        (r.event_log_entry.dagster_event.message or "" for r in records if r.event_log_entry.dagster_event),
        "",
    )[:2000]


def _run_failed(
    instance: dg.DagsterInstance, run: dg.DagsterRun, specs: dict[str, PipelineSpec], source: str
) -> Envelope:
    envelope = make_event(
        "run.failed",
        RunFailed(
            run_id=run.run_id,
            job=run.job_name,
            pipeline=pipeline_of_job(run.job_name, specs),
            error=_failure_message(instance, run),
        ),
        source=source,
        trace_id=run.tags.get(TRACE_TAG),
    )
    return envelope.model_copy(update={"id": run_failed_event_id(run.run_id)})


def build_run_failure_sensor(
    specs: dict[str, PipelineSpec], default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED
) -> dg.SensorDefinition:
    @dg.sensor(
        name=RUN_FAILURE_SENSOR,
        minimum_interval_seconds=5,
        default_status=default_status,
        description="Publishes run.failed for every failed run (trace id taken from the run's tags).",
    )
    def run_failure_events(context: dg.SensorEvaluationContext, events: dg.ResourceParam[EventBus]):
        instance = context.instance
        if context.cursor is None:
            # Start from now: failures from before the sensor was switched on are history, not news.
            latest = instance.fetch_run_status_changes(dg.DagsterEventType.RUN_FAILURE, limit=1)
            return dg.SensorResult(
                cursor=json.dumps({"after": latest.cursor if latest.records else None}),
                skip_reason="started watching for failed runs",
            )
        cursor, published = json.loads(context.cursor)["after"], 0
        for _ in range(MAX_FAILURES_PER_TICK):
            # One record per query: its page cursor is exactly "announced up to here".
            page = instance.fetch_run_status_changes(
                dg.DagsterEventType.RUN_FAILURE, limit=1, cursor=cursor, ascending=True
            )
            if not page.records:
                break
            run = instance.get_run_by_id(page.records[0].run_id)
            if run is not None:
                try:
                    events.send(_run_failed(instance, run, specs, events.source))
                except ServiceUnavailable as exc:
                    return dg.SensorResult(
                        cursor=json.dumps({"after": cursor}),
                        skip_reason=f"broker unavailable, {published} announced: {exc}",
                    )
                published += 1
            cursor = page.cursor
        return dg.SensorResult(
            cursor=json.dumps({"after": cursor}),
            skip_reason=f"announced {published} failed run(s)" if published else "no new failed runs",
        )

    return run_failure_events
