"""Shared fixtures: small simulated data, isolated data directories, and service requirements.

Tests that need a real service are marked (`services`, `broker`). Locally they skip when the service is
absent; with MLOPS_REQUIRE_SERVICES=1 (set by .ci/run) a missing service fails the test instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("MLOPS_REQUIRE_SERVICES") == "1"


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
