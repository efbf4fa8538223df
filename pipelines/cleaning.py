"""Cleaning raw readings: sentinels and out-of-range values become missing, duplicates go, every station
gets a regular hourly grid, and short gaps are interpolated (long ones stay missing)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.spec import PipelineSpec


def fill_short_gaps(values: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate runs of NaN no longer than `max_gap` inside each row; edges and long runs stay NaN."""
    out = values.astype(float, copy=True)
    if max_gap <= 0:
        return out
    for row in out:
        missing = np.isnan(row)
        if not missing.any() or missing.all():
            continue
        edges = np.diff(np.concatenate(([0], missing.view(np.int8), [0])))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        known = np.flatnonzero(~missing)
        for start, stop in zip(starts, stops, strict=True):
            if start == 0 or stop == len(row) or stop - start > max_gap:
                continue
            idx = np.arange(start, stop)
            row[idx] = np.interp(idx, known, row[known])
    return out


def clean_readings(
    raw: pd.DataFrame, spec: PipelineSpec, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """One regular hourly row per (station, hour) in [start, end) with every declared column as float."""
    st, ts = spec.station_column, spec.timestamp_column
    hours = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="h", inclusive="left", tz="UTC")
    frame = raw.loc[:, [st, ts, *[c.name for c in spec.columns if c.name in raw.columns]]].copy()
    frame[ts] = pd.to_datetime(frame[ts], utc=True).dt.floor("h")
    frame = frame[(frame[ts] >= hours[0]) & (frame[ts] <= hours[-1])] if len(hours) else frame.iloc[0:0]
    frame = frame.drop_duplicates(subset=[st, ts], keep="first")

    stations = sorted(frame[st].dropna().unique())
    grid = pd.MultiIndex.from_product([stations, hours], names=[st, ts])
    frame = frame.set_index([st, ts]).reindex(grid)

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
        wide = values.reshape(len(stations), len(hours))
        cleaned[column.name] = fill_short_gaps(wide, spec.max_gap_hours).ravel()
    return cleaned.reset_index().astype({st: "string"})
