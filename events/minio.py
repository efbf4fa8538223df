"""MinIO bucket notifications → `dataset.landed`: a file dropped into the landing bucket with any S3 client
starts the same run as an upload through the API.

MinIO publishes each `s3:ObjectCreated:*` of the landing bucket to the platform exchange with routing key
`OBJECT_CREATED` (deploy/compose/compose.yaml, target PRIMARY), in its own shape:
`{"EventName": "s3:ObjectCreated:Put", "Key": "landing/<folder>/<file>", "Records": [{"s3": {"bucket":
{"name": ...}, "object": {"key": <url-encoded>, "eTag": ..., "sequencer": ...}}, "userIdentity":
{"principalId": ...}, ...}]}`. `landed_event` turns that into the platform's envelope:

- the pipeline is the one whose landing folder is the key's first segment;
- the envelope id is derived from bucket, key and the object's sequencer (or ETag), so a redelivered
  notification maps to the run it already started, and a file written again starts a new one;
- the platform's own writes (its S3 user, e.g. an API upload, which the API announces itself) are ignored.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from urllib.parse import unquote_plus

from events.envelope import Envelope, InvalidEvent, make_event

OBJECT_CREATED = "s3.object-created"
SOURCE = "minio"
_NAMESPACE = uuid.UUID("4b0f7e4a-59f2-4a8e-9c55-3f1c0c6f7d21")


def landed_event(
    body: bytes, folders: Mapping[str, str], platform_principal: str | None = None
) -> Envelope | None:
    """The `dataset.landed` envelope for a MinIO notification, None if the platform wrote the object itself.

    `folders` maps a landing folder to its pipeline. Raises InvalidEvent (dead-lettered with the reason) for
    anything else: not a notification, not an object creation, a key outside every pipeline's folder."""
    try:
        notification = json.loads(body)
        record = notification["Records"][0]
        event_name = record["eventName"]
        bucket = record["s3"]["bucket"]["name"]
        obj = record["s3"]["object"]
        key = unquote_plus(obj["key"])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"malformed MinIO notification: {exc}") from None
    except (KeyError, IndexError, TypeError) as exc:
        raise InvalidEvent(f"not a MinIO bucket notification (missing {exc})") from None
    if not str(event_name).startswith("s3:ObjectCreated:"):
        raise InvalidEvent(f"{event_name} notifications do not land datasets")
    principal = (record.get("userIdentity") or {}).get("principalId")
    if platform_principal and principal == platform_principal:
        return None
    folder, _, name = key.partition("/")
    if folder not in folders or not name or "/" in name:
        raise InvalidEvent(
            f"s3://{bucket}/{key} is not a file in a pipeline's landing folder ({', '.join(sorted(folders))})"
        )
    version = obj.get("sequencer") or obj.get("eTag") or ""
    event_id = uuid.uuid5(_NAMESPACE, f"{bucket}/{key}@{version}")
    envelope = make_event(
        "dataset.landed",
        {"pipeline": folders[folder], "uri": f"s3://{bucket}/{key}"},
        source=f"{SOURCE}:{principal or 'unknown'}",
        trace_id=event_id.hex,
    )
    return envelope.model_copy(update={"id": str(event_id)})
