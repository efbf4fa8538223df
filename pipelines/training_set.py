"""The training set: labelled model inputs with a time-based split (train, calibration, holdout).

Each origin row gets one horizon, cycling through the task's horizons, so a direct multi-horizon model sees
every horizon equally often without multiplying the rows. Labels come from later rows of the same station
(the feature table is a regular hourly grid), so nothing here looks at data the origin could not know,
except the labels themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.features import baseline_column, current_value_column, horizon_columns
from pipelines.spec import ClassificationTask, PipelineSpec, RegressionTask

SPLITS = ("train", "calibration", "holdout")


def label_column(target: str) -> str:
    return f"label_{target}"


def exceedance_label_column(task: ClassificationTask) -> str:
    return f"label_{task.name}"


def _grid_shape(features: pd.DataFrame, spec: PipelineSpec) -> tuple[int, int]:
    n_stations = features[spec.station_column].nunique()
    return n_stations, len(features) // max(n_stations, 1)


def _shifted(values: np.ndarray, offsets: np.ndarray, n_hours: int) -> np.ndarray:
    """values[p + offset] within the same station's block, NaN where that leaves the block."""
    pos = np.arange(len(values))
    hour = pos % n_hours
    target = hour + offsets
    ok = (target >= 0) & (target < n_hours)
    out = np.full(len(values), np.nan)
    out[ok] = values[(pos + offsets)[ok]]
    return out


def _exceeds_within(
    values: np.ndarray, threshold: float, within: int, n_stations: int, n_hours: int
) -> np.ndarray:
    """1.0 if any of the next `within` hours exceeds `threshold`, NaN if fewer than half were observed."""
    wide = pd.DataFrame(values.reshape(n_stations, n_hours).T)
    future = wide[::-1].rolling(within, min_periods=max(1, within // 2)).max()[::-1].shift(-1)
    label = (future > threshold).astype(float).where(future.notna())
    return label.to_numpy().ravel(order="F")


def assign_splits(times: pd.Series, spec: PipelineSpec) -> pd.Series:
    """train < calibration < holdout by origin time, with `gap_hours` dropped ('gap') before each boundary."""
    unique = np.sort(times.unique())
    if len(unique) == 0:
        return pd.Series([], dtype="string")
    n = len(unique)
    c1 = unique[min(n - 1, int(n * (1 - spec.split.calibration_fraction - spec.split.holdout_fraction)))]
    c2 = unique[min(n - 1, int(n * (1 - spec.split.holdout_fraction)))]
    gap = pd.Timedelta(hours=spec.split.gap_hours)
    split = np.select(
        [times < c1 - gap, (times >= c1) & (times < c2 - gap), times >= c2],
        ["train", "calibration", "holdout"],
        default="gap",
    )
    return pd.Series(split, index=times.index, dtype="string")


def _in_grid_order(codes: np.ndarray, timestamps: pd.Series) -> bool:
    """Ordered by station code, then time (as build_features makes it): then sorting would only copy."""
    times = pd.DatetimeIndex(timestamps).asi8
    same_station = codes[1:] == codes[:-1]
    return bool(
        np.all(codes[1:] >= codes[:-1]) and np.all(times[1:][same_station] > times[:-1][same_station])
    )


def build_training_set(features: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """Model inputs, labels and seasonal-naive baselines for every task, one row per (station, origin)."""
    st, ts = spec.station_column, spec.timestamp_column
    station_code = features.groupby(st, sort=True, observed=True).ngroup().to_numpy()
    if not _in_grid_order(station_code, features[ts]):
        features = features.sort_values([st, ts], kind="stable", ignore_index=True)
        station_code = features.groupby(st, sort=True, observed=True).ngroup().to_numpy()
    n_stations, n_hours = _grid_shape(features, spec)
    hour_index = np.arange(len(features)) % max(n_hours, 1)

    regression = [t for t in spec.tasks if isinstance(t, RegressionTask)]
    horizons = np.asarray(regression[0].horizons if regression else [1])
    chosen = horizons[(hour_index + station_code) % len(horizons)]

    labels: dict[str, np.ndarray] = {}
    labelled = np.zeros(len(features), dtype=bool)
    for task in spec.tasks:
        if isinstance(task, RegressionTask):
            for target in task.targets:
                values = features[current_value_column(target)].to_numpy(dtype=float)
                labels[label_column(target)] = _shifted(values, chosen, n_hours)
                season = 24 * np.ceil(chosen / 24).astype(int)
                labels[baseline_column(target)] = _shifted(values, chosen - season, n_hours)
                labelled |= ~np.isnan(labels[label_column(target)])
        else:
            column = exceedance_label_column(task)
            values = features[current_value_column(task.target)].to_numpy(dtype=float)
            labels[column] = _exceeds_within(values, task.threshold, task.within_hours, n_stations, n_hours)
            labelled |= ~np.isnan(labels[column])

    # The split is drawn over the labelled rows' times; the rows are then selected once, in one pass.
    labelled_rows = np.flatnonzero(labelled)
    split = assign_splits(features[ts].iloc[labelled_rows].reset_index(drop=True), spec).to_numpy()
    kept = labelled_rows[split != "gap"]
    table = features.iloc[kept].reset_index(drop=True)
    for name, values in horizon_columns(table[ts], chosen[kept], spec).items():
        table[name] = values
    for name, values in labels.items():
        table[name] = values[kept]
    table["split"] = pd.array(split[split != "gap"], dtype="string")
    return table
