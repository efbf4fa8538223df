"""Typed dependencies shared by the routes: the platform, the caller, a pipeline and a task by name."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from pipelines.spec import AnySpec, ClassificationTask, PipelineSpec, RegressionTask, TabularSpec, TabularTask
from serving.auth import Caller, require
from serving.champions import Champion
from serving.platform import Platform
from serving.problems import Problem, unavailable


async def get_platform(request: Request) -> Platform:
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]
Predictor = Annotated[Caller, require("predict")]
Admin = Annotated[Caller, require("admin")]
PipelineName = Annotated[str, Path(description="A pipeline name, e.g. `air_quality`.", max_length=128)]


async def json_body(request: Request) -> None:
    """415 unless the body is declared JSON (FastAPI would otherwise report a shape error)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not (kind.startswith("application/") and kind.endswith("+json")):
        raise Problem(415, f"send the body as application/json (got {kind or 'no content type'})")


JsonBody = Depends(json_body)


async def get_spec(pipeline: PipelineName, platform: PlatformDep) -> AnySpec:
    spec = platform.specs.get(pipeline)
    if spec is None:
        raise Problem(404, f"no pipeline '{pipeline}'; pipelines: {', '.join(sorted(platform.specs))}")
    return spec


async def get_series_spec(pipeline: PipelineName, platform: PlatformDep) -> PipelineSpec:
    """A time-series pipeline (stations, hours, forecasts); 409 for a tabular one."""
    spec = await get_spec(pipeline, platform)
    if isinstance(spec, TabularSpec):
        raise Problem(409, f"pipeline '{pipeline}' is tabular: it has no stations, hours or forecasts")
    return spec


SpecDep = Annotated[AnySpec, Depends(get_spec)]
SeriesSpecDep = Annotated[PipelineSpec, Depends(get_series_spec)]


def resolve_task(spec: AnySpec, name: str | None) -> RegressionTask | ClassificationTask | TabularTask:
    if name is None:
        return spec.tasks[0]
    try:
        return spec.task(name)
    except KeyError:
        raise Problem(
            422,
            f"pipeline '{spec.name}' has no task '{name}'; tasks: {', '.join(t.name for t in spec.tasks)}",
        ) from None


def champion_or_503(platform: Platform, spec: AnySpec, task: str) -> Champion:
    champion = platform.champions.get(spec.name, task)
    if champion is None:
        reason = platform.champions.health.load_errors.get(f"{spec.name}.{task}") or (
            "no version has been promoted to champion yet"
        )
        raise unavailable(
            f"no model is loaded for {spec.name}.{task}: {reason}", platform.serving.retry_after_seconds
        )
    return champion
