"""The versions of a task's model: the leaderboard analysts compare, and rolling the champion back."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Path, Request

from pipelines.keys import PipelineKeys
from resources.mlflow_registry import PromotionRefused
from resources.promotion import rollback_champion
from resources.unavailable import ServiceUnavailable
from serving.dagster_api import DagsterUnavailable
from serving.deps import Admin, JsonBody, PlatformDep, Predictor, SpecDep, resolve_task
from serving.problems import Problem, unavailable
from serving.read_models import ModelVersions, RollbackRequest, RollbackResult

router = APIRouter(prefix="/v1/pipelines", tags=["models"])
log = logging.getLogger("mlops.api")
TaskPath = Annotated[str, Path(max_length=128, description="A task of the pipeline, e.g. `forecast`.")]


@router.get(
    "/{pipeline}/models/{task}/versions",
    summary="Every registered version of a task's model: holdout metrics, gates, tags, champion",
    description="Newest first. Gate verdicts come from the versions' `gate.*` tags; what each gate said "
    "comes from Dagster's asset checks (left out, and `gate_messages_error` says why, when Dagster is away).",
    responses={404: {"description": "No such pipeline"}, 422: {"description": "No such task"}},
)
async def versions(spec: SpecDep, platform: PlatformDep, caller: Predictor, task: TaskPath) -> ModelVersions:
    chosen = resolve_task(spec, task)
    keys = PipelineKeys(spec)
    model = keys.model_name(chosen)
    champion, found = await asyncio.to_thread(platform.versions.versions, model)
    gates = sorted({g.name for v in found for g in v.gates})
    error = None
    if gates:
        try:
            messages = await platform.dagster_api.check_messages(list(keys.evaluation(chosen)), gates)
        except DagsterUnavailable as exc:
            messages, error = {}, str(exc)
        for version in found:
            said = messages.get(version.tags.get("dagster.run_id", ""), {})
            for gate in version.gates:
                gate.message = said.get(gate.name)
    return ModelVersions(
        pipeline=spec.name,
        task=chosen.name,
        kind=chosen.kind,
        model=model,
        champion_version=champion,
        gate_messages_error=error,
        versions=found,
    )


@router.post(
    "/{pipeline}/models/{task}/rollback",
    summary="Move the champion back to the previous champion, or to a given version",
    description="The same operation as `mlops rollback`: the version's artifacts are checked, the `champion` "
    "alias moves, and `model.promoted` is announced so every API instance serves it at once.",
    dependencies=[JsonBody],
    responses={
        404: {"description": "No such pipeline"},
        409: {
            "description": "No such version, nothing to roll back to, already the champion, or unusable files"
        },
        422: {"description": "No such task"},
        503: {"description": "The registry is unreachable"},
    },
)
async def rollback(
    body: RollbackRequest,
    spec: SpecDep,
    platform: PlatformDep,
    caller: Admin,
    task: TaskPath,
    request: Request,
) -> RollbackResult:
    chosen = resolve_task(spec, task)
    trace_id = request.scope["state"].get("trace_id")
    try:
        done = await asyncio.to_thread(
            rollback_champion, platform.registry, platform.events, spec, chosen, body.to_version, trace_id
        )
    except PromotionRefused as exc:
        raise Problem(409, str(exc)) from None
    except ServiceUnavailable as exc:
        raise unavailable(str(exc), platform.serving.retry_after_seconds) from None
    platform.champions.wake((spec.name, chosen.name))  # this instance at once, whatever the broker did
    change = done.change
    log.info(
        "%s rolled %s back from version %s to %s", caller.name, change.model, change.previous, change.version
    )
    return RollbackResult(
        pipeline=spec.name,
        task=chosen.name,
        model=change.model,
        previous_version=change.previous or "",
        version=change.version,
        announced=done.event is not None,
    )
