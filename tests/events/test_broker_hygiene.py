"""A test run that leaves an exchange or queue of its own on the broker fails, naming what it left."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.throwaway import delete_throwaway_exchange

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]

LEAKY_TEST = """
from events.bus import connect, declare_exchanges
from tests.throwaway import throwaway_exchange


def test_declares_an_exchange_and_forgets_it():
    connection = connect({url!r})
    declare_exchanges(connection.channel(), throwaway_exchange())
    connection.close()
"""


def test_a_run_that_leaves_an_exchange_behind_fails_naming_it(broker_url: str, tmp_path: Path):
    (tmp_path / "conftest.py").write_text("from tests.conftest import broker_left_as_found  # noqa: F401\n")
    (tmp_path / "test_leaky.py").write_text(LEAKY_TEST.format(url=broker_url))

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    left = sorted(set(re.findall(r"exchange (mlops\.test\.\w+\.\w+(?:\.dlx)?)", done.stdout)))
    for exchange in left:
        if not exchange.endswith(".dlx"):
            delete_throwaway_exchange(broker_url, exchange)

    assert done.returncode != 0, done.stdout
    assert "the tests left on the broker" in done.stdout, done.stdout
    assert len(left) == 2 and left[1] == f"{left[0]}.dlx"  # the exchange and its dead-letter exchange
