"""The service table: which processes each profile runs, in what order, and what each needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.env import load_env
from deploy.services import SERVICE_TABLE, StackContext, service_table
from deploy.supervisor import Service


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {"MLOPS_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "dagster")}
    return {**load_env(environ=values), **values}


def test_each_profile_runs_its_services_in_start_order(env: dict[str, str], tmp_path: Path):
    local = service_table("local", env, tmp_path / "state")
    services = service_table("services", env, tmp_path / "state")
    assert [s.name for s in local] == ["mlflow", "dagster-webserver", "dagster-daemon", "api", "app"]
    assert [s.name for s in services] == [
        "s3",
        "mlflow",
        "dagster-webserver",
        "dagster-daemon",
        "api",
        "app",
        "nginx",
        "exporter",
        "alertmanager",
        "prometheus",
    ]
    needs = {s.name: s.needs for s in services}
    assert needs["mlflow"] == ("s3",) and needs["api"] == ("mlflow",)
    assert needs["exporter"] == ("dagster-webserver", "mlflow")
    assert needs["app"] == ("api",)
    assert {s.name: s.needs for s in local if s.needs} == {"app": ("api",)}
    # The Dagster processes share the instance; services get the stack's own, local the shared rule's.
    assert {s.env["DAGSTER_HOME"] for s in local if s.name.startswith("dagster")} == {
        str(tmp_path / "dagster")
    }
    assert {s.env["DAGSTER_HOME"] for s in services if s.name.startswith("dagster")} == {
        str(tmp_path / "state" / "dagster_home")
    }
    assert not (tmp_path / "dagster").exists()  # building the table starts and prepares nothing


def test_behind_nginx_dagster_and_the_api_are_told_their_public_prefixes(env: dict[str, str], tmp_path: Path):
    local = {s.name: s for s in service_table("local", env, tmp_path / "state")}
    services = {s.name: s for s in service_table("services", env, tmp_path / "state")}
    dagster = f"http://{env['STACK_HOST']}:{env['DAGSTER_PORT']}"

    assert services["dagster-webserver"].command[-2:] == ["--path-prefix", "/dagster"]
    assert services["dagster-webserver"].url == f"{dagster}/dagster"
    assert services["api"].env["MLOPS_API_DAGSTER_URL"] == f"{dagster}/dagster"
    assert services["api"].env["MLOPS_API_ROOT_PATH"] == "/api"
    assert services["app"].command[-2:] == ["--server.baseUrlPath", "app"]
    # Without nginx in front everything stays at the root.
    assert "--path-prefix" not in local["dagster-webserver"].command
    assert local["api"].env["MLOPS_API_DAGSTER_URL"] == dagster
    assert "MLOPS_API_ROOT_PATH" not in local["api"].env
    assert local["app"].command[-2:] == ["--server.baseUrlPath", ""]
    # The local app finds the dev key the first start makes; with services keys are made deliberately.
    assert local["app"].env["MLOPS_UI_API_KEY_FILE"].endswith("api/dev-key")
    assert "MLOPS_UI_API_KEY_FILE" not in services["app"].env
    assert not (tmp_path / "state" / "nginx").exists()  # nginx's files are made when it starts


def test_a_new_service_is_one_builder_and_one_table_entry(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def docs_site(stack: StackContext) -> Service:
        return Service(
            name="docs", command=["python", "-m", "http.server"], healthy=lambda: True, needs=("api",)
        )

    monkeypatch.setattr("deploy.services.SERVICE_TABLE", (*SERVICE_TABLE, (frozenset({"local"}), docs_site)))
    assert [s.name for s in service_table("local", env, tmp_path / "state")][-1] == "docs"
    assert "docs" not in [s.name for s in service_table("services", env, tmp_path / "state")]


def test_the_stack_prometheus_scrapes_every_local_service_with_the_repository_rules(
    env: dict[str, str], tmp_path: Path
):
    import shutil

    import yaml

    from deploy.monitoring import RULES_DIR
    from tests.conftest import require

    require(
        bool(shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
        "Debian's prometheus (make deploy-tools)",
    )

    services = {s.name: s for s in service_table("services", env, tmp_path / "state")}
    services["prometheus"].prepare()
    config = yaml.safe_load((tmp_path / "state" / "prometheus" / "prometheus.yml").read_text())
    host = env["STACK_HOST"]
    targets = {c["job_name"]: c["static_configs"][0]["targets"] for c in config["scrape_configs"]}
    assert targets == {
        "api": [f"{host}:{env['API_PORT']}"],
        "exporter": [f"{host}:{env['EXPORTER_PORT']}"],
        "mlflow": [f"{host}:{env['MLFLOW_PORT']}"],
        "prometheus": [f"{host}:{env['PROMETHEUS_PORT']}"],
        "alertmanager": [f"{host}:{env['ALERTMANAGER_PORT']}"],
    }
    assert config["rule_files"] == [f"{RULES_DIR}/*.yml"]  # the same files as Compose mounts
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        f"{host}:{env['ALERTMANAGER_PORT']}"
    ]
    services["alertmanager"].prepare()
    rendered = (tmp_path / "state" / "alertmanager" / "alertmanager.yml").read_text()
    assert env["ALERTMANAGER_CRITICAL_WEBHOOK_URL"] in rendered and "${" not in rendered
