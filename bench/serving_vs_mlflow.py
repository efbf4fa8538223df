"""Benchmark: this service's predict endpoint against the framework's floor and `mlflow models serve`.

One run, in a fresh temporary data dir (or `--data`, reused): `mlops materialize --pipeline air_quality`
(local profile) trains and registers `air_quality.forecast` version 1; then these servers run side by side:
`mlops serve` (this service: FastAPI on uvicorn, micro-batching, its default worker count: one per CPU, at
most 4), the floor (bench/floor_app.py: a bare FastAPI endpoint on the same uvicorn with as many workers,
that parses the same JSON body and returns a constant) and `mlflow models serve --env-manager local` with as
many workers. With `--baseline REF` the API of git ref REF runs beside them too (an A/B in one run). Before
measuring, the same rows are sent to this service and MLflow, and their predictions must agree within 1e-6.

1. Single-row requests: `wrk` with `--connections` open connections for `--duration` seconds per server,
   `--runs` times, the servers taking turns (a busier spell of the machine falls on all alike), after a
   short warm-up each; per run req/s, p50, p99 and non-2xx/socket errors (any error flags the run).
   Goals: this service ≥ 30% of the floor's req/s (median of the runs), p99 ≤ 25 ms in every run.
   The micro-batches this service made under that load are read from its own metrics
   (`mlops_api_batch_rows`, before and after each run). MLflow's server is loaded once, for context.
2. A 10,000-row batch (feature rows sampled with replacement): rows/s over the whole HTTP round trip
   (httpx, body serialized beforehand), median of 5 after a warm-up, against in-process
   `predict_frame` of the loaded pyfunc on the same rows (median of 5), the two taking turns. Goal: ≥ 50% of in-process.
   MLflow's server is timed once on the same batch for context.

With `--scrape-interval S` this service also takes turns as a second contestant, "scraped": the same
server while a Prometheus-like client GETs its /metrics every S seconds (the cost of being monitored,
A/B in one run; S = 1 is 15 times Prometheus's default rate).

The load generator runs on the same machine as the servers, so it takes CPU from them (all alike).

    .venv/bin/python bench/serving_vs_mlflow.py [--runs 5] [--duration 30] [--connections 16]
        [--baseline REF] [--scrape-interval S] [--data DIR] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.env import load_env  # noqa: E402
from deploy.services import http_ok, service_table  # noqa: E402
from deploy.supervisor import Service, Stack  # noqa: E402
from pipelines.keys import PipelineKeys  # noqa: E402
from pipelines.spec import load_specs  # noqa: E402
from serving.config import ServingSettings  # noqa: E402
from tests.throwaway import free_port_block  # noqa: E402

BIN_DIR = Path(sys.executable).parent

PIPELINE = "air_quality"
KEYS = PipelineKeys(load_specs()[PIPELINE])
MODEL = KEYS.model_name(KEYS.spec.task("forecast"))
MODEL_URI = f"models:/{MODEL}/1"
START, END = "2024-01-01", "2024-02-29"
BATCH_ROWS = 10_000
REPEATS = 5
WARMUP_SECONDS = 3
TOLERANCE = 1e-6
OURS, THEIRS, FLOOR = "this service", "mlflow models serve", "bare FastAPI (floor)"
BATCH_METRIC = "mlops_api_batch_rows"


@dataclass
class LoadResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    output: str

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def clean_env(data: Path) -> dict[str, str]:
    """The caller's environment without its platform/MLflow/Dagster settings, on the temporary data dir;
    the venv's bin first on PATH (`mlflow models serve` execs `uvicorn` by name)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_")) and k != "DAGSTER_HOME"
    }
    env.update(
        MLOPS_PROFILE="local",
        MLOPS_DATA_DIR=str(data),
        PATH=f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    return env


def run(cmd: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def request_rows(data: Path) -> tuple[list[str], list[dict]]:
    """The model's input columns and one feature row per station and horizon, from the lake's features
    with the project's own feature function (None for a missing value)."""
    from upath import UPath

    from pipelines.features import forecast_inputs, model_feature_columns
    from resources.lake_store import Lake

    features = Lake(UPath(f"{data}/lake")).read(KEYS.features)
    spec = KEYS.spec
    task = spec.task("forecast")
    inputs = forecast_inputs(features, spec, task)
    columns = model_feature_columns(spec, task)
    return columns, json.loads(inputs[columns].to_json(orient="records"))


def wrk_script(folder: Path, name: str, body: bytes, headers: dict[str, str]) -> Path:
    """A wrk Lua script that POSTs `body` (read from a file, so no quoting) with `headers`."""
    body_path = folder / f"{name}.json"
    body_path.write_bytes(body)
    lines = ['wrk.method = "POST"']
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines += [
        f"local f = assert(io.open({json.dumps(str(body_path))}, 'rb'))",
        "wrk.body = f:read('*a')",
        "f:close()",
    ]
    script = folder / f"{name}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(output: str) -> LoadResult:
    def find(pattern: str) -> re.Match | None:
        return re.search(pattern, output, re.MULTILINE)

    rps = find(r"^Requests/sec:\s+([\d.]+)")
    p50 = find(r"^\s+50%\s+([\d.]+)(us|ms|s|m|h)\b")
    p99 = find(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\b")
    total = find(r"^\s+(\d+) requests in")
    if not (rps and p50 and p99 and total):
        raise SystemExit(f"could not read wrk's output:\n{output}")
    non_2xx = find(r"Non-2xx or 3xx responses:\s+(\d+)")
    sockets = find(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    return LoadResult(
        requests=int(total.group(1)),
        rps=float(rps.group(1)),
        p50_ms=_ms(*p50.groups()),
        p99_ms=_ms(*p99.groups()),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        output=output,
    )


def load(url: str, script: Path, connections: int, seconds: int) -> LoadResult:
    threads = max(1, min(2, connections))
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


def max_diff(ours: list[dict], theirs: list[dict]) -> tuple[float, list[str]]:
    """Largest |difference| over every output MLflow returns, and those output names."""
    if len(ours) != len(theirs):
        raise SystemExit(
            f"fairness check: {len(ours)} predictions from this service, {len(theirs)} to compare with"
        )
    names = sorted(theirs[0])
    missing = [n for n in names if n not in ours[0]]
    if missing:
        raise SystemExit(f"fairness check: this service does not return {missing}")
    worst = 0.0
    for a, b in zip(ours, theirs, strict=True):
        for n in names:
            if (a[n] is None) != (b[n] is None):
                return float("inf"), names
            if a[n] is not None:
                worst = max(worst, abs(float(a[n]) - float(b[n])))
    return worst, names


def timed(calls: dict[str, Callable[[], Any]], repeats: int = REPEATS) -> dict[str, tuple[float, list]]:
    """Per call: median wall time of `repeats` runs after one warm-up, and what each run returned (checked
    by the caller afterwards, outside the timing). The calls take turns, so a slower or busier spell of
    the machine falls on all of them alike."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    results: dict[str, list] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            began = time.perf_counter()
            results[name].append(call())
            times[name].append(time.perf_counter() - began)
    return {name: (statistics.median(times[name]), results[name]) for name in calls}


def batch_buckets(metrics_url: str) -> dict[float, float]:
    """The API's cumulative `mlops_api_batch_rows` buckets (upper bound → model calls) for the benchmark's
    pipeline and task, pooled over its workers."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=10) as reply:
        text = reply.read().decode()
    counts: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != BATCH_METRIC:
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name.endswith("_bucket") and (labels.get("pipeline"), labels.get("task")) == (
                PIPELINE,
                "forecast",
            ):
                counts[float(labels["le"])] = counts.get(float(labels["le"]), 0.0) + sample.value
    return counts


def batch_distribution(calls: dict[float, float]) -> str:
    """Model calls per bucket of rows per call (non-cumulative counts), as lines of a small table."""
    bounds = sorted(calls)
    total = calls.get(float("inf"), 0.0)
    if not total:
        return "  no model calls recorded"
    labels, shares, below = [], [], 0.0
    lower = 1
    for bound in bounds:
        count = calls[bound] - below
        below = calls[bound]
        upper = "+" if bound == float("inf") else str(int(bound))
        label = str(lower) if upper == str(lower) else f"{lower}-{upper}" if upper != "+" else f"{lower}+"
        if bound != float("inf"):
            lower = int(bound) + 1
        if count:
            labels.append(label)
            shares.append(f"{count / total:.1%}")
    width = max(8, *(len(x) + 2 for x in labels + shares))
    return "\n".join(
        [
            f"  {'rows per call':<16}" + "".join(f"{x:>{width}}" for x in labels),
            f"  {'share of calls':<16}" + "".join(f"{x:>{width}}" for x in shares),
        ]
    )


def checkout(ref: str, folder: Path) -> Path:
    """The project's files at git ref `ref`, unpacked into `folder` (for an A/B against this working tree)."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {ref} failed: {archive.stderr.decode()[-2000:]}")
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def profile(pid: int, out: Path, during: Callable[[], LoadResult]) -> None:
    """Sample the API's processes with py-spy while `during` loads it; print the functions with the largest
    share of the workers' samples, inclusive (the function and what it calls) and by themselves."""
    spy = subprocess.Popen(
        [str(BIN_DIR / "py-spy"), "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
         "--format", "raw", "--output", str(out), "--rate", "250"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.0)  # py-spy attaches
    r = during()
    spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
    _, err = spy.communicate(timeout=60)
    if not out.exists():
        raise SystemExit(f"py-spy wrote no profile: {err.decode()[-2000:]}")
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames or not count.isdigit():
            continue
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    print(
        f"  profiled run of {OURS} (not counted): {r.rps:,.1f} req/s under py-spy; {total:,} samples in {out}"
    )
    for title, table in (("inclusive", inclusive), ("self", own)):
        print(f"  top functions, {title} share of samples:")
        for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:25]:
            print(f"    {n / total:>6.1%}  {frame[:150]}")


class Scraper:
    """`with Scraper(url, every):` GETs `url` every `every` seconds in a thread, as Prometheus would."""

    def __init__(self, url: str, every: float) -> None:
        self.url, self.every = url, every
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with urllib.request.urlopen(self.url, timeout=10) as reply:
                reply.read()
            self.scrapes += 1
            self._stop.wait(self.every)

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def median_result(results: list[LoadResult]) -> tuple[float, float, float]:
    return (
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="single-row runs per server (default 5)")
    parser.add_argument(
        "--duration", type=int, default=30, help="seconds of load per server and run (default 30)"
    )
    parser.add_argument("--connections", type=int, default=16, help="open connections (default 16)")
    parser.add_argument(
        "--baseline", metavar="REF", help="also serve the API of this git ref (A/B in one run)"
    )
    parser.add_argument(
        "--scrape-interval",
        type=float,
        metavar="S",
        help="also measure this service while its /metrics is scraped every S seconds (A/B in one run)",
    )
    parser.add_argument(
        "--data", type=Path, help="data dir to reuse (trained once, kept); default a temporary one"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="after the runs, one more load of this service sampled by py-spy (its workers): collapsed "
        "stacks to FILE and the hottest functions printed",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir and server logs")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (`make bench-serving` installs it: apt-get install wrk)")

    import httpx
    import orjson
    import pandas as pd

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    data = args.data.resolve() if args.data else work / "data"
    env = clean_env(data)
    os.environ.clear()  # the supervisor passes its own environment on: keep the caller's settings out
    os.environ.update(env)
    tracking_uri = f"sqlite:///{data}/mlflow/mlflow.db"
    mlflow_version = importlib.metadata.version("mlflow")
    baseline = f"API at {args.baseline}"
    print(
        f"{PIPELINE}, {START} .. {END}: `mlops serve` vs a bare FastAPI endpoint vs `mlflow models serve "
        f"--env-manager local` (MLflow {mlflow_version}) on {MODEL} v1"
        + (f", and the API at git ref {args.baseline}" if args.baseline else "")
        + f"; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; wrk on the same machine",
        flush=True,
    )
    stack: Stack | None = None
    failed = False
    try:
        if (data / "mlflow" / "mlflow.db").exists():
            print(f"  reusing {data} (trained before)", flush=True)
        else:
            began = time.perf_counter()
            out = run(
                [str(BIN_DIR / "mlops"), "materialize", "--pipeline", PIPELINE, "--start", START, "--end", END],
                env, "mlops materialize",
            )  # fmt: skip
            if re.search(rf"^{PIPELINE}\s+✓ done in", out, re.MULTILINE) is None:
                raise SystemExit(f"materialize did not report ok:\n{out[-3000:]}")
            print(f"  trained and registered {MODEL} v1 in {time.perf_counter() - began:.1f} s", flush=True)
        key = run(
            [str(BIN_DIR / "mlops"), "api-key", "create", "bench", "--scopes", "predict", "--quiet"],
            env, "mlops api-key create",
        ).strip()  # fmt: skip
        columns, rows = request_rows(data)

        # The servers under the project's own supervisor (deploy/supervisor.py): the API as `mlops stack up`
        # starts it, the floor and MLflow's scoring server beside it; each is ready once it answers.
        ours_port, mlflow_port, floor_port = free_port_block(1), free_port_block(1), free_port_block(1)
        # Each API logs its predictions to a database of its own, new for this run (a reused data dir's grows).
        stack_env = {
            **load_env(environ=env),
            **env,
            "API_PORT": str(ours_port),
            "MLOPS_API_DATABASE_URL": f"sqlite:///{work / 'predictions.db'}",
        }
        theirs_base = f"http://127.0.0.1:{mlflow_port}"
        floor_base = f"http://127.0.0.1:{floor_port}"
        workers = ServingSettings().workers  # what `mlops serve` runs by default here; the others get as many
        mlflow_serve = Service(
            name="mlflow-serve",
            command=[
                str(BIN_DIR / "mlflow"), "models", "serve", "-m", MODEL_URI, "--env-manager", "local",
                "-h", "127.0.0.1", "-p", str(mlflow_port), "--workers", str(workers),
            ],
            healthy=lambda: http_ok(f"{theirs_base}/ping"),
            env={"MLFLOW_TRACKING_URI": tracking_uri},
            start_timeout=180.0,
        )  # fmt: skip
        floor = Service(
            name="floor",
            command=[
                sys.executable, str(ROOT / "bench" / "floor_app.py"),
                "--port", str(floor_port), "--workers", str(workers),
            ],
            healthy=lambda: http_ok(f"{floor_base}/predict"),  # 405 to a GET: it answers
        )  # fmt: skip
        api = [s for s in service_table("local", stack_env, work / "stack") if s.name == "api"]
        services = [*api, floor, mlflow_serve]
        if args.baseline:
            base_port = free_port_block(1)
            base_src = checkout(args.baseline, work / "baseline")
            services.append(
                Service(
                    name="api-baseline",
                    command=[
                        str(BIN_DIR / "mlops"),
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(base_port),
                    ],
                    healthy=lambda: http_ok(f"http://127.0.0.1:{base_port}/healthz"),
                    env={
                        **api[0].env,
                        "PYTHONPATH": str(base_src),  # its packages before this tree's (installed editable)
                        "MLOPS_API_DATABASE_URL": f"sqlite:///{work / 'baseline.db'}",
                    },
                    start_timeout=120.0,
                )
            )
        stack = Stack(services, stack_env, work / "stack")
        ready = stack.start(report=lambda line: None)
        print(
            f"  ready: this service in {ready['api']:.1f} s (uvicorn, {workers} worker(s), micro-batching); "
            f"floor in {ready['floor']:.1f} s; mlflow models serve in {ready['mlflow-serve']:.1f} s "
            f"(uvicorn, {workers} worker(s) each)",
            flush=True,
        )

        ours_url = f"http://127.0.0.1:{ours_port}/v1/pipelines/{PIPELINE}/predict"
        theirs_url = f"{theirs_base}/invocations"
        ours_headers = {"Content-Type": "application/json", "X-API-Key": key}
        theirs_headers = {"Content-Type": "application/json"}
        client = httpx.Client(timeout=120)

        def ask_ours(batch: list[dict], url: str = ours_url) -> dict:
            reply = client.post(url, content=orjson.dumps({"rows": batch}), headers=ours_headers)
            if reply.status_code != 200:
                raise SystemExit(f"{url} answered {reply.status_code}: {reply.text[:1000]}")
            return reply.json()

        def ask_theirs(batch: list[dict]) -> list[dict]:
            body = orjson.dumps({"dataframe_records": batch})
            reply = client.post(theirs_url, content=body, headers=theirs_headers)
            if reply.status_code != 200:
                raise SystemExit(f"mlflow models serve answered {reply.status_code}: {reply.text[:1000]}")
            return reply.json()["predictions"]

        # Fairness: the same rows give the same numbers on both servers.
        row = rows[0]
        answer = ask_ours([row])
        if answer["model_version"] != "1":
            raise SystemExit(f"this service serves version {answer['model_version']}, not 1")
        single, names = max_diff(answer["predictions"], ask_theirs([row]))
        every, _ = max_diff(ask_ours(rows)["predictions"], ask_theirs(rows))
        if max(single, every) > TOLERANCE:
            raise SystemExit(
                f"fairness check failed: predictions differ by {max(single, every):.3g} (> {TOLERANCE})"
            )
        print(
            f"  fairness: same predictions from both ({', '.join(names)}): max |diff| {single:.1e} on the "
            f"benchmark row, {every:.1e} over all {len(rows)} feature rows (tolerance {TOLERANCE:.0e})",
            flush=True,
        )

        # 1. single-row requests under load, one server at a time, the servers taking turns
        ours_body = orjson.dumps({"rows": [row]})
        scripts = {
            FLOOR: (f"{floor_base}/predict", wrk_script(work, "floor", ours_body, ours_headers)),
            OURS: (ours_url, wrk_script(work, "ours", ours_body, ours_headers)),
        }
        metrics = {OURS: f"http://127.0.0.1:{ours_port}/metrics"}
        scraped = f"scraped every {args.scrape_interval:g} s" if args.scrape_interval else None
        if scraped:
            scripts[scraped] = scripts[OURS]
        if args.baseline:
            base_url = f"http://127.0.0.1:{base_port}/v1/pipelines/{PIPELINE}/predict"
            ask_ours([row], base_url)
            scripts[baseline] = (base_url, wrk_script(work, "baseline", ours_body, ours_headers))
            metrics[baseline] = f"http://127.0.0.1:{base_port}/metrics"
        for url, script in scripts.values():
            load(url, script, args.connections, WARMUP_SECONDS)
        results: dict[str, list[LoadResult]] = {name: [] for name in scripts}
        calls: dict[str, dict[float, float]] = {name: {} for name in metrics}
        names_in_turn = list(scripts)
        for i in range(args.runs):
            turn = names_in_turn[i % len(names_in_turn) :] + names_in_turn[: i % len(names_in_turn)]
            for name in turn:
                url, script = scripts[name]
                before = batch_buckets(metrics[name]) if name in metrics else {}
                with (
                    Scraper(metrics[OURS], args.scrape_interval)
                    if name == scraped
                    else contextlib.nullcontext()
                ):
                    r = load(url, script, args.connections, args.duration)
                results[name].append(r)
                if name in metrics:
                    for bound, count in batch_buckets(metrics[name]).items():
                        calls[name][bound] = calls[name].get(bound, 0.0) + count - before.get(bound, 0.0)
                print(
                    f"  run {i + 1} wrk {name}: {r.requests:,} requests, {r.rps:,.1f} req/s, "
                    f"p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, errors {r.errors}",
                    flush=True,
                )
        if args.profile:
            profile(
                stack.procs["api"].pid,
                args.profile,
                lambda: load(ours_url, scripts[OURS][1], args.connections, args.duration),
            )
        theirs_script = wrk_script(work, "mlflow", orjson.dumps({"dataframe_records": [row]}), theirs_headers)
        load(theirs_url, theirs_script, args.connections, WARMUP_SECONDS)
        mlflow_load = load(theirs_url, theirs_script, args.connections, args.duration)
        print(f"  wrk {THEIRS}: {mlflow_load.requests:,} requests, {mlflow_load.rps:,.1f} req/s", flush=True)

        # 2. the 10,000-row batch
        batch_frame = pd.DataFrame(rows, columns=columns).sample(BATCH_ROWS, replace=True, random_state=0)
        batch = json.loads(batch_frame.to_json(orient="records"))
        ours_batch_body = orjson.dumps({"rows": batch})
        theirs_body = orjson.dumps({"dataframe_records": batch})

        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
        import mlflow

        model = mlflow.pyfunc.load_model(MODEL_URI).unwrap_python_model()
        frame = pd.DataFrame(batch, columns=columns, dtype=float)  # the very values sent over HTTP
        batch_times = timed(
            {
                OURS: lambda: client.post(ours_url, content=ours_batch_body, headers=ours_headers),
                "in-process": lambda: model.predict_frame(frame),
            }
        )
        (ours_batch, replies), (in_process, _) = batch_times[OURS], batch_times["in-process"]
        for reply in replies:
            if reply.status_code != 200 or len(reply.json()["predictions"]) != BATCH_ROWS:
                raise SystemExit(f"this service answered {reply.status_code}: {reply.text[:1000]}")
        began = time.perf_counter()
        reply = client.post(theirs_url, content=theirs_body, headers=theirs_headers)
        theirs_batch = time.perf_counter() - began
        if reply.status_code != 200:
            raise SystemExit(f"mlflow models serve answered {reply.status_code}: {reply.text[:1000]}")
        batch_diff, _ = max_diff(ask_ours(batch)["predictions"], reply.json()["predictions"])
        local_diff, _ = max_diff(
            ask_ours(batch)["predictions"], model.predict_frame(frame).to_dict("records")
        )
        client.close()
    finally:
        if stack is not None:
            stack.stop(report=lambda line: None)
        if args.keep:
            print(f"  kept {work} (server logs in {work / 'stack' / 'logs'})")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        f"single-row requests, {args.connections} connections, {args.duration} s per server and run, "
        f"{args.runs} run(s), servers taking turns (wrk)"
    )
    print(
        f"{'run':<5}{'server':<24}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'errors':>8}{'of floor':>10}"
    )
    for i in range(args.runs):
        floor_rps = results[FLOOR][i].rps
        for name in results:
            r = results[name][i]
            print(
                f"{i + 1:<5}{name:<24}{r.rps:>10,.1f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.requests:>10,}"
                f"{r.errors:>8}{r.rps / floor_rps:>10.1%}"
            )
    floor_median = median_result(results[FLOOR])[0]
    for name in results:
        rps, p50, p99 = median_result(results[name])
        print(f"{'med.':<5}{name:<24}{rps:>10,.1f}{p50:>9.1f}{p99:>9.1f}{'':>18}{rps / floor_median:>10.1%}")
    ours = results[OURS]
    share = statistics.median(r.rps / f.rps for r, f in zip(ours, results[FLOOR], strict=True))
    worst_p99 = max(r.p99_ms for r in ours)
    print(
        f"this service / floor (median of the runs' ratios): {share:.1%} (goal ≥ 30%: "
        f"{'yes' if share >= 0.30 else 'no'}); p99 ≤ 25 ms in every run: "
        f"{'yes' if worst_p99 <= 25 else 'no'} (worst {worst_p99:.1f} ms)"
    )
    if args.baseline:
        gains = [r.rps / b.rps for r, b in zip(ours, results[baseline], strict=True)]
        print(
            f"A/B: this tree / {args.baseline}: req/s ×{statistics.median(gains):.3f} (median of the runs' "
            f"ratios; per run {', '.join(f'{g:.3f}' for g in gains)}); p99 median "
            f"{median_result(ours)[2]:.1f} vs {median_result(results[baseline])[2]:.1f} ms"
        )
    if scraped:
        costs = [r.rps / o.rps for r, o in zip(results[scraped], ours, strict=True)]
        print(
            f"scraped / not scraped (same server): req/s ×{statistics.median(costs):.3f} (median of the runs' "
            f"ratios; per run {', '.join(f'{c:.3f}' for c in costs)}); p99 median "
            f"{median_result(results[scraped])[2]:.1f} vs {median_result(ours)[2]:.1f} ms"
        )
    ours_median = median_result(ours)[0]
    print(
        f"{THEIRS} (one run, for context): {mlflow_load.rps:,.1f} req/s, p50 {mlflow_load.p50_ms:.1f} ms, "
        f"p99 {mlflow_load.p99_ms:.1f} ms; this service ×{ours_median / mlflow_load.rps:.1f}"
    )
    for name, counted in calls.items():
        total = counted.get(float("inf"), 0.0)
        predicted = sum(r.requests for r in results[name])
        print()
        print(
            f"micro-batches of {name} under that load ({BATCH_METRIC}, all runs): {total:,.0f} model calls "
            f"for {predicted:,} single-row requests wrk completed, {predicted / total if total else 0:.2f} "
            "rows per call"
        )
        print(batch_distribution(counted))
    print()
    batch_share = in_process / ours_batch
    print(f"{BATCH_ROWS:,}-row batch (one request; median of {REPEATS} unless noted)")
    print(f"{'':<30}{'seconds':>9}{'rows/s':>12}{'vs in-process':>15}")
    for label, seconds in (
        ("in-process predict_frame", in_process),
        ("this service (HTTP)", ours_batch),
        ("mlflow models serve (HTTP, 1×)", theirs_batch),
    ):
        print(f"{label:<30}{seconds:>9.3f}{BATCH_ROWS / seconds:>12,.0f}{in_process / seconds:>14.0%}")
    print(
        f"this service / in-process: {batch_share:.0%} (goal ≥ 50%: {'yes' if batch_share >= 0.5 else 'no'})"
    )
    print(
        f"same batch, max |diff| of this service's predictions: vs MLflow {batch_diff:.1e}, "
        f"vs in-process {local_diff:.1e}"
    )
    if max(batch_diff, local_diff) > TOLERANCE:
        failed = True
        print(f"PREDICTIONS DIFFER on the batch by more than {TOLERANCE:.0e}: the comparison is not fair")
    for name, loads in [*results.items(), (THEIRS, [mlflow_load])]:
        for i, r in enumerate(loads):
            if r.errors:
                failed = True
                print(
                    f"ERRORS under load on {name} (run {i + 1}): {r.non_2xx} non-2xx responses, "
                    f"{r.socket_errors} socket errors; its figures above are not valid"
                )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
