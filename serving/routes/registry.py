"""New datasets without a deploy: propose a spec from a sample file (`POST /v1/specs/infer`), register a
spec (`POST /v1/pipelines`, admin) beside the built-in ones and reload the Dagster code location, or
remove a registered one (its data and models stay)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel, Field

from pipelines.spec import SPECS_DIR, SpecError
from pipelines.spec_inference import infer_spec
from resources.spec_registry import register_spec, remove_spec
from resources.unavailable import ServiceUnavailable
from serving.dagster_api import DagsterUnavailable
from serving.deps import Admin, PipelineName, PlatformDep, Predictor
from serving.problems import Problem, unavailable

router = APIRouter(tags=["pipeline registry"])


class ProposedSpec(BaseModel):
    yaml: str = Field(description="The proposal, with `# UNSURE:` lines first: edit it, then register it.")
    spec: dict[str, Any]
    unsure: list[str] = Field(description="What the inference could not be sure of.")


class Registered(BaseModel):
    name: str
    kind: str
    tasks: list[str]
    code_location_reloaded: bool
    reload_error: str | None = Field(
        None, description="Why Dagster did not reload (it picks the spec up on its next load)."
    )
    skipped_specs: dict[str, str] = Field(
        default_factory=dict, description="Other specs that are broken, and why."
    )


@router.post(
    "/v1/specs/infer",
    summary="Propose a tabular spec from a sample file, with what it is unsure of marked",
    responses={422: {"description": "Not a readable table"}},
)
async def propose_spec(
    caller: Predictor,
    file: Annotated[UploadFile, File(description="A CSV sample (the first MB is read).")],
    name: str = "new_pipeline",
) -> ProposedSpec:
    content = await file.read()
    try:
        found = await asyncio.to_thread(infer_spec, content, name)
    except (ValueError, SpecError) as exc:
        raise Problem(422, f"no spec can be proposed for this file: {exc}") from None
    return ProposedSpec(yaml=found.to_yaml(), spec=found.spec, unsure=found.unsure)


async def _spec_text(request: Request) -> str:
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            return yaml.safe_dump(json.loads(raw), sort_keys=False)
        except ValueError as exc:
            raise Problem(422, f"the body is not JSON: {exc}") from None
    if kind not in ("application/yaml", "application/x-yaml", "text/yaml", "text/plain", ""):
        raise Problem(415, f"send the spec as application/yaml or application/json (got {kind})")
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise Problem(422, "the spec is not UTF-8 text") from None


@router.post(
    "/v1/pipelines",
    status_code=201,
    summary="Register a pipeline spec (YAML or JSON) and reload the code location",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
    responses={
        409: {"description": "The name is a built-in pipeline"},
        415: {"description": "Neither YAML nor JSON"},
        422: {"description": "Invalid spec: each error names its field"},
        503: {"description": "The object store is unreachable"},
    },
)
async def register_pipeline(request: Request, platform: PlatformDep, caller: Admin) -> Registered:
    text = await _spec_text(request)
    try:
        spec = await asyncio.to_thread(
            register_spec, platform.landing, text, platform.settings.specs_dir or SPECS_DIR
        )
    except SpecError as exc:
        built_in = any(e["location"] == "name" and "built-in" in e["message"] for e in exc.errors)
        raise Problem(409 if built_in else 422, str(exc).split("\n")[-1], errors=exc.errors) from None
    except ServiceUnavailable as exc:
        raise unavailable(
            f"the spec could not be stored: {exc}", platform.serving.retry_after_seconds
        ) from None
    loaded = await asyncio.to_thread(platform.reload_specs)
    reloaded, reason = True, None
    try:
        await platform.dagster_api.reload_code_location()
    except DagsterUnavailable as exc:
        reloaded, reason = False, str(exc)
    return Registered(
        name=spec.name,
        kind=spec.kind,
        tasks=[t.name for t in spec.tasks],
        code_location_reloaded=reloaded,
        reload_error=reason,
        skipped_specs=loaded.broken,
    )


@router.delete(
    "/v1/pipelines/{pipeline}",
    status_code=204,
    summary="Remove a registered pipeline (its data and models stay)",
    responses={404: {"description": "No registered pipeline of that name (built-in ones cannot be removed)"}},
)
async def remove_pipeline(pipeline: PipelineName, platform: PlatformDep, caller: Admin) -> None:
    try:
        removed = await asyncio.to_thread(remove_spec, platform.landing, pipeline)
    except ServiceUnavailable as exc:
        raise unavailable(str(exc), platform.serving.retry_after_seconds) from None
    if not removed:
        raise Problem(
            404, f"no registered pipeline '{pipeline}' (built-in pipelines are removed by a deploy)"
        )
    await asyncio.to_thread(platform.reload_specs)
    with contextlib.suppress(DagsterUnavailable):  # else Dagster drops it on its next load
        await platform.dagster_api.reload_code_location()
