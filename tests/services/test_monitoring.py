"""Monitoring on the process stack: Debian's Prometheus scrapes every service and evaluates the repository's
rule files (scrape and evaluation every second here), Alertmanager routes what fires to a webhook (the
package's AlertInbox). Every query a dashboard or a rule uses returns data once the graph has run and the
API has served; an API outage and a failing blocking check reach the webhook as alerts."""

from __future__ import annotations

import os
import re
import subprocess
import time

import httpx
import pytest

from deploy.env import BIN_DIR
from deploy.grafana import prometheus_exprs
from deploy.monitoring import alert_rules
from events.tags import partition_range_tags
from pipelines.keys import PipelineKeys
from pipelines.parsing import format_source_file
from pipelines.simulator import SENTINEL, simulate_readings
from pipelines.spec import load_specs
from resources.clients import clients_from_settings
from resources.settings import get_settings
from tests.services.conftest import QUIET

pytestmark = [pytest.mark.services, pytest.mark.slow]

# Words of PromQL that are not metric names (functions are told apart by the parenthesis after them).
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
}


def wait_for(what: str, check, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(every)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, ranges and strings left out)."""
    bare = re.sub(r'"[^"]*"|\{[^}]*\}|\[[^\]]*\]', " ", expr)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    words = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b\s*(\(?)", bare)
    return {word for word, call in words if not call and word not in PROMQL_WORDS}


@pytest.fixture(scope="module")
def prometheus(services) -> httpx.Client:
    with httpx.Client(base_url=f"http://127.0.0.1:{services.env['PROMETHEUS_PORT']}", timeout=10) as http:
        yield http


def query(prometheus: httpx.Client, expr: str) -> list[dict]:
    reply = prometheus.get("/api/v1/query", params={"query": expr})
    assert reply.status_code == 200, f"{expr}: {reply.text}"
    return reply.json()["data"]["result"]


@pytest.fixture(scope="module")
def api_traffic(services, trained) -> None:
    """Predictions of both tasks, and a few other routes, through the API."""
    assert trained.success, trained.failures
    key = subprocess.run(
        [str(BIN_DIR / "mlops"), "api-key", "create", "monitoring-test", "--scopes", "predict", "--quiet"],
        env={**os.environ, **services.env}, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    url = f"http://127.0.0.1:{services.env['API_PORT']}"
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as http:
        wait_for(
            "the API to load both air_quality champions",
            lambda: all(
                (http.get("/readyz").json()["models"].get(f"air_quality.{t}") or {}).get("version")
                for t in ("forecast", "exceedance")
            ),
            60,
        )
        for task in http.get("/v1/pipelines/air_quality/model").json()["tasks"]:
            rows = [{c: 1.0 for c in task["input_columns"]}]
            for _ in range(20):
                answer = http.post(
                    "/v1/pipelines/air_quality/predict", json={"task": task["name"], "rows": rows}
                )
                assert answer.status_code == 200, answer.text
        assert http.get("/v1/pipelines/nope/model").status_code == 404


def test_prometheus_scrapes_every_service_of_the_stack(prometheus):
    def all_up():
        targets = prometheus.get("/api/v1/targets").json()["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        return health if set(health.values()) == {"up"} else None

    health = wait_for("every target to be up", all_up, 30)
    assert set(health) == {"api", "exporter", "mlflow", "prometheus", "alertmanager"}
    # The exporter reads every source, and MLflow's own metrics come from --expose-prometheus.
    assert {r["metric"]["source"] for r in query(prometheus, "mlops_exporter_source_up == 1")} == {
        "dagster",
        "mlflow",
        "rabbitmq",
    }
    assert query(prometheus, 'count({job="mlflow", __name__=~"mlflow_.*"})')


def test_every_dashboard_and_rule_query_returns_data(prometheus, api_traffic):
    dashboards = prometheus_exprs()
    rule_metrics = {name for rule in alert_rules() for name in metric_names(rule["expr"])}

    def empty() -> list[str]:
        missing = [
            f"dashboard {where}: {expr}" for where, expr in dashboards.items() if not query(prometheus, expr)
        ]
        missing += [f"rule metric {name}" for name in sorted(rule_metrics) if not query(prometheus, name)]
        return missing

    # Rate windows need two scrapes after the traffic; the exporter reads every 2 s.
    last: list[str] = []

    def settled():
        last[:] = empty()
        return not last

    try:
        wait_for("every query to return data", settled, 60, every=2)
    except AssertionError:
        pytest.fail("queries without data:\n" + "\n".join(last))
    for rule in alert_rules():  # every alert expression evaluates (firing or not)
        query(prometheus, rule["expr"])
    assert {"up", "mlops_asset_check_failed", "mlops_champion_promoted_timestamp_seconds"} <= rule_metrics

    # The exporter's champions (read from the registry) are the versions the API serves, once both have
    # refreshed (an earlier test may have moved an alias).
    def agreeing():
        versions = {
            r["metric"]["task"]: r["value"][1]
            for r in query(prometheus, 'mlops_champion_version{pipeline="air_quality"}')
        }
        served = {
            r["metric"]["task"]: r["value"][1]
            for r in query(prometheus, 'max by (task) (mlops_api_model_version{pipeline="air_quality"})')
        }
        return served and served == versions

    wait_for("the exporter's champions to be the API's", agreeing, 30)


def notified(services, alertname: str, since: int = 0, **labels: str) -> dict | None:
    """The first firing notification of `alertname` (with these labels) the webhook received, from its
    `since`-th message on."""
    for message in services.alerts.received[since:]:
        for alert in message["alerts"]:
            if (
                alert["status"] == "firing"
                and alert["labels"].get("alertname") == alertname
                and all(alert["labels"].get(k) == v for k, v in labels.items())
            ):
                return {"path": message["path"], **alert}
    return None


def test_a_failing_blocking_check_reaches_the_webhook_as_an_alert(services, prometheus):
    spec = load_specs()["air_quality_landing"]
    keys = PipelineKeys(spec)
    readings = simulate_readings(["site_1"], "2024-05-01", "2024-05-02", seed=3).assign(no2=SENTINEL)
    from definitions import build_definitions

    with services.profile():
        landing = clients_from_settings(get_settings()).landing
        corrupted = landing.path(spec.source.prefix or spec.name, "monitoring-all-sentinel.csv")
        corrupted.write_bytes(format_source_file(readings, spec))
        try:
            with services.instance() as instance:
                result = (
                    build_definitions()
                    .resolve_job_def(keys.ingest_job)
                    .execute_in_process(
                        instance=instance,
                        run_config=QUIET,
                        tags=partition_range_tags("2024-05-01", "2024-05-01"),
                        raise_on_error=False,
                    )
                )
        finally:
            corrupted.unlink()
    assert not result.success

    alert = wait_for(
        "BlockingCheckFailed at the webhook",
        lambda: notified(services, "BlockingCheckFailed", pipeline=spec.name, asset="raw"),
        60,
    )
    assert alert["path"] == "/warning"
    assert alert["labels"]["check"] == "value_ranges" and alert["labels"]["blocking"] == "true"
    assert alert["annotations"]["runbook_url"] == "docs/runbook.md#check-failed"


def test_stopping_the_api_fires_api_down_at_the_webhook_within_for_plus_scrape(services, prometheus):
    """Last in this module: the API is stopped and started again."""
    rule = next(r for r in alert_rules() if r["alert"] == "ApiDown")
    for_seconds = int(rule["for"].removesuffix("m")) * 60
    scrape = int(services.env["PROMETHEUS_SCRAPE_INTERVAL"].removesuffix("s"))
    group_wait = 10  # deploy/alertmanager/alertmanager.yml.template
    slack = 15  # an evaluation, Alertmanager's dispatch, the webhook's answer
    wait_for("the API up and ApiDown quiet", lambda: not query(prometheus, 'ALERTS{alertname="ApiDown"}'), 60)
    since = len(services.alerts.received)
    stopped_at = time.monotonic()
    services.stack.stop_service("api")
    try:
        alert = wait_for(
            "ApiDown at the webhook",
            lambda: notified(services, "ApiDown", since),
            for_seconds + scrape + group_wait + slack,
        )
        took = time.monotonic() - stopped_at
    finally:
        services.stack.start_service("api")
    assert alert["path"] == "/critical"
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["runbook_url"] == "docs/runbook.md#service-down-api"
    assert took >= for_seconds, took  # not before the rule's `for`
