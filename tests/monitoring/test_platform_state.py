"""The platform exporter without its sources: it reports them down instead of failing the scrape, keeps the
last values it read, and turns Dagster's runs into counts, durations and failed-latest flags."""

from __future__ import annotations

import socket

from prometheus_client import CollectorRegistry, generate_latest

from monitoring.platform_state import PlatformState, Sample, Source, run_samples
from pipelines.spec import load_specs


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sources_that_do_not_answer_are_reported_down_and_the_scrape_still_succeeds():
    port = closed_port()
    state = PlatformState(
        specs=load_specs(),
        dagster_url=f"http://127.0.0.1:{port}",
        mlflow_url=f"http://127.0.0.1:{port}",
        rabbitmq_url=f"amqp://guest:guest@127.0.0.1:{port}/%2F",
        exchange="mlops.events",
        consumer_queue="mlops.events.dagster-runs",
        timeout=0.5,
    )
    registry = CollectorRegistry()
    registry.register(state)
    try:
        state.refresh()
        text = generate_latest(registry).decode()
    finally:
        state.close()
    for source in ("dagster", "mlflow", "rabbitmq"):
        assert f'mlops_exporter_source_up{{source="{source}"}} 0.0' in text
    # What the specs say is known without any source: the limits the alerts compare with.
    assert 'mlops_champion_max_age_seconds{pipeline="air_quality",task="forecast"} 604800.0' in text
    assert 'mlops_asset_freshness_limit_seconds{asset="forecasts",pipeline="air_quality"} 108000.0' in text
    # A tabular pipeline (census_income, one of the built-in specs) has no hourly output to be fresh.
    assert "census_income" in load_specs()
    assert 'pipeline="census_income"' not in text


def test_a_source_that_fails_keeps_its_last_values_stale_and_reports_itself_down():
    answers = iter([[Sample("mlops_events_dead_letters", ("dlq",), 3.0)], ConnectionError("gone")])

    def read():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    source = Source("rabbitmq", read)
    source.refresh()
    assert source.up == 1.0 and source.last_success > 0
    succeeded_at = source.last_success
    source.refresh()
    assert source.up == 0.0
    assert source.samples == [Sample("mlops_events_dead_letters", ("dlq",), 3.0)]
    assert source.last_success == succeeded_at


def test_runs_become_counts_and_the_latest_finished_run_of_each_job():
    runs = [  # newest first, as Dagster lists them
        {"jobName": "refresh", "status": "STARTED", "startTime": 50.0, "endTime": None},
        {"jobName": "refresh", "status": "FAILURE", "startTime": 30.0, "endTime": 42.5},
        {"jobName": "refresh", "status": "SUCCESS", "startTime": 10.0, "endTime": 20.0},
        {"jobName": "ingest", "status": "SUCCESS", "startTime": 5.0, "endTime": 8.0},
    ]
    samples = {(s.metric, s.labels): s.value for s in run_samples(runs)}
    assert samples[("mlops_dagster_runs", ("refresh", "started"))] == 1
    assert samples[("mlops_dagster_runs", ("refresh", "failure"))] == 1
    assert samples[("mlops_dagster_run_duration_seconds", ("refresh",))] == 12.5
    assert samples[("mlops_dagster_job_last_run_failed", ("refresh",))] == 1
    assert samples[("mlops_dagster_job_last_run_failed", ("ingest",))] == 0
