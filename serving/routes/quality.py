"""Data quality and pipeline activity: missing values per day and column (from the lake), the latest
asset-check results and the latest runs (from Dagster's GraphQL API)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query

from serving.dagster_api import DagsterUnavailable
from serving.deps import PlatformDep, Predictor, SeriesSpecDep, SpecDep
from serving.observations import MAX_QUALITY_DAYS, utc
from serving.problems import Problem, unavailable
from serving.read_models import DataQuality, PipelineRuns

router = APIRouter(prefix="/v1/pipelines", tags=["data quality"])


@router.get(
    "/{pipeline}/quality",
    summary="Missing values per day and column, and the latest result of every asset check",
    description="Default range: the 14 days up to the latest observed hour. Check results come from Dagster; "
    "when it is away they are left out and `checks_error` says why.",
    responses={
        404: {"description": "No such pipeline or station, or nothing materialized yet"},
        422: {"description": "A reversed, too long or unusable range"},
    },
)
async def quality(
    spec: SeriesSpecDep,
    platform: PlatformDep,
    caller: Predictor,
    start: Annotated[dt.date | None, Query(description="First day (UTC).")] = None,
    end: Annotated[dt.date | None, Query(description="Last day (UTC), inclusive.")] = None,
    station: Annotated[str | None, Query(max_length=128, description="One station; default all.")] = None,
) -> DataQuality:
    try:
        latest = (await asyncio.to_thread(platform.observations.stations, spec)).latest_observed
    except Problem:  # no data yet: the checks may well say why
        latest = None
    last = end or (latest.date() if latest else dt.datetime.now(dt.UTC).date())
    try:
        first = start or last - dt.timedelta(days=13)
    except OverflowError:  # an end in the first days of year 1
        raise Problem(422, f"the range cannot be used: no 14 days end on {last}") from None
    if first > last:
        raise Problem(422, f"start {first} is after end {last}")
    if (last - first).days >= MAX_QUALITY_DAYS:
        raise Problem(422, f"the range is {(last - first).days + 1} days; ask for at most {MAX_QUALITY_DAYS}")
    try:
        begin, stop = utc(pd.Timestamp(first)), utc(pd.Timestamp(last)) + pd.Timedelta(days=1)
    except (ValueError, OverflowError) as exc:
        raise Problem(422, f"the range cannot be used: {exc}") from None
    version, missing = await asyncio.to_thread(platform.observations.missing, spec, begin, stop, station)
    error = None
    try:
        checks = await platform.dagster_api.checks(spec.name)
    except DagsterUnavailable as exc:
        checks, error = [], str(exc)
    return DataQuality(
        pipeline=spec.name,
        start=first,
        end=last,
        station=station,
        data_version=version,
        missing=missing,
        checks=checks,
        checks_error=error,
    )


@router.get(
    "/{pipeline}/runs",
    summary="The latest Dagster run of the pipeline's assets, runs in progress, and links to its assets",
    responses={404: {"description": "No such pipeline"}, 503: {"description": "Dagster is unreachable"}},
)
async def runs(spec: SpecDep, platform: PlatformDep, caller: Predictor) -> PipelineRuns:
    try:
        return await platform.dagster_api.runs(spec.name)
    except DagsterUnavailable as exc:
        raise unavailable(str(exc), platform.serving.retry_after_seconds) from None
