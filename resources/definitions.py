"""The Dagster resources: thin `ConfigurableResource` wrappers over the plain clients
(resources/clients.py). Each hands its client to assets and sensors (`create_resource`), so they use the
same `ObjectStore`, `MlflowRegistry` and `EventBus` as the API and the CLI, annotated
`dg.ResourceParam[ObjectStore]` etc. A wrapper's fields are its client's constructor arguments, shown in
the Dagster UI; `build_resources` makes them from the clients the settings give."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from events.bus import DEFAULT_EXCHANGE
from events.queue import DEFAULT_WAIT_SECONDS
from resources.clients import DAGSTER_SOURCE, clients_from_settings
from resources.events import EventBus, FileEventBus, RabbitEventBus
from resources.lake import LakeIOManager
from resources.mlflow_registry import MlflowRegistry
from resources.object_store import ObjectStore
from resources.settings import PlatformSettings


class ObjectStoreResource(dg.ConfigurableResource):
    """A folder or an S3 bucket (`base_uri`), given to assets as an `ObjectStore`."""

    base_uri: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = Field(
        None, description="Set with dg.EnvVar, or leave empty for the environment's AWS credentials."
    )
    secret_access_key: str | None = Field(None, description="Set with dg.EnvVar, like access_key_id.")

    @classmethod
    def of(cls, store: ObjectStore) -> ObjectStoreResource:
        return cls(
            base_uri=store.base_uri,
            endpoint_url=store.endpoint_url,
            region=store.region,
            access_key_id=store.access_key_id,
            secret_access_key=store.secret_access_key,
        )

    def create_resource(self, context: dg.InitResourceContext) -> ObjectStore:
        return ObjectStore(
            self.base_uri,
            endpoint_url=self.endpoint_url,
            region=self.region,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )


class MlflowRegistryResource(dg.ConfigurableResource):
    """The MLflow tracking server or local store, given to assets as an `MlflowRegistry`."""

    tracking_uri: str
    artifact_root: str | None = None
    ui_url: str | None = None

    @classmethod
    def of(cls, registry: MlflowRegistry) -> MlflowRegistryResource:
        return cls(
            tracking_uri=registry.tracking_uri, artifact_root=registry.artifact_root, ui_url=registry.ui_url
        )

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[MlflowRegistry]:
        registry = MlflowRegistry(self.tracking_uri, artifact_root=self.artifact_root, ui_url=self.ui_url)
        registry.create_store_in_background()
        try:
            yield registry
        finally:
            registry.store_ready()


class EventBusResource(dg.ConfigurableResource):
    """Where platform events go (`file` or `rabbitmq`), given to assets and sensors as an `EventBus`."""

    backend: Literal["file", "rabbitmq"]
    source: str = DAGSTER_SOURCE
    path: str | None = Field(None, description="The JSON-lines file of the `file` backend.")
    url: str | None = Field(None, description="The broker of the `rabbitmq` backend.")
    exchange: str = DEFAULT_EXCHANGE
    consume_wait_seconds: float = Field(
        DEFAULT_WAIT_SECONDS,
        description="How long a sensor tick waits on an empty queue for a message (see PlatformSettings).",
    )

    @classmethod
    def of(cls, bus: EventBus) -> EventBusResource:
        if isinstance(bus, RabbitEventBus):
            return cls(
                backend="rabbitmq",
                source=bus.source,
                url=bus.url,
                exchange=bus.exchange,
                consume_wait_seconds=bus.consume_wait_seconds,
            )
        assert isinstance(bus, FileEventBus)
        return cls(backend="file", source=bus.source, path=str(bus.path))

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[EventBus]:
        bus: EventBus = (
            RabbitEventBus(
                self.url or "",
                source=self.source,
                exchange=self.exchange,
                consume_wait_seconds=self.consume_wait_seconds,
            )
            if self.backend == "rabbitmq"
            else FileEventBus(self.path or "events.jsonl", source=self.source)
        )
        try:
            yield bus
        finally:
            bus.close()


def build_resources(settings: PlatformSettings) -> dict[str, Any]:
    """The code location's resources for these settings."""
    clients = clients_from_settings(settings)
    lake = ObjectStoreResource.of(clients.lake)
    return {
        "lake": lake,
        "landing": ObjectStoreResource.of(clients.landing),
        "lake_io_manager": LakeIOManager(store=lake),
        "mlflow_registry": MlflowRegistryResource.of(clients.registry),
        "events": EventBusResource.of(clients.events),
    }
