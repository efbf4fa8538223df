"""The progress view of `mlops materialize`: every step of a run with its state and time, failed checks with
their message. On a terminal it is a live table; anywhere else (CI, pipes, -v) one line per finished step,
so a log reads top to bottom."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from dagster_internals.run_events import CheckOutcome, StepEvent

State = Literal["pending", "running", "retrying", "done", "failed", "skipped"]

MARKS: dict[State, tuple[str, str]] = {
    "pending": ("·", "dim"),
    "running": ("›", "yellow"),
    "retrying": ("↻", "yellow"),
    "done": ("✓", "green"),
    "failed": ("✗", "red"),
    "skipped": ("–", "dim"),
}


@dataclass
class Step:
    key: str
    label: str
    state: State = "pending"
    started: float | None = None
    seconds: float | None = None
    note: str = ""
    checks: list[CheckOutcome] = field(default_factory=list)

    def elapsed(self) -> float | None:
        if self.seconds is not None:
            return self.seconds
        return time.monotonic() - self.started if self.started is not None else None


def check_mark(check: CheckOutcome) -> tuple[str, str]:
    """A check's mark and style: passed or failed."""
    return ("✓", "green") if check.passed else ("✗", "red")


def _check_text(check: CheckOutcome, indent: str = "") -> Text:
    mark, style = check_mark(check)
    return Text(f"{indent}{mark} {check.name}: {check.description or 'failed'}", style=style)


class RunProgress:
    """The steps of one run, fed with its step events; rendered live or as lines (see the module)."""

    def __init__(self, console: Console, pipeline: str, step_keys: list[str], live: bool) -> None:
        self.console = console
        self.pipeline = pipeline
        self.steps = {
            key: Step(key, key.removeprefix(f"{pipeline}__").replace("__", "/")) for key in step_keys
        }
        self.live = live
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> RunProgress:
        if self.live:
            self._live = Live(self, console=self.console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            for step in self.steps.values():
                if step.state in ("pending", "running", "retrying"):
                    step.state, step.note = "skipped", "not run: a step it depends on failed"
                    self._line(step)
        if self._live is not None:
            self._live.__exit__(*exc_info)

    def on_event(self, event: StepEvent) -> None:
        with self._lock:
            step = self.steps.get(event.step)
            if step is None:  # a step the plan did not list up front
                step = self.steps[event.step] = Step(event.step, event.step)
            if event.kind == "started":
                step.state, step.started = "running", time.monotonic()
            elif event.kind == "succeeded":
                step.state, step.seconds = "done", event.seconds
            elif event.kind == "retrying":
                step.state, step.note = "retrying", f"retrying after: {event.error}"
                self._line(step)
            elif event.kind == "failed":
                step.state, step.seconds = "failed", step.elapsed()
                if not any(not c.passed and c.blocking for c in step.checks):
                    step.note = event.error or ""
            elif event.kind == "skipped":
                step.state = "skipped"
            elif event.kind == "check" and event.check is not None:
                step.checks.append(event.check)
                if not event.check.passed:
                    step.note = f"check {event.check.name}: {event.check.description or 'failed'}"
            if event.kind in ("succeeded", "failed", "skipped"):
                self._line(step)

    def _line(self, step: Step) -> None:
        """Line mode: a finished step, with each failed check under it."""
        if self.live:
            return
        mark, style = MARKS[step.state]
        took = f"{step.seconds:6.1f} s" if step.seconds is not None else " " * 8
        text = Text.assemble((f"  {mark} ", style), f"{step.label:<28}", took)
        failed = [check for check in step.checks if not check.passed]
        if step.note and not failed:
            text.append(f"  {step.note}", style=style)
        self.console.print(text, soft_wrap=True)
        for check in failed:
            self.console.print(_check_text(check, indent="      "), soft_wrap=True)

    def __rich__(self) -> Table:
        with self._lock:
            table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
            table.add_column(width=2)
            table.add_column(min_width=24)
            table.add_column(justify="right", min_width=8)
            table.add_column(overflow="fold")
            for step in self.steps.values():
                mark, style = MARKS[step.state]
                icon = Spinner("dots", style="yellow") if step.state == "running" else Text(mark, style=style)
                elapsed = step.elapsed()
                took = Text(f"{elapsed:.1f} s" if elapsed is not None else "", style="dim")
                failed = [check for check in step.checks if not check.passed]
                note = Group(*map(_check_text, failed)) if failed else Text(step.note, style=style)
                table.add_row(
                    icon, Text(step.label, style="bold" if step.state == "running" else ""), took, note
                )
            return table
