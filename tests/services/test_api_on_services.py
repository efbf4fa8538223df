"""The prediction API as a service of the production-shaped stack: it loads the champion from the MLflow
server, keeps serving while that server is down, and an upload becomes a Dagster run whose status the
task route reports from the webserver's GraphQL API."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest

from deploy.env import BIN_DIR
from pipelines.parsing import format_source_file
from pipelines.simulator import simulate_readings
from pipelines.spec import load_specs

pytestmark = [pytest.mark.services, pytest.mark.slow]


def wait_for(what: str, check, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(1)


@pytest.fixture(scope="module")
def api(services, trained):
    assert trained.success, trained.failures
    key = subprocess.run(
        [str(BIN_DIR / "mlops"), "api-key", "create", "services-test", "--scopes", "admin", "--quiet"],
        env={**os.environ, **services.env}, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    url = f"http://127.0.0.1:{services.env['API_PORT']}"
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as http:
        yield http


def test_api_serves_the_champion_from_the_mlflow_server_and_survives_its_outage(services, api):
    def forecast_loaded():
        ready = api.get("/readyz")
        return ready.status_code == 200 and ready.json()["models"]["air_quality.forecast"]["version"]

    version = wait_for("the API to load air_quality.forecast", forecast_loaded, 60)
    model = api.get("/v1/pipelines/air_quality/model").json()["tasks"][0]
    assert model["champion_version"] == version
    assert model["mlflow_run_url"].startswith(services.env["MLOPS_MLFLOW_UI_URL"])
    rows = [{c: 1.0 for c in model["input_columns"]}]

    services.stack.stop_service("mlflow")
    try:
        degraded = wait_for(
            "/readyz to report MLflow down",
            lambda: "mlflow" in api.get("/readyz").json()["degraded"] and api.get("/readyz").json(),
            60,
        )
        assert services.env["MLOPS_MLFLOW_TRACKING_URI"] in degraded["degraded"]["mlflow"]
        assert degraded["models"]["air_quality.forecast"]["version"] == version
        response = api.post("/v1/pipelines/air_quality/predict", json={"rows": rows})
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == version
    finally:
        services.stack.start_service("mlflow")
    wait_for("/readyz to recover", lambda: not api.get("/readyz").json()["degraded"], 60)


def test_an_uploaded_file_lands_in_s3_and_its_task_follows_the_dagster_run(services, api):
    spec = load_specs()["air_quality_landing"]
    readings = simulate_readings(["site_1", "site_2", "site_3"], "2024-01-01", "2024-03-01", seed=11)
    response = api.post(
        "/v1/pipelines/air_quality_landing/datasets",
        files={"file": ("january-february.csv", format_source_file(readings, spec), "text/csv")},
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["detail"]["uri"].startswith(f"s3://{services.env['MLOPS_LANDING_BUCKET']}/")

    def finished():
        status = api.get(accepted["status_url"]).json()
        return status if status["status"] in ("succeeded", "failed", "canceled") else None

    status = wait_for("the upload's run to finish", finished, 240)
    assert status["status"] == "succeeded", status
    assert status["run_url"].startswith(f"{services.dagster_url}/runs/")
    promoted = wait_for(
        "the API to serve the new pipeline's champion",
        lambda: api.get("/readyz").json()["models"]["air_quality_landing.forecast"]["version"],
        60,
    )
    assert promoted == "1"
