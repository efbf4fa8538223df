"""`POST /v1/feedback`: the observed value for a prediction, stored, then announced as
`feedback.recorded` so the next training can use it (re-sent later if the broker is away)."""

from __future__ import annotations

import asyncio
import json
import uuid

from fastapi import APIRouter, Request

from pipelines.spec import TabularSpec
from pipelines.tabular_parsing import normal_label
from serving.deps import JsonBody, PlatformDep, Predictor
from serving.platform import Platform
from serving.problems import Problem
from serving.schemas import FeedbackAccepted, FeedbackRequest

router = APIRouter(prefix="/v1", tags=["feedback"])


def observed_value(platform: Platform, record: dict, target: str, observed: float | str) -> float:
    """The observation as a number: a tabular classifier's class label becomes its class index (what the
    prediction log holds); any other output takes numbers only."""
    spec = platform.specs.get(record["pipeline"])
    task = spec.task(record["task"]) if isinstance(spec, TabularSpec) else None
    if task is None or task.kind != "classification" or target != task.target:
        if isinstance(observed, str):
            raise Problem(422, f"observed for '{target}' is a number")
        return float(observed)
    champion = platform.champions.get(spec.name, task.name)
    classes = champion.model.classes if champion is not None else list(spec.column(task.target).allowed or [])
    if isinstance(observed, str):
        label = normal_label(observed)
        if label not in classes:
            raise Problem(
                422, f"observed: '{observed}' is not a class of {task.target}; classes: {', '.join(classes)}"
            )
        return float(classes.index(label))
    if observed not in range(len(classes)):
        raise Problem(422, f"observed: give the class label (one of {', '.join(classes)})")
    return float(observed)


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
    observed = observed_value(platform, record, target, body.observed)
    if target == "probability" and observed not in (0.0, 1.0):
        raise Problem(422, "for an exceedance probability, observed is 1 (exceeded) or 0 (not exceeded)")
    stored = await asyncio.to_thread(
        platform.store.record_feedback,
        {
            "prediction_id": body.prediction_id,
            "target": target,
            "pipeline": record["pipeline"],
            "model_version": record["version"],
            "predicted": outputs[target][row],
            "observed": observed,
            "event_id": str(uuid.uuid4()),
            "trace_id": request.scope["state"].get("trace_id"),
        },
    )
    published = await asyncio.to_thread(platform.publish_feedback, stored)
    return FeedbackAccepted(
        prediction_id=body.prediction_id,
        target=target,
        observed=observed,
        predicted=stored["predicted"],
        model_version=stored["model_version"],
        event_id=stored["event_id"],
        published=published,
    )
