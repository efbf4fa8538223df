"""The feature function: one definition serves training (features asset), forecasts and the API.

`build_features` gives one row per (station, origin hour) from data up to that hour only: lags, rolling
statistics, covariates and calendar. `expand_horizons` adds, per row, the hour being forecast (horizon
and its calendar), which turns origin features into model inputs for a direct multi-horizon model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipelines.spec import ClassificationTask, PipelineSpec, RegressionTask

_CALENDAR = {
    "hour": lambda t: t.hour,
    "dayofweek": lambda t: t.dayofweek,
    "month": lambda t: t.month,
    "is_weekend": lambda t: (t.dayofweek >= 5).astype(int),
}


def target_columns(spec: PipelineSpec) -> list[str]:
    """Every column some task predicts, in spec order."""
    out: list[str] = []
    for task in spec.tasks:
        for target in task.targets if isinstance(task, RegressionTask) else [task.target]:
            if target not in out:
                out.append(target)
    return out


def _lagged(spec: PipelineSpec) -> list[str]:
    return target_columns(spec) + [c for c in spec.features.lagged_columns if c not in target_columns(spec)]


def _lags(spec: PipelineSpec) -> list[int]:
    return sorted({0, *spec.features.lags})  # lag 0 (the value at the origin) also gives labels


def current_value_column(column: str) -> str:
    return f"{column}_lag0"


def baseline_column(target: str) -> str:
    """The seasonal-naive forecast of `target` for the hour being forecast (its value a day before)."""
    return f"baseline_{target}"


def seasonal_naive_lag(horizons: np.ndarray | Sequence[int]) -> np.ndarray:
    """Hours before the origin of the seasonal-naive value for each horizon: the same hour on the
    latest day the origin has seen (24 h before the target hour, 48 h for horizons 25..48, …)."""
    h = np.asarray(horizons, dtype=int)
    return 24 * np.ceil(h / 24).astype(int) - h


def _baseline_targets(spec: PipelineSpec) -> list[str]:
    """Targets of the tasks that may serve the seasonal-naive baseline (`per_target_sources`)."""
    out: list[str] = []
    for task in spec.tasks:
        if isinstance(task, RegressionTask) and task.per_target_sources:
            out += [t for t in task.targets if t not in out]
    return out


def _baseline_lags(spec: PipelineSpec) -> list[int]:
    lags: set[int] = set()
    for task in spec.tasks:
        if isinstance(task, RegressionTask) and task.per_target_sources:
            lags |= set(seasonal_naive_lag(task.horizons).tolist())
    return sorted(lags)


def origin_feature_columns(spec: PipelineSpec) -> list[str]:
    names: list[str] = []
    for col in _lagged(spec):
        names += [f"{col}_lag{lag}" for lag in _lags(spec)]
        names += [
            f"{col}_{stat}{w}h" for w in spec.features.rolling_windows for stat in spec.features.rolling_stats
        ]
    names += list(spec.features.covariates)
    names += list(spec.features.calendar)
    return names


def horizon_feature_columns(spec: PipelineSpec) -> list[str]:
    return ["horizon", *[f"target_{name}" for name in spec.features.calendar]]


def model_feature_columns(spec: PipelineSpec, task: RegressionTask | ClassificationTask) -> list[str]:
    """The model's input columns (its signature), in order."""
    if isinstance(task, RegressionTask):
        # The baseline columns come last: the estimators take the columns before them (pipelines/models.py).
        baselines = [baseline_column(t) for t in task.targets] if task.per_target_sources else []
        return origin_feature_columns(spec) + horizon_feature_columns(spec) + baselines
    return origin_feature_columns(spec)


def build_features(clean: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """Origin features for every station and every hour between the first and last reading.

    The output is on a regular grid, ordered by station then hour, so that row arithmetic within a station
    is time arithmetic (used for labels).
    """
    st, ts = spec.station_column, spec.timestamp_column
    times = pd.to_datetime(clean[ts], utc=True)
    if clean.empty:
        return pd.DataFrame(columns=[st, ts, *origin_feature_columns(spec)])
    hours = pd.date_range(times.min(), times.max(), freq="h")
    stations = sorted(clean[st].unique())
    needed = list(dict.fromkeys([*_lagged(spec), *spec.features.covariates]))
    pivoted = clean.assign(**{ts: times}).pivot(index=ts, columns=st, values=needed)

    def wide(column: str) -> pd.DataFrame:
        return pivoted[column].reindex(index=hours, columns=stations)

    out: dict[str, np.ndarray | pd.DatetimeIndex] = {
        st: np.repeat(np.asarray(stations, dtype=object), len(hours)),
        ts: hours[np.tile(np.arange(len(hours)), len(stations))],
    }
    baseline_targets = _baseline_targets(spec)
    for col in _lagged(spec):
        values = wide(col)
        lags = sorted({*_lags(spec), *(_baseline_lags(spec) if col in baseline_targets else [])})
        for lag in lags:
            out[f"{col}_lag{lag}"] = values.shift(lag).to_numpy().ravel(order="F")
        for window in spec.features.rolling_windows:
            rolling = values.rolling(window, min_periods=max(1, window // 2))
            for stat in spec.features.rolling_stats:
                out[f"{col}_{stat}{window}h"] = getattr(rolling, stat)().to_numpy().ravel(order="F")
    for col in spec.features.covariates:
        out[col] = wide(col).to_numpy().ravel(order="F")
    for name in spec.features.calendar:
        out[name] = np.tile(np.asarray(_CALENDAR[name](hours), dtype=float), len(stations))
    features = pd.DataFrame(out)
    features[st] = features[st].astype("string")
    return features


def expand_horizons(
    features: pd.DataFrame, horizons: np.ndarray | Sequence[int], spec: PipelineSpec
) -> pd.DataFrame:
    """Add the forecast hour to each origin row: `horizon` and the calendar of origin + horizon, and for
    targets that may serve the seasonal-naive baseline, its value (from the origin's lags)."""
    columns = horizon_columns(features[spec.timestamp_column], horizons, spec)
    targets = _baseline_targets(spec)
    if targets:
        lag = seasonal_naive_lag(np.broadcast_to(np.asarray(horizons), len(features)))
        rows = np.arange(len(features))
        for target in targets:
            lagged = features[[f"{target}_lag{k}" for k in _baseline_lags(spec)]].to_numpy(dtype=float)
            position = np.searchsorted(_baseline_lags(spec), lag)
            columns[baseline_column(target)] = lagged[rows, position]
    return features.assign(**columns)


def horizon_columns(
    origins: pd.Series, horizons: np.ndarray | Sequence[int], spec: PipelineSpec
) -> dict[str, np.ndarray | pd.DatetimeIndex]:
    """`horizon`, the calendar of the hour being forecast (`target_*`) and `target_time`, per origin."""
    horizon = np.asarray(horizons, dtype=float)
    target_time = pd.DatetimeIndex(origins) + pd.to_timedelta(horizon, unit="h")
    columns: dict[str, np.ndarray | pd.DatetimeIndex] = {"horizon": horizon}
    for name in spec.features.calendar:
        columns[f"target_{name}"] = np.asarray(_CALENDAR[name](target_time), dtype=float)
    columns["target_time"] = target_time
    return columns


def forecast_inputs(features: pd.DataFrame, spec: PipelineSpec, task: RegressionTask) -> pd.DataFrame:
    """Model inputs for every horizon from each station's latest origin hour (the next hours' forecast)."""
    latest = latest_observed(features, spec, task.targets)
    repeated = latest.loc[latest.index.repeat(len(task.horizons))].reset_index(drop=True)
    horizons = np.tile(np.asarray(task.horizons), len(latest))
    return expand_horizons(repeated, horizons, spec)


def latest_observed(features: pd.DataFrame, spec: PipelineSpec, targets: Sequence[str]) -> pd.DataFrame:
    """Each station's latest origin row with a current value of any of `targets`, one row per station."""
    st, ts = spec.station_column, spec.timestamp_column
    observed = features[[current_value_column(t) for t in targets]].notna().any(axis=1).to_numpy()
    origins = features.loc[observed, [st, ts]]
    rows = origins.groupby(st, observed=True)[ts].idxmax().to_numpy()
    return features.loc[rows].reset_index(drop=True)
