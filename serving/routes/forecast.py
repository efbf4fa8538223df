"""`GET …/forecast`: one station, one future hour, with its interval."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query

from pipelines.spec import RegressionTask
from serving.deps import PlatformDep, Predictor, SeriesSpecDep, champion_or_503, resolve_task
from serving.forecasts import forecast_at
from serving.problems import Problem
from serving.schemas import ForecastResponse

router = APIRouter(prefix="/v1/pipelines", tags=["forecasts"])


@router.get(
    "/{pipeline}/forecast",
    summary="The forecast for a station at a future hour, with its prediction interval",
    response_model=ForecastResponse,
    responses={
        404: {"description": "No such pipeline or station, or nothing materialized yet"},
        422: {"description": "`at` outside the forecast horizon"},
        503: {"description": "No model loaded yet"},
    },
)
async def forecast(
    spec: SeriesSpecDep,
    platform: PlatformDep,
    caller: Predictor,
    station: Annotated[str, Query(max_length=128, description="Station id, e.g. `site_1`.")],
    at: Annotated[dt.datetime, Query(description="The hour to forecast, ISO 8601 (UTC if no offset).")],
    task: Annotated[
        str | None, Query(max_length=128, description="A forecasting task; default the first.")
    ] = None,
) -> dict:
    if task is None:
        chosen = next((t for t in spec.tasks if isinstance(t, RegressionTask)), None)
        if chosen is None:
            raise Problem(404, f"pipeline '{spec.name}' has no forecasting task")
    else:
        chosen = resolve_task(spec, task)
        if not isinstance(chosen, RegressionTask):
            raise Problem(422, f"task '{chosen.name}' is a classifier; forecasts come from a regression task")
    champion = champion_or_503(platform, spec, chosen.name)
    try:
        stamp = pd.Timestamp(at)
        stamp = (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).as_unit("ns")
    except (ValueError, OverflowError) as exc:  # e.g. out of pandas' range (years 1677..2262)
        raise Problem(422, f"'at' {at.isoformat()} cannot be used: {exc}") from None
    view = await asyncio.to_thread(platform.lake_views.latest, spec, chosen)
    return forecast_at(view, spec, chosen, champion, station, stamp)
