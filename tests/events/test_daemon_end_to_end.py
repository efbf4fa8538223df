"""With a real dagster-daemon: a file lands, `dataset.landed` is published, and the platform ingests it,
retrains, promotes and announces the new champion carrying the publisher's trace id."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest

from events.bus import EventPublisher
from events.envelope import make_event
from events.tags import EVENT_ID_TAG, PROMOTED_BY_RUN_TAG, TRACE_TAG, partition_range_tags
from pipelines.keys import PipelineKeys
from pipelines.parsing import format_source_file
from pipelines.simulator import simulate_readings
from pipelines.spec import load_specs
from sensors.event_runs import consumer_queue
from tests.events.conftest import Subscriber, queue_depth
from tests.events.daemon import DaemonProcess

pytestmark = [pytest.mark.broker, pytest.mark.slow]

LANDING = "air_quality_landing"
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def wait_for(what: str, probe, timeout: float, daemon: DaemonProcess):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; daemon log:\n{daemon.tail()}")


def test_published_landing_file_is_ingested_retrained_and_promoted_by_the_daemon(
    broker_url: str, exchange: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    env = {
        "MLOPS_PROFILE": "local",
        "MLOPS_DATA_DIR": str(tmp_path / "data"),
        "MLOPS_EVENTS_BACKEND": "rabbitmq",
        "MLOPS_RABBITMQ_URL": broker_url,
        "MLOPS_EVENTS_EXCHANGE": exchange,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from resources.clients import clients_from_settings
    from resources.settings import get_settings

    get_settings.cache_clear()
    clients = clients_from_settings(get_settings())
    spec = load_specs()[LANDING]
    keys = PipelineKeys(spec)
    folder = clients.landing.path(LANDING)
    folder.mkdir(parents=True, exist_ok=True)
    readings = simulate_readings(["site_1", "site_2", "site_3"], "2024-01-01", "2024-03-01", seed=11)
    (folder / "stations_2024q1.csv").write_bytes(format_source_file(readings, spec))

    subscriber = Subscriber(broker_url, exchange, ["model.promoted", "dataset.materialized", "run.failed"])
    daemon = DaemonProcess(tmp_path / "dagster", env).start()
    try:
        daemon.wait_for_queue(broker_url, consumer_queue(exchange))
        envelope = make_event(
            "dataset.landed",
            {"pipeline": LANDING, "uri": f"{clients.landing.root()}/{LANDING}/stations_2024q1.csv"},
            source="tests",
            trace_id="trace-e2e",
        )
        publisher = EventPublisher(broker_url, exchange)
        publisher.publish(envelope)
        publisher.close()

        instance = daemon.instance()

        def the_run() -> dg.DagsterRun | None:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={EVENT_ID_TAG: envelope.id}))
            return runs[0] if runs else None

        run = wait_for("the run to start", the_run, 90, daemon)
        assert run.job_name == keys.refresh_job
        assert run.tags[TRACE_TAG] == "trace-e2e"
        assert partition_range_tags("2024-01-01", "2024-02-29").items() <= run.tags.items()
        run = wait_for(
            "the run to finish", lambda: (r := the_run()) and r.status in FINISHED and r, 480, daemon
        )
        assert run.status == dg.DagsterRunStatus.SUCCESS, daemon.tail()
        assert queue_depth(broker_url, consumer_queue(exchange)) == 0

        champion = clients.registry.champion(keys.model_name(spec.task("forecast")))
        assert champion is not None
        assert champion.tags[PROMOTED_BY_RUN_TAG] == run.run_id
        received = subscriber.received()
        promoted = [
            e for e in received if e["type"] == "model.promoted" and e["payload"]["task"] == "forecast"
        ]
        assert [(e["payload"]["version"], e["trace_id"]) for e in promoted] == [
            (str(champion.version), "trace-e2e")
        ]
        materialized = {
            e["payload"]["asset"]: e["trace_id"] for e in received if e["type"] == "dataset.materialized"
        }
        assert materialized == {"/".join(path): "trace-e2e" for path in keys.outputs}
        assert not [e for e in received if e["type"] == "run.failed"]
    finally:
        daemon.stop()
        subscriber.close()
        get_settings.cache_clear()
