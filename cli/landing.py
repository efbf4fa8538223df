"""`mlops land-sample` and `mlops publish`: put a file in the landing area, announce an event by hand."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd
from pydantic import ValidationError

from cli.window import date_window
from events.bus import EventPublisher
from events.envelope import make_event
from pipelines.census_simulator import COLUMNS, census_csv, simulate_census
from pipelines.parsing import format_source_file
from pipelines.simulator import simulate_readings
from pipelines.spec import SPECS_DIR, FilesSource, TabularSpec, load_specs
from resources.clients import clients_from_settings
from resources.settings import get_settings
from resources.unavailable import ServiceUnavailable


def _land_table(spec: TabularSpec, args: argparse.Namespace, settings) -> int:
    """A messy census-style export for a spec whose columns are the census simulator's."""
    if [c.source_name for c in spec.columns] != COLUMNS:
        print(f"{spec.name}: no simulator makes its columns; upload a real file", file=sys.stderr)
        return 2
    landing = clients_from_settings(settings).landing
    landing.ensure_exists()
    target = landing.path(spec.source.prefix or spec.name, f"sample_{args.rows}_rows_seed{args.seed}.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(census_csv(simulate_census(args.rows, args.seed), args.seed))
    print(f"wrote {args.rows} rows to {target}")
    return 0


def land_sample(args: argparse.Namespace) -> int:
    """Write a simulated file in the spec's declared format into the landing area (a demo upload)."""
    settings = get_settings()
    spec = load_specs(settings.specs_dir or SPECS_DIR)[args.pipeline]
    if isinstance(spec, TabularSpec):
        return _land_table(spec, args, settings)
    if not isinstance(spec.source, FilesSource):
        print(f"{spec.name} does not read landing files", file=sys.stderr)
        return 2
    start, end = date_window(args)
    stations = (
        [f"site_{i}" for i in range(1, args.stations + 1)]
        if spec.source.parsing.station_column
        else [spec.source.parsing.default_station or "site_1"]
    )
    try:
        readings = simulate_readings(
            stations,
            pd.Timestamp(start),
            pd.Timestamp(end) + pd.Timedelta(days=1),
            args.seed,
            args.scenario,
        )
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    landing = clients_from_settings(settings).landing
    landing.ensure_exists()
    target = landing.path(spec.source.prefix or spec.name, f"sample_{start}_{end}.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(format_source_file(readings, spec))
    print(f"wrote {len(readings)} readings to {target}")
    return 0


def publish(args: argparse.Namespace) -> int:
    """Publish one event by hand to the platform exchange (MLOPS_RABBITMQ_URL, MLOPS_EVENTS_EXCHANGE)."""
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
    except ServiceUnavailable as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 1
    finally:
        publisher.close()
    print(envelope.model_dump_json())
    return 0
