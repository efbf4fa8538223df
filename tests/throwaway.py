"""What tests and benchmarks make for themselves and must remove: free ports, PostgreSQL databases and
RabbitMQ exchanges with the queues the platform declares on them.

Every exchange a test run makes is named `mlops.test.<run>.<n>`, so a run can tell its leftovers from
those of other runs on the same broker (see `broker_leftovers` and the session check in tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from psycopg2 import sql

from deploy.postgres import postgres_admin
from events.bus import connect, dead_letter_exchange
from events.queue import dead_letter_queue
from sensors.event_runs import consumer_queue

RUN_PREFIX = f"mlops.test.{uuid.uuid4().hex[:8]}"
"""Names of this process's throwaway exchanges and their queues start with it."""
handed_out: list[str] = []


def throwaway_exchange() -> str:
    """A platform exchange name of this run's own."""
    handed_out.append(f"{RUN_PREFIX}.{uuid.uuid4().hex[:8]}")
    return handed_out[-1]


def delete_throwaway_exchange(url: str, exchange: str, queues: Iterable[str] = ()) -> None:
    """The exchange, its dead-letter exchange, the event_runs sensor's queue on it, the dead-letter queue,
    and any other `queues` (a benchmark's subscriber).

    Deleting an exchange leaves the queues bound to it: a stack whose daemon ran the sensor left both queues
    behind. Stop whatever consumes the exchange first, or its next tick declares them again."""
    connection = connect(url)
    try:
        channel = connection.channel()
        for queue in (consumer_queue(exchange), dead_letter_queue(exchange), *queues):
            channel.queue_delete(queue)
        for name in (exchange, dead_letter_exchange(exchange)):
            channel.exchange_delete(name)
    finally:
        connection.close()


def broker_leftovers(prefix: str = RUN_PREFIX) -> list[str] | None:
    """Exchanges and queues on the local broker whose names start with `prefix`, as `rabbitmqctl` lists them
    (None if it cannot: not installed, or not allowed to talk to the node)."""
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        return None
    found = []
    for kind in ("exchanges", "queues"):
        try:
            listed = subprocess.run(
                [rabbitmqctl, "-s", f"list_{kind}", "name"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        found += [f"{kind[:-1]} {n}" for n in listed.stdout.split() if n.startswith(prefix)]
    return found


def drop_databases(env: Mapping[str, str], names: Iterable[str]) -> None:
    """Drop PostgreSQL databases (throwaway stacks, tests, benchmarks), closing their connections."""
    with postgres_admin(env) as cur:
        for name in names:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


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
    raise RuntimeError(f"no block of {size} free ports found below {ephemeral}")


def throwaway_ports() -> dict[str, str]:
    """Free ports for nginx, the app and the monitoring in a throwaway stack."""
    names = (
        "NGINX_HTTPS_PORT", "NGINX_HTTP_PORT", "NGINX_S3_PORT", "NGINX_STATUS_PORT", "APP_PORT",
        "EXPORTER_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT",
    )  # fmt: skip
    return {name: str(free_port_block(1)) for name in names}
