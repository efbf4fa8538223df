"""The tables a task serves: forecasts with their intervals, or the risk of an exceedance, for every
station from its latest observed hour, stamped with the model version that made them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from pipelines.features import forecast_inputs, latest_observed
from pipelines.spec import ClassificationTask, PipelineSpec, RegressionTask


def forecast_table(
    inputs: pd.DataFrame,
    predicted: pd.DataFrame,
    spec: PipelineSpec,
    task: RegressionTask,
    model_source: Callable[[str], str],
) -> pd.DataFrame:
    """One row per station, target hour and pollutant: the prediction, its interval and its source (model
    or seasonal-naive baseline). `inputs` are the model inputs (`forecast_inputs`), `predicted` the model's
    `predict_frame` of them, `model_source(target)` what made them."""
    st, ts = spec.station_column, spec.timestamp_column
    return pd.concat(
        [
            pd.DataFrame(
                {
                    st: inputs[st].to_numpy(),
                    "issued_at": inputs[ts].to_numpy(),
                    "target_time": inputs["target_time"].to_numpy(),
                    "horizon": inputs["horizon"].astype(int).to_numpy(),
                    "pollutant": target,
                    "prediction": predicted[target].to_numpy(),
                    "lower": predicted[f"{target}_lower"].to_numpy(),
                    "upper": predicted[f"{target}_upper"].to_numpy(),
                    "interval_level": task.interval_level,
                    "source": model_source(target),
                }
            )
            for target in task.targets
        ],
        ignore_index=True,
    )


def exceedance_table(
    latest: pd.DataFrame, probability: Any, spec: PipelineSpec, task: ClassificationTask
) -> pd.DataFrame:
    """One row per station: the probability that the pollutant exceeds the threshold within the task's
    window after the station's latest observed hour (`latest`, from `latest_observed`)."""
    st, ts = spec.station_column, spec.timestamp_column
    return pd.DataFrame(
        {
            st: latest[st].to_numpy(),
            "issued_at": latest[ts].to_numpy(),
            "window_end": (latest[ts] + pd.Timedelta(hours=task.within_hours)).to_numpy(),
            "pollutant": task.target,
            "threshold": task.threshold,
            "probability": probability,
        }
    )


def output_table(
    features: pd.DataFrame,
    model: Any,
    spec: PipelineSpec,
    task: RegressionTask | ClassificationTask,
    model_name: str,
    model_version: str,
) -> pd.DataFrame:
    """The task's output from the latest features with `model` (a ForecastModel or ExceedanceModel)."""
    if isinstance(task, RegressionTask):
        inputs = forecast_inputs(features, spec, task)
        frame = forecast_table(inputs, model.predict_frame(inputs), spec, task, model.source)
    else:
        latest = latest_observed(features, spec, [task.target])
        frame = exceedance_table(latest, model.predict_frame(latest)["probability"].to_numpy(), spec, task)
    frame["model"] = model_name
    frame["model_version"] = model_version
    return frame
