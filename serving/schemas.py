"""Request and response bodies of the API, with the examples shown in the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Number = Annotated[float, Field(allow_inf_nan=False)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "task": "exceedance",
                    "rows": [
                        {"no2_lag0": 61.0, "no2_lag1": 58.5, "temperature": 11.2, "hour": 8.0, "...": 0}
                    ],
                }
            ]
        },
    )
    task: str | None = Field(None, description="The pipeline's task; default: its first (e.g. `forecast`).")
    rows: list[dict[str, Number | None]] = Field(
        min_length=1,
        description="Feature rows: every input column of the model's signature (`GET …/model` lists them); "
        "null marks a missing reading.",
    )


class RowPrediction(BaseModel):
    model_config = ConfigDict(extra="allow")
    prediction_id: str = Field(description="Quote it in `POST /v1/feedback` with the observed value.")


class PredictResponse(BaseModel):
    pipeline: str
    task: str
    model: str
    model_version: str
    prediction_id: str
    interval_level: float | None = Field(None, description="For forecasts: the level of `*_lower`/`*_upper`.")
    sources: dict[str, Literal["model", "baseline"]] | None = Field(
        None,
        description="For forecasts: Per target: `model` when the trained model serves it, `baseline` when the seasonal-naive forecast does (the model failed that target's gates).",
    )
    predictions: list[RowPrediction] = Field(
        description="One per row, in order: `{target}`, `{target}_lower`, `{target}_upper` for forecasts, "
        "`probability` for classifiers."
    )


class ForecastValue(BaseModel):
    target: str
    unit: str | None
    prediction: float | None
    lower: float | None
    upper: float | None
    source: Literal["model", "baseline"] = Field(
        "model", description="What made this forecast: the trained model or the seasonal-naive baseline."
    )


class ForecastResponse(BaseModel):
    pipeline: str
    task: str
    station: str
    at: dt.datetime
    issued_at: dt.datetime = Field(description="The last observed hour the forecast starts from.")
    horizon: int = Field(description="Hours ahead of `issued_at`.")
    model: str
    model_version: str
    interval_level: float
    source: Literal["precomputed", "computed"] = Field(
        description="`precomputed` by the forecasts asset, or `computed` now from the latest features."
    )
    sources: dict[str, Literal["model", "baseline"]] = Field(
        description="Per target: `model` when the trained model serves it, `baseline` when the seasonal-naive forecast does (the model failed that target's gates)."
    )
    forecasts: list[ForecastValue]


class TaskModel(BaseModel):
    name: str
    kind: str
    model: str
    champion_version: str | None
    latest_version: str | None = Field(None, description="The newest registered version, champion or not.")
    loaded_at: dt.datetime | None = None
    input_columns: list[str] | None = None
    outputs: list[str] | None = None
    sources: dict[str, Literal["model", "baseline"]] | None = Field(
        None,
        description="For forecasts: Per target: `model` when the trained model serves it, `baseline` when the seasonal-naive forecast does (the model failed that target's gates).",
    )
    metrics: dict[str, float] = Field(default_factory=dict, description="Holdout metrics of the champion.")
    data_versions: dict[str, str] = Field(default_factory=dict)
    code_version: str | None = None
    promoted_at: str | None = None
    mlflow_run_id: str | None = None
    mlflow_run_url: str | None = None
    load_error: str | None = None


class PipelineModels(BaseModel):
    pipeline: str
    tasks: list[TaskModel]


class PipelineSummary(BaseModel):
    name: str
    description: str
    kind: Literal["timeseries", "tabular"] = "timeseries"
    source: str
    accepts_uploads: bool
    tasks: list[TaskModel]
    data_versions: dict[str, str] = Field(
        default_factory=dict,
        description="Content hash of each served asset (features, outputs): changes whenever its data does.",
    )


class TrainingRequest(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"task": "forecast", "algorithm": "hist_gradient_boosting", "params": {"max_iter": 200}}
            ]
        },
    )
    task: str | None = Field(None, description="The pipeline's task; default: its first (e.g. `forecast`).")
    algorithm: str | None = Field(None, description="One of the task's candidate algorithms in the spec.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Its hyper-parameters (merged over the spec's)."
    )
    search: dict[str, Any] | None = Field(
        None,
        description="Tabular tasks: search these hyper-parameters within a budget, e.g. "
        '`{"space": {"C": {"low": 0.01, "high": 10, "log": true}}, "trials": 20, "seed": 0}`.',
    )


class Accepted(BaseModel):
    task_id: str = Field(description="Follow it at `status_url`.")
    status_url: str
    event: str
    trace_id: str
    detail: dict[str, Any] = Field(default_factory=dict)


class TaskStatus(BaseModel):
    task_id: str
    kind: str
    pipeline: str
    created_at: dt.datetime
    status: Literal["pending", "queued", "starting", "running", "succeeded", "failed", "canceled"]
    run_id: str | None = None
    run_url: str | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None
    error: str | None = Field(None, description="Why a failed run failed: the blocking checks or steps.")


class FeedbackRequest(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"prediction_id": "p_4f1c2a9be07d4c1f8d2e.0", "target": "no2", "observed": 47.5}]
        },
    )
    prediction_id: str = Field(max_length=80, pattern=r"^p_[0-9a-f]{20}\.[0-9]{1,6}$")
    target: str | None = Field(
        None,
        description="Which output the observation is for (`no2`, `co`, or `probability` with 0/1); "
        "needed when the model has several.",
        max_length=128,
    )
    observed: Number | Annotated[str, Field(max_length=256)] = Field(
        description="The observed value; for a tabular classifier, the observed class label."
    )


class FeedbackAccepted(BaseModel):
    prediction_id: str
    target: str
    observed: float
    predicted: float | None
    model_version: str
    event_id: str
    published: bool = Field(description="False while the broker is away; it is published once it is back.")
