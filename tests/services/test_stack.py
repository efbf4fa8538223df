"""The process supervisor behind `mlops stack`: its env file, and stopping everything it started."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.stack import (
    BIN_DIR,
    ENV_FILE,
    Stack,
    StackError,
    free_port_block,
    group_alive,
    load_env,
    running_pids,
    s3_server,
    stop_recorded,
)
from tests.conftest import require


def test_env_file_expands_references_and_the_environment_wins(tmp_path: Path):
    env_file = tmp_path / "stack.env"
    env_file.write_text("# ports\nHOST=127.0.0.1\nPORT=8333\nURL=http://${HOST}:${PORT}\nEMPTY=\n")
    assert load_env(env_file, environ={}) == {
        "HOST": "127.0.0.1",
        "PORT": "8333",
        "URL": "http://127.0.0.1:8333",
        "EMPTY": "",
    }
    assert load_env(env_file, environ={"PORT": "9000"})["URL"] == "http://127.0.0.1:9000"
    env_file.write_text("URL=http://${NOWHERE}\n")
    with pytest.raises(StackError, match="NOWHERE"):
        load_env(env_file, environ={})


def test_shipped_env_file_defines_every_setting_the_services_profile_reads():
    env = load_env(ENV_FILE, environ={})
    assert env["MLOPS_S3_ENDPOINT_URL"] == f"http://{env['STACK_HOST']}:{env['S3_PORT']}"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DAGSTER_PG_DB", "MLOPS_MLFLOW_TRACKING_URI"):
        assert env[name]


@pytest.mark.services
def test_stop_ends_every_process_it_started_also_from_another_process(tmp_path: Path):
    require((BIN_DIR / "weed").exists(), f"the S3 server ({BIN_DIR / 'weed'})")
    env = load_env(environ={"S3_PORT": str(free_port_block(8)), "MLOPS_LAKE_BUCKET": "lake-stack-test"})
    state = tmp_path / "stack"

    # `mlops stack up --detach`, then `mlops stack stop` from another process that only has the pid file.
    stack = Stack([s3_server(env, state)], env, state)
    stack.start(report=lambda line: None)
    pgid = stack.procs["s3"].pid
    assert group_alive(pgid)
    assert (stack.logs / "s3.log").stat().st_size > 0
    with pytest.raises(StackError, match="already running"):
        Stack([s3_server(env, state)], env, state).start(report=lambda line: None)
    assert stop_recorded(state, report=lambda line: None) == 1
    stack.procs["s3"].poll()  # reap our own child; a real detached parent has exited
    assert not group_alive(pgid)
    assert running_pids(stack.pid_file) == {}
