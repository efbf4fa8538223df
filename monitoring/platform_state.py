"""The platform's state as Prometheus metrics (`mlops exporter`): asset freshness, check
results, runs and their durations from Dagster's GraphQL API; the champion of every task, when it was
promoted and its holdout metrics from the MLflow registry's REST API; queued and dead-lettered events from
RabbitMQ.

Why a collector read on scrape, not a Pushgateway fed by assets: runs pay nothing (no push in any step, no
Dagster code in the exporter), the numbers are what Dagster and MLflow themselves hold (a run that crashed
before pushing still shows as failed), and nothing goes stale in a gateway after a pipeline is removed.
Each source is read with a short timeout every `min_interval` seconds in the background, whatever the
scrape rate (a scrape only reports what was read); a source that does not answer keeps its last values and reports `mlops_exporter_source_up 0`, so Prometheus
sees stale state and an alert, never a failed scrape.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import httpx
from pika.exceptions import AMQPError, ChannelClosedByBroker
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from events.bus import connect
from events.queue import dead_letter_queue
from events.tags import CHAMPION, PROMOTED_AT_TAG
from pipelines.keys import PipelineKeys
from pipelines.spec import PipelineSpec, TabularSpec

log = logging.getLogger("mlops.exporter")

RUN_WINDOW = 200  # mlops_dagster_runs counts among the latest runs, whatever their age

ASSETS = """
query PlatformAssets {
  assetNodes {
    assetKey { path }
    groupName
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks { name blocking executionForLatestMaterialization { status evaluation { severity } } }
      }
    }
  }
}
"""
LATEST = """
query PlatformLatest($keys: [AssetKeyInput!]!) {
  assetsLatestInfo(assetKeys: $keys) { assetKey { path } latestMaterialization { timestamp } }
}
"""
RUNS = """
query PlatformRuns($limit: Int!) {
  runsOrError(limit: $limit) {
    __typename
    ... on Runs { results { jobName status startTime endTime } }
  }
}
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}

# name → (help, label names); every metric is a gauge.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mlops_asset_last_materialization_timestamp_seconds": (
        "When the asset was last materialized (any partition)",
        ("pipeline", "asset"),
    ),
    "mlops_asset_freshness_limit_seconds": (
        "How old the asset may be (the spec's checks.freshness_hours)",
        ("pipeline", "asset"),
    ),
    "mlops_asset_check_failed": (
        "1 if the check's latest execution failed, 0 if it passed",
        ("pipeline", "asset", "check", "check_severity", "blocking"),
    ),
    "mlops_dagster_runs": (f"Runs by job and status among the latest {RUN_WINDOW}", ("job", "status")),
    "mlops_dagster_run_duration_seconds": ("Duration of the job's latest finished run", ("job",)),
    "mlops_dagster_job_last_run_failed": ("1 if the job's latest finished run failed", ("job",)),
    "mlops_champion_version": ("The registered model version the champion alias names", ("pipeline", "task")),
    "mlops_champion_promoted_timestamp_seconds": ("When the champion was promoted", ("pipeline", "task")),
    "mlops_champion_max_age_seconds": (
        "How old a champion may get (the spec's checks.retrain_within_days)",
        ("pipeline", "task"),
    ),
    "mlops_champion_holdout_metric": (
        "The champion's metrics on its holdout (MAE per target, coverage, Brier, ...)",
        ("pipeline", "task", "metric"),
    ),
    "mlops_events_queued_messages": ("Events waiting in the run sensor's queue", ("queue",)),
    "mlops_events_dead_letters": ("Messages in the dead-letter queue", ("queue",)),
    "mlops_exporter_source_up": ("1 if the source answered the latest read", ("source",)),
    "mlops_exporter_source_last_success_timestamp_seconds": (
        "When the source last answered",
        ("source",),
    ),
    "mlops_exporter_source_read_seconds": ("How long the latest read of the source took", ("source",)),
}


@dataclass(frozen=True)
class Sample:
    metric: str
    labels: tuple[str, ...]
    value: float


class Source:
    """One system the exporter reads, with the samples of its latest successful read."""

    def __init__(self, name: str, read: Callable[[], list[Sample]]) -> None:
        self.name = name
        self.read = read
        self.samples: list[Sample] = []
        self.up = 0.0
        self.last_success = 0.0
        self.seconds = 0.0

    def refresh(self) -> None:
        began = time.perf_counter()
        try:
            self.samples = self.read()
            self.up, self.last_success = 1.0, time.time()
        except Exception as exc:  # any failure leaves the last values in place: stale, not crashed
            self.up = 0.0
            log.warning("reading %s failed: %s: %s", self.name, type(exc).__name__, exc)
        self.seconds = time.perf_counter() - began

    def own_samples(self) -> list[Sample]:
        return [
            Sample("mlops_exporter_source_up", (self.name,), self.up),
            Sample("mlops_exporter_source_last_success_timestamp_seconds", (self.name,), self.last_success),
            Sample("mlops_exporter_source_read_seconds", (self.name,), self.seconds),
        ]


# ---- Dagster --------------------------------------------------------------------------------------------


def graphql(http: httpx.Client, query: str, variables: dict | None = None) -> dict:
    reply = http.post("/graphql", json={"query": query, "variables": variables or {}})
    reply.raise_for_status()
    body = reply.json()
    if body.get("errors") or not isinstance(body.get("data"), dict):
        raise RuntimeError(f"Dagster could not answer: {body.get('errors') or body}")
    return body["data"]


def dagster_samples(http: httpx.Client) -> list[Sample]:
    """Freshness and checks per asset of every pipeline (Dagster asset group), runs per job."""
    nodes = [n for n in graphql(http, ASSETS)["assetNodes"] if n.get("groupName")]
    pipeline_of = {tuple(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    samples: list[Sample] = []
    for node in nodes:
        asset, pipeline = (
            "/".join(node["assetKey"]["path"][1:]) or node["assetKey"]["path"][0],
            node["groupName"],
        )
        checks = node["assetChecksOrError"]
        if checks.get("__typename") != "AssetChecks":
            continue
        for check in checks["checks"]:
            execution = check.get("executionForLatestMaterialization") or {}
            status = execution.get("status")
            if status not in ("SUCCEEDED", "FAILED", "EXECUTION_FAILED"):
                continue  # never ran, or running now
            severity = (execution.get("evaluation") or {}).get("severity") or "ERROR"
            labels = (pipeline, asset, check["name"], severity, str(check["blocking"]).lower())
            samples.append(Sample("mlops_asset_check_failed", labels, float(status != "SUCCEEDED")))
    if pipeline_of:
        keys = [{"path": list(path)} for path in pipeline_of]
        for info in graphql(http, LATEST, {"keys": keys})["assetsLatestInfo"]:
            latest = info.get("latestMaterialization")
            path = tuple(info["assetKey"]["path"])
            if latest and path in pipeline_of:
                asset = "/".join(path[1:]) or path[0]
                when = float(latest["timestamp"]) / 1000  # milliseconds, as a string
                samples.append(
                    Sample(
                        "mlops_asset_last_materialization_timestamp_seconds", (pipeline_of[path], asset), when
                    )
                )
    runs = graphql(http, RUNS, {"limit": RUN_WINDOW})["runsOrError"]
    if runs.get("__typename") != "Runs":
        raise RuntimeError(f"Dagster could not list runs: {runs}")
    return samples + run_samples(runs["results"])


def run_samples(runs: Iterable[Mapping]) -> list[Sample]:
    """Counts by job and status; the duration and outcome of each job's latest finished run (runs come
    newest first)."""
    counts: dict[tuple[str, str], int] = {}
    latest: dict[str, Mapping] = {}
    for run in runs:
        job, status = run["jobName"], run["status"]
        counts[(job, status.lower())] = counts.get((job, status.lower()), 0) + 1
        if status in FINISHED and job not in latest:
            latest[job] = run
    samples = [Sample("mlops_dagster_runs", key, float(n)) for key, n in sorted(counts.items())]
    for job, run in latest.items():
        if run.get("startTime") and run.get("endTime"):
            duration = float(run["endTime"]) - float(run["startTime"])
            samples.append(Sample("mlops_dagster_run_duration_seconds", (job,), duration))
        samples.append(Sample("mlops_dagster_job_last_run_failed", (job,), float(run["status"] == "FAILURE")))
    return samples


# ---- MLflow ---------------------------------------------------------------------------------------------


def mlflow_samples(http: httpx.Client, specs: Mapping[str, PipelineSpec]) -> list[Sample]:
    """The champion of every task of every spec: version, promotion time, holdout metrics."""
    samples: list[Sample] = []
    for spec in specs.values():
        keys = PipelineKeys(spec)
        for task in spec.tasks:
            reply = http.get(
                "/api/2.0/mlflow/registered-models/alias",
                params={"name": keys.model_name(task), "alias": CHAMPION},
            )
            if no_champion(reply):
                continue
            reply.raise_for_status()
            version = reply.json()["model_version"]
            labels = (spec.name, task.name)
            tags = {t["key"]: t["value"] for t in version.get("tags", [])}
            promoted = (
                _timestamp(tags.get(PROMOTED_AT_TAG)) or float(version["last_updated_timestamp"]) / 1000
            )
            samples += [
                Sample("mlops_champion_version", labels, float(version["version"])),
                Sample("mlops_champion_promoted_timestamp_seconds", labels, promoted),
            ]
            run = http.get("/api/2.0/mlflow/runs/get", params={"run_id": version["run_id"]})
            run.raise_for_status()
            for metric in run.json()["run"]["data"].get("metrics", []):
                if metric["key"].startswith("holdout."):
                    name = metric["key"].removeprefix("holdout.")
                    samples.append(
                        Sample("mlops_champion_holdout_metric", (*labels, name), float(metric["value"]))
                    )
    return samples


def no_champion(reply: httpx.Response) -> bool:
    """MLflow's answer for a model that does not exist (404) or has no champion alias yet (400)."""
    if reply.status_code not in (400, 404):
        return False
    try:
        code = reply.json().get("error_code")
    except ValueError:
        return False
    return code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def _timestamp(iso: str | None) -> float | None:
    try:
        return dt.datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


# ---- RabbitMQ -------------------------------------------------------------------------------------------


def rabbitmq_samples(url: str, exchange: str, consumer_queue: str, timeout: float) -> list[Sample]:
    """Messages waiting in the run sensor's queue and in the dead-letter queue (0 for a queue not declared
    yet: nobody has consumed or dead-lettered anything)."""
    connection = connect(url, timeout=timeout)
    try:
        samples = []
        for metric, queue in (
            ("mlops_events_queued_messages", consumer_queue),
            ("mlops_events_dead_letters", dead_letter_queue(exchange)),
        ):
            channel = connection.channel()
            try:
                count = channel.queue_declare(queue, passive=True).method.message_count
            except ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise
                count = 0
            else:
                channel.close()
            samples.append(Sample(metric, (queue,), float(count)))
        return samples
    finally:
        with contextlib.suppress(AMQPError):
            connection.close()


# ---- the collector --------------------------------------------------------------------------------------


def spec_samples(specs: Mapping[str, PipelineSpec]) -> list[Sample]:
    """The limits the alerts compare with, from the specs: freshness of each task's output, champion age.
    A tabular pipeline has neither an hourly output nor a retraining horizon: it gets no limits."""
    samples = []
    for spec in specs.values():
        if isinstance(spec, TabularSpec):
            continue
        keys = PipelineKeys(spec)
        for task in spec.tasks:
            output = "/".join(keys.output(task)[1:])
            samples += [
                Sample(
                    "mlops_asset_freshness_limit_seconds",
                    (spec.name, output),
                    spec.checks.freshness_hours * 3600,
                ),
                Sample(
                    "mlops_champion_max_age_seconds",
                    (spec.name, task.name),
                    spec.checks.retrain_within_days * 86400,
                ),
            ]
    return samples


class PlatformState(Collector):
    """Reads every source every `min_interval` seconds in a background thread and reports the samples of
    each source's latest successful read: a scrape never waits on Dagster, MLflow or RabbitMQ."""

    def __init__(
        self,
        specs: Mapping[str, PipelineSpec],
        dagster_url: str,
        mlflow_url: str,
        rabbitmq_url: str,
        exchange: str,
        consumer_queue: str,
        timeout: float = 3.0,
        min_interval: float = 10.0,
    ) -> None:
        self.specs = specs
        self.min_interval = min_interval
        self._dagster = httpx.Client(base_url=dagster_url.rstrip("/"), timeout=timeout)
        self._mlflow = httpx.Client(base_url=mlflow_url.rstrip("/"), timeout=timeout)
        self.sources = [
            Source("dagster", lambda: dagster_samples(self._dagster)),
            Source("mlflow", lambda: mlflow_samples(self._mlflow, specs)),
            Source("rabbitmq", lambda: rabbitmq_samples(rabbitmq_url, exchange, consumer_queue, timeout)),
        ]
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Read every source once (each keeps its last values if it fails)."""
        for source in self.sources:
            source.refresh()

    def start(self) -> None:
        """Read now, then every `min_interval` seconds until `close`."""
        self.refresh()

        def loop() -> None:
            while not self._stopped.wait(self.min_interval):
                self.refresh()

        self._thread = threading.Thread(target=loop, name="platform-state", daemon=True)
        self._thread.start()

    def collect(self) -> Iterator[Metric]:
        samples = spec_samples(self.specs)
        for source in self.sources:
            samples += source.samples + source.own_samples()
        families = {
            name: GaugeMetricFamily(name, help_text, labels=list(labels))
            for name, (help_text, labels) in METRICS.items()
        }
        for sample in samples:
            families[sample.metric].add_metric(list(sample.labels), sample.value)
        yield from families.values()

    def describe(self) -> list[Metric]:
        return []  # registering must not read the sources

    def close(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        self._dagster.close()
        self._mlflow.close()
