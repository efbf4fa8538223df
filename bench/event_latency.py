"""Benchmark: how fast a RabbitMQ message becomes a Dagster run, and a promoted model, with the daemon running.

A real `dagster-daemon` consumes a unique exchange on the machine's RabbitMQ. Its instance is the services
profile's (deploy/dagster/dagster.yaml: Dagster on PostgreSQL, on a fresh database of the machine's server,
with deploy/stack.env's DAGSTER_* settings), where RabbitMQ events are the default; `--storage sqlite`
uses the local profile's dagster.yaml instead. The pipelines' data and models stay on the local profile
(files, SQLite MLflow), which this benchmark does not time apart from the promotions. Two measurements:

1. `--events` dataset.landed messages, one at a time: publish → run created by the sensor (queued),
   → run started (RUN_START: the run worker is executing). Each run is cancelled once started so the next
   one does not wait for a slot. Baseline: created → started, what launching any run costs however it is
   triggered; the ratio shows what the event path adds on top.
2. `--promotions` dataset.landed messages run to completion: publish → `model.promoted` received by a
   subscriber (an exclusive queue, as the API has).

    .venv/bin/python bench/event_latency.py [--events 20] [--promotions 3] [--storage postgres|sqlite]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import pika  # noqa: E402
from pika.exceptions import AMQPError  # noqa: E402

from events.bus import EventPublisher  # noqa: E402
from events.envelope import make_event  # noqa: E402
from events.tags import EVENT_ID_TAG  # noqa: E402
from pipelines.parsing import format_source_file  # noqa: E402
from pipelines.simulator import simulate_readings  # noqa: E402
from pipelines.spec import load_specs  # noqa: E402
from sensors.event_runs import consumer_queue  # noqa: E402
from tests.events.daemon import DaemonProcess  # noqa: E402
from tests.throwaway import delete_throwaway_exchange  # noqa: E402

LANDING = "air_quality_landing"
URL = os.environ.get("MLOPS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
STARTED = {
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELING,
    dg.DagsterRunStatus.CANCELED,
}

FINISHED = {dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(label: str, values: list[float]) -> str:
    return (
        f"  {label:<38} p50 {pct(values, 0.5):6.2f} s   p95 {pct(values, 0.95):6.2f} s   "
        f"min {min(values):6.2f} s   max {max(values):6.2f} s   (n={len(values)})"
    )


def run_of(instance: dg.DagsterInstance, event_id: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={EVENT_ID_TAG: event_id}), limit=1)
    return runs[0] if runs else None


LAUNCH_STAGES = {
    "run row → queued (plan, planned events)": dg.DagsterEventType.RUN_ENQUEUED,
    "queued → dequeued (coordinator)": dg.DagsterEventType.RUN_STARTING,
    "dequeued → worker process up": dg.DagsterEventType.ENGINE_EVENT,  # "Started process for run"
    "worker up → RUN_START (code loaded)": dg.DagsterEventType.RUN_START,
}


def launch_stages(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds between the run's creation and its launch events, as its event log recorded them."""
    previous = instance.get_run_record_by_id(run_id).create_timestamp.timestamp()
    stages = {}
    for stage, event_type in LAUNCH_STAGES.items():
        records = instance.get_records_for_run(run_id, of_type=event_type).records
        if not records:
            break
        stages[stage] = records[0].timestamp - previous
        previous = records[0].timestamp
    return stages


class PromotedSubscriber:
    """A durable queue bound to `model.promoted`; reconnects if the broker drops the connection (something
    else on a shared machine may restart RabbitMQ), and the durable queue keeps what arrived meanwhile."""

    def __init__(self, exchange: str, queue: str) -> None:
        self.exchange, self.queue = exchange, queue
        self._open()

    def _open(self) -> None:
        params = pika.URLParameters(URL)
        params.heartbeat = 0  # idle while a run trains
        self.connection = pika.BlockingConnection(params)
        self.channel = self.connection.channel()
        self.channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        self.channel.queue_declare(self.queue, durable=True)
        self.channel.queue_bind(self.queue, self.exchange, routing_key="model.promoted")

    def drain(self) -> list[bytes]:
        bodies = []
        try:
            while True:
                method, _, body = self.channel.basic_get(self.queue, auto_ack=True)
                if method is None:
                    return bodies
                bodies.append(body)
        except AMQPError:
            time.sleep(1)
            with contextlib.suppress(AMQPError):
                self._open()
            return bodies

    def close(self) -> None:
        with contextlib.suppress(AMQPError):
            self.connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--promotions", type=int, default=3)
    parser.add_argument(
        "--dequeue-interval",
        type=int,
        default=None,
        help="queued-run coordinator dequeue interval in s (default: dagster.yaml's, 1 s; Dagster's own default 5)",
    )
    parser.add_argument(
        "--storage",
        choices=["postgres", "sqlite"],
        default="postgres",
        help="the Dagster instance: the services profile's PostgreSQL (default) or the local profile's SQLite",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    exchange = f"mlops.bench.{uuid.uuid4().hex[:10]}"
    env = {
        "MLOPS_PROFILE": "local",
        "MLOPS_DATA_DIR": str(work / "data"),
        "MLOPS_EVENTS_BACKEND": "rabbitmq",
        "MLOPS_RABBITMQ_URL": URL,
        "MLOPS_EVENTS_EXCHANGE": exchange,
    }
    os.environ.update(env)
    from resources.clients import clients_from_settings
    from resources.settings import get_settings

    landing = clients_from_settings(get_settings()).landing
    folder = landing.path(LANDING)
    folder.mkdir(parents=True, exist_ok=True)
    readings = simulate_readings(["site_1", "site_2", "site_3"], "2024-01-01", "2024-03-01", seed=11)
    (folder / "stations_2024q1.csv").write_bytes(format_source_file(readings, load_specs()[LANDING]))
    uri = f"{landing.root()}/{LANDING}/stations_2024q1.csv"

    promoted_queue = f"{exchange}.bench-promoted"
    subscriber = PromotedSubscriber(exchange, promoted_queue)

    publisher = EventPublisher(URL, exchange)
    daemon = DaemonProcess(work / "dagster", env, args.dequeue_interval, storage=args.storage).start()
    began = time.perf_counter()
    try:
        daemon.wait_for_queue(URL, consumer_queue(exchange))
        print(
            f"daemon up and consuming in {time.perf_counter() - began:.1f} s ({os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f}, Dagster storage {args.storage}, dequeue interval "
            f"{args.dequeue_interval or 'as in dagster.yaml'})"
        )
        instance = daemon.instance()

        created, started, launch = [], [], []
        stages: dict[str, list[float]] = {}
        for i in range(args.events):
            envelope = make_event("dataset.landed", {"pipeline": LANDING, "uri": uri}, source="bench")
            t0 = time.perf_counter()
            publisher.publish(envelope)
            t_created = None
            while True:
                run = run_of(instance, envelope.id)
                now = time.perf_counter()
                if run is not None and t_created is None:
                    t_created = now
                if run is not None and run.status in STARTED:
                    break
                if now - t0 > 120:
                    raise TimeoutError(f"event {i}: no started run after 120 s\n{daemon.tail()}")
                time.sleep(0.05)
            created.append(t_created - t0)
            started.append(now - t0)
            launch.append(now - t_created)
            instance.run_launcher.terminate(run.run_id)
            while run_of(instance, envelope.id).status not in FINISHED:
                time.sleep(0.2)
            for stage, seconds in launch_stages(instance, run.run_id).items():
                stages.setdefault(stage, []).append(seconds)

        print(f"\nevent → run latency, {args.events} dataset.landed events published one at a time")
        print(line("publish → run created (sensor)", created))
        print(line("publish → run started (RUN_START)", started))
        print(line("baseline: run created → started", launch))
        ratio = statistics.median(started) / statistics.median(launch)
        print(
            f"  ratio publish→started / baseline launch: {ratio:.2f}× (p50); the event path adds "
            f"{statistics.median(created):.2f} s (p50) before Dagster's own launch"
        )
        print(
            f"  goal publish → run p50 ≤ 5 s: created {pct(created, 0.5):.2f} s, started {pct(started, 0.5):.2f} s",
        )
        print("  where the launch goes (the run's own event log):")
        for stage, seconds in stages.items():
            print(line(f"  {stage}", seconds))
        sys.stdout.flush()

        promoted = []
        for i in range(args.promotions):
            subscriber.drain()
            envelope = make_event("dataset.landed", {"pipeline": LANDING, "uri": uri}, source="bench")
            t0 = time.perf_counter()
            publisher.publish(envelope)
            while not any(envelope.trace_id.encode() in body for body in subscriber.drain()):
                run = run_of(instance, envelope.id)
                if run is not None and run.status == dg.DagsterRunStatus.FAILURE:
                    raise RuntimeError(f"promotion run {i} failed\n{daemon.tail()}")
                if time.perf_counter() - t0 > 600:
                    raise TimeoutError(f"promotion {i}: no model.promoted after 600 s")
                time.sleep(0.2)
            promoted.append(time.perf_counter() - t0)
            # Let the run finish its outputs before the next one (or before the daemon stops).
            while run_of(instance, envelope.id).status not in FINISHED:
                time.sleep(0.5)
        if promoted:
            print(
                f"\npublish → model.promoted received by a subscriber ({args.promotions} full ingest+retrain runs)"
            )
            print(line("publish → model.promoted", promoted))
    finally:
        daemon.stop()
        publisher.close()
        subscriber.close()
        delete_throwaway_exchange(URL, exchange, (promoted_queue,))
    return 0


if __name__ == "__main__":
    sys.exit(main())
