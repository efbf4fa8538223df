"""Sensors: RabbitMQ messages in (event_runs), failed runs out (run_failure_events); one file per sensor."""

from __future__ import annotations

import dagster as dg

from pipelines.keys import PipelineKeys
from pipelines.spec import PipelineSpec
from resources.settings import PlatformSettings
from sensors.event_runs import build_event_runs_sensor
from sensors.run_failures import build_run_failure_sensor


def build_event_sensors(
    specs: dict[str, PipelineSpec], settings: PlatformSettings, jobs: list
) -> list[dg.SensorDefinition]:
    """Both event sensors; running by default when events go through the broker, stopped otherwise
    (they would only report that no broker is configured)."""
    status = dg.DefaultSensorStatus.RUNNING if settings.uses_broker else dg.DefaultSensorStatus.STOPPED
    event_jobs = {name for spec in specs.values() for name in PipelineKeys(spec).event_jobs}
    return [
        build_event_runs_sensor(specs, [j for j in jobs if j.name in event_jobs], default_status=status),
        build_run_failure_sensor(specs, default_status=status),
    ]
