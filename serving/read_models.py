"""Response bodies of the routes the analyst app reads: stations and their history, forecast paths and
exceedance risk, model versions with their gates, data quality, runs, and the caller's own key."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from serving.schemas import ForecastValue


class StationSummary(BaseModel):
    station: str
    first_hour: dt.datetime | None = Field(description="The first hour in the cleaned data.")
    latest_observed: dt.datetime | None = Field(description="The newest hour with a reading of any column.")


class Stations(BaseModel):
    pipeline: str
    data_version: str = Field(description="Version of the cleaned data these figures come from.")
    latest_observed: dt.datetime | None = Field(description="The newest hour observed at any station.")
    stations: list[StationSummary]


class ColumnInfo(BaseModel):
    name: str
    unit: str | None
    min: float | None = None
    max: float | None = None


class StationHistory(BaseModel):
    pipeline: str
    station: str
    start: dt.datetime
    end: dt.datetime = Field(description="Exclusive.")
    data_version: str
    columns: list[ColumnInfo]
    readings: list[dict[str, Any]] = Field(
        description="One row per hour of the range with data that day: `timestamp` and every column "
        "(null where the reading is missing after cleaning: a gap longer than the spec interpolates)."
    )


class PathPoint(ForecastValue):
    target_time: dt.datetime
    horizon: int
    prediction_id: str = Field(description="Quote it in `POST /v1/feedback` with the observed value.")


class StationPath(BaseModel):
    station: str
    issued_at: dt.datetime = Field(description="The last observed hour the forecast starts from.")
    source: Literal["precomputed", "computed"]
    points: list[PathPoint] = Field(description="Per target and horizon, in that order.")


class ForecastPaths(BaseModel):
    pipeline: str
    task: str
    model: str
    model_version: str
    interval_level: float
    horizons: list[int]
    sources: dict[str, Literal["model", "baseline"]] = Field(
        description="Per target: `model` when the trained model serves it, `baseline` when the seasonal-naive forecast does (the model failed that target's gates)."
    )
    prediction_id: str
    stations: list[StationPath]


class StationRisk(BaseModel):
    station: str
    issued_at: dt.datetime
    window_end: dt.datetime
    probability: float | None
    prediction_id: str
    source: Literal["precomputed", "computed"]


class ExceedanceRisk(BaseModel):
    pipeline: str
    task: str
    model: str
    model_version: str
    target: str
    unit: str | None
    threshold: float
    within_hours: int
    stations: list[StationRisk]


class Gate(BaseModel):
    name: str
    passed: bool | None = Field(description="From the version's `gate.<name>` tag; null if never evaluated.")
    message: str | None = Field(None, description="What the check said (from Dagster), when available.")


class ModelVersion(BaseModel):
    version: str
    champion: bool
    created_at: dt.datetime
    status: str
    candidate: str | None = Field(None, description="The spec candidate that won on calibration.")
    algorithm: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(
        description="Holdout metrics (`holdout.` prefix dropped): per target mae, coverage next to "
        "interval_width (mean width of the interval), and with per-target sources the served ones."
    )
    gates: list[Gate]
    sources: dict[str, str] = Field(
        default_factory=dict, description="From the version's `source.<target>` tags: model | baseline."
    )
    tags: dict[str, str]
    data_version: str | None = None
    code_version: str | None = None
    promoted_at: str | None = None
    mlflow_run_id: str | None = None
    mlflow_run_url: str | None = None


class ModelVersions(BaseModel):
    pipeline: str
    task: str
    kind: str
    model: str
    champion_version: str | None
    gate_messages_error: str | None = Field(
        None, description="Why gate messages are missing (Dagster unreachable); the verdicts are still there."
    )
    versions: list[ModelVersion] = Field(description="Newest first.")


class RollbackRequest(BaseModel):
    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{"to_version": "3"}]}}

    to_version: str | None = Field(
        None,
        max_length=16,
        pattern=r"^[0-9]+$",
        description="The registered version to serve; default: the champion before the current one.",
    )


class RollbackResult(BaseModel):
    pipeline: str
    task: str
    model: str
    previous_version: str
    version: str
    announced: bool = Field(description="Whether `model.promoted` went out (False while the broker is away).")


class CheckResult(BaseModel):
    asset: str
    check: str
    blocking: bool
    status: Literal["passed", "failed", "warning", "in progress", "not run", "execution failed", "skipped"]
    description: str | None = Field(description="What the check verifies.")
    message: str | None = Field(description="What its latest evaluation said.")
    partition: str | None = None
    evaluated_at: dt.datetime | None = None
    run_id: str | None = None
    run_url: str | None = None


class MissingShare(BaseModel):
    day: dt.date
    column: str
    share: float = Field(description="Share of the day's hours (at stations with data) without a value.")


class DataQuality(BaseModel):
    pipeline: str
    start: dt.date
    end: dt.date = Field(description="Inclusive.")
    station: str | None
    data_version: str
    missing: list[MissingShare]
    checks: list[CheckResult]
    checks_error: str | None = Field(None, description="Why check results are missing (Dagster unreachable).")


class RunInfo(BaseModel):
    run_id: str
    job: str
    status: str
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    url: str
    assets: list[str] = Field(description="The pipeline's assets whose latest run this is.")


class PipelineRuns(BaseModel):
    pipeline: str
    dagster_url: str
    asset_urls: dict[str, str] = Field(description="Dagster UI page of each asset of the pipeline.")
    latest: RunInfo | None
    in_progress: list[str] = Field(description="Runs of the pipeline's assets in progress or queued now.")


class KeyInfo(BaseModel):
    name: str
    scopes: list[str]


class UploadProblem(BaseModel):
    column: str
    reason: str
    count: int
    examples: list[str] = Field(default_factory=list)


class RejectedRow(BaseModel):
    row: int = Field(
        description="The row's number among the file's data rows, from 1 (the header not counted)."
    )
    reason: str


class CheckVerdict(BaseModel):
    check: str
    passed: bool
    message: str


class ExpectedColumn(BaseModel):
    name: str
    source: str
    unit: str | None
    min: float | None
    max: float | None
    found: bool


class UploadPreview(BaseModel):
    pipeline: str
    kind: str
    rows: int
    start: dt.date
    end: dt.date
    stations: list[str]
    columns_found: list[str] = Field(description="The file's own columns, as its header names them.")
    expected: list[ExpectedColumn] = Field(description="What the spec declares, and whether the file has it.")
    first_rows: list[dict[str, Any]] = Field(description="The first rows as the spec reads them.")
    problems: list[UploadProblem] = Field(description="Values ingestion will treat as missing, and why.")
    rejected_rows: int
    rejected: list[RejectedRow] = Field(description="The first rows ingestion will drop, and why.")
    checks: list[CheckVerdict] = Field(description="The raw asset's blocking checks, run on this file.")
