"""Forecasts for one station and hour: from the forecasts asset when it holds that hour for the current
champion, otherwise computed now from the latest features with the same feature function as training."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.features import current_value_column, expand_horizons
from pipelines.keys import PipelineKeys
from pipelines.spec import ClassificationTask, PipelineSpec, RegressionTask
from resources.lake_store import LATEST, Lake
from serving.champions import Champion
from serving.problems import Problem


@dataclass(frozen=True)
class Latest:
    """Per station, its newest observed origin row (features) and the precomputed forecasts."""

    features: pd.DataFrame  # one row per station, indexed by station
    forecasts: pd.DataFrame | None  # station and version as text, times as UTC timestamps


class LakeViews:
    """The lake objects the API reads, re-read only when their `_latest` pointer changes (checked at most
    every `ttl` seconds)."""

    def __init__(self, lake: Lake, ttl: float = 5.0) -> None:
        self.lake = lake
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, str, Latest]] = {}
        self._lock = threading.Lock()

    def _pointer(self, key: tuple[str, ...]) -> str | None:
        try:
            return (self.lake.folder(key) / LATEST).read_text().strip()
        except FileNotFoundError:
            return None

    def latest(self, spec: PipelineSpec, task: RegressionTask | ClassificationTask) -> Latest:
        cache_key = (spec.name, task.name)
        with self._lock:
            cached = self._cache.get(cache_key)
            if cached and time.monotonic() - cached[0] < self.ttl:
                return cached[2]
            keys = PipelineKeys(spec)
            feature_key, output_key = keys.features, keys.output(task)
            stamp = f"{self._pointer(feature_key)}|{self._pointer(output_key)}"
            if cached and cached[1] == stamp:
                self._cache[cache_key] = (time.monotonic(), stamp, cached[2])
                return cached[2]
            if stamp.startswith("None|"):
                raise Problem(
                    404, f"{spec.name} has no features yet: materialize the pipeline first", title="Not found"
                )
            features = self.lake.read(feature_key)
            st, ts = spec.station_column, spec.timestamp_column
            targets = task.targets if isinstance(task, RegressionTask) else [task.target]
            observed = features.dropna(subset=[current_value_column(t) for t in targets], how="all")
            newest = observed.sort_values(ts).groupby(st, observed=True).tail(1)
            newest = newest.assign(**{st: newest[st].astype(str)}).set_index(st, drop=False)
            forecasts = self.lake.read(output_key) if not stamp.endswith("|None") else None
            if forecasts is not None:  # typed once per lake version, not on every request
                times = ("target_time", "window_end", "issued_at")  # forecasts, or exceedance risk
                forecasts = forecasts.assign(
                    **{
                        st: forecasts[st].astype(str),
                        "model_version": forecasts["model_version"].astype(str),
                    },
                    **{c: pd.to_datetime(forecasts[c], utc=True) for c in times if c in forecasts},
                )
            view = Latest(features=newest, forecasts=forecasts)
            self._cache[cache_key] = (time.monotonic(), stamp, view)
            return view


def forecast_at(
    view: Latest, spec: PipelineSpec, task: RegressionTask, champion: Champion, station: str, at: pd.Timestamp
) -> dict:
    st, ts = spec.station_column, spec.timestamp_column
    if station not in view.features.index:
        known = sorted(view.features.index)
        raise Problem(
            404,
            f"no station '{station}' in {spec.name}; stations: {', '.join(known[:20])}{' …' if len(known) > 20 else ''}",
        )
    origin_row = view.features.loc[[station]]
    origin = pd.Timestamp(origin_row[ts].iloc[0])
    horizon_hours = (at - origin) / pd.Timedelta(hours=1)
    first, last = min(task.horizons), max(task.horizons)
    if horizon_hours != int(horizon_hours) or int(horizon_hours) not in task.horizons:
        raise Problem(
            422,
            f"'at' {at.isoformat()} is outside the forecast horizon of station '{station}': its latest reading is "
            f"{origin.isoformat()}, so forecasts exist for {(origin + pd.Timedelta(hours=first)).isoformat()} .. "
            f"{(origin + pd.Timedelta(hours=last)).isoformat()}, on the hour",
        )
    horizon = int(horizon_hours)
    values, source = None, "computed"
    pre = view.forecasts
    if pre is not None and len(pre):
        hit = pre[
            (pre[st] == station)
            & (pre["target_time"] == at)
            & (pre["issued_at"] == origin)
            & (pre["model_version"] == champion.version)
        ]
        if len(hit) == len(task.targets):
            by_target = hit.set_index("pollutant")
            values = {
                t: tuple(float(by_target.loc[t, c]) for c in ("prediction", "lower", "upper"))
                for t in task.targets
            }
            source = "precomputed"
    if values is None:
        inputs = expand_horizons(origin_row.reset_index(drop=True), np.array([horizon]), spec)
        x = inputs[list(champion.feature_columns)].to_numpy(dtype=float)
        out = champion.predict(x)
        values = {
            t: (float(out[t][0]), float(out[f"{t}_lower"][0]), float(out[f"{t}_upper"][0]))
            for t in task.targets
        }
    return {
        "pipeline": spec.name,
        "task": task.name,
        "station": station,
        "at": at.isoformat(),
        "issued_at": origin.isoformat(),
        "horizon": horizon,
        "model": champion.model_name,
        "model_version": champion.version,
        "interval_level": task.interval_level,
        "source": source,
        "sources": champion.sources,
        "forecasts": [
            {
                "target": t,
                "unit": spec.column(t).unit,
                "prediction": _finite(v[0]),
                "lower": _finite(v[1]),
                "upper": _finite(v[2]),
                "source": champion.model.source(t),
            }
            for t, v in values.items()
        ],
    }


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None
