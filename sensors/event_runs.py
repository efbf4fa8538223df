"""event_runs: the sensor that turns `dataset.landed` and `training.requested` messages into Dagster runs.

Files dropped into the landing bucket arrive as MinIO bucket notifications (routing key `s3.object-created`)
and are translated into `dataset.landed` first (events/minio.py).

Delivery is at least once, effects exactly once. Each tick opens one connection to a durable queue bound
to the platform exchange and takes at most MAX_MESSAGES_PER_TICK messages, unacknowledged:

- a message that fails validation is copied to the dead-letter exchange with the reason in a header,
  then acknowledged;
- a valid message whose run already exists (a run tagged with its event id) is acknowledged;
- any other valid message becomes a RunRequest with run key = message id and is *not* acknowledged.

Closing the connection at the end of the tick returns unacknowledged messages to the queue. The daemon
submits the tick's RunRequests before it starts the next tick, so on the next tick the message comes back,
its run exists, and it is acknowledged. A redelivered message finds its run and starts no second one (and
Dagster itself skips a run key this sensor already submitted). If the run never appears — the daemon could
not submit it — the message is requested again each tick and dead-lettered after MAX_REQUESTS_PER_MESSAGE
tries, counted in the cursor, so a poison message cannot block the queue forever.

Latency: Dagster's sensor daemon evaluates sensors on a 5 s loop, whatever `minimum_interval_seconds` says,
so a message would wait 2.5 s on average for the next tick. A tick that finds the queue empty therefore
waits up to `consume_wait_seconds` (4 s by default, `MLOPS_EVENTS_CONSUME_WAIT_SECONDS`) for a message
the broker pushes, and returns as soon as one becomes a run request (acknowledging or dead-lettering does
not end the wait): the tick stays short and bounded, and the sensor listens most of the time instead of
looking every 5 s.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import dagster as dg

from events.envelope import InvalidEvent, parse_event
from events.minio import OBJECT_CREATED, landed_event
from events.queue import Delivery, EventQueue
from events.tags import EVENT_ID_TAG
from pipelines.keys import EVENT_RUNS_SENSOR
from pipelines.spec import PipelineSpec
from resources.events import EventBus, RabbitEventBus
from resources.object_store import ObjectStore
from resources.unavailable import ServiceUnavailable
from sensors.event_requests import landing_folders, run_request_for

# OBJECT_CREATED: MinIO's notifications of files dropped into the landing bucket (events/minio.py)
ROUTING_KEYS = ["dataset.landed", "training.requested", OBJECT_CREATED]
MAX_MESSAGES_PER_TICK = 20
MIN_INTERVAL_SECONDS = 1
MAX_REQUESTS_PER_MESSAGE = 20


def consumer_queue(exchange: str) -> str:
    return f"{exchange}.dagster-runs"


def run_for_event(instance: dg.DagsterInstance, event_id: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={EVENT_ID_TAG: event_id}), limit=1)
    return runs[0] if runs else None


def build_event_runs_sensor(
    specs: dict[str, PipelineSpec],
    jobs: list,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """The sensor for these pipelines; `jobs` are their refresh and train jobs (the runs it may request)."""

    @dg.sensor(
        name=EVENT_RUNS_SENSOR,
        jobs=jobs,
        minimum_interval_seconds=MIN_INTERVAL_SECONDS,
        default_status=default_status,
        description=f"Consumes {', '.join(ROUTING_KEYS)} from RabbitMQ: one run per message (run key = "
        "message id), acknowledged once the run exists; invalid messages are dead-lettered with the reason.",
    )
    def event_runs(
        context: dg.SensorEvaluationContext,
        events: dg.ResourceParam[EventBus],
        landing: dg.ResourceParam[ObjectStore],
    ):
        if not isinstance(events, RabbitEventBus):
            return dg.SkipReason(
                "no broker configured: events go to a file in this profile (set MLOPS_EVENTS_BACKEND=rabbitmq "
                "or MLOPS_PROFILE=services to consume RabbitMQ)"
            )
        requested_before: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        requested: dict[str, int] = {}
        run_requests: list[dg.RunRequest] = []
        outcomes: Counter[str] = Counter()
        queue = consumer_queue(events.exchange)
        try:
            with EventQueue(events.url, events.exchange, queue, ROUTING_KEYS) as consumer:
                # Until a run is requested (the daemon submits it when the tick returns) or the wait is
                # used up: messages that are only acknowledged or dead-lettered do not end the tick.
                deadline = time.monotonic() + events.consume_wait_seconds
                while not run_requests and (handled := sum(outcomes.values())) < MAX_MESSAGES_PER_TICK:
                    batch = consumer.fetch(
                        MAX_MESSAGES_PER_TICK - handled, wait=max(0.0, deadline - time.monotonic())
                    )
                    if not batch:
                        break
                    for delivery in batch:
                        outcomes[
                            _handle(
                                context, consumer, delivery, specs, landing, requested_before, requested,
                                run_requests,
                            )
                        ] += 1  # fmt: skip
        except ServiceUnavailable as exc:
            if not run_requests:
                return dg.SkipReason(f"broker unavailable, will retry: {exc}")
            # The requests already built are valid; their messages went back to the queue with the connection.
            context.log.warning(f"broker lost mid-tick after {len(run_requests)} request(s): {exc}")
        summary = (
            f"{queue}: " + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
            if outcomes
            else f"no messages on {queue}"
        )
        if outcomes:
            context.log.info(summary)
        return dg.SensorResult(
            run_requests=run_requests,
            cursor=json.dumps(requested, sort_keys=True),
            skip_reason=None if run_requests else summary,
        )

    return event_runs


def for_executor(context: dg.SensorEvaluationContext, request: dg.RunRequest) -> dg.RunRequest:
    """Without its `execution` config when the job's executor is not Dagster's default (the Kubernetes
    code location runs every step as a pod with the k8s_job_executor, whose config has no `in_process`)."""
    repository = context.repository_def
    if repository is None or "execution" not in (request.run_config or {}):
        return request
    if repository.get_job(request.job_name).executor_def is dg.multi_or_in_process_executor:
        return request
    run_config = {k: v for k, v in request.run_config.items() if k != "execution"}
    return request.with_replaced_attrs(run_config=run_config)


def _handle(
    context: dg.SensorEvaluationContext,
    consumer: EventQueue,
    delivery: Delivery,
    specs: dict[str, PipelineSpec],
    landing: ObjectStore,
    requested_before: dict[str, int],
    requested: dict[str, int],
    run_requests: list[dg.RunRequest],
) -> str:
    try:
        if delivery.routing_key == OBJECT_CREATED:
            envelope = landed_event(delivery.body, landing_folders(specs), landing.access_key_id)
            if envelope is None:
                consumer.ack(delivery)
                return "ignored (the platform's own write)"
        else:
            envelope = parse_event(delivery.body)
        if envelope.type != delivery.routing_key and delivery.routing_key != OBJECT_CREATED:
            raise InvalidEvent(
                f"event type {envelope.type!r} was published with routing key {delivery.routing_key!r}"
            )
        if run_for_event(context.instance, envelope.id) is not None:
            consumer.ack(delivery)
            return "acknowledged"
        if envelope.id in requested:
            return "duplicate(s) left for the next tick"  # acknowledged once the first copy's run exists
        run_request = for_executor(context, run_request_for(envelope, specs, landing))
    except InvalidEvent as exc:
        context.log.warning(f"dead-lettering message {delivery.message_id}: {exc.reason}")
        consumer.dead_letter(delivery, exc.reason)
        return "dead-lettered"
    except Exception as exc:  # noqa: BLE001 - e.g. the landing store is down: not the message's fault
        if isinstance(exc, ServiceUnavailable) and exc.service == "rabbitmq":
            raise  # the tick ends; unacknowledged messages return to the queue
        context.log.error(f"message {delivery.message_id} left on the queue: {type(exc).__name__}: {exc}")
        return f"left on the queue after {type(exc).__name__}"
    tries = requested_before.get(envelope.id, 0) + 1
    if tries > MAX_REQUESTS_PER_MESSAGE:
        reason = (
            f"requested a run {MAX_REQUESTS_PER_MESSAGE} times but none was created (see the sensor's ticks)"
        )
        consumer.dead_letter(delivery, reason)
        return "dead-lettered"
    requested[envelope.id] = tries
    run_requests.append(run_request)
    return "run request(s)"
