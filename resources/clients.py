"""Settings → the platform's clients, in one place: the lake and landing stores, the MLflow registry and
the event bus. The API, the CLI and the Dagster resources (resources/definitions.py) all build them here;
this is the only code that knows the `local` profile from `services`."""

from __future__ import annotations

from dataclasses import dataclass

from resources.events import EventBus, FileEventBus, RabbitEventBus
from resources.mlflow_registry import MlflowRegistry
from resources.object_store import ObjectStore
from resources.settings import PlatformSettings

# Who publishes, in every event envelope.
DAGSTER_SOURCE = "mlops-platform/dagster"


@dataclass(frozen=True)
class PlatformClients:
    lake: ObjectStore
    landing: ObjectStore
    registry: MlflowRegistry
    events: EventBus


def object_store(settings: PlatformSettings, base_uri: str) -> ObjectStore:
    """A local folder, or a bucket on the settings' S3 endpoint (keys from the environment)."""
    if settings.profile == "local":
        return ObjectStore(base_uri)
    return ObjectStore(base_uri, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)


def event_bus(settings: PlatformSettings, source: str) -> EventBus:
    if settings.uses_broker:
        return RabbitEventBus(
            settings.rabbitmq_url,
            source=source,
            exchange=settings.events_exchange,
            consume_wait_seconds=settings.events_consume_wait_seconds,
        )
    return FileEventBus(settings.data_path / "events.jsonl", source=source)


def clients_from_settings(settings: PlatformSettings, source: str = DAGSTER_SOURCE) -> PlatformClients:
    """Every client for these settings; `source` names the publisher of the events they send. Nothing
    connects until it is used."""
    return PlatformClients(
        lake=object_store(settings, settings.lake_uri),
        landing=object_store(settings, settings.landing_uri),
        registry=MlflowRegistry(
            settings.tracking_uri, artifact_root=settings.mlflow_artifact_root, ui_url=settings.mlflow_ui_url
        ),
        events=event_bus(settings, source),
    )
