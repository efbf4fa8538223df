"""A run's step events as they happen, for `mlops materialize`'s progress view.

A Dagster logger receives every event of a run as it is logged: the structured event rides on the log
record (`record.dagster_meta["dagster_event"]`, not public API), its payload in Dagster's event classes,
a failed blocking check as a step error of a private class. `step_events_logger` turns them into plain
`StepEvent`s, so nothing else depends on them.
tests/contract/test_run_events.py checks the translation against the installed Dagster.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import dagster as dg
from dagster._core.errors import DagsterAssetCheckFailedError

StepEventKind = Literal["started", "succeeded", "failed", "skipped", "retrying", "check"]

_KINDS: dict[str, StepEventKind] = {
    "STEP_START": "started",
    "STEP_SUCCESS": "succeeded",
    "STEP_FAILURE": "failed",
    "STEP_SKIPPED": "skipped",
    "STEP_UP_FOR_RETRY": "retrying",
    "ASSET_CHECK_EVALUATION": "check",
}


@dataclass(frozen=True)
class CheckOutcome:
    asset: str  # e.g. air_quality/forecast_evaluation
    name: str
    passed: bool
    blocking: bool
    description: str | None


@dataclass(frozen=True)
class StepEvent:
    kind: StepEventKind
    step: str  # the step key, e.g. air_quality__raw
    seconds: float | None = None  # how long a step that succeeded ran
    error: str | None = None  # why a step failed or is retried, in the words of the error that says it
    failed_by_check: bool = False  # the step failed because a blocking check on its asset failed
    check: CheckOutcome | None = None


def step_events_logger(on_event: Callable[[StepEvent], None]) -> dg.LoggerDefinition:
    """A logger definition that calls `on_event` for each step event of a run (plain messages are dropped)."""

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            event = getattr(record, "dagster_meta", {}).get("dagster_event")
            translated = _translate(event) if isinstance(event, dg.DagsterEvent) else None
            if translated is not None:
                on_event(translated)

    @dg.logger(description="Step events for a progress view")
    def step_events(_init_context: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger("mlops.step_events", logging.DEBUG)  # not registered: one per run
        log.addHandler(Handler())
        return log

    return step_events


def _translate(event: dg.DagsterEvent) -> StepEvent | None:
    kind = _KINDS.get(event.event_type_value)
    if kind is None or event.step_key is None:
        return None
    data = event.event_specific_data
    if kind == "check":
        key = data.asset_check_key
        check = CheckOutcome(
            asset=key.asset_key.to_user_string(),
            name=key.name,
            passed=bool(data.passed),
            blocking=bool(data.blocking),
            description=data.description,
        )
        return StepEvent(kind, event.step_key, check=check)
    if kind == "succeeded":
        return StepEvent(kind, event.step_key, seconds=data.duration_ms / 1000)
    if kind in ("failed", "retrying"):
        by_check = data.error is not None and data.error.cls_name == DagsterAssetCheckFailedError.__name__
        return StepEvent(kind, event.step_key, error=_first_own_error(data.error), failed_by_check=by_check)
    return StepEvent(kind, event.step_key)


def _first_own_error(error) -> str | None:
    """The message a person can act on: the first error in the chain that is not one of Dagster's
    wrappers ("Error occurred while executing…", "Exceeded max_retries…"), without its module path."""
    if error is None:
        return None
    while error.cause is not None and (error.cls_name or "").startswith(("Dagster", "RetryRequested")):
        error = error.cause
    return _MODULE_PATH.sub(r"\1", error.message.strip())


_MODULE_PATH = re.compile(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*\.([A-Za-z_]\w*: )")
