"""Benchmark: the same air_quality materialization on the `local` profile and on `services`.

local = SQLite Dagster instance, a folder lake, MLflow on SQLite + files; services = the process stack
(deploy/services.py) on fresh databases, buckets and ports: Dagster on PostgreSQL, the lake and MLflow
artifacts in S3, the MLflow tracking server by URL, events to RabbitMQ. Each materialization is
`mlops materialize` in its own subprocess (one refresh run: raw → … → forecasts), alternating between
the profiles with the stack up throughout; the best of `--repeat` runs counts, since the machine is
shared. Also prints the stack's cold start, from nothing to every service healthy, and seconds per step.

    .venv/bin/python bench/services_vs_local.py [--stations 5] [--days 60] [--repeat 2]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.env import BIN_DIR, LOCAL_DAGSTER_YAML, load_env  # noqa: E402
from deploy.services import dagster_home, service_table  # noqa: E402
from deploy.supervisor import Stack  # noqa: E402
from pipelines.keys import PipelineKeys, op_name  # noqa: E402
from pipelines.spec import load_specs  # noqa: E402
from tests.throwaway import (  # noqa: E402
    delete_throwaway_exchange,
    drop_databases,
    free_port_block,
    throwaway_ports,
)

START = dt.date(2024, 1, 1)


def specs_with(stations: int, work: Path) -> Path:
    import yaml

    spec = yaml.safe_load((ROOT / "pipelines" / "specs" / "air_quality.yaml").read_text())
    spec["source"]["stations"] = stations
    folder = work / "specs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "air_quality.yaml").write_text(yaml.safe_dump(spec))
    return folder


def materialize(env: dict[str, str], days: int) -> tuple[float, float, str]:
    """Wall time of the `mlops materialize` process, the run time it reports, and its last line."""
    end = START + dt.timedelta(days=days - 1)
    began = time.perf_counter()
    done = subprocess.run(
        [
            str(BIN_DIR / "mlops"),
            "materialize",
            "--pipeline",
            "air_quality",
            "--start",
            str(START),
            "--end",
            str(end),
        ],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - began
    summary = re.search(r"air_quality: (ok|FAILED) \(([\d.]+) s\)", done.stdout)
    if done.returncode != 0 or summary is None or summary.group(1) != "ok":
        raise SystemExit(
            f"materialize failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return wall, float(summary.group(2)), summary.group(0)


def step_seconds(env: dict[str, str]) -> dict[str, float]:
    """Seconds per step of the latest run in the instance `env` names (read from its run storage)."""
    import dagster as dg

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
        run = instance.get_runs(limit=1)[0]
        stats = instance.get_run_step_stats(run.run_id)
        instance.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {s.step_key: s.end_time - s.start_time for s in stats if s.end_time and s.start_time}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=5)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs per profile; the best counts")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-services-"))
    specs = specs_with(args.stations, work)
    print(
        f"air_quality, {args.stations} stations × {args.days} days from {START}; `mlops materialize` "
        f"alternately on local and services, {args.repeat}× each, best of each counts",
        flush=True,
    )
    local_home = work / "local" / "dagster"
    local_home.mkdir(parents=True)
    shutil.copyfile(LOCAL_DAGSTER_YAML, local_home / "dagster.yaml")
    local_env = {
        "MLOPS_PROFILE": "local",
        "MLOPS_DATA_DIR": str(work / "local" / "data"),
        "MLOPS_SPECS_DIR": str(specs),
        "DAGSTER_HOME": str(local_home),
    }
    suffix = uuid.uuid4().hex[:8]
    overrides = {
        "S3_PORT": str(free_port_block(8)),
        "MLFLOW_PORT": str(free_port_block(1)),
        "DAGSTER_PORT": str(free_port_block(1)),
        "API_PORT": str(free_port_block(1)),
        **throwaway_ports(),
        "DAGSTER_PG_DB": f"mlops_bench_dagster_{suffix}",
        "MLFLOW_PG_DB": f"mlops_bench_mlflow_{suffix}",
        "API_PG_DB": f"mlops_bench_api_{suffix}",
        "MLOPS_LAKE_BUCKET": f"lake-{suffix}",
        "MLOPS_LANDING_BUCKET": f"landing-{suffix}",
        "MLOPS_MLFLOW_BUCKET": f"mlflow-{suffix}",
        "MLOPS_EVENTS_EXCHANGE": f"mlops.bench.{suffix}",
        "MLOPS_DATA_DIR": str(work / "services" / "data"),
        "MLOPS_SPECS_DIR": str(specs),
    }
    env = {**load_env(environ=overrides), **overrides, "MLOPS_PROFILE": "services"}
    state = work / "services" / "stack"
    stack = Stack(service_table("services", env, state), env, state)
    profiles = {
        "local": local_env,
        "services": {**env, "DAGSTER_HOME": str(dagster_home("services", env, state))},
    }
    best: dict[str, tuple[float, float]] = {}
    steps: dict[str, dict[str, float]] = {name: {} for name in profiles}
    try:
        began = time.perf_counter()
        timings = stack.start(report=lambda line: None)
        cold = time.perf_counter() - began
        print(
            f"  services stack cold start to all healthy: {cold:.1f} s ("
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
            + ")",
            flush=True,
        )
        # The stack stays up during the local runs too: both profiles see the same machine.
        for attempt in range(1, args.repeat + 1):
            for name, profile_env in profiles.items():
                wall, run, line = materialize(profile_env, args.days)
                print(f"  #{attempt} {name:<9} {line}  (process {wall:.1f} s)", flush=True)
                best[name] = min(best.get(name, (wall, run)), (wall, run), key=lambda pair: pair[1])
                for step, seconds in step_seconds(profile_env).items():
                    steps[name][step] = min(steps[name].get(step, seconds), seconds)
    finally:
        stack.stop(report=lambda line: None)
        drop_databases(env, (env["DAGSTER_PG_DB"], env["MLFLOW_PG_DB"], env["API_PG_DB"]))
        with contextlib.suppress(Exception):
            delete_throwaway_exchange(env["MLOPS_RABBITMQ_URL"], env["MLOPS_EVENTS_EXCHANGE"])
        shutil.rmtree(work, ignore_errors=True)

    local_steps, services_steps = steps["local"], steps["services"]
    print()
    print(f"{'step (best of runs)':<36}{'local (s)':>10}{'services (s)':>14}{'ratio':>8}")
    for step in sorted(local_steps, key=lambda k: -services_steps.get(k, 0)):
        there = services_steps.get(step, float("nan"))
        print(f"{step:<36}{local_steps[step]:>10.1f}{there:>14.1f}{there / local_steps[step]:>7.1f}×")
    spec = load_specs()["air_quality"]
    training = {op_name(PipelineKeys(spec).model(task)) for task in spec.tasks}
    rest_local = sum(v for k, v in local_steps.items() if k not in training)
    rest_services = sum(v for k, v in services_steps.items() if k not in training)
    print(
        f"{'all steps but model training':<36}{rest_local:>10.1f}{rest_services:>14.1f}"
        f"{rest_services / rest_local:>7.1f}×"
    )
    print()
    (local_wall, local_run), (services_wall, services_run) = best["local"], best["services"]
    print(f"{'profile':<10}{'run (s)':>10}{'process (s)':>14}")
    print(f"{'local':<10}{local_run:>10.1f}{local_wall:>14.1f}")
    print(f"{'services':<10}{services_run:>10.1f}{services_wall:>14.1f}")
    print(
        f"services / local: {services_run / local_run:.2f}× run time, {services_wall / local_wall:.2f}× process time"
    )
    print(f"stack cold start to all healthy: {cold:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
