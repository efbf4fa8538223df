"""Fixtures for the event bus: the machine's RabbitMQ with a unique exchange per test, a local-profile
platform whose events go through it, and small helpers to look at queues the way an operator would."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pika
import pytest

from events.bus import connect
from events.queue import REASON_HEADER, dead_letter_queue
from pipelines.keys import EVENT_RUNS_SENSOR
from resources.clients import PlatformClients
from resources.events import EventBus
from tests.conftest import port_open, require
from tests.throwaway import delete_throwaway_exchange, throwaway_exchange

BROKER_URL = os.environ.get("MLOPS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


@pytest.fixture(scope="session")
def broker_url() -> str:
    require(port_open("127.0.0.1", 5672), "RabbitMQ on 127.0.0.1:5672")
    return BROKER_URL


@pytest.fixture
def exchange(broker_url: str) -> Iterator[str]:
    """A platform exchange of this test's own; its queues and exchanges are deleted afterwards."""
    name = throwaway_exchange()
    yield name
    delete_throwaway_exchange(broker_url, name)


@dataclass
class Platform:
    defs: dg.Definitions
    instance: dg.DagsterInstance
    clients: PlatformClients
    url: str
    exchange: str
    data_dir: Path

    def tick(
        self,
        cursor: str | None = None,
        sensor: str = EVENT_RUNS_SENSOR,
        events: EventBus | None = None,
    ) -> dg.SensorExecutionData:
        """One sensor evaluation, as the daemon would run it (`events` replaces the platform's bus)."""
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=cursor,
            resources={"events": events or self.clients.events, "landing": self.clients.landing},
            definitions=self.defs,
        ) as context:
            return self.defs.resolve_sensor_def(sensor).evaluate_tick(context)

    def submit(self, request: dg.RunRequest) -> dg.DagsterRun:
        """What the daemon does with a tick's RunRequest: create the run (not launched here)."""
        job = self.defs.resolve_job_def(request.job_name)
        return self.instance.create_run_for_job(
            job, run_config=request.run_config, tags={**request.tags, "dagster/run_key": request.run_key}
        )


@pytest.fixture
def platform(
    broker_url: str, exchange: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Platform]:
    """The local profile (files under a temp dir) with events through RabbitMQ, on a real SQLite instance."""
    monkeypatch.setenv("MLOPS_EVENTS_BACKEND", "rabbitmq")
    monkeypatch.setenv("MLOPS_RABBITMQ_URL", broker_url)
    monkeypatch.setenv("MLOPS_EVENTS_EXCHANGE", exchange)
    # A tick on an empty queue waits this long for a message (4 s in production); tests tick empty queues
    # often. test_a_tick_on_an_empty_queue_waits_for_a_message covers the production wait.
    monkeypatch.setenv("MLOPS_EVENTS_CONSUME_WAIT_SECONDS", "0.2")
    from definitions import build_definitions
    from resources.clients import clients_from_settings
    from resources.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        yield Platform(
            defs=build_definitions(),
            instance=instance,
            clients=clients_from_settings(settings),
            url=broker_url,
            exchange=exchange,
            data_dir=data_dir,
        )


def publish_raw(
    url: str, exchange: str, routing_key: str, body: bytes, message_id: str | None = None
) -> None:
    """Publish bytes as any producer might, including ones that break the contract."""
    connection = connect(url)
    channel = connection.channel()
    channel.confirm_delivery()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.basic_publish(
        exchange,
        routing_key,
        body,
        pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, message_id=message_id),
    )
    connection.close()


def queue_depth(url: str, queue: str) -> int:
    connection = connect(url)
    depth = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return depth


def drain_dead_letters(url: str, exchange: str) -> list[tuple[bytes, str]]:
    """Every dead-lettered message (body, reason), removed from the dead-letter queue."""
    connection = connect(url)
    channel = connection.channel()
    out = []
    while True:
        method, properties, body = channel.basic_get(dead_letter_queue(exchange), auto_ack=True)
        if method is None:
            break
        out.append((body, (properties.headers or {}).get(REASON_HEADER, "")))
    connection.close()
    return out


class Subscriber:
    """An exclusive queue bound to some event types, like the API's `model.promoted` subscription."""

    def __init__(self, url: str, exchange: str, routing_keys: list[str]) -> None:
        params = pika.URLParameters(url)
        params.heartbeat = 0  # it idles while a run trains; heartbeats would need a polling thread
        self.connection = pika.BlockingConnection(params)
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        for key in routing_keys:
            self.channel.queue_bind(self.queue, exchange, routing_key=key)

    def received(self) -> list[dict]:
        out = []
        while True:
            method, _, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return out
            out.append(json.loads(body))

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()
