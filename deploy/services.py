"""The platform's topology as local processes: one entry per service in SERVICE_TABLE (`mlops stack ...`).

`services` is the production shape without Docker: an S3 server, the MLflow tracking server on PostgreSQL
and S3, dagster-webserver and dagster-daemon on PostgreSQL, the API, the analyst app, nginx in front of them (the same
configuration as in Compose, deploy/nginx.py), and the monitoring: the platform exporter, Prometheus and
Alertmanager (Debian's, on the same rule files as Compose, deploy/monitoring.py), against the machine's PostgreSQL and RabbitMQ. `local` is
the embedded profile: the same Dagster processes on SQLite, `mlflow ui` on the local store, the API and the app. Ports,
credentials and names come from `deploy/stack.env`.

Adding a service is one builder (a function of the `StackContext` returning a `Service`) and one line in
SERVICE_TABLE naming the profiles it runs in; its port goes in `deploy/stack.env`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from deploy.env import (
    BIN_DIR,
    REPO_DIR,
    SERVICES_DAGSTER_YAML,
    Profile,
    StackError,
    data_dir,
    load_env,
    local_dagster_home,
    prepare_local_dagster_home,
)
from deploy.monitoring import (
    ALERTMANAGER_BIN,
    PROMETHEUS_BIN,
    alertmanager_binary,
    prometheus_binary,
    render_alertmanager,
    stack_prometheus_config,
    tool,
    write_yaml,
)
from deploy.nginx import (
    API_PREFIX,
    APP_PREFIX,
    DAGSTER_PREFIX,
    dev_certificate,
    nginx_command,
    stack_values,
    write_config,
    write_htpasswd,
)
from deploy.postgres import ensure_database, postgres_url
from deploy.supervisor import Service, Stack


@dataclass(frozen=True)
class StackContext:
    """What every service builder may ask: the profile, the resolved env file, the stack's state folder."""

    profile: Profile
    env: Mapping[str, str]
    state: Path

    @property
    def host(self) -> str:
        return self.env["STACK_HOST"]

    def url(self, port_variable: str, path: str = "") -> str:
        return f"http://{self.host}:{self.env[port_variable]}{path}"

    @property
    def data_dir(self) -> Path:
        return data_dir(self.env)

    @property
    def dagster_home(self) -> Path:
        return dagster_home(self.profile, self.env, self.state)

    @property
    def behind_nginx(self) -> bool:
        return behind_nginx(self.profile)

    @property
    def dagster_path_prefix(self) -> str:
        return dagster_path_prefix(self.profile)


# ---- health probes -------------------------------------------------------------------------------


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """The server answers HTTP below 500 (a 403 from an S3 root still means S3 is up)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def command_ok(command: list[str], env: Mapping[str, str], timeout: float = 30.0) -> bool:
    try:
        done = subprocess.run(command, env=dict(env), capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


# ---- the services ----------------------------------------------------------------------------------


def ensure_buckets(env: Mapping[str, str]) -> None:
    """The lake, landing and MLflow buckets, created when missing."""
    from resources.object_store import ObjectStore  # s3fs and friends: only once the S3 server is up

    for bucket in (env["MLOPS_LAKE_BUCKET"], env["MLOPS_LANDING_BUCKET"], env["MLOPS_MLFLOW_BUCKET"]):
        ObjectStore(
            base_uri=f"s3://{bucket}",
            endpoint_url=env["MLOPS_S3_ENDPOINT_URL"],
            region=env.get("MLOPS_S3_REGION"),
            access_key_id=env["AWS_ACCESS_KEY_ID"],
            secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        ).ensure_exists()


def s3_server(stack: StackContext) -> Service:
    """SeaweedFS stands in for MinIO (which has no package here); only this entry knows it."""
    env, host, port = stack.env, stack.host, int(stack.env["S3_PORT"])
    data, identities = stack.state / "s3", stack.state / "s3-identities.json"

    def prepare() -> None:
        data.mkdir(parents=True, exist_ok=True)
        credentials = {"accessKey": env["AWS_ACCESS_KEY_ID"], "secretKey": env["AWS_SECRET_ACCESS_KEY"]}
        identity = {
            "name": "platform",
            "credentials": [credentials],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        identities.write_text(json.dumps({"identities": [identity]}))
        identities.chmod(0o600)

    # The S3 server's internal parts listen on the ports just above the S3 port.
    internal = (
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port.grpc",
    )
    return Service(
        name="s3",
        command=[
            str(BIN_DIR / "weed"),
            "server",
            f"-dir={data}",
            f"-ip={host}",
            f"-ip.bind={host}",
            *(f"-{flag}={port + offset}" for offset, flag in enumerate(internal, start=1)),
            "-s3",
            f"-s3.port={port}",
            f"-s3.config={identities}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-volume.max=0",
            "-master.volumeSizeLimitMB=64",
            "-master.telemetry=false",
        ],
        healthy=lambda: http_ok(f"http://{host}:{port}/healthz"),
        url=env["MLOPS_S3_ENDPOINT_URL"],
        prepare=prepare,
        when_healthy=lambda: ensure_buckets(env),
        stop_grace=3.0,  # weed may ignore SIGTERM; its data is flushed per request
    )


def mlflow(stack: StackContext) -> Service:
    """The tracking server on PostgreSQL and S3 (services), or `mlflow ui` on the local store (local)."""
    env, health = stack.env, stack.url("MLFLOW_PORT", "/health")
    listen = ["--host", stack.host, "--port", env["MLFLOW_PORT"]]
    if stack.profile == "local":
        from resources.settings import PlatformSettings

        settings = PlatformSettings(profile="local", data_dir=stack.data_dir)
        return Service(
            name="mlflow",
            command=[
                str(BIN_DIR / "mlflow"),
                "ui",
                "--backend-store-uri",
                settings.local_mlflow_uri,
                *listen,
            ],
            healthy=lambda: http_ok(health),
            url=stack.url("MLFLOW_PORT"),
            prepare=lambda: (settings.data_path / "mlflow").mkdir(parents=True, exist_ok=True),
        )
    metrics = stack.state / "mlflow-metrics"  # its workers' pooled Prometheus metrics (--expose-prometheus)

    def prepare() -> None:
        ensure_database(env, env["MLFLOW_PG_DB"])
        shutil.rmtree(metrics, ignore_errors=True)  # the last run's workers' counts are not this run's
        metrics.mkdir(parents=True)

    return Service(
        name="mlflow",
        needs=("s3",),
        command=[
            str(BIN_DIR / "mlflow"),
            "server",
            "--backend-store-uri",
            postgres_url(env, env["MLFLOW_PG_DB"]),
            "--artifacts-destination",
            f"s3://{env['MLOPS_MLFLOW_BUCKET']}",
            *listen,
            "--workers",
            env.get("MLFLOW_WORKERS", "2"),
            "--expose-prometheus",
            str(metrics),
        ],
        env={
            "MLFLOW_S3_ENDPOINT_URL": env["MLOPS_S3_ENDPOINT_URL"],
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        },
        healthy=lambda: http_ok(health),
        url=env["MLOPS_MLFLOW_TRACKING_URI"],
        prepare=prepare,
    )


def _dagster_env(stack: StackContext) -> dict[str, str]:
    return {"DAGSTER_HOME": str(stack.dagster_home), "MLOPS_DATA_DIR": str(stack.data_dir)}


def dagster_webserver(stack: StackContext) -> Service:
    """The Dagster UI; before it starts, the instance's storage is created or upgraded, once: the webserver
    and the daemon creating a fresh SQLite instance at the same moment leave it with two schema heads. The
    daemon is launched right after it, so after that preparation."""
    env, home = stack.env, stack.dagster_home

    def prepare_instance() -> None:
        if stack.profile == "services":
            ensure_database(env, env["DAGSTER_PG_DB"])
            home.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SERVICES_DAGSTER_YAML, home / "dagster.yaml")
        else:
            prepare_local_dagster_home(env)
        done = subprocess.run(
            [str(BIN_DIR / "dagster"), "instance", "migrate"],
            env={**os.environ, **env, **_dagster_env(stack)},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"dagster instance migrate failed in {home}:\n{done.stdout}{done.stderr}")

    return Service(
        name="dagster-webserver",
        command=[
            str(BIN_DIR / "dagster-webserver"),
            "-w",
            str(REPO_DIR / "workspace.yaml"),
            "-h",
            stack.host,
            "-p",
            env["DAGSTER_PORT"],
            *(["--path-prefix", stack.dagster_path_prefix] if stack.dagster_path_prefix else []),
        ],
        env=_dagster_env(stack),
        healthy=lambda: http_ok(stack.url("DAGSTER_PORT", f"{stack.dagster_path_prefix}/server_info")),
        url=stack.url("DAGSTER_PORT", stack.dagster_path_prefix),
        prepare=prepare_instance,
        start_timeout=180.0,
    )


def dagster_daemon(stack: StackContext) -> Service:
    """Schedules, sensors, the run queue, run monitoring and run retries."""
    liveness = [str(BIN_DIR / "dagster-daemon"), "liveness-check"]
    return Service(
        name="dagster-daemon",
        command=[str(BIN_DIR / "dagster-daemon"), "run", "-w", str(REPO_DIR / "workspace.yaml")],
        env=_dagster_env(stack),
        healthy=lambda: command_ok(liveness, {**os.environ, **stack.env, **_dagster_env(stack)}),
        start_timeout=180.0,
        stop_grace=20.0,
    )


def api(stack: StackContext) -> Service:
    """The prediction API (`mlops serve`); it keeps serving its last good models if MLflow goes away. Its
    predictions, feedback and tasks go to SQLite under the data dir (local) or PostgreSQL (services);
    behind nginx it is told its public prefix, so the links and documents it makes carry it."""
    env = stack.env
    database = {}
    if stack.profile == "services":
        database = {"MLOPS_API_DATABASE_URL": postgres_url(env, env["API_PG_DB"])}
    root_path = {"MLOPS_API_ROOT_PATH": API_PREFIX} if stack.behind_nginx else {}
    return Service(
        name="api",
        needs=("mlflow",) if stack.profile == "services" else (),
        prepare=(lambda: ensure_database(env, env["API_PG_DB"])) if stack.profile == "services" else None,
        command=[str(BIN_DIR / "mlops"), "serve", "--host", stack.host, "--port", env["API_PORT"]],
        env={
            "MLOPS_DATA_DIR": str(stack.data_dir),
            "MLOPS_API_DAGSTER_URL": stack.url("DAGSTER_PORT", stack.dagster_path_prefix),
            **database,
            **root_path,
        },
        healthy=lambda: http_ok(stack.url("API_PORT", "/healthz")),
        url=stack.url("API_PORT", "/docs"),
        start_timeout=120.0,
    )


def app(stack: StackContext) -> Service:
    """The analyst app (`streamlit run ui/server.py`, which serves ui/app.py) on the API. Its key comes from MLOPS_UI_API_KEY in the
    environment, locally from the dev key file, or is pasted in its sidebar; behind nginx it is served under
    /app."""
    env = stack.env
    base = APP_PREFIX.strip("/") if stack.behind_nginx else ""
    key_file = stack.data_dir / "api" / "dev-key" if stack.profile == "local" else None
    return Service(
        name="app",
        needs=("api",),
        command=[
            str(BIN_DIR / "streamlit"),
            "run",
            str(REPO_DIR / "ui" / "server.py"),
            "--server.address",
            stack.host,
            "--server.port",
            env["APP_PORT"],
            "--server.baseUrlPath",
            base,
        ],  # fmt: skip
        env={
            "MLOPS_UI_API_URL": stack.url("API_PORT"),
            **({"MLOPS_UI_API_KEY_FILE": str(key_file)} if key_file else {}),
        },
        healthy=lambda: http_ok(stack.url("APP_PORT", f"/{base + '/' if base else ''}_stcore/health")),
        url=stack.url("APP_PORT", f"/{base}"),
    )


def nginx(stack: StackContext) -> Service:
    """Debian's nginx in front of the API, Dagster, MLflow and the app, over TLS on NGINX_HTTPS_PORT."""
    env, folder = stack.env, stack.state / "nginx"
    conf = folder / "nginx.conf"

    def prepare() -> None:
        if "NGINX_TLS_CERTIFICATE" not in env:
            dev_certificate(folder / "tls", ("localhost", stack.host))
        if "NGINX_HTPASSWD" not in env:
            write_htpasswd(folder / "htpasswd", env["CONSOLE_USER"], env["CONSOLE_PASSWORD"])
        write_config(stack_values(env, folder), folder)

    return Service(
        name="nginx",
        command=nginx_command(conf),
        healthy=lambda: http_ok(f"http://127.0.0.1:{env['NGINX_STATUS_PORT']}/healthz"),
        url=f"https://localhost:{env['NGINX_HTTPS_PORT']}/",
        prepare=prepare,
        start_timeout=30.0,
        stop_grace=5.0,
    )


def exporter(stack: StackContext) -> Service:
    """The platform's state for Prometheus (`mlops exporter`): Dagster, the MLflow registry, RabbitMQ."""
    env = stack.env
    return Service(
        name="exporter",
        needs=("dagster-webserver", "mlflow"),
        command=[
            str(BIN_DIR / "mlops"),
            "exporter",
            "--host",
            stack.host,
            "--port",
            env["EXPORTER_PORT"],
            "--dagster-url",
            stack.url("DAGSTER_PORT", stack.dagster_path_prefix),
        ],  # fmt: skip
        env={"MLOPS_EXPORTER_MIN_INTERVAL": env.get("EXPORTER_MIN_INTERVAL", "10")},
        healthy=lambda: http_ok(stack.url("EXPORTER_PORT", "/metrics")),
        url=stack.url("EXPORTER_PORT", "/metrics"),
        start_timeout=60.0,
    )


def prometheus(stack: StackContext) -> Service:
    """Debian's Prometheus on the repository's rule files, scraping the stack's local addresses."""
    env, folder = stack.env, stack.state / "prometheus"

    def prepare() -> None:
        tool(PROMETHEUS_BIN)
        write_yaml(stack_prometheus_config(env), folder / "prometheus.yml")

    return Service(
        name="prometheus",
        command=[
            prometheus_binary(),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={stack.host}:{env['PROMETHEUS_PORT']}",
        ],
        healthy=lambda: http_ok(stack.url("PROMETHEUS_PORT", "/-/ready")),
        url=stack.url("PROMETHEUS_PORT"),
        prepare=prepare,
        start_timeout=60.0,
    )


def alertmanager(stack: StackContext) -> Service:
    """Debian's Alertmanager on the repository's template, routing to the webhooks deploy/stack.env names."""
    env, folder = stack.env, stack.state / "alertmanager"

    def prepare() -> None:
        tool(ALERTMANAGER_BIN)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "alertmanager.yml").write_text(render_alertmanager(env))

    return Service(
        name="alertmanager",
        command=[
            alertmanager_binary(),
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address={stack.host}:{env['ALERTMANAGER_PORT']}",
            "--cluster.listen-address=",  # one instance: no gossip port
        ],
        healthy=lambda: http_ok(stack.url("ALERTMANAGER_PORT", "/-/ready")),
        url=stack.url("ALERTMANAGER_PORT"),
        prepare=prepare,
        start_timeout=60.0,
    )


LOCAL_AND_SERVICES: frozenset[Profile] = frozenset({"local", "services"})
SERVICES_ONLY: frozenset[Profile] = frozenset({"services"})

SERVICE_TABLE: tuple[tuple[frozenset[Profile], Callable[[StackContext], Service]], ...] = (
    (SERVICES_ONLY, s3_server),
    (LOCAL_AND_SERVICES, mlflow),
    (LOCAL_AND_SERVICES, dagster_webserver),
    (LOCAL_AND_SERVICES, dagster_daemon),
    (LOCAL_AND_SERVICES, api),
    (LOCAL_AND_SERVICES, app),
    (SERVICES_ONLY, nginx),
    (SERVICES_ONLY, exporter),
    (SERVICES_ONLY, alertmanager),
    (SERVICES_ONLY, prometheus),
)
"""Every service, in start order (a service starts once those it `needs` are healthy), with its profiles."""


def dagster_home(profile: Profile, env: Mapping[str, str], state: Path) -> Path:
    """The instance the Dagster processes use: the local rule (`local_dagster_home`), or the stack's own
    with services."""
    return state / "dagster_home" if profile == "services" else local_dagster_home(env)


def behind_nginx(profile: Profile) -> bool:
    """The profile runs nginx in front (which serves Dagster under /dagster and the API under /api)."""
    return any(build is nginx and profile in profiles for profiles, build in SERVICE_TABLE)


def dagster_path_prefix(profile: Profile) -> str:
    """Where the profile's Dagster webserver serves its UI: nginx's prefix behind nginx, else the root."""
    return DAGSTER_PREFIX if behind_nginx(profile) else ""


def state_dir_for(profile: Profile, env: Mapping[str, str]) -> Path:
    return data_dir(env) / "stack" / profile


def service_table(profile: Profile, env: Mapping[str, str], state: Path) -> list[Service]:
    """The services of a profile, built from SERVICE_TABLE."""
    stack = StackContext(profile, env, state)
    return [build(stack) for profiles, build in SERVICE_TABLE if profile in profiles]


def stack_for_profile(profile: Profile, env: Mapping[str, str] | None = None) -> Stack:
    """The supervisor for a profile's services, on the env file (or `env`) and its state folder."""
    env = {**(load_env() if env is None else env), "MLOPS_PROFILE": profile}
    state = state_dir_for(profile, env)
    return Stack(service_table(profile, env, state), env, state)
