"""`mlops`: the platform's command line (materialize everything, roll a champion back, seed the landing area).

Each command is a thin shell over the same definitions the Dagster UI shows; runs land in the instance
named by DAGSTER_HOME, so they appear in the UI like any other run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
from pathlib import Path

LOG_CONFIG = {"loggers": {"progress": {"config": {}}}}


def _progress_logger():
    """A Dagster logger that prints one short line per finished step, so long runs show progress."""
    import logging

    import dagster as dg

    class StepLines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            event = getattr(record, "dagster_meta", {}).get("dagster_event")
            if event is None or event.event_type_value not in (
                "STEP_SUCCESS",
                "STEP_FAILURE",
                "ASSET_CHECK_EVALUATION",
            ):
                return
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                data = event.event_specific_data
                if not data.passed:
                    mark = "✗" if data.severity == dg.AssetCheckSeverity.ERROR else "! warning:"
                    print(
                        f"    {mark} check {data.asset_check_key.to_user_string()}: {data.description}",
                        flush=True,
                    )
                return
            mark = "✓" if event.event_type_value == "STEP_SUCCESS" else "✗"
            print(f"    {mark} {event.step_key.replace('__', '/')}", flush=True)

    @dg.logger
    def progress(init_context):
        log = logging.getLogger("mlops.progress")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        if not log.handlers:
            log.addHandler(StepLines())
        return log

    return progress


def _instance():
    import dagster as dg

    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def _date_window(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    end = (
        dt.date.fromisoformat(args.end) if args.end else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    )
    start = dt.date.fromisoformat(args.start) if args.start else end - dt.timedelta(days=args.days - 1)
    if start > end:
        raise SystemExit(f"--start {start} is after --end {end}")
    return start, end


def _report(result, label: str, started: float) -> bool:
    """One summary line; failed error-severity checks count as failure (warnings such as freshness do not)."""
    import dagster as dg

    failed = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    status = "ok" if result.success and not failed else "FAILED"
    print(f"  {label}: {status} ({time.perf_counter() - started:.1f} s)")
    for event in result.all_events:
        if event.is_step_failure:
            print(f"    step {event.step_key} failed: {event.step_failure_data.error.message.strip()}")
    return result.success and not failed


def materialize(args: argparse.Namespace) -> int:
    """Materialize every asset of the chosen pipelines: the date range and everything downstream, one run each."""
    from assets.factory import refresh_job_name
    from definitions import build_definitions
    from pipelines.spec import SPECS_DIR, load_specs
    from resources.settings import get_settings

    settings = get_settings()
    specs = load_specs(settings.specs_dir or SPECS_DIR)
    defs = build_definitions()
    names = args.pipeline or list(specs)
    unknown = sorted(set(names) - set(specs))
    if unknown:
        print(f"unknown pipeline(s): {', '.join(unknown)}; known: {', '.join(specs)}", file=sys.stderr)
        return 2
    start, end = _date_window(args)
    instance = _instance()
    ok = True
    for name in names:
        print(
            f"{name}: {start} .. {end} ({(end - start).days + 1} days), raw → clean → features → models → outputs",
            flush=True,
        )
        began = time.perf_counter()
        job = defs.resolve_job_def(refresh_job_name(specs[name])).with_logger_defs(
            {"progress": _progress_logger()}
        )
        result = job.execute_in_process(
            instance=instance,
            run_config=LOG_CONFIG,
            tags={
                "dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": end.isoformat(),
            },
            raise_on_error=False,
        )
        ok &= _report(result, name, began)
    return 0 if ok else 1


def rollback(args: argparse.Namespace) -> int:
    """Point `champion` back at the previous champion (or at --to-version)."""
    from resources.definitions import build_resources
    from resources.settings import get_settings

    registry = build_resources(get_settings())["mlflow_registry"]
    client = registry.client()
    name = f"{args.pipeline}.{args.task}"
    current = registry.champion(name)
    if current is None:
        print(f"{name} has no champion to roll back", file=sys.stderr)
        return 1
    if args.to_version:
        target = str(client.get_model_version(name, args.to_version).version)
    else:
        promoted = [
            v
            for v in client.search_model_versions(f"name='{name}'")
            if v.tags.get("promoted_at") and str(v.version) != str(current.version)
        ]
        if not promoted:
            print(f"{name}: no earlier champion than version {str(current.version)}", file=sys.stderr)
            return 1
        target = str(max(promoted, key=lambda v: v.tags["promoted_at"]).version)
    client.set_registered_model_alias(name, "champion", target)
    client.set_model_version_tag(name, target, "rolled_back_from", str(current.version))
    print(f"{name}: champion moved from version {str(current.version)} to {target}")
    return 0


def land_sample(args: argparse.Namespace) -> int:
    """Write a simulated file in the spec's declared format into the landing area (a demo upload)."""
    import pandas as pd

    from pipelines.parsing import format_source_file
    from pipelines.simulator import simulate_readings
    from pipelines.spec import SPECS_DIR, FilesSource, load_specs
    from resources.definitions import build_resources
    from resources.settings import get_settings

    settings = get_settings()
    spec = load_specs(settings.specs_dir or SPECS_DIR)[args.pipeline]
    if not isinstance(spec.source, FilesSource):
        print(f"{spec.name} does not read landing files", file=sys.stderr)
        return 2
    start, end = _date_window(args)
    stations = (
        [f"site_{i}" for i in range(1, args.stations + 1)]
        if spec.source.parsing.station_column
        else [spec.source.parsing.default_station or "site_1"]
    )
    readings = simulate_readings(
        stations,
        pd.Timestamp(start),
        pd.Timestamp(end) + pd.Timedelta(days=1),
        args.seed,
    )
    landing = build_resources(settings)["landing"].process_config_and_initialize()  # resolves EnvVar keys
    landing.ensure_exists()
    target = landing.path(spec.source.prefix or spec.name, f"sample_{start}_{end}.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(format_source_file(readings, spec))
    print(f"wrote {len(readings)} readings to {target}")
    return 0


def publish(args: argparse.Namespace) -> int:
    """Publish one event by hand to the platform exchange (MLOPS_RABBITMQ_URL, MLOPS_EVENTS_EXCHANGE)."""
    import json

    from pydantic import ValidationError

    from events.bus import BrokerUnavailable, EventPublisher
    from events.envelope import make_event
    from resources.settings import get_settings

    try:
        payload = json.loads(args.payload)
        envelope = make_event(args.type, payload, source=args.source, trace_id=args.trace_id)
    except json.JSONDecodeError as exc:
        print(f"--payload is not JSON: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"invalid {args.type} payload: {exc}", file=sys.stderr)
        return 2
    if args.event_id:
        envelope = envelope.model_copy(update={"id": args.event_id})
    settings = get_settings()
    publisher = EventPublisher(settings.rabbitmq_url, settings.events_exchange)
    try:
        publisher.publish(envelope)
    except BrokerUnavailable as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 1
    finally:
        publisher.close()
    print(envelope.model_dump_json())
    return 0


def _first_api_key(profile: str, env: dict[str, str]) -> None:
    """Locally, a first start gets a `dev` key (all scopes) kept in a file beside the keys, so the API is
    usable at once; with services, keys are created deliberately (`mlops api-key create`)."""
    from deploy.env import data_dir
    from serving.auth import add_key, read_keys

    keys_file = Path(env.get("MLOPS_API_KEYS_FILE") or data_dir(env) / "api" / "keys.yaml")
    if read_keys(keys_file).keys:
        return
    if profile != "local":
        print(f"the API has no keys yet ({keys_file}): `mlops api-key create NAME --scopes predict[,admin]`")
        return
    key, _ = add_key(keys_file, "dev", ["predict", "admin"])
    saved = keys_file.parent / "dev-key"
    saved.write_text(key + "\n")
    saved.chmod(0o600)
    print(f"API key 'dev' (predict, admin) created for this data dir: {key}  (also in {saved})")


def stack(args: argparse.Namespace) -> int:
    """Start, stop or inspect the platform's processes (deploy/); `up` blocks until Ctrl-C."""
    import shlex
    import signal

    from deploy.env import StackError, load_env
    from deploy.services import dagster_home, stack_for_profile, state_dir_for
    from deploy.supervisor import running_pids, stop_recorded

    env = {**load_env(args.env_file), "MLOPS_PROFILE": args.profile}
    state = state_dir_for(args.profile, env)
    if args.action == "env":
        env["DAGSTER_HOME"] = str(dagster_home(args.profile, env, state))
        print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items()))
        return 0
    if args.action == "stop":
        stopped = stop_recorded(state)
        print(f"{args.profile} stack: stopped {stopped} service(s)")
        return 0
    if args.action == "status":
        running = running_pids(state / "pids.json")
        for name, entry in running.items():
            print(f"  {name:<18} pid {entry['pid']}")
        print(f"{args.profile} stack: {len(running)} service(s) running; logs in {state / 'logs'}")
        return 0 if running else 1

    _first_api_key(args.profile, env)
    began = time.perf_counter()
    stack_ = stack_for_profile(args.profile, env)
    print(f"starting the {args.profile} stack; logs in {stack_.logs}", flush=True)
    try:
        stack_.start()
    except StackError as exc:
        print(f"stack failed to start: {exc}", file=sys.stderr)
        return 1
    print(f"all healthy in {time.perf_counter() - began:.1f} s", flush=True)
    if args.detach:
        print(f"`mlops stack stop --profile {args.profile}` stops it")
        return 0
    print("Ctrl-C stops everything", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        exited = stack_.wait()
        print(f"{exited} exited (see {stack_.logs / exited}.log); stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack_.stop()


def serve(args: argparse.Namespace) -> int:
    """Run the prediction API (uvicorn). With several workers their metrics are pooled (prometheus-client's
    multiprocess mode, in a directory that lives as long as this command) and the store is prepared
    once, here, before they start."""
    import tempfile

    import uvicorn

    from serving.config import get_serving_settings
    from serving.observability import configure_logging
    from serving.store import Store

    settings = get_serving_settings()
    workers = args.workers or settings.workers
    configure_logging()
    with contextlib.ExitStack() as cleanup:
        if workers > 1:
            Store(settings.db_url()).close()
            if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
                metrics = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="mlops-api-metrics-"))
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
        uvicorn.run(
            "serving.main:create_app",
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=workers,
            access_log=False,
            log_config=None,
        )
    return 0


def api_key(args: argparse.Namespace) -> int:
    """Create, revoke or list API keys (SHA-256 hashes in the keys file the service re-reads on change)."""
    from serving.auth import KeyFile, add_key, read_keys, write_keys
    from serving.config import get_serving_settings

    path = args.keys_file or get_serving_settings().keys_path()
    keys = read_keys(path)
    if args.action == "list":
        for entry in keys.keys:
            print(f"{entry.name:<24} {','.join(entry.scopes):<16} sha256:{entry.sha256[:12]}…")
        print(f"{len(keys.keys)} key(s) in {path}")
        return 0
    if not args.name:
        print(f"`mlops api-key {args.action}` needs a NAME", file=sys.stderr)
        return 2
    others = [e for e in keys.keys if e.name != args.name]
    if args.action == "revoke":
        if len(others) == len(keys.keys):
            print(f"no key named {args.name!r} in {path}", file=sys.stderr)
            return 1
        write_keys(path, KeyFile(keys=others))
        print(f"revoked {args.name!r}; the service stops accepting it within a second")
        return 0
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    try:
        key, replaced = add_key(path, args.name, scopes, args.key)
    except ValueError as exc:
        print(f"invalid key: {exc}", file=sys.stderr)
        return 2
    if args.quiet:
        print(key)
    else:
        print(f"{'replaced' if replaced else 'created'} key {args.name!r} ({','.join(scopes)}) in {path}")
        print(f"  {key}")
        print("  (shown once: only its SHA-256 is stored)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def window(p: argparse.ArgumentParser, days: int) -> None:
        p.add_argument("--days", type=int, default=days, help=f"days up to --end (default {days})")
        p.add_argument("--start", help="first day, YYYY-MM-DD")
        p.add_argument("--end", help="last day, YYYY-MM-DD (default: yesterday)")

    p = sub.add_parser("materialize", help="materialize every asset and exit (for scripts and CI)")
    p.add_argument("--pipeline", action="append", help="pipeline name (repeatable; default: all)")
    window(p, 365)
    p.set_defaults(func=materialize)

    p = sub.add_parser("rollback", help="move the champion alias back to the previous champion")
    p.add_argument("pipeline")
    p.add_argument("--task", default="forecast")
    p.add_argument("--to-version", help="a specific registered version instead of the previous champion")
    p.set_defaults(func=rollback)

    def stack_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--profile",
            choices=["local", "services"],
            default=os.environ.get("MLOPS_PROFILE", "local"),
            help="local: Dagster on SQLite + MLflow UI; services: S3, MLflow server, Dagster on PostgreSQL",
        )
        p.add_argument("--env-file", type=Path, default=None, help="ports and credentials (deploy/stack.env)")
        p.add_argument("--detach", action="store_true", help="return once healthy; `stack stop` stops it")

    p = sub.add_parser("stack", help="start/stop the platform's processes: up | stop | status | env")
    p.add_argument("action", choices=["up", "stop", "status", "env"])
    stack_options(p)
    p.set_defaults(func=stack)

    p = sub.add_parser("up", help="start the UIs and services of a profile (`stack up`); Ctrl-C stops")
    stack_options(p)
    p.set_defaults(func=stack, action="up")

    p = sub.add_parser("land-sample", help="drop a simulated file in the landing area, in the spec's format")
    p.add_argument("pipeline")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--stations", type=int, default=5, help="stations in the file, if its format names them")
    window(p, 365)
    p.set_defaults(func=land_sample)

    p = sub.add_parser("serve", help="run the prediction API (FastAPI on uvicorn)")
    p.add_argument("--host", help="default MLOPS_API_HOST or 127.0.0.1")
    p.add_argument("--port", type=int, help="default MLOPS_API_PORT or 8000")
    p.add_argument(
        "--workers",
        type=int,
        help="processes, each with the models (default MLOPS_API_WORKERS or one per CPU, at most 4)",
    )
    p.set_defaults(func=serve)

    p = sub.add_parser("api-key", help="create | revoke | list the API's keys (stored as SHA-256 hashes)")
    p.add_argument("action", choices=["create", "revoke", "list"])
    p.add_argument("name", nargs="?", help="who or what the key is for, e.g. streamlit-ui")
    p.add_argument("--scopes", default="predict", help="comma-separated: predict, admin (default predict)")
    p.add_argument("--key", help="use this key instead of a new random one (e.g. from a secret store)")
    p.add_argument("--keys-file", type=Path, help="default MLOPS_API_KEYS_FILE or <data dir>/api/keys.yaml")
    p.add_argument("--quiet", action="store_true", help="print only the key")
    p.set_defaults(func=api_key)

    from events.envelope import PAYLOADS

    p = sub.add_parser("publish", help="publish one event to the platform exchange (prints the envelope)")
    p.add_argument("type", choices=list(PAYLOADS), help="event type, e.g. dataset.landed")
    p.add_argument("--payload", required=True, help='JSON payload, e.g. \'{"pipeline": "air_quality", ...}\'')
    p.add_argument("--trace-id", help="propagate an existing trace (default: a new one)")
    p.add_argument("--event-id", help="a fixed message id, e.g. to re-send a message (default: a new uuid)")
    p.add_argument("--source", default="mlops-cli", help="who publishes (default: mlops-cli)")
    p.set_defaults(func=publish)
    return parser


def main(argv: list[str] | None = None) -> int:
    import logging

    # The pyfunc models are pickled on purpose (see pipelines/models.py); its warning would drown the progress.
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
