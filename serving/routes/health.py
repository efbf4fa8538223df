"""Open routes: liveness, readiness (what is loaded, what is reachable, what is degraded) and metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from events.bus import connect
from resources.events import RabbitEventBus
from resources.unavailable import ServiceUnavailable
from serving.deps import PlatformDep
from serving.observability import metrics_registry

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _broker_reachable(url: str) -> str | None:
    try:
        connect(url, timeout=2.0).close()
        return None
    except ServiceUnavailable as exc:
        return str(exc)


def _database_reachable(platform) -> str | None:
    try:
        platform.store.ping()
        return None
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"{type(exc).__name__}: {str(exc)[:200]}"


@router.get(
    "/readyz",
    summary="Models loaded and dependencies reachable",
    description="200 when every pipeline task with a champion in the registry has a model loaded; 503 when "
    "none is loaded. `degraded` names what is wrong while the service keeps serving its last good models.",
    responses={503: {"description": "Not ready: no model loaded"}},
)
async def readyz(platform: PlatformDep, response: Response) -> dict:
    champions = platform.champions.all()
    health = platform.champions.health
    models = {
        f"{p}.{t}": (
            {"version": champions[(p, t)].version, "loaded_at": champions[(p, t)].loaded_at.isoformat()}
            if (p, t) in champions
            else {"version": None, "error": health.load_errors.get(f"{p}.{t}", "no champion promoted yet")}
        )
        for p, t in platform.champions.tasks()
    }
    degraded: dict[str, str] = {}
    if health.mlflow_error:
        degraded["mlflow"] = (
            f"{platform.registry.tracking_uri}: {health.mlflow_error}; serving the last good models"
        )
    if isinstance(platform.events, RabbitEventBus):
        error = await asyncio.to_thread(_broker_reachable, platform.events.url)
        if error:
            degraded["broker"] = f"{error}; uploads and retraining answer 503, models refresh by polling"
        elif not health.broker_connected and health.broker_error:
            degraded["broker"] = f"model.promoted subscription reconnecting: {health.broker_error}"
    db_error = await asyncio.to_thread(_database_reachable, platform)
    if db_error:
        degraded["database"] = db_error
    if platform.broken_specs:
        degraded["specs"] = "skipped broken pipeline specs: " + "; ".join(
            f"{where}: {why.splitlines()[-1]}" for where, why in platform.broken_specs.items()
        )
    if platform.keys.error:
        degraded["api_keys"] = f"{platform.keys.error}; the last good keys stay in force"
    ready = bool(champions)
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = str(platform.serving.retry_after_seconds)
    return {
        "status": ("degraded" if degraded else "ready") if ready else "not ready",
        "models": models,
        "degraded": degraded,
        "last_refresh": health.last_refresh.isoformat() if health.last_refresh else None,
    }


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)
