"""JSON log lines from Dagster's runs, in the same shape as the API's (serving/observability.py), with the
run id, job and step, and the trace id an event-started run carries in its tags (so one Loki query by trace
id finds the API's request and the run it caused): the instance's `python_logs.dagster_handler_config` names this formatter
(deploy/dagster/dagster.yaml, deploy/compose/dagster/dagster.yaml), so Loki finds a run's lines by its id."""

from __future__ import annotations

import logging

import orjson

from events.tags import TRACE_TAG
from serving.observability import log_entry

DAGSTER_META = "dagster_meta"  # the attribute Dagster puts its run, job and step on


class DagsterJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, DAGSTER_META, None) or {}
        message = meta.get("orig_message") or record.getMessage()
        fields = {
            "trace_id": (meta.get("job_tags") or {}).get(TRACE_TAG),
            "run_id": meta.get("run_id"),
            "job": meta.get("job_name"),
            "step": meta.get("step_key"),
            "event": meta.get("dagster_event").event_type_value if meta.get("dagster_event") else None,
        }
        entry = log_entry(
            record.created,
            record.levelname.lower(),
            record.name,
            message,
            **{k: v for k, v in fields.items() if v},
        )
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()
