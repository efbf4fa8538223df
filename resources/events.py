"""Publishing platform events. The local profile appends envelopes to a JSON-lines file under the data
directory; the services profile publishes to RabbitMQ (see `RabbitEventBus`)."""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from events.bus import DEFAULT_EXCHANGE, EventPublisher
from events.envelope import Envelope, EventType, make_event
from events.queue import DEFAULT_WAIT_SECONDS


class EventBus(dg.ConfigurableResource):
    """Announces what the platform produced; subclasses decide where envelopes go."""

    source: str = "mlops-platform/dagster"

    def publish(
        self, event_type: EventType, payload: dict[str, Any], trace_id: str | None = None
    ) -> Envelope:
        envelope = make_event(event_type, payload, source=self.source, trace_id=trace_id)
        self.send(envelope)
        return envelope

    def send(self, envelope: Envelope) -> None:
        raise NotImplementedError


class FileEventBus(EventBus):
    """Local profile: one JSON envelope per line in `path`, so events are visible without a broker."""

    path: str

    def send(self, envelope: Envelope) -> None:
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a") as fh:
            fh.write(envelope.model_dump_json() + "\n")


class RabbitEventBus(EventBus):
    """Services profile: publishes to the platform's durable topic exchange with publisher confirms."""

    url: str
    exchange: str = DEFAULT_EXCHANGE
    consume_wait_seconds: float = Field(
        DEFAULT_WAIT_SECONDS,
        description="How long a sensor tick waits on an empty queue for a message (see PlatformSettings).",
    )
    _publisher: EventPublisher | None = PrivateAttr(default=None)

    def send(self, envelope: Envelope) -> None:
        if self._publisher is None:
            self._publisher = EventPublisher(self.url, self.exchange)
        self._publisher.publish(envelope)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._publisher is not None:
            self._publisher.close()
