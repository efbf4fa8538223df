"""MinIO's bucket notifications, translated into the platform's `dataset.landed` envelope (events/minio.py)."""

from __future__ import annotations

import json

import pytest

from events.envelope import InvalidEvent
from events.minio import landed_event

FOLDERS = {"air_quality_landing": "air_quality_landing"}


def notification(
    key: str, principal: str = "minio-admin", event: str = "s3:ObjectCreated:Put", **obj
) -> bytes:
    """What MinIO publishes for one object (its AMQP target's message body); the key is URL-encoded."""
    return json.dumps(
        {
            "EventName": event,
            "Key": f"landing/{key}",
            "Records": [
                {
                    "eventVersion": "2.0",
                    "eventSource": "minio:s3",
                    "eventTime": "2026-11-23T05:00:00.000Z",
                    "eventName": event,
                    "userIdentity": {"principalId": principal},
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": "Config",
                        "bucket": {"name": "landing", "arn": "arn:aws:s3:::landing"},
                        "object": {
                            "key": key.replace("/", "%2F").replace(" ", "+"),
                            "size": 1024,
                            "eTag": "9b2cf535f27731c974343645a3985328",
                            "contentType": "text/csv",
                            "sequencer": "187A2C3E4B1D2F00",
                            **obj,
                        },
                    },
                }
            ],
        }
    ).encode()


def test_a_dropped_file_becomes_dataset_landed_for_the_pipeline_of_its_folder():
    envelope = landed_event(notification("air_quality_landing/march 2026.csv"), FOLDERS, "mlops-platform")
    assert envelope is not None
    assert envelope.type == "dataset.landed"
    assert envelope.payload == {
        "pipeline": "air_quality_landing",
        "uri": "s3://landing/air_quality_landing/march 2026.csv",
    }
    assert envelope.source == "minio:minio-admin"


def test_the_same_object_version_always_gets_the_same_event_id_and_a_new_version_a_new_one():
    first = landed_event(notification("air_quality_landing/x.csv"), FOLDERS)
    again = landed_event(notification("air_quality_landing/x.csv"), FOLDERS)
    rewritten = landed_event(notification("air_quality_landing/x.csv", sequencer="187A2C3E4B1D2F99"), FOLDERS)
    assert first.id == again.id and first.trace_id == again.trace_id
    assert rewritten.id != first.id


def test_the_platforms_own_writes_are_not_announced_twice():
    assert (
        landed_event(
            notification("air_quality_landing/x.csv", principal="mlops-platform"), FOLDERS, "mlops-platform"
        )
        is None
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed MinIO notification"),
        (json.dumps({"EventName": "s3:ObjectCreated:Put"}).encode(), "not a MinIO bucket notification"),
        (notification("air_quality_landing/x.csv", event="s3:ObjectRemoved:Delete"), "do not land datasets"),
        (notification("somewhere/x.csv"), "not a file in a pipeline's landing folder"),
        (notification("air_quality_landing/deeper/x.csv"), "not a file in a pipeline's landing folder"),
    ],
)
def test_anything_else_is_invalid_with_a_reason(body: bytes, reason: str):
    with pytest.raises(InvalidEvent, match=reason):
        landed_event(body, FOLDERS)
