"""MLflow tracking and the model registry: a plain client the assets, the API and the CLI all use (the
Dagster resource in resources/definitions.py is a thin wrapper over it; the README says why not
dagster-mlflow).

Connection failures come out as `ServiceUnavailable` naming the tracking server; a version that may not
become champion as `PromotionRefused`. Constructing a client configures MLflow for the platform: short
HTTP retries (the caller's backoff decides when to try again), no artifact-download progress bars, and
none of the notes MLflow logs on every pyfunc save (our models are pickled on purpose, see
pipelines/models.py).

MLflow is imported where it is used: every run worker and step process imports the code location before
it starts, and MLflow is a large part of that import time (see sensors/event_runs.py on run start).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import tenacity

from events.tags import CHAMPION, PROMOTED_AT_TAG
from resources.unavailable import reporting_unavailable, unreachable

if TYPE_CHECKING:
    import mlflow
    from matplotlib.figure import Figure
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models.model import ModelInfo
    from mlflow.tracking import MlflowClient

_CREATE_STORE = (
    "import sys; from mlflow.tracking import MlflowClient; MlflowClient(sys.argv[1]).search_experiments()"
)
P = ParamSpec("P")
R = TypeVar("R")


class PromotionRefused(ValueError):
    """The `champion` alias was not moved; the message says why (no such version, nothing to roll back
    to, files that do not download)."""


@dataclass(frozen=True)
class ChampionChange:
    """The alias moved: `model` is now served by `version` instead of `previous`."""

    model: str
    version: str
    previous: str | None


class _PyfuncSaveNotes(logging.Filter):
    """Lines MLflow logs on every pyfunc save: that a Python object is pickled (ours are, deliberately)
    and that the input example is being validated (it is, and a failure is raised, not logged)."""

    NOTES = ("Passing a Python object as `python_model`", "Validating input example against model signature")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(note in message for note in self.NOTES)


@functools.cache
def _configure_mlflow(http_max_retries: int, http_backoff_factor: int) -> None:
    # MLflow reads these from the environment only; a value set there explicitly wins. Its client retries
    # an unreachable server for minutes by default: keep each call short and let the caller back off.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(http_max_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", str(http_backoff_factor))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow.pyfunc").addFilter(_PyfuncSaveNotes())


@functools.lru_cache(maxsize=16)
def _load_version(tracking_uri: str, model_uri: str) -> Any:
    import mlflow.pyfunc

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)  # a `models:/` URI resolves through the registry URI
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model()


def _reports_unavailable(method: Callable[P, R]) -> Callable[P, R]:
    """A method of the registry whose connection failures name the tracking server."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with args[0].reporting_unavailable():
            return method(*args, **kwargs)

    return wrapper


def _not_found(exc: Exception) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower()


class MlflowRegistry:
    """Where runs, artifacts and registered models live; `tracking_uri` is SQLite locally, a URL with
    services. `ui_url` makes run links for people; `artifact_root` places a local store's artifacts."""

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: str | None = None,
        ui_url: str | None = None,
        http_max_retries: int = 2,
        http_backoff_factor: int = 1,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.ui_url = ui_url
        self._creating_store: subprocess.Popen | None = None
        _configure_mlflow(http_max_retries, http_backoff_factor)

    def __repr__(self) -> str:
        return f"MlflowRegistry({self.tracking_uri!r})"

    def reporting_unavailable(self) -> contextlib.AbstractContextManager[None]:
        return reporting_unavailable(
            "mlflow", self.tracking_uri, f"MLflow tracking server at {self.tracking_uri}"
        )

    def create_store_in_background(self) -> None:
        """Start creating a new local store in another process: MLflow's schema migrations are CPU work
        that a run which will train gets done on another core while its first steps ingest. Every use of
        the store waits for it."""
        database = self.tracking_uri.removeprefix("sqlite:///")
        if database != self.tracking_uri and not Path(database).exists() and self._creating_store is None:
            self._creating_store = subprocess.Popen(
                [sys.executable, "-c", _CREATE_STORE, self.tracking_uri],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def store_ready(self) -> None:
        """Waits for a store being created in the background (if it failed, MLflow creates it on first use)."""
        if self._creating_store is not None:
            self._creating_store.wait()
            self._creating_store = None

    def client(self) -> MlflowClient:
        from mlflow.tracking import MlflowClient

        self.store_ready()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    # runs
    @_reports_unavailable
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
        """An MLflow run (the fluent API logs into it); connection failures inside the block name the
        tracking server."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        with (
            self.reporting_unavailable(),
            mlflow.start_run(
                experiment_id=self.experiment_id(experiment), run_name=run_name, tags=tags
            ) as run,
        ):
            yield run

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        return (
            f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}" if self.ui_url else None
        )

    @_reports_unavailable
    def get_run(self, run_id: str) -> Run:
        return self.client().get_run(run_id)

    @_reports_unavailable
    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        """Metrics added to a finished run, in one request."""
        from mlflow.entities import Metric

        logged_at = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        self.client().log_batch(run_id, metrics=[Metric(k, v, logged_at, 0) for k, v in metrics.items()])

    @_reports_unavailable
    def log_figure(self, run_id: str, figure: Figure, artifact_file: str) -> None:
        self.client().log_figure(run_id, figure, artifact_file)

    # registry
    @_reports_unavailable
    def register_version(self, model_name: str, logged: ModelInfo, run_id: str, tags: dict[str, str]) -> str:
        """A new version of `model_name` (registered on first use) from a model logged in run `run_id`.

        Through the client rather than `log_model(registered_model_name=…)`, which prints a line for each
        registration on stderr."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            client.create_registered_model(model_name)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        version = client.create_model_version(
            model_name, source=logged.model_uri, run_id=run_id, tags=tags, model_id=logged.model_id
        )
        return str(version.version)

    @_reports_unavailable
    def set_version_tags(self, model_name: str, version: str, tags: dict[str, str]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(model_name, version, key, value)

    @_reports_unavailable
    def champion(self, model_name: str) -> ModelVersion | None:
        """The version the `champion` alias points at, or None before the first promotion."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(model_name, CHAMPION)
        except MlflowException as exc:  # RestException is one
            if _not_found(exc):
                return None
            raise

    @_reports_unavailable
    def version_metrics(self, model_name: str, version: str, prefix: str = "holdout.") -> dict[str, float]:
        """The metrics the version's run logged under `prefix` (the prefix removed)."""
        run_id = self.client().get_model_version(model_name, version).run_id
        metrics = self.client().get_run(run_id).data.metrics if run_id else {}
        return {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}

    @_reports_unavailable
    def load_python_model(self, model_uri: str) -> Any:
        """The pyfunc's own Python object (ForecastModel/ExceedanceModel), for the fast prediction path.

        `models:/name@alias` is resolved to its version first; a version never changes, so each one is
        loaded once per process (evaluation, promotion and outputs of one run share it)."""
        self.store_ready()
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
    def _download_model(self, model_name: str, version: str) -> None:
        """Download the version's model files and read its MLmodel; retried on connection failures only
        (a missing file stays missing)."""
        import mlflow.artifacts
        from mlflow.models import Model

        self.store_ready()
        with tempfile.TemporaryDirectory(prefix="mlops-verify-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{model_name}/{version}", dst_path=tmp, tracking_uri=self.tracking_uri
            )
            Model.load(Path(local) / "MLmodel")

    @_reports_unavailable
    def verify_artifacts(self, model_name: str, version: str) -> None:
        """The version's model files can be downloaded and its MLmodel read; PromotionRefused if not."""
        try:
            self._download_model(model_name, version)
        except Exception as exc:
            if unreachable(exc):
                raise
            raise PromotionRefused(
                f"version {version} of '{model_name}' has no usable artifacts in the MLflow server at "
                f"{self.tracking_uri} ({type(exc).__name__}: {str(exc)[:200]}); '{CHAMPION}' was not moved"
            ) from exc

    @_reports_unavailable
    def promote(self, model_name: str, version: str, tags: dict[str, str]) -> ChampionChange:
        """Point `champion` at `version`, only once its artifacts are known to download, so the alias never
        names a half-registered version. Records `tags` and the champion it replaces
        (`previous_champion`); tags first, alias last: every step is idempotent."""
        previous = self.champion(model_name)
        self.verify_artifacts(model_name, version)
        before = str(previous.version) if previous else None
        self.set_version_tags(model_name, version, {**tags, "previous_champion": before or ""})
        self.client().set_registered_model_alias(model_name, CHAMPION, version)
        return ChampionChange(model=model_name, version=version, previous=before)

    @_reports_unavailable
    def rollback(self, model_name: str, to_version: str | None = None) -> ChampionChange:
        """Point `champion` back at the previous champion (the most recently promoted other version), or
        at `to_version`, through the same artifact check as a promotion."""
        current = self.champion(model_name)
        if current is None:
            raise PromotionRefused(f"'{model_name}' has no champion to roll back")
        current_version = str(current.version)
        client = self.client()
        if to_version is not None:
            from mlflow.exceptions import MlflowException

            try:
                target = str(client.get_model_version(model_name, str(to_version)).version)
            except MlflowException as exc:
                if not _not_found(exc):
                    raise
                raise PromotionRefused(f"'{model_name}' has no version {to_version}") from None
            if target == current_version:
                raise PromotionRefused(f"version {target} is already the champion of '{model_name}'")
        else:
            promoted = [
                v
                for v in client.search_model_versions(f"name='{model_name}'")
                if v.tags.get(PROMOTED_AT_TAG) and str(v.version) != current_version
            ]
            if not promoted:
                raise PromotionRefused(f"'{model_name}': no earlier champion than version {current_version}")
            target = str(max(promoted, key=lambda v: v.tags[PROMOTED_AT_TAG]).version)
        return self.promote(
            model_name,
            target,
            tags={
                "rolled_back_from": current_version,
                "rolled_back_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
        )
