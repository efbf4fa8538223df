"""The process supervisor behind `mlops stack`: starts services as soon as those they need are healthy,
logs each to its own file, records their PIDs, and stops each with its whole process group.

Every service is started as the leader of its own process group, so its PID names the group: the workers
it forks (uvicorn workers, code servers, run workers) stop with it and nothing else is touched. psutil
finds a group's processes and tells a recorded PID from a recycled one (by its start time).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from deploy.env import REPO_DIR, StackError


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


def process_started_at(pid: int) -> float | None:
    """When the process started: with its PID, tells it from a later process that reuses the PID."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def group_alive(pgid: int) -> bool:
    """Any non-zombie process left in the process group (the service and whatever it spawned)."""
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                return True
    return False


def stop_groups(groups: Mapping[int, float], reap: Callable[[], object] | None = None) -> None:
    """SIGTERM each process group, SIGKILL what is left of it after its grace seconds; all at once.
    `reap` collects the exit status of processes that are this process's own children."""
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
                        "started": process_started_at(p.pid),
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
        if entry.get("started") and process_started_at(entry["pid"]) == entry["started"]
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
