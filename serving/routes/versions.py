"""The versions of a task's model: the leaderboard analysts compare, and rolling the champion back."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path

from serving.dagster_api import DagsterUnavailable
from serving.deps import PlatformDep, Predictor, SpecDep, resolve_task
from serving.read_models import ModelVersions

router = APIRouter(prefix="/v1/pipelines", tags=["models"])
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
