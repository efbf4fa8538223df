"""Every page of the analyst app run by Streamlit's AppTest against the real API: navigation, widgets,
and the numbers shown are the API's; bad days (API down, wrong key, no data, read-only key) end in one
sentence on what to do, never a traceback."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from deploy.env import REPO_DIR
from pipelines.spec import load_specs
from tests.serving.conftest import Api
from tests.throwaway import free_port_block

pytestmark = [pytest.mark.broker, pytest.mark.slow]
PAGES = [
    "views/overview.py",
    "views/forecast.py",
    "views/models.py",
    "views/data.py",
    "views/upload.py",
    "views/feedback.py",
    "views/table.py",
]


def run(page: str | None = None) -> AppTest:
    app = AppTest.from_file(str(REPO_DIR / "ui" / "app.py"), default_timeout=60)
    if page is not None:
        app.switch_page(page)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert not [e for e in app.error if "failed unexpectedly" in e.value], [e.value for e in app.error]
    return app


def texts(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [c.value for c in app.caption] + [e.value for e in app.error]
    parts += [i.value for i in app.info] + [w.value for w in app.warning] + [s.value for s in app.success]
    return "\n".join(str(p) for p in parts)


def metric(app: AppTest, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def test_navigation_reaches_every_page(app_env, api: Api):
    app = run()
    assert app.title[0].value == "Overview"
    for path, title in zip(
        PAGES[1:],
        ["Forecast", "Models", "Data quality", "Upload & retrain", "Feedback", "Table"],
        strict=True,
    ):
        app.switch_page(path)
        app.run()
        assert not app.exception and app.title[0].value == title


def test_overview_shows_champions_freshness_and_the_last_run_from_the_api(app_env, api: Api):
    with api.client() as http:
        stations = http.get("/v1/pipelines/air_quality/stations").json()
        model = http.get("/v1/pipelines/air_quality/model").json()
    app = run()
    latest = pd.Timestamp(stations["latest_observed"]).strftime("%Y-%m-%d %H:%M UTC")
    assert metric(app, "Latest observed hour") == latest
    shown = texts(app)
    for task in model["tasks"]:
        assert f"**{task['name']}** · version **{task['champion_version']}**" in shown
    assert "success" in [m.value for m in app.metric if m.label == "Last run"][0]
    assert "air_quality_landing" in [h.value for h in app.subheader]
    assert "No data yet" in shown  # the landing pipeline has had no upload


def test_forecast_page_shows_the_apis_paths_and_risk_for_the_chosen_station(app_env, api: Api):
    with api.client() as http:
        paths = http.get("/v1/pipelines/air_quality/forecasts").json()
        risk = {
            r["station"]: r["probability"]
            for r in http.get("/v1/pipelines/air_quality/exceedance").json()["stations"]
        }
    app = run("views/forecast.py")
    station = next(s for s in app.selectbox if s.label == "Station")
    assert station.options == [s["station"] for s in paths["stations"]]
    assert metric(app, "Model version") == f"v{paths['model_version']}"
    assert sum(c.value == "Served by the **model**." for c in app.caption) == 2  # no2 and co
    label = next(m.label for m in app.metric if m.label.startswith("P(no2 > 150"))
    assert metric(app, label) == f"{risk[station.value]:.0%}"
    station.select("S004").run()
    assert not app.exception and metric(app, label) == f"{risk['S004']:.0%}"
    table = next(d.value for d in app.dataframe if "peak no2" in d.value.columns)
    assert list(table["station"]) == sorted(risk, key=risk.get, reverse=True)
    s004 = next(s for s in paths["stations"] if s["station"] == "S004")
    peak = max(p["prediction"] for p in s004["points"] if p["target"] == "no2")
    assert table.set_index("station").loc["S004", "peak no2"] == pytest.approx(round(peak, 1))
    charts = len(app.get("vega_lite_chart"))  # one per target
    next(t for t in app.toggle if t.label.startswith("Every station")).set_value(True).run()
    grid = app.get("vega_lite_chart")[charts:]
    assert not app.exception and len(grid) == 1 and '"facet"' in grid[0].proto.spec


def test_models_page_lists_every_version_and_a_read_only_key_cannot_roll_back(app_env, api: Api):
    with api.client() as http:
        versions = http.get("/v1/pipelines/air_quality/models/forecast/versions").json()
    app_env("predict")
    app = run("views/models.py")
    board = app.dataframe[0].value
    assert list(board["version"]) == [v["version"] for v in versions["versions"]]
    assert board.loc[board["champion"] != "", "version"].tolist() == [versions["champion_version"]]
    if len(versions["versions"]) > 1:
        assert next(b for b in app.button if b.label == "Roll back").disabled
        assert "needs an API key with the admin scope" in texts(app)


def test_data_page_shows_missing_shares_and_every_check_result(app_env, api: Api):
    with api.client() as http:
        quality = http.get("/v1/pipelines/air_quality/quality").json()
    app = run("views/data.py")
    checks = next(d.value for d in app.dataframe if "check" in d.value.columns)
    assert len(checks) == len(quality["checks"])
    assert set(checks["status"]) <= {"passed", "warning", "not run"}
    next(s for s in app.selectbox if s.label == "Station").select("S002").run()
    assert not app.exception and "Cleaned readings at S002" in [h.value for h in app.subheader]
    next(s for s in app.selectbox if s.label == "Pipeline").select("air_quality_landing").run()
    assert not app.exception and "No readings yet" in texts(app)


def test_retraining_from_the_upload_page_becomes_a_followed_task(app_env, api: Api):
    app = run("views/upload.py")
    next(b for b in app.button if b.label == "Retrain").click().run()
    assert not app.exception
    shown = texts(app)
    assert "training.requested" in shown and "waiting for the event_runs sensor to start a run" in shown


def test_a_read_only_key_sees_upload_and_retrain_disabled_with_the_reason(app_env, api: Api):
    app_env("predict")
    app = run("views/upload.py")
    assert "need an API key with the admin scope" in texts(app)
    assert next(b for b in app.button if b.label == "Retrain").disabled


def test_feedback_page_records_an_observed_value_and_shows_the_answer(app_env, api: Api):
    with api.client() as http:
        point = http.get("/v1/pipelines/air_quality/forecasts", params={"station": "S001"}).json()[
            "stations"
        ][0]["points"][0]
    app = run("views/feedback.py")
    app.text_input[0].input(point["prediction_id"])
    app.text_input[1].input("no2")
    app.number_input[0].set_value(42.0)
    app.button[0].click().run()
    assert not app.exception
    assert f"observed 42, predicted {point['prediction']:.2f}" in app.success[0].value
    app.text_input[0].input("p_0123456789abcdef0123.0")
    app.button[0].click().run()
    assert "no prediction" in app.error[0].value and "try again" in app.error[0].value


@pytest.mark.parametrize("page", PAGES)
def test_api_down_every_page_says_what_to_do(app_env, page: str):
    app_env(url=f"http://127.0.0.1:{free_port_block(1)}")
    app = run(page)
    shown = texts(app)
    assert "cannot be reached" in shown and "Start it" in shown


def test_a_wrong_key_is_named_with_what_to_do(app_env):
    app_env(key="mlops_not-a-key")
    app = run("views/forecast.py")
    assert "not valid" in app.error[0].value and "Paste a valid API key" in app.error[0].value


def test_table_page_builds_its_form_from_the_spec_and_names_what_the_api_refuses(app_env, api: Api):
    spec = load_specs()["census_income"]
    app = run("views/table.py")
    widgets = [*app.number_input, *app.selectbox, *app.text_input, *app.date_input]
    labels = {w.label.removesuffix(" (optional)") for w in widgets}
    assert {c.name for c in spec.input_columns(spec.tasks[0])} <= labels
    sex = next(s for s in app.selectbox if s.label.startswith("sex"))
    assert list(sex.options) == ["(unknown)", "Female", "Male"]
    assert "no champion yet" in texts(app)
    submit = next(b for b in app.button if b.label == "Predict")
    submit.click().run()
    assert "rows[0].age" in app.error[0].value  # required, left empty: the API names the field
    next(n for n in app.number_input if n.label == "age").set_value(40)
    next(n for n in app.number_input if n.label == "hours_per_week").set_value(40)
    next(b for b in app.button if b.label == "Predict").click().run()
    assert "no model is loaded for census_income.income" in app.error[0].value
