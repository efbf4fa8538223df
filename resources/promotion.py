"""Moving a task's champion and telling everyone: the `model.promoted` announcement every API instance
swaps its model on, and the rollback that the CLI (`mlops rollback`) and an admin route share."""

from __future__ import annotations

from dataclasses import dataclass

from events.envelope import Envelope, ModelPromoted
from pipelines.keys import PipelineKeys, Task
from pipelines.spec import PipelineSpec
from resources.events import EventBus
from resources.mlflow_registry import ChampionChange, MlflowRegistry
from resources.unavailable import ServiceUnavailable

HEADLINE_METRICS = ("mae", "rmse", "coverage", "interval_width", "served_by_model", "brier", "roc_auc")


def headline_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics an announcement carries (`no2.mae`, `brier`, …), not every detail of the evaluation."""
    return {k: v for k, v in metrics.items() if k.split(".")[-1] in HEADLINE_METRICS}


def announce_champion(
    events: EventBus,
    pipeline: str,
    task: str,
    change: ChampionChange,
    metrics: dict[str, float],
    trace_id: str | None = None,
) -> Envelope:
    """Publish `model.promoted` for a champion that just moved (by a promotion or a rollback)."""
    payload = ModelPromoted(
        pipeline=pipeline,
        task=task,
        model=change.model,
        version=change.version,
        metrics=headline_metrics(metrics),
    )
    return events.publish("model.promoted", payload, trace_id=trace_id)


@dataclass(frozen=True)
class Rollback:
    change: ChampionChange
    event: Envelope | None  # the model.promoted announcement, None if the bus was unreachable
    announce_error: str | None = None


def rollback_champion(
    registry: MlflowRegistry,
    events: EventBus,
    spec: PipelineSpec,
    task: Task,
    to_version: str | None = None,
    trace_id: str | None = None,
) -> Rollback:
    """Move the task's champion back to the previous champion (or `to_version`) through the registry's
    artifact check, then announce `model.promoted` so every API instance swaps at once.

    Raises `PromotionRefused` (nothing to roll back to, no such version, unusable files) and
    `ServiceUnavailable` (MLflow) with the alias unmoved. Once the alias moved, an unreachable bus does
    not undo it: the rollback says so in `announce_error` (APIs still swap at their next refresh)."""
    change = registry.rollback(PipelineKeys(spec).model_name(task), to_version)
    try:
        metrics = registry.version_metrics(change.model, change.version)
        event = announce_champion(events, spec.name, task.name, change, metrics, trace_id)
    except ServiceUnavailable as exc:
        return Rollback(change, None, str(exc))
    return Rollback(change, event)
