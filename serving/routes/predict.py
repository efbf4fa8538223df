"""Predictions from the champion: rows checked against the model's inputs, single rows micro-batched."""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import secrets
import time
from collections.abc import Callable
from operator import itemgetter

import msgspec
import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from pipelines.spec import RegressionTask, TabularSpec
from serving.batching import NoChampion
from serving.deps import JsonBody, PlatformDep, Predictor, SpecDep, champion_or_503, resolve_task
from serving.observability import PREDICTIONS, SERVED_BY
from serving.problems import Problem, unavailable
from serving.schemas import PredictRequest, PredictResponse
from serving.store import PredictionRecord
from serving.tabular_rows import logged_outputs, predict_rows, validate_rows

router = APIRouter(prefix="/v1/pipelines", tags=["predictions"])


def feature_matrix(rows: list[dict[str, float | None]], columns: tuple[str, ...]) -> np.ndarray:
    """Rows → a float matrix in the model's column order; 422 naming the first row and field that do not fit."""
    expected = set(columns)
    for i, row in enumerate(rows):
        if row.keys() != expected:
            missing = [c for c in columns if c not in row]
            unknown = sorted(set(row) - expected)
            what = []
            if missing:
                what.append(f"missing {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
            if unknown:
                what.append(f"unknown {', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''}")
            raise Problem(
                422,
                f"rows[{i}]: {'; '.join(what)} (the model takes {len(columns)} columns: GET …/model lists them)",
                errors=[
                    {"location": f"rows[{i}].{c}", "message": "field required", "type": "missing"}
                    for c in missing
                ]
                + [
                    {"location": f"rows[{i}].{c}", "message": "unknown field", "type": "extra_forbidden"}
                    for c in unknown
                ],
            )
    getter = itemgetter(*columns)
    if len(columns) == 1:
        return np.array([[getter(r)] for r in rows], dtype=float)
    return np.array(list(map(getter, rows)), dtype=float)


def parse_body(raw: bytes) -> PredictRequest:
    """Parse and validate in one pass in Rust (pydantic), instead of FastAPI's json.loads followed by
    validation of the Python objects."""
    try:
        return PredictRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    rows: msgspec.Raw
    task: str | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)


@functools.lru_cache(maxsize=64)
def _rows_decoder(columns: tuple[str, ...]) -> msgspec.json.Decoder:
    """Rows as structs with exactly the model's columns (JSON numbers or null), in its column order."""
    row = msgspec.defstruct(
        "Row",
        [(f"f{i}", float | None) for i in range(len(columns))],
        rename={f"f{i}": c for i, c in enumerate(columns)},
        forbid_unknown_fields=True,
        gc=False,
    )
    return msgspec.json.Decoder(list[row])


def fast_matrix(
    raw: bytes, columns: Callable[[str | None], tuple[str, ...]]
) -> tuple[str | None, np.ndarray] | None:
    """(task, feature matrix) straight from a plainly valid body in one typed pass (msgspec), without a
    dict per row, for large bodies the cheaper path than `parse_body` + `feature_matrix`. `columns(task)` names
    the model's inputs. None for anything else (a string or boolean to coerce, a field missing or
    unknown, a number too large, …): the slow path then judges the body and names what is wrong."""
    try:
        envelope = _ENVELOPE.decode(raw)
        rows = _rows_decoder(columns(envelope.task)).decode(envelope.rows)
    except msgspec.DecodeError:
        return None
    if not rows:
        return None
    x = np.array(list(map(msgspec.structs.astuple, rows)), dtype=float)
    return None if np.isinf(x).any() else (envelope.task, x)


@functools.lru_cache(maxsize=64)
def _prediction_type(outputs: tuple[str, ...]) -> type[msgspec.Struct]:
    """One response row: its prediction id and the model's outputs (a struct encodes faster than a dict)."""
    return msgspec.defstruct(
        "RowPrediction",
        [("prediction_id", str)] + [(f"f{i}", float) for i in range(len(outputs))],
        rename={f"f{i}": c for i, c in enumerate(outputs)},
        gc=False,
    )


_ENCODER = msgspec.json.Encoder()

_ids = {"process": secrets.token_hex(3)[:5], "sequence": itertools.count()}


def _new_id_process() -> None:
    _ids.update(process=secrets.token_hex(3)[:5], sequence=itertools.count())


os.register_at_fork(after_in_child=_new_id_process)  # a forked worker must not repeat its parent's ids


def new_prediction_id() -> str:
    """`p_` and 20 hex digits: milliseconds since the epoch (11), this process (5, random), a counter (4).
    In time order, a new id goes to the end of the predictions table's key index. Random ones (uuid4)
    land on a random index page each, so logging a prediction gets slower as the table grows."""
    return f"p_{time.time_ns() // 1_000_000:011x}{_ids['process']}{next(_ids['sequence']) & 0xFFFF:04x}"


@router.post(
    "/{pipeline}/predict",
    summary="Predict one or many rows with the champion",
    response_model=PredictResponse,
    dependencies=[JsonBody],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
        }
    },
    responses={
        404: {"description": "No such pipeline"},
        413: {"description": "Body over the limit"},
        415: {"description": "Not JSON"},
        422: {"description": "A row does not fit the model's inputs (the row and field are named)"},
        503: {"description": "No model loaded for this task yet"},
    },
)
async def predict(spec: SpecDep, platform: PlatformDep, caller: Predictor, request: Request) -> Response:
    raw = await request.body()
    if isinstance(spec, TabularSpec):
        return await predict_table(spec, platform, request, raw)
    fast = fast_matrix(
        raw, lambda name: champion_or_503(platform, spec, resolve_task(spec, name).name).feature_columns
    )
    if fast is not None:
        task, x = resolve_task(spec, fast[0]), fast[1]
    else:
        body = parse_body(raw)
        task = resolve_task(spec, body.task)
        x = feature_matrix(body.rows, champion_or_503(platform, spec, task.name).feature_columns)
    if len(x) > platform.serving.max_rows:
        raise Problem(413, f"{len(x)} rows in one request; the limit is {platform.serving.max_rows}")
    try:
        champion, outputs = await platform.batcher.predict(spec.name, task.name, x)
    except NoChampion:
        raise unavailable(
            f"no model is loaded for {spec.name}.{task.name}", platform.serving.retry_after_seconds
        ) from None
    prediction_id = new_prediction_id()
    names = tuple(outputs)
    columns = [outputs[n].tolist() for n in names]
    ids = [f"{prediction_id}.{i}" for i in range(len(x))]
    predictions = list(map(_prediction_type(names), ids, *columns))
    PREDICTIONS.labels(spec.name, task.name, champion.version).inc(len(x))
    request.scope["state"][SERVED_BY] = (spec.name, task.name, str(champion.version))
    trace_id = request.scope["state"].get("trace_id", "")
    platform.store.log_prediction(
        PredictionRecord(
            prediction_id, spec.name, task.name, champion.model_name, champion.version,
            dict(zip(names, columns, strict=True)), trace_id,
        )
    )  # fmt: skip
    body_out = {
        "pipeline": spec.name,
        "task": task.name,
        "model": champion.model_name,
        "model_version": champion.version,
        "prediction_id": prediction_id,
        "interval_level": task.interval_level if isinstance(task, RegressionTask) else None,
        "sources": champion.sources,
        "predictions": predictions,
    }
    return Response(_ENCODER.encode(body_out), media_type="application/json")


class _TableBody(msgspec.Struct, forbid_unknown_fields=True):
    rows: list[dict] | None = None
    task: str | None = None


async def predict_table(spec: TabularSpec, platform: PlatformDep, request: Request, raw: bytes) -> Response:
    """Raw rows of a tabular pipeline: validated against its spec, predicted by the champion's pipeline."""
    try:
        body = msgspec.json.decode(raw, type=_TableBody)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Problem(422, f"body: {exc}") from None
    task = resolve_task(spec, body.task)
    rows = body.rows or []
    if len(rows) > platform.serving.max_rows:
        raise Problem(413, f"{len(rows)} rows in one request; the limit is {platform.serving.max_rows}")
    frame = validate_rows(spec, task, rows)
    champion = champion_or_503(platform, spec, task.name)
    predictions = await asyncio.to_thread(predict_rows, champion.model, frame)
    prediction_id = new_prediction_id()
    PREDICTIONS.labels(spec.name, task.name, champion.version).inc(len(rows))
    platform.store.log_prediction(
        PredictionRecord(
            prediction_id, spec.name, task.name, champion.model_name, champion.version,
            logged_outputs(champion.model, task, predictions), request.scope["state"].get("trace_id", ""),
        )
    )  # fmt: skip
    body_out = {
        "pipeline": spec.name,
        "task": task.name,
        "model": champion.model_name,
        "model_version": champion.version,
        "prediction_id": prediction_id,
        "level": task.level,
        "predictions": [{"prediction_id": f"{prediction_id}.{i}", **p} for i, p in enumerate(predictions)],
    }
    return Response(_ENCODER.encode(body_out), media_type="application/json")
