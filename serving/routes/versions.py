"""The versions of a task's model: the leaderboard analysts compare, and rolling the champion back."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import dagster as dg
from fastapi import APIRouter, Path, Request

from events.bus import BrokerUnavailable
from resources.mlflow_registry import MlflowUnavailable
from serving.dagster_api import DagsterUnavailable
from serving.deps import Admin, JsonBody, PlatformDep, Predictor, SpecDep, resolve_task
from serving.platform import Platform
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
    model = spec.registered_model_name(chosen)
    champion, found = await asyncio.to_thread(platform.versions.versions, model)
    gates = sorted({g.name for v in found for g in v.gates})
    error = None
    if gates:
        try:
            messages = await platform.dagster_api.check_messages(
                [spec.name, f"{chosen.name}_evaluation"], gates
            )
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


def roll_back(platform: Platform, model: str, to_version: str | None) -> tuple[str, str]:
    """(previous champion, new champion): `champion` moved back to the previous champion or `to_version`,
    through the registry's promotion (which checks the version's artifacts first), tagged with where it
    came from; as `mlops rollback` does."""
    registry = platform.registry
    current = registry.champion(model)
    if current is None:
        raise Problem(409, f"'{model}' has no champion to roll back")
    previous = str(current.version)
    client = registry.client()
    if to_version is not None:
        known = {str(v.version) for v in client.search_model_versions(f"name='{model}'")}
        if to_version not in known:
            raise Problem(
                404, f"'{model}' has no version {to_version}; versions: {', '.join(sorted(known, key=int))}"
            )
        if to_version == previous:
            raise Problem(409, f"version {to_version} is already the champion of '{model}'")
        target = to_version
    else:
        promoted = [
            v
            for v in client.search_model_versions(f"name='{model}'")
            if v.tags.get("promoted_at") and str(v.version) != previous
        ]
        if not promoted:
            raise Problem(409, f"'{model}': no earlier champion than version {previous}; name a version")
        target = str(max(promoted, key=lambda v: v.tags["promoted_at"]).version)
    try:
        registry.promote(model, target, tags={"rolled_back_from": previous})
    except dg.Failure as exc:
        if isinstance(exc, MlflowUnavailable):
            raise
        raise Problem(409, exc.description or str(exc)) from None
    return previous, target


@router.post(
    "/{pipeline}/models/{task}/rollback",
    summary="Move the champion back to the previous champion, or to a given version",
    description="The same operation as `mlops rollback`: the version's artifacts are checked, the `champion` "
    "alias moves, and `model.promoted` is announced so every API instance serves it at once.",
    dependencies=[JsonBody],
    responses={
        404: {"description": "No such pipeline or version"},
        409: {"description": "Nothing to roll back to, already the champion, or unusable artifacts"},
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
    model = spec.registered_model_name(chosen)
    try:
        previous, version = await asyncio.to_thread(roll_back, platform, model, body.to_version)
    except MlflowUnavailable as exc:
        raise unavailable(exc.description or str(exc), platform.serving.retry_after_seconds) from None
    payload = {"pipeline": spec.name, "task": chosen.name, "model": model, "version": version}
    try:
        await asyncio.to_thread(
            platform.events.publish, "model.promoted", payload, request.scope["state"].get("trace_id")
        )
        announced = True
    except BrokerUnavailable:
        announced = False  # every instance still finds it at its next registry refresh
    platform.champions.wake((spec.name, chosen.name))  # this instance at once, whatever the broker does
    log.info("%s rolled %s back from version %s to %s", caller.name, model, previous, version)
    return RollbackResult(
        pipeline=spec.name,
        task=chosen.name,
        model=model,
        previous_version=previous,
        version=version,
        announced=announced,
    )
