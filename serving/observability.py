"""Request ids, trace ids, JSON logs and Prometheus metrics for every request.

`RequestContext` is a plain ASGI middleware (no per-request task or body copy): it names the request
(`X-Request-ID`, or a new one), continues the caller's trace (`traceparent` or `X-Trace-ID`, or a new one),
puts both on the response and in every log line written while the request runs, and records the request in
the metrics under its route template and in the access log (`AccessLog`: every request's line, written in
batches at most 0.2 s late; a server error's at once). (Body size limits are FastAPI's own `max_body_size`.)"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
import os
import random
import re
import sys
import time
from typing import Any

import orjson
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.problems import problem_body

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
TRACE_ID: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")

# A request's pipeline, task and model version: the champion that answered it (set by the predict route in
# the request's `state` as SERVED_BY), else the pipeline in its path; empty for routes of no pipeline.
REQUEST_LABELS = ["method", "route", "status", "pipeline", "task", "model_version"]
SERVED_BY = "served_by"
REQUESTS = Counter("mlops_api_requests_total", "HTTP requests", REQUEST_LABELS)
# Buckets around the 25 ms goal are close enough for a p99 near it to be read (and alerted on) exactly.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.015,
    0.02,
    0.025,
    0.03,
    0.04,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)
LATENCY = Histogram(
    "mlops_api_request_duration_seconds",
    "Time from request to response",
    [label for label in REQUEST_LABELS if label != "status"],
    buckets=LATENCY_BUCKETS,
)
PREDICTIONS = Counter("mlops_api_predictions_total", "Rows predicted", ["pipeline", "task", "model_version"])
BATCH_ROWS = Histogram(
    "mlops_api_batch_rows",
    "Rows per model call (micro-batches and batch requests)",
    ["pipeline", "task"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 10_000, 50_000),
)
MODEL_LOADS = Counter(
    "mlops_api_model_loads_total", "Champion loads and swaps", ["pipeline", "task", "outcome"]
)
MODEL_LOAD_SECONDS = Histogram(
    "mlops_api_model_load_duration_seconds",
    "Time to load a model version",
    ["pipeline", "task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
FORECAST_SERVED_BY_MODEL = Gauge(
    "mlops_api_forecast_served_by_model",
    "1 when the champion's model serves the target, 0 when the seasonal-naive baseline does",
    ["pipeline", "task", "target"],
    multiprocess_mode="livemostrecent",
)
MODEL_VERSION = Gauge(
    "mlops_api_model_version",
    "Champion version being served",
    ["pipeline", "task"],
    multiprocess_mode="livemostrecent",  # with several workers: the version the latest swap loaded
)


def _pooled() -> bool:
    """Whether this process's metrics go to a pool shared with other workers (`mlops serve` with several
    sets PROMETHEUS_MULTIPROC_DIR)."""
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ


def metrics_registry() -> CollectorRegistry:
    """What /metrics reports: this process's metrics, or every worker's from the pool."""
    if not _pooled():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def leave_metrics_pool() -> None:
    """A stopping worker's live gauges (the model versions it served) leave the pool."""
    if _pooled():
        multiprocess.mark_process_dead(os.getpid())


def new_trace_id() -> str:
    """128 random bits in hex (W3C trace id form); `random` (re-seeded in each forked worker) instead of
    uuid4, which asks the kernel for bytes on every request."""
    return f"{random.getrandbits(128):032x}"


def log_entry(created: float, level: str, logger: str, message: str, **fields: Any) -> dict[str, Any]:
    """One log line's fields, in the order every line has them."""
    return {
        "time": dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "message": message,
        "request_id": fields.pop("request_id", None) or REQUEST_ID.get(),
        "trace_id": fields.pop("trace_id", None) or TRACE_ID.get(),
        **fields,
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request and trace id of the request being served."""

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: getattr(record, k) for k in ("request_id", "trace_id") if getattr(record, k, None)}
        entry = log_entry(record.created, record.levelname.lower(), record.name, record.getMessage(), **extra)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


_stderr = logging.StreamHandler(sys.stderr)
_stderr.setFormatter(JsonFormatter())


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the service and uvicorn (whose access log is replaced by ours)."""
    for name in ("mlops", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [_stderr]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True


class AccessLog:
    """One JSON line per request on the service's log stream, written in batches: the lines of `every`
    seconds in one write, not one write (and one `logging` record) per request. A server error's line is
    written at once, with the lines before it."""

    logger = "mlops.api.access"

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self._lines: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, entry: dict[str, Any], status: int) -> None:
        self._lines.append(orjson.dumps(entry, default=str))
        if status >= 500:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.every, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        text = b"\n".join(self._lines).decode() + "\n"
        self._lines = []
        _stderr.acquire()  # the lock `logging` takes: lines of other threads never land inside ours
        try:
            _stderr.stream.write(text)
            _stderr.flush()
        finally:
            _stderr.release()


access_log = AccessLog()
_request_metrics: dict[tuple[str, str, int, tuple[str, str, str]], tuple[Any, Any]] = {}


def served_by(scope: Scope) -> tuple[str, str, str]:
    """The pipeline, task and model version a request was served by (see SERVED_BY)."""
    served = scope["state"].get(SERVED_BY)
    if served is not None:
        return served
    return (scope.get("path_params", {}).get("pipeline", ""), "", "")


def _observe(method: str, route: str, status: int, served: tuple[str, str, str], seconds: float) -> None:
    """Count and time one request (the labelled series looked up once per label set)."""
    key = (method, route, status, served)
    series = _request_metrics.get(key)
    if series is None:
        series = _request_metrics[key] = (
            REQUESTS.labels(method, route, str(status), *served),
            LATENCY.labels(method, route, *served),
        )
    series[0].inc()
    series[1].observe(seconds)


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        headers = {k: v for k, v in scope["headers"]}
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else new_trace_id()
        trace_id = _trace_id(headers)
        REQUEST_ID.set(request_id)
        TRACE_ID.set(trace_id)
        scope.setdefault("state", {})["trace_id"] = trace_id
        extra = [(b"x-request-id", request_id.encode()), (b"x-trace-id", trace_id.encode())]
        status = 500
        replaced = False

        async def send_with_ids(message: Message) -> None:
            nonlocal status, replaced
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 413 and (b"content-type", b"text/plain; charset=utf-8") in message["headers"]:
                    # FastAPI's body limit answers in plain text; our clients get problem+json.
                    replaced = True
                    body = problem_body(
                        413, "the request body is larger than this route accepts", scope["path"]
                    )
                    message = {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [
                            (b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()),
                            *extra,
                        ],
                    }
                    await send(message)
                    await send({"type": "http.response.body", "body": body})
                    return
                message["headers"] = [*message.get("headers", []), *extra]
            elif replaced:
                return
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            elapsed = time.perf_counter() - began
            method, path = scope["method"], scope["path"]
            _observe(method, template, status, served_by(scope), elapsed)
            if template != "/metrics":
                access_log.add(
                    log_entry(
                        time.time(), "info", AccessLog.logger, f"{method} {path} {status}",
                        request_id=request_id, trace_id=trace_id, method=method, path=path,
                        route=template, status=status, duration_ms=round(elapsed * 1000, 2),
                        client=(scope.get("client") or ("-",))[0],
                    ),
                    status,
                )  # fmt: skip


def _trace_id(headers: dict[bytes, bytes]) -> str:
    parent = _TRACEPARENT.match(headers.get(b"traceparent", b"").decode("latin-1"))
    if parent:
        return parent.group(1)
    given = headers.get(b"x-trace-id", b"").decode("latin-1")
    return given if _SAFE_ID.match(given) else new_trace_id()
