"""Tags the platform puts on Dagster runs and MLflow model versions, and the registry alias it serves.

Producers (sensors, assets, the CLI) and readers (the API, tests) ask here, so a rename is one edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from events.envelope import Envelope

# Dagster run tags
TRACE_TAG = "mlops/trace_id"
EVENT_ID_TAG = "mlops/event_id"
EVENT_TYPE_TAG = "mlops/event_type"
EVENT_SOURCE_TAG = "mlops/event_source"
LANDING_FILE_TAG = "mlops/landing_file"
# Dagster's own tags for a run over a partition range (one run, single-run backfill).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# The MLflow registry alias naming the version that serves.
CHAMPION = "champion"

# MLflow model version tags read outside the asset that writes them
PROMOTED_AT_TAG = "promoted_at"
PROMOTED_BY_RUN_TAG = "promoted_by_run"
CODE_VERSION_TAG = "code_version"
DATA_VERSION_PREFIX = "data_version."
GATE_PREFIX = "gate."
# What serves each target of a forecast version (`source.no2`: model | baseline) and why (`source_reason.no2`).
SOURCE_PREFIX = "source."
SOURCE_REASON_PREFIX = "source_reason."


def sources_from_tags(tags: dict[str, str]) -> dict[str, str]:
    """Per target, what serves it, from a model version's tags (empty for versions from before)."""
    return {k.removeprefix(SOURCE_PREFIX): v for k, v in tags.items() if k.startswith(SOURCE_PREFIX)}


def source_tags(sources: dict[str, tuple[str, str]]) -> dict[str, str]:
    """The version tags recording per target what serves it and why."""
    return {f"{SOURCE_PREFIX}{t}": s for t, (s, _) in sources.items()} | {
        f"{SOURCE_REASON_PREFIX}{t}": reason[:500] for t, (_, reason) in sources.items()
    }


def event_run_tags(envelope: Envelope) -> dict[str, str]:
    """The tags of a run an event started: which event, and the trace it carries on."""
    return {
        EVENT_ID_TAG: envelope.id,
        EVENT_TYPE_TAG: envelope.type,
        EVENT_SOURCE_TAG: envelope.source[:200],
        TRACE_TAG: envelope.trace_id,
    }


def partition_range_tags(start: str, end: str) -> dict[str, str]:
    """The tags of one run over the partitions `start`..`end` (inclusive, `YYYY-MM-DD`)."""
    return {RANGE_START_TAG: start, RANGE_END_TAG: end}
