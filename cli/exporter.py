"""`mlops exporter`: the platform's state for Prometheus (monitoring/platform_state.py) on /metrics."""

from __future__ import annotations

import argparse
import threading

from prometheus_client import CollectorRegistry, start_http_server

from monitoring.platform_state import PlatformState
from pipelines.spec import SPECS_DIR, load_specs
from resources.settings import get_settings
from sensors.event_runs import consumer_queue
from serving.observability import configure_logging


def exporter(args: argparse.Namespace) -> int:
    settings = get_settings()
    configure_logging()
    state = PlatformState(
        specs=load_specs(settings.specs_dir or SPECS_DIR),
        dagster_url=args.dagster_url,
        mlflow_url=settings.mlflow_tracking_uri,
        rabbitmq_url=settings.rabbitmq_url,
        exchange=settings.events_exchange,
        consumer_queue=consumer_queue(settings.events_exchange),
        timeout=args.timeout,
        min_interval=args.min_interval,
    )
    state.start()
    registry = CollectorRegistry()
    registry.register(state)
    server, thread = start_http_server(args.port, addr=args.host, registry=registry)
    try:
        threading.Event().wait()
    finally:
        server.shutdown()
        thread.join()
        state.close()
    return 0
