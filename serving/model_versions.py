"""Every registered version of a task's model, as the analyst compares them: holdout metrics, the gate
verdicts (model version tags `gate.*`), tags, data and code version, and which one is champion."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from events.tags import sources_from_tags
from resources.mlflow_registry import MlflowRegistry
from serving.read_models import Gate, ModelVersion

GATE_TAG = "gate."
HOLDOUT = "holdout."
MAX_VERSIONS = 100


class VersionCatalog:
    """Reads versions from the registry; a run's data is kept once its holdout metrics are logged (they
    are written once, by the evaluation)."""

    def __init__(self, registry: MlflowRegistry, ttl: float = 2.0) -> None:
        self.registry = registry
        self.ttl = ttl
        self._runs: dict[str, Any] = {}
        self._latest: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def latest(self, model_name: str) -> str | None:
        """The newest registered version (asked of the registry at most every `ttl` seconds)."""
        cached = self._latest.get(model_name)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            found = self.registry.client().search_model_versions(
                f"name='{model_name}'", max_results=1, order_by=["version_number DESC"]
            )
        except Exception:  # noqa: BLE001 - the registry is away: say what was known (/readyz says why)
            return cached[1] if cached else None
        version = str(found[0].version) if found else None
        self._latest[model_name] = (time.monotonic(), version)
        return version

    def _run(self, client: Any, run_id: str) -> Any | None:
        with self._lock:
            if run_id in self._runs:
                return self._runs[run_id]
        try:
            run = client.get_run(run_id)
        except Exception:  # noqa: BLE001 - a deleted run leaves the version without metrics, not an error
            return None
        if any(k.startswith(HOLDOUT) for k in run.data.metrics):
            with self._lock:
                self._runs[run_id] = run
        return run

    def versions(self, model_name: str) -> tuple[str | None, list[ModelVersion]]:
        """(champion version, versions newest first)."""
        client = self.registry.client()
        champion = self.registry.champion(model_name)
        champion_version = str(champion.version) if champion is not None else None
        found = client.search_model_versions(
            f"name='{model_name}'", max_results=MAX_VERSIONS, order_by=["version_number DESC"]
        )
        out = []
        for version in found:
            run = self._run(client, version.run_id) if version.run_id else None
            metrics = run.data.metrics if run is not None else {}
            params = run.data.params if run is not None else {}
            tags = dict(version.tags)
            out.append(
                ModelVersion(
                    version=str(version.version),
                    champion=str(version.version) == champion_version,
                    created_at=dt.datetime.fromtimestamp(version.creation_timestamp / 1000, dt.UTC),
                    status=str(version.status),
                    candidate=(run.data.tags.get("chosen_candidate") if run is not None else None),
                    algorithm=params.get("algorithm"),
                    params={k.removeprefix("param."): v for k, v in params.items() if k.startswith("param.")},
                    metrics={k.removeprefix(HOLDOUT): v for k, v in metrics.items() if k.startswith(HOLDOUT)},
                    gates=[
                        Gate(name=k.removeprefix(GATE_TAG), passed=v == "passed")
                        for k, v in sorted(tags.items())
                        if k.startswith(GATE_TAG)
                    ],
                    tags=tags,
                    sources=sources_from_tags(tags),
                    data_version=tags.get("data_version.training_set"),
                    code_version=tags.get("code_version"),
                    promoted_at=tags.get("promoted_at"),
                    mlflow_run_id=version.run_id,
                    mlflow_run_url=(
                        self.registry.run_url(run.info.experiment_id, version.run_id)
                        if run is not None
                        else None
                    ),
                )
            )
        return champion_version, out
