"""The contract checks themselves: a change in Dagster reads as a sentence, not a stack trace."""

from __future__ import annotations

import types

import pytest

from tests.contract.dagster_api import attribute, calls, parameters


def _failure(check, *args) -> str:
    with pytest.raises(pytest.fail.Exception) as failed:
        check(*args)
    return str(failed.value)


def test_a_missing_attribute_or_module_is_named_with_who_relies_on_it():
    module = types.ModuleType("dagster._core.launcher")
    message = _failure(attribute, module, "WorkerStatus", "the launcher")
    assert (
        "changed `dagster._core.launcher.WorkerStatus`: it is missing; the launcher relies on it" in message
    )
    message = _failure(attribute, "dagster._gone_in_2027", "anything", "the launcher")
    assert "changed module `dagster._gone_in_2027`: it is gone" in message


def test_a_changed_signature_or_call_is_named():
    def execute(run_id, instance, write_stream_fn): ...

    message = _failure(
        parameters, execute, ["run_id", "instance", "set_exit_code_on_failure"], "the launcher"
    )
    assert (
        "(run_id, instance, write_stream_fn) instead of (run_id, instance, set_exit_code_on_failure)"
        in message
    )
    message = _failure(calls, execute, "self._get_path(", "the lake")
    assert "no longer calls `self._get_path(`; the lake relies on it" in message
