"""The prediction API through a real uvicorn process: what API clients see (bodies, statuses, headers),
what lands in the landing area and on the bus, and a champion swapped under load without an error."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pika
import pytest
from mlflow.tracking import MlflowClient

from deploy.env import BIN_DIR
from events.bus import EventPublisher
from events.envelope import make_event
from events.tags import CHAMPION
from pipelines.keys import PipelineKeys
from pipelines.parsing import format_source_file
from pipelines.simulator import simulate_readings
from pipelines.spec import SPECS_DIR, load_specs
from tests.serving.conftest import Api, api_env, mlops, start_api
from tests.throwaway import free_port_block

pytestmark = [pytest.mark.broker, pytest.mark.slow]
PREDICT = "/v1/pipelines/air_quality/predict"


def problem(response) -> dict:
    assert response.headers["content-type"] == "application/problem+json", response.text
    body = response.json()
    assert body["status"] == response.status_code and body["detail"]
    return body


class Subscriber:
    """An exclusive queue on the API's exchange, to see the events it publishes."""

    def __init__(self, api: Api, keys: list[str]) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(api.env["MLOPS_RABBITMQ_URL"]))
        self.channel = self.connection.channel()
        exchange = api.env["MLOPS_EVENTS_EXCHANGE"]
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        for key in keys:
            self.channel.queue_bind(self.queue, exchange, routing_key=key)

    def next(self, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            method, _, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is not None:
                return json.loads(body)
            time.sleep(0.1)
        raise AssertionError("no event arrived")

    def close(self) -> None:
        self.connection.close()


def test_health_readiness_and_metrics_are_open_and_name_the_loaded_models(api: Api):
    with api.client(scope=None) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready", body
        for name in ("air_quality.forecast", "air_quality.exceedance"):
            assert body["models"][name]["version"], body
        assert body["models"]["air_quality_landing.forecast"] == {
            "version": None,
            "error": "no champion promoted yet",
        }
        metrics = http.get("/metrics").text
        assert 'mlops_api_model_version{pipeline="air_quality",task="forecast"}' in metrics
        labels = {"pipeline": "air_quality", "task": "forecast"}
        assert _samples(metrics, "mlops_api_forecast_served_by_model", **labels, target="no2") == 1.0


def _samples(metrics: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels are exactly `labels` (values may hold braces)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(name + "{")
        and dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) + 1 : line.rindex("}")])) == labels
    )


def test_workers_report_one_pool_of_metrics(api: Api):
    """Two worker processes serve (each with its connections); /metrics, whichever answers, counts both."""
    workers = set(re.findall(r"Started server process \[(\d+)\]", api.log.read_text()))
    assert len(workers) == 2, workers
    labels = {
        "method": "GET",
        "route": "/healthz",
        "status": "200",
        "pipeline": "",
        "task": "",
        "model_version": "",
    }
    before = _samples(httpx.get(f"{api.url}/metrics").text, "mlops_api_requests_total", **labels)
    for _ in range(40):  # a new connection each: the kernel hands them to either worker
        assert httpx.get(f"{api.url}/healthz").status_code == 200
    for _ in range(3):  # any worker's answer holds every worker's counts
        after = _samples(httpx.get(f"{api.url}/metrics").text, "mlops_api_requests_total", **labels)
        assert after - before == 40


def test_a_prediction_is_counted_and_timed_under_the_champion_version_that_served_it(api: Api):
    with api.client("predict") as http:
        served = http.post(PREDICT, json={"rows": api.feature_rows(2)}).json()
    labels = {
        "method": "POST",
        "route": "/v1/pipelines/{pipeline}/predict",
        "pipeline": "air_quality",
        "task": served["task"],
        "model_version": str(served["model_version"]),
    }
    metrics = httpx.get(f"{api.url}/metrics").text
    assert _samples(metrics, "mlops_api_requests_total", status="200", **labels) >= 1
    assert _samples(metrics, "mlops_api_request_duration_seconds_count", **labels) >= 1
    # The 25 ms goal is a bucket bound, with bounds close around it: a p99 near it is read exactly.
    assert 'le="0.025"' in metrics and 'le="0.02"' in metrics and 'le="0.03"' in metrics


def test_routes_need_a_key_with_the_right_scope(api: Api):
    with api.client(scope=None) as http:
        missing = http.get("/v1/pipelines")
        assert missing.status_code == 401 and "X-API-Key" in problem(missing)["detail"]
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert http.get("/v1/pipelines", headers={"X-API-Key": "mlops_not-a-key"}).status_code == 401
        bearer = http.get("/v1/pipelines", headers={"Authorization": f"Bearer {api.keys['predict']}"})
        assert bearer.status_code == 200
        assert {p["name"] for p in bearer.json()} == {"air_quality", "air_quality_landing", "census_income"}
    with api.client("predict") as http:
        denied = http.post("/v1/pipelines/air_quality/training", json={"task": "forecast"})
        assert denied.status_code == 403 and "'admin' scope" in problem(denied)["detail"]
    with api.client("admin") as http:  # admin includes predict
        assert http.get("/v1/pipelines/air_quality/model").status_code == 200


def test_keys_are_revoked_and_added_without_a_restart(api: Api):
    key = mlops(api.env, "api-key", "create", "rotating", "--scopes", "predict", "--quiet").strip()
    with api.client(key=key) as http:
        deadline = time.monotonic() + 5
        while http.get("/v1/pipelines").status_code != 200:
            assert time.monotonic() < deadline, "a new key was not accepted within 5 s"
            time.sleep(0.2)
        mlops(api.env, "api-key", "revoke", "rotating")
        deadline = time.monotonic() + 5
        while http.get("/v1/pipelines").status_code != 401:
            assert time.monotonic() < deadline, "a revoked key was still accepted after 5 s"
            time.sleep(0.2)


def test_predict_returns_the_champions_forecasts_with_intervals_and_ids(api: Api):
    rows = api.feature_rows(30)
    with api.client() as http:
        response = http.post(PREDICT, json={"rows": rows})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "air_quality.forecast" and body["interval_level"] == 0.9
    assert body["sources"] == {"no2": "model", "co": "model"}
    assert len(body["predictions"]) == 30
    assert [p["prediction_id"] for p in body["predictions"]][:2] == [
        f"{body['prediction_id']}.0",
        f"{body['prediction_id']}.1",
    ]
    store = f"sqlite:///{api.data_dir / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)  # an earlier test may have pointed the registry at a server
    model = mlflow.pyfunc.load_model(f"models:/air_quality.forecast/{body['model_version']}")
    expected = model.unwrap_python_model().predict_frame(pd.DataFrame(rows).astype(float))
    for target in ("no2", "co"):
        got = np.array([p[target] for p in body["predictions"]])
        lower = np.array([p[f"{target}_lower"] for p in body["predictions"]])
        upper = np.array([p[f"{target}_upper"] for p in body["predictions"]])
        np.testing.assert_allclose(got, expected[target].to_numpy(), rtol=1e-9)
        np.testing.assert_allclose(upper, expected[f"{target}_upper"].to_numpy(), rtol=1e-9)
        assert (lower <= got).all() and (got <= upper).all()

    with api.client() as http:  # the classifier on the same features gives probabilities
        spec = load_specs()["air_quality"]
        task = spec.task("exceedance")
        from pipelines.features import model_feature_columns

        columns = model_feature_columns(spec, task)
        risk = http.post(
            PREDICT, json={"task": "exceedance", "rows": [{c: r[c] for c in columns} for r in rows[:3]]}
        )
    assert risk.status_code == 200, risk.text
    assert all(0 <= p["probability"] <= 1 for p in risk.json()["predictions"])


@pytest.mark.parametrize(
    "body, status, says",
    [
        ({"rows": []}, 422, "rows"),
        ({"rows": [{"no2_lag0": "high"}]}, 422, "rows[0].no2_lag0"),
        ({"rows": "everything"}, 422, "rows"),
        ({"task": "nowcast", "rows": [{"a": 1}]}, 422, "no task 'nowcast'"),
        ({"rows": [{"no2_lag0": 1.0}]}, 422, "rows[0]: missing no2_lag1"),
    ],
)
def test_invalid_bodies_get_422_naming_the_row_and_field(api: Api, body, status, says):
    with api.client() as http:
        response = http.post(PREDICT, json=body)
    assert response.status_code == status
    assert says in problem(response)["detail"]


def test_malformed_requests_get_problem_json_never_a_500(api: Api):
    rows = api.feature_rows(2)
    extra = {**rows[1], "no2_lag25": 3.0}
    with api.client() as http:
        unknown = http.post(PREDICT, json={"rows": [rows[0], extra]})
        assert unknown.status_code == 422 and "rows[1]: unknown no2_lag25" in problem(unknown)["detail"]
        bad_json = http.post(PREDICT, content=b'{"rows": [', headers={"content-type": "application/json"})
        assert bad_json.status_code == 422 and "not valid JSON" in problem(bad_json)["detail"]
        wrong_type = http.post(
            PREDICT, content=json.dumps({"rows": rows}), headers={"content-type": "text/csv"}
        )
        assert wrong_type.status_code == 415 and "application/json" in problem(wrong_type)["detail"]
        huge = http.post(
            PREDICT, content=b" " * (33 * 1024 * 1024), headers={"content-type": "application/json"}
        )
        assert huge.status_code == 413
        problem(huge)
        assert problem(http.post("/v1/pipelines/nope/predict", json={"rows": rows}))["status"] == 404
        assert http.delete(PREDICT).status_code == 405
        assert problem(http.get("/v1/nothing"))["status"] == 404
        nan = http.post(
            PREDICT, content=b'{"rows": [{"no2_lag0": NaN}]}', headers={"content-type": "application/json"}
        )
        assert nan.status_code == 422


def test_forecast_for_a_station_and_hour_with_clear_errors_outside(api: Api):
    spec = load_specs()["air_quality"]
    features = api.features_frame()
    station = sorted(features["station"].unique())[0]
    origin = pd.Timestamp(features.dropna(subset=["no2_lag0"])
                          .query("station == @station")["timestamp"].max())  # fmt: skip
    with api.client() as http:
        at = (origin + pd.Timedelta(hours=6)).isoformat()
        response = http.get("/v1/pipelines/air_quality/forecast", params={"station": station, "at": at})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["horizon"] == 6 and body["source"] in ("precomputed", "computed")
        assert body["sources"] == {"no2": "model", "co": "model"}
        assert {f["source"] for f in body["forecasts"]} == {"model"}
        assert {f["target"] for f in body["forecasts"]} == set(spec.task("forecast").targets)
        for f in body["forecasts"]:
            assert f["lower"] <= f["prediction"] <= f["upper"]
        naive = (origin + pd.Timedelta(hours=3)).tz_localize(None).isoformat()  # no offset: UTC
        assert (
            http.get("/v1/pipelines/air_quality/forecast", params={"station": station, "at": naive}).json()[
                "horizon"
            ]
            == 3
        )
        beyond = http.get(
            "/v1/pipelines/air_quality/forecast",
            params={"station": station, "at": (origin + pd.Timedelta(hours=30)).isoformat()},
        )
        assert beyond.status_code == 422 and "outside the forecast horizon" in problem(beyond)["detail"]
        nowhere = http.get("/v1/pipelines/air_quality/forecast", params={"station": "atlantis", "at": at})
        assert nowhere.status_code == 404 and station in problem(nowhere)["detail"]
        ancient = http.get(
            "/v1/pipelines/air_quality/forecast", params={"station": station, "at": "0004-01-01T00:00:00Z"}
        )
        assert ancient.status_code == 422


def _landing_csv(start: str, end: str) -> bytes:
    spec = load_specs()["air_quality_landing"]
    readings = simulate_readings(["site_1"], pd.Timestamp(start), pd.Timestamp(end), 11)
    return format_source_file(readings, spec)


def test_upload_lands_a_safely_named_file_and_announces_it(api: Api):
    subscriber = Subscriber(api, ["dataset.landed"])
    try:
        with api.client("admin") as http:
            response = http.post(
                "/v1/pipelines/air_quality_landing/datasets",
                files={
                    "file": (
                        "../../etc/passwd;rm -rf.csv",
                        _landing_csv("2024-02-01", "2024-02-03"),
                        "text/csv",
                    )
                },
                headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"},
            )
            assert response.status_code == 202, response.text
            accepted = response.json()
            event = subscriber.next()
            status = http.get(accepted["status_url"])
    finally:
        subscriber.close()
    assert event["id"] == accepted["task_id"] and event["trace_id"] == "ab" * 16
    uri = event["payload"]["uri"]
    name = Path(uri).name
    assert Path(uri).parent == api.data_dir / "landing" / "air_quality_landing"
    assert "/" not in name and ".." not in name and ";" not in name and name.endswith(".csv")
    assert Path(uri).read_bytes() == _landing_csv("2024-02-01", "2024-02-03")
    assert event["payload"]["start"] == "2024-02-01" and event["payload"]["end"] == "2024-02-02"
    assert status.status_code == 200, status.text
    assert status.json()["status"] in ("pending", "queued") and status.json()["kind"] == "dataset.landed"


def test_uploads_that_cannot_be_ingested_are_refused_and_nothing_lands(api: Api):
    folder = api.data_dir / "landing" / "air_quality_landing"
    before = set(folder.iterdir())
    with api.client("admin") as http:

        def upload(pipeline: str, content: bytes, name: str = "x.csv"):
            return http.post(
                f"/v1/pipelines/{pipeline}/datasets", files={"file": (name, content, "text/csv")}
            )

        binary = upload("air_quality_landing", b"\x89PNG\r\n\x1a\n\x00\x00\x00")
        assert binary.status_code == 415 and "neither CSV" in problem(binary)["detail"]
        wrong = upload("air_quality_landing", b"a,b,c\n1,2,3\n")
        assert wrong.status_code == 422 and "cannot read this file" in problem(wrong)["detail"]
        simulated = upload("air_quality", _landing_csv("2024-02-01", "2024-02-02"))
        assert simulated.status_code == 409 and "simulator" in problem(simulated)["detail"]
        assert upload("air_quality_landing", b"").status_code == 422
        no_file = http.post("/v1/pipelines/air_quality_landing/datasets")
        assert no_file.status_code == 422
    assert set(folder.iterdir()) == before


def test_training_requests_are_checked_against_the_spec_then_announced(api: Api):
    subscriber = Subscriber(api, ["training.requested"])
    try:
        with api.client("admin") as http:
            bad = http.post(
                "/v1/pipelines/air_quality/training", json={"algorithm": "ridge", "task": "exceedance"}
            )
            assert bad.status_code == 422 and "not a candidate" in problem(bad)["detail"]
            params = http.post(
                "/v1/pipelines/air_quality/training",
                json={"algorithm": "hist_gradient_boosting", "params": {"learning_rate": "fast"}},
            )
            assert params.status_code == 422 and "invalid params" in problem(params)["detail"]
            ok = http.post(
                "/v1/pipelines/air_quality/training",
                json={"task": "forecast", "algorithm": "hist_gradient_boosting", "params": {"max_iter": 40}},
            )
            assert ok.status_code == 202, ok.text
            event = subscriber.next()
            unknown = http.get(f"/v1/tasks/{uuid.uuid4()}")
    finally:
        subscriber.close()
    assert event["id"] == ok.json()["task_id"]
    assert event["payload"] == {
        "pipeline": "air_quality", "task": "forecast", "algorithm": "hist_gradient_boosting", "params": {"max_iter": 40},
        "search": None,
    }  # fmt: skip
    assert unknown.status_code == 404


def test_feedback_is_stored_and_announced_for_a_known_prediction(api: Api):
    subscriber = Subscriber(api, ["feedback.recorded"])
    try:
        with api.client() as http:
            predicted = http.post(PREDICT, json={"rows": api.feature_rows(2)}).json()
            pid = predicted["predictions"][1]["prediction_id"]
            ambiguous = http.post("/v1/feedback", json={"prediction_id": pid, "observed": 40.0})
            assert ambiguous.status_code == 422 and "name the target" in problem(ambiguous)["detail"]
            unknown = http.post(
                "/v1/feedback", json={"prediction_id": "p_0123456789abcdef0123.0", "observed": 1}
            )
            assert unknown.status_code == 404
            accepted = http.post(
                "/v1/feedback", json={"prediction_id": pid, "target": "no2", "observed": 40.0}
            )
            assert accepted.status_code == 202, accepted.text
            event = subscriber.next()
    finally:
        subscriber.close()
    body = accepted.json()
    assert body["published"] is True
    assert body["predicted"] == pytest.approx(predicted["predictions"][1]["no2"])
    assert event["id"] == body["event_id"]
    assert event["payload"] == {
        "prediction_id": pid,
        "observed": 40.0,
        "pipeline": "air_quality",
        "target": "no2",
    }
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{api.data_dir / 'api' / 'serving.db'}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT observed, published FROM feedback WHERE prediction_id = :p"), {"p": pid}
        )
        assert [tuple(r) for r in rows] == [(40.0, 1)]
    engine.dispose()


def test_every_response_and_log_line_carries_the_request_and_trace_id(api: Api):
    trace = uuid.uuid4().hex
    with api.client() as http:
        response = http.get("/v1/pipelines", headers={"X-Request-ID": "req-42", "X-Trace-ID": trace})
        generated = http.get("/v1/pipelines")
    assert response.headers["x-request-id"] == "req-42" and response.headers["x-trace-id"] == trace
    assert len(generated.headers["x-request-id"]) == 32 and len(generated.headers["x-trace-id"]) == 32
    time.sleep(0.5)
    lines = [json.loads(line) for line in api.log.read_text().splitlines() if line.startswith("{")]
    ours = [line for line in lines if line.get("request_id") == "req-42"]
    assert ours and ours[-1]["trace_id"] == trace and ours[-1]["route"] == "/v1/pipelines"
    assert ours[-1]["status"] == 200


def test_schemathesis_finds_no_server_error(api: Api, tmp_path: Path):
    """Every operation fuzzed from the OpenAPI document against an instance whose pipelines all have a
    champion (a pipeline without one answers 503 by design, which schemathesis would count)."""
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(SPECS_DIR / "air_quality.yaml", specs)
    env = api_env(
        tmp_path,
        MLOPS_DATA_DIR=str(api.data_dir),
        MLOPS_SPECS_DIR=str(specs),
        MLOPS_EVENTS_EXCHANGE=api.env["MLOPS_EVENTS_EXCHANGE"],
        MLOPS_API_DATABASE_URL=f"sqlite:///{tmp_path / 'serving.db'}",
        DAGSTER_PORT=api.env["DAGSTER_PORT"],  # task status from the running webserver
    )
    stack = start_api(env, tmp_path / "stack", with_dagster=False)
    try:
        done = subprocess.run(
            [
                str(BIN_DIR / "schemathesis"), "run", f"http://127.0.0.1:{env['API_PORT']}/openapi.json",
                "--checks", "not_a_server_error", "-H", f"X-API-Key: {api.keys['admin']}",
                "--max-examples", "25", "--workers", "1", "--seed", "7",
                "--phases", "examples,coverage,fuzzing", "--request-timeout", "30",
            ],
            capture_output=True, text=True, cwd=tmp_path, timeout=420, check=False,
        )  # fmt: skip
    finally:
        stack.stop(report=lambda line: None)
    assert done.returncode == 0, done.stdout[-6000:]
    assert "generated" in done.stdout and "Server error" not in done.stdout


def test_broker_down_refuses_uploads_with_503_and_keeps_predicting(api: Api, tmp_path: Path):
    """A second instance whose broker is unreachable (nothing listens on its port)."""
    shutil.copytree(api.data_dir / "api", tmp_path / "keys")
    env = api_env(
        tmp_path,
        MLOPS_DATA_DIR=str(api.data_dir),
        MLOPS_RABBITMQ_URL=f"amqp://guest:guest@127.0.0.1:{free_port_block(1)}/%2F",
        MLOPS_API_DATABASE_URL=f"sqlite:///{tmp_path / 'serving.db'}",
    )
    stack = start_api(env, tmp_path / "stack", with_dagster=False)
    try:
        other = Api(f"http://127.0.0.1:{env['API_PORT']}", env, stack, api.data_dir, api.keys)
        folder = api.data_dir / "landing" / "air_quality_landing"
        before = set(folder.iterdir())
        with other.client("admin") as http:
            assert http.post(PREDICT, json={"rows": api.feature_rows(1)}).status_code == 200
            ready = http.get("/readyz").json()
            assert ready["status"] == "degraded" and "broker" in ready["degraded"], ready
            upload = http.post(
                "/v1/pipelines/air_quality_landing/datasets",
                files={"file": ("x.csv", _landing_csv("2024-02-01", "2024-02-02"), "text/csv")},
            )
            assert upload.status_code == 503 and int(upload.headers["retry-after"]) > 0
            assert "broker is unreachable" in problem(upload)["detail"]
            training = http.post("/v1/pipelines/air_quality/training", json={"task": "forecast"})
            assert training.status_code == 503 and training.headers["retry-after"]
        assert set(folder.iterdir()) == before
    finally:
        stack.stop(report=lambda line: None)


FORECAST_MODEL = PipelineKeys(load_specs()["air_quality"]).model_name(
    load_specs()["air_quality"].task("forecast")
)


def _copy_of_champion(client: MlflowClient):
    """A new registered version with the champion's files, run and tags."""
    current = client.get_model_version_by_alias(FORECAST_MODEL, CHAMPION)
    files = client.get_model_version_download_uri(FORECAST_MODEL, current.version)
    return current, client.create_model_version(
        FORECAST_MODEL, source=files, run_id=current.run_id, tags=current.tags
    )


def test_champion_swaps_under_load_without_an_error(api: Api):
    """A new version promoted (alias moved, model.promoted published) while a client keeps predicting."""
    store = f"sqlite:///{api.data_dir / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    rows = api.feature_rows(1)
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def load() -> None:
        with api.client() as http:
            while not stop.is_set():
                response = http.post(PREDICT, json={"rows": rows})
                seen.append((response.status_code, response.json().get("model_version")))

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(1.0)
        current, new = _copy_of_champion(client)
        client.set_registered_model_alias(FORECAST_MODEL, CHAMPION, new.version)
        publisher = EventPublisher(api.env["MLOPS_RABBITMQ_URL"], api.env["MLOPS_EVENTS_EXCHANGE"])
        publisher.publish(
            make_event(
                "model.promoted",
                {
                    "pipeline": "air_quality",
                    "task": "forecast",
                    "model": FORECAST_MODEL,
                    "version": str(new.version),
                },
                source="test",
            )
        )
        publisher.close()
        deadline = time.monotonic() + 30
        while not any(v == str(new.version) for _, v in seen[-20:]):
            assert time.monotonic() < deadline, f"still on {seen[-1]} 30 s after model.promoted"
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join()
    assert {status for status, _ in seen} == {200}
    versions = [v for _, v in seen]
    switch = versions.index(str(new.version))
    assert set(versions[:switch]) == {str(current.version)} and set(versions[switch:]) == {str(new.version)}
    assert switch > 0


def test_rollback_from_the_cli_swaps_every_api_worker_at_once(api: Api):
    """`mlops rollback` announces model.promoted: both workers serve the previous champion within seconds,
    not at their next refresh (300 s in these tests)."""
    store = f"sqlite:///{api.data_dir / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    before, new = _copy_of_champion(client)
    mlops(api.env, "rollback", "air_quality", "--task", "forecast", "--to-version", str(new.version))
    rows = api.feature_rows(1)

    def served(version: str, within: float) -> None:
        deadline = time.monotonic() + within
        with api.client() as http:
            while True:
                seen = {http.post(PREDICT, json={"rows": rows}).json()["model_version"] for _ in range(8)}
                if seen == {version}:
                    return
                assert time.monotonic() < deadline, f"still serving {seen}, expected {version}"
                time.sleep(0.2)

    served(str(new.version), 20)
    out = mlops(api.env, "rollback", "air_quality", "--task", "forecast", "--to-version", str(before.version))
    assert f"from version {new.version} to {before.version}" in out
    served(str(before.version), 20)
    assert client.get_model_version_by_alias(FORECAST_MODEL, CHAMPION).tags["rolled_back_from"] == str(
        new.version
    )


def test_registering_a_pipeline_reloads_the_dagster_code_location(api: Api):
    text = (
        (SPECS_DIR / "census_income.yaml")
        .read_text()
        .replace("name: census_income", "name: registered_loans")
    )
    with api.client("admin") as http:
        answer = http.post("/v1/pipelines", content=text, headers={"Content-Type": "application/yaml"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["code_location_reloaded"] is True, answer.json()["reload_error"]
        nodes = httpx.post(
            f"http://127.0.0.1:{api.env['DAGSTER_PORT']}/graphql",
            json={"query": "{ assetNodes { assetKey { path } } }"},
            timeout=30,
        ).json()["data"]["assetNodes"]
        assert ["registered_loans", "income_champion"] in [n["assetKey"]["path"] for n in nodes]
        assert http.delete("/v1/pipelines/registered_loans").status_code == 204
