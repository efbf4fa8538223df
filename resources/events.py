"""Publishing platform events: a plain client the assets, sensors, the API and the CLI all use. The local
profile appends envelopes to a JSON-lines file under the data directory; with a broker they go to
RabbitMQ (`RabbitEventBus`). The Dagster resource (resources/definitions.py) is a thin wrapper."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from events.bus import DEFAULT_EXCHANGE, EventPublisher
from events.envelope import Envelope, EventType, make_event
from events.queue import DEFAULT_WAIT_SECONDS


class EventBus:
    """Announces what the platform produced; subclasses decide where envelopes go. `source` names the
    producer in every envelope (the Dagster code location, the API, the CLI)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def publish(
        self, event_type: EventType, payload: BaseModel | dict[str, Any], trace_id: str | None = None
    ) -> Envelope:
        envelope = make_event(event_type, payload, source=self.source, trace_id=trace_id)
        self.send(envelope)
        return envelope

    def send(self, envelope: Envelope) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (nothing to release by default)."""


class FileEventBus(EventBus):
    """Local profile: one JSON envelope per line in `path`, so events are visible without a broker."""

    def __init__(self, path: str | Path, source: str) -> None:
        super().__init__(source)
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileEventBus({str(self.path)!r})"

    def send(self, envelope: Envelope) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a") as fh:
            fh.write(envelope.model_dump_json() + "\n")


class RabbitEventBus(EventBus):
    """Publishes to the platform's durable topic exchange with publisher confirms (one connection, opened
    on first use). `consume_wait_seconds` is how long an event_runs sensor tick waits on an empty queue
    (see PlatformSettings)."""

    def __init__(
        self,
        url: str,
        source: str,
        exchange: str = DEFAULT_EXCHANGE,
        consume_wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        super().__init__(source)
        self.url = url
        self.exchange = exchange
        self.consume_wait_seconds = consume_wait_seconds
        self._publisher = EventPublisher(url, exchange)

    def __repr__(self) -> str:
        return f"RabbitEventBus(exchange={self.exchange!r})"

    def send(self, envelope: Envelope) -> None:
        self._publisher.publish(envelope)

    def close(self) -> None:
        self._publisher.close()
