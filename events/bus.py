"""RabbitMQ plumbing shared by every producer and consumer: the durable topic exchange, its dead-letter
exchange, and a publisher with publisher confirms and persistent messages."""

from __future__ import annotations

import threading

import pika
from pika.exceptions import AMQPError

from events.envelope import Envelope
from resources.unavailable import ServiceUnavailable

DEFAULT_EXCHANGE = "mlops.events"


def broker_unavailable(url: str, message: str) -> ServiceUnavailable:
    """The broker could not be reached or did not confirm a message (the URL's credentials left out)."""
    params = pika.URLParameters(url)
    return ServiceUnavailable("rabbitmq", f"amqp://{params.host}:{params.port}", message)


def dead_letter_exchange(exchange: str) -> str:
    return f"{exchange}.dlx"


def connect(url: str, timeout: float = 5.0) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    params.heartbeat = 30
    try:
        return pika.BlockingConnection(params)
    except AMQPError as exc:
        raise broker_unavailable(
            url, f"RabbitMQ at {params.host}:{params.port} is unreachable: {exc!r}"
        ) from exc


def declare_exchanges(channel, exchange: str = DEFAULT_EXCHANGE) -> None:
    """The platform's durable topic exchange and the fanout exchange dead letters go to (idempotent)."""
    channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    channel.exchange_declare(exchange=dead_letter_exchange(exchange), exchange_type="fanout", durable=True)


class EventPublisher:
    """Publishes envelopes with confirms; routing key = event type. Thread-safe; reconnects once on failure."""

    def __init__(self, url: str, exchange: str = DEFAULT_EXCHANGE, timeout: float = 5.0) -> None:
        self.url = url
        self.exchange = exchange
        self.timeout = timeout
        self._lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel = None

    def _open(self):
        if self._connection is None or self._connection.is_closed:
            self._connection = connect(self.url, self.timeout)
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
            declare_exchanges(self._channel, self.exchange)
        return self._channel

    def publish(self, envelope: Envelope) -> None:
        body = envelope.model_dump_json().encode()
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=envelope.id,
            correlation_id=envelope.trace_id,
            type=envelope.type,
            headers={"schema_version": envelope.schema_version, "source": envelope.source},
        )
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._open().basic_publish(
                        self.exchange, envelope.type, body, properties, mandatory=False
                    )
                    return
                except (AMQPError, ServiceUnavailable) as exc:
                    self._reset()
                    if attempt == 2:
                        raise broker_unavailable(
                            self.url, f"event {envelope.type} {envelope.id} not confirmed: {exc!r}"
                        ) from exc

    def _reset(self) -> None:
        try:
            if self._connection is not None and self._connection.is_open:
                self._connection.close()
        except AMQPError:
            pass
        self._connection, self._channel = None, None

    def close(self) -> None:
        with self._lock:
            self._reset()
