"""Dagster's run log lines as JSON on stderr, with the run id, job, step and trace id, through the instance's
python_logs settings exactly as deploy/dagster/dagster.yaml writes them."""

from __future__ import annotations

import json

import dagster as dg
import yaml

from deploy.env import SERVICES_DAGSTER_YAML
from events.tags import TRACE_TAG


@dg.op
def say_hello(context) -> None:
    context.log.info("hello from the step")


@dg.job
def greeting() -> None:
    say_hello()


def test_a_runs_log_lines_are_json_with_its_run_id_job_step_and_trace_id(capfd):
    python_logs = yaml.safe_load(SERVICES_DAGSTER_YAML.read_text())["python_logs"]
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"  # as an event-started run is tagged (events/tags.py)
    with dg.DagsterInstance.ephemeral(settings={"python_logs": python_logs}) as instance:
        result = greeting.execute_in_process(instance=instance, tags={TRACE_TAG: trace_id})
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    hello = [line for line in lines if line["message"] == "hello from the step"]
    assert len(hello) == 1, lines
    assert hello[0]["run_id"] == result.run_id
    assert (hello[0]["job"], hello[0]["step"], hello[0]["level"]) == ("greeting", "say_hello", "info")
    assert {line["run_id"] for line in lines} == {result.run_id}
    assert {line["trace_id"] for line in lines} == {trace_id}
