"""A pipeline's stations with the freshness of their data, and a station's cleaned readings over time."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query

from serving.deps import PlatformDep, Predictor, SeriesSpecDep
from serving.observations import MAX_HISTORY_DAYS, utc
from serving.problems import Problem
from serving.read_models import StationHistory, Stations

router = APIRouter(prefix="/v1/pipelines", tags=["observations"])
NOT_FOUND = {404: {"description": "No such pipeline or station, or nothing materialized yet"}}


def time_range(
    start: dt.datetime | None,
    end: dt.datetime | None,
    latest: pd.Timestamp | None,
    default_days: int,
    max_days: int,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) in UTC; by default the `default_days` up to the latest observed hour. 422 if reversed,
    longer than `max_days`, or outside what timestamps can hold."""
    try:
        now = (latest or pd.Timestamp.now("UTC")).floor("h") + pd.Timedelta(hours=1)
        stop = utc(end) if end is not None else now
        begin = utc(start) if start is not None else stop - pd.Timedelta(days=default_days)
        begin, stop = begin.as_unit("ns"), stop.as_unit("ns")  # pandas' range: years 1677..2262
        length = stop - begin
    except (ValueError, OverflowError) as exc:
        raise Problem(422, f"the time range cannot be used: {exc}") from None
    if begin >= stop:
        raise Problem(422, f"start {begin.isoformat()} is not before end {stop.isoformat()}")
    if length > pd.Timedelta(days=max_days):
        raise Problem(422, f"the range is {length.days} days; ask for at most {max_days} at a time")
    return begin, stop


@router.get(
    "/{pipeline}/stations",
    summary="The pipeline's stations and the latest hour observed at each (data freshness)",
    responses=NOT_FOUND,
)
async def stations(spec: SeriesSpecDep, platform: PlatformDep, caller: Predictor) -> Stations:
    return await asyncio.to_thread(platform.observations.stations, spec)


@router.get(
    "/{pipeline}/history",
    summary="A station's cleaned hourly readings over a time range",
    description="From the clean asset: sentinels and out-of-range values removed, short gaps interpolated; "
    "longer gaps stay null. Default range: the 7 days up to the station's latest observed hour.",
    responses={**NOT_FOUND, 422: {"description": "A reversed, too long or unusable time range"}},
)
async def history(
    spec: SeriesSpecDep,
    platform: PlatformDep,
    caller: Predictor,
    station: Annotated[str, Query(max_length=128, description="Station id, e.g. `S001`.")],
    start: Annotated[
        dt.datetime | None, Query(description="First hour, ISO 8601 (UTC if no offset).")
    ] = None,
    end: Annotated[dt.datetime | None, Query(description="End of the range (exclusive).")] = None,
) -> StationHistory:
    known = await asyncio.to_thread(platform.observations.stations, spec)
    latest = next((s.latest_observed for s in known.stations if s.station == station), None)
    begin, stop = time_range(start, end, pd.Timestamp(latest) if latest else None, 7, MAX_HISTORY_DAYS)
    return await asyncio.to_thread(platform.observations.history, spec, station, begin, stop)
