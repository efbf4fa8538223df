"""Whole forecasts per station: the 24 h path of every target with its interval, and the exceedance risk.

Taken from the output assets when they hold the station's latest origin hour for the current champion,
otherwise computed now, in one model call for every station asked, with the same feature function."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.features import expand_horizons
from pipelines.spec import ClassificationTask, PipelineSpec, RegressionTask
from serving.champions import Champion
from serving.forecasts import Latest
from serving.problems import Problem


def chosen_stations(view: Latest, spec: PipelineSpec, stations: list[str] | None) -> list[str]:
    """The stations asked for (all by default), each known; 404 naming the known ones otherwise."""
    known = sorted(view.features.index)
    if not stations:
        return known
    unknown = [s for s in dict.fromkeys(stations) if s not in view.features.index]
    if unknown:
        raise Problem(
            404,
            f"no station {', '.join(repr(s) for s in unknown)} in {spec.name}; stations: "
            f"{', '.join(known[:20])}{' …' if len(known) > 20 else ''}",
        )
    return list(dict.fromkeys(stations))


def _precomputed(view: Latest, spec: PipelineSpec, champion: Champion, stations: list[str]) -> pd.DataFrame:
    """Rows of the output asset issued at each station's latest origin by the champion being served."""
    pre = view.forecasts
    if pre is None or pre.empty:
        return pd.DataFrame()
    st, ts = spec.station_column, spec.timestamp_column
    origins = pd.to_datetime(view.features.loc[stations, ts], utc=True)
    rows = pre[pre[st].isin(stations) & (pre["model_version"] == champion.version)]
    return rows[rows["issued_at"] == rows[st].map(origins)]


def forecast_paths(
    view: Latest, spec: PipelineSpec, task: RegressionTask, champion: Champion, stations: list[str]
) -> pd.DataFrame:
    """One row per station and horizon: station, issued_at, target_time, horizon, source, and per target
    `{t}`, `{t}_lower`, `{t}_upper`; stations in the order asked, horizons ascending."""
    st, ts = spec.station_column, spec.timestamp_column
    horizons = sorted(task.horizons)
    pre = _precomputed(view, spec, champion, stations)
    parts = []
    complete: set[str] = set()
    if len(pre):
        pre = pre[pre["horizon"].isin(horizons) & pre["pollutant"].isin(task.targets)]
        counts = pre.groupby(st).size()
        complete = set(counts[counts == len(horizons) * len(task.targets)].index)
    if complete:
        rows = pre[pre[st].isin(complete)]
        wide = rows.pivot_table(
            index=[st, "issued_at", "target_time", "horizon"],
            columns="pollutant",
            values=["prediction", "lower", "upper"],
            aggfunc="first",
        )
        out = pd.DataFrame(index=wide.index)
        for t in task.targets:
            out[t], out[f"{t}_lower"], out[f"{t}_upper"] = (
                wide[("prediction", t)],
                wide[("lower", t)],
                wide[("upper", t)],
            )
        parts.append(out.reset_index().assign(source="precomputed"))
    missing = [s for s in stations if s not in complete]
    if missing:
        origins = view.features.loc[missing].reset_index(drop=True)
        repeated = origins.loc[origins.index.repeat(len(horizons))].reset_index(drop=True)
        inputs = expand_horizons(repeated, np.tile(horizons, len(missing)), spec)
        predicted = champion.predict(inputs[list(champion.feature_columns)].to_numpy(dtype=float))
        out = pd.DataFrame(
            {
                st: inputs[st].astype(str).to_numpy(),
                "issued_at": pd.to_datetime(inputs[ts], utc=True).to_numpy(),
                "target_time": pd.DatetimeIndex(inputs["target_time"]).tz_convert("UTC"),
                "horizon": inputs["horizon"].astype(int).to_numpy(),
                **{name: np.asarray(values, dtype=float) for name, values in predicted.items()},
                "source": "computed",
            }
        )
        parts.append(out)
    frame = pd.concat(parts, ignore_index=True)
    frame["issued_at"] = pd.to_datetime(frame["issued_at"], utc=True)
    frame["target_time"] = pd.to_datetime(frame["target_time"], utc=True)
    order = {s: i for i, s in enumerate(stations)}
    frame = frame.sort_values([st, "horizon"], key=lambda c: c.map(order) if c.name == st else c)
    return frame.rename(columns={st: "station"}).reset_index(drop=True)


def exceedance_risk(
    view: Latest, spec: PipelineSpec, task: ClassificationTask, champion: Champion, stations: list[str]
) -> pd.DataFrame:
    """One row per station: station, issued_at, window_end, probability, source."""
    st, ts = spec.station_column, spec.timestamp_column
    pre = _precomputed(view, spec, champion, stations)
    parts = []
    done: set[str] = set()
    if len(pre):
        rows = pre.drop_duplicates(st)
        done = set(rows[st])
        parts.append(rows[[st, "issued_at", "window_end", "probability"]].assign(source="precomputed"))
    missing = [s for s in stations if s not in done]
    if missing:
        origins = view.features.loc[missing].reset_index(drop=True)
        predicted = champion.predict(origins[list(champion.feature_columns)].to_numpy(dtype=float))
        issued = pd.to_datetime(origins[ts], utc=True)
        parts.append(
            pd.DataFrame(
                {
                    st: origins[st].astype(str).to_numpy(),
                    "issued_at": issued.to_numpy(),
                    "window_end": (issued + pd.Timedelta(hours=task.within_hours)).to_numpy(),
                    "probability": np.asarray(predicted["probability"], dtype=float),
                    "source": "computed",
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    for column in ("issued_at", "window_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    order = {s: i for i, s in enumerate(stations)}
    frame = frame.sort_values(st, key=lambda c: c.map(order))
    return frame.rename(columns={st: "station"}).reset_index(drop=True)
