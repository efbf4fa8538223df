"""Platform settings: one pydantic-settings object read once from the environment (prefix `MLOPS_`).

Two profiles, one code path: `local` keeps everything under `data_dir` (SQLite + files); `services` points
at PostgreSQL, an S3 endpoint, an MLflow tracking server and RabbitMQ. Only these values differ.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.queue import DEFAULT_WAIT_SECONDS


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_", extra="ignore")

    profile: Literal["local", "services"] = "local"
    data_dir: Path = Field(Path(".data"), description="Everything the local profile stores.")
    specs_dir: Path | None = Field(
        None, description="Folder of pipeline specs; defaults to the shipped ones."
    )

    # services profile
    s3_endpoint_url: str = "http://127.0.0.1:8333"
    s3_region: str = "us-east-1"
    lake_bucket: str = "lake"
    landing_bucket: str = "landing"
    mlflow_bucket: str = "mlflow"
    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    events_exchange: str = "mlops.events"
    events_backend: Literal["file", "rabbitmq"] | None = Field(
        None,
        description="Where platform events go: `file` (JSON lines under data_dir) or `rabbitmq` (the broker at "
        "rabbitmq_url, and the event sensors consume from it). Default: file locally, rabbitmq in services.",
    )
    events_consume_wait_seconds: float = Field(
        DEFAULT_WAIT_SECONDS,
        ge=0,
        le=30,
        description="How long an event_runs sensor tick waits on an empty queue for a message. Dagster's sensor "
        "daemon evaluates a sensor at most every 5 s; waiting inside the tick (bounded, well under the 60 s "
        "tick timeout) turns a message into a run request as it arrives instead of at the next tick.",
    )

    # links shown in the Dagster UI
    mlflow_ui_url: str = "http://127.0.0.1:5000"

    @property
    def uses_broker(self) -> bool:
        return (self.events_backend or ("file" if self.profile == "local" else "rabbitmq")) == "rabbitmq"

    @property
    def data_path(self) -> Path:
        return self.data_dir.resolve()

    @property
    def local_mlflow_uri(self) -> str:
        return f"sqlite:///{self.data_path / 'mlflow' / 'mlflow.db'}"

    @property
    def tracking_uri(self) -> str:
        return self.local_mlflow_uri if self.profile == "local" else self.mlflow_tracking_uri

    @property
    def lake_uri(self) -> str:
        return str(self.data_path / "lake") if self.profile == "local" else f"s3://{self.lake_bucket}"

    @property
    def landing_uri(self) -> str:
        return str(self.data_path / "landing") if self.profile == "local" else f"s3://{self.landing_bucket}"

    @property
    def mlflow_artifact_root(self) -> str | None:
        """Where experiments keep artifacts when the store is local; the tracking server decides otherwise."""
        return (self.data_path / "mlflow" / "artifacts").as_uri() if self.profile == "local" else None


@lru_cache
def get_settings() -> PlatformSettings:
    return PlatformSettings()
