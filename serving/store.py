"""What the service must not forget: predictions it made, feedback on them, tasks it started.

SQLAlchemy Core on any database URL: SQLite under the data dir locally, PostgreSQL with services.
Predictions are written by a background thread in batches, off the request's hot path; feedback and
tasks are written before the response says they were accepted."""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

log = logging.getLogger("mlops.api")
metadata = sa.MetaData()
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("pipeline", sa.String(128), nullable=False),
    sa.Column("task", sa.String(128), nullable=False),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),  # {"no2": [...], ...}, one value per row
    sa.Column("trace_id", sa.String(128)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("prediction_id", sa.String(80), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("pipeline", sa.String(128), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("predicted", sa.Float),
    sa.Column("observed", sa.Float, nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("published", sa.Boolean, nullable=False, default=False),
    sa.Column("trace_id", sa.String(128)),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("prediction_id", "target", name="feedback_once_per_prediction_target"),
)
tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the event id: the run's `mlops/event_id` tag
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("pipeline", sa.String(128), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("caller", sa.String(64)),
    sa.Column("trace_id", sa.String(128)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@dataclass(frozen=True)
class PredictionRecord:
    id: str
    pipeline: str
    task: str
    model: str
    version: str
    outputs: dict[str, list[float | None]]
    trace_id: str


class Store:
    gather_seconds = 0.2  # how long the prediction log gathers before it writes

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            # Several API workers share the file: readers never wait for a writer, a writer waits its turn.
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        self._pending: queue.Queue[PredictionRecord | None] = queue.Queue()
        self._wake = threading.Event()  # set by flush(): write what is queued now
        self._writer = threading.Thread(target=self._write_predictions, name="prediction-log", daemon=True)
        self._writer.start()

    # predictions: queued on the hot path, written in batches
    def log_prediction(self, record: PredictionRecord) -> None:
        self._pending.put(record)

    def _write_predictions(self) -> None:
        # One wake-up per batch, not one per prediction: under load, waking this thread for every queued
        # record cost the request path more (GIL hand-offs) than the inserts themselves.
        while True:
            batch = [self._pending.get()]
            if batch[0] is not None:
                self._wake.wait(self.gather_seconds)
                self._wake.clear()
            while len(batch) < 5000:
                try:
                    batch.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            records = [r for r in batch if r is not None]
            try:
                if records:
                    self._insert(records)
            except sa.exc.SQLAlchemyError:
                log.exception("could not log %d prediction(s)", len(records))
            finally:
                for _ in batch:
                    self._pending.task_done()
            if len(records) < len(batch):  # the stop sentinel
                return

    def _insert(self, batch: list[PredictionRecord]) -> None:
        created = now()
        with self.engine.begin() as conn:
            conn.execute(
                predictions.insert(),
                [
                    {
                        "id": r.id,
                        "pipeline": r.pipeline,
                        "task": r.task,
                        "model": r.model,
                        "version": r.version,
                        "rows": len(next(iter(r.outputs.values()), [])),
                        "outputs": orjson.dumps(r.outputs, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
                        "trace_id": r.trace_id,
                        "created_at": created,
                    }
                    for r in batch
                ],
            )

    def flush(self) -> None:
        """Wait until every queued prediction is written."""
        self._wake.set()
        self._pending.join()

    def prediction(self, prediction_id: str) -> dict[str, Any] | None:
        query = sa.select(predictions).where(predictions.c.id == prediction_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            self.flush()  # it may still be queued
            with self.engine.connect() as conn:
                row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    # feedback: durable before it is acknowledged; `published` flips once the event is confirmed
    def record_feedback(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Insert, or update the observed value of an earlier report on the same prediction and target."""
        key = (feedback.c.prediction_id == entry["prediction_id"]) & (feedback.c.target == entry["target"])
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(feedback).where(key)).mappings().first()
            if existing is None:
                conn.execute(feedback.insert().values(**entry, published=False, recorded_at=now()))
            else:
                conn.execute(
                    feedback.update()
                    .where(key)
                    .values(observed=entry["observed"], event_id=entry["event_id"], published=False)
                )
            return dict(conn.execute(sa.select(feedback).where(key)).mappings().one())

    def mark_published(self, event_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(feedback.update().where(feedback.c.event_id == event_id).values(published=True))

    def unpublished_feedback(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(feedback)
                .where(feedback.c.published.is_(False))
                .order_by(feedback.c.id)
                .limit(limit)
            )
            return [dict(r) for r in rows.mappings()]

    # tasks
    def add_task(
        self, task_id: str, kind: str, pipeline: str, detail: dict, caller: str, trace_id: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                tasks.insert().values(
                    id=task_id,
                    kind=kind,
                    pipeline=pipeline,
                    detail=json.dumps(detail, default=str),
                    caller=caller,
                    trace_id=trace_id,
                    created_at=now(),
                )
            )

    def task(self, task_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).mappings().first()
        if row is None:
            return None
        out = dict(row)
        out["detail"] = json.loads(out["detail"])
        return out

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self._pending.put(None)
        self._wake.set()
        self._writer.join(timeout=10)
        self.engine.dispose()
