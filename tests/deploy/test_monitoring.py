"""The monitoring files, offline: promtool and amtool accept them (and the rules' unit tests pass), every
alert carries what on-call needs, Compose's Alertmanager renders the same file as the process stack, and the
Loki, Alloy and Grafana configurations (no binaries here) are parsed and their keys checked against each
other and against Compose."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy import grafana
from deploy.compose_config import merged
from deploy.env import DEPLOY_DIR
from deploy.monitoring import (
    ALERTMANAGER_TEMPLATE,
    COMPOSE_TARGETS,
    alert_rules,
    check,
    example_webhooks,
    render_alertmanager,
)
from tests.conftest import require
from tests.docs.test_links import anchors

REPO = DEPLOY_DIR.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    require(shutil.which("docker-compose") is not None, "docker-compose (make deploy-tools)")
    return merged("prod")


def test_promtool_and_amtool_accept_the_files_and_the_rule_tests_pass():
    require(
        shutil.which("promtool") is not None and shutil.which("amtool") is not None,
        "promtool, amtool (make deploy-tools)",
    )
    done = check()
    assert any(line.startswith("promtool test rules") for line in done)
    assert any(line.startswith("promtool parses every dashboard query") for line in done)


def test_every_alert_has_a_severity_a_summary_what_to_do_and_a_runbook_anchor():
    runbook = anchors(REPO / "docs" / "runbook.md")
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {
        "ApiDown", "ApiErrorRatioHigh", "ApiLatencyOverGoal", "DataNotFresh", "BlockingCheckFailed",
        "RunFailed", "DeadLettersPresent", "ChampionStale",
    }  # fmt: skip
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and len(rule["annotations"]["description"]) > 60, rule["alert"]
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/runbook.md" and anchor in runbook, rule["alert"]


def test_alertmanager_routes_each_severity_to_its_webhook():
    config = yaml.safe_load(render_alertmanager(example_webhooks()))
    routes = {r["matchers"][0]: r["receiver"] for r in config["route"]["routes"]}
    assert routes == {'severity="critical"': "critical", 'severity="warning"': "warning"}
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in config["receivers"]}
    assert urls == {
        "critical": example_webhooks()["ALERTMANAGER_CRITICAL_WEBHOOK_URL"],
        "warning": example_webhooks()["ALERTMANAGER_WARNING_WEBHOOK_URL"],
    }


def test_compose_alertmanager_renders_the_template_as_the_process_stack_does(compose, tmp_path: Path):
    service = compose["services"]["alertmanager"]
    script = service["command"][0].replace("$$", "$")  # as the container's shell receives it
    script = script.replace("/etc/alertmanager/alertmanager.yml.template", str(ALERTMANAGER_TEMPLATE))
    script = script.replace("> /alertmanager/alertmanager.yml", f"> {tmp_path / 'alertmanager.yml'}")
    script = script.split(" && exec ")[0]
    webhooks = example_webhooks()
    subprocess.run(["sh", "-c", script], env=webhooks, check=True)
    assert (tmp_path / "alertmanager.yml").read_text() == render_alertmanager(webhooks)
    assert set(service["environment"]) == set(webhooks)


def test_compose_runs_the_monitoring_on_pinned_images_and_prometheus_finds_every_target(compose):
    services = compose["services"]
    for name in ("prometheus", "alertmanager", "grafana", "loki", "alloy", "postgres-exporter"):
        image = services[name]["image"]
        assert re.search(r":v?\d+\.\d+\.\d+", image), f"{name} is not pinned: {image}"
    for job, (address, _) in COMPOSE_TARGETS.items():
        host = address.split(":")[0]
        assert host == "localhost" or host in services, f"{job} scrapes {address}: no such service"
    # MinIO's and RabbitMQ's endpoints: public metrics and the Prometheus plugin.
    assert services["minio"]["environment"]["MINIO_PROMETHEUS_AUTH_TYPE"] == "public"
    plugins = (DEPLOY_DIR / "compose" / "rabbitmq" / "enabled_plugins").read_text()
    assert "rabbitmq_prometheus" in plugins
    # Logs go through Alloy, never through the Loki logging driver.
    assert all((s.get("logging") or {}).get("driver") != "loki" for s in services.values())


def test_loki_config_keeps_logs_on_its_volume_and_listens_where_grafana_and_alloy_look(compose):
    loki = yaml.safe_load((DEPLOY_DIR / "loki" / "loki.yaml").read_text())
    assert loki["auth_enabled"] is False
    port = loki["server"]["http_listen_port"]
    schema = loki["schema_config"]["configs"][-1]
    assert (schema["store"], schema["schema"], schema["object_store"]) == ("tsdb", "v13", "filesystem")
    assert loki["compactor"]["retention_enabled"] is True and loki["limits_config"]["retention_period"]
    volume_targets = [
        v.split(":")[1] if isinstance(v, str) else v["target"] for v in compose["services"]["loki"]["volumes"]
    ]
    assert loki["common"]["path_prefix"] in volume_targets
    datasource = next(d for d in grafana.DATASOURCES["datasources"] if d["type"] == "loki")
    assert datasource["url"] == f"http://loki:{port}"
    alloy = (DEPLOY_DIR / "alloy" / "config.alloy").read_text()
    assert f'url = "http://loki:{port}/loki/api/v1/push"' in alloy


def test_alloy_config_reads_docker_logs_and_labels_them_as_the_logs_dashboard_queries():
    text = (DEPLOY_DIR / "alloy" / "config.alloy").read_text()
    code = re.sub(r"//.*", "", text)
    assert code.count("{") == code.count("}")
    blocks = dict(re.findall(r'^([a-z_.]+) "([a-z_]+)" \{', code, flags=re.MULTILINE))
    assert {
        "discovery.docker",
        "discovery.relabel",
        "loki.source.docker",
        "loki.write",
        "loki.process",
    } <= set(blocks)
    # Every reference to another component names one defined here.
    for kind, label in re.findall(
        r"\b((?:discovery|loki)\.[a-z_]+)\.([a-z_]+)\.(?:targets|rules|receiver)\b", code
    ):
        assert blocks.get(kind) == label, f"{kind}.{label} is not defined"
    labels = set(re.findall(r'target_label\s*=\s*"([a-z_]+)"', code))
    for query in [
        t["expr"] for board in grafana.DASHBOARDS.values() for p in board["panels"] for t in p["targets"]
    ]:
        if query.startswith("{"):
            selector = re.match(r"\{([^}]*)\}", query).group(1)
            assert set(re.findall(r"([a-z_]+)\s*=~?", selector)) <= labels, query


def test_grafana_provisions_both_datasources_and_every_dashboard_from_the_mounted_folders(compose):
    mounts = {
        v.split(":")[1]: v.split(":")[0]
        for v in compose["services"]["grafana"]["volumes"]
        if isinstance(v, str)
    }
    provider = yaml.safe_load(grafana.DASHBOARD_PROVIDER_FILE.read_text())["providers"][0]
    assert provider["options"]["path"] in mounts
    datasources = yaml.safe_load(grafana.DATASOURCES_FILE.read_text())["datasources"]
    assert {d["type"] for d in datasources} == {"prometheus", "loki"}
    for d in datasources:
        host = re.match(r"http://([^:/]+)", d["url"]).group(1)
        assert host in compose["services"], d["url"]
    titles = {json.loads(p.read_text())["title"] for p in grafana.DASHBOARDS_DIR.glob("*.json")}
    assert titles == {"API", "Pipelines", "Models", "Events", "Logs"}
    assert grafana.unresolved_datasources() == []
