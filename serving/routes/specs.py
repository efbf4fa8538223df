"""`GET …/spec`: the pipeline's declarative spec, so clients know its columns, units, file format, tasks,
candidate algorithms and limits without a copy of the YAML."""

from __future__ import annotations

from fastapi import APIRouter

from pipelines.spec import PipelineSpec, TabularSpec
from serving.deps import Predictor, SpecDep

router = APIRouter(prefix="/v1/pipelines", tags=["pipelines"])


@router.get(
    "/{pipeline}/spec",
    summary="The pipeline's spec: source and parsing, columns, features, tasks and their candidates",
    responses={404: {"description": "No such pipeline"}},
)
async def pipeline_spec(spec: SpecDep, caller: Predictor) -> PipelineSpec | TabularSpec:
    return spec
