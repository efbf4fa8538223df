"""Every name a pipeline has outside its spec: asset keys, the ops behind them, jobs, schedules, sensors
and registered models. Assets, sensors, the API, the CLI and tests ask here; a rename is one edit.

Plain names (asset keys as tuples of strings), so the API can ask without importing Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.spec import ClassificationTask, PipelineSpec, RegressionTask

AssetPath = tuple[str, ...]
Task = RegressionTask | ClassificationTask

# Platform-wide sensors (one each, whatever the pipelines).
EVENT_RUNS_SENSOR = "event_runs"
RUN_FAILURE_SENSOR = "run_failure_events"


def op_name(path: AssetPath) -> str:
    """The op that materializes an asset: Dagster names it after the key's parts joined by `__`."""
    return "__".join(path)


def op_config(path: AssetPath, config: dict[str, Any]) -> dict[str, Any]:
    """Run config giving the asset at `path` its op config."""
    return {"ops": {op_name(path): {"config": config}}}


@dataclass(frozen=True)
class PipelineKeys:
    spec: PipelineSpec

    @property
    def name(self) -> str:
        return self.spec.name

    # assets
    @property
    def raw(self) -> AssetPath:
        return (self.name, "raw")

    @property
    def clean(self) -> AssetPath:
        return (self.name, "clean")

    @property
    def features(self) -> AssetPath:
        return (self.name, "features")

    @property
    def training_set(self) -> AssetPath:
        return (self.name, "training_set")

    def model(self, task: Task) -> AssetPath:
        return (self.name, f"{task.name}_model")

    def evaluation(self, task: Task) -> AssetPath:
        return (self.name, f"{task.name}_evaluation")

    def champion(self, task: Task) -> AssetPath:
        return (self.name, f"{task.name}_champion")

    def output(self, task: Task) -> AssetPath:
        """The task's forecasts or risk table (its name comes from the spec's `output_asset`)."""
        return (self.name, task.output_asset)

    @property
    def outputs(self) -> list[AssetPath]:
        return [self.output(task) for task in self.spec.tasks]

    # jobs, schedules
    @property
    def ingest_job(self) -> str:
        return f"{self.name}_ingest"

    @property
    def train_job(self) -> str:
        return f"{self.name}_train"

    @property
    def refresh_job(self) -> str:
        return f"{self.name}_refresh"

    @property
    def forecast_job(self) -> str:
        return f"{self.name}_forecast"

    @property
    def jobs(self) -> tuple[str, ...]:
        return (self.ingest_job, self.train_job, self.refresh_job, self.forecast_job)

    @property
    def event_jobs(self) -> tuple[str, ...]:
        """The jobs incoming events start: a landed file refreshes, a training request trains."""
        return (self.refresh_job, self.train_job)

    @property
    def ingest_schedule(self) -> str:
        return f"{self.ingest_job}_schedule"

    @property
    def forecast_schedule(self) -> str:
        return f"{self.name}_hourly_forecasts"

    # op config
    def raw_config(self, files: list[str]) -> dict[str, Any]:
        """Run config making raw read only these landing files."""
        return op_config(self.raw, {"files": files})

    def model_config(
        self, task: Task, algorithm: str, params: dict[str, Any], search: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run config making the task's model train one algorithm with these hyper-parameters (searched
        over `search`, for a tabular task)."""
        config = {"algorithm": algorithm, "params": params}
        return op_config(self.model(task), {**config, "search": search} if search else config)

    # registry
    def model_name(self, task: Task) -> str:
        """The task's registered model in MLflow."""
        return f"{self.name}.{task.name}"


def pipeline_of_job(job_name: str, specs: dict[str, PipelineSpec]) -> str | None:
    """The pipeline a job belongs to, or None for a job no pipeline defines."""
    return next((name for name, spec in specs.items() if job_name in PipelineKeys(spec).jobs), None)
