"""The FastAPI application: wiring only. `mlops serve` (or `uvicorn serving.main:create_app --factory`)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI

from pipelines.spec import SPECS_DIR, AnySpec, TabularSpec, load_specs
from resources.settings import get_settings
from serving import problems
from serving.config import ServingSettings, get_serving_settings
from serving.observability import RequestContext, access_log, configure_logging, leave_metrics_pool
from serving.platform import Platform
from serving.routes import (
    datasets,
    feedback,
    forecast,
    health,
    keys,
    paths,
    pipelines,
    predict,
    preview,
    quality,
    registry,
    specs,
    stations,
    tasks,
    versions,
)
from serving.tabular_rows import rows_schema

DESCRIPTION = """
Predictions and forecasts from the models the MLflow registry names `champion`, uploads and retraining
that start Dagster runs, and feedback on predictions.

Every route under `/v1` needs an API key (`X-API-Key` or `Authorization: Bearer`) with the `predict` or
`admin` scope; `/healthz`, `/readyz` and `/metrics` are open. Errors are RFC 9457 `application/problem+json`.
Every response carries `X-Request-ID` and `X-Trace-ID`.
"""


def add_table_schemas(schema: dict, specs: dict[str, AnySpec]) -> None:
    """Each tabular pipeline's predict body, generated from its spec, as a component the predict route
    accepts besides the feature rows of the time-series pipelines."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    refs = []
    for spec in specs.values():
        if isinstance(spec, TabularSpec):
            for task in spec.tasks:
                name = f"{spec.name}.{task.name}.PredictRequest"
                components[name] = rows_schema(spec, task)
                refs.append({"$ref": f"#/components/schemas/{name}"})
    operation = schema.get("paths", {}).get("/v1/pipelines/{pipeline}/predict", {}).get("post")
    if refs and operation:
        content = operation["requestBody"]["content"]["application/json"]
        content["schema"] = {"anyOf": [content["schema"], *refs]}


class PlatformAPI(FastAPI):
    """FastAPI with the request context outermost, so ids, logs and metrics also cover the answers of
    FastAPI's own outer layers (body limit, server errors)."""

    pipelines: list[str] = []
    specs: dict[str, AnySpec] = {}

    def build_middleware_stack(self):
        return RequestContext(super().build_middleware_stack())

    def openapi(self) -> dict:
        """The generated document, with the `pipeline` path parameter listing the pipelines served."""
        platform = getattr(self.state, "platform", None)
        if platform is not None and sorted(platform.specs) != self.pipelines:  # a spec was registered
            self.specs, self.pipelines, self.openapi_schema = platform.specs, sorted(platform.specs), None
        if self.openapi_schema is None:
            schema = super().openapi()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    for parameter in operation.get("parameters", []):
                        if parameter.get("name") == "pipeline" and parameter.get("in") == "path":
                            parameter["schema"]["enum"] = self.pipelines
            add_table_schemas(schema, self.specs)
        return self.openapi_schema


def create_app(serving: ServingSettings | None = None) -> FastAPI:
    serving = serving or get_serving_settings()
    configure_logging()  # here too: each of several workers is a process of its own

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = Platform.build(get_settings(), serving)
        app.state.platform = platform
        await platform.start()
        # What start-up allocated (models, specs, libraries) lives as long as the process: keep it out of
        # the collector's full passes, which would otherwise walk it all and stall requests meanwhile.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await platform.stop()
            access_log.flush()
            leave_metrics_pool()

    app = PlatformAPI(
        title="mlops-platform API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=serving.max_body_bytes,
        root_path=serving.root_path,
    )
    app.specs = load_specs(get_settings().specs_dir or SPECS_DIR)
    app.pipelines = sorted(app.specs)
    problems.install(app)
    routes = [health, pipelines, specs, predict, forecast, paths, stations, quality, versions, preview]
    for module in [*routes, datasets, tasks, feedback, keys, registry]:
        app.include_router(module.router)
    return app
