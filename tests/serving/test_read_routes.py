"""The routes the analyst app reads, through the real API on a trained air_quality: what they answer
matches what the lake, the registry and Dagster hold, and bad requests get problem+json."""

from __future__ import annotations

import json
import time

import mlflow
import pandas as pd
import pika
import pytest
from mlflow.tracking import MlflowClient
from upath import UPath

from pipelines.parsing import format_source_file
from pipelines.simulator import simulate_readings
from pipelines.spec import load_specs
from resources.lake_store import Lake
from tests.serving.conftest import Api
from tests.serving.test_api import problem

pytestmark = [pytest.mark.broker, pytest.mark.slow]
P = "/v1/pipelines/air_quality"


def lake(api: Api) -> Lake:
    return Lake(UPath(api.data_dir / "lake"))


def test_pipelines_report_data_versions_and_the_newest_version(api: Api):
    with api.client() as http:
        body = {p["name"]: p for p in http.get("/v1/pipelines").json()}
    pointer = (api.data_dir / "lake" / "air_quality" / "forecasts" / "_" / "_latest").read_text().strip()
    assert body["air_quality"]["data_versions"]["forecasts"] == pointer.removesuffix(".parquet")
    assert set(body["air_quality"]["data_versions"]) == {"features", "forecasts", "exceedance_risk"}
    assert body["air_quality_landing"]["data_versions"] == {}
    forecast = next(t for t in body["air_quality"]["tasks"] if t["name"] == "forecast")
    assert int(forecast["latest_version"]) >= int(forecast["champion_version"])


def test_key_info_names_the_caller_and_its_scopes(api: Api):
    with api.client("predict") as http:
        assert http.get("/v1/keys/me").json() == {"name": "test-predict", "scopes": ["predict"]}
    with api.client("admin") as http:
        assert http.get("/v1/keys/me").json()["scopes"] == ["admin", "predict"]
    with api.client(scope=None) as http:
        assert http.get("/v1/keys/me").status_code == 401


def test_stations_report_the_latest_observed_hour_of_each(api: Api):
    features = api.features_frame()
    newest = features.dropna(subset=["no2_lag0"]).groupby("station")["timestamp"].max()
    with api.client() as http:
        body = http.get(f"{P}/stations").json()
        unknown = http.get("/v1/pipelines/air_quality_landing/stations")
    assert [s["station"] for s in body["stations"]] == sorted(newest.index)
    for entry in body["stations"]:
        assert pd.Timestamp(entry["latest_observed"]) == newest[entry["station"]]
    assert pd.Timestamp(body["latest_observed"]) == newest.max()
    assert unknown.status_code == 404 and "materialize" in problem(unknown)["detail"]


def test_history_returns_a_stations_clean_readings_with_gaps_as_null(api: Api):
    clean = pd.concat(
        [lake(api).read(["air_quality", "clean"], day) for day in ("2024-02-10", "2024-02-11")],
        ignore_index=True,
    )
    expected = clean[clean["station"] == "S002"].sort_values("timestamp")
    with api.client() as http:
        response = http.get(
            f"{P}/history",
            params={"station": "S002", "start": "2024-02-10T00:00Z", "end": "2024-02-12T00:00Z"},
        )
        default = http.get(f"{P}/history", params={"station": "S002"}).json()
        reversed_ = http.get(
            f"{P}/history", params={"station": "S002", "start": "2024-02-12", "end": "2024-02-10"}
        )
        too_long = http.get(
            f"{P}/history", params={"station": "S002", "start": "2023-01-01", "end": "2024-02-10"}
        )
        nowhere = http.get(f"{P}/history", params={"station": "atlantis"})
        ancient = http.get(f"{P}/history", params={"station": "S002", "start": "0004-01-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    body = response.json()
    readings = pd.DataFrame(body["readings"])
    assert len(readings) == 48 == len(expected)
    for column in ("no2", "co", "temperature"):
        got = readings[column].astype(float).to_numpy()
        want = expected[column].to_numpy()
        assert ((got == want) | (pd.isna(got) & pd.isna(want))).all(), column
    assert {c["name"]: c["unit"] for c in body["columns"]}["no2"] == "ug/m3"
    assert default["end"] == "2024-03-01T00:00:00Z" and default["start"] == "2024-02-23T00:00:00Z"
    assert reversed_.status_code == 422 and "not before" in problem(reversed_)["detail"]
    assert too_long.status_code == 422 and "at most 92" in problem(too_long)["detail"]
    assert nowhere.status_code == 404 and "S001" in problem(nowhere)["detail"]
    assert ancient.status_code == 422
    problem(ancient)


def test_forecast_paths_hold_every_horizon_and_agree_with_the_single_hour_route(api: Api):
    spec = load_specs()["air_quality"]
    with api.client() as http:
        everyone = http.get(f"{P}/forecasts").json()
        one = http.get(f"{P}/forecasts", params={"station": "S003"}).json()
        point = one["stations"][0]["points"][5]
        single = http.get(f"{P}/forecast", params={"station": "S003", "at": point["target_time"]}).json()
        feedback = http.post(
            "/v1/feedback", json={"prediction_id": point["prediction_id"], "target": "no2", "observed": 80.0}
        )
        classifier = http.get(f"{P}/forecasts", params={"task": "exceedance"})
        nowhere = http.get(f"{P}/forecasts", params={"station": ["S001", "atlantis"]})
    assert sorted(s["station"] for s in everyone["stations"]) == ["S001", "S002", "S003", "S004", "S005"]
    assert everyone["horizons"] == list(range(1, 25)) and everyone["model_version"] == single["model_version"]
    assert everyone["sources"] == single["sources"] == {"no2": "model", "co": "model"}
    assert {p["source"] for s in everyone["stations"] for p in s["points"]} == {"model"}
    path = one["stations"][0]
    assert len(path["points"]) == 24 * len(spec.task("forecast").targets)
    assert [p["horizon"] for p in path["points"] if p["target"] == "no2"] == list(range(1, 25))
    for p in path["points"]:
        assert p["lower"] <= p["prediction"] <= p["upper"]
    assert point["target"] == "no2" and point["horizon"] == single["horizon"] == 6
    same = next(f for f in single["forecasts"] if f["target"] == "no2")
    assert same["prediction"] == pytest.approx(point["prediction"], rel=1e-9)
    assert same["upper"] == pytest.approx(point["upper"], rel=1e-9)
    assert feedback.status_code == 202, feedback.text
    assert feedback.json()["predicted"] == pytest.approx(point["prediction"])
    assert classifier.status_code == 422 and "classification" in problem(classifier)["detail"]
    assert nowhere.status_code == 404 and "'atlantis'" in problem(nowhere)["detail"]


def test_exceedance_risk_matches_the_asset_for_every_station(api: Api):
    risk = lake(api).read(["air_quality", "exceedance_risk"]).set_index("station")
    with api.client() as http:
        body = http.get(f"{P}/exceedance").json()
    assert body["threshold"] == 150 and body["target"] == "no2" and body["within_hours"] == 12
    assert {s["station"] for s in body["stations"]} == set(risk.index)
    for entry in body["stations"]:
        if entry["source"] == "precomputed":
            assert entry["probability"] == pytest.approx(risk.loc[entry["station"], "probability"])
        assert 0 <= entry["probability"] <= 1


def test_model_versions_list_metrics_gates_with_their_messages_and_the_champion(api: Api):
    with api.client() as http:
        response = http.get(f"{P}/models/forecast/versions")
        no_task = http.get(f"{P}/models/nowcast/versions")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["gate_messages_error"] is None
    champions = [v for v in body["versions"] if v["champion"]]
    assert [v["version"] for v in champions] == [body["champion_version"]]
    first = body["versions"][-1]
    assert first["version"] == "1" and first["algorithm"] in ("hist_gradient_boosting", "ridge")
    store = f"sqlite:///{api.data_dir / 'mlflow' / 'mlflow.db'}"
    run = MlflowClient(tracking_uri=store).get_run(first["mlflow_run_id"])
    assert first["metrics"]["no2.mae"] == pytest.approx(run.data.metrics["holdout.no2.mae"])
    gates = {g["name"]: g for g in first["gates"]}
    assert set(gates) == {"beats_baseline", "beats_champion", "calibrated"}
    assert (
        gates["beats_baseline"]["passed"] is True and "seasonal-naive" in gates["beats_baseline"]["message"]
    )
    assert first["data_version"] and first["code_version"]
    assert no_task.status_code == 422


def test_quality_reports_missing_shares_per_day_and_the_latest_check_results(api: Api):
    clean = lake(api).read(["air_quality", "clean"], "2024-02-20")
    with api.client() as http:
        body = http.get(f"{P}/quality", params={"start": "2024-02-20", "end": "2024-02-21"}).json()
        station = http.get(
            f"{P}/quality", params={"start": "2024-02-20", "end": "2024-02-20", "station": "S001"}
        )
        default = http.get(f"{P}/quality").json()
        reversed_ = http.get(f"{P}/quality", params={"start": "2024-02-21", "end": "2024-02-20"})
    shares = {(m["day"], m["column"]): m["share"] for m in body["missing"]}
    assert len(shares) == 2 * 7
    assert shares[("2024-02-20", "no2")] == pytest.approx(clean["no2"].isna().mean())
    only = clean[clean["station"] == "S001"]
    assert {m["column"]: m["share"] for m in station.json()["missing"]}["co"] == pytest.approx(
        only["co"].isna().mean()
    )
    assert (default["start"], default["end"]) == ("2024-02-16", "2024-02-29")
    checks = {(c["asset"], c["check"]): c for c in body["checks"]}
    assert body["checks_error"] is None
    assert checks[("air_quality/clean", "no_duplicates")]["status"] == "passed"
    assert checks[("air_quality/clean", "no_duplicates")]["message"] == "one row per (station, hour)"
    assert checks[("air_quality/raw", "schema")]["blocking"] is True
    assert reversed_.status_code == 422


def test_runs_name_the_latest_run_of_the_pipelines_assets(api: Api):
    with api.client() as http:
        body = http.get(f"{P}/runs").json()
    assert body["latest"]["status"] == "success" and body["latest"]["job"] == "air_quality_refresh"
    assert body["latest"]["url"].endswith(f"/runs/{body['latest']['run_id']}")
    assert body["asset_urls"]["air_quality/forecasts"].endswith("/assets/air_quality/forecasts")


def test_spec_route_serves_the_pipelines_declaration(api: Api):
    with api.client() as http:
        body = http.get("/v1/pipelines/air_quality_landing/spec").json()
    assert body["source"]["parsing"]["delimiter"] == ";"
    assert [t["name"] for t in body["tasks"]] == ["forecast", "exceedance"]


def test_upload_preview_reads_the_file_with_the_spec_and_stores_nothing(api: Api):
    spec = load_specs()["air_quality_landing"]
    readings = simulate_readings(["site_1"], pd.Timestamp("2024-02-01"), pd.Timestamp("2024-02-03"), 11)
    readings.loc[3, "no2"] = -200.0
    readings.loc[4, "co"] = 99.0
    readings = pd.concat([readings, readings.iloc[[10]]], ignore_index=True)
    folder = api.data_dir / "landing" / "air_quality_landing"
    before = set(folder.iterdir()) if folder.exists() else set()
    with api.client() as http:  # a read-only key may look
        response = http.post(
            "/v1/pipelines/air_quality_landing/datasets/preview",
            files={"file": ("x.csv", format_source_file(readings, spec), "text/csv")},
        )
        unreadable = http.post(
            "/v1/pipelines/air_quality_landing/datasets/preview",
            files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rows"] == len(readings) and body["stations"] == ["site_1"]
    assert "NO2(GT)" in body["columns_found"] and all(c["found"] for c in body["expected"])
    assert len(body["first_rows"]) == 10 and body["first_rows"][0]["station"] == "site_1"
    reasons = {(p["column"], p["reason"].split(" (")[0]): p["count"] for p in body["problems"]}
    assert reasons[("no2", "sentinel for a missing reading")] >= 1
    assert any(k[0] == "co" and k[1].startswith("outside the valid range") for k in reasons)
    assert body["rejected_rows"] >= 1 and "same station and hour" in body["rejected"][0]["reason"]
    assert {c["check"]: c["passed"] for c in body["checks"]} == {
        "schema": True,
        "value_ranges": True,
        "row_count": True,
    }
    assert unreadable.status_code == 422 and "cannot read" in problem(unreadable)["detail"]
    assert (set(folder.iterdir()) if folder.exists() else set()) == before


def test_rollback_needs_admin_moves_the_champion_back_and_announces_it(api: Api):
    store = f"sqlite:///{api.data_dir / 'mlflow' / 'mlflow.db'}"
    mlflow.set_registry_uri(store)
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    current = client.get_model_version_by_alias("air_quality.exceedance", "champion")
    files = client.get_model_version_download_uri("air_quality.exceedance", current.version)
    newer = client.create_model_version("air_quality.exceedance", source=files, run_id=current.run_id)
    client.set_model_version_tag(
        "air_quality.exceedance", newer.version, "promoted_at", "2999-01-01T00:00:00+00:00"
    )
    client.set_registered_model_alias("air_quality.exceedance", "champion", newer.version)

    connection = pika.BlockingConnection(pika.URLParameters(api.env["MLOPS_RABBITMQ_URL"]))
    channel = connection.channel()
    exchange = api.env["MLOPS_EVENTS_EXCHANGE"]
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, exchange, routing_key="model.promoted")
    try:
        with api.client("predict") as http:
            denied = http.post(f"{P}/models/exceedance/rollback", json={})
        with api.client("admin") as http:
            missing = http.post(f"{P}/models/exceedance/rollback", json={"to_version": "999"})
            same = http.post(f"{P}/models/exceedance/rollback", json={"to_version": str(newer.version)})
            done = http.post(f"{P}/models/exceedance/rollback", json={})
            deadline = time.monotonic() + 30
            while (
                http.get("/readyz").json()["models"]["air_quality.exceedance"]["version"]
                != done.json()["version"]
            ):
                assert time.monotonic() < deadline, "the API did not swap to the rolled-back version"
                time.sleep(0.3)
        for _ in range(50):
            method, _, message = channel.basic_get(queue, auto_ack=True)
            if method is not None:
                break
            time.sleep(0.1)
    finally:
        connection.close()
    assert denied.status_code == 403
    assert missing.status_code == 409 and "no version 999" in problem(missing)["detail"]
    assert same.status_code == 409 and "already the champion" in problem(same)["detail"]
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["previous_version"] == str(newer.version) and body["version"] != str(newer.version)
    assert body["announced"] is True
    assert (
        str(client.get_model_version_by_alias("air_quality.exceedance", "champion").version)
        == body["version"]
    )
    event = json.loads(message)
    assert event["type"] == "model.promoted" and event["payload"]["version"] == body["version"]
