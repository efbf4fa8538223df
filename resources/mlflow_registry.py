"""MLflow tracking and model registry as a Dagster resource.

dagster-mlflow's `mlflow_tracking` is a legacy `@resource` that opens one MLflow run per Dagster run when
the resource initialises and ends it from a hook; our assets need several runs per Dagster run (one per
model) and registry aliases, so this `ConfigurableResource` wraps `MlflowClient` instead.

MLflow is imported where it is used: every run worker and step process imports the code location before
it starts, and MLflow is ~2 s of that on two cores (see sensors/event_runs.py on run-start latency).
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import dagster as dg
import requests
import tenacity
import urllib3
from pydantic import PrivateAttr

if TYPE_CHECKING:
    import mlflow
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

CHAMPION = "champion"
_CREATE_STORE = (
    "import sys; from mlflow.tracking import MlflowClient; MlflowClient(sys.argv[1]).search_experiments()"
)
P = ParamSpec("P")
R = TypeVar("R")


def unreachable(exc: BaseException) -> bool:
    """The server did not answer (refused, timed out, reset, 5xx after MLflow's own retries)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(
            seen, requests.ConnectionError | requests.Timeout | urllib3.exceptions.HTTPError | ConnectionError
        ):
            return True
        text = str(seen)
        if "Max retries exceeded" in text or "Connection refused" in text or "too many 5" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@functools.lru_cache(maxsize=16)
def _load_version(tracking_uri: str, model_uri: str) -> Any:
    import mlflow.pyfunc

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)  # a `models:/` URI resolves through the registry URI
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model()


class MlflowUnavailable(dg.Failure):
    """The tracking server did not answer; the step's RetryPolicy may try again later."""


def reports_unavailable(method: Callable[P, R]) -> Callable[P, R]:
    """A method of the registry whose connection failures name the service and its URL."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        registry = args[0]
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            if isinstance(exc, dg.Failure) or not unreachable(exc):
                raise
            raise registry.unavailable(exc) from exc

    return wrapper


class MlflowRegistry(dg.ConfigurableResource):
    """Where runs, artifacts and registered models live; `tracking_uri` is SQLite locally, a URL with services."""

    tracking_uri: str
    artifact_root: str | None = None
    ui_url: str | None = None
    http_max_retries: int = 2
    http_backoff_factor: int = 1

    _creating_store: subprocess.Popen | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A new local store spends ~1 s of CPU in MLflow's schema migrations; a run that will train gets
        # them done on the other core while its first steps ingest. Every use of the store waits for it.
        database = self.tracking_uri.removeprefix("sqlite:///")
        if database != self.tracking_uri and not Path(database).exists():
            self._creating_store = subprocess.Popen(
                [sys.executable, "-c", _CREATE_STORE, self.tracking_uri],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        # MLflow's client retries an unreachable server for ~4 minutes by default; keep each call short
        # and let the asset's RetryPolicy back off between attempts. MLflow only reads these from the
        # environment; a value set there explicitly wins.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(self.http_max_retries))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", str(self.http_backoff_factor))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._store_ready()

    def unavailable(self, exc: BaseException) -> MlflowUnavailable:
        return MlflowUnavailable(
            description=f"MLflow tracking server at {self.tracking_uri} is unreachable: "
            f"{type(exc).__name__}: {str(exc)[:300]}",
            metadata={"service": "mlflow", "url": self.tracking_uri},
        )

    def _store_ready(self) -> None:
        """Waits for a store being created in the background (if it failed, MLflow creates it on first use)."""
        if self._creating_store is not None:
            self._creating_store.wait()
            self._creating_store = None

    def client(self) -> MlflowClient:
        from mlflow.tracking import MlflowClient

        self._store_ready()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    @reports_unavailable
    def experiment_id(self, name: str) -> str:
        """The experiment for a pipeline, created on first use."""
        from mlflow.exceptions import MlflowException

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
        """An MLflow run; connection failures inside the block name the tracking server."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            with mlflow.start_run(
                experiment_id=self.experiment_id(experiment), run_name=run_name, tags=tags
            ) as run:
                yield run
        except Exception as exc:
            if isinstance(exc, dg.Failure) or not unreachable(exc):
                raise
            raise self.unavailable(exc) from exc

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        return (
            f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}" if self.ui_url else None
        )

    @reports_unavailable
    def champion(self, model_name: str) -> ModelVersion | None:
        """The version the `champion` alias points at, or None before the first promotion."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(model_name, CHAMPION)
        except MlflowException as exc:  # RestException is one
            if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
                return None
            raise

    @reports_unavailable
    def load_python_model(self, model_uri: str) -> Any:
        """The pyfunc's own Python object (ForecastModel/ExceedanceModel), for the fast prediction path.

        `models:/name@alias` is resolved to its version first; a version never changes, so each one is
        loaded once per process (evaluation, promotion and outputs of one run share it)."""
        self._store_ready()
        name, _, ref = model_uri.removeprefix("models:/").partition("@")
        if ref:
            model_uri = f"models:/{name}/{self.client().get_model_version_by_alias(name, ref).version}"
        return _load_version(self.tracking_uri, model_uri)

    @tenacity.retry(
        retry=tenacity.retry_if_exception(unreachable),
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_exponential(multiplier=1, max=8),
        reraise=True,
    )
    def verify_artifacts(self, model_name: str, version: str) -> None:
        """The version's model files can be downloaded and its MLmodel read; raises dg.Failure if not.

        Retried on connection failures only: a missing file stays missing."""
        import mlflow.artifacts
        from mlflow.models import Model

        self._store_ready()
        with tempfile.TemporaryDirectory(prefix="mlops-verify-") as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{model_name}/{version}",
                    dst_path=tmp,
                    tracking_uri=self.tracking_uri,
                )
                Model.load(Path(local) / "MLmodel")
            except Exception as exc:
                if unreachable(exc):
                    raise
                raise dg.Failure(
                    description=f"version {version} of '{model_name}' has no usable artifacts in the MLflow "
                    f"server at {self.tracking_uri} ({type(exc).__name__}: {str(exc)[:200]}); "
                    f"'{CHAMPION}' was not moved",
                    allow_retries=False,
                ) from exc

    @reports_unavailable
    def promote(self, model_name: str, version: str, tags: dict[str, str]) -> None:
        """Point `champion` at `version`, only once its artifacts are known to be downloadable, so the
        alias never names a half-registered version. Tags first, alias last: every step is idempotent."""
        self.verify_artifacts(model_name, version)
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(model_name, version, key, value)
        client.set_registered_model_alias(model_name, CHAMPION, version)
