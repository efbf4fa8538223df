"""The analyst app on the production-shaped stack, in Debian's chromium: a file uploaded on the Upload page
becomes a Dagster run the page follows to its end (with the new champion or the gate that blocked it),
and an admin rolls a champion back on the Models page; the API serves the version the app then shows."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from deploy.env import BIN_DIR
from pipelines.parsing import format_source_file
from pipelines.simulator import simulate_readings
from pipelines.spec import load_specs
from tests.ui.browser import (
    EXCEPTION,
    StreamlitServer,
    open_rendered,
    screenshot,
    wait_rendered,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def app(services, trained, browser, tmp_path_factory):
    assert trained.success, trained.failures
    key = subprocess.run(
        [str(BIN_DIR / "mlops"), "api-key", "create", "app-admin", "--scopes", "admin", "--quiet"],
        env={**os.environ, **services.env}, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    api_url = f"http://127.0.0.1:{services.env['API_PORT']}"
    server = StreamlitServer(api_url, key, tmp_path_factory.mktemp("streamlit") / "app.log").start()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield server, context.new_page()
    finally:
        context.close()
        server.stop()


def test_an_upload_from_the_app_is_followed_to_its_finished_run(app, tmp_path):
    server, page = app
    spec = load_specs()["air_quality_landing"]
    sample = tmp_path / "site-4.csv"
    sample.write_bytes(
        format_source_file(simulate_readings(["site_4"], "2024-01-01", "2024-03-01", seed=4), spec)
    )
    open_rendered(page, server.url("upload"))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(sample))
    send = page.get_by_role("button", name="Send it")
    send.wait_for(timeout=60_000)
    wait_rendered(page)
    send.click()
    ended = page.get_by_text("upload of site-4.csv").and_(
        page.get_by_text("finished").or_(page.get_by_text("failed"))
    )
    try:
        ended.first.wait_for(timeout=480_000)  # a whole refresh run; slow when the machine is shared
    except PlaywrightTimeout:
        shown = " | ".join(page.locator('[data-testid="stExpander"]').all_inner_texts())
        pytest.fail(f"the upload's task did not finish in 8 minutes; the page says: {shown[:2000]}")
    wait_rendered(page)
    outcome = (
        page.get_by_text("New champion for forecast")
        .or_(page.get_by_text("forecast keeps v"))
        .or_(page.get_by_text("It failed: check"))
    )
    outcome.first.wait_for(timeout=30_000)
    assert page.locator(EXCEPTION).count() == 0


def test_an_admin_rolls_the_champion_back_and_the_app_shows_the_version_served(services, app, tmp_path):
    server, page = app
    store = services.env["MLOPS_MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    name = "air_quality.forecast"
    current = client.get_model_version_by_alias(name, "champion")
    logged_model = current.source.removeprefix("models:/")  # MLflow 3: versions come from logged models
    newer = client.create_model_version(
        name, source=current.source, run_id=current.run_id, model_id=logged_model
    )
    for key, value in {
        "promoted_at": "2999-01-01T00:00:00+00:00",
        "previous_champion": str(current.version),
    }.items():
        client.set_model_version_tag(name, newer.version, key, value)
    client.set_registered_model_alias(name, "champion", newer.version)

    open_rendered(page, server.url("models"))
    page.get_by_text(f"Serve this version instead of v{newer.version}").wait_for(timeout=30_000)
    page.get_by_text(f"I want every API instance to serve v{current.version}").click()
    wait_rendered(page)
    page.get_by_role("button", name="Roll back").click()
    page.get_by_text(f"the champion moved from v{newer.version} to v{current.version}").wait_for(
        timeout=60_000
    )
    wait_rendered(page)
    assert page.locator(EXCEPTION).count() == 0
    assert client.get_model_version_by_alias(name, "champion").version == current.version
    deadline = time.monotonic() + 30
    while httpx.get(f"http://127.0.0.1:{services.env['API_PORT']}/readyz").json()["models"][name][
        "version"
    ] != str(current.version):
        assert time.monotonic() < deadline, "the API did not serve the rolled-back version"
        time.sleep(0.5)
    screenshot(page, tmp_path / "models-after-rollback.png")
