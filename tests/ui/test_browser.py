"""The analyst app in Debian's chromium, served by `streamlit run` under /app: every page renders with no
exception element (and leaves a screenshot), the forecast chart draws its band, and a file is previewed
with the spec before it is sent."""

from __future__ import annotations

import pytest

from pipelines.parsing import format_source_file
from pipelines.simulator import simulate_readings
from pipelines.spec import load_specs
from tests.ui.browser import EXCEPTION, PAGES, open_rendered, screenshot, wait_rendered

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_without_an_exception(app_server, page, screenshots, name: str):
    open_rendered(page, app_server.url(name))
    assert page.locator("h1").first.inner_text() == PAGES[name]
    assert page.locator(EXCEPTION).count() == 0
    assert page.get_by_text("Traceback").count() == 0
    screenshot(page, screenshots / f"{name}.png")


def test_forecast_chart_draws_the_interval_band_over_the_observations(app_server, page):
    open_rendered(page, app_server.url("forecast") + "?station=S002")
    band = page.locator(".mark-area path").first
    band.wait_for(timeout=30_000)
    assert len(band.get_attribute("d") or "") > 100  # a filled area over 24 hours, not an empty path
    assert page.locator(".mark-symbol path").count() > 100  # a week of hourly observations as points
    assert page.locator(".mark-rule line").count() >= 2  # the issue time and the exceedance threshold
    assert page.get_by_text("Download S002's forecast (CSV)").count() == 1


def test_a_file_is_read_with_the_spec_before_it_is_sent(app_server, page, tmp_path, screenshots):
    spec = load_specs()["air_quality_landing"]
    readings = simulate_readings(["site_1"], "2024-02-01", "2024-02-04", 11)
    readings.loc[5, "no2"] = -200.0
    sample = tmp_path / "week.csv"
    sample.write_bytes(format_source_file(readings, spec))
    open_rendered(page, app_server.url("upload"))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(sample))
    page.get_by_text("First rows, as the spec reads them").wait_for(timeout=30_000)
    wait_rendered(page)
    assert page.get_by_text(f"{len(readings)} rows").count() >= 1
    assert page.get_by_text("schema: all 7 declared columns present").count() == 1
    assert page.get_by_text("Values that will be treated as missing").count() == 1  # the -200 sentinel
    assert page.get_by_role("button", name="Send it").is_enabled()
    assert page.locator(EXCEPTION).count() == 0
    screenshot(page, screenshots / "upload-preview.png")


def test_a_file_the_spec_cannot_read_is_refused_with_the_reason(app_server, page, tmp_path):
    sample = tmp_path / "not-an-export.csv"
    sample.write_bytes(b"a,b,c\n1,2,3\n")
    open_rendered(page, app_server.url("upload"))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(sample))
    refusal = page.get_by_text("This file cannot be ingested")
    refusal.wait_for(timeout=30_000)
    assert "cannot read this file" in refusal.inner_text()
    assert page.get_by_role("button", name="Send it").count() == 0
    assert page.locator(EXCEPTION).count() == 0
