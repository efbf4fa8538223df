"""The platform's topology as local processes: start, health-check, log, stop (`mlops stack ...`).

`services` is the production shape without Docker: an S3 server, the MLflow tracking server on PostgreSQL
and S3, dagster-webserver and dagster-daemon on PostgreSQL, the API, and nginx in front of them (the same
configuration as in Compose, deploy/nginx.py), against the machine's PostgreSQL and RabbitMQ.
`local` is the embedded profile: the same Dagster processes on SQLite and `mlflow ui` on the local store.
Each service is one `Service` entry in `service_table`; ports and credentials come from `deploy/stack.env`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DEPLOY_DIR = Path(__file__).resolve().parent
REPO_DIR = DEPLOY_DIR.parent
ENV_FILE = DEPLOY_DIR / "stack.env"
SERVICES_DAGSTER_YAML = DEPLOY_DIR / "dagster" / "dagster.yaml"
LOCAL_DAGSTER_YAML = REPO_DIR / "dagster.yaml"
BIN_DIR = Path(sys.executable).parent

Profile = Literal["local", "services"]
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class StackError(RuntimeError):
    """A service could not be prepared or did not become healthy."""


def load_env(path: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The env file's values in order, `${NAME}` expanded; a name already in `environ` keeps its value."""
    path = ENV_FILE if path is None else path
    environ = os.environ if environ is None else environ
    resolved: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise StackError(f"{path}:{number}: expected NAME=value, got {line!r}")
        name = name.strip()
        if name in environ:
            resolved[name] = environ[name]
            continue

        resolved[name] = _REFERENCE.sub(
            lambda m, where=f"{path}:{number}": _reference(m.group(1), resolved, environ, where),
            value.strip(),
        )
    return resolved


def _reference(name: str, resolved: Mapping[str, str], environ: Mapping[str, str], where: str) -> str:
    if name in resolved:
        return resolved[name]
    if name in environ:
        return environ[name]
    raise StackError(f"{where}: ${{{name}}} is not defined above")


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


# ---- processes -------------------------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the fields after its closing parenthesis do not.
    return [raw[: raw.index(" ")], *raw[raw.rindex(")") + 2 :].split()]


def process_start_ticks(pid: int) -> str | None:
    """When the process started (clock ticks since boot): tells a PID from a recycled one."""
    stat = _proc_stat(pid)
    return stat[20] if stat else None


def group_alive(pgid: int) -> bool:
    """Any non-zombie process left in the process group (the service and whatever it spawned)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat and stat[1] != "Z" and stat[3] == str(pgid):
            return True
    return False


def stop_groups(groups: Mapping[int, float], reap: Callable[[], object] | None = None) -> None:
    """SIGTERM each process group, SIGKILL what is left of it after its grace seconds; all at once.

    Every service is started as the leader of its own group, so its PID names the group: workers it
    forked (uvicorn, code servers, run workers) stop with it and nothing else is touched."""
    began, killed = time.monotonic(), set()
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    while True:
        if reap is not None:
            reap()
        alive = [pgid for pgid in groups if group_alive(pgid)]
        if not alive:
            return
        for pgid in alive:
            if pgid not in killed and time.monotonic() - began > groups[pgid]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                killed.add(pgid)
        if time.monotonic() - began > max(groups.values()) + 10:
            raise StackError(f"process groups {alive} survived SIGKILL")
        time.sleep(0.2)


# ---- services --------------------------------------------------------------------------------------


@dataclass
class Service:
    """One process of the topology: how to start it, how to know it is up, where users find it."""

    name: str
    command: list[str]
    healthy: Callable[[], bool]
    needs: tuple[str, ...] = ()  # started once these are healthy; the others start at once
    url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[], None] | None = None  # idempotent setup before start (databases, folders)
    when_healthy: Callable[[], None] | None = None  # idempotent setup once it answers (buckets)
    start_timeout: float = 120.0
    stop_grace: float = 10.0


@contextlib.contextmanager
def postgres_admin(env: Mapping[str, str]) -> Iterator[Any]:
    """A cursor on the server's `postgres` database in autocommit mode (CREATE/DROP DATABASE)."""
    import psycopg2

    try:
        conn = psycopg2.connect(
            host=env["DAGSTER_PG_HOST"],
            port=int(env["DAGSTER_PG_PORT"]),
            user=env["DAGSTER_PG_USER"],
            password=env.get("DAGSTER_PG_PASSWORD") or None,
            dbname="postgres",
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        raise StackError(
            f"PostgreSQL at {env['DAGSTER_PG_HOST']}:{env['DAGSTER_PG_PORT']} is not reachable: {exc}"
        ) from exc
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def ensure_database(env: Mapping[str, str], name: str) -> None:
    """Create a PostgreSQL database unless it exists (CREATE DATABASE has no IF NOT EXISTS)."""
    from psycopg2 import sql

    with postgres_admin(env) as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_databases(env: Mapping[str, str], names: Iterable[str]) -> None:
    """Drop PostgreSQL databases (throwaway stacks, tests, benchmarks), closing their connections."""
    from psycopg2 import sql

    with postgres_admin(env) as cur:
        for name in names:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def postgres_url(env: Mapping[str, str], database: str) -> str:
    from urllib.parse import quote

    password = env.get("DAGSTER_PG_PASSWORD")
    auth = quote(env["DAGSTER_PG_USER"]) + (f":{quote(password)}" if password else "")
    return f"postgresql://{auth}@{env['DAGSTER_PG_HOST']}:{env['DAGSTER_PG_PORT']}/{database}"


def ensure_buckets(env: Mapping[str, str]) -> None:
    """The lake, landing and MLflow buckets, created when missing."""
    from resources.object_store import ObjectStore

    for bucket in (env["MLOPS_LAKE_BUCKET"], env["MLOPS_LANDING_BUCKET"], env["MLOPS_MLFLOW_BUCKET"]):
        ObjectStore(
            base_uri=f"s3://{bucket}",
            endpoint_url=env["MLOPS_S3_ENDPOINT_URL"],
            region=env.get("MLOPS_S3_REGION"),
            access_key_id=env["AWS_ACCESS_KEY_ID"],
            secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        ).ensure_exists()


def s3_server(env: Mapping[str, str], state: Path) -> Service:
    """SeaweedFS stands in for MinIO (which has no package here); only this entry knows it."""
    host, port = env["STACK_HOST"], int(env["S3_PORT"])
    data, identities = state / "s3", state / "s3-identities.json"

    def prepare() -> None:
        data.mkdir(parents=True, exist_ok=True)
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "platform",
                            "credentials": [
                                {
                                    "accessKey": env["AWS_ACCESS_KEY_ID"],
                                    "secretKey": env["AWS_SECRET_ACCESS_KEY"],
                                }
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
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


def mlflow_server(env: Mapping[str, str]) -> Service:
    host, port = env["STACK_HOST"], env["MLFLOW_PORT"]
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
            "--host",
            host,
            "--port",
            port,
            "--workers",
            env.get("MLFLOW_WORKERS", "2"),
        ],
        env={"MLFLOW_S3_ENDPOINT_URL": env["MLOPS_S3_ENDPOINT_URL"]},
        healthy=lambda: http_ok(f"http://{host}:{port}/health"),
        url=env["MLOPS_MLFLOW_TRACKING_URI"],
        prepare=lambda: ensure_database(env, env["MLFLOW_PG_DB"]),
    )


def mlflow_ui(env: Mapping[str, str], backend_store_uri: str) -> Service:
    host, port = env["STACK_HOST"], env["MLFLOW_PORT"]
    return Service(
        name="mlflow",
        command=[
            str(BIN_DIR / "mlflow"),
            "ui",
            "--backend-store-uri",
            backend_store_uri,
            "--host",
            host,
            "--port",
            port,
        ],
        healthy=lambda: http_ok(f"http://{host}:{port}/health"),
        url=f"http://{host}:{port}",
    )


def dagster_services(
    env: Mapping[str, str], home: Path, prepare: Callable[[], None], path_prefix: str = ""
) -> list[Service]:
    """The webserver (under `path_prefix`, e.g. /dagster behind nginx) and the daemon on one instance."""
    host, port = env["STACK_HOST"], env["DAGSTER_PORT"]
    dagster_env = {"DAGSTER_HOME": str(home), "MLOPS_DATA_DIR": str(data_dir(env))}

    def prepare_instance() -> None:
        """Create or upgrade the instance's storage once, before the webserver and the daemon start: both
        creating a fresh SQLite instance at the same moment leaves it with two schema heads."""
        prepare()
        done = subprocess.run(
            [str(BIN_DIR / "dagster"), "instance", "migrate"],
            env={**os.environ, **env, **dagster_env},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"dagster instance migrate failed in {home}:\n{done.stdout}{done.stderr}")

    # The daemon starts right after the webserver is launched, so after prepare_instance has run.
    return [
        Service(
            name="dagster-webserver",
            command=[
                str(BIN_DIR / "dagster-webserver"),
                "-w",
                str(REPO_DIR / "workspace.yaml"),
                "-h",
                host,
                "-p",
                port,
                *(["--path-prefix", path_prefix] if path_prefix else []),
            ],
            env=dagster_env,
            healthy=lambda: http_ok(f"http://{host}:{port}{path_prefix}/server_info"),
            url=f"http://{host}:{port}{path_prefix}",
            prepare=prepare_instance,
            start_timeout=180.0,
        ),
        Service(
            name="dagster-daemon",
            command=[str(BIN_DIR / "dagster-daemon"), "run", "-w", str(REPO_DIR / "workspace.yaml")],
            env=dagster_env,
            healthy=lambda: command_ok(
                [str(BIN_DIR / "dagster-daemon"), "liveness-check"], {**os.environ, **env, **dagster_env}
            ),
            start_timeout=180.0,
            stop_grace=20.0,
        ),
    ]


def api_service(
    env: Mapping[str, str],
    needs: tuple[str, ...] = (),
    database_url: str | None = None,
    prepare: Callable[[], None] | None = None,
    dagster_path_prefix: str = "",
    root_path: str = "",
) -> Service:
    """The prediction API (`mlops serve`); it keeps serving its last good models if MLflow goes away.
    Its predictions, feedback and tasks go to `database_url` (SQLite under the data dir if None);
    `root_path` is its public prefix behind nginx."""
    host, port = env["STACK_HOST"], env["API_PORT"]
    return Service(
        name="api",
        needs=needs,
        prepare=prepare,
        command=[str(BIN_DIR / "mlops"), "serve", "--host", host, "--port", port],
        env={
            "MLOPS_DATA_DIR": str(data_dir(env)),
            "MLOPS_API_DAGSTER_URL": f"http://{host}:{env['DAGSTER_PORT']}{dagster_path_prefix}",
            **({"MLOPS_API_DATABASE_URL": database_url} if database_url else {}),
            **({"MLOPS_API_ROOT_PATH": root_path} if root_path else {}),
        },
        healthy=lambda: http_ok(f"http://{host}:{port}/healthz"),
        url=f"http://{host}:{port}/docs",
        start_timeout=120.0,
    )


def app_service(env: Mapping[str, str], key_file: Path | None = None, base_path: str = "") -> Service:
    """The analyst app (`streamlit run ui/app.py`) on the API; its key from MLOPS_UI_API_KEY in the
    environment, or `key_file` (the local dev key), or pasted in its sidebar. `base_path` serves it under
    a path (behind nginx: `app`)."""
    host, port, base = env["STACK_HOST"], env["APP_PORT"], base_path.strip("/")
    return Service(
        name="app",
        needs=("api",),
        command=[
            str(BIN_DIR / "streamlit"),
            "run",
            str(REPO_DIR / "ui" / "app.py"),
            "--server.address",
            host,
            "--server.port",
            port,
            "--server.baseUrlPath",
            base,
        ],  # fmt: skip
        env={
            "MLOPS_UI_API_URL": f"http://{host}:{env['API_PORT']}",
            **({"MLOPS_UI_API_KEY_FILE": str(key_file)} if key_file else {}),
        },
        healthy=lambda: http_ok(f"http://{host}:{port}/{base + '/' if base else ''}_stcore/health"),
        url=f"http://{host}:{port}/{base}",
    )


def data_dir(env: Mapping[str, str]) -> Path:
    """MLOPS_DATA_DIR (from the env file or the environment), absolute: services run from the repo root."""
    return Path(env.get("MLOPS_DATA_DIR") or os.environ.get("MLOPS_DATA_DIR") or REPO_DIR / ".data").resolve()


def dagster_home(profile: Profile, env: Mapping[str, str], state: Path) -> Path:
    """The instance the Dagster processes use: the user's DAGSTER_HOME locally, the stack's own with services."""
    if profile == "services":
        return state / "dagster_home"
    return Path(
        env.get("DAGSTER_HOME") or os.environ.get("DAGSTER_HOME") or data_dir(env) / "dagster"
    ).resolve()


def service_table(profile: Profile, env: Mapping[str, str], state: Path) -> list[Service]:
    """Every process of a profile; adding one (the API, the UI) is adding one entry."""
    home = dagster_home(profile, env, state)
    if profile == "local":
        from resources.settings import PlatformSettings

        settings = PlatformSettings(profile="local", data_dir=data_dir(env))

        def prepare_local() -> None:
            home.mkdir(parents=True, exist_ok=True)
            if not (home / "dagster.yaml").exists():
                shutil.copyfile(LOCAL_DAGSTER_YAML, home / "dagster.yaml")
            (settings.data_path / "mlflow").mkdir(parents=True, exist_ok=True)

        return [
            *dagster_services(env, home, prepare_local),
            mlflow_ui(env, settings.local_mlflow_uri),
            api_service(env),
            app_service(env, key_file=settings.data_path / "api" / "dev-key"),
        ]

    def prepare_dagster() -> None:
        ensure_database(env, env["DAGSTER_PG_DB"])
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SERVICES_DAGSTER_YAML, home / "dagster.yaml")

    from deploy.nginx import API_PREFIX, DAGSTER_PREFIX, nginx_service

    return [
        s3_server(env, state),
        mlflow_server(env),
        *dagster_services(env, home, prepare_dagster, path_prefix=DAGSTER_PREFIX),
        api_service(
            env,
            needs=("mlflow",),
            database_url=postgres_url(env, env["API_PG_DB"]),
            prepare=lambda: ensure_database(env, env["API_PG_DB"]),
            dagster_path_prefix=DAGSTER_PREFIX,
            root_path=API_PREFIX,
        ),
        app_service(env, base_path="app"),  # nginx routes /app/ to it
        nginx_service(env, state),
    ]


def free_port_block(size: int, host: str = "127.0.0.1") -> int:
    """A port such that it and the `size - 1` ports above it are free now (for a throwaway stack; the S3
    server's internal ports sit above its S3 port). Chosen below the kernel's ephemeral range, so no
    outgoing connection takes one of them while a service is stopped and its restart still finds it free."""
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768  # Linux's default start
    low, high = 10_000, max(ephemeral, 10_000 + 100 * size) - size
    for _ in range(200):
        base = random.randrange(low, high)
        try:
            with contextlib.ExitStack() as held:
                for port in range(base, base + size):
                    held.enter_context(socket.socket()).bind((host, port))
        except OSError:
            continue
        return base
    raise StackError(f"no block of {size} free ports found below {ephemeral}")


# ---- the supervisor -------------------------------------------------------------------------------


def state_dir_for(profile: Profile, env: Mapping[str, str]) -> Path:
    return data_dir(env) / "stack" / profile


class Stack:
    """Starts every service as soon as those it needs are healthy; stops what it started."""

    def __init__(self, services: Iterable[Service], env: Mapping[str, str], state: Path) -> None:
        self.services = {s.name: s for s in services}
        self.env = {**os.environ, **env}
        self.state = state
        self.logs = state / "logs"
        self.procs: dict[str, subprocess.Popen] = {}
        self.pid_file = state / "pids.json"
        self._deadlines: dict[str, float] = {}

    @classmethod
    def for_profile(cls, profile: Profile, env: Mapping[str, str] | None = None) -> Stack:
        env = {**(load_env() if env is None else env), "MLOPS_PROFILE": profile}
        state = state_dir_for(profile, env)
        return cls(service_table(profile, env, state), env, state)

    def start(self, report: Callable[[str], None] = print) -> dict[str, float]:
        """Start every service; returns seconds to healthy per service. Stops all on any failure."""
        self.state.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        running = running_pids(self.pid_file)
        if running:
            raise StackError(
                f"a stack is already running from {self.state} ({', '.join(running)}); `mlops stack stop` first"
            )
        unknown = {n for s in self.services.values() for n in s.needs} - set(self.services)
        if unknown:
            raise StackError(f"services need unknown services: {sorted(unknown)}")
        timings: dict[str, float] = {}
        try:
            pending, starting = list(self.services), {}
            while pending or starting:
                for name in [n for n in pending if all(d in timings for d in self.services[n].needs)]:
                    pending.remove(name)
                    starting[name] = self._launch(name)
                for name, began in list(starting.items()):
                    if self._healthy(name):
                        del starting[name]
                        timings[name] = time.perf_counter() - began
                        report(f"  ✓ {name:<18} {self.services[name].url or ''}  ({timings[name]:.1f} s)")
                time.sleep(0.3)
        except BaseException:
            self.stop(report=lambda _: None)
            raise
        return timings

    def start_service(self, name: str) -> float:
        """(Re)start one service and wait until it is healthy; returns the seconds that took."""
        began = self._launch(name)
        while not self._healthy(name):
            time.sleep(0.3)
        return time.perf_counter() - began

    def _launch(self, name: str) -> float:
        service = self.services[name]
        began = time.perf_counter()
        if service.prepare is not None:
            service.prepare()
        with (self.logs / f"{name}.log").open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(service.command)}\n".encode())
            log.flush()
            self.procs[name] = subprocess.Popen(
                service.command,
                env={**self.env, **service.env},
                cwd=REPO_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole, spared Ctrl-C
            )
        self._write_pids()
        self._deadlines[name] = time.monotonic() + service.start_timeout
        return began

    def _healthy(self, name: str) -> bool:
        """True once the service answers (then runs its `when_healthy`); raises if it died or timed out."""
        service, proc = self.services[name], self.procs[name]
        if service.healthy():
            if service.when_healthy is not None:
                service.when_healthy()
            return True
        log_path = self.logs / f"{name}.log"
        if proc.poll() is not None:
            raise StackError(f"{name} exited with code {proc.returncode}:\n{tail(log_path)}")
        if time.monotonic() > self._deadlines[name]:
            raise StackError(f"{name} not healthy after {service.start_timeout:.0f} s:\n{tail(log_path)}")
        return False

    def stop_service(self, name: str) -> None:
        """Stop one service (e.g. to cause an outage); `start_service` brings it back."""
        self._stop([name])

    def stop(self, report: Callable[[str], None] = print) -> None:
        """Stop every service this stack started, all at once."""
        names = list(self.procs)
        self._stop(names)
        for name in names:
            report(f"  stopped {name}")

    def _stop(self, names: list[str]) -> None:
        procs = {name: self.procs.pop(name) for name in names if name in self.procs}
        if procs:
            stop_groups(
                {p.pid: self.services[name].stop_grace for name, p in procs.items()},
                reap=lambda: [p.poll() for p in procs.values()],
            )
        self._write_pids()

    def wait(self) -> str:
        """Block until a service exits by itself; returns its name."""
        while True:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    return name
            time.sleep(1)

    def _write_pids(self) -> None:
        self.pid_file.write_text(
            json.dumps(
                {
                    name: {
                        "pid": p.pid,
                        "started": process_start_ticks(p.pid),
                        "grace": self.services[name].stop_grace,
                    }
                    for name, p in self.procs.items()
                },
                indent=2,
            )
        )


def running_pids(pid_file: Path) -> dict[str, dict]:
    """The services a pid file names that are still the processes it recorded."""
    if not pid_file.exists():
        return {}
    recorded = json.loads(pid_file.read_text())
    return {
        name: entry
        for name, entry in recorded.items()
        if entry.get("started") and process_start_ticks(entry["pid"]) == entry["started"]
    }


def stop_recorded(state: Path, report: Callable[[str], None] = print) -> int:
    """Stop a stack started elsewhere (`mlops stack up --detach`) from its pid file; returns how many."""
    pid_file = state / "pids.json"
    running = running_pids(pid_file)
    if running:
        stop_groups({entry["pid"]: entry.get("grace", 10.0) for entry in running.values()})
    for name, entry in running.items():
        report(f"  stopped {name} (pid {entry['pid']})")
    if pid_file.exists():
        pid_file.unlink()
    return len(running)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
