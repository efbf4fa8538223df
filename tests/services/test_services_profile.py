"""The air_quality graph on the services profile: Dagster on PostgreSQL, the lake and MLflow artifacts in
S3, the MLflow tracking server reached by URL; and what happens when S3 or MLflow go away."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from pathlib import Path

import dagster as dg
import httpx
import mlflow
import psycopg2
import pytest

from assets.models import MLFLOW_RETRY
from definitions import build_definitions
from events.tags import CHAMPION, PROMOTED_AT_TAG, partition_range_tags
from pipelines.keys import PipelineKeys
from pipelines.spec import load_specs
from resources.clients import clients_from_settings
from resources.lake_store import Lake
from resources.mlflow_registry import PromotionRefused
from resources.object_store import ObjectStore
from resources.settings import get_settings
from tests.services.conftest import step_errors

pytestmark = [pytest.mark.services, pytest.mark.slow]
SPEC = load_specs()["air_quality"]
KEYS = PipelineKeys(SPEC)
MODELS = tuple(KEYS.model_name(task) for task in SPEC.tasks)
FORECAST, EXCEEDANCE = MODELS
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def test_whole_graph_lands_in_postgres_s3_and_the_mlflow_server(services, trained, tmp_path: Path):
    assert trained.success, trained.failures
    with services.instance() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_run_by_id(trained.run_id).status == dg.DagsterRunStatus.SUCCESS
        assert instance.get_latest_materialization_event(dg.AssetKey(KEYS.output(SPEC.task("forecast"))))

    with services.profile():
        clients = clients_from_settings(get_settings())
        lake, registry = clients.lake, clients.registry
        assert lake.base_uri == f"s3://{services.env['MLOPS_LAKE_BUCKET']}"
        raw = lake.path(*KEYS.raw)
        assert len([p for p in raw.iterdir() if p.name.startswith("2024-")]) == 60
        assert any(p.suffix == ".parquet" for p in (raw / "2024-01-15").iterdir())
        forecasts = Lake(lake.root()).read(KEYS.output(SPEC.task("forecast")))

        for name in MODELS:
            champion = registry.champion(name)
            assert champion is not None, f"{name} has no champion"
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}@{CHAMPION}",
                dst_path=str(tmp_path / name),
                tracking_uri=services.env["MLOPS_MLFLOW_TRACKING_URI"],
            )
            assert (Path(local) / "MLmodel").exists()
        assert set(forecasts["model_version"].astype(str)) == {str(registry.champion(FORECAST).version)}

    # The artifacts are objects in the MLflow bucket; the registry rows are in PostgreSQL.
    mlflow_bucket = ObjectStore(
        base_uri=f"s3://{services.env['MLOPS_MLFLOW_BUCKET']}",
        endpoint_url=services.env["MLOPS_S3_ENDPOINT_URL"],
        access_key_id=services.env["AWS_ACCESS_KEY_ID"],
        secret_access_key=services.env["AWS_SECRET_ACCESS_KEY"],
    )
    keys = mlflow_bucket.root().fs.find(services.env["MLOPS_MLFLOW_BUCKET"])
    assert sum(k.endswith("/MLmodel") for k in keys) >= len(MODELS)
    with (
        psycopg2.connect(host="127.0.0.1", user="postgres", dbname=services.env["MLFLOW_PG_DB"]) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT name FROM registered_models")
        assert set(MODELS) <= {row[0] for row in cur.fetchall()}


def test_dagster_webserver_lists_the_assets_and_the_runs_over_graphql(services, trained):
    query = """{
      assetNodes { assetKey { path } }
      runsOrError { ... on Runs { results { runId status } } }
      instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
    }"""
    response = httpx.post(f"{services.dagster_url}/graphql", json={"query": query}, timeout=60)
    response.raise_for_status()
    data = response.json()["data"]
    keys = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
    forecast = SPEC.task("forecast")
    assert {
        "/".join(p) for p in (KEYS.raw, KEYS.features, KEYS.champion(forecast), KEYS.output(forecast))
    } <= keys
    runs = {run["runId"]: run["status"] for run in data["runsOrError"]["results"]}
    assert runs.get(trained.run_id) == "SUCCESS"  # the in-process run, read back from PostgreSQL
    unhealthy = [
        d["daemonType"]
        for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]
        if d["required"] and not d["healthy"]
    ]
    assert unhealthy == []


def test_a_run_survives_the_s3_server_stopping_for_ten_seconds(services):
    stack = services.stack
    with services.instance() as instance, concurrent.futures.ThreadPoolExecutor(1) as pool:
        job = build_definitions().resolve_job_def(KEYS.ingest_job)
        stack.stop_service("s3")
        stopped_at = time.monotonic()
        restarted = pool.submit(lambda: (time.sleep(10), stack.start_service("s3")))
        result = job.execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags=partition_range_tags("2024-03-01", "2024-03-07"),
            raise_on_error=False,
        )
        restarted.result()
    assert time.monotonic() - stopped_at > 10
    assert result.success, step_errors(result, "STEP_FAILURE")
    retries = step_errors(result, "STEP_UP_FOR_RETRY")
    assert retries, "the outage should have made a step retry"
    assert f"S3 endpoint {services.env['MLOPS_S3_ENDPOINT_URL']}" in retries[0]
    with services.profile():
        lake = clients_from_settings(get_settings()).lake
        for day in ("2024-03-01", "2024-03-07"):
            assert any(p.suffix == ".parquet" for p in lake.path(*KEYS.clean, day).iterdir())


def test_mlflow_server_down_fails_the_run_naming_it_and_keeps_the_champion(services, trained):
    assert trained.success, trained.failures
    url = services.env["MLOPS_MLFLOW_TRACKING_URI"]
    with services.profile():
        registry = clients_from_settings(get_settings()).registry
        before = {name: str(registry.champion(name).version) for name in MODELS}
        versions_before = len(registry.client().search_model_versions(f"name='{EXCEEDANCE}'"))

    services.stack.stop_service("mlflow")
    try:
        with services.instance() as instance:
            result = (
                build_definitions()
                .resolve_job_def(KEYS.train_job)
                .execute_in_process(
                    instance=instance,
                    run_config=QUIET,
                    # From the trained model version onwards: evaluation loads it from the registry.
                    asset_selection=[
                        dg.AssetKey(KEYS.evaluation(SPEC.task("exceedance"))),
                        dg.AssetKey(KEYS.champion(SPEC.task("exceedance"))),
                    ],
                    raise_on_error=False,
                )
            )
    finally:
        services.stack.start_service("mlflow")

    assert not result.success
    failures = step_errors(result, "STEP_FAILURE")
    assert len(failures) == 1 and f"MLflow tracking server at {url} is unreachable" in failures[0]
    assert len(step_errors(result, "STEP_UP_FOR_RETRY")) == MLFLOW_RETRY.max_retries
    with services.profile():
        registry = clients_from_settings(get_settings()).registry
        assert {name: str(registry.champion(name).version) for name in MODELS} == before
        assert len(registry.client().search_model_versions(f"name='{EXCEEDANCE}'")) == versions_before


class ConstantModel(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [0.0] * len(model_input)


def test_champion_never_moves_to_a_version_whose_artifacts_are_missing(services):
    name = f"services_test.half_registered_{uuid.uuid4().hex[:6]}"
    with services.profile():
        registry = clients_from_settings(get_settings()).registry
        mlflow.set_tracking_uri(registry.tracking_uri)
        versions = []
        for attempt in range(2):
            with registry.start_run("services-tests", f"constant-{attempt}", tags={}) as run:
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=ConstantModel(),
                    pip_requirements=["mlflow"],  # skips the slow requirement inference
                )
            versions.append(registry.register_version(name, info, run.info.run_id, tags={}))
        registry.promote(name, versions[0], tags={PROMOTED_AT_TAG: "first"})
        client = registry.client()

        # Lose the second version's files in the bucket behind the server (a half-finished upload).
        model_id = client.get_model_version(name, versions[1]).source.rsplit("/", 1)[-1]
        location = client.get_logged_model(model_id).artifact_location
        assert location.startswith("mlflow-artifacts:/")
        bucket = services.env["MLOPS_MLFLOW_BUCKET"]
        store = ObjectStore(
            base_uri=f"s3://{bucket}",
            endpoint_url=services.env["MLOPS_S3_ENDPOINT_URL"],
            access_key_id=services.env["AWS_ACCESS_KEY_ID"],
            secret_access_key=services.env["AWS_SECRET_ACCESS_KEY"],
        )
        store.root().fs.rm(
            f"{bucket}/{location.removeprefix('mlflow-artifacts:/').strip('/')}", recursive=True
        )

        with pytest.raises(PromotionRefused, match="has no usable artifacts"):
            registry.promote(name, versions[1], tags={PROMOTED_AT_TAG: "second"})
        with pytest.raises(PromotionRefused, match="has no usable artifacts"):
            registry.rollback(name, to_version=versions[1])  # the same check guards a rollback
        assert str(registry.champion(name).version) == versions[0]
        assert PROMOTED_AT_TAG not in client.get_model_version(name, versions[1]).tags
