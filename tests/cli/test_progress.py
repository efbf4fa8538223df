"""The progress view of `mlops materialize`, fed the step events a run produces."""

from __future__ import annotations

import io

from rich.console import Console

from cli.progress import RunProgress
from dagster_internals.run_events import CheckOutcome, StepEvent

STEPS = ["air_quality__raw", "air_quality__forecast_evaluation", "air_quality__forecast_champion"]


def _gate(passed: bool) -> CheckOutcome:
    return CheckOutcome(
        asset="air_quality/forecast_evaluation",
        name="beats_champion",
        passed=passed,
        blocking=True,
        description="MAE 3.1, champion 2.9 (margin 0%)",
    )


def _run(events: list[StepEvent], terminal: bool) -> tuple[str, RunProgress]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120, color_system=None)
    with RunProgress(console, "air_quality", STEPS, live=terminal) as progress:
        for event in events:
            progress.on_event(event)
    return out.getvalue(), progress


GATE_FAILS = [
    StepEvent("started", "air_quality__raw"),
    StepEvent("succeeded", "air_quality__raw", seconds=1.25),
    StepEvent("started", "air_quality__forecast_evaluation"),
    StepEvent("check", "air_quality__forecast_evaluation", check=_gate(passed=False)),
    StepEvent(
        "failed",
        "air_quality__forecast_evaluation",
        error="1 blocking asset check failed",
        failed_by_check=True,
    ),
]


def test_without_a_terminal_each_finished_step_is_one_line_with_failed_checks_under_it():
    lines = _run(GATE_FAILS, terminal=False)[0].splitlines()

    assert lines[0].split() == ["✓", "raw", "1.2", "s"]
    assert lines[1].split()[:2] == ["✗", "forecast_evaluation"]
    assert lines[2].strip() == "✗ beats_champion: MAE 3.1, champion 2.9 (margin 0%)"
    assert lines[3].split()[:2] == ["–", "forecast_champion"]
    assert lines[3].endswith("not run: a step it depends on failed")
    assert len(lines) == 4


def test_a_step_failing_for_another_reason_says_why_and_a_retry_is_announced():
    lines = _run(
        [
            StepEvent("started", "air_quality__raw"),
            StepEvent("retrying", "air_quality__raw", error="ServiceUnavailable: S3 endpoint is unreachable"),
            StepEvent("failed", "air_quality__raw", error="ServiceUnavailable: S3 endpoint is unreachable"),
        ],
        terminal=False,
    )[0].splitlines()

    assert lines[0].split()[:2] == ["↻", "raw"] and "retrying after: ServiceUnavailable" in lines[0]
    assert lines[1].split()[:2] == ["✗", "raw"] and lines[1].endswith(
        "ServiceUnavailable: S3 endpoint is unreachable"
    )


def test_on_a_terminal_a_live_table_shows_every_steps_state():
    screen, progress = _run(GATE_FAILS, terminal=True)
    assert "\x1b[" in screen  # drawn and redrawn in place, not line by line

    table = io.StringIO()
    Console(file=table, width=120, color_system=None).print(progress)
    rows = [row.split() for row in table.getvalue().splitlines()]
    assert rows[0] == ["✓", "raw", "1.2", "s"]
    assert rows[1][:2] == ["✗", "forecast_evaluation"] and "beats_champion:" in rows[1]
    assert rows[2][:2] == ["–", "forecast_champion"]
