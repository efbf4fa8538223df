"""The API process runs without Dagster: it talks to the registry, the lake and the broker through the
plain clients (resources/clients.py), so its image and its start need none of Dagster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from resources.settings import get_settings
from serving.config import get_serving_settings
from serving.main import create_app
from serving.platform import Platform

app = create_app()
platform = Platform.build(get_settings(), get_serving_settings())
platform.store.close()
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0].startswith("dagster")})))
"""


def test_the_api_builds_its_app_and_platform_without_importing_dagster(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "MLOPS_PROFILE": "local", "MLOPS_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
