"""The platform's event contract: one JSON envelope for every message on the bus.

`{id, type, schema_version, occurred_at, source, trace_id, payload}`; payloads are validated per type.
Producers and consumers (sensors, serving, UI) all import this module, never their own copy.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCHEMA_VERSION = 1


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetLanded(_Payload):
    pipeline: str
    uri: str = Field(description="Object in the landing area, e.g. s3://landing/air_quality_landing/x.csv")
    start: dt.date | None = Field(
        None, description="First day the file covers; read from the file if absent."
    )
    end: dt.date | None = Field(None, description="Last day the file covers (inclusive).")

    @model_validator(mode="after")
    def _days_in_order(self) -> DatasetLanded:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self


class TrainingRequested(_Payload):
    pipeline: str
    task: str | None = Field(None, description="The task to retrain; the pipeline's first task when omitted.")
    algorithm: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, Any] | None = Field(
        None,
        description="Tabular tasks: search space and budget (`space`, `trials`, `timeout_seconds`, `seed`).",
    )


class FeedbackRecorded(_Payload):
    prediction_id: str
    observed: float
    pipeline: str | None = None
    target: str | None = None


class ModelPromoted(_Payload):
    pipeline: str
    task: str
    model: str
    version: str
    metrics: dict[str, float] = Field(default_factory=dict)


class RunFailed(_Payload):
    run_id: str
    job: str
    pipeline: str | None = None
    error: str = ""


class DatasetMaterialized(_Payload):
    pipeline: str
    asset: str
    uri: str | None = None
    data_version: str | None = None
    rows: int | None = None


PAYLOADS: dict[str, type[_Payload]] = {
    "dataset.landed": DatasetLanded,
    "training.requested": TrainingRequested,
    "feedback.recorded": FeedbackRecorded,
    "model.promoted": ModelPromoted,
    "run.failed": RunFailed,
    "dataset.materialized": DatasetMaterialized,
}
EventType = Literal[
    "dataset.landed",
    "training.requested",
    "feedback.recorded",
    "model.promoted",
    "run.failed",
    "dataset.materialized",
]


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: EventType
    schema_version: int = SCHEMA_VERSION
    occurred_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    source: str
    trace_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    payload: dict[str, Any]

    def typed_payload(self) -> _Payload:
        return PAYLOADS[self.type].model_validate(self.payload)


class InvalidEvent(ValueError):
    """A message that does not follow the contract; `reason` goes into the dead-letter header."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_event(
    event_type: EventType, payload: _Payload | dict[str, Any], source: str, trace_id: str | None = None
) -> Envelope:
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else dict(payload)
    PAYLOADS[event_type].model_validate(data)
    kwargs = {"trace_id": trace_id} if trace_id else {}
    return Envelope(type=event_type, source=source, payload=data, **kwargs)


def parse_event(body: bytes) -> Envelope:
    """Validate raw message bytes; raises InvalidEvent with a reason a person can act on.

    The version and type are checked before the shape, so a message from a newer producer is reported as
    such rather than as a field error."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"the envelope must be a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise InvalidEvent(f"unsupported schema_version {version!r} (this consumer reads {SCHEMA_VERSION})")
    if "type" in data and data["type"] not in PAYLOADS:
        raise InvalidEvent(f"unknown event type {data['type']!r}; known: {', '.join(PAYLOADS)}")
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise InvalidEvent(f"invalid envelope: {where}: {first['msg']}") from None
    try:
        envelope.typed_payload()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(payload)"
        raise InvalidEvent(f"invalid {envelope.type} payload: {where}: {first['msg']}") from None
    return envelope
