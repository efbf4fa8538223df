"""The analyst app against the real API of the serving tests (tests/conftest.py `api`): in process through
Streamlit's AppTest, and served by `streamlit run` to Debian's chromium. Screenshots go to
MLOPS_SCREENSHOTS_DIR when set (`make screenshots` points it at docs/screenshots), else to a temp folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.conftest import Api
from tests.ui.browser import StreamlitServer


@pytest.fixture
def app_env(api: Api, monkeypatch: pytest.MonkeyPatch):
    """This process's app settings pointed at the API; `key(scope)` switches the key."""

    def use(scope: str | None = "admin", url: str | None = None, key: str | None = None) -> None:
        monkeypatch.setenv("MLOPS_UI_API_URL", url or api.url)
        monkeypatch.setenv("MLOPS_UI_API_KEY", key if key is not None else (api.keys[scope] if scope else ""))

    use()
    return use


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(os.environ.get("MLOPS_SCREENSHOTS_DIR") or tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="session")
def app_server(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    """The app served under /app (as nginx routes it) with an admin key."""
    server = StreamlitServer(
        api.url, api.keys["admin"], tmp_path_factory.mktemp("streamlit") / "app.log"
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()
