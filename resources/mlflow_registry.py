"""MLflow tracking and model registry as a Dagster resource.

dagster-mlflow's `mlflow_tracking` is a legacy `@resource` that opens one MLflow run per Dagster run when
the resource initialises and ends it from a hook; our assets need several runs per Dagster run (one per
model) and registry aliases, so this `ConfigurableResource` wraps `MlflowClient` instead.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import dagster as dg
import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

CHAMPION = "champion"


class MlflowRegistry(dg.ConfigurableResource):
    """Where runs, artifacts and registered models live; `tracking_uri` is SQLite locally, a URL with services."""

    tracking_uri: str
    artifact_root: str | None = None
    ui_url: str | None = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self, name: str) -> str:
        """The experiment for a pipeline, created on first use."""
        client = self.client()
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return client.create_experiment(
                name, artifact_location=f"{self.artifact_root}/{name}" if self.artifact_root else None
            )
        except MlflowException:  # created concurrently by another run
            return client.get_experiment_by_name(name).experiment_id

    @contextlib.contextmanager
    def start_run(self, experiment: str, run_name: str, tags: dict[str, str]) -> Iterator[mlflow.ActiveRun]:
        mlflow.set_tracking_uri(self.tracking_uri)
        with mlflow.start_run(
            experiment_id=self.experiment_id(experiment), run_name=run_name, tags=tags
        ) as run:
            yield run

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        return (
            f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}" if self.ui_url else None
        )

    def champion(self, model_name: str) -> ModelVersion | None:
        """The version the `champion` alias points at, or None before the first promotion."""
        try:
            return self.client().get_model_version_by_alias(model_name, CHAMPION)
        except (RestException, MlflowException) as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
                return None
            raise

    def load_python_model(self, model_uri: str) -> Any:
        """The pyfunc's own Python object (ForecastModel/ExceedanceModel), for the fast prediction path."""
        return mlflow.pyfunc.load_model(model_uri).unwrap_python_model()

    def promote(self, model_name: str, version: str, tags: dict[str, str]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(model_name, version, key, value)
        client.set_registered_model_alias(model_name, CHAMPION, version)
