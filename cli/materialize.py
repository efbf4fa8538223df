"""`mlops materialize`: every asset of the chosen pipelines over a date window, one run per pipeline, recorded
in the Dagster instance the UI shows; a progress view while it runs, then per pipeline the champions, the
checks (the promotion gates among them) and where to look further."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from rich.console import Console
from rich.text import Text

from cli import SOURCE
from cli.output import library_stderr
from cli.progress import RunProgress, check_mark
from cli.window import date_window
from dagster_internals.run_events import CheckOutcome, StepEvent, step_events_logger
from definitions import build_definitions
from deploy.env import load_env, prepare_local_dagster_home
from deploy.services import dagster_path_prefix, http_ok, state_dir_for
from events.tags import PROMOTED_BY_RUN_TAG, partition_range_tags
from pipelines.keys import PipelineKeys
from pipelines.spec import SPECS_DIR, AnySpec, is_tabular, load_specs
from resources.clients import clients_from_settings
from resources.settings import PlatformSettings, get_settings


@dataclass
class PipelineOutcome:
    name: str
    run_id: str
    ok: bool
    seconds: float
    checks: list[CheckOutcome] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # step label → why it failed, for non-check failures


def materialize(args: argparse.Namespace) -> int:
    """Materialize every asset of the chosen pipelines: the date range and everything downstream, one run each."""
    settings = get_settings()
    specs = load_specs(settings.specs_dir or SPECS_DIR)
    names = args.pipeline or list(specs)
    unknown = sorted(set(names) - set(specs))
    if unknown:
        print(f"unknown pipeline(s): {', '.join(unknown)}; known: {', '.join(specs)}", file=sys.stderr)
        return 2
    start, end = date_window(args)
    console = Console(highlight=False)
    defs = build_definitions()
    with dg.DagsterInstance.from_config(str(_instance_home(settings))) as instance:
        outcomes = [
            _run(
                console,
                defs.resolve_job_def(PipelineKeys(specs[name]).refresh_job),
                name,
                instance,
                start,
                end,
                args.verbose,
                partitioned=not is_tabular(specs[name]),
            )
            for name in names
        ]
    _summary(console, outcomes, specs, settings)
    return 0 if all(o.ok for o in outcomes) else 1


def _run(
    console: Console,
    job: dg.JobDefinition,
    pipeline: str,
    instance: dg.DagsterInstance,
    start: dt.date,
    end: dt.date,
    verbose: bool,
    partitioned: bool = True,
) -> PipelineOutcome:
    """One refresh run over the window (a tabular pipeline: over every landing file), shown step by step;
    what it did, for the summary."""
    steps = [node.name for node in job.nodes_in_topological_order]
    window = f"{start} .. {end} ({(end - start).days + 1} days)" if partitioned else "every landing file"
    console.print(
        Text.assemble((pipeline, "bold"), f": {window}, {len(steps)} steps"),
        soft_wrap=True,
    )
    outcome = PipelineOutcome(pipeline, run_id="", ok=False, seconds=0.0)
    began = time.perf_counter()
    with RunProgress(console, pipeline, steps, live=console.is_terminal and not verbose) as progress:

        def on_event(event: StepEvent) -> None:
            progress.on_event(event)
            if event.check is not None:
                outcome.checks.append(event.check)
            elif event.kind == "failed" and event.error and not event.failed_by_check:
                outcome.errors[progress.steps[event.step].label] = event.error

        loggers = {"steps": step_events_logger(on_event)}
        config: dict[str, dict] = {"steps": {"config": {}}}
        if verbose:
            loggers["console"] = dg.colored_console_logger
            config["console"] = {"config": {"log_level": "DEBUG"}}
        with library_stderr(verbose) as kept:
            result = job.with_logger_defs(loggers).execute_in_process(
                instance=instance,
                run_config={"loggers": config},
                tags=partition_range_tags(start.isoformat(), end.isoformat()) if partitioned else {},
                raise_on_error=False,
            )
    outcome.run_id, outcome.seconds = result.run_id, time.perf_counter() - began
    failed_checks = [c for c in outcome.checks if not c.passed]
    outcome.ok = result.success and not failed_checks
    if not result.success and not failed_checks and not outcome.errors:
        # The run failed without a step saying why: what the libraries printed may.
        console.print(Text(kept.getvalue()[-4000:], style="dim"), soft_wrap=True)
    return outcome


def _instance_home(settings: PlatformSettings) -> Path:
    """DAGSTER_HOME, else the profile's own: `<data dir>/dagster` locally (deploy/env.py's rule, shared with
    `mlops up` and the Makefile), the stack's with services. Exported, since the instance config reads it."""
    if settings.profile == "local" or os.environ.get("DAGSTER_HOME"):
        home = prepare_local_dagster_home()
    else:
        home = state_dir_for("services", os.environ) / "dagster_home"
        if not (home / "dagster.yaml").exists():
            raise SystemExit(
                f"no services-profile Dagster instance in {home}: start the stack "
                "(`mlops stack up --profile services --detach`) or set DAGSTER_HOME"
            )
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _summary(
    console: Console,
    outcomes: list[PipelineOutcome],
    specs: dict[str, AnySpec],
    settings: PlatformSettings,
) -> None:
    registry = clients_from_settings(settings, source=SOURCE).registry
    env = load_env()
    dagster_url = f"http://{env['STACK_HOST']}:{env['DAGSTER_PORT']}{dagster_path_prefix(settings.profile)}"
    mlflow_url = settings.mlflow_ui_url.rstrip("/")
    uis_down = not (
        http_ok(f"{dagster_url}/server_info", timeout=0.5) and http_ok(f"{mlflow_url}/health", timeout=0.5)
    )
    label = "{:<11}".format
    console.print()
    for outcome in outcomes:
        status = ("✓ done", "green") if outcome.ok else ("✗ FAILED", "red")
        console.print(
            Text.assemble(
                (outcome.name, "bold"), "  ", (status[0], f"bold {status[1]}"), f" in {outcome.seconds:.0f} s"
            ),
            soft_wrap=True,
        )
        spec = specs[outcome.name]
        for i, task in enumerate(spec.tasks):
            model = PipelineKeys(spec).model_name(task)
            champion = registry.champion(model)
            if champion is None:
                state = Text("no champion", style="yellow")
            elif champion.tags.get(PROMOTED_BY_RUN_TAG) == outcome.run_id:
                state = Text(f"version {champion.version} (promoted by this run)", style="green")
            else:
                state = Text(f"version {champion.version} (unchanged)")
            console.print(
                Text.assemble("  ", label("champions" if i == 0 else ""), f"{model} → ", state),
                soft_wrap=True,
            )
        by_asset: dict[str, list[CheckOutcome]] = {}
        for check in outcome.checks:
            by_asset.setdefault(check.asset.removeprefix(f"{outcome.name}/"), []).append(check)
        for i, (asset, checks) in enumerate(by_asset.items()):
            line = Text.assemble("  ", label("checks" if i == 0 else ""), f"{asset}: ")
            for n, check in enumerate(sorted(checks, key=lambda c: c.passed)):
                mark, style = check_mark(check)
                line.append(("  " if n else "") + f"{mark} {check.name}", style=style)
                if not check.passed and check.description:
                    line.append(f": {check.description};", style=style)
            console.print(line, soft_wrap=True)
        for i, (step, error) in enumerate(outcome.errors.items()):
            console.print(
                Text.assemble("  ", label("failed" if i == 0 else ""), (f"{step}: {error}", "red")),
                soft_wrap=True,
            )
        console.print(
            Text.assemble("  ", label("look"), f"Dagster run  {dagster_url}/runs/{outcome.run_id}"),
            soft_wrap=True,
        )
        console.print(Text.assemble("  ", label(""), f"MLflow       {mlflow_url}/#/models"), soft_wrap=True)
    if uis_down:
        console.print(
            Text("  (the UIs are not running here: `make up` starts them)", style="dim"), soft_wrap=True
        )
