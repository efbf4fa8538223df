"""Grafana, provisioned from files: the datasources (Prometheus, Loki) and the dashboards, defined here in
code and written as JSON into deploy/grafana/ (`python -m deploy.monitoring write`; a check fails while the
files differ from this code).

Dashboards: API (rate, errors, latency percentiles by route and model version), Pipelines (freshness, check
results, runs, durations), Models (holdout metrics across versions, coverage, promotions), Events (queued,
dead letters, event-started runs), Logs (one trace id across every service, from Loki).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from deploy.env import DEPLOY_DIR

GRAFANA_DIR = DEPLOY_DIR / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
DATASOURCES_FILE = GRAFANA_DIR / "provisioning" / "datasources" / "datasources.yml"
DASHBOARD_PROVIDER_FILE = GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yml"

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}

DATASOURCES = {
    "apiVersion": 1,
    "datasources": [
        {
            "name": "Prometheus",
            **PROMETHEUS,
            "access": "proxy",
            "url": "http://prometheus:9090",
            "isDefault": True,
            "jsonData": {"timeInterval": "15s"},
        },
        {"name": "Loki", **LOKI, "access": "proxy", "url": "http://loki:3100"},
    ],
}
DASHBOARD_PROVIDER = {
    "apiVersion": 1,
    "providers": [
        {
            "name": "mlops-platform",
            "folder": "mlops-platform",
            "type": "file",
            "disableDeletion": True,
            "allowUiUpdates": False,
            "options": {"path": "/var/lib/grafana/dashboards"},
        }
    ],
}

PREDICT_ROUTE = 'route=~".*/predict"'
ERRORS_OR_ZERO = (  # a route without 5xx shows 0, not an empty panel
    'sum by (route) (rate(mlops_api_requests_total{status=~"5.."}[5m]))'
    " or sum by (route) (rate(mlops_api_requests_total[5m])) * 0"
)


def target(expr: str, legend: str, datasource: dict = PROMETHEUS) -> dict[str, Any]:
    return {"datasource": datasource, "expr": expr, "legendFormat": legend}


def panel(title: str, targets: list[dict], unit: str = "short", kind: str = "timeseries") -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "datasource": targets[0]["datasource"],
        "targets": [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }


def dashboard(uid: str, title: str, panels: list[dict], variables: list[dict] | None = None) -> dict:
    """Panels two per row, 12 columns wide each."""
    laid_out = [
        {
            **p,
            "id": i + 1,
            "gridPos": {"h": 8, "w": 24 if p["type"] == "logs" else 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
        }
        for i, p in enumerate(panels)
    ]
    return {
        "uid": uid,
        "title": title,
        "tags": ["mlops-platform"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables or []},
        "panels": laid_out,
    }


def latency_quantile(q: float, by: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate(mlops_api_request_duration_seconds_bucket[5m])))"


API = dashboard(
    "mlops-api",
    "API",
    [
        panel(
            "Requests per second by route",
            [target("sum by (route) (rate(mlops_api_requests_total[5m]))", "{{route}}")],
            "reqps",
        ),
        panel(
            "Server errors (5xx) per second by route",
            [target(ERRORS_OR_ZERO, "{{route}}")],
            "reqps",
        ),
        panel(
            "Latency percentiles by route",
            [
                target(latency_quantile(0.5, "route"), "p50 {{route}}"),
                target(latency_quantile(0.99, "route"), "p99 {{route}}"),
            ],
            "s",
        ),
        panel(
            "Predict p99 by model version (goal 25 ms)",
            [
                target(
                    "histogram_quantile(0.99, sum by (le, pipeline, task, model_version) "
                    f"(rate(mlops_api_request_duration_seconds_bucket{{{PREDICT_ROUTE}}}[5m])))",
                    "{{pipeline}}.{{task}} v{{model_version}}",
                )
            ],
            "s",
        ),
        panel(
            "Predicted rows per second by model version",
            [
                target(
                    "sum by (pipeline, task, model_version) (rate(mlops_api_predictions_total[5m]))",
                    "{{pipeline}}.{{task}} v{{model_version}}",
                )
            ],
            "short",
        ),
        panel(
            "Champion version served",
            [target("max by (pipeline, task) (mlops_api_model_version)", "{{pipeline}}.{{task}}")],
            "none",
            "stat",
        ),
    ],
)

PIPELINES = dashboard(
    "mlops-pipelines",
    "Pipelines",
    [
        panel(
            "Age of each asset's latest materialization",
            [
                target(
                    "time() - mlops_asset_last_materialization_timestamp_seconds",
                    "{{pipeline}}/{{asset}}",
                )
            ],
            "s",
        ),
        panel(
            "Failed checks (1) by asset, check and severity",
            [
                target(
                    "max by (pipeline, asset, check, check_severity, blocking) (mlops_asset_check_failed)",
                    "{{pipeline}}/{{asset}} {{check}} ({{check_severity}})",
                )
            ],
            "none",
            "stat",
        ),
        panel(
            f"Runs by job and status (latest {200})",
            [target("sum by (job, status) (mlops_dagster_runs)", "{{job}} {{status}}")],
            "short",
            "bargauge",
        ),
        panel(
            "Duration of each job's latest finished run",
            [target("mlops_dagster_run_duration_seconds", "{{job}}")],
            "s",
        ),
        panel(
            "Exporter sources up",
            [target("mlops_exporter_source_up", "{{source}}")],
            "none",
            "stat",
        ),
    ],
)

MODELS = dashboard(
    "mlops-models",
    "Models",
    [
        panel(
            "Champion holdout MAE per target (across versions)",
            [
                target(
                    'mlops_champion_holdout_metric{metric=~".*[.]mae"}',
                    "{{pipeline}}.{{task}} {{metric}}",
                )
            ],
        ),
        panel(
            "Champion holdout interval coverage",
            [
                target(
                    'mlops_champion_holdout_metric{metric=~".*[.]coverage"}',
                    "{{pipeline}}.{{task}} {{metric}}",
                )
            ],
            "percentunit",
        ),
        panel(
            "Champion holdout Brier score and calibration error (exceedance risk)",
            [
                target(
                    'mlops_champion_holdout_metric{metric=~"brier|calibration_error"}',
                    "{{pipeline}}.{{task}} {{metric}}",
                )
            ],
        ),
        panel(
            "Champion version over time (a step is a promotion)",
            [target("mlops_champion_version", "{{pipeline}}.{{task}}")],
            "none",
        ),
        panel(
            "Champion age",
            [target("time() - mlops_champion_promoted_timestamp_seconds", "{{pipeline}}.{{task}}")],
            "s",
        ),
    ],
)

EVENTS = dashboard(
    "mlops-events",
    "Events",
    [
        panel(
            "Events waiting for the run sensor",
            [target("mlops_events_queued_messages", "{{queue}}")],
        ),
        panel(
            "Dead letters",
            [target("mlops_events_dead_letters", "{{queue}}")],
        ),
        panel(
            "Runs by job and status",
            [target("sum by (job, status) (mlops_dagster_runs)", "{{job}} {{status}}")],
        ),
        panel(
            "Seconds since RabbitMQ last answered the exporter",
            [
                target(
                    'time() - mlops_exporter_source_last_success_timestamp_seconds{source="rabbitmq"}',
                    "rabbitmq",
                )
            ],
            "s",
        ),
    ],
)

TRACE_ID = {
    "type": "textbox",
    "name": "trace_id",
    "label": "trace id",
    "query": "",
    "current": {"text": "", "value": ""},
}
LOGS = dashboard(
    "mlops-logs",
    "Logs",
    [
        panel(
            "Every service's log lines with this trace id",
            [target('{service=~".+"} |= "$trace_id" | json | trace_id = "$trace_id"', "", LOKI)],
            kind="logs",
        ),
        panel(
            "Errors, all services",
            [target('{service=~".+"} | json | level =~ "error|critical"', "", LOKI)],
            kind="logs",
        ),
    ],
    [TRACE_ID],
)

DASHBOARDS = {"api": API, "pipelines": PIPELINES, "models": MODELS, "events": EVENTS, "logs": LOGS}


def prometheus_exprs(dashboards: dict[str, dict] = DASHBOARDS) -> dict[str, str]:
    """'dashboard / panel / refId' → PromQL, for every Prometheus query of the dashboards."""
    return {
        f"{name} / {p['title']} / {t['refId']}": t["expr"]
        for name, board in dashboards.items()
        for p in board["panels"]
        for t in p["targets"]
        if t["datasource"]["uid"] == PROMETHEUS["uid"]
    }


def file_contents() -> dict[Path, str]:
    out = {
        DASHBOARDS_DIR / f"{name}.json": json.dumps(board, indent=2) + "\n"
        for name, board in DASHBOARDS.items()
    }
    out[DATASOURCES_FILE] = yaml.safe_dump(DATASOURCES, sort_keys=False)
    out[DASHBOARD_PROVIDER_FILE] = yaml.safe_dump(DASHBOARD_PROVIDER, sort_keys=False)
    return out


def write() -> list[Path]:
    for path, text in file_contents().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(file_contents())


def unresolved_datasources() -> list[str]:
    """Panels and queries naming a datasource uid the provisioned datasources do not have."""
    provisioned = {d["uid"]: d["type"] for d in yaml.safe_load(DATASOURCES_FILE.read_text())["datasources"]}
    problems = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        for p in json.loads(path.read_text())["panels"]:
            for ref in [p["datasource"], *(t["datasource"] for t in p["targets"])]:
                if provisioned.get(ref["uid"]) != ref["type"]:
                    problems.append(
                        f"{path.name}: {p['title']}: no {ref['type']} datasource with uid {ref['uid']}"
                    )
    return problems


def check() -> list[str]:
    """The files are what this module writes, every datasource uid resolves, every PromQL query parses."""
    from deploy.monitoring import MonitoringError, check_expressions

    stale = [str(p) for p, text in file_contents().items() if not p.exists() or p.read_text() != text]
    if stale:
        raise MonitoringError(f"out of date: {', '.join(stale)}: `python -m deploy.monitoring write`")
    problems = unresolved_datasources()
    if problems:
        raise MonitoringError("\n".join(problems))
    exprs = prometheus_exprs()
    check_expressions(exprs)
    return [
        "Grafana dashboards and datasources are up to date",
        f"every dashboard datasource uid resolves ({len(DASHBOARDS)} dashboards)",
        f"promtool parses every dashboard query ({len(exprs)})",
    ]
