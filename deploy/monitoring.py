"""Prometheus and Alertmanager for every shape: one rule file (deploy/prometheus/rules/), one Alertmanager
template (deploy/alertmanager/alertmanager.yml.template), and the scrape configuration rendered from one
function for Compose's container names (deploy/prometheus/prometheus.yml, kept in the repository) and for the
process stack's local addresses (rendered into the stack's state folder at start).

    python -m deploy.monitoring write     # regenerate deploy/prometheus/prometheus.yml and the dashboards
    python -m deploy.monitoring check     # promtool check config/rules, promtool test rules, amtool
                                          # check-config, and the dashboards' queries and datasources
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from deploy.env import DEPLOY_DIR, StackError

PROMETHEUS_DIR = DEPLOY_DIR / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
COMPOSE_PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_TEMPLATE = DEPLOY_DIR / "alertmanager" / "alertmanager.yml.template"
PLACEHOLDER = re.compile(r"\$\{(ALERTMANAGER_[A-Z0-9_]+)\}")
PROMETHEUS_BIN = "prometheus"
ALERTMANAGER_BIN = "prometheus-alertmanager"  # Debian's name; the upstream image calls it alertmanager


class MonitoringError(StackError):
    """A configuration could not be rendered, or promtool/amtool rejected it."""


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def alert_rules() -> list[dict]:
    """Every alerting rule of the rule files (name, expr, for, labels, annotations)."""
    return [
        rule
        for path in rule_files()
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def prometheus_config(
    targets: Mapping[str, tuple[str, str]],
    alertmanager: str,
    rules_dir: str,
    scrape_interval: str = "15s",
    evaluation_interval: str = "15s",
) -> dict:
    """Prometheus's configuration: `targets` maps a job name to (address, metrics path)."""
    seconds = _seconds(scrape_interval)
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": f"{min(seconds, 10):g}s",
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": [f"{rules_dir}/*.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [address]}]}
            for job, (address, path) in targets.items()
        ],
    }


def _seconds(duration: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", duration).groups()
    return float(number) * {"ms": 0.001, "s": 1, "m": 60}[unit]


COMPOSE_TARGETS: dict[str, tuple[str, str]] = {
    "api": ("api:8000", "/metrics"),
    "exporter": ("exporter:9108", "/metrics"),
    "mlflow": ("mlflow:5000", "/metrics"),
    "prometheus": ("localhost:9090", "/metrics"),
    "alertmanager": ("alertmanager:9093", "/metrics"),
    "rabbitmq": ("rabbitmq:15692", "/metrics"),
    "postgres": ("postgres-exporter:9187", "/metrics"),
    "minio": ("minio:9000", "/minio/v2/metrics/cluster"),
    "loki": ("loki:3100", "/metrics"),
    "grafana": ("grafana:3000", "/metrics"),
    "alloy": ("alloy:12345", "/metrics"),
}
"""What Prometheus scrapes in Compose: every service with an endpoint, by its container name."""


def compose_prometheus_config() -> dict:
    return prometheus_config(COMPOSE_TARGETS, "alertmanager:9093", "/etc/prometheus/rules")


def stack_targets(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """What Prometheus scrapes in the process stack (RabbitMQ, PostgreSQL and the S3 server are the
    machine's or have no endpoint here)."""
    host = env["STACK_HOST"]
    return {
        "api": (f"{host}:{env['API_PORT']}", "/metrics"),
        "exporter": (f"{host}:{env['EXPORTER_PORT']}", "/metrics"),
        "mlflow": (f"{host}:{env['MLFLOW_PORT']}", "/metrics"),
        "prometheus": (f"{host}:{env['PROMETHEUS_PORT']}", "/metrics"),
        "alertmanager": (f"{host}:{env['ALERTMANAGER_PORT']}", "/metrics"),
    }


def stack_prometheus_config(env: Mapping[str, str]) -> dict:
    return prometheus_config(
        stack_targets(env),
        f"{env['STACK_HOST']}:{env['ALERTMANAGER_PORT']}",
        str(RULES_DIR),
        scrape_interval=env.get("PROMETHEUS_SCRAPE_INTERVAL", "15s"),
        evaluation_interval=env.get("PROMETHEUS_EVALUATION_INTERVAL", "15s"),
    )


def render_alertmanager(values: Mapping[str, str], template: Path = ALERTMANAGER_TEMPLATE) -> str:
    """The template with its `${ALERTMANAGER_*}` placeholders replaced (Compose does the same with sed)."""
    text = template.read_text()
    missing = sorted(set(PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise MonitoringError(f"{template.name} needs values for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def write_yaml(data: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def prometheus_binary() -> str:
    """Where Debian puts it (building the stack's table needs no binary; starting it checks with `tool`)."""
    return shutil.which(PROMETHEUS_BIN) or f"/usr/bin/{PROMETHEUS_BIN}"


def alertmanager_binary() -> str:
    return shutil.which(ALERTMANAGER_BIN) or f"/usr/bin/{ALERTMANAGER_BIN}"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise MonitoringError(f"{name} is not installed: `make deploy-tools` installs it (Debian's package)")
    return found


def run_tool(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MonitoringError(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}".strip())
    return done.stdout


def check_rules(rules: list[Path]) -> None:
    run_tool([tool("promtool"), "check", "rules", *map(str, rules)])


def check_expressions(exprs: Mapping[str, str]) -> None:
    """Each PromQL expression parses (promtool checks them as recording rules; `name` says whose)."""
    with tempfile.TemporaryDirectory(prefix="mlops-promql-") as tmp:
        rules = [
            {"record": f"check:expression_{i}", "expr": expr, "labels": {"source": name[:200]}}
            for i, (name, expr) in enumerate(exprs.items())
        ]
        path = write_yaml({"groups": [{"name": "expressions", "rules": rules}]}, Path(tmp) / "exprs.yml")
        check_rules([path])


def check() -> list[str]:
    """Every offline check of the monitoring files; returns what was checked."""
    from deploy import grafana

    done = []
    check_rules(rule_files())
    done.append(f"promtool check rules: {', '.join(p.name for p in rule_files())}")
    for path in sorted(RULE_TESTS_DIR.glob("*.yml")):
        run_tool([tool("promtool"), "test", "rules", str(path)])
        done.append(f"promtool test rules: {path.name}")
    with tempfile.TemporaryDirectory(prefix="mlops-prometheus-") as tmp:
        # The Compose file's rule path is the container's: check it against the repository's rules.
        config = {**compose_prometheus_config(), "rule_files": [str(RULES_DIR / "*.yml")]}
        run_tool([tool("promtool"), "check", "config", str(write_yaml(config, Path(tmp) / "prometheus.yml"))])
        done.append("promtool check config: the Compose rendering")
        alertmanager = Path(tmp) / "alertmanager.yml"
        alertmanager.write_text(render_alertmanager(example_webhooks()))
        run_tool([tool("amtool"), "check-config", str(alertmanager)])
        done.append("amtool check-config: alertmanager.yml.template")
    if yaml.safe_load(COMPOSE_PROMETHEUS_CONFIG.read_text()) != compose_prometheus_config():
        raise MonitoringError(
            f"{COMPOSE_PROMETHEUS_CONFIG} is out of date: `python -m deploy.monitoring write`"
        )
    done.append("deploy/prometheus/prometheus.yml is up to date")
    done += grafana.check()
    return done


def example_webhooks() -> dict[str, str]:
    return {
        "ALERTMANAGER_CRITICAL_WEBHOOK_URL": "http://127.0.0.1:9095/critical",
        "ALERTMANAGER_WARNING_WEBHOOK_URL": "http://127.0.0.1:9095/warning",
    }


def write() -> list[Path]:
    from deploy import grafana

    header = "# Generated by `python -m deploy.monitoring write` from deploy/monitoring.py: edit there.\n"
    COMPOSE_PROMETHEUS_CONFIG.write_text(
        header + yaml.safe_dump(compose_prometheus_config(), sort_keys=False)
    )
    return [COMPOSE_PROMETHEUS_CONFIG, *grafana.write()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.monitoring", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["write", "check"])
    args = parser.parse_args(argv)
    try:
        if args.action == "write":
            for path in write():
                print(path)
        else:
            for line in check():
                print(f"ok: {line}")
    except MonitoringError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
