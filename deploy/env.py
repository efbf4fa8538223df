"""Where the process stack's settings and directories come from: the env file (`deploy/stack.env`), the data
directory, and the local Dagster instance's home, one rule for the Makefile, the CLI and the stack."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from dotenv.parser import parse_stream
from dotenv.variables import Variable, parse_variables

DEPLOY_DIR = Path(__file__).resolve().parent
REPO_DIR = DEPLOY_DIR.parent
ENV_FILE = DEPLOY_DIR / "stack.env"
LOCAL_DAGSTER_YAML = REPO_DIR / "dagster.yaml"
SERVICES_DAGSTER_YAML = DEPLOY_DIR / "dagster" / "dagster.yaml"
BIN_DIR = Path(sys.executable).parent

Profile = Literal["local", "services"]


class StackError(RuntimeError):
    """The stack's configuration is wrong, or a service could not be prepared or did not become healthy."""


def load_env(path: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The env file's values in order, `${NAME}` (or `${NAME:-default}`) expanded; a name already in
    `environ` (default: the process environment) keeps its value, so `S3_PORT=9333 make stack-up` works.

    python-dotenv parses the file; the expansion is done here because python-dotenv reads references from
    `os.environ` only, and a reference to a name defined nowhere is an error, not an empty string."""
    path = ENV_FILE if path is None else path
    environ = os.environ if environ is None else environ
    resolved: dict[str, str] = {}
    with path.open(encoding="utf-8") as stream:
        bindings = list(parse_stream(stream))
    for binding in bindings:
        where = f"{path}:{binding.original.line}"
        if binding.error:
            raise StackError(f"{where}: expected NAME=value, got {binding.original.string.strip()!r}")
        if binding.key is None:  # a comment or a blank line
            continue
        if binding.key in environ:
            resolved[binding.key] = environ[binding.key]
            continue
        scope = {**environ, **resolved}
        atoms = list(parse_variables(binding.value or ""))
        for atom in atoms:
            if isinstance(atom, Variable) and atom.default is None and atom.name not in scope:
                raise StackError(f"{where}: ${{{atom.name}}} is not defined above")
        resolved[binding.key] = "".join(atom.resolve(scope) for atom in atoms)
    return resolved


def data_dir(env: Mapping[str, str]) -> Path:
    """MLOPS_DATA_DIR (from the env file or the environment), absolute: services run from the repo root."""
    return Path(env.get("MLOPS_DATA_DIR") or os.environ.get("MLOPS_DATA_DIR") or REPO_DIR / ".data").resolve()


def local_dagster_home(env: Mapping[str, str] | None = None) -> Path:
    """The local profile's Dagster instance: DAGSTER_HOME, else `<data dir>/dagster`.

    The one rule behind `make run`, `mlops materialize`, `mlops up` and the stack, so that every run lands
    in the instance the UI shows; `prepare_local_dagster_home` makes it ready to open."""
    env = os.environ if env is None else env
    chosen = env.get("DAGSTER_HOME") or os.environ.get("DAGSTER_HOME")
    return Path(chosen).resolve() if chosen else data_dir(env) / "dagster"


def prepare_local_dagster_home(env: Mapping[str, str] | None = None) -> Path:
    """`local_dagster_home`, created with the shipped dagster.yaml. The default home gets the shipped file
    again whenever that changed (as the make rule did); a home someone chose keeps the dagster.yaml it has."""
    env = os.environ if env is None else env
    home = local_dagster_home(env)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    chosen = bool(env.get("DAGSTER_HOME") or os.environ.get("DAGSTER_HOME"))
    stale = not chosen and config.exists() and config.stat().st_mtime < LOCAL_DAGSTER_YAML.stat().st_mtime
    if not config.exists() or stale:
        shutil.copyfile(LOCAL_DAGSTER_YAML, config)
    return home


if __name__ == "__main__":  # `python -m deploy.env`: the prepared local Dagster home, for the Makefile
    print(prepare_local_dagster_home())
