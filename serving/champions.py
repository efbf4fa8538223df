"""The models being served: the `champion` of every pipeline task, loaded from the MLflow registry and
swapped atomically when it moves.

One worker thread refreshes: on start, when a `model.promoted` event arrives (`PromotionListener`, one
exclusive queue per service instance) and every `refresh_seconds` as a fallback for missed events. A new
version is loaded and warmed up beside the old one, then a single reference assignment swaps it in:
requests in flight finish on the version they started with. When MLflow or the broker cannot be reached
the last good model keeps serving and the problem is reported in /readyz."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pika.exceptions import AMQPError

from events.bus import connect, declare_exchanges
from events.envelope import InvalidEvent, ModelPromoted, parse_event
from events.tags import sources_from_tags
from pipelines.keys import PipelineKeys
from pipelines.models import MODEL, ExceedanceModel, ForecastModel
from pipelines.spec import AnySpec, ClassificationTask, RegressionTask, TabularTask
from pipelines.tabular_models import TabularModel
from resources.mlflow_registry import MlflowRegistry
from resources.unavailable import ServiceUnavailable
from serving.fast_trees import SMALL_BATCH, CompiledTrees, compile_pipelines
from serving.observability import FORECAST_SERVED_BY_MODEL, MODEL_LOAD_SECONDS, MODEL_LOADS, MODEL_VERSION

log = logging.getLogger("mlops.api.models")


@dataclass(frozen=True)
class Champion:
    """One loaded model version and what users want to know about it."""

    pipeline: str
    task: str
    kind: str  # regression | classification
    model_name: str
    version: str
    model: ForecastModel | ExceedanceModel | TabularModel
    feature_columns: tuple[str, ...]
    outputs: tuple[str, ...]
    run_id: str
    run_url: str | None
    metrics: dict[str, float]
    tags: dict[str, str]
    loaded_at: dt.datetime

    compiled: CompiledTrees | None = None

    @property
    def sources(self) -> dict[str, str] | None:
        """For a forecast, what serves each target (model | baseline); None for a classifier."""
        if self.kind != "regression":
            return None
        return {t: self.model.source(t) for t in self.model.targets}

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Rows of feature values in `feature_columns` order → one array per output column."""
        regression = self.kind == "regression"
        if not self.quick(len(x)):
            rows = self._frame(x)
            if regression:
                return self.model.predict_columns(rows, rows["horizon"].to_numpy())
            return self.model.predict_columns(rows)
        compiled, raw = self.compiled, self.compiled.raw(x)  # every compiled ensemble, one walk

        def predict(estimator: Any, rows: np.ndarray) -> np.ndarray:
            key = id(estimator)
            if key in compiled.column:
                return compiled.predict(key, raw)
            return estimator.predict(self._frame(rows))

        def predict_proba(estimator: Any, rows: np.ndarray) -> np.ndarray:
            key = id(estimator)
            if key in compiled.column:
                return compiled.predict_proba(key, raw)
            return estimator.predict_proba(self._frame(rows))

        if regression:
            return self.model.predict_columns(x, x[:, self.feature_columns.index("horizon")], predict)
        return self.model.predict_columns(x, predict_proba)

    def quick(self, rows: int) -> bool:
        """Whether `rows` rows take the compiled trees (small batches of a model that has them)."""
        return rows <= SMALL_BATCH and self.compiled is not None

    def _frame(self, x: np.ndarray) -> pd.DataFrame:
        # A forecast model's estimators take the columns before its seasonal-naive inputs.
        return pd.DataFrame(x, columns=list(self.feature_columns[: x.shape[1]]), copy=False)

    def with_compiled_trees(self) -> Champion:
        """This champion with its tree ensembles compiled for small batches, if they reproduce
        scikit-learn's output on probe rows (missing values, and values around every split)."""
        compiled = compile_pipelines(self.model)
        if compiled is None:
            return self
        rng = np.random.default_rng(0)
        probe = rng.normal(0, 60, size=(48, len(self.feature_columns)))
        probe[::7] = np.nan
        probe[rng.random(probe.shape) < 0.1] = np.nan
        if self.kind == "regression":
            probe[:, self.feature_columns.index("horizon")] = rng.integers(1, 25, size=len(probe))
        fast = dataclasses.replace(self, compiled=compiled)
        expected, got = self.predict(probe), fast.predict(probe)
        if all(np.allclose(expected[k], got[k], rtol=1e-9, atol=1e-9, equal_nan=True) for k in expected):
            return fast
        log.warning(
            "%s v%s: compiled trees disagree with scikit-learn; not used", self.model_name, self.version
        )
        return self


def outputs_of(task: RegressionTask | ClassificationTask | TabularTask) -> tuple[str, ...]:
    if isinstance(task, TabularTask):
        if task.kind == "regression":
            return ("prediction", "lower", "upper")
        return ("label", "probability", "prediction_set", "probabilities")
    if isinstance(task, RegressionTask):
        return tuple(f"{t}{suffix}" for t in task.targets for suffix in ("", "_lower", "_upper"))
    return ("probability",)


@dataclass
class Health:
    mlflow_error: str | None = None
    broker_error: str | None = None
    broker_connected: bool = False
    last_refresh: dt.datetime | None = None
    load_errors: dict[str, str] = field(default_factory=dict)


class ChampionStore:
    def __init__(self, specs: dict[str, AnySpec], registry: MlflowRegistry, refresh_seconds: float) -> None:
        self.specs = specs
        self.registry = registry
        self.refresh_seconds = refresh_seconds
        self.health = Health()
        self._champions: dict[tuple[str, str], Champion] = {}
        self._lock = threading.Lock()
        self._wake: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def get(self, pipeline: str, task: str) -> Champion | None:
        return self._champions.get((pipeline, task))

    def all(self) -> dict[tuple[str, str], Champion]:
        return dict(self._champions)

    def tasks(self) -> list[tuple[str, str]]:
        return [(s.name, t.name) for s in self.specs.values() for t in s.tasks]

    def refresh(self, only: tuple[str, str] | None = None) -> list[Champion]:
        """Load every champion whose alias moved (or just `only`); returns the ones swapped in."""
        swapped = []
        with self._lock:
            mlflow_error = None
            for key in [only] if only else self.tasks():
                try:
                    champion = self._refresh_one(*key)
                except Exception as exc:  # noqa: BLE001 - keep serving what we have; report it
                    message = f"{type(exc).__name__}: {str(exc)[:300]}"
                    self.health.load_errors[".".join(key)] = message
                    MODEL_LOADS.labels(*key, "failed").inc()
                    if isinstance(exc, ServiceUnavailable):
                        mlflow_error = message
                    log.warning("could not refresh %s.%s: %s", *key, message)
                    continue
                self.health.load_errors.pop(".".join(key), None)
                if champion is not None:
                    swapped.append(champion)
            self.health.mlflow_error = mlflow_error
            self.health.last_refresh = dt.datetime.now(dt.UTC)
        return swapped

    def _refresh_one(self, pipeline: str, task_name: str) -> Champion | None:
        spec = self.specs[pipeline]
        task = spec.task(task_name)
        name = PipelineKeys(spec).model_name(task)
        alias = self.registry.champion(name)
        current = self._champions.get((pipeline, task_name))
        if alias is None or (current is not None and current.version == str(alias.version)):
            return None
        began = time.perf_counter()
        model = self.registry.load_python_model(f"models:/{name}/{alias.version}")
        if sources := sources_from_tags(dict(alias.tags)):
            model = model.with_sources(sources)
        run = self.registry.get_run(alias.run_id)
        champion = Champion(
            pipeline=pipeline,
            task=task_name,
            kind="regression"
            if isinstance(task, RegressionTask)
            else getattr(task, "kind", "classification"),
            model_name=name,
            version=str(alias.version),
            model=model,
            feature_columns=tuple(model.feature_columns),
            outputs=outputs_of(task),
            run_id=alias.run_id,
            run_url=self.registry.run_url(run.info.experiment_id, alias.run_id),
            metrics={k: v for k, v in run.data.metrics.items() if k.startswith("holdout.")},
            tags=dict(alias.tags),
            loaded_at=dt.datetime.now(dt.UTC),
        )
        if isinstance(model, TabularModel):  # raw rows through its own pipeline: nothing to compile
            model.predict_frame(pd.DataFrame({c: [np.nan] for c in model.input_columns}))  # warm up
        else:
            champion = champion.with_compiled_trees()
            champion.predict(np.full((1, len(champion.feature_columns)), np.nan))  # warm up before it serves
        self._champions = {**self._champions, (pipeline, task_name): champion}  # the atomic swap
        MODEL_LOAD_SECONDS.labels(pipeline, task_name).observe(time.perf_counter() - began)
        MODEL_LOADS.labels(pipeline, task_name, "swapped" if current else "loaded").inc()
        MODEL_VERSION.labels(pipeline, task_name).set(float(alias.version))
        for target, source in (champion.sources or {}).items():
            FORECAST_SERVED_BY_MODEL.labels(pipeline, task_name, target).set(float(source == MODEL))
        log.info(
            "serving %s version %s (was %s)", name, champion.version, current.version if current else "none"
        )
        return champion

    def wake(self, key: tuple[str, str]) -> None:
        """Refresh one task soon (a `model.promoted` event arrived)."""
        self._wake.put(key)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="champion-refresh", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                key = self._wake.get(timeout=self.refresh_seconds)
            except queue.Empty:
                key = None
            if self._stop.is_set():
                return
            self.refresh(key if key in self.tasks() else None)

    def stop(self) -> None:
        self._stop.set()
        self._wake.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)


class PromotionListener:
    """Subscribes this instance to `model.promoted` (an exclusive queue that goes away with it) and wakes
    the store for each; reconnects with backoff while the broker is away, then refreshes everything in
    case a promotion was missed meanwhile."""

    def __init__(self, url: str, exchange: str, store: ChampionStore) -> None:
        self.url = url
        self.exchange = exchange
        self.store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="promotion-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _on_message(self, channel, method, properties, body: bytes) -> None:
        try:
            payload = parse_event(body).typed_payload()
            if isinstance(payload, ModelPromoted):
                self.store.wake((payload.pipeline, payload.task))
        except InvalidEvent as exc:
            log.warning("ignoring a model.promoted message: %s", exc.reason)
        channel.basic_ack(method.delivery_tag)

    def _run(self) -> None:
        backoff = 1.0
        health = self.store.health
        while not self._stop.is_set():
            try:
                connection = connect(self.url)
                try:
                    channel = connection.channel()
                    declare_exchanges(channel, self.exchange)
                    queue_name = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
                    channel.queue_bind(queue_name, self.exchange, routing_key="model.promoted")
                    channel.basic_consume(queue_name, self._on_message)
                    if health.broker_error is not None:
                        self.store.wake(("*", "*"))  # back after an outage: a promotion may have been missed
                    health.broker_connected, health.broker_error, backoff = True, None, 1.0
                    while not self._stop.is_set():
                        connection.process_data_events(time_limit=1)
                finally:
                    if connection.is_open:
                        connection.close()
            except (AMQPError, ServiceUnavailable, OSError) as exc:
                health.broker_connected = False
                health.broker_error = f"{type(exc).__name__}: {str(exc)[:200] or repr(exc)}"
                log.warning(
                    "model.promoted subscription lost (%s); retrying in %.0f s", health.broker_error, backoff
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        health.broker_connected = False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
