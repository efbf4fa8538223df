"""The event_runs sensor against the real RabbitMQ, evaluated as the daemon evaluates it (a real instance)."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import dagster as dg
import pytest

from cli.main import main as mlops
from events.bus import EventPublisher
from events.envelope import make_event
from events.tags import EVENT_ID_TAG, EVENT_TYPE_TAG, TRACE_TAG, partition_range_tags
from pipelines.keys import EVENT_RUNS_SENSOR, PipelineKeys, op_name
from pipelines.spec import load_specs
from resources.events import RabbitEventBus
from sensors.event_runs import MAX_REQUESTS_PER_MESSAGE, consumer_queue
from tests.conftest import port_open
from tests.events.conftest import Platform, drain_dead_letters, publish_raw, queue_depth

pytestmark = pytest.mark.broker

LANDING = "air_quality_landing"
SPECS = load_specs()


def land_file(platform: Platform, start: str, end: str) -> str:
    """A simulated field-device export in the landing area; returns its URI."""
    assert mlops(["land-sample", LANDING, "--start", start, "--end", end]) == 0
    name = f"sample_{start}_{end}.csv"
    return f"{platform.clients.landing.root()}/{LANDING}/{name}"


def publish(platform: Platform, event_type: str, payload: dict, trace_id: str | None = None):
    envelope = make_event(event_type, payload, source="tests", trace_id=trace_id)
    publisher = EventPublisher(platform.url, platform.exchange)
    publisher.publish(envelope)
    publisher.close()
    return envelope


def runs_for(platform: Platform, event_id: str) -> list[dg.DagsterRun]:
    return list(platform.instance.get_runs(filters=dg.RunsFilter(tags={EVENT_ID_TAG: event_id})))


def test_landed_file_becomes_a_refresh_run_over_its_days_acknowledged_once_the_run_exists(platform):
    uri = land_file(platform, "2024-01-01", "2024-01-10")
    platform.tick()  # declares the queue, as the running sensor would have before anything was published
    envelope = publish(platform, "dataset.landed", {"pipeline": LANDING, "uri": uri}, trace_id="trace-landed")

    first = platform.tick()
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert request.run_key == envelope.id
    keys = PipelineKeys(SPECS[LANDING])
    assert request.job_name == keys.refresh_job
    assert request.run_config["ops"] == keys.raw_config(["sample_2024-01-01_2024-01-10.csv"])["ops"]
    assert partition_range_tags("2024-01-01", "2024-01-10").items() <= request.tags.items()
    assert request.tags[TRACE_TAG] == "trace-landed"
    assert request.tags[EVENT_ID_TAG] == envelope.id
    assert request.tags[EVENT_TYPE_TAG] == "dataset.landed"
    assert dg.validate_run_config(platform.defs.resolve_job_def(request.job_name), request.run_config)
    # Not acknowledged: its run does not exist yet.
    assert queue_depth(platform.url, consumer_queue(platform.exchange)) == 1

    run = platform.submit(request)
    second = platform.tick(first.cursor)
    assert second.run_requests == []
    assert "1 acknowledged" in second.skip_message, second.skip_message
    assert queue_depth(platform.url, consumer_queue(platform.exchange)) == 0
    assert [r.run_id for r in runs_for(platform, envelope.id)] == [run.run_id]


def test_a_tick_on_an_empty_queue_waits_for_a_message_and_returns_as_it_arrives(platform):
    uri = land_file(platform, "2024-01-01", "2024-01-03")
    platform.tick()
    waiting = RabbitEventBus(platform.url, "tests", platform.exchange, consume_wait_seconds=4.0)
    published = []
    timer = threading.Timer(
        1.0, lambda: published.append(publish(platform, "dataset.landed", {"pipeline": LANDING, "uri": uri}))
    )
    began = time.monotonic()
    timer.start()
    result = platform.tick(events=waiting)
    took = time.monotonic() - began
    timer.join()
    assert [r.run_key for r in result.run_requests] == [published[0].id]
    assert 1.0 <= took < 3.0, (
        f"the tick returned after {took:.2f} s; the message came at 1 s, the wait is 4 s"
    )

    platform.submit(result.run_requests[0])
    # Acknowledging a message whose run exists does not end the wait; only a run request or the wait does.
    short = RabbitEventBus(platform.url, "tests", platform.exchange, consume_wait_seconds=1.0)
    began = time.monotonic()
    acknowledged = platform.tick(result.cursor, events=short)
    took = time.monotonic() - began
    assert acknowledged.run_requests == [] and "1 acknowledged" in acknowledged.skip_message
    assert 1.0 <= took < 2.5, f"the tick took {took:.2f} s with a 1 s wait"
    assert queue_depth(platform.url, consumer_queue(platform.exchange)) == 0


def test_training_request_becomes_a_train_run_with_the_requested_model_config(platform):
    platform.tick()
    envelope = publish(
        platform,
        "training.requested",
        {
            "pipeline": "air_quality",
            "task": "exceedance",
            "algorithm": "hist_gradient_boosting",
            "params": {"max_iter": 40, "learning_rate": 0.1},
        },
        trace_id="trace-train",
    )
    [request] = platform.tick().run_requests
    assert request.run_key == envelope.id
    spec = SPECS["air_quality"]
    assert request.job_name == PipelineKeys(spec).train_job
    assert (
        request.run_config["ops"]
        == PipelineKeys(spec).model_config(
            spec.task("exceedance"), "hist_gradient_boosting", {"max_iter": 40, "learning_rate": 0.1}
        )["ops"]
    )
    assert request.tags[TRACE_TAG] == "trace-train"
    assert dg.validate_run_config(platform.defs.resolve_job_def(request.job_name), request.run_config)


def test_redelivered_message_starts_no_second_run(platform):
    platform.tick()
    envelope = make_event("training.requested", {"pipeline": "air_quality"}, source="tests")
    publisher = EventPublisher(platform.url, platform.exchange)
    publisher.publish(envelope)
    publisher.publish(envelope)  # an at-least-once producer sending the same message twice

    first = platform.tick()
    assert [r.run_key for r in first.run_requests] == [envelope.id]
    platform.submit(first.run_requests[0])

    second = platform.tick(first.cursor)
    assert second.run_requests == []
    assert queue_depth(platform.url, consumer_queue(platform.exchange)) == 0

    publisher.publish(envelope)  # redelivered long after it was handled
    publisher.close()
    third = platform.tick(second.cursor)
    assert third.run_requests == []
    assert queue_depth(platform.url, consumer_queue(platform.exchange)) == 0
    assert len(runs_for(platform, envelope.id)) == 1


def test_each_invalid_message_is_dead_lettered_with_its_reason_and_the_sensor_goes_on(platform):
    platform.tick()
    url, exchange = platform.url, platform.exchange
    envelope = make_event("training.requested", {"pipeline": "air_quality"}, source="tests").model_dump(
        mode="json"
    )

    def with_(**changes) -> bytes:
        return json.dumps({**envelope, "id": f"bad-{len(changes)}-{sorted(changes)}", **changes}).encode()

    bad = {
        "malformed JSON": (b'{"id": "x", "type": ', "malformed JSON"),
        "unknown type": (with_(type="dataset.deleted"), "unknown event type 'dataset.deleted'"),
        "wrong schema version": (with_(schema_version=2), "unsupported schema_version 2"),
        "unknown pipeline": (with_(payload={"pipeline": "nope"}), "unknown pipeline 'nope'"),
        "invalid params": (
            with_(
                payload={
                    "pipeline": "air_quality",
                    "algorithm": "hist_gradient_boosting",
                    "params": {"max_iter": -3},
                }
            ),
            "invalid params for hist_gradient_boosting",
        ),
        "unknown param": (
            with_(payload={"pipeline": "air_quality", "algorithm": "ridge", "params": {"depth": 3}}),
            "invalid params for ridge",
        ),
        "algorithm not a candidate": (
            with_(payload={"pipeline": "air_quality", "algorithm": "random_forest"}),
            "is not a candidate of air_quality.forecast",
        ),
        "missing landing file": (
            json.dumps(
                {
                    **envelope,
                    "id": "bad-landed",
                    "type": "dataset.landed",
                    "payload": {
                        "pipeline": LANDING,
                        "uri": f"{platform.clients.landing.root()}/{LANDING}/absent.csv",
                    },
                }
            ).encode(),
            "does not exist",
        ),
    }
    for body, _ in bad.values():
        routing_key = "dataset.landed" if b"dataset.landed" in body else "training.requested"
        publish_raw(url, exchange, routing_key, body)
    good = publish(platform, "training.requested", {"pipeline": "air_quality"})

    result = platform.tick()
    assert [r.run_key for r in result.run_requests] == [good.id]
    dead = drain_dead_letters(url, exchange)
    assert len(dead) == len(bad)
    for (body, expected), (dead_body, reason) in zip(bad.values(), dead, strict=True):
        assert dead_body == body
        assert expected in reason
    assert queue_depth(url, consumer_queue(exchange)) == 1  # only the valid one, waiting for its run


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def test_broker_stopped_gives_a_skip_reason_and_the_messages_survive(platform):
    platform.tick()
    envelope = publish(platform, "training.requested", {"pipeline": "air_quality"})
    try:
        _rabbitmqctl("stop_app")
        down = platform.tick()
        assert down.run_requests == []
        assert "broker unavailable" in down.skip_message
    finally:
        _rabbitmqctl("start_app")
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", 5672) and time.monotonic() < deadline:
            time.sleep(0.5)
    back = platform.tick(down.cursor)
    assert [r.run_key for r in back.run_requests] == [envelope.id]


def test_without_a_broker_the_sensor_skips_and_says_why(data_dir):
    from definitions import build_definitions
    from resources.clients import clients_from_settings
    from resources.settings import get_settings

    defs = build_definitions()
    clients = clients_from_settings(get_settings())
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            instance=instance,
            resources={"events": clients.events, "landing": clients.landing},
            definitions=defs,
        ) as context,
    ):
        result = defs.resolve_sensor_def(EVENT_RUNS_SENSOR).evaluate_tick(context)
    assert result.run_requests == []
    assert "no broker configured" in result.skip_message


def test_message_whose_run_never_appears_is_dead_lettered_after_bounded_requests(platform):
    platform.tick()
    envelope = publish(platform, "training.requested", {"pipeline": "air_quality"})
    cursor = None
    for _ in range(MAX_REQUESTS_PER_MESSAGE):
        result = platform.tick(cursor)
        assert [r.run_key for r in result.run_requests] == [envelope.id]
        cursor = result.cursor
    assert platform.tick(cursor).run_requests == []
    [(body, reason)] = drain_dead_letters(platform.url, platform.exchange)
    assert json.loads(body)["id"] == envelope.id
    assert f"requested a run {MAX_REQUESTS_PER_MESSAGE} times" in reason


def test_cli_publishes_an_event_the_sensor_turns_into_a_run(platform, capsys):
    platform.tick()
    assert mlops(["publish", "training.requested", "--payload", "{not json"]) == 2
    assert (
        mlops(
            [
                "publish",
                "training.requested",
                "--payload",
                '{"pipeline": "air_quality", "algorithm": "hist_gradient_boosting", "params": {"max_iter": 30}}',
                "--trace-id",
                "trace-cli",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    [request] = platform.tick().run_requests
    assert request.run_key == printed["id"]
    assert request.tags[TRACE_TAG] == "trace-cli"
    spec = SPECS["air_quality"]
    model_op = op_name(PipelineKeys(spec).model(spec.task("forecast")))
    assert request.run_config["ops"][model_op]["config"]["params"] == {"max_iter": 30}
