"""The training set: labelled model inputs with a time-based split (train, calibration, holdout).

Each origin row gets one horizon, cycling through the task's horizons, so a direct multi-horizon model sees
every horizon equally often without multiplying the rows. Labels come from later rows of the same station
(the feature table is a regular hourly grid), so nothing here looks at data the origin could not know,
except the labels themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.features import current_value_column, expand_horizons
from pipelines.spec import ClassificationTask, PipelineSpec, RegressionTask

SPLITS = ("train", "calibration", "holdout")


def label_column(target: str) -> str:
    return f"label_{target}"


def baseline_column(target: str) -> str:
    return f"baseline_{target}"


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


def build_training_set(features: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """Model inputs, labels and seasonal-naive baselines for every task, one row per (station, origin)."""
    st, ts = spec.station_column, spec.timestamp_column
    features = features.sort_values([st, ts], kind="stable", ignore_index=True)
    n_stations, n_hours = _grid_shape(features, spec)
    station_code = features.groupby(st, sort=True, observed=True).ngroup().to_numpy()
    hour_index = np.arange(len(features)) % max(n_hours, 1)

    regression = [t for t in spec.tasks if isinstance(t, RegressionTask)]
    horizons = np.asarray(regression[0].horizons if regression else [1])
    chosen = horizons[(hour_index + station_code) % len(horizons)]
    table = expand_horizons(features, chosen, spec)

    labelled = np.zeros(len(table), dtype=bool)
    for task in spec.tasks:
        if isinstance(task, RegressionTask):
            for target in task.targets:
                values = features[current_value_column(target)].to_numpy(dtype=float)
                table[label_column(target)] = _shifted(values, chosen, n_hours)
                season = 24 * np.ceil(chosen / 24).astype(int)
                table[baseline_column(target)] = _shifted(values, chosen - season, n_hours)
                labelled |= ~np.isnan(table[label_column(target)].to_numpy())
        else:
            values = features[current_value_column(task.target)].to_numpy(dtype=float)
            column = exceedance_label_column(task)
            table[column] = _exceeds_within(values, task.threshold, task.within_hours, n_stations, n_hours)
            labelled |= ~np.isnan(table[column].to_numpy())

    table = table[labelled].reset_index(drop=True)
    table["split"] = assign_splits(table[ts], spec)
    return table[table["split"] != "gap"].reset_index(drop=True)
