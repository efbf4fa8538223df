"""Whole forecasts: every station's 24 h path with intervals, and the exceedance risk per station. Each
answer is logged like a prediction, so an observed value can be reported against any of its points."""

from __future__ import annotations

import asyncio
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request

from pipelines.spec import ClassificationTask, PipelineSpec, RegressionTask
from serving.champions import Champion
from serving.deps import PlatformDep, Predictor, SeriesSpecDep, champion_or_503, resolve_task
from serving.forecast_paths import chosen_stations, exceedance_risk, forecast_paths
from serving.platform import Platform
from serving.problems import Problem
from serving.read_models import ExceedanceRisk, ForecastPaths, PathPoint, StationPath, StationRisk
from serving.routes.predict import new_prediction_id
from serving.store import PredictionRecord

router = APIRouter(prefix="/v1/pipelines", tags=["forecasts"])
RESPONSES = {
    404: {"description": "No such pipeline or station, or nothing materialized yet"},
    422: {"description": "A task of the wrong kind"},
    503: {"description": "No model loaded yet"},
}
Station = Annotated[
    list[str] | None,
    Query(max_length=100, description="Station ids (repeat the parameter); default: every station."),
]
TaskName = Annotated[
    str | None, Query(max_length=128, description="The task; default: the first of its kind.")
]


KINDS = {RegressionTask: "regression", ClassificationTask: "classification"}


def task_of_kind(spec: PipelineSpec, name: str | None, kind: type) -> RegressionTask | ClassificationTask:
    """The named task, or the pipeline's first of `kind`; 404/422 when there is none of that kind."""
    if name is None:
        task = next((t for t in spec.tasks if isinstance(t, kind)), None)
        if task is None:
            raise Problem(404, f"pipeline '{spec.name}' has no {KINDS[kind]} task")
        return task
    task = resolve_task(spec, name)
    if not isinstance(task, kind):
        raise Problem(422, f"task '{task.name}' is a {task.kind} task; this route serves {KINDS[kind]} tasks")
    return task


async def served(
    spec: PipelineSpec, platform: Platform, task: str | None, kind: type, stations: list[str] | None, answer
) -> tuple[RegressionTask | ClassificationTask, Champion, pd.DataFrame]:
    """The task of `kind`, its champion, and `answer(view, spec, task, champion, stations)` for the stations
    asked (all by default) from the latest features and outputs."""
    chosen = task_of_kind(spec, task, kind)
    champion = champion_or_503(platform, spec, chosen.name)
    view = await asyncio.to_thread(platform.lake_views.latest, spec, chosen)
    names = chosen_stations(view, spec, stations)
    return chosen, champion, await asyncio.to_thread(answer, view, spec, chosen, champion, names)


def log_rows(
    platform: Platform, request: Request, spec: PipelineSpec, champion: Champion, frame: pd.DataFrame
) -> str:
    """Log the answer's rows as one prediction (ids `<id>.<row>`), as the predict route does."""
    prediction_id = new_prediction_id()
    outputs = {name: frame[name].astype(float).tolist() for name in champion.outputs}
    platform.store.log_prediction(
        PredictionRecord(
            prediction_id, spec.name, champion.task, champion.model_name, champion.version, outputs,
            request.scope["state"].get("trace_id", ""),
        )
    )  # fmt: skip
    return prediction_id


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


@router.get(
    "/{pipeline}/forecasts",
    summary="The whole forecast path (every horizon, every target, with intervals) of one or all stations",
    responses=RESPONSES,
)
async def forecasts(
    spec: SeriesSpecDep,
    platform: PlatformDep,
    caller: Predictor,
    request: Request,
    station: Station = None,
    task: TaskName = None,
) -> ForecastPaths:
    chosen, champion, frame = await served(spec, platform, task, RegressionTask, station, forecast_paths)
    prediction_id = log_rows(platform, request, spec, champion, frame)
    units = {t: spec.column(t).unit for t in chosen.targets}
    sources = champion.sources or {}
    paths = []
    for name, rows in frame.groupby("station", sort=False):
        points = [
            PathPoint(
                target=t,
                unit=units[t],
                prediction=_finite(row[t]),
                lower=_finite(row[f"{t}_lower"]),
                upper=_finite(row[f"{t}_upper"]),
                source=sources[t],
                target_time=row["target_time"],
                horizon=int(row["horizon"]),
                prediction_id=f"{prediction_id}.{i}",
            )
            for t in chosen.targets
            for i, row in zip(rows.index, rows.to_dict("records"), strict=True)
        ]
        first = rows.iloc[0]
        paths.append(
            StationPath(station=name, issued_at=first["issued_at"], source=first["source"], points=points)
        )
    return ForecastPaths(
        pipeline=spec.name,
        task=chosen.name,
        model=champion.model_name,
        model_version=champion.version,
        interval_level=chosen.interval_level,
        horizons=sorted(chosen.horizons),
        sources=sources,
        prediction_id=prediction_id,
        stations=paths,
    )


@router.get(
    "/{pipeline}/exceedance",
    summary="Per station, the probability that the limit is exceeded within the task's window",
    responses=RESPONSES,
)
async def exceedance(
    spec: SeriesSpecDep,
    platform: PlatformDep,
    caller: Predictor,
    request: Request,
    station: Station = None,
    task: TaskName = None,
) -> ExceedanceRisk:
    chosen, champion, frame = await served(spec, platform, task, ClassificationTask, station, exceedance_risk)
    prediction_id = log_rows(platform, request, spec, champion, frame)
    return ExceedanceRisk(
        pipeline=spec.name,
        task=chosen.name,
        model=champion.model_name,
        model_version=champion.version,
        target=chosen.target,
        unit=spec.column(chosen.target).unit,
        threshold=chosen.threshold,
        within_hours=chosen.within_hours,
        stations=[
            StationRisk(
                station=row["station"],
                issued_at=row["issued_at"],
                window_end=row["window_end"],
                probability=_finite(row["probability"]),
                prediction_id=f"{prediction_id}.{i}",
                source=row["source"],
            )
            for i, row in enumerate(frame.to_dict("records"))
        ],
    )
