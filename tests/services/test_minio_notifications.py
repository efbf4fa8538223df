"""A file dropped into the landing bucket with a plain S3 client, announced the way MinIO's bucket
notification announces it (deploy/compose: s3:ObjectCreated → the platform exchange), becomes exactly one
refresh run of its pipeline: real S3 server, real RabbitMQ, the stack's PostgreSQL instance."""

from __future__ import annotations

import uuid

import boto3
import dagster as dg
import pytest

from definitions import build_definitions
from events.bus import connect
from events.minio import OBJECT_CREATED
from events.queue import REASON_HEADER, dead_letter_queue
from events.tags import EVENT_ID_TAG, EVENT_SOURCE_TAG, RANGE_START_TAG
from pipelines.keys import EVENT_RUNS_SENSOR, PipelineKeys, op_name
from pipelines.parsing import format_source_file
from pipelines.simulator import simulate_readings
from pipelines.spec import load_specs
from resources.definitions import build_resources
from resources.settings import get_settings
from sensors.event_runs import consumer_queue
from tests.events.test_minio import notification
from tests.throwaway import delete_throwaway_exchange, throwaway_exchange

pytestmark = pytest.mark.services


@pytest.fixture
def own_exchange(services, monkeypatch):
    """An exchange of this test's own, so the stack's running daemon does not take its messages."""
    name = throwaway_exchange()
    with services.profile():
        monkeypatch.setenv("MLOPS_EVENTS_EXCHANGE", name)
        monkeypatch.setenv("MLOPS_EVENTS_CONSUME_WAIT_SECONDS", "0.2")
        get_settings.cache_clear()
        yield name
        get_settings.cache_clear()
    delete_throwaway_exchange(services.env["MLOPS_RABBITMQ_URL"], name)


def publish_as_minio(url: str, exchange: str, body: bytes) -> None:
    """What MinIO's AMQP target does: a persistent JSON message with the configured routing key."""
    import pika

    connection = connect(url)
    channel = connection.channel()
    channel.confirm_delivery()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.basic_publish(
        exchange, OBJECT_CREATED, body, pika.BasicProperties(content_type="application/json", delivery_mode=2)
    )
    connection.close()


def test_a_file_dropped_into_the_landing_bucket_starts_one_refresh_run(services, own_exchange):
    env = services.env
    spec = load_specs()["air_quality_landing"]
    keys = PipelineKeys(spec)
    name = f"dropped-{uuid.uuid4().hex[:6]}.csv"
    key = f"{spec.source.prefix or spec.name}/{name}"
    readings = simulate_readings(["site_1"], "2024-01-01", "2024-01-03", seed=3)
    s3 = boto3.client(
        "s3",
        endpoint_url=env["MLOPS_S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["MLOPS_S3_REGION"],
    )
    s3.put_object(Bucket=env["MLOPS_LANDING_BUCKET"], Key=key, Body=format_source_file(readings, spec))
    settings = get_settings()
    resources = build_resources(settings)
    defs = build_definitions()
    url = env["MLOPS_RABBITMQ_URL"]
    bucket = env["MLOPS_LANDING_BUCKET"]

    def dropped(object_key: str, principal: str = "analyst") -> bytes:
        body = notification(object_key, principal=principal)
        return body.replace(b'"name": "landing"', f'"name": "{bucket}"'.encode())

    with services.instance() as instance:

        def tick() -> dg.SensorExecutionData:
            with dg.build_sensor_context(
                instance=instance,
                resources={"events": resources["events"], "landing": resources["landing"]},
                definitions=defs,
            ) as context:
                return defs.resolve_sensor_def(EVENT_RUNS_SENSOR).evaluate_tick(context)

        assert not tick().run_requests  # the sensor's queue exists from its first tick, as with the daemon
        publish_as_minio(url, own_exchange, dropped(key))
        first = tick()
        assert len(first.run_requests) == 1, first.skip_message
        request = first.run_requests[0]
        assert request.job_name == keys.refresh_job
        assert request.run_config["ops"][op_name(keys.raw)]["config"]["files"] == [name]
        assert request.tags[RANGE_START_TAG] == "2024-01-01"
        assert request.tags[EVENT_SOURCE_TAG] == "minio:analyst"
        # what the daemon does with the request: the run exists (not launched here)
        job = defs.resolve_job_def(request.job_name)
        instance.create_run_for_job(
            job, run_config=request.run_config, tags={**request.tags, "dagster/run_key": request.run_key}
        )

        # MinIO delivers at least once: the same notification again starts nothing new.
        publish_as_minio(url, own_exchange, dropped(key))
        for _ in range(3):
            assert not tick().run_requests
        runs = instance.get_runs(filters=dg.RunsFilter(tags={EVENT_ID_TAG: request.run_key}))
        assert len(runs) == 1

        # The platform's own write is announced by whoever wrote it (the API), not a second time here.
        publish_as_minio(url, own_exchange, dropped(key, principal=env["AWS_ACCESS_KEY_ID"]))
        # A file outside every landing folder is dead-lettered with the reason.
        publish_as_minio(url, own_exchange, dropped("elsewhere/x.csv"))
        assert not tick().run_requests

    connection = connect(url)
    channel = connection.channel()
    assert channel.queue_declare(consumer_queue(own_exchange), passive=True).method.message_count == 0
    method, properties, _ = channel.basic_get(dead_letter_queue(own_exchange), auto_ack=True)
    assert method is not None
    assert "not a file in a pipeline's landing folder" in properties.headers[REASON_HEADER]
    assert channel.basic_get(dead_letter_queue(own_exchange), auto_ack=True)[0] is None
    connection.close()
    s3.delete_object(Bucket=bucket, Key=key)
