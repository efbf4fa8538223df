"""Consuming the platform exchange from a durable queue: fetch a bounded batch, acknowledge, or dead-letter
with a reason.

One connection per batch: whatever is not acknowledged when it closes goes back to the queue, so a
consumer that crashes or loses the broker mid-batch loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

import pika
from pika.exceptions import AMQPError

from events.bus import broker_unavailable, connect, dead_letter_exchange, declare_exchanges

# How long a consumer's fetch waits on an empty queue by default (the event_runs sensor; see its docstring).
DEFAULT_WAIT_SECONDS = 4.0
REASON_HEADER = "x-mlops-dead-letter-reason"
QUEUE_HEADER = "x-mlops-dead-letter-queue"
ROUTING_KEY_HEADER = "x-mlops-original-routing-key"


def dead_letter_queue(exchange: str) -> str:
    """The durable queue that keeps everything sent to the exchange's dead-letter exchange."""
    return f"{exchange}.dead-letters"


def declare_consumer_queue(channel, exchange: str, queue: str, routing_keys: list[str]) -> None:
    """A durable queue bound to the platform exchange whose rejected messages go to the dead-letter
    exchange, and the dead-letter queue behind that exchange (idempotent)."""
    declare_exchanges(channel, exchange)
    dlq = dead_letter_queue(exchange)
    channel.queue_declare(dlq, durable=True)
    channel.queue_bind(dlq, dead_letter_exchange(exchange))
    channel.queue_declare(
        queue, durable=True, arguments={"x-dead-letter-exchange": dead_letter_exchange(exchange)}
    )
    for key in routing_keys:
        channel.queue_bind(queue, exchange, routing_key=key)


@dataclass(frozen=True)
class Delivery:
    tag: int
    body: bytes
    properties: pika.BasicProperties
    routing_key: str
    redelivered: bool

    @classmethod
    def of(cls, method, properties: pika.BasicProperties, body: bytes) -> Delivery:
        """From what basic_get or a consumer hands over."""
        return cls(method.delivery_tag, body, properties, method.routing_key, method.redelivered)

    @property
    def message_id(self) -> str | None:
        return self.properties.message_id


class EventQueue:
    """`with EventQueue(url, exchange, queue, keys) as q:` then `q.fetch(n)`, `q.ack(d)`, `q.dead_letter(d, why)`.

    Every broker failure surfaces as `ServiceUnavailable`; leaving the block closes the connection, which
    returns unacknowledged messages to the queue.
    """

    def __init__(
        self, url: str, exchange: str, queue: str, routing_keys: list[str], timeout: float = 5.0
    ) -> None:
        self.url, self.exchange, self.queue = url, exchange, queue
        self.routing_keys = routing_keys
        self.timeout = timeout
        self._connection: pika.BlockingConnection | None = None
        self._channel = None

    def __enter__(self) -> EventQueue:
        self._connection = connect(self.url, self.timeout)
        try:
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
            declare_consumer_queue(self._channel, self.exchange, self.queue, self.routing_keys)
        except AMQPError as exc:
            self._close()
            raise broker_unavailable(self.url, f"declaring queue {self.queue} failed: {exc!r}") from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    def _close(self) -> None:
        try:
            if self._connection is not None and self._connection.is_open:
                self._connection.close()
        except AMQPError:
            pass  # the broker is gone: it requeues unacknowledged messages itself
        self._connection, self._channel = None, None

    def fetch(self, limit: int, wait: float = 0.0) -> list[Delivery]:
        """Up to `limit` messages, unacknowledged, in queue order. When the queue is empty, wait up to
        `wait` seconds for one (a consumer the broker pushes to, not polling), then take what else is there."""
        try:
            batch = self._get(limit)
            if batch or wait <= 0:
                return batch
            # prefetch 1: the broker hands this consumer one message; the rest stay for basic_get, in order
            self._channel.basic_qos(prefetch_count=1)
            for method, properties, body in self._channel.consume(
                self.queue, auto_ack=False, inactivity_timeout=wait
            ):
                if method is not None:
                    batch.append(Delivery.of(method, properties, body))
                break
            self._channel.cancel()  # a message the broker pushed meanwhile is requeued, not lost
            return batch + self._get(limit - 1) if batch else []
        except AMQPError as exc:
            raise broker_unavailable(self.url, f"reading queue {self.queue} failed: {exc!r}") from exc

    def _get(self, limit: int) -> list[Delivery]:
        batch: list[Delivery] = []
        while len(batch) < limit:
            method, properties, body = self._channel.basic_get(self.queue, auto_ack=False)
            if method is None:
                break
            batch.append(Delivery.of(method, properties, body))
        return batch

    def ack(self, delivery: Delivery) -> None:
        try:
            self._channel.basic_ack(delivery.tag)
        except AMQPError as exc:
            raise broker_unavailable(
                self.url, f"acknowledging a message on {self.queue} failed: {exc!r}"
            ) from exc

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Republish the message unchanged to the dead-letter exchange with the reason in a header; the
        original is acknowledged only once the broker confirmed the copy."""
        original = delivery.properties
        headers = {
            **(original.headers or {}),
            REASON_HEADER: reason[:1000],
            QUEUE_HEADER: self.queue,
            ROUTING_KEY_HEADER: delivery.routing_key,
        }
        properties = pika.BasicProperties(
            content_type=original.content_type,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=original.message_id,
            correlation_id=original.correlation_id,
            type=original.type,
            timestamp=original.timestamp,
            headers=headers,
        )
        try:
            self._channel.basic_publish(
                dead_letter_exchange(self.exchange), delivery.routing_key, delivery.body, properties
            )
            self._channel.basic_ack(delivery.tag)
        except AMQPError as exc:
            raise broker_unavailable(
                self.url, f"dead-lettering a message from {self.queue} failed: {exc!r}"
            ) from exc
