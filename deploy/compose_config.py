"""The Compose deployment's files (deploy/compose/): the merged configuration per overlay, as `docker-compose
config` resolves it, and a first `.env` with random secrets.

    python -m deploy.compose_config print prod     # the merged file (`make compose-config OVERLAY=prod`)
    python -m deploy.compose_config env            # deploy/compose/.env from .env.example, fresh secrets
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from deploy.env import DEPLOY_DIR

COMPOSE_DIR = DEPLOY_DIR / "compose"
BASE = COMPOSE_DIR / "compose.yaml"
OVERLAYS = ("dev", "staging", "prod")
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
ENV_FILE = COMPOSE_DIR / ".env"
# Staging and prod require real certificate paths; validation runs without them.
VALIDATION_ENV = {
    "TLS_CERTIFICATE_FILE": "/validation/cert.pem",
    "TLS_CERTIFICATE_KEY_FILE": "/validation/key.pem",
}


class ComposeError(RuntimeError):
    """docker-compose is missing or rejected the files."""


def files(overlay: str | None) -> list[Path]:
    return [BASE] if overlay is None else [BASE, COMPOSE_DIR / f"compose.{overlay}.yaml"]


def docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        raise ComposeError("docker-compose is not installed: `make deploy-tools` installs Debian's")
    return binary


def render(overlay: str | None = "prod", env_file: Path | None = None) -> str:
    """`docker-compose config` of the base file plus an overlay: interpolated, merged, validated. Without
    an env file, deploy/compose/.env if there is one, else .env.example (with placeholder cert paths)."""
    env_file = env_file or (ENV_FILE if ENV_FILE.exists() else ENV_EXAMPLE)
    command = [docker_compose(), "--env-file", str(env_file)]
    for path in files(overlay):
        command += ["-f", str(path)]
    extra = VALIDATION_ENV if env_file == ENV_EXAMPLE else {}
    done = subprocess.run(
        [*command, "config"], env={**os.environ, **extra}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ComposeError(f"docker-compose config ({overlay or 'base'}) failed:\n{done.stderr.strip()}")
    return done.stdout


def merged(overlay: str | None = "prod", env_file: Path | None = None) -> dict[str, Any]:
    return yaml.safe_load(render(overlay, env_file))


def service_environment(service: str, overlay: str | None = "prod") -> dict[str, str]:
    environment = merged(overlay, ENV_EXAMPLE)["services"][service].get("environment") or {}
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def write_env(path: Path = ENV_FILE) -> bool:
    """`.env` from `.env.example` with every `change-me…` value replaced by a random secret; an existing
    file is kept. Returns whether one was written."""
    if path.exists():
        return False
    text = re.sub(
        r"^([A-Z_]+)=change-me\S*$",
        lambda m: f"{m.group(1)}={secrets.token_urlsafe(24)}",
        ENV_EXAMPLE.read_text(),
        flags=re.MULTILINE,
    )
    path.write_text(text)
    path.chmod(0o600)
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["env"]:
            written = write_env()
            print(f"{ENV_FILE} {'written with fresh secrets' if written else 'exists: kept as it is'}")
        elif args[:1] == ["print"] and len(args) == 2 and args[1] in OVERLAYS:
            print(render(args[1]), end="")
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except ComposeError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
