"""The platform's event contract: one JSON envelope for every message on the bus.

`{id, type, schema_version, occurred_at, source, trace_id, payload}`; payloads are validated per type.
Producers and consumers (sensors, serving, UI) all import this module, never their own copy.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetLanded(_Payload):
    pipeline: str
    uri: str = Field(description="Object in the landing area, e.g. s3://landing/air_quality_landing/x.csv")


class TrainingRequested(_Payload):
    pipeline: str
    task: str = "forecast"
    algorithm: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


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
    """Validate raw message bytes; raises InvalidEvent with a reason a person can act on."""
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise InvalidEvent(f"invalid envelope: {where}: {first['msg']}") from None
    if envelope.schema_version != SCHEMA_VERSION:
        raise InvalidEvent(
            f"unsupported schema_version {envelope.schema_version} (this consumer reads {SCHEMA_VERSION})"
        )
    try:
        envelope.typed_payload()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(payload)"
        raise InvalidEvent(f"invalid {envelope.type} payload: {where}: {first['msg']}") from None
    return envelope
