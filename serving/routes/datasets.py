"""Work handed to Dagster through events: a dataset upload (`dataset.landed`) and a retraining request
(`training.requested`). Both answer 202 with a task to follow at `/v1/tasks/{id}`."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile

from events.envelope import DatasetLanded, Envelope, TrainingRequested
from pipelines.models import requested_candidate
from pipelines.spec import AnySpec
from resources.unavailable import ServiceUnavailable
from serving.auth import Caller
from serving.config import get_serving_settings
from serving.deps import Admin, JsonBody, PlatformDep, SpecDep, resolve_task
from serving.platform import Platform
from serving.problems import Problem, unavailable
from serving.schemas import Accepted, TrainingRequest
from serving.uploads import check_upload

router = APIRouter(prefix="/v1/pipelines", tags=["datasets and training"])
ACCEPTED = {
    409: {"description": "The pipeline does not take this"},
    413: {"description": "Body over the limit"},
    415: {"description": "Wrong content type"},
    422: {"description": "Invalid request (the problem is named)"},
    503: {"description": "The broker is unreachable: retry after `Retry-After` seconds"},
}


async def announce(
    platform: Platform, request: Request, caller: Caller, spec: AnySpec, kind: str, payload, detail: dict
) -> Accepted:
    """Publish the event (confirmed by the broker) and remember the task; 503 if the broker is away."""
    trace_id = request.scope["state"].get("trace_id")
    try:
        envelope: Envelope = await asyncio.to_thread(
            platform.events.publish, kind, payload.model_dump(mode="json"), trace_id
        )
    except ServiceUnavailable as exc:
        raise unavailable(
            f"the event broker is unreachable, nothing was started: {exc}",
            platform.serving.retry_after_seconds,
        ) from None
    await asyncio.to_thread(
        platform.store.add_task, envelope.id, kind, spec.name, detail, caller.name, envelope.trace_id
    )
    return Accepted(
        task_id=envelope.id,
        status_url=f"/v1/tasks/{envelope.id}",
        event=kind,
        trace_id=envelope.trace_id,
        detail=detail,
    )


@router.post(
    "/{pipeline}/datasets",
    status_code=202,
    summary="Upload a CSV or Parquet file to the landing area and ingest it",
    description="The file is sniffed (not trusted by name), parsed with the pipeline's spec, stored under a "
    "new safe name and announced with `dataset.landed`; the run it starts ingests it, retrains and promotes.",
    responses=ACCEPTED,
    max_body_size=get_serving_settings().max_upload_bytes,
)
async def upload_dataset(
    spec: SpecDep,
    platform: PlatformDep,
    caller: Admin,
    request: Request,
    file: Annotated[UploadFile, File(description="CSV in the spec's declared format, or Parquet.")],
) -> Accepted:
    content = await file.read()
    checked = await asyncio.to_thread(check_upload, content, file.filename, spec)
    target = platform.landing.path(spec.source.prefix or spec.name, checked.object_name)
    try:
        await asyncio.to_thread(_write, target, content)
    except OSError as exc:
        raise unavailable(
            f"the landing area {platform.landing.base_uri} cannot be written: {exc}",
            platform.serving.retry_after_seconds,
        ) from None
    payload = DatasetLanded(pipeline=spec.name, uri=str(target), start=checked.start, end=checked.end)
    detail = {
        "uri": str(target),
        "original_name": file.filename,
        "kind": checked.kind,
        "rows": checked.rows,
        "start": checked.start.isoformat() if checked.start else None,
        "end": checked.end.isoformat() if checked.end else None,
        "stations": checked.stations,
    }
    try:
        return await announce(platform, request, caller, spec, "dataset.landed", payload, detail)
    except Problem:
        await asyncio.to_thread(target.unlink)  # not announced: leave nothing half-landed
        raise


def _write(target, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


@router.post(
    "/{pipeline}/training",
    status_code=202,
    summary="Retrain a task, with the spec's candidates or one algorithm and its parameters",
    dependencies=[JsonBody],
    responses=ACCEPTED,
)
async def request_training(
    body: TrainingRequest, spec: SpecDep, platform: PlatformDep, caller: Admin, request: Request
) -> Accepted:
    task = resolve_task(spec, body.task)
    try:
        requested_candidate(spec, task, body.algorithm, body.params, body.search)
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    payload = TrainingRequested(
        pipeline=spec.name, task=task.name, algorithm=body.algorithm, params=body.params, search=body.search
    )
    return await announce(
        platform, request, caller, spec, "training.requested", payload, payload.model_dump(mode="json")
    )
