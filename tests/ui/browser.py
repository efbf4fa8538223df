"""The analyst app in a real browser, as streamlit/streamlit's e2e_playwright/conftest.py does it: the app
served by `streamlit run` on a free port (under a base URL path, as behind nginx), health-checked at
/_stcore/health, and Debian's chromium driven by Playwright through `executable_path`; a page counts as
rendered once Streamlit says its script stopped running and no skeleton is left."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from deploy.env import BIN_DIR, REPO_DIR
from tests.throwaway import free_port_block

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONNECTED = '[data-test-connection-state="CONNECTED"]'
RENDERED = '[data-test-script-state="notRunning"]'
SKELETON = '[data-testid="stSkeleton"]'
EXCEPTION = '[data-testid="stException"]'
PAGES = {
    "overview": "Overview",
    "forecast": "Forecast",
    "models": "Models",
    "data": "Data quality",
    "upload": "Upload & retrain",
    "feedback": "Feedback",
}


class StreamlitServer:
    """`streamlit run ui/server.py` (the app, ui/app.py) against an API, on a free port; `url(page)` is a page's address."""

    def __init__(
        self, api_url: str, api_key: str | None, log: Path, base_path: str = "app", script: Path | None = None
    ) -> None:
        self.script = script or REPO_DIR / "ui" / "server.py"
        self.port = free_port_block(1)
        self.base_path = base_path
        self.log = log
        self.env = {**os.environ, "MLOPS_UI_API_URL": api_url, "MLOPS_UI_API_KEY": api_key or ""}
        self.proc: subprocess.Popen | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.base_path}"

    def url(self, page: str = "") -> str:
        return f"{self.root}/{'' if page == 'overview' else page}"

    def start(self, timeout: float = 60) -> StreamlitServer:
        command = [
            str(BIN_DIR / "streamlit"), "run", str(self.script),
            "--server.port", str(self.port), "--server.address", "127.0.0.1",
            "--server.baseUrlPath", self.base_path, "--server.fileWatcherType", "none",
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=REPO_DIR,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not healthy(f"{self.root}/_stcore/health"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"streamlit did not become healthy:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Debian chromium under Playwright (a fresh profile per launch)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def open_rendered(page, url: str, timeout: float = 60_000) -> float:
    """Go to `url` and wait until the app is fully rendered; returns the seconds that took."""
    began = time.perf_counter()
    page.goto(url)
    wait_rendered(page, timeout)
    return time.perf_counter() - began


def wait_rendered(page, timeout: float = 60_000) -> None:
    """Connected, the script stopped, the page's title drawn and no skeleton left (the attribute says
    notRunning before the first run starts too, hence the title)."""
    page.wait_for_function(
        f"""() => document.querySelector('{CONNECTED}') && document.querySelector('{RENDERED}')
              && document.querySelector('h1') && !document.querySelector('{SKELETON}')""",
        timeout=timeout,
    )


def screenshot(page, path: Path) -> Path:
    """The whole page (Streamlit scrolls inside its own container, so the viewport is stretched to fit)."""
    size = page.viewport_size
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))")
    page.set_viewport_size({"width": size["width"], "height": min(int(height), 5000)})
    page.wait_for_timeout(500)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path
