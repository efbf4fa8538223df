"""The Compose deployment's invariants, on the files as docker-compose merges them (deploy/compose/):
health before dependence, no secret in the files, only nginx published in staging and prod, and every
setting the platform reads given to the services that read it."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest
import yaml

from deploy.compose_config import BASE, COMPOSE_DIR, OVERLAYS, files, merged
from deploy.nginx import placeholders
from resources.settings import PlatformSettings
from serving.config import ServingSettings
from tests.conftest import require

PLATFORM_SERVICES = ("code-server", "dagster-webserver", "dagster-daemon", "api", "app", "mlflow")
DAGSTER_SERVICES = ("code-server", "dagster-webserver", "dagster-daemon", "migrate")
STATEFUL = {"postgres": "/var/lib/postgresql/data", "rabbitmq": "/var/lib/rabbitmq", "minio": "/data"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_PASS$|ACCESS_KEY")


@pytest.fixture(scope="module", params=OVERLAYS)
def config(request) -> dict[str, Any]:
    require(shutil.which("docker-compose") is not None, "docker-compose (make deploy-tools)")
    return {"overlay": request.param, **merged(request.param)}


def one_shot(service: dict) -> bool:
    return service.get("restart") == "no"


def health_test(service: dict) -> list | None:
    """The healthcheck's test, None when absent or disabled (docker-compose writes `disable` as NONE)."""
    check = service.get("healthcheck") or {}
    test = check.get("test")
    return None if check.get("disable") or not test or test == ["NONE"] else test


def published_ports(service: dict) -> list[dict]:
    """Published ports as {host_ip, published, target}, from the short (`ip:host:container`) or long form."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, str):
            *host, target = port.split(":")
            port = {"host_ip": host[0] if len(host) == 2 else None, "published": host[-1], "target": target}
        out.append(port)
    return out


def named_volumes(service: dict) -> dict[str, str]:
    """Mount target → named volume, from the short (`name:/target[:mode]`) or long form."""
    out = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            volume = {"type": "bind" if "/" in source else "volume", "source": source, "target": target}
        if volume["type"] == "volume":
            out[volume["target"]] = volume["source"]
    return out


def settings_env(model: type, prefix: str) -> set[str]:
    """Every environment variable a settings class reads, except those whose default is None (derived)."""
    return {
        f"{prefix}{name}".upper() for name, field in model.model_fields.items() if field.default is not None
    }


def test_every_long_running_service_has_a_healthcheck_and_one_shots_do_not_pretend(config):
    for name, service in config["services"].items():
        if one_shot(service):
            assert health_test(service) is None, f"one-shot {name} has a healthcheck"
        else:
            assert health_test(service), f"{name} has no healthcheck"


def test_every_dependency_waits_for_health_or_for_a_job_to_finish(config):
    services = config["services"]
    awaited_jobs = set()
    for name, service in services.items():
        for dependency, how in (service.get("depends_on") or {}).items():
            expected = (
                "service_completed_successfully" if one_shot(services[dependency]) else "service_healthy"
            )
            assert how["condition"] == expected, f"{name} → {dependency}: {how}"
            if expected == "service_completed_successfully":
                awaited_jobs.add(dependency)
    assert awaited_jobs == {n for n, s in services.items() if one_shot(s)}, "a one-shot job nobody waits for"
    assert "service_completed_successfully" in services["mlflow"]["depends_on"]["buckets"]["condition"]


def test_only_nginx_publishes_ports_in_staging_and_prod_and_dev_only_on_localhost(config):
    published = {name: published_ports(s) for name, s in config["services"].items() if s.get("ports")}
    if config["overlay"] == "dev":
        for name, ports in published.items():
            assert all(port.get("host_ip") == "127.0.0.1" for port in ports), (
                f"{name} published beyond localhost"
            )
    else:
        assert set(published) == {"nginx"}
        assert {int(p["published"]) for p in published["nginx"]} == {80, 443, 9443}


def test_nginx_is_the_only_service_on_the_front_network_and_the_back_end_is_internal(config):
    on_front = {n for n, s in config["services"].items() if "frontend" in (s.get("networks") or {})}
    assert on_front == {"nginx"}
    if config["overlay"] != "dev":
        assert config["networks"]["backend"]["internal"] is True


def test_stateful_services_keep_their_data_in_named_volumes(config):
    for name, target in STATEFUL.items():
        assert target in named_volumes(config["services"][name]), name


def test_every_service_has_resource_limits_and_a_restart_policy(config):
    for name, service in config["services"].items():
        assert service.get("restart") in ("no", "unless-stopped", "always"), name
        if not one_shot(service):
            limits = service["deploy"]["resources"]["limits"]
            assert limits.get("memory") and limits.get("cpus"), name


def test_no_secret_is_written_in_the_compose_files():
    """Values of secret-looking variables and passwords inside URLs are `${...}` references to .env."""
    for path in [BASE, *(COMPOSE_DIR / f"compose.{o}.yaml" for o in OVERLAYS)]:
        document = yaml.safe_load(path.read_text())
        blocks = [v for k, v in document.items() if k.startswith("x-") and isinstance(v, dict)]
        blocks += [s.get("environment") or {} for s in (document.get("services") or {}).values()]
        for block in blocks:
            for name, value in block.items():
                value = str(value)
                if SECRET_NAME.search(name) and not name.endswith("_FILE"):
                    assert value.startswith("${") and value.endswith("}"), f"{path.name}: {name}={value}"
                for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", value):
                    assert password.startswith("${"), f"{path.name}: {name} has a literal password"
    example = (COMPOSE_DIR / ".env.example").read_text()
    assert re.search(r"^POSTGRES_PASSWORD=change-me$", example, re.MULTILINE)


def test_platform_services_get_every_setting_the_platform_reads(config):
    services = config["services"]
    platform = settings_env(PlatformSettings, "MLOPS_") | {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    for name in PLATFORM_SERVICES:
        missing = platform - set(services[name]["environment"])
        assert not missing, f"{name} lacks {sorted(missing)}"

    api = services["api"]["environment"]
    serving = {"MLOPS_API_DAGSTER_URL", "MLOPS_API_ROOT_PATH", "MLOPS_API_KEYS_FILE"}
    serving |= {"MLOPS_API_MAX_BODY_BYTES", "MLOPS_API_MAX_UPLOAD_BYTES", "MLOPS_API_WORKERS"}
    assert serving <= set(api) and serving <= settings_env(ServingSettings, "MLOPS_API_") | {
        "MLOPS_API_KEYS_FILE",
        "MLOPS_API_WORKERS",
    }
    assert api["MLOPS_API_DAGSTER_URL"].endswith("/dagster")

    instance = yaml.safe_load((COMPOSE_DIR / "dagster" / "dagster.yaml").read_text())
    read_by_instance = set(re.findall(r"'env': '([A-Z_]+)'", str(instance)))
    passed_to_runs = set(instance["run_launcher"]["config"]["env_vars"])
    assert platform <= passed_to_runs, f"runs would lack {sorted(platform - passed_to_runs)}"
    for name in DAGSTER_SERVICES:
        environment = set(services[name]["environment"])
        assert read_by_instance <= environment, f"{name} lacks {sorted(read_by_instance - environment)}"
        if name == "dagster-daemon":
            assert passed_to_runs <= environment, (
                f"the daemon cannot pass {sorted(passed_to_runs - environment)}"
            )


def test_nginx_gets_every_template_value_and_refuses_what_the_api_refuses(config):
    services = config["services"]
    nginx = services["nginx"]["environment"]
    assert placeholders() <= set(nginx)
    api = services["api"]["environment"]
    defaults = ServingSettings()
    assert (
        int(nginx["NGINX_API_MAX_BODY_SIZE"])
        == int(api["MLOPS_API_MAX_BODY_BYTES"])
        == defaults.max_body_bytes
    )
    assert (
        int(nginx["NGINX_API_MAX_UPLOAD_SIZE"])
        == int(api["MLOPS_API_MAX_UPLOAD_BYTES"])
        == defaults.max_upload_bytes
    )
    upstreams = {v.split(":")[0] for k, v in nginx.items() if k.startswith("UPSTREAM_")}
    assert upstreams <= set(services), f"nginx routes to unknown services {upstreams - set(services)}"


def test_minio_is_pinned_and_notifies_the_platform_exchange(config):
    minio = config["services"]["minio"]
    assert re.fullmatch(r"quay\.io/minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", minio["image"])
    environment = minio["environment"]
    platform = config["services"]["code-server"]["environment"]
    assert environment["MINIO_NOTIFY_AMQP_EXCHANGE_PRIMARY"] == platform["MLOPS_EVENTS_EXCHANGE"]
    from events.minio import OBJECT_CREATED

    assert environment["MINIO_NOTIFY_AMQP_ROUTING_KEY_PRIMARY"] == OBJECT_CREATED
    # the platform declares its exchange durable topic; MinIO must declare it the same way
    assert environment["MINIO_NOTIFY_AMQP_EXCHANGE_TYPE_PRIMARY"] == "topic"
    assert environment["MINIO_NOTIFY_AMQP_DURABLE_PRIMARY"] == "on"


def test_the_dagster_instance_launches_runs_with_a_valid_docker_run_launcher():
    from dagster._serdes import ConfigurableClassData
    from dagster_docker import DockerRunLauncher

    instance = yaml.safe_load((COMPOSE_DIR / "dagster" / "dagster.yaml").read_text())
    section = instance["run_launcher"]
    launcher = ConfigurableClassData(
        section["module"], section["class"], yaml.safe_dump(section["config"])
    ).rehydrate(as_type=DockerRunLauncher)
    networks = yaml.safe_load(BASE.read_text())["networks"]
    assert launcher.networks == [networks["backend"]["name"]]


def test_the_base_file_alone_is_valid_too():
    require(shutil.which("docker-compose") is not None, "docker-compose (make deploy-tools)")
    assert merged(None)["services"].keys() == yaml.safe_load(BASE.read_text())["services"].keys()
    assert files("prod")[1].exists()
