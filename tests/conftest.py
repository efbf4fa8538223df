"""Shared fixtures: small simulated data, isolated data directories, service requirements, and a check
that the run left nothing behind on the broker.

Tests that need a real service are marked (`services`, `broker`). Locally they skip when the service is
absent; with MLOPS_REQUIRE_SERVICES=1 (set by .ci/run) a missing service fails the test instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from tests.throwaway import RUN_PREFIX, broker_leftovers, handed_out

if TYPE_CHECKING:
    from tests.serving.conftest import Api

REQUIRE_SERVICES = os.environ.get("MLOPS_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session", autouse=True)
def broker_left_as_found() -> Iterator[None]:
    """Once every test ran: the exchanges and queues this run made (tests/throwaway.py names them) are
    gone from the broker. A leftover fails the run at the last test's teardown, naming what was left."""
    yield
    if not handed_out:
        return
    leftovers = broker_leftovers()
    if leftovers is None:
        warnings.warn(
            f"could not list the broker's exchanges and queues (rabbitmqctl): {RUN_PREFIX}.* unchecked",
            stacklevel=1,
        )
    elif leftovers:
        pytest.fail(f"the tests left on the broker: {', '.join(sorted(leftovers))}", pytrace=False)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(available: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) when a service a test needs is not there."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (MLOPS_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{what} not reachable")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh local-profile data directory for one test."""
    monkeypatch.setenv("MLOPS_PROFILE", "local")
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    from resources.settings import get_settings

    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API of tests/serving/conftest.py on air_quality trained once, shared by the API and app tests."""
    from tests.serving.conftest import BROKER_URL, END, START, Api, api_env, mlops, start_api
    from tests.throwaway import delete_throwaway_exchange

    require(port_open("127.0.0.1", 5672), "RabbitMQ on 127.0.0.1:5672")
    root = tmp_path_factory.mktemp("api")
    env = api_env(root)
    (root / "dagster").mkdir()
    mlops(env, "materialize", "--pipeline", "air_quality", "--start", START, "--end", END)
    keys = {
        scope: mlops(env, "api-key", "create", f"test-{scope}", "--scopes", scope, "--quiet").strip()
        for scope in ("predict", "admin")
    }
    stack = start_api(env, root / "stack", with_dagster=True)
    try:
        yield Api(
            url=f"http://127.0.0.1:{env['API_PORT']}",
            env=env,
            stack=stack,
            data_dir=root / "data",
            keys=keys,
        )
    finally:
        stack.stop(report=lambda line: None)
        with contextlib.suppress(Exception):
            delete_throwaway_exchange(BROKER_URL, env["MLOPS_EVENTS_EXCHANGE"])


@dataclass(frozen=True)
class TrainedForecast:
    """The air_quality forecast task's ridge candidate trained on 20 simulated days of 2 stations."""

    training_set: pd.DataFrame
    candidates: list
    model: Any
    report: Any


@pytest.fixture(scope="session")
def ridge_forecast() -> TrainedForecast:
    from pipelines.cleaning import clean_readings
    from pipelines.features import build_features
    from pipelines.models import train_forecast_model
    from pipelines.simulator import simulate_readings, station_ids
    from pipelines.spec import load_specs
    from pipelines.training_set import build_training_set

    spec = load_specs()["air_quality"]
    task = spec.task("forecast")
    start = pd.Timestamp("2024-03-01", tz="UTC")
    raw = simulate_readings(station_ids(2), start, start + pd.Timedelta(days=20), seed=9)
    features = build_features(clean_readings(raw, spec, start, start + pd.Timedelta(days=20)), spec)
    training_set = build_training_set(features, spec)
    candidates = [c for c in task.candidates if c.algorithm == "ridge"]
    model, report = train_forecast_model(training_set, spec, task, candidates)
    return TrainedForecast(training_set, candidates, model, report)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's chromium under Playwright, one for the session (the app's browser tests, in tests/ui and
    on the services stack). Started before Streamlit's AppTest runs in this process: Playwright's sync API
    refuses to start in a thread where an asyncio loop has been left running."""
    from tests.ui.browser import CHROMIUM, chromium

    require(CHROMIUM.exists(), f"Debian's chromium at {CHROMIUM} (`make browser` installs it)")
    with chromium() as launched:
        yield launched
