"""Where the stack's settings come from: the env file, and the local Dagster instance every command shares."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploy.env import (
    ENV_FILE,
    LOCAL_DAGSTER_YAML,
    StackError,
    load_env,
    local_dagster_home,
    prepare_local_dagster_home,
)


def test_env_file_expands_references_and_the_environment_wins(tmp_path: Path):
    env_file = tmp_path / "stack.env"
    env_file.write_text(
        "# ports\nHOST=127.0.0.1\nPORT=8333\nURL=http://${HOST}:${PORT}\nEMPTY=\n"
        'QUOTED="a b # not a comment"\nexport EXPORTED=yes\nFALLBACK=${UNSET:-5432}\n'
    )
    assert load_env(env_file, environ={}) == {
        "HOST": "127.0.0.1",
        "PORT": "8333",
        "URL": "http://127.0.0.1:8333",
        "EMPTY": "",
        "QUOTED": "a b # not a comment",
        "EXPORTED": "yes",
        "FALLBACK": "5432",
    }
    assert load_env(env_file, environ={"PORT": "9000"})["URL"] == "http://127.0.0.1:9000"
    assert load_env(env_file, environ={"UNSET": "1"})["FALLBACK"] == "1"


def test_env_file_names_the_line_of_an_undefined_reference_or_a_malformed_line(tmp_path: Path):
    env_file = tmp_path / "stack.env"
    env_file.write_text("A=1\nURL=http://${NOWHERE}\n")
    with pytest.raises(StackError, match=r"stack.env:2: \$\{NOWHERE\} is not defined above"):
        load_env(env_file, environ={})
    env_file.write_text("A=1\nthis is not an assignment\n")
    with pytest.raises(StackError, match=r"stack.env:2: expected NAME=value"):
        load_env(env_file, environ={})


def test_shipped_env_file_defines_every_setting_the_services_profile_reads():
    env = load_env(ENV_FILE, environ={})
    assert env["MLOPS_S3_ENDPOINT_URL"] == f"http://{env['STACK_HOST']}:{env['S3_PORT']}"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DAGSTER_PG_DB", "MLOPS_MLFLOW_TRACKING_URI"):
        assert env[name]


def test_the_local_dagster_home_defaults_to_the_data_dir_and_gets_the_shipped_instance_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    env = {"MLOPS_DATA_DIR": str(tmp_path / "data")}
    assert local_dagster_home(env) == tmp_path / "data" / "dagster"
    assert not (tmp_path / "data").exists()  # the path alone creates nothing

    home = prepare_local_dagster_home(env)
    assert (home / "dagster.yaml").read_text() == LOCAL_DAGSTER_YAML.read_text()
    # An older copy is replaced when the shipped file changed, as `make` did.
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.utime(home / "dagster.yaml", (0, 0))
    prepare_local_dagster_home(env)
    assert (home / "dagster.yaml").read_text() == LOCAL_DAGSTER_YAML.read_text()


def test_a_chosen_dagster_home_is_used_and_its_own_config_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    chosen = tmp_path / "elsewhere"
    monkeypatch.setenv("DAGSTER_HOME", str(chosen))
    assert prepare_local_dagster_home({"MLOPS_DATA_DIR": str(tmp_path / "data")}) == chosen
    assert (chosen / "dagster.yaml").read_text() == LOCAL_DAGSTER_YAML.read_text()
    (chosen / "dagster.yaml").write_text("# mine\n")
    os.utime(chosen / "dagster.yaml", (0, 0))
    prepare_local_dagster_home({})
    assert (chosen / "dagster.yaml").read_text() == "# mine\n"
