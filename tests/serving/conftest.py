"""Helpers for a running API on the local profile with events through the machine's RabbitMQ: air_quality trained
once (air_quality_landing waits for uploads), keys with each scope, and the Dagster webserver for task status; started through
the same supervisor as `mlops stack up` (deploy/), on free ports and a unique exchange."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
from upath import UPath

from deploy.env import BIN_DIR, load_env
from deploy.services import service_table
from deploy.supervisor import Stack
from pipelines.features import forecast_inputs, model_feature_columns
from pipelines.keys import PipelineKeys
from pipelines.spec import load_specs
from resources.lake_store import Lake
from tests.throwaway import free_port_block, throwaway_exchange

BROKER_URL = os.environ.get("MLOPS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
START, END = "2024-01-01", "2024-02-29"


@dataclass
class Api:
    url: str
    env: dict[str, str]
    stack: Stack
    data_dir: Path
    keys: dict[str, str]  # scope → key

    def client(self, scope: str | None = "predict", key: str | None = None) -> httpx.Client:
        key = key or (self.keys[scope] if scope else None)
        return httpx.Client(base_url=self.url, headers={"X-API-Key": key} if key else {}, timeout=30)

    @property
    def log(self) -> Path:
        return self.stack.logs / "api.log"

    def feature_rows(self, n: int | None = None) -> list[dict]:
        """Model inputs of the forecast task built from the lake's features (the next hours per station)."""
        spec = load_specs()["air_quality"]
        task = spec.task("forecast")
        features = self.features_frame()
        inputs = forecast_inputs(features, spec, task)[model_feature_columns(spec, task)]
        return json.loads((inputs if n is None else inputs.head(n)).to_json(orient="records"))

    def features_frame(self) -> pd.DataFrame:
        return Lake(UPath(self.data_dir / "lake")).read(PipelineKeys(load_specs()["air_quality"]).features)


def mlops(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN_DIR / "mlops"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"mlops {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def start_api(env: dict[str, str], state: Path, with_dagster: bool) -> Stack:
    wanted = {"api", "dagster-webserver"} if with_dagster else {"api"}
    stack = Stack([s for s in service_table("local", env, state) if s.name in wanted], env, state)
    stack.start(report=lambda line: None)
    return stack


def api_env(root: Path, **overrides: str) -> dict[str, str]:
    values = {
        "MLOPS_PROFILE": "local",
        "MLOPS_DATA_DIR": str(root / "data"),
        "DAGSTER_HOME": str(root / "dagster"),
        "MLOPS_EVENTS_BACKEND": "rabbitmq",
        "MLOPS_RABBITMQ_URL": BROKER_URL,
        "MLOPS_EVENTS_EXCHANGE": throwaway_exchange(),
        "MLOPS_API_REFRESH_SECONDS": "300",  # swaps in these tests come from model.promoted events
        "MLOPS_API_WORKERS": "2",  # as served on a 2-CPU machine: every test goes through both workers
        "API_PORT": str(free_port_block(1)),
        "DAGSTER_PORT": str(free_port_block(1)),
        "MLFLOW_PORT": str(free_port_block(1)),
        **overrides,
    }
    return {**load_env(environ=values), **values}
