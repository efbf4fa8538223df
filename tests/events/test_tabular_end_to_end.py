"""The example tabular pipeline end to end on the local profile with events through RabbitMQ: a messy census
export is uploaded through the API, `dataset.landed` becomes a refresh run, the candidates pass the gates,
the champion alias moves and `model.promoted` goes out, the API swaps the model in and predicts raw rows
with prediction sets, rejects a bad row naming it, and takes feedback as a class label."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient

from events.tags import EVENT_ID_TAG, PROMOTED_BY_RUN_TAG, TRACE_TAG
from pipelines.census_simulator import census_csv, simulate_census
from pipelines.keys import PipelineKeys
from pipelines.spec import load_specs
from tests.events.conftest import Platform, Subscriber

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PIPELINE = "census_income"
SPEC = load_specs()[PIPELINE]
TASK = SPEC.tasks[0]


def run_request(platform: Platform, cursor: str | None) -> tuple[dg.RunRequest, str | None]:
    for _ in range(20):
        tick = platform.tick(cursor)
        cursor = tick.cursor
        if tick.run_requests:
            return tick.run_requests[0], cursor
    raise AssertionError("the sensor never asked for a run")


def test_uploaded_census_export_is_trained_promoted_served_and_takes_feedback(
    platform: Platform, tmp_path: Path
):
    from serving.auth import add_key
    from serving.config import get_serving_settings
    from serving.main import create_app

    get_serving_settings.cache_clear()
    key, _ = add_key(get_serving_settings().keys_path(), "e2e", ["admin", "predict"])
    headers = {"X-API-Key": key}
    keys = PipelineKeys(SPEC)
    subscriber = Subscriber(platform.url, platform.exchange, ["model.promoted"])
    platform.tick()  # declares the sensor's queue, as the running daemon has before anything is published
    began = time.perf_counter()
    with TestClient(create_app(), headers=headers) as api:
        upload = api.post(
            f"/v1/pipelines/{PIPELINE}/datasets",
            files={"file": ("adult.csv", census_csv(simulate_census(2500, seed=5), seed=5), "text/csv")},
            headers={"X-Trace-ID": "trace-tabular"},
        )
        assert upload.status_code == 202, upload.text
        assert upload.json()["detail"]["rows"] == 2500

        request, _ = run_request(platform, None)
        assert request.job_name == keys.refresh_job
        assert request.tags[EVENT_ID_TAG] == upload.json()["task_id"]
        config = {k: v for k, v in request.run_config.items() if k != "execution"}
        result = platform.defs.resolve_job_def(request.job_name).execute_in_process(
            run_config=config, instance=platform.instance, tags=request.tags, raise_on_error=False
        )
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks["beats_baseline"] and checks["beats_champion"] and checks["calibrated"]
        assert "slices" in checks

        champion = platform.clients.registry.champion(keys.model_name(TASK))
        assert champion is not None and champion.tags[PROMOTED_BY_RUN_TAG] == result.run_id
        promoted = [e for e in subscriber.received() if e["payload"]["pipeline"] == PIPELINE]
        assert [(e["payload"]["version"], e["trace_id"]) for e in promoted] == [
            (str(champion.version), "trace-tabular")
        ]
        assert request.tags[TRACE_TAG] == "trace-tabular"
        upload_to_champion = time.perf_counter() - began

        rows = [
            {"age": 52, "workclass": "Private", "education": "Masters", "education_num": 14,
             "marital_status": "Married-civ-spouse", "occupation": "Exec-managerial", "relationship": "Husband",
             "sex": "Male", "capital_gain": 15000, "capital_loss": 0, "hours_per_week": 50,
             "union_member": False, "native_country": "United-States"},
            {"age": 19, "education": "11th", "sex": "Female", "hours_per_week": 20, "occupation": None},
        ]  # fmt: skip
        body = None
        for _ in range(60):  # the API swaps the new champion in on model.promoted
            answer = api.post(f"/v1/pipelines/{PIPELINE}/predict", json={"rows": rows})
            if answer.status_code != 503:
                body = answer.json()
                break
            time.sleep(0.5)
        assert body is not None and answer.status_code == 200, answer.text
        assert body["model_version"] == str(champion.version)
        first, second = body["predictions"]
        assert first["label"] == ">50K" and second["label"] == "<=50K"
        assert second["label"] in second["prediction_set"]
        assert abs(sum(first["probabilities"].values()) - 1) < 1e-9

        bad = api.post(f"/v1/pipelines/{PIPELINE}/predict", json={"rows": [rows[0], {**rows[1], "sex": "X"}]})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["location"] == "rows[1].sex"
        missing = api.post(f"/v1/pipelines/{PIPELINE}/predict", json={"rows": [{"age": 30}]})
        assert missing.status_code == 422 and "rows[0].hours_per_week" in missing.json()["detail"]

        feedback = api.post(
            "/v1/feedback", json={"prediction_id": first["prediction_id"], "observed": ">50K."}
        )
        assert feedback.status_code == 202, feedback.text
        assert feedback.json()["observed"] == 1.0 and feedback.json()["predicted"] == 1.0
        wrong = api.post("/v1/feedback", json={"prediction_id": first["prediction_id"], "observed": "rich"})
        assert wrong.status_code == 422

        schema = api.get("/openapi.json").json()
        rows_schema = schema["components"]["schemas"][f"{PIPELINE}.{TASK.name}.PredictRequest"]
        row = rows_schema["properties"]["rows"]["items"]
        assert row["properties"]["sex"]["anyOf"][0]["enum"] == ["Female", "Male"]
        assert set(row["required"]) == {"age", "hours_per_week"}
    subscriber.close()
    print(f"upload → champion: {upload_to_champion:.1f} s")
