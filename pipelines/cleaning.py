"""Cleaning raw readings: sentinels and out-of-range values become missing, duplicates go, every station
gets a regular hourly grid, and short gaps are interpolated (long ones stay missing).

Interpolation never crosses midnight and a station-day without a single reading is left out, so a day
cleans to exactly the same rows whether its partition runs alone or inside a year-long backfill.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.spec import PipelineSpec


def fill_short_gaps(values: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate runs of NaN no longer than `max_gap` inside each row; edges and long runs stay NaN.

    Each missing value is placed on the line between the row's nearest known values before and after it,
    computed as `np.interp` does (the same bits), for all rows at once."""
    out = values.astype(float, copy=True)
    if max_gap <= 0 or out.size == 0:
        return out
    missing = np.isnan(out)
    rows, width = np.indices(out.shape)
    before = np.maximum.accumulate(np.where(missing, -1, width), axis=1)
    after = np.minimum.accumulate(np.where(missing, out.shape[1], width)[:, ::-1], axis=1)[:, ::-1]
    fill = missing & (before >= 0) & (after < out.shape[1]) & (after - before - 1 <= max_gap)
    r, x, lo, hi = rows[fill], width[fill], before[fill], after[fill]
    slope = (out[r, hi] - out[r, lo]) / (hi - lo)
    out[r, x] = slope * (x - lo) + out[r, lo]
    return out


def clean_readings(
    raw: pd.DataFrame, spec: PipelineSpec, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """One regular hourly row per (station, hour) in [start, end) for every station-day with readings;
    every declared column as float. `start` and `end` are midnights."""
    st, ts = spec.station_column, spec.timestamp_column
    hours = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="h", inclusive="left", tz="UTC")
    columns = [c.name for c in spec.columns]
    if len(hours) == 0 or raw.empty:
        return pd.DataFrame(
            {
                st: pd.Series(dtype="string"),
                ts: pd.Series(dtype="datetime64[ns, UTC]"),
                **{c: pd.Series(dtype=float) for c in columns},
            }
        )
    n_days = len(hours) // 24
    frame = raw.loc[:, [st, ts, *[c for c in columns if c in raw.columns]]].copy()
    frame[ts] = pd.to_datetime(frame[ts], utc=True).dt.floor("h")
    frame = frame[(frame[ts] >= hours[0]) & (frame[ts] <= hours[-1])]
    frame = frame.drop_duplicates(subset=[st, ts], keep="first")

    stations = sorted(frame[st].dropna().unique())
    grid = pd.MultiIndex.from_product([stations, hours], names=[st, ts])
    frame = frame.set_index([st, ts]).reindex(grid)
    hour_pos = np.tile(np.arange(len(hours)), len(stations))
    station_pos = np.repeat(np.arange(len(stations)), len(hours))
    seen = np.zeros((len(stations), n_days), dtype=bool)
    observed = frame.notna().any(axis=1).to_numpy()
    seen[station_pos[observed], hour_pos[observed] // 24] = True

    cleaned = pd.DataFrame(index=grid)
    for column in spec.columns:
        if column.name not in frame.columns:
            cleaned[column.name] = np.nan
            continue
        values = pd.to_numeric(frame[column.name], errors="coerce").to_numpy(dtype=float)
        if column.sentinels:
            values[np.isin(values, column.sentinels)] = np.nan
        if column.min is not None:
            values[values < column.min] = np.nan
        if column.max is not None:
            values[values > column.max] = np.nan
        by_day = values.reshape(len(stations) * n_days, 24)  # one row per station-day: no crossing midnight
        cleaned[column.name] = fill_short_gaps(by_day, spec.max_gap_hours).ravel()
    keep = np.repeat(seen.ravel(), 24)
    return cleaned[keep].reset_index().astype({st: "string"})
