"""Registering a pipeline at run time through the API (local profile, in process): validated with errors
naming the field, stored beside the built-in specs, served at once (list, spec, OpenAPI rows schema),
Dagster's reload reported, a built-in name refused, removal; and a spec proposed from a sample file."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipelines.census_simulator import census_csv, simulate_census
from pipelines.spec import SPECS_DIR

CENSUS = (SPECS_DIR / "census_income.yaml").read_text()


@pytest.fixture
def api(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    from serving.auth import add_key
    from serving.config import get_serving_settings
    from serving.main import create_app

    monkeypatch.setenv("MLOPS_API_DAGSTER_URL", "http://127.0.0.1:9")  # nothing listens: reload reported
    get_serving_settings.cache_clear()
    keys = {s: add_key(get_serving_settings().keys_path(), f"k-{s}", [s])[0] for s in ("admin", "predict")}
    with TestClient(create_app(), headers={"X-API-Key": keys["admin"]}) as client:
        client.keys = keys
        yield client
    get_serving_settings.cache_clear()


def test_a_registered_spec_is_served_without_a_restart(api: TestClient):
    answer = api.post(
        "/v1/pipelines",
        content=CENSUS.replace("name: census_income", "name: loans"),
        headers={"Content-Type": "application/yaml"},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["name"], body["kind"], body["tasks"]) == ("loans", "tabular", ["income"])
    assert body["code_location_reloaded"] is False and "did not answer" in body["reload_error"]
    assert "loans" in {p["name"] for p in api.get("/v1/pipelines").json()}
    assert api.get("/v1/pipelines/loans/spec").json()["tasks"][0]["target"] == "income"
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    assert "loans.income.PredictRequest" in schemas
    assert (
        api.post(
            "/v1/pipelines/loans/predict", json={"rows": [{"age": 30, "hours_per_week": 40}]}
        ).status_code
        == 503
    )

    assert api.delete("/v1/pipelines/loans").status_code == 204
    assert api.get("/v1/pipelines/loans/spec").status_code == 404
    assert api.delete("/v1/pipelines/census_income").status_code == 404  # built-in: removed by a deploy


def test_invalid_specs_are_refused_naming_the_field_and_a_broken_stored_one_is_reported_in_readyz(
    api: TestClient,
):
    broken = CENSUS.replace("name: census_income", "name: loans").replace(
        "metric: log_loss", "metric: accuracy"
    )
    answer = api.post("/v1/pipelines", content=broken, headers={"Content-Type": "application/yaml"})
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert [e["location"] for e in answer.json()["errors"]] == ["tasks[0].promotion.metric"]
    taken = api.post("/v1/pipelines", content=CENSUS, headers={"Content-Type": "application/yaml"})
    assert taken.status_code == 409
    from resources.settings import get_settings

    folder = get_settings().data_path / "landing" / "_specs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "half.yaml").write_text("kind: tabular\nname: half\n")
    api.app.state.platform.reload_specs()
    degraded = api.get("/readyz").json()["degraded"]
    assert "half.yaml" in degraded["specs"] and "half" not in {
        p["name"] for p in api.get("/v1/pipelines").json()
    }
    read_only = api.post(
        "/v1/pipelines",
        content=CENSUS,
        headers={"Content-Type": "application/yaml", "X-API-Key": api.keys["predict"]},
    )
    assert read_only.status_code == 403


def test_a_sample_file_gets_a_proposed_spec_with_its_unsure_points(api: TestClient):
    sample = census_csv(simulate_census(300, seed=4), seed=4)
    answer = api.post(
        "/v1/specs/infer", params={"name": "adult"}, files={"file": ("adult.csv", sample, "text/csv")}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["spec"]["name"] == "adult" and body["yaml"].startswith("# UNSURE:")
    assert any(line.startswith("target:") for line in body["unsure"])
    registered = api.post("/v1/pipelines", content=body["yaml"], headers={"Content-Type": "application/yaml"})
    assert registered.status_code == 201, registered.text
