"""The path to Kubernetes: the Helm values' instance sections and the code location's executor, checked
against dagster-k8s's (and Dagster's) own config schemas, the way the chart renders them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_k8s import K8sRunLauncher

from deploy.k8s_definitions import EXECUTOR_CONFIG, build_k8s_definitions
from sensors.event_runs import for_executor

VALUES = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "values.yaml"


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def snake_keys(section: dict[str, Any]) -> dict[str, Any]:
    """The chart writes its camelCase values as the instance's snake_case keys (one level deep: what is
    below, e.g. Kubernetes specs, keeps its own spelling)."""
    return {snake(k): v for k, v in section.items()}


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


def run_launcher_config(values: dict[str, Any]) -> dict[str, Any]:
    """The `run_launcher: K8sRunLauncher` config the chart renders into the instance's dagster.yaml."""
    section = snake_keys(values["runLauncher"]["config"]["k8sRunLauncher"])
    section["env_config_maps"] = [e["name"] for e in section.get("env_config_maps", [])]
    section["env_secrets"] = [e["name"] for e in section.get("env_secrets", [])]
    section["run_k8s_config"] = snake_keys(section.get("run_k8s_config", {}))
    return {
        **section,
        "instance_config_map": "mlops-dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "dagster_home": values["global"]["dagsterHome"],
        "service_account_name": "mlops-dagster",
    }


def test_the_run_launcher_config_is_valid_for_dagster_k8s(values):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    result = process_config(dg.Shape(K8sRunLauncher.config_type()), run_launcher_config(values))
    assert result.success, [e.message for e in result.errors]


def test_the_run_coordinator_limits_runs_by_tag_in_a_valid_config(values):
    section = values["dagsterDaemon"]["runCoordinator"]
    assert section["type"] == "QueuedRunCoordinator"
    config = snake_keys(section["config"]["queuedRunCoordinator"])
    result = process_config(dg.Shape(QueuedRunCoordinator.config_type()), config)
    assert result.success, [e.message for e in result.errors]
    assert {limit["key"] for limit in config["tag_concurrency_limits"]} >= {
        "dagster/backfill",
        "mlops/event_type",
    }


def test_a_broken_config_is_caught_by_the_same_check(values):
    broken = {**run_launcher_config(values), "image_pull_policy": ["Always"]}
    assert not process_config(dg.Shape(K8sRunLauncher.config_type()), broken).success


def test_the_code_location_runs_every_step_as_a_pod_with_a_valid_executor_config(values):
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["codeServerArgs"] == ["-m", "deploy.k8s_definitions"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    defs = build_k8s_definitions()
    job = defs.resolve_job_def("air_quality_refresh")
    assert job.executor_def.name == "k8s_steps"
    # The configured executor is checked against k8s_job_executor's schema when a run is configured.
    assert dg.validate_run_config(job, {})
    assert yaml.safe_load(EXECUTOR_CONFIG.read_text())["max_concurrent"] >= 1


def test_event_triggered_runs_are_valid_on_the_k8s_executor():
    """The event sensor's runs carry in-process execution config for Dagster's default executor; on the
    Kubernetes code location that part is dropped, and the rest still validates."""
    defs = build_k8s_definitions()
    request = dg.RunRequest(
        run_key="e1",
        job_name="air_quality_landing_refresh",
        run_config={
            "execution": {"config": {"in_process": {}}},
            "ops": {"air_quality_landing__raw": {"config": {"files": ["x.csv"]}}},
        },
    )
    context = dg.build_sensor_context(definitions=defs)
    adjusted = for_executor(context, request)
    assert "execution" not in adjusted.run_config
    assert dg.validate_run_config(defs.resolve_job_def(request.job_name), adjusted.run_config)
