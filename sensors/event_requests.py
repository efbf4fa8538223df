"""What an incoming event asks the platform to run: a validated RunRequest, or `InvalidEvent` with the reason.

- `dataset.landed` → the pipeline's refresh job over the days the file covers: raw reads only that file
  (`RawConfig(files=[name])`), then clean, features, models, evaluation, promotion and outputs follow in
  the same run, so the trace id reaches every event the file causes and one run is one lineage unit.
- `training.requested` → the pipeline's train job with the algorithm and hyper-parameters as the model's run
  config (logged to MLflow by the model asset), checked against the spec before any run exists.
"""

from __future__ import annotations

import datetime as dt
from fnmatch import fnmatch
from typing import Any

import dagster as dg

from assets.factory import partitions_for
from events.envelope import DatasetLanded, Envelope, InvalidEvent, TrainingRequested
from events.tags import LANDING_FILE_TAG, event_run_tags, partition_range_tags
from pipelines.keys import PipelineKeys
from pipelines.parsing import parse_source_file
from pipelines.spec import AnySpec, PipelineSpec, TabularSpec
from resources.object_store import ObjectStore

# Reading a file to find its days happens inside a sensor tick; larger files must name their days.
MAX_PARSED_BYTES = 32 * 1024 * 1024
# Event-triggered runs execute their steps in one process, as `mlops materialize` does: a step subprocess
# re-imports the code location, which costs more than most steps themselves.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def run_request_for(
    envelope: Envelope, specs: dict[str, PipelineSpec], landing: ObjectStore
) -> dg.RunRequest:
    payload = envelope.typed_payload()
    spec = specs.get(getattr(payload, "pipeline", None) or "")
    if spec is None:
        raise InvalidEvent(
            f"unknown pipeline {getattr(payload, 'pipeline', None)!r}; known: {', '.join(sorted(specs))}"
        )
    if isinstance(payload, DatasetLanded):
        return _ingest_landed_file(envelope, payload, spec, landing)
    if isinstance(payload, TrainingRequested):
        return _retrain(envelope, payload, spec)
    raise InvalidEvent(f"{envelope.type} events do not start runs")


def landing_folders(specs: dict[str, PipelineSpec]) -> dict[str, str]:
    """Landing folder → pipeline, for the pipelines that read landing files."""
    return {
        spec.source.prefix or spec.name: name for name, spec in specs.items() if spec.source.kind == "files"
    }


def landing_file_name(spec: AnySpec, uri: str, landing: ObjectStore) -> str:
    """The file's name inside the pipeline's landing folder; the URI must point into that folder."""
    assert spec.source.kind == "files"
    folder = spec.source.prefix or spec.name
    expected = f"{str(landing.root()).rstrip('/')}/{folder}/"
    given = uri.removeprefix("file://")
    if not given.startswith(expected) or "/" in given[len(expected) :]:
        raise InvalidEvent(f"uri {uri!r} is not a file in {spec.name}'s landing folder {expected}")
    name = given[len(expected) :]
    if not any(fnmatch(name, pattern) for pattern in spec.source.patterns):
        raise InvalidEvent(f"{name!r} matches none of {spec.name}'s file patterns {spec.source.patterns}")
    return name


def _covered_days(
    spec: PipelineSpec, payload: DatasetLanded, name: str, landing: ObjectStore
) -> tuple[dt.date, dt.date]:
    path = landing.path(spec.source.prefix or spec.name, name)
    try:
        exists = path.exists()
        size = path.stat().st_size if exists else 0
    except OSError as exc:
        raise InvalidEvent(f"landing file {path} cannot be read: {exc}") from None
    if not exists:
        raise InvalidEvent(f"landing file {path} does not exist")
    if payload.start and payload.end:
        return payload.start, payload.end
    if size > MAX_PARSED_BYTES:
        raise InvalidEvent(
            f"{name} is {size / 1e6:.0f} MB: give payload.start and payload.end (the days it covers)"
        )
    try:
        stamps = parse_source_file(path.read_bytes(), name, spec)[spec.timestamp_column]
    except (ValueError, KeyError) as exc:
        raise InvalidEvent(f"{name} cannot be parsed with {spec.name}'s spec: {exc}") from None
    if stamps.empty:
        raise InvalidEvent(f"{name} has no readings with a timestamp")
    return stamps.min().date(), stamps.max().date()


def _ingest_landed_file(
    envelope: Envelope, payload: DatasetLanded, spec: PipelineSpec, landing: ObjectStore
) -> dg.RunRequest:
    if spec.source.kind != "files":
        raise InvalidEvent(f"pipeline {spec.name!r} reads a simulator, not landing files")
    name = landing_file_name(spec, payload.uri, landing)
    if isinstance(spec, TabularSpec):
        return _refresh_table(envelope, spec, name, landing)
    first, last = _covered_days(spec, payload, name, landing)
    partitions = partitions_for(spec)
    newest = partitions.get_last_partition_key()
    start = max(first, spec.partitions.start_date)
    end = min(last, dt.date.fromisoformat(newest)) if newest else None
    if end is None or start > end:
        raise InvalidEvent(
            f"{name} covers {first}..{last}, outside {spec.name}'s partitions "
            f"{spec.partitions.start_date}..{newest or '(none yet)'}"
        )
    keys = PipelineKeys(spec)
    return dg.RunRequest(
        run_key=envelope.id,
        job_name=keys.refresh_job,
        run_config={**IN_PROCESS, **keys.raw_config([name])},
        tags={
            **event_run_tags(envelope),
            **partition_range_tags(start.isoformat(), end.isoformat()),
            LANDING_FILE_TAG: name,
        },
    )


def _refresh_table(envelope: Envelope, spec: TabularSpec, name: str, landing: ObjectStore) -> dg.RunRequest:
    """A tabular pipeline re-reads every landing file (the new one among them) and trains on the whole table."""
    if not landing.path(spec.source.prefix or spec.name, name).exists():
        raise InvalidEvent(f"landing file {name} does not exist")
    return dg.RunRequest(
        run_key=envelope.id,
        job_name=PipelineKeys(spec).refresh_job,
        run_config=IN_PROCESS,
        tags={**event_run_tags(envelope), LANDING_FILE_TAG: name},
    )


def training_run_config(spec: PipelineSpec, payload: TrainingRequested) -> dict[str, Any]:
    """The model asset's run config, or InvalidEvent when the spec would reject it at run time."""
    # imported here, as in assets/models.py: scikit-learn stays out of every run worker's start
    from pipelines.models import requested_candidate

    try:
        task = spec.task(payload.task) if payload.task else spec.tasks[0]
    except KeyError:
        raise InvalidEvent(
            f"pipeline {spec.name!r} has no task {payload.task!r}; tasks: {[t.name for t in spec.tasks]}"
        ) from None
    try:
        if requested_candidate(spec, task, payload.algorithm, payload.params, payload.search) is None:
            return {}
    except ValueError as exc:
        raise InvalidEvent(str(exc)) from None
    return PipelineKeys(spec).model_config(task, payload.algorithm, payload.params, payload.search)


def _retrain(envelope: Envelope, payload: TrainingRequested, spec: PipelineSpec) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=envelope.id,
        job_name=PipelineKeys(spec).train_job,
        run_config={**IN_PROCESS, **training_run_config(spec, payload)},
        tags=event_run_tags(envelope),
    )
