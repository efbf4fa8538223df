"""What can be asked: the pipelines, their tasks, and the champion each task is served by."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from events.tags import CODE_VERSION_TAG, DATA_VERSION_PREFIX, PROMOTED_AT_TAG
from pipelines.keys import PipelineKeys
from pipelines.spec import AnySpec
from serving.deps import PlatformDep, Predictor, SpecDep
from serving.platform import Platform
from serving.schemas import PipelineModels, PipelineSummary, TaskModel

router = APIRouter(prefix="/v1/pipelines", tags=["pipelines"])


def task_models(platform: Platform, spec: AnySpec) -> list[TaskModel]:
    out = []
    for task in spec.tasks:
        champion = platform.champions.get(spec.name, task.name)
        base = TaskModel(
            name=task.name,
            kind=task.kind,
            model=PipelineKeys(spec).model_name(task),
            champion_version=None,
            latest_version=platform.versions.latest(PipelineKeys(spec).model_name(task)),
            load_error=platform.champions.health.load_errors.get(f"{spec.name}.{task.name}"),
        )
        if champion is not None:
            base = base.model_copy(
                update={
                    "champion_version": champion.version,
                    "loaded_at": champion.loaded_at,
                    "input_columns": list(champion.feature_columns),
                    "outputs": list(champion.outputs),
                    "sources": champion.sources,
                    "metrics": champion.metrics,
                    "data_versions": {
                        k.removeprefix(DATA_VERSION_PREFIX): v
                        for k, v in champion.tags.items()
                        if k.startswith(DATA_VERSION_PREFIX)
                    },
                    "code_version": champion.tags.get(CODE_VERSION_TAG),
                    "promoted_at": champion.tags.get(PROMOTED_AT_TAG),
                    "mlflow_run_id": champion.run_id,
                    "mlflow_run_url": champion.run_url,
                }
            )
        out.append(base)
    return out


@router.get("", summary="Pipelines and their champions")
async def list_pipelines(platform: PlatformDep, caller: Predictor) -> list[PipelineSummary]:
    def summaries() -> list[PipelineSummary]:  # asks the registry and the lake: off the event loop
        return [
            PipelineSummary(
                name=spec.name,
                description=spec.description,
                kind=spec.kind,
                source=spec.source.kind,
                accepts_uploads=spec.source.kind == "files",
                tasks=task_models(platform, spec),
                data_versions=platform.observations.data_versions(spec),
            )
            for spec in platform.specs.values()
        ]

    return await asyncio.to_thread(summaries)


@router.get(
    "/{pipeline}/model",
    summary="The champion of each task: version, holdout metrics, data versions, MLflow run",
    responses={404: {"description": "No such pipeline"}},
)
async def pipeline_model(spec: SpecDep, platform: PlatformDep, caller: Predictor) -> PipelineModels:
    return PipelineModels(pipeline=spec.name, tasks=await asyncio.to_thread(task_models, platform, spec))
