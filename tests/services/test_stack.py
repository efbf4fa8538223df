"""The process supervisor behind `mlops stack`: stopping everything it started, also from another process."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.env import BIN_DIR, StackError, load_env
from deploy.services import StackContext, s3_server
from deploy.supervisor import Stack, group_alive, running_pids, stop_recorded
from tests.conftest import require
from tests.throwaway import free_port_block


@pytest.mark.services
def test_stop_ends_every_process_it_started_also_from_another_process(tmp_path: Path):
    require((BIN_DIR / "weed").exists(), f"the S3 server ({BIN_DIR / 'weed'})")
    env = load_env(environ={"S3_PORT": str(free_port_block(8)), "MLOPS_LAKE_BUCKET": "lake-stack-test"})
    state = tmp_path / "stack"

    # `mlops stack up --detach`, then `mlops stack stop` from another process that only has the pid file.
    stack = Stack([s3_server(StackContext("services", env, state))], env, state)
    stack.start(report=lambda line: None)
    pgid = stack.procs["s3"].pid
    assert group_alive(pgid)
    assert (stack.logs / "s3.log").stat().st_size > 0
    with pytest.raises(StackError, match="already running"):
        Stack([s3_server(StackContext("services", env, state))], env, state).start(report=lambda line: None)
    assert stop_recorded(state, report=lambda line: None) == 1
    stack.procs["s3"].poll()  # reap our own child; a real detached parent has exited
    assert not group_alive(pgid)
    assert running_pids(stack.pid_file) == {}
