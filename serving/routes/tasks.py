"""`GET /v1/tasks/{id}`: what became of an upload or a retraining request, from Dagster's GraphQL API."""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx
from fastapi import APIRouter, Path

from events.tags import EVENT_ID_TAG
from resources.events import RabbitEventBus
from serving.deps import PlatformDep, Predictor
from serving.problems import Problem, unavailable
from serving.schemas import TaskStatus

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
RUN_FOR_EVENT = """
query RunForEvent($filter: RunsFilter!) {
  runsOrError(filter: $filter, limit: 1) {
    __typename
    ... on Runs { results { runId status startTime endTime } }
    ... on PythonError { message }
  }
}
"""
STATUS = {
    "QUEUED": "queued",
    "NOT_STARTED": "queued",
    "MANAGED": "queued",
    "STARTING": "starting",
    "STARTED": "running",
    "CANCELING": "running",
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "CANCELED": "canceled",
}


@router.get(
    "/{task_id}",
    summary="The status of an upload or retraining task (its Dagster run)",
    responses={404: {"description": "No such task"}, 503: {"description": "Dagster is unreachable"}},
)
async def task_status(
    task_id: Annotated[str, Path(max_length=64)], platform: PlatformDep, caller: Predictor
) -> TaskStatus:
    task = await asyncio.to_thread(platform.store.task, task_id)
    if task is None:
        raise Problem(404, f"no task '{task_id}'")
    variables = {"filter": {"tags": [{"key": EVENT_ID_TAG, "value": task_id}]}}
    try:
        reply = await platform.dagster.post("/graphql", json={"query": RUN_FOR_EVENT, "variables": variables})
        reply.raise_for_status()
        result = reply.json()["data"]["runsOrError"]
    except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
        raise unavailable(
            f"Dagster at {platform.serving.dagster_url} did not answer: {type(exc).__name__}: {exc}",
            platform.serving.retry_after_seconds,
        ) from None
    if result.get("__typename") != "Runs":
        raise unavailable(
            f"Dagster could not list runs: {result.get('message', result)}",
            platform.serving.retry_after_seconds,
        )
    status = TaskStatus(
        task_id=task_id,
        kind=task["kind"],
        pipeline=task["pipeline"],
        created_at=task["created_at"],
        status="pending",
        detail=task["detail"],
    )
    runs = result["results"]
    if not runs:
        status.note = (
            "waiting for the event_runs sensor to start a run"
            if isinstance(platform.events, RabbitEventBus)
            else "events go to a file in this profile and no sensor consumes them: set "
            "MLOPS_EVENTS_BACKEND=rabbitmq (or MLOPS_PROFILE=services) for uploads and retraining to run"
        )
        return status
    run = runs[0]
    status.status = STATUS.get(run["status"], "running")
    status.run_id = run["runId"]
    status.run_url = f"{platform.serving.dagster_url.rstrip('/')}/runs/{run['runId']}"
    if run.get("startTime"):
        status.started_at = run["startTime"]
    if run.get("endTime"):
        status.ended_at = run["endTime"]
    return status
