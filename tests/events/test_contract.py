"""The event contract and the spec checks on requests, without a broker: the reasons a person reads."""

from __future__ import annotations

import json

import pytest

from events.envelope import InvalidEvent, TrainingRequested, make_event, parse_event
from pipelines.keys import PipelineKeys
from pipelines.spec import load_specs
from sensors.event_requests import training_run_config

VALID = make_event("training.requested", {"pipeline": "air_quality"}, source="tests").model_dump(mode="json")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "malformed JSON"),
        (b"[]", "must be a JSON object"),
        (json.dumps({**VALID, "schema_version": 3, "extra": 1}).encode(), "unsupported schema_version 3"),
        (json.dumps({**VALID, "type": "model.deleted"}).encode(), "unknown event type 'model.deleted'"),
        (
            json.dumps({**VALID, "payload": {"pipeline": 3}}).encode(),
            "invalid training.requested payload: pipeline",
        ),
        (
            json.dumps(
                {
                    **VALID,
                    "type": "dataset.landed",
                    "payload": {"pipeline": "p", "uri": "u", "start": "2024-01-02"},
                }
            ).encode(),
            "give both start and end",
        ),
    ],
)
def test_parse_event_names_what_is_wrong(body: bytes, reason: str):
    with pytest.raises(InvalidEvent) as raised:
        parse_event(body)
    assert reason in raised.value.reason


def test_a_valid_envelope_round_trips():
    assert parse_event(json.dumps(VALID).encode()).model_dump(mode="json") == VALID


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"task": "nowcast"}, "has no task 'nowcast'"),
        ({"params": {"max_iter": 3}}, "params were given without an algorithm"),
        ({"algorithm": "ridge", "task": "exceedance"}, "is not a candidate of air_quality.exceedance"),
        ({"algorithm": "hist_gradient_boosting", "params": {"learning_rate": "fast"}}, "invalid params"),
    ],
)
def test_training_requests_are_checked_against_the_spec(payload: dict, reason: str):
    spec = load_specs()["air_quality"]
    with pytest.raises(InvalidEvent) as raised:
        training_run_config(spec, TrainingRequested(pipeline="air_quality", **payload))
    assert reason in raised.value.reason


def test_a_valid_training_request_becomes_the_model_assets_config():
    spec = load_specs()["air_quality"]
    config = training_run_config(
        spec, TrainingRequested(pipeline="air_quality", algorithm="ridge", params={"alpha": 2.0})
    )
    assert config == PipelineKeys(spec).model_config(spec.task("forecast"), "ridge", {"alpha": 2.0})
    assert training_run_config(spec, TrainingRequested(pipeline="air_quality")) == {}


def test_a_training_request_without_a_task_retrains_the_pipelines_first_task():
    """A tabular pipeline's one task is not called `forecast`: an event that names no task still works."""
    spec = load_specs()["census_income"]
    task = spec.tasks[0]
    payload = TrainingRequested(pipeline="census_income")
    assert payload.task is None
    candidate = task.candidates[0]
    config = training_run_config(
        spec, TrainingRequested(pipeline="census_income", algorithm=candidate.algorithm)
    )
    assert config == PipelineKeys(spec).model_config(task, candidate.algorithm, {}, None)
    with pytest.raises(InvalidEvent, match="has no task 'forecast'"):
        training_run_config(spec, TrainingRequested(pipeline="census_income", task="forecast"))
