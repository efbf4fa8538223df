"""The `mlops` parser and dispatch (see cli/__init__.py for why commands are named by module path)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from cli import SOURCE, output
from cli.window import add_window_options
from events.envelope import PAYLOADS

DESCRIPTION = """The platform's command line: materialize the pipelines, roll a champion back, seed the landing
area, publish an event, run the stack, the API and its keys. Runs land in the Dagster instance the UI shows."""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not undo `mlops -v <command>`.
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show everything: Dagster's run log, library warnings",
    )
    parser = argparse.ArgumentParser(prog="mlops", description=DESCRIPTION, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, parents=[common])
        p.set_defaults(run=run)
        return p

    p = command(
        "materialize", "cli.materialize:materialize", "materialize every asset and exit (scripts, CI)"
    )
    p.add_argument("--pipeline", action="append", help="pipeline name (repeatable; default: all)")
    add_window_options(p, 365)

    p = command("rollback", "cli.models:rollback", "move the champion alias back to the previous champion")
    p.add_argument("pipeline")
    p.add_argument("--task", default="forecast")
    p.add_argument("--to-version", help="a specific registered version instead of the previous champion")

    def stack_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--profile",
            choices=["local", "services"],
            default=os.environ.get("MLOPS_PROFILE", "local"),
            help="local: Dagster on SQLite + MLflow UI; services: S3, MLflow server, Dagster on PostgreSQL",
        )
        p.add_argument("--env-file", type=Path, default=None, help="ports and credentials (deploy/stack.env)")
        p.add_argument("--detach", action="store_true", help="return once healthy; `stack stop` stops it")

    p = command("stack", "cli.stack:stack", "start/stop the platform's processes: up | stop | status | env")
    p.add_argument("action", choices=["up", "stop", "status", "env"])
    stack_options(p)

    p = command("up", "cli.stack:stack", "start the UIs and services of a profile (`stack up`); Ctrl-C stops")
    stack_options(p)
    p.set_defaults(action="up")

    p = command(
        "land-sample",
        "cli.landing:land_sample",
        "drop a simulated file in the landing area, in the spec's format",
    )
    p.add_argument("pipeline")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--stations", type=int, default=5, help="stations in the file, if its format names them")
    p.add_argument("--rows", type=int, default=5000, help="rows of a tabular pipeline's sample")
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        help="harder data, repeat for several (pipelines/simulator.py SCENARIOS): analyser_outage, "
        "noisy_winter, diurnal_dominated",
    )
    add_window_options(p, 365)

    p = command("serve", "cli.serve:serve", "run the prediction API (FastAPI on uvicorn)")
    p.add_argument("--host", help="default MLOPS_API_HOST or 127.0.0.1")
    p.add_argument("--port", type=int, help="default MLOPS_API_PORT or 8000")
    p.add_argument(
        "--workers",
        type=int,
        help="processes, each with the models (default MLOPS_API_WORKERS or one per CPU, at most 4)",
    )

    p = command("exporter", "cli.exporter:exporter", "the platform's state for Prometheus on /metrics")
    p.add_argument("--host", default=os.environ.get("MLOPS_EXPORTER_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("MLOPS_EXPORTER_PORT", "9108")))
    p.add_argument(
        "--dagster-url",
        default=os.environ.get("MLOPS_EXPORTER_DAGSTER_URL", "http://127.0.0.1:3000"),
        help="the Dagster webserver with its path prefix (its GraphQL API is <url>/graphql)",
    )
    p.add_argument("--timeout", type=float, default=3.0, help="seconds per request to a source")
    p.add_argument(
        "--min-interval",
        type=float,
        default=float(os.environ.get("MLOPS_EXPORTER_MIN_INTERVAL", "10")),
        help="read the sources at most this often (seconds), however often Prometheus scrapes",
    )

    p = command(
        "api-key", "cli.keys:api_key", "create | revoke | list the API's keys (stored as SHA-256 hashes)"
    )
    p.add_argument("action", choices=["create", "revoke", "list"])
    p.add_argument("name", nargs="?", help="who or what the key is for, e.g. streamlit-ui")
    p.add_argument("--scopes", default="predict", help="comma-separated: predict, admin (default predict)")
    p.add_argument("--key", help="use this key instead of a new random one (e.g. from a secret store)")
    p.add_argument("--keys-file", type=Path, help="default MLOPS_API_KEYS_FILE or <data dir>/api/keys.yaml")
    p.add_argument("--quiet", action="store_true", help="print only the key")

    p = command(
        "spec",
        "cli.specs:spec",
        "infer: propose a tabular spec from a sample file | register: store a spec beside the built-in ones",
    )
    p.add_argument("action", choices=["infer", "register"])
    p.add_argument("file", type=Path, help="infer: a CSV sample; register: a spec's YAML")
    p.add_argument("--name", default="new_pipeline", help="infer: the proposed pipeline's name")

    p = command(
        "publish", "cli.landing:publish", "publish one event to the platform exchange (prints the envelope)"
    )
    p.add_argument("type", choices=list(PAYLOADS), help="event type, e.g. dataset.landed")
    p.add_argument("--payload", required=True, help='JSON payload, e.g. \'{"pipeline": "air_quality", ...}\'')
    p.add_argument("--trace-id", help="propagate an existing trace (default: a new one)")
    p.add_argument("--event-id", help="a fixed message id, e.g. to re-send a message (default: a new uuid)")
    p.add_argument("--source", default=SOURCE, help=f"who publishes (default: {SOURCE})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.verbose = getattr(args, "verbose", False)
    output.configure(args.verbose)
    module, _, function = args.run.partition(":")
    return getattr(importlib.import_module(module), function)(args)


if __name__ == "__main__":
    sys.exit(main())
