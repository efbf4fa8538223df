"""`POST /v1/feedback`: the observed value for a prediction, stored, then announced as
`feedback.recorded` so the next training can use it (re-sent later if the broker is away)."""

from __future__ import annotations

import asyncio
import json
import uuid

from fastapi import APIRouter, Request

from serving.deps import JsonBody, PlatformDep, Predictor
from serving.problems import Problem
from serving.schemas import FeedbackAccepted, FeedbackRequest

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post(
    "/feedback",
    status_code=202,
    summary="Report the observed value for a prediction",
    dependencies=[JsonBody],
    responses={404: {"description": "No such prediction"}, 422: {"description": "Invalid target or value"}},
)
async def record_feedback(
    body: FeedbackRequest, platform: PlatformDep, caller: Predictor, request: Request
) -> FeedbackAccepted:
    request_id, _, row_text = body.prediction_id.partition(".")
    record = await asyncio.to_thread(platform.store.prediction, request_id)
    row = int(row_text)
    if record is None or row >= record["rows"]:
        raise Problem(404, f"no prediction '{body.prediction_id}'")
    outputs: dict[str, list] = json.loads(record["outputs"])
    points = [name for name in outputs if not name.endswith(("_lower", "_upper"))]
    target = body.target or (points[0] if len(points) == 1 else None)
    if target is None:
        raise Problem(
            422, f"this prediction has several outputs: name the target, one of {', '.join(points)}"
        )
    if target not in points:
        raise Problem(
            422, f"target '{target}' is not an output of this prediction; outputs: {', '.join(points)}"
        )
    if target == "probability" and body.observed not in (0.0, 1.0):
        raise Problem(422, "for an exceedance probability, observed is 1 (exceeded) or 0 (not exceeded)")
    stored = await asyncio.to_thread(
        platform.store.record_feedback,
        {
            "prediction_id": body.prediction_id,
            "target": target,
            "pipeline": record["pipeline"],
            "model_version": record["version"],
            "predicted": outputs[target][row],
            "observed": body.observed,
            "event_id": str(uuid.uuid4()),
            "trace_id": request.scope["state"].get("trace_id"),
        },
    )
    published = await asyncio.to_thread(platform.publish_feedback, stored)
    return FeedbackAccepted(
        prediction_id=body.prediction_id,
        target=target,
        observed=body.observed,
        predicted=stored["predicted"],
        model_version=stored["model_version"],
        event_id=stored["event_id"],
        published=published,
    )
