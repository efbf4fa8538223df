"""Builds the resource set for a profile from settings: the only place that knows local from services."""

from __future__ import annotations

from typing import Any

import dagster as dg

from resources.events import FileEventBus, RabbitEventBus
from resources.lake import LakeIOManager
from resources.mlflow_registry import MlflowRegistry
from resources.object_store import ObjectStore
from resources.settings import PlatformSettings


def object_store(settings: PlatformSettings, base_uri: str) -> ObjectStore:
    if settings.profile == "local":
        return ObjectStore(base_uri=base_uri)
    return ObjectStore(
        base_uri=base_uri,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
        secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
    )


def build_resources(settings: PlatformSettings) -> dict[str, Any]:
    lake = object_store(settings, settings.lake_uri)
    return {
        "lake": lake,
        "landing": object_store(settings, settings.landing_uri),
        "lake_io_manager": LakeIOManager(store=lake),
        "mlflow_registry": MlflowRegistry(
            tracking_uri=settings.tracking_uri,
            artifact_root=settings.mlflow_artifact_root,
            ui_url=settings.mlflow_ui_url,
        ),
        "events": (
            RabbitEventBus(
                url=settings.rabbitmq_url,
                exchange=settings.events_exchange,
                consume_wait_seconds=settings.events_consume_wait_seconds,
            )
            if settings.uses_broker
            else FileEventBus(path=str(settings.data_path / "events.jsonl"))
        ),
    }
