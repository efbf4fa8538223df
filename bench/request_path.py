"""Benchmark: the API's own CPU per single-row predict request (the ASGI app called directly: no server, no
network, no load generator), this working tree against a git ref, in alternating rounds in one run.

Under wrk on a shared two-core machine one run of a few seconds varies by ±25%, so changes of ~10% in
the request path are measured here: each round starts a fresh process per side, warms it up, then serves
`--requests` requests from `--concurrency` concurrent callers (so the micro-batcher batches as under
load); the figure is the process's CPU time per request (all its threads: the prediction log's writer
too), which other load on the machine disturbs less than wall time. Needs a data dir with air_quality trained (e.g. the `--data`
of bench/serving_vs_mlflow.py).

    .venv/bin/python bench/request_path.py --data DIR --baseline REF [--rounds 5] [--requests 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATH = "/v1/pipelines/air_quality/predict"


def worker(src: Path, data: Path, requests: int, concurrency: int) -> None:
    """Serve the requests in this process with the app from `src`; print CPU microseconds per request."""
    sys.path.insert(0, str(src))
    import orjson

    from serving.auth import add_key
    from serving.main import create_app

    sys.path.insert(0, str(src / "bench"))  # the side's own helpers: they put their tree first on the path
    from serving_vs_mlflow import request_rows

    key, _ = add_key(data / "api" / "keys.yaml", "request-path-bench", ["predict"])
    _, rows = request_rows(data)
    body = orjson.dumps({"rows": [rows[0]]})
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"x-api-key", key.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    app = create_app()

    async def one() -> int:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"", "root_path": "",
            "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        }  # fmt: skip
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status = []

        async def receive() -> dict:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the client stays connected

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        return status[0]

    async def caller(n: int) -> None:
        for _ in range(n):
            if await one() != 200:
                raise SystemExit("the API did not answer 200")

    async def main() -> None:
        async with app.router.lifespan_context(app):
            await caller(300)
            began = time.process_time()
            await asyncio.gather(*[caller(requests // concurrency) for _ in range(concurrency)])
            elapsed = time.process_time() - began
        print(f"{elapsed / (requests // concurrency * concurrency) * 1e6:.1f}")

    asyncio.run(main())


def side(src: Path, data: Path, work: Path, args: argparse.Namespace) -> float:
    from serving_vs_mlflow import clean_env

    env = clean_env(data)
    env.update(MLOPS_API_DATABASE_URL=f"sqlite:///{work / 'predictions.db'}", PYTHONPATH=str(src))
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(src), "--data", str(data),
         "--requests", str(args.requests), "--concurrency", str(args.concurrency)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{src}: failed\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="data dir with air_quality trained")
    parser.add_argument(
        "--baseline", metavar="REF", help="git ref to compare with (default: this tree alone)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = args.data.resolve()
    if args.worker:
        worker(args.worker, data, args.requests, args.concurrency)
        return 0
    sys.path.insert(0, str(ROOT))
    from bench.serving_vs_mlflow import checkout

    with tempfile.TemporaryDirectory(prefix="bench-request-path-") as tmp:
        work = Path(tmp)
        sides = {"this tree": ROOT}
        if args.baseline:
            sides[args.baseline] = checkout(args.baseline, work / "baseline")
        times: dict[str, list[float]] = {name: [] for name in sides}
        print(
            f"{args.requests} single-row predict requests per round, {args.concurrency} concurrent callers, "
            f"ASGI app called directly; load average {os.getloadavg()[0]:.2f} at start"
        )
        for i in range(args.rounds):
            order = list(sides) if i % 2 == 0 else list(reversed(sides))
            for name in order:
                times[name].append(side(sides[name], data, work, args))
            print(
                f"  round {i + 1}: " + ", ".join(f"{n} {times[n][-1]:.0f} µs CPU" for n in sides), flush=True
            )
    for name, values in times.items():
        print(
            f"{name:<12} median {statistics.median(values):.0f} µs CPU per request ({', '.join(f'{v:.0f}' for v in values)})"
        )
    if args.baseline:
        ratios = [a / b for a, b in zip(times["this tree"], times[args.baseline], strict=True)]
        print(
            f"this tree / {args.baseline}: CPU per request ×{statistics.median(ratios):.3f} (median of the "
            f"rounds' ratios; per round {', '.join(f'{r:.3f}' for r in ratios)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
