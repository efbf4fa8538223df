"""Raw rows of a tabular pipeline, as clients send them: their schema generated from the spec (what the
OpenAPI document shows), validated against it (types, allowed categories, required columns) with 422
errors naming the row and field, and predicted by the champion's own pipeline (which encodes them)."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from pipelines.spec import TabularColumn, TabularSpec, TabularTask
from pipelines.tabular_models import TabularModel
from serving.problems import Problem, validation_errors


def _field(column: TabularColumn) -> tuple[Any, Any]:
    kind: Any = {
        "numeric": float,
        "boolean": bool,
        "datetime": dt.datetime | dt.date,
        "categorical": Literal[tuple(column.allowed)] if column.allowed else str,  # type: ignore[misc]
    }[column.type]
    extra = {"ge": column.min, "le": column.max, "allow_inf_nan": False} if column.type == "numeric" else {}
    described = Field(... if column.required else None, description=f"{column.type}", **extra)
    return (kind if column.required else kind | None), described


def row_model(spec: TabularSpec, task_name: str) -> type[BaseModel]:
    """The pydantic model of one row: the task's input columns, typed; optional ones may be null or absent."""
    return _row_model(spec.model_dump_json(), task_name)


@functools.lru_cache(maxsize=64)
def _row_model(spec_json: str, task_name: str) -> type[BaseModel]:
    """Keyed on the spec's content: specs are re-read periodically, and an unchanged one reuses its model."""
    spec = TabularSpec.model_validate_json(spec_json)
    return _build_row_model(spec, spec.task(task_name))


def _build_row_model(spec: TabularSpec, task: TabularTask) -> type[BaseModel]:
    fields = {c.name: _field(c) for c in spec.input_columns(task)}
    return create_model(f"{spec.name}_{task.name}_row", __config__=ConfigDict(extra="forbid"), **fields)


def rows_schema(spec: TabularSpec, task: TabularTask) -> dict[str, Any]:
    """The JSON schema of a predict request for this pipeline: `{"task": …, "rows": [row, …]}`."""
    row = row_model(spec, task.name).model_json_schema()
    return {
        "title": f"{spec.name} predict request",
        "type": "object",
        "required": ["rows"],
        "additionalProperties": False,
        "properties": {
            "task": {"type": "string", "enum": [task.name]},
            "rows": {"type": "array", "minItems": 1, "items": row},
        },
    }


def validate_rows(spec: TabularSpec, task: TabularTask, rows: Any) -> pd.DataFrame:
    """Rows → a frame of raw values in the model's columns; 422 naming every row and field that does not fit."""
    if not isinstance(rows, list) or not rows:
        raise Problem(422, "rows: a non-empty list of objects is required")
    model = row_model(spec, task.name)
    errors: list[dict[str, Any]] = []
    values = []
    for i, row in enumerate(rows):
        try:
            values.append(model.model_validate(row).model_dump())
        except ValidationError as exc:
            errors += [{**e, "loc": ("rows", i, *e["loc"])} for e in exc.errors(include_url=False)]
    if errors:
        found = validation_errors(errors)
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise Problem(422, f"{found[0]['location']}: {found[0]['message']}{more}", errors=found)
    frame = pd.DataFrame(values, columns=list(model.model_fields))
    for column in spec.input_columns(task):
        if column.type == "datetime":
            frame[column.name] = pd.to_datetime(frame[column.name])
        elif column.type == "categorical":
            frame[column.name] = frame[column.name].astype(object).where(frame[column.name].notna(), np.nan)
        else:
            frame[column.name] = frame[column.name].astype(float)
    return frame


def predict_rows(model: TabularModel, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One output object per row: label, probability, prediction set and class probabilities (or value and
    interval), as plain JSON values."""
    out = model.predict_frame(frame)
    if model.kind == "regression":
        return [{k: float(v) for k, v in row.items()} for row in out.to_dict("records")]
    rows = []
    for row in out.to_dict("records"):
        rows.append(
            {
                "label": row["label"],
                "probability": float(row["probability"]),
                "prediction_set": list(row["prediction_set"]),
                "probabilities": {c: float(row[f"p_{c}"]) for c in model.classes},
            }
        )
    return rows


def logged_outputs(
    model: TabularModel, task: TabularTask, predictions: list[dict[str, Any]]
) -> dict[str, list]:
    """What the prediction log keeps (numbers, for feedback to compare with): the class index or the value."""
    if model.kind == "regression":
        return {
            task.target: [p["prediction"] for p in predictions],
            f"{task.target}_lower": [p["lower"] for p in predictions],
            f"{task.target}_upper": [p["upper"] for p in predictions],
        }
    return {task.target: [float(model.classes.index(p["label"])) for p in predictions]}
