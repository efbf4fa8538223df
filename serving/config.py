"""The service's own settings (prefix `MLOPS_API_`); where models, data and events live comes from the
platform settings (`resources.settings`), so the API and the assets always agree."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from resources.settings import get_settings


class ServingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    root_path: str = Field(
        "",
        description="The public path prefix when served behind a proxy that strips it (`/api` behind the "
        "platform's nginx), so /docs finds the OpenAPI document; routes answer with and without it.",
    )
    workers: int = Field(
        default_factory=lambda: min(len(os.sched_getaffinity(0)), 4),
        ge=1,
        description="Processes serving requests, each with the models loaded (default: one per CPU, at most 4).",
    )
    keys_file: Path | None = Field(
        None,
        description="API keys as SHA-256 hashes with scopes (YAML); re-read when it changes. "
        "Default: <data dir>/api/keys.yaml.",
    )
    database_url: str | None = Field(
        None,
        description="Where predictions, feedback and tasks are kept (SQLAlchemy URL). "
        "Default: SQLite under the data dir.",
    )
    dagster_url: str = Field(
        "http://127.0.0.1:3000", description="Dagster webserver (GraphQL) for task status."
    )
    max_body_bytes: int = Field(32 * 1024 * 1024, description="Largest JSON body accepted (413 above).")
    max_upload_bytes: int = Field(
        64 * 1024 * 1024, description="Largest dataset upload accepted (413 above)."
    )
    max_rows: int = Field(50_000, description="Most rows in one predict request.")
    batch_wait_ms: float = Field(
        0.5, description="How long a single-row request waits for others to batch with."
    )
    batch_max_rows: int = Field(256, description="Rows one micro-batch holds at most.")
    refresh_seconds: float = Field(30.0, description="How often the registry is asked for new champions.")
    retry_after_seconds: int = 10

    def keys_path(self) -> Path:
        return self.keys_file or get_settings().data_path / "api" / "keys.yaml"

    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{get_settings().data_path / 'api' / 'serving.db'}"


@lru_cache
def get_serving_settings() -> ServingSettings:
    return ServingSettings()
